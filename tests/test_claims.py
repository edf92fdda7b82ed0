"""Claims as paired comparisons: known answers on constructed curves, CIs, steps, protocols."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from smoothlearn import claims
from smoothlearn.claims import (
    Claim,
    ComparisonResult,
    Effect,
    beats,
    chain,
    evaluate_claims,
)


def curves(arms: dict[str, dict], values, steps=(0, 100, 200), seeds=10, **extra) -> pd.DataFrame:
    """One run per arm and seed; ``values(arm, seed, step)`` gives test_mse."""
    rows = []
    for name, arm in arms.items():
        for seed in range(seeds):
            for step in steps:
                mse = values(name, seed, step)
                rows.append({
                    "run_id": f"{name}-{seed}", "experiment": "exp",
                    "dataset": "synthetic-categories", "model": "feedforward",
                    "condition": "random", "test_mode": "off", "seed": seed, "step": step,
                    "test_mse": mse, "test_ce": mse, "test_acc": 1 - mse, "diverged": False,
                    **arm, **extra,
                })
    return pd.DataFrame(rows)


TWO = {"a": {"condition": "repeat-1"}, "b": {"condition": "random"}}
CLAIM = Claim("a-beats-b", "repeat-1 beats random", "exp",
              (beats({"condition": "repeat-1"}, {"condition": "random"}, "repeat-1 < random"),))


def one(frame: pd.DataFrame, claim: Claim = CLAIM, **kw) -> dict:
    (result,) = evaluate_claims(frame, claims=[claim], **kw)
    return result.to_record()


def test_clearly_better_is_reproduced():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.001, (2, 10))
    frame = curves(TWO, lambda a, s, t: (0.5 if a == "a" else 0.6) + noise[int(a == "a"), s])
    rec = one(frame)
    assert rec["verdict"] == "reproduced"
    assert rec["ci_low"] > 0 and rec["share"] == 1.0 and rec["n"] == 10
    assert rec["mean_diff"] == pytest.approx(0.1, abs=0.005)
    assert rec["step"] == 200 and rec["reads_test_labels"] is False


def test_reversed_is_not_reproduced():
    frame = curves(TWO, lambda a, s, t: (0.7 if a == "a" else 0.6) + 0.001 * s)
    rec = one(frame)
    assert rec["verdict"] == "not reproduced" and rec["ci_high"] < 0 and rec["share"] == 0.0


def test_noise_is_inconclusive():
    frame = curves(TWO, lambda a, s, t: 0.6 + (0.01 if (s % 2) == (a == "a") else 0.0))
    rec = one(frame)
    assert rec["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert rec["ci_low"] < 0 < rec["ci_high"] and rec["verdict"] == "inconclusive"


def test_accuracy_counts_higher_as_better():
    frame = curves(TWO, lambda a, s, t: (0.5 if a == "a" else 0.6) + 0.001 * s)
    claim = Claim("acc", "", "exp", CLAIM.comparisons, metric="test_acc")
    rec = one(frame, claim)
    assert rec["verdict"] == "reproduced" and rec["mean_diff"] == pytest.approx(0.1)


def test_too_few_seeds_give_no_verdict():
    frame = curves(TWO, lambda a, s, t: 0.5 if a == "a" else 0.6, seeds=2)
    rec = one(frame)
    assert rec["n"] == 2 and rec["verdict"] == "inconclusive" and "fewer than 3" in rec["note"]


def test_chain_makes_adjacent_comparisons():
    comps = chain("condition", ["repeat-1", "random", "repeat-3"], model="feedforward")
    assert [c.label for c in comps] == ["repeat-1 < random", "random < repeat-3"]
    assert comps[1].better == {"model": "feedforward", "condition": "random"}


def test_missing_experiment_is_reported_not_hidden():
    frame = curves(TWO, lambda a, s, t: 0.5)
    results = evaluate_claims(frame)  # the paper's claims: none of their experiments is here
    assert len(results) == sum(len(c.comparisons) for c in claims.CLAIMS)
    assert {r.verdict for r in results} == {"no data"}
    assert all(math.isnan(r.p) and r.note.startswith("no runs match") for r in results)


def test_match_experiment_false_uses_any_subset():
    frame = curves(TWO, lambda a, s, t: 0.5 if a == "a" else 0.6).assign(experiment="other")
    assert one(frame)["verdict"] == "no data"
    assert one(frame, match_experiment=False)["verdict"] == "reproduced"


def test_ambiguous_arm_is_a_failed_check():
    arms = {"a": {"condition": "repeat-1", "lr": 0.1}, "a2": {"condition": "repeat-1", "lr": 0.2},
            "b": {"condition": "random", "lr": 0.1}}
    rec = one(curves(arms, lambda a, s, t: 0.5))
    assert rec["verdict"] == "no data" and "check failed" in rec["note"]


def test_diverged_seed_is_dropped_and_noted():
    frame = curves(TWO, lambda a, s, t: 0.5 if a == "a" else 0.6)
    gone = (frame["run_id"] == "a-3") & (frame["step"] > 0)
    frame = frame[~gone].copy()
    frame.loc[frame["run_id"] == "a-3", "diverged"] = True
    rec = one(frame)
    assert rec["n"] == 9 and "diverged" in rec["note"] and rec["step"] == 200


# ----------------------------------------------------------------------------- steps
def labels_fn(dataset, data_seed):
    return np.repeat([0, 1, 2], [4, 8, 8])  # class 0 runs out early in repeat-N orders


def test_measures_before_the_first_class_runs_out():
    from smoothlearn.streams import first_exhaustion_step

    steps = tuple(range(0, 21, 2))
    frame = curves({"a": {"condition": "repeat-1"}, "b": {"condition": "repeat-3"}},
                   lambda a, s, t: 0.5 if a == "a" else 0.6, steps=steps, seeds=4)
    claim = Claim("c", "", "exp", (beats({"condition": "repeat-1"},
                                         {"condition": "repeat-3"}, "1 < 3"),))
    rec = one(frame, claim, labels_fn=labels_fn)
    out = min(first_exhaustion_step(labels_fn("", 0), c, s)
              for c in ("repeat-1", "repeat-3") for s in range(4))
    assert out < 20
    assert rec["step"] == max(s for s in steps if s <= out)
    assert "exhaustion" in rec["step_rule"]
    balanced = one(frame.assign(class_balance="balanced"), claim, labels_fn=labels_fn)
    assert balanced["step"] == 12  # a balanced epoch: 3 classes x 4 items
    assert balanced["step_rule"] == "end of epoch 1 (12); class_balance=balanced"
    assert one(frame, claim, labels_fn=labels_fn, step_policy="end")["step"] == 20
    assert one(frame, claim, labels_fn=labels_fn, step_policy=7)["step"] == 6


def test_equal_class_sizes_measure_at_the_end_of_epoch_one():
    frame = curves(TWO, lambda a, s, t: 0.5 if a == "a" else 0.6, steps=(0, 600, 1200, 1800))
    rec = one(frame)  # synthetic-categories: 4 x 300 items, one epoch = 1200 steps
    assert rec["step"] == 1200 and "end of epoch 1" in rec["step_rule"]


def test_early_stage_takes_a_tenth_of_the_late_step():
    frame = curves(TWO, lambda a, s, t: 0.5, steps=tuple(range(0, 1201, 60)))
    early = Claim("e", "", "exp", CLAIM.comparisons, stage="early")
    assert one(frame, early)["step"] == 120


# ----------------------------------------------------------------------------- protocols
def test_label_reset_streaming_reads_test_labels():
    arms = {"a": {"model": "leaky-reset", "test_mode": "same", "condition": "repeat-3"},
            "b": {"model": "feedforward", "test_mode": "off", "condition": "repeat-3"}}
    frame = curves(arms, lambda a, s, t: 0.5 if a == "a" else 0.6)
    claim = Claim("p", "", "exp", (beats({"model": "leaky-reset"}, {"model": "feedforward"},
                                         "LR < FF"),))
    rec = one(frame, claim)
    assert rec["reads_test_labels"] is True
    assert rec["test_mode"] == {"better": "same", "worse": "off"}
    assert "reads test labels" in rec["test_protocol"]["better"]
    off = one(frame.assign(test_mode="off"), claim)
    assert off["reads_test_labels"] is False


def test_presets_resolve_reset_for_arms():
    arms = {"a": {"model": "feedforward"}, "b": {"model": "leaky-reset"}}
    frame = curves(arms, lambda a, s, t: 0.5 if a == "a" else 0.6).assign(task="classify")
    claim = Claim("r", "", "exp", (beats({"model": "feedforward"},
                                         {"model": "leaky-reset", "reset": "label"}, "x"),))
    assert one(frame, claim)["verdict"] == "reproduced"


def test_summary_verdicts():
    assert claims.claim_verdict(["reproduced", "reproduced"]) == "reproduced"
    assert claims.claim_verdict(["reproduced", "inconclusive"]) == "partly reproduced"
    assert claims.claim_verdict(["reproduced", "not reproduced"]) == "not reproduced"
    assert claims.claim_verdict(["no data"]) == "no data"
    results = [ComparisonResult(claim="x", text="t", comparison=c, experiment="e", better="a",
                                worse="b", metric="m", verdict=v)
               for c, v in (("1", "reproduced"), ("2", "inconclusive"), ("3", "no data"))]
    (row,) = claims.summarise(results)
    assert row.verdict == "partly reproduced"
    assert row.to_record() == {"claim": "x", "text": "t", "experiment": "e", "source": "",
                               "verdict": "partly reproduced", "counts": {
                                   "reproduced": 1, "inconclusive": 1, "no data": 1}}


def test_paper_claims_name_known_models_and_conditions():
    from smoothlearn.experiments import MODELS, builtin_names

    names = set(builtin_names())
    for claim in claims.CLAIMS:
        assert claim.experiment in names, claim.id
        for comp in claim.comparisons:
            for arm in (comp.better, comp.worse):
                assert arm.get("model", "feedforward") in MODELS


# ----------------------------------------------------------------------------- records
def test_curve_record_has_todays_keys_and_round_trips():
    frame = curves(TWO, lambda a, s, t: (0.5 if a == "a" else 0.6) + 0.001 * s)
    (result,) = evaluate_claims(frame, claims=[CLAIM])
    record = result.to_record()
    assert list(record) == [
        "id", "claim", "text", "comparison", "experiment", "source", "stage", "step_policy",
        "better", "worse", "metric", "dataset", "step", "step_rule", "test_mode",
        "test_protocol", "reads_test_labels", "n", "mean_better", "mean_worse", "mean_diff",
        "ci_low", "ci_high", "share", "p", "verdict", "note"]
    assert record["id"] == "a-beats-b: repeat-1 < random"
    assert ComparisonResult.from_record(record) == result


def test_optional_fields_are_left_out_and_effects_flattened():
    result = ComparisonResult(claim="c", text="t", comparison="x", experiment="e", better="a",
                              worse="b", metric="m", lr=0.01, mean_better=None,
                              mean_worse=None, init=Effect(0.1, 0.0, 0.2), id="c: a")
    record = result.to_record()
    for absent in ("p", "step_policy", "optimizer", "model", "mean_better", "relative_diff",
                   "gain_mean_diff"):
        assert absent not in record
    assert record["lr"] == 0.01 and record["id"] == "c: a" and record["step"] is None
    assert (record["init_mean_diff"], record["init_ci_low"], record["init_ci_high"]) == (
        0.1, 0.0, 0.2)
    assert ComparisonResult.from_record(record) == result
