"""Typed results and verdicts: records, Holm families, claim aggregation and reasons."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smoothlearn import verdicts
from smoothlearn.verdicts import Arms, ComparisonResult, Decision, Effect, Paired, Verdict


def test_summary_verdicts():
    assert verdicts.aggregate(["reproduced", "reproduced"]) == "reproduced"
    assert verdicts.aggregate(["reproduced", "no detectable effect"]) == "partly reproduced"
    assert verdicts.aggregate(["reproduced", "reversed"]) == "mixed"
    assert verdicts.aggregate(["reversed", "not testable"]) == "reversed"
    assert verdicts.aggregate(["reproduced", "no data"]) == "no data"
    results = [ComparisonResult(claim="x", text="t", comparison=c, experiment="e",
                                arms=Arms("a", "b", "m"), stats=Paired(n=10, p=p),
                                decision=Decision(v))
               for c, v, p in (("1", "reproduced", 0.002), ("2", "reversed", 0.002))]
    (row,) = verdicts.summarise(results)
    assert row.verdict == "mixed"
    record = row.to_record()
    assert record["counts"] == {"reproduced": 1, "reversed": 1}
    assert set(record) == {"claim", "text", "experiment", "source", "verdict", "counts",
                           "reason"}


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
        stats=verdicts.paired(np.linspace(0.1, 0.2, 10), range(10), n_boot=200))])
    assert decided.decision.verdict is Verdict.REPRODUCED
    record = json.loads(json.dumps(decided.to_record()))
    assert record["verdict"] == "reproduced" and type(decided.to_record()["verdict"]) is str
    assert ComparisonResult.from_record(record).decision.verdict is Verdict.REPRODUCED
    (claim,) = verdicts.summarise([decided])
    assert claim.verdict is Verdict.REPRODUCED
    assert all(type(k) is str for k in claim.to_record()["counts"])
    assert Decision("mixed").verdict is Verdict.MIXED
    with pytest.raises(ValueError, match="holds"):
        Decision("holds")


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
