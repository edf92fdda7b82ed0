"""The comparison table (``smoothlearn.report.comparisons``): every statistic of a comparison,
formatted for the reports and unformatted for ``claims.csv``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smoothlearn.report.comparisons import (
    CSV_COLUMNS,
    comparison_frame,
    comparison_table,
    seeds_claimed,
)
from smoothlearn.verdicts import Arms, ComparisonResult, decide, paired


def _record(diffs, tier: str = "none", **extra) -> dict:
    """A decided comparison's record: arms 0.6 (worse) and 0.6 - diff (better)."""
    diffs = np.asarray(diffs, float)
    worse = np.full(diffs.size, 0.6)
    arms = Arms(better="model=leaky", worse="model=feedforward", metric="test_mse",
                dataset="mnist", step=100, test_labels=tier,
                test_protocol={"better": "streamed", "worse": "memory off"},
                mean_better=float((worse - diffs).mean()), mean_worse=0.6,
                sd_better=float((worse - diffs).std(ddof=1)), sd_worse=0.0)
    (res,) = decide([ComparisonResult(claim="c", text="t", comparison="L < FF",
                                      experiment="exp", arms=arms,
                                      stats=paired(diffs, range(diffs.size)))])
    return res.to_record() | extra


PLANTED = [0.01 + 0.001 * i for i in range(10)]


def test_the_table_shows_every_statistic_of_a_comparison():
    rec = _record(PLANTED, "order")
    (row,) = comparison_table([rec], {"c": "reproduced"}).to_dict("records")
    assert row["claim"] == "c (reproduced)" and row["test labels (tier)"] == "order"
    assert row["better arm: mean ± SD"] == "0.585 ± 0.00303"
    assert row["worse arm: mean ± SD"] == "0.6 ± 0"
    assert row["difference [95% t interval]"].startswith("0.0145 [")
    assert row["relative"] == f"{100 * 0.0145 / 0.6:+.3g}%"
    assert row["p"] == f"{rec['p']:.3g}" and row["Holm p"] == f"{rec['p_holm']:.3g}"
    assert row["effect size d_z"] == f"{rec['effect_sd']:.2g}" and row["MDE"] == f"{rec['mde']:.3g}"
    assert row["seeds claimed way"] == "10/10" and row["verdict"] == "reproduced"
    assert row["margin"] == "0.006"  # 1% of the claimed-worse arm's mean, 0.6


def test_the_margin_appears_when_a_comparison_has_one():
    table = comparison_table([_record(PLANTED), _record(PLANTED, margin=None)])
    assert table["margin"].tolist() == ["0.006", "—"]
    assert "margin" not in comparison_table([_record(PLANTED, margin=None)])


def test_missing_statistics_read_as_a_dash():
    rec = {"claim": "c", "comparison": "x", "verdict": "no data", "n": 0}
    (row,) = comparison_table([rec]).to_dict("records")
    assert row["better arm: mean ± SD"] == row["difference [95% t interval]"] == "—"
    assert row["seeds claimed way"] == row["p"] == row["test labels (tier)"] == "—"


@given(st.integers(1, 40), st.data())
def test_seeds_claimed_is_share_times_n(n, data):
    k = data.draw(st.integers(0, n))
    assert seeds_claimed({"n": n, "share": k / n}) == k


def test_the_csv_frame_has_one_row_per_comparison_and_raw_numbers(tmp_path):
    from smoothlearn.report.publish import write_claims_csv

    records = [_record(PLANTED), _record([-d for d in PLANTED], "resets")]
    frame = comparison_frame(records)
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == 2
    path = write_claims_csv(records, tmp_path / "data" / "claims.csv")
    back = pd.read_csv(path)
    assert back["id"].tolist() == [r["id"] for r in records]
    assert back["test_labels"].tolist() == ["none", "resets"]
    assert back["seeds_claimed"].tolist() == [10, 0]
    assert back["mean_diff"].to_numpy() == pytest.approx([r["mean_diff"] for r in records],
                                                         rel=1e-12)
    assert back["p_holm"].to_numpy() == pytest.approx([r["p_holm"] for r in records])
    assert back["margin"].to_numpy() == pytest.approx([0.006, 0.006])
    assert back["verdict"].tolist() == ["reproduced", "reversed"]
    assert back["test_protocol"].tolist()[0] == "streamed vs memory off"
    assert math.isclose(back["sd_better"][0], records[0]["sd_better"], rel_tol=1e-12)


def test_the_html_table_has_every_statistic_and_the_margin_only_when_stated():
    from smoothlearn.report import html

    plain = html.render([_record(PLANTED, "order", margin=None)], [], [], {})
    for header in ("Test labels (tier)", "Better arm: mean ± SD", "Difference [95% t interval]",
                   "Holm p", "Effect size d_z", "MDE", "Seeds claimed way"):
        assert f"<th>{header}</th>" in plain, header
    assert "<th>Margin</th>" not in plain and "<td>10/10</td>" in plain
    assert "<th>Margin</th>" in html.render([_record(PLANTED)], [], [], {})


def test_the_markdown_report_carries_the_comparison_table():
    from smoothlearn.report.markdown import markdown_report

    text = markdown_report([_record(PLANTED, "resets")], [], [], {})
    head = next(line for line in text.splitlines() if line.startswith("| claim | comparison"))
    assert "test labels (tier)" in head and "difference [95% t interval]" in head
    assert "| c (reproduced) | L < FF | 100 | resets |" in text
