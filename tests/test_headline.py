"""The headline rows and the scorecard: the label-free verdict leads, protocol twins share a row."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from matplotlib.figure import Figure

from smoothlearn.report.headline import headline_rows, scorecard_figure
from smoothlearn.verdicts import Arms, ComparisonResult, decide, paired


def _result(claim: str, diffs, reads: bool | None, label: str = "x") -> ComparisonResult:
    stats = paired(np.asarray(diffs, float), seeds=range(len(diffs)))
    arms = Arms(better="model=leaky-reset, test_mode=same" if reads else "model=feedforward",
                worse="model=feedforward", metric="test_mse", reads_test_labels=reads)
    (res,) = decide([ComparisonResult(
        claim=claim, text=f"{claim} text", comparison=label, experiment="exp", source="§1",
        arms=arms, stats=stats)])
    return res


PLANTED = [0.01 + 0.001 * i for i in range(10)]  # every seed the claimed way
AGAINST = [-d for d in PLANTED]


def test_twins_share_a_row_and_the_label_free_verdict_leads():
    results = [_result("c", PLANTED, reads=True), _result("c-off", AGAINST, reads=False)]
    (row,) = headline_rows(results, {"c-off": "c"})
    assert row.claim == "c" and row.text == "c text"
    assert row.label_free == "reversed" and row.streamed == "reproduced"
    assert row.seeds == "10" and len(row.effects) == 2
    filled = [e for e in row.effects if not e["reads_test_labels"]]
    assert filled[0]["effect_sd"] < 0 < filled[0]["ci_high_sd"] or filled[0]["ci_high_sd"] < 0


def test_a_claim_without_label_reading_comparisons_has_no_streamed_verdict():
    (row,) = headline_rows([_result("plain", PLANTED, reads=False)], {})
    assert row.label_free == "reproduced" and row.streamed == ""


def test_only_label_reading_comparisons_give_no_headline_verdict():
    (row,) = headline_rows([_result("streamed-only", PLANTED, reads=True)], {})
    assert row.label_free == "no data" and "reads test labels" in row.label_free_reason
    assert row.streamed == "reproduced"


def test_effects_are_in_sd_units_of_the_paired_differences():
    (row,) = headline_rows([_result("plain", PLANTED, reads=False)], {})
    (effect,) = row.effects
    sd = float(np.std(PLANTED, ddof=1))
    assert math.isclose(effect["effect_sd"], float(np.mean(PLANTED)) / sd, rel_tol=1e-9)
    assert effect["ci_low_sd"] <= effect["effect_sd"] <= effect["ci_high_sd"]


def test_depends_on_is_carried_and_the_scorecard_draws_every_row():
    results = [_result("a", PLANTED, reads=False), _result("b", AGAINST, reads=False)]
    rows = headline_rows(results, {}, depends_on={"a": "RMSprop (reversed)"})
    assert rows[0].depends_on == "RMSprop (reversed)" and rows[1].depends_on == ""
    fig = scorecard_figure(rows)
    assert isinstance(fig, Figure)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "reproduced" in texts and "reversed" in texts and "a text" in texts


def test_a_row_states_the_claim_without_its_protocol_when_given():
    results = [_result("c", PLANTED, reads=True), _result("c-off", AGAINST, reads=False)]
    (row,) = headline_rows(results, {"c-off": "c"}, statements={"c": "Memory helps."})
    assert row.text == "Memory helps."


def test_a_row_notes_the_early_verdict_only_when_it_differs_from_the_end():
    end = _result("c", AGAINST, reads=False)
    early = replace(_result("c", PLANTED, reads=False), stage="auc")
    (row,) = headline_rows([end, early], {})
    assert row.label_free == "reversed" and row.early == "reproduced"
    assert len(row.effects) == 1  # the scorecard shows the end step
    (same,) = headline_rows([end, replace(end, stage="auc")], {})
    assert same.early == ""
    (alone,) = headline_rows([end], {})
    assert alone.early == ""
