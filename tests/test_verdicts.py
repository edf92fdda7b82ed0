"""Typed results and verdicts: records, Holm families, claim aggregation and reasons."""

from __future__ import annotations

from smoothlearn import verdicts
from smoothlearn.verdicts import ComparisonResult, Effect


def test_summary_verdicts():
    assert verdicts.aggregate(["reproduced", "reproduced"]) == "reproduced"
    assert verdicts.aggregate(["reproduced", "no detectable effect"]) == "partly reproduced"
    assert verdicts.aggregate(["reproduced", "reversed"]) == "mixed"
    assert verdicts.aggregate(["reversed", "not testable"]) == "reversed"
    assert verdicts.aggregate(["reproduced", "no data"]) == "no data"
    results = [ComparisonResult(claim="x", text="t", comparison=c, experiment="e", better="a",
                                worse="b", metric="m", n=10, p=p, verdict=v)
               for c, v, p in (("1", "reproduced", 0.002), ("2", "reversed", 0.002))]
    (row,) = verdicts.summarise(results)
    assert row.verdict == "mixed"
    record = row.to_record()
    assert record["counts"] == {"reproduced": 1, "reversed": 1}
    assert set(record) == {"claim", "text", "experiment", "source", "verdict", "counts",
                           "reason"}


def test_optional_fields_are_left_out_and_effects_flattened():
    result = ComparisonResult(claim="c", text="t", comparison="x", experiment="e", better="a",
                              worse="b", metric="m", lr=0.01, mean_better=None,
                              mean_worse=None, init=Effect(0.1, 0.0, 0.2, 0.01), id="c: a")
    record = result.to_record()
    for absent in ("step_policy", "optimizer", "model", "mean_better", "gain_mean_diff"):
        assert absent not in record
    assert record["lr"] == 0.01 and record["id"] == "c: a" and record["step"] is None
    assert (record["init_mean_diff"], record["init_ci_low"], record["init_ci_high"],
            record["init_p"]) == (0.1, 0.0, 0.2, 0.01)
    assert ComparisonResult.from_record(record) == result
