"""Claims as paired comparisons: known answers on constructed curves, CIs, steps, protocols."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smoothlearn import figures, stats, verdicts
from smoothlearn.claims import (
    EFFICIENCY_STAGE,
    Claim,
    Measured,
    beats,
    chain,
    choose_step,
    curve_auc,
    evaluate_claims,
    normalise_frame,
    paired_comparison,
    with_efficiency,
)
from smoothlearn.verdicts import ComparisonResult, Verdict


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
    assert rec["step"] == 200 and rec["test_labels"] == "none"


def test_reversed_effect_is_reversed():
    frame = curves(TWO, lambda a, s, t: (0.7 if a == "a" else 0.6) + 0.001 * s)
    rec = one(frame)
    assert rec["verdict"] == "reversed" and rec["ci_high"] < 0 and rec["share"] == 0.0
    assert rec["p"] == pytest.approx(2 / 1024)


def test_null_is_inconclusive_with_its_t_power_mde():
    frame = curves(TWO, lambda a, s, t: 0.6 + (0.02 if (s % 2) == (a == "a") else 0.0))
    rec = one(frame)
    assert rec["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert rec["ci_low"] < 0 < rec["ci_high"] and rec["verdict"] == "inconclusive"
    assert rec["p"] == pytest.approx(1.0)
    # differences of +-0.02 (sd 0.021) over 10 seeds: a paired t-test at 0.05 has 80% power
    # at d = 0.996 (noncentral t), not the normal formula's (1.96 + 0.84) / sqrt(10) = 0.886
    sd = np.array([0.02, -0.02] * 5).std(ddof=1)
    assert rec["sd_diff"] == pytest.approx(sd)
    assert rec["mde"] == pytest.approx(0.996 * sd, rel=1e-3)
    # the +-0.02 noise is far wider than the 1% margin (0.006): equivalence is not shown
    assert rec["margin"] == pytest.approx(0.01 * rec["mean_worse"])
    assert rec["p_equivalent"] > 0.05


def test_planted_effect_of_known_size():
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.01, 12)  # paired differences: 0.02 + noise, sd about 0.01
    frame = curves(TWO, lambda a, s, t: 0.6 - (0.02 + noise[s] if a == "a" else 0.0),
                   seeds=12)
    rec = one(frame)
    diff = 0.02 + noise
    assert rec["mean_diff"] == pytest.approx(diff.mean())
    assert rec["effect_sd"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert rec["relative_diff"] == pytest.approx(diff.mean() / 0.6)
    assert rec["p"] == pytest.approx(2 / 4096) and rec["p_holm"] == rec["p"]
    assert rec["verdict"] == "reproduced" and rec["seeds"] == list(range(12))


def test_accuracy_counts_higher_as_better():
    frame = curves(TWO, lambda a, s, t: (0.5 if a == "a" else 0.6) + 0.001 * s)
    claim = Claim("acc", "", "exp", CLAIM.comparisons, metric="test_acc")
    rec = one(frame, claim)
    assert rec["verdict"] == "reproduced" and rec["mean_diff"] == pytest.approx(0.1)


def test_five_seeds_can_never_reproduce():
    frame = curves(TWO, lambda a, s, t: (0.5 if a == "a" else 0.6) + 0.001 * s, seeds=5)
    (res,) = evaluate_claims(frame, claims=[CLAIM])
    assert res.stats.n == 5 and res.stats.share == 1.0 and res.stats.p == pytest.approx(2 / 32)
    assert res.decision.verdict == "inconclusive" and math.isinf(res.decision.mde)
    (row,) = verdicts.summarise([res])
    assert row.verdict == "inconclusive"
    assert "5 seeds cannot reach p < 0.05" in row.reason and "0.0625" in row.reason


def test_holm_across_the_comparisons_of_one_claim():
    arms = {"a": {"condition": "repeat-1"}, "b": {"condition": "random"},
            "c": {"condition": "repeat-3"}}
    level = {"a": 0.5, "b": 0.6, "c": 0.6}  # a beats b clearly; b and c tie up to noise
    frame = curves(arms, lambda a, s, t: level[a] + (0.01 * (-1) ** s if a == "c" else 0))
    claim = Claim("chain", "", "exp", chain("condition", ["repeat-1", "random", "repeat-3"]))
    first, second = evaluate_claims(frame, claims=[claim])
    assert first.stats.p == pytest.approx(2 / 1024)
    assert first.decision.p_holm == pytest.approx(4 / 1024)
    assert second.stats.p == pytest.approx(1.0) and second.decision.p_holm == pytest.approx(1.0)
    assert (first.decision.verdict, second.decision.verdict) == (
        Verdict.REPRODUCED, Verdict.INCONCLUSIVE)
    # the detectable effect is quoted at Holm's first level, 0.05 / 2: larger than at 0.05,
    # and larger than the normal formula's (2.241 + 0.842) / sqrt(10) at that level
    sd = second.stats.sd_diff
    assert second.decision.mde == pytest.approx(stats.min_detectable_effect(sd, 10, 0.025))
    assert second.decision.mde > max(stats.min_detectable_effect(sd, 10),
                                     (2.241403 + 0.841621) * sd / math.sqrt(10))
    (row,) = verdicts.summarise([first, second])
    assert row.verdict == "partly reproduced" and row.label == "partly reproduced (1 of 2)"
    assert row.reason.startswith("1 of 2 comparisons reproduced; the others: 1 inconclusive")


def test_identical_arms_are_not_testable():
    frame = curves(TWO, lambda a, s, t: 0.5 + 0.01 * s)  # both arms: the same numbers
    rec = one(frame)
    assert rec["verdict"] == "not testable" and rec["not_testable"] == verdicts.IDENTICAL
    assert math.isnan(rec["p_holm"])
    (row,) = verdicts.summarise([ComparisonResult.from_record(rec)])
    assert row.verdict == "not testable" and "exactly 0" in row.reason


def test_label_reset_at_repeat_1_is_the_feedforward_net():
    arms = {"a": {"model": "leaky-reset", "reset": "label", "test_mode": "same"},
            "b": {"model": "feedforward", "reset": "never", "test_mode": "off"}}
    frame = curves(arms, lambda a, s, t: (0.5 if a == "a" else 0.6) + 0.001 * s,
                   condition="repeat-1", task="classify")
    claim = Claim("r1", "", "exp", (beats({"model": "leaky-reset"}, {"model": "feedforward"},
                                          "repeat-1"),))
    rec = one(frame, claim)
    assert rec["verdict"] == "not testable" and "by construction" in rec["not_testable"]
    other = one(frame.assign(condition="repeat-3"), claim)
    assert other["verdict"] == "reproduced" and other["not_testable"] == ""


def test_a_missing_arm_makes_the_claim_no_data():
    frame = curves(TWO, lambda a, s, t: 0.5 if a == "a" else 0.6)
    claim = Claim("m", "", "exp", (*CLAIM.comparisons,
                                    beats({"condition": "repeat-1"}, {"condition": "repeat-9"},
                                          "repeat-1 < repeat-9")))
    present, missing = evaluate_claims(frame, claims=[claim])
    assert present.decision.verdict == "reproduced" and missing.decision.verdict == "no data"
    assert present.decision.p_holm == present.stats.p  # the missing arm is not in the Holm family
    (row,) = verdicts.summarise([present, missing])
    assert row.verdict == "no data"
    assert row.reason == "no data for repeat-1 < repeat-9 (no runs match the worse arm)"


def test_chain_makes_adjacent_comparisons():
    comps = chain("condition", ["repeat-1", "random", "repeat-3"], model="feedforward")
    assert [c.label for c in comps] == ["repeat-1 < random", "random < repeat-3"]
    assert comps[1].better == {"model": "feedforward", "condition": "random"}


def test_missing_experiment_is_reported_not_hidden():
    frame = curves(TWO, lambda a, s, t: 0.5)
    fig2 = figures.get("fig2").claims  # the paper's claims: their experiment is not here
    results = evaluate_claims(frame, fig2)
    assert len(results) == sum(len(c.comparisons) for c in fig2)
    assert {r.decision.verdict for r in results} == {"no data"}
    assert all(math.isnan(r.stats.p) and r.note.startswith("no runs match") for r in results)


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
def test_label_reset_streaming_is_tier_resets():
    arms = {"a": {"model": "leaky-reset", "test_mode": "same", "condition": "repeat-3"},
            "b": {"model": "feedforward", "test_mode": "off", "condition": "repeat-3"}}
    frame = curves(arms, lambda a, s, t: 0.5 if a == "a" else 0.6)
    claim = Claim("p", "", "exp", (beats({"model": "leaky-reset"}, {"model": "feedforward"},
                                         "LR < FF"),))
    rec = one(frame, claim)
    assert rec["test_labels"] == "resets"  # the more label-reading of the two arms
    assert rec["test_mode"] == {"better": "same", "worse": "off"}
    assert "tier resets" in rec["test_protocol"]["better"]
    assert "tier none" in rec["test_protocol"]["worse"]
    off = one(frame.assign(test_mode="off"), claim)
    assert off["test_labels"] == "none"


def test_presets_resolve_reset_for_arms():
    arms = {"a": {"model": "feedforward"}, "b": {"model": "leaky-reset"}}
    frame = curves(arms, lambda a, s, t: 0.5 if a == "a" else 0.6).assign(task="classify")
    claim = Claim("r", "", "exp", (beats({"model": "feedforward"},
                                         {"model": "leaky-reset", "reset": "label"}, "x"),))
    assert one(frame, claim)["verdict"] == "reproduced"


# ----------------------------------------------------------------------------- records
def test_curve_record_has_todays_keys_and_round_trips():
    frame = curves(TWO, lambda a, s, t: (0.5 if a == "a" else 0.6) + 0.001 * s)
    (result,) = evaluate_claims(frame, claims=[CLAIM])
    record = result.to_record()
    assert list(record) == [
        "id", "claim", "text", "comparison", "experiment", "source", "stage", "step_policy",
        "better", "worse", "metric", "dataset", "step", "step_rule", "test_mode",
        "test_protocol", "test_labels", "n", "seeds", "mean_better", "mean_worse",
        "sd_better", "sd_worse", "mean_diff", "ci_low", "ci_high", "share", "relative_diff",
        "sd_diff", "effect_sd", "p", "p_holm", "mde", "margin", "p_equivalent", "not_testable",
        "verdict", "note"]
    assert record["id"] == "a-beats-b: repeat-1 < random"
    assert ComparisonResult.from_record(record) == result


def test_a_single_comparison_is_measured_as_typed_arms_and_statistics():
    frame = normalise_frame(curves(TWO, lambda a, s, t: (0.5 if a == "a" else 0.6) + 0.001 * s))
    got = paired_comparison(frame, {"condition": "repeat-1"}, {"condition": "random"})
    assert isinstance(got, Measured)
    assert got.arms.better == "condition=repeat-1" and got.arms.step == 200
    assert got.arms.mean_worse == pytest.approx(0.6045)
    assert got.stats.n == 10 and got.stats.mean_diff == pytest.approx(0.1) and not got.note
    none = paired_comparison(frame, {"condition": "repeat-9"}, {"condition": "random"})
    assert none.stats.n == 0 and none.note == "no runs match the better arm"


def test_a_class_blocked_given_stream_is_tier_order():
    """A moving stream in blocks of one class was ordered by its labels: streaming through it
    is not label-free; an episode stream, or the same frames trained shuffled, are."""
    from smoothlearn.claims import _protocol

    def arm(params: str, condition: str = "given", test_mode: str = "same") -> pd.DataFrame:
        return pd.DataFrame([{"test_mode": test_mode, "test_reset": None,
                              "reset": "input-change", "task": "classify",
                              "condition": condition, "dataset": "moving-mnist",
                              "dataset_params": params}])

    text, tier = _protocol(arm('{"class_repeats": 10, "frames": 1}'))
    assert tier == "order" and "order built from test labels" in text
    assert _protocol(arm('{"class_repeats": 10, "frames": 1}', "random"))[1] == "order"
    assert _protocol(arm('{"class_repeats": 1, "frames": 10}'))[1] == "none"
    assert _protocol(arm('{"class_repeats": 1, "frames": 10}', "random"))[1] == "none"
    assert "own order" in _protocol(arm('{"frames": 10}', "random"))[0]
    assert _protocol(arm('{"class_repeats": 10, "frames": 1}', test_mode="off"))[1] == "none"


# ----------------------------------------------------------------------------- learning efficiency
def test_curve_auc_is_the_mean_level_of_a_hand_made_curve():
    # error 1.0 at step 0, 0.0 from step 10 to 20: area 5 (one triangle) over a span of 20
    assert curve_auc([0, 10, 20], [1.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert curve_auc([20, 0, 10], [0.0, 1.0, 0.0]) == pytest.approx(0.25)  # order of points
    assert curve_auc([0, 100, 300], [0.6, 0.4, 0.4]) == pytest.approx((50 + 80) / 300)
    assert curve_auc([50], [0.3]) == 0.3 and math.isnan(curve_auc([], []))


@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=2, max_size=30),
       st.floats(0.01, 100))
@settings(max_examples=60, deadline=None)
def test_curve_auc_lies_between_the_curves_extremes_and_is_in_its_units(values, scale):
    steps = np.arange(len(values)) * 7.0
    auc = curve_auc(steps, values)
    assert min(values) - 1e-9 <= auc <= max(values) + 1e-9
    assert curve_auc(steps * 3, np.asarray(values) * scale) == pytest.approx(auc * scale)


def _learning_speeds(arm: str, seed: int, step: int) -> float:
    """Arm a learns faster but both end equal: a wins only on the area."""
    fast = {0: 1.0, 100: 0.2, 200: 0.1}
    slow = {0: 1.0, 100: 0.6, 200: 0.1}
    return (fast if arm == "a" else slow)[step] + 0.001 * seed


def test_a_curve_claim_is_judged_at_the_end_and_at_the_auc_endpoint():
    frame = curves(TWO, _learning_speeds)
    claims = with_efficiency([CLAIM])
    assert [c.stage for c in claims] == ["end", EFFICIENCY_STAGE] and claims[1].id == CLAIM.id
    end, auc = (r.to_record() for r in evaluate_claims(frame, claims=claims))
    assert (end["stage"], auc["stage"]) == ("end", "auc")
    assert end["claim"] == auc["claim"] and end["comparison"] == auc["comparison"]
    assert auc["id"] == "a-beats-b: repeat-1 < random (auc)" != end["id"]  # ids stay unique
    assert end["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert end["verdict"] not in ("reproduced", "reversed")  # both end at the same error
    # per seed, b - a: 0.4 at step 100, 0 at steps 0 and 200: area 0.4 * 200 / 2, span 200
    assert auc["mean_diff"] == pytest.approx(0.2) and auc["verdict"] == "reproduced"
    assert auc["step"] == 200 and "area under the curve over eval steps 0-200" in auc["step_rule"]
    # Holm runs within each stage's family: the auc p is not adjusted by the end comparison
    assert auc["p_holm"] == pytest.approx(auc["p"])


def test_a_declared_efficiency_end_shortens_the_area():
    frame = curves(TWO, _learning_speeds)
    (auc,) = evaluate_claims(frame, claims=[replace(CLAIM, stage="auc")], efficiency_end=150)
    assert auc.arms.step == 100
    assert auc.stats.mean_diff == pytest.approx((0.6 - 0.2) / 2)


def test_a_run_that_stops_inside_the_area_is_dropped_not_judged_on_part_of_it():
    frame = curves(TWO, _learning_speeds)
    stopped = (frame["run_id"] == "a-3") & (frame["step"] == 100)
    frame = frame[~stopped].copy()
    frame.loc[frame["run_id"] == "a-3", "diverged"] = True
    (auc,) = evaluate_claims(frame, claims=[replace(CLAIM, stage="auc")])
    assert auc.stats.n == 9 and "without a finite value" in auc.note


def test_an_unknown_stage_is_an_error_naming_it():
    frame = normalise_frame(curves(TWO, _learning_speeds))
    with pytest.raises(ValueError, match="stage='middle'"):
        choose_step(frame, stage="middle")



# ----------------------------------------------------------------------------- tiers
def _row(**kw) -> dict:
    """One run's config as a frame row: a leaky net on MNIST, streamed in its training order
    with label-free input-change resets (each case changes what it is about)."""
    return {"model": "leaky", "dataset": "mnist", "task": "classify", "condition": "repeat-5",
            "test_mode": "same", "reset": "never", "test_reset": "input-change",
            "dataset_params": None, **kw}


@pytest.mark.parametrize(("case", "row", "tier"), [
    ("repeat-N order", _row(), "order"),
    ("repeat-1 order", _row(condition="repeat-1"), "order"),
    ("sticky order", _row(condition="sticky-0.8"), "order"),
    ("streamed as repeat-3", _row(condition="random", test_mode="repeat-3"), "order"),
    ("random training order", _row(condition="random"), "none"),
    ("streamed as random", _row(test_mode="random"), "none"),
    ("memory off", _row(test_mode="off"), "none"),
    ("memory off, label resets", _row(model="leaky-reset", test_mode="off",
                                      test_reset="label"), "none"),
    ("label resets", _row(model="leaky-reset", reset="label", test_reset=None), "resets"),
    ("label resets in random order", _row(test_reset="label", test_mode="random"), "resets"),
    ("moving stream's own order", _row(dataset="moving-mnist", condition="given",
                                       dataset_params='{"frames": 10}'), "none"),
    ("class-blocked moving stream", _row(dataset="moving-mnist", condition="given",
                                         dataset_params='{"class_repeats": 10}'), "order"),
    ("class-blocked, trained shuffled", _row(dataset="moving-mnist", condition="random",
                                             dataset_params='{"class_repeats": 10}'), "order"),
    ("LSTM streamed as repeat-5 (A.8)", _row(model="lstm", reset="never", test_reset=None),
     "order"),
    ("feedforward streamed: no memory", _row(model="feedforward", leak=0.0), "none"),
    ("memory only at test", _row(model="feedforward", test_memory="hidden"), "order"),
    ("memory only at test, off", _row(model="feedforward", test_memory="none"), "none"),
    ("leak set on a preset", _row(model="feedforward", leak=0.3), "order"),
    ("a leak per unit", _row(model="ae-multiscale", leak="[0.0, 0.3]", task="reconstruct"),
     "order"),
    ("autoencoder label policy", _row(reset="label", test_reset=None, task="reconstruct"),
     "order"),
])
def test_label_tier_known_answers(case, row, tier):
    from smoothlearn.claims import label_tier

    assert label_tier(row) == tier, case
    assert label_tier(pd.Series(row)) == tier, case  # a frame row reads the same


def test_a_comparison_takes_the_most_label_reading_tier_of_its_arms():
    from smoothlearn.claims import TIERS, strongest_tier

    assert strongest_tier("none", "order") == "order"
    assert strongest_tier("resets", "none") == "resets"
    assert strongest_tier("none", "none") == "none"
    for a in TIERS:
        for b in TIERS:
            assert strongest_tier(a, b) == strongest_tier(b, a) == max(a, b, key=TIERS.index)


def test_an_order_built_from_labels_is_its_own_tier_in_the_record():
    arms = {"a": {"model": "leaky", "test_mode": "same", "condition": "repeat-5",
                  "dataset": "mnist", "task": "classify", "test_reset": "input-change"},
            "b": {"model": "feedforward", "test_mode": "off", "condition": "repeat-5",
                  "dataset": "mnist", "task": "classify"}}
    frame = curves(arms, lambda a, s, t: (0.5 if a == "a" else 0.6) + 0.01 * s)
    claim = Claim("o", "", "exp", (beats({"model": "leaky"}, {"model": "feedforward"},
                                         "L < FF"),))
    rec = one(frame, claim, step_policy="end", labels_fn=lambda d, s: None)
    assert rec["test_labels"] == "order"
    assert "order built from test labels" in rec["test_protocol"]["better"]
    # each arm's SD over the paired seeds (0.01 * seed: the SD of 0..9 times 0.01)
    assert rec["sd_better"] == pytest.approx(0.01 * np.std(range(10), ddof=1))
    assert rec["sd_worse"] == pytest.approx(rec["sd_better"])
