"""The headline rows and the scorecard: the tier-none verdict leads, the paper's protocol sits
beside it labelled by its tier, protocol twins share a row."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from matplotlib.figure import Figure

from smoothlearn.report.headline import headline_rows, scorecard_figure, tier
from smoothlearn.verdicts import Arms, ComparisonResult, decide, paired


def _result(claim: str, diffs, tier: str | None, label: str = "x") -> ComparisonResult:
    stats = paired(np.asarray(diffs, float), seeds=range(len(diffs)))
    streamed = tier not in ("none", None)
    arms = Arms(better="model=leaky-reset, test_mode=same" if streamed else "model=feedforward",
                worse="model=feedforward", metric="test_mse", test_labels=tier)
    (res,) = decide([ComparisonResult(
        claim=claim, text=f"{claim} text", comparison=label, experiment="exp", source="§1",
        arms=arms, stats=stats)])
    return res


PLANTED = [0.01 + 0.001 * i for i in range(10)]  # every seed the claimed way
AGAINST = [-d for d in PLANTED]


def test_twins_share_a_row_and_the_label_free_verdict_leads():
    results = [_result("c", PLANTED, "resets"), _result("c-off", AGAINST, "none")]
    (row,) = headline_rows(results, {"c-off": "c"})
    assert row.claim == "c" and row.text == "c text"
    assert row.label_free == "reversed" and row.streamed == "reproduced"
    assert row.streamed_tier == "resets"
    assert row.seeds == "10" and len(row.effects) == 2
    filled = [e for e in row.effects if e["test_labels"] == "none"]
    assert len(filled) == 1
    assert filled[0]["effect_sd"] < 0 < filled[0]["ci_high_sd"] or filled[0]["ci_high_sd"] < 0


def test_a_claim_without_label_reading_comparisons_has_no_streamed_verdict():
    (row,) = headline_rows([_result("plain", PLANTED, "none")], {})
    assert row.label_free == "reproduced" and row.streamed == "" and row.streamed_tier == ""


def test_only_label_reading_comparisons_give_no_headline_verdict():
    (row,) = headline_rows([_result("streamed-only", PLANTED, "resets")], {})
    assert row.label_free == "no label-free test" and "reads test labels" in row.label_free_reason
    assert row.streamed == "reproduced" and row.streamed_tier == "resets"


def test_an_order_built_from_labels_never_counts_as_label_free():
    """Tier order (a class-blocked test stream, without label resets) reads the labels through
    the order: the headline does not take its verdict."""
    results = [_result("c", PLANTED, "order"), _result("c", AGAINST, "none", "y")]
    (row,) = headline_rows(results, {})
    assert row.label_free == "reversed" and row.streamed == "reproduced"
    assert row.streamed_tier == "order"
    (only,) = headline_rows([_result("o", PLANTED, "order")], {})
    assert only.label_free == "no label-free test" and "tier order" in only.label_free_reason


def test_both_label_reading_tiers_are_named_beside_the_headline():
    results = [_result("c", PLANTED, "order"), _result("c", PLANTED, "resets", "y"),
               _result("c", PLANTED, "none", "z")]
    (row,) = headline_rows(results, {})
    assert row.label_free == "reproduced" and row.streamed_tier == "order, resets"
    assert [e["test_labels"] for e in row.effects] == ["order", "resets", "none"]


def test_a_no_data_row_is_judged_from_its_arms():
    """A comparison that could not be measured has no tier: a streamed leaky+reset arm is the
    label-resets protocol, anything else stays with the headline."""
    streamed = ComparisonResult(
        claim="c", text="t", comparison="x", experiment="exp",
        arms=Arms("model=leaky-reset, test_mode=same", "model=feedforward", "test_mse"))
    off = ComparisonResult(
        claim="d", text="t", comparison="x", experiment="exp",
        arms=Arms("model=leaky-reset, test_mode=off", "model=feedforward", "test_mse"))
    assert tier(streamed) == "resets" and tier(off) == "none"


def test_effects_are_in_sd_units_of_the_paired_differences():
    (row,) = headline_rows([_result("plain", PLANTED, "none")], {})
    (effect,) = row.effects
    sd = float(np.std(PLANTED, ddof=1))
    assert math.isclose(effect["effect_sd"], float(np.mean(PLANTED)) / sd, rel_tol=1e-9)
    assert effect["ci_low_sd"] <= effect["effect_sd"] <= effect["ci_high_sd"]


def test_depends_on_is_carried_and_the_scorecard_draws_every_row():
    results = [_result("a", PLANTED, "none"), _result("b", AGAINST, "none")]
    rows = headline_rows(results, {}, depends_on={"a": "RMSprop (reversed)"})
    assert rows[0].depends_on == "RMSprop (reversed)" and rows[1].depends_on == ""
    fig = scorecard_figure(rows)
    assert isinstance(fig, Figure)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "reproduced" in texts and "reversed" in texts and "a text" in texts


def test_a_row_states_the_claim_without_its_protocol_when_given():
    results = [_result("c", PLANTED, "resets"), _result("c-off", AGAINST, "none")]
    (row,) = headline_rows(results, {"c-off": "c"}, statements={"c": "Memory helps."})
    assert row.text == "Memory helps."


def test_a_row_notes_the_early_verdict_only_when_it_differs_from_the_end():
    end = _result("c", AGAINST, "none")
    early = replace(_result("c", PLANTED, "none"), stage="auc")
    (row,) = headline_rows([end, early], {})
    assert row.label_free == "reversed" and row.early == "reproduced"
    assert len(row.effects) == 1  # the scorecard shows the end step
    (same,) = headline_rows([end, replace(end, stage="auc")], {})
    assert same.early == ""
    (alone,) = headline_rows([end], {})
    assert alone.early == ""


def test_the_scorecard_labels_the_paper_protocol_by_tier():
    results = [_result("c", PLANTED, "order"), _result("d", PLANTED, "resets")]
    texts = [t.get_text() for ax in scorecard_figure(headline_rows(results, {})).axes
             for t in ax.texts]
    assert any("tier order" in t for t in texts) and any("tier resets" in t for t in texts)
    assert sum("no label-free" in t for t in texts) == 2
