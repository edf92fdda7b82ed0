"""Typed results and verdicts: records, Holm families, claim aggregation and reasons."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smoothlearn import verdicts
from smoothlearn.verdicts import Arms, ComparisonResult, Decision, Effect, Paired, Verdict


def test_claim_level_rules():
    assert verdicts.aggregate(["reproduced", "reproduced"]) == "reproduced"
    assert verdicts.aggregate(["reproduced", "inconclusive"]) == "partly reproduced"
    assert verdicts.aggregate(["reproduced", "reversed"]) == "partly reproduced"
    assert verdicts.aggregate(["reversed", "not testable"]) == "reversed"
    assert verdicts.aggregate(["reproduced", "no data"]) == "no data"
    assert verdicts.aggregate(["equivalent", "equivalent"]) == "equivalent"
    assert verdicts.aggregate(["equivalent", "inconclusive"]) == "inconclusive"
    assert verdicts.aggregate(["present at initialisation"] * 2) == "present at initialisation"
    assert verdicts.aggregate(["present at initialisation", "reproduced"]) == (
        "partly reproduced")
    assert verdicts.aggregate(["not testable"]) == "not testable"


def test_a_claim_is_reversed_only_when_most_of_its_comparisons_are():
    assert verdicts.aggregate(["reversed", "reversed", "inconclusive"]) == "reversed"
    assert verdicts.aggregate(["reversed", "reversed", "reproduced"]) == "reversed"
    # one reversed and two nulls is not a reversed claim (the old rule said it was)
    assert verdicts.aggregate(["reversed", "inconclusive", "inconclusive"]) == "inconclusive"
    assert verdicts.aggregate(["reversed", "inconclusive"]) == "inconclusive"
    assert verdicts.aggregate(["reversed", "reproduced"]) == "partly reproduced"


def _decided(claim: str, comparison: str, verdict: str) -> ComparisonResult:
    return ComparisonResult(claim=claim, text="t", comparison=comparison, experiment="e",
                            arms=Arms("a", "b", "m"), stats=Paired(n=10, p=0.002),
                            decision=Decision(verdict))


def test_partly_reproduced_always_says_k_of_n_and_counts_the_others():
    results = [_decided("x", str(i), v) for i, v in enumerate(
        ["reproduced", "reproduced", "reversed", "inconclusive", "inconclusive",
         "not testable"])]
    (row,) = verdicts.summarise(results)
    assert row.verdict == "partly reproduced" and (row.reproduced, row.tested) == (2, 5)
    assert row.label == "partly reproduced (2 of 5)"
    assert row.reason.startswith("2 of 5 comparisons reproduced; the others: 2 inconclusive, "
                                 "1 reversed;")
    assert "mixed" not in row.reason
    record = row.to_record()
    assert record["label"] == row.label and record["verdict"] == "partly reproduced"
    assert record["counts"] == {"reproduced": 2, "inconclusive": 2, "reversed": 1,
                                "not testable": 1}
    assert set(record) == {"claim", "text", "experiment", "source", "verdict", "counts",
                           "reason", "reproduced", "tested", "label"}
    (whole,) = verdicts.summarise([_decided("y", "1", "reproduced")])
    assert whole.label == "reproduced"


def test_optional_fields_are_left_out_and_effects_flattened():
    result = ComparisonResult(claim="c", text="t", comparison="x", experiment="e", lr=0.01,
                              arms=Arms("a", "b", "m"), init=Effect(0.1, 0.0, 0.2, 0.01),
                              id="c: a")
    record = result.to_record()
    for absent in ("step_policy", "optimizer", "model", "mean_better", "gain_mean_diff"):
        assert absent not in record
    assert record["lr"] == 0.01 and record["id"] == "c: a" and record["step"] is None
    assert (record["init_mean_diff"], record["init_ci_low"], record["init_ci_high"],
            record["init_p"]) == (0.1, 0.0, 0.2, 0.01)
    assert ComparisonResult.from_record(record) == result


def test_verdicts_are_typed_and_records_hold_plain_words():
    (decided,) = verdicts.decide([ComparisonResult(
        claim="c", text="t", comparison="x", experiment="e", arms=Arms("a", "b", "m"),
        stats=verdicts.paired(np.linspace(0.1, 0.2, 10), range(10)))])
    assert decided.decision.verdict is Verdict.REPRODUCED
    record = json.loads(json.dumps(decided.to_record()))
    assert record["verdict"] == "reproduced" and type(decided.to_record()["verdict"]) is str
    assert ComparisonResult.from_record(record).decision.verdict is Verdict.REPRODUCED
    (claim,) = verdicts.summarise([decided])
    assert claim.verdict is Verdict.REPRODUCED
    assert all(type(k) is str for k in claim.to_record()["counts"])
    assert Decision("equivalent").verdict is Verdict.EQUIVALENT
    for retired in ("mixed", "no detectable effect", "holds", "partly holds"):
        with pytest.raises(ValueError, match=retired):
            Decision(retired)


@given(st.lists(st.sampled_from(verdicts.VERDICTS)))
def test_a_claim_verdict_is_always_a_verdict_and_no_data_wins(words):
    verdict = verdicts.aggregate([str(w) for w in words])
    assert isinstance(verdict, Verdict)
    assert (verdict is Verdict.NO_DATA) == (not words or Verdict.NO_DATA in words)


def test_the_relative_difference_follows_the_arms():
    arms = Arms("a", "b", "m", mean_worse=0.5)
    result = ComparisonResult(claim="c", text="t", comparison="x", experiment="e", arms=arms,
                              stats=Paired(n=3, mean_diff=0.1))
    assert result.relative_diff == pytest.approx(0.2)
    for worse in (0.0, None, math.nan):
        zero = ComparisonResult(claim="c", text="t", comparison="x", experiment="e",
                                arms=Arms("a", "b", "m", mean_worse=worse),
                                stats=Paired(n=3, mean_diff=0.1))
        assert math.isnan(zero.relative_diff)


# ----------------------------------------------------------------------------- known answers
def _comparison(diffs, mean_worse: float = 1.0, comparison: str = "x", init=None,
                gain=None) -> ComparisonResult:
    return ComparisonResult(
        claim="c", text="t", comparison=comparison, experiment="e",
        arms=Arms("a", "b", "m", mean_better=mean_worse, mean_worse=mean_worse),
        stats=verdicts.paired(np.asarray(diffs, float), range(len(diffs))), init=init,
        gain=gain)


NOISE = np.random.default_rng(3).normal(0, 1, 10)


def test_a_difference_inside_the_margin_is_equivalent():
    # differences of about 1e-4 around 0 on an arm at 1.0: well inside +-1% (0.01)
    (res,) = verdicts.decide([_comparison(1e-4 * NOISE)])
    assert res.decision.verdict is Verdict.EQUIVALENT
    assert res.decision.margin == pytest.approx(0.01)
    assert res.decision.p_equivalent == pytest.approx(1 / 1024)  # every seed inside
    record = res.to_record()
    assert record["margin"] == pytest.approx(0.01) and record["p_equivalent"] < 0.05
    assert ComparisonResult.from_record(record).decision == res.decision


def test_a_null_wider_than_the_margin_is_inconclusive():
    # the same null, 100x wider: +-1e-2 noise cannot be shown to lie within +-1e-2
    (res,) = verdicts.decide([_comparison(1e-2 * NOISE)])
    assert res.decision.verdict is Verdict.INCONCLUSIVE
    assert res.decision.p_equivalent >= 0.05 and math.isfinite(res.decision.mde)
    # the same differences with a 10x wider margin are equivalent again
    (wide,) = verdicts.decide([_comparison(1e-2 * NOISE)], margin=0.5)
    assert wide.decision.verdict is Verdict.EQUIVALENT


def test_a_real_effect_outside_the_margin_is_never_equivalent():
    (res,) = verdicts.decide([_comparison(0.05 + 1e-3 * NOISE)])
    assert res.decision.verdict is Verdict.REPRODUCED
    assert res.decision.p_equivalent == pytest.approx(1.0)


def test_no_equivalence_test_without_a_worse_arm_mean():
    (res,) = verdicts.decide([_comparison(1e-4 * NOISE, mean_worse=0.0)])
    assert res.decision.verdict is Verdict.INCONCLUSIVE
    assert math.isnan(res.decision.margin) and math.isnan(res.decision.p_equivalent)


def test_equivalence_is_holm_adjusted_within_the_claim():
    first, second = verdicts.decide([_comparison(1e-4 * NOISE, comparison="1"),
                                     _comparison(1e-4 * NOISE[::-1], comparison="2")])
    assert first.decision.p_equivalent == pytest.approx(2 / 1024)  # 2 x 1/1024


def test_an_effect_there_before_training_is_present_at_initialisation():
    # trained difference 0.3 (as claimed), already 0.3 at init (p = 2/1024 on 10 seeds),
    # training adds nothing: its CI straddles 0
    init = verdicts.paired(0.3 + 0.01 * NOISE).effect
    gain = verdicts.paired(0.01 * NOISE).effect
    assert gain.ci_low < 0 < gain.ci_high
    (res,) = verdicts.decide([_comparison(0.3 + 0.01 * NOISE, init=init, gain=gain)])
    assert res.decision.verdict is Verdict.AT_INIT
    (claim,) = verdicts.summarise([res])
    assert claim.verdict is Verdict.AT_INIT and "already present at initialisation" in (
        claim.reason)


def test_a_learned_effect_is_reproduced():
    # the same trained difference, but nothing at init: training made it
    init = verdicts.paired(0.01 * NOISE).effect
    gain = verdicts.paired(0.3 + 0.01 * NOISE).effect
    (res,) = verdicts.decide([_comparison(0.3 + 0.01 * NOISE, init=init, gain=gain)])
    assert res.decision.verdict is Verdict.REPRODUCED
    # present at init too, but training adds to it significantly: still learned
    grown = verdicts.paired(0.2 + 0.01 * NOISE).effect
    (more,) = verdicts.decide([_comparison(0.3 + 0.01 * NOISE, init=init, gain=grown)])
    assert more.decision.verdict is Verdict.REPRODUCED
    # an init effect against the claim never makes it "present at initialisation"
    against = verdicts.paired(-0.3 + 0.01 * NOISE).effect
    (odd,) = verdicts.decide([_comparison(0.3 + 0.01 * NOISE, init=against, gain=gain)])
    assert odd.decision.verdict is Verdict.REPRODUCED


def test_identical_arms_are_not_testable_with_their_reason():
    (res,) = verdicts.decide([_comparison(np.zeros(10))])
    assert res.decision.verdict is Verdict.NOT_TESTABLE
    assert res.stats.not_testable == verdicts.IDENTICAL
    assert math.isnan(res.decision.p_holm)


def _flipped(result: ComparisonResult) -> ComparisonResult:
    arms = Arms(result.arms.worse, result.arms.better, result.arms.metric,
                mean_better=result.arms.mean_worse, mean_worse=result.arms.mean_better)
    return replace(result, arms=arms, stats=verdicts.paired(-np.asarray(result.stats.diffs)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=6, max_size=12),
       st.floats(-0.5, 0.5))
def test_swapping_the_arms_flips_the_direction_and_keeps_equivalence(noise, shift):
    result = _comparison(shift + np.asarray(noise))
    (one,) = verdicts.decide([result])
    (other,) = verdicts.decide([_flipped(result)])
    swap = {Verdict.REPRODUCED: Verdict.REVERSED, Verdict.REVERSED: Verdict.REPRODUCED}
    assert other.decision.verdict == swap.get(one.decision.verdict, one.decision.verdict)
    assert other.decision.p_holm == pytest.approx(one.decision.p_holm, nan_ok=True)
    assert other.decision.p_equivalent == pytest.approx(one.decision.p_equivalent,
                                                        nan_ok=True)
