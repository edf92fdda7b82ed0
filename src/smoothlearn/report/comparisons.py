"""The full statistics of every comparison, as one pandas table: the numbers for
``docs/data/claims.csv`` (:func:`comparison_frame`) and the same rows formatted for the
reports (:func:`comparison_table`).

A reader should be able to check a verdict from the table alone: the tier of test-label use,
each arm's mean ± SD over the paired seeds, the mean difference with its 95% t interval, the
difference relative to the claimed-worse arm, p and Holm p, the effect size d_z (mean / SD of
the paired differences), the smallest effect the seeds detect (MDE), how many seeds point the
claimed way, the verdict and, where a claim states one, its equivalence margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from smoothlearn.report import words

__all__ = ["CSV_COLUMNS", "comparison_frame", "comparison_table", "formatted", "seeds_claimed"]

#: The columns of ``claims.csv``, in order: ids, where it was measured, the arms, the
#: statistics, the decision.
CSV_COLUMNS = (
    "id", "claim", "comparison", "experiment", "source", "stage", "dataset", "metric", "step",
    "test_labels", "test_protocol", "n", "mean_better", "sd_better", "mean_worse", "sd_worse",
    "mean_diff", "ci_low", "ci_high", "relative_diff", "p", "p_holm", "effect_sd", "mde",
    "seeds_claimed", "margin", "p_equivalent", "verdict", "note",
)


def seeds_claimed(rec: Mapping[str, Any]) -> int | None:
    """How many of the ``n`` paired seeds point the claimed way (from ``share``)."""
    n, share = rec.get("n") or 0, _number(rec.get("share"))
    return round(share * n) if n and math.isfinite(share) else None


def comparison_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per comparison record (``claims.json``'s ``records``) with the columns of
    :data:`CSV_COLUMNS`; a value a record lacks (e.g. ``margin`` before equivalence tests,
    arm SDs of autoencoder claims) is left empty."""
    rows = [{col: _cell(rec, col) for col in CSV_COLUMNS} for rec in records]
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def _cell(rec: Mapping[str, Any], col: str) -> Any:
    if col == "test_protocol":
        return words.protocol_text(rec)
    if col == "seeds_claimed":
        return seeds_claimed(rec)
    return rec.get(col)


def comparison_table(records: Sequence[Mapping[str, Any]],
                     verdicts: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The comparisons as the reports show them: one row each, numbers formatted. ``verdicts``
    (claim id to claim verdict) adds the claim's verdict beside its id. The margin column is
    shown only when some comparison has one."""
    verdicts = verdicts or {}
    table = pd.DataFrame([{
        "claim": (f"{rec['claim']} ({verdicts[rec['claim']]})" if rec["claim"] in verdicts
                  else rec["claim"]),
        "comparison": rec["comparison"],
        "step": ("area to " if rec.get("stage") == "auc" else "") + words.fmt(rec.get("step")),
        **formatted(rec),
    } for rec in records])
    if table.empty or (table["margin"] == "—").all():
        table = table.drop(columns="margin", errors="ignore")
    return table


def formatted(rec: Mapping[str, Any]) -> dict[str, str]:
    """One comparison's statistics as the tables show them, by column header."""
    return {
        "test labels (tier)": rec.get("test_labels") or "—",
        "test protocol": words.protocol_text(rec),
        "better arm: mean ± SD": _mean_sd(rec, "better"),
        "worse arm: mean ± SD": _mean_sd(rec, "worse"),
        "difference [95% t interval]": _difference(rec),
        "relative": _percent(rec.get("relative_diff")),
        "p": words.fmt(_maybe(rec.get("p"))),
        "Holm p": words.fmt(_maybe(rec.get("p_holm"))),
        "effect size d_z": words.fmt(_maybe(rec.get("effect_sd")), 2),
        "MDE": words.fmt(_maybe(rec.get("mde"))),
        "seeds claimed way": _k_of_n(rec),
        "margin": words.fmt(_maybe(rec.get("margin"))),
        "verdict": rec["verdict"],
    }


def _number(value: Any) -> float:
    """A float, NaN for None (JSON writes NaN as null)."""
    return math.nan if value is None else float(value)


def _maybe(value: Any) -> float | None:
    return None if value is None else float(value)


def _mean_sd(rec: Mapping[str, Any], arm: str) -> str:
    mean, sd = _number(rec.get(f"mean_{arm}")), _number(rec.get(f"sd_{arm}"))
    if not math.isfinite(mean):
        return "—"
    return f"{words.fmt(mean)} ± {words.fmt(sd)}" if math.isfinite(sd) else words.fmt(mean)


def _difference(rec: Mapping[str, Any]) -> str:
    mean = _number(rec.get("mean_diff"))
    if not math.isfinite(mean):
        return "—"
    interval = words.ci(rec)
    return words.fmt(mean) + ("" if interval == "—" else f" {interval}")


def _percent(value: Any) -> str:
    value = _number(value)
    return f"{100 * value:+.3g}%" if math.isfinite(value) else "—"


def _k_of_n(rec: Mapping[str, Any]) -> str:
    k = seeds_claimed(rec)
    return "—" if k is None else f"{k}/{rec['n']}"
