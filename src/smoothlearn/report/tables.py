"""The one Markdown table writer and the one verdict colour map of every page.

The reproduction report, ``publish``, the robustness page and the landscape page all write
their tables through :func:`markdown_table` (or :func:`frame_table` for a DataFrame), and the
scorecard, the robustness matrix and the HTML badges all colour a verdict from
:data:`VERDICT_COLORS` / :func:`verdict_class`, so a verdict looks the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from smoothlearn.verdicts import Verdict, verdict_word

__all__ = ["md_escape", "markdown_table", "frame_table", "VERDICT_COLORS", "verdict_color",
           "verdict_class"]

#: One fill colour per verdict (comparison and claim level) in every figure; keys are
#: :class:`~smoothlearn.verdicts.Verdict` members, which look up as their words too.
VERDICT_COLORS: dict[str, str] = {
    Verdict.REPRODUCED: "#1B9E77",
    Verdict.PARTLY: "#A6DBA0",
    Verdict.AT_INIT: "#7570B3",
    Verdict.EQUIVALENT: "#80B1D3",
    Verdict.REVERSED: "#D95F02",
    Verdict.INCONCLUSIVE: "#BDBDBD",
    Verdict.NOT_TESTABLE: "#9E9E9E",
    Verdict.NO_DATA: "#F0F0F0",
}
#: The HTML badge class of each verdict (the colours live in ``templates/report.css``).
_BADGE_CLASS: dict[str, str] = {
    Verdict.REPRODUCED: "ok", Verdict.REVERSED: "bad", Verdict.EQUIVALENT: "same",
    Verdict.AT_INIT: "init", Verdict.INCONCLUSIVE: "meh", Verdict.PARTLY: "part",
    Verdict.NOT_TESTABLE: "none", Verdict.NO_DATA: "none",
}


def verdict_color(verdict: str, default: str = "#FFFFFF") -> str:
    """The fill colour of a verdict word or claim label ("partly reproduced (2 of 5)"; "" or
    an unknown word: ``default``)."""
    return VERDICT_COLORS.get(verdict_word(verdict), default)


def verdict_class(verdict: str) -> str:
    """The HTML badge class of a verdict word or claim label (unknown words: ``"none"``)."""
    return _BADGE_CLASS.get(verdict_word(verdict), "none")


def md_escape(text: Any) -> str:
    """A table cell's text: pipes escaped, line breaks flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[Any]],
                   cell: Callable[[Any], str] = str) -> str:
    """A GitHub Markdown table, each value written by ``cell`` (e.g. :func:`md_escape`)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_table(frame: pd.DataFrame, cell: Callable[[Any], str] = str) -> str:
    """A DataFrame as a Markdown table: its columns as the head, one line per row."""
    return markdown_table([str(c) for c in frame.columns], frame.itertuples(index=False), cell)
