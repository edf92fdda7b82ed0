"""The one Markdown table writer and the one verdict colour map (``smoothlearn.report.tables``)."""

from __future__ import annotations

from importlib import resources

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from smoothlearn.figures.plotting.style import sort_key
from smoothlearn.report.tables import (
    VERDICT_COLORS,
    frame_table,
    markdown_table,
    md_escape,
    verdict_class,
    verdict_color,
)
from smoothlearn.verdicts import Verdict


def test_a_table_has_a_head_a_rule_and_one_line_per_row():
    text = markdown_table(["a", "b"], [(1, "x"), (2.5, "y")])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1 | x |", "| 2.5 | y |"]
    assert markdown_table(["a"], []) == "| a |\n|---|"


def test_a_frame_table_writes_each_value_through_the_cell_function():
    frame = pd.DataFrame({"cell": ["literal"], "share": [0.123456]})
    assert frame_table(frame, lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)) == (
        "| cell | share |\n|---|---|\n| literal | 0.12 |")


@given(st.text())
def test_an_escaped_cell_never_breaks_its_row(text):
    cell = md_escape(text)
    assert "\n" not in cell
    assert all(cell[i - 1] == "\\" for i, char in enumerate(cell) if char == "|")


def test_every_verdict_has_one_colour_and_one_badge():
    assert set(VERDICT_COLORS) == set(Verdict)
    assert len(set(VERDICT_COLORS.values())) == len(Verdict)
    for verdict in Verdict:
        assert verdict_color(str(verdict)) == VERDICT_COLORS[verdict]  # the word finds it too
        assert verdict_class(str(verdict)) in {"ok", "bad", "same", "init", "meh", "part",
                                               "none"}
    assert verdict_color("", "#123456") == "#123456" and verdict_class("nonsense") == "none"
    # a claim's printed label finds its word's colour and badge
    assert verdict_class("partly reproduced (2 of 5)") == "part"
    assert verdict_color("partly reproduced (2 of 5)") == VERDICT_COLORS[Verdict.PARTLY]
    css = (resources.files("smoothlearn.report") / "templates" / "report.css").read_text()
    for badge in {verdict_class(str(v)) for v in Verdict}:
        assert f".{badge}{{" in css, badge


def test_conditions_sort_random_first_then_by_repeats_and_other_labels_last():
    labels = ["repeat-10", "leaky", "sticky-0.5", "repeat-3", "random", "given", "repeat-1"]
    assert sorted(labels, key=sort_key)[:4] == ["random", "repeat-1", "repeat-3", "repeat-10"]
    assert set(sorted(labels, key=sort_key)[4:]) == {"leaky", "sticky-0.5", "given"}
