"""The robustness sweep: its design (shared arms, cells), statistics, outputs and resumption."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smoothlearn import cli
from smoothlearn import robustness as rb
from smoothlearn.experiments import ConfigError
from smoothlearn.report.tables import VERDICT_COLORS
from smoothlearn.sweep import Execution
from smoothlearn.verdicts import Verdict

CELLS = {c.name: c for c in rb.CELLS}


@pytest.mark.parametrize("verdict", list(Verdict))
def test_judge_keeps_the_claims_words(verdict):
    assert rb.judge(verdict) == str(verdict)  # one vocabulary: no "holds" of its own


def test_claim_level_aggregates_comparisons():
    assert rb.claim_level(["reproduced", "reproduced"]) == "reproduced"
    assert rb.claim_level(["reproduced", "inconclusive"]) == "partly reproduced (1 of 2)"
    assert rb.claim_level(["reproduced", "reversed"]) == "partly reproduced (1 of 2)"
    assert rb.claim_level(["reversed", "reversed", "inconclusive"]) == "reversed"
    assert rb.claim_level(["reproduced", "not testable", "inconclusive", "inconclusive"]) == (
        "partly reproduced (1 of 3)")  # not testable is left out of n
    assert rb.claim_level(["reversed", "inconclusive"]) == "inconclusive"
    assert rb.claim_level(["reproduced", "not testable"]) == "reproduced"
    assert rb.claim_level(["not testable"]) == "not testable"
    # a missing arm makes the claim "no data", never a partial verdict
    assert rb.claim_level(["reproduced", "no data"]) == "no data"
    assert rb.claim_level(["no data"]) == "no data"
    words = {rb.claim_level([v]) for v in (
        "reproduced", "reversed", "inconclusive", "not testable", "no data")}
    assert {rb.verdict_of(w) for w in words} <= set(VERDICT_COLORS)
    assert all(rb.verdict_of(rb.judge(v)) == v for v in Verdict)


def test_cells_share_arms_and_change_one_thing():
    plans = rb.plan(quick=True, seeds=2, cells=rb.CELLS)
    ids = {name: {c.run_id() for c in configs} for name, configs in plans.items()}
    literal = plans["literal"]
    ff = {c.run_id() for c in literal if c.model == "feedforward"}
    for name in ("test: memory off", "test: A.11 resets", "test: as repeat-1", "test: as random"):
        assert ff <= ids[name], name  # the feedforward arm is trained once for all of them
    for name, configs in plans.items():
        arms = {(c.model, c.test_mode, c.test_reset) for c in configs}
        assert len(configs) == len(arms) * len(rb.CONDITIONS) * 2, name
        assert all(c.dataset == "mnist" for c in configs)
    assert {c.class_balance for c in plans["balanced classes"]} == {"balanced"}
    assert {c.leak_grad for c in plans["no factor, memory off"]
            if c.model != "feedforward"} == {"ignore"}
    assert {c.test_mode for c in plans["no factor, memory off"]} == {"off"}
    a11 = {(c.model, c.test_reset and str(c.test_reset)) for c in plans["test: A.11 resets"]}
    assert ("leaky-reset", "input-change") in a11 and ("leaky", None) in a11
    assert not ids["RMSprop"] & ids["literal"]


@pytest.mark.parametrize("bad", [{"seeds": 0}, {"steps": -1}])
def test_plan_rejects_non_positive_counts(bad):
    with pytest.raises(ValueError, match="must be at least 1"):
        rb.plan(quick=True, **bad)


def test_feedforward_arms_ignore_the_gradient_factor():
    plans = rb.plan(quick=True, seeds=2, cells=rb.CELLS)
    ff = {c.run_id() for c in plans["literal"] if c.model == "feedforward"}
    assert ff == {c.run_id() for c in plans["no (1-leak) factor"] if c.model == "feedforward"}


def test_stages_past_a_short_run_are_dropped():
    assert set(rb._stage_steps(True, None)) == {"early", "mid", "end", "auc"}
    assert set(rb._stage_steps(True, 2000)) == {"early", "end", "auc"}
    assert "4,000 steps" in rb.stage_text(True, None)
    assert "20,000 steps" in rb.stage_text(False, None)


def test_cell_claims_follow_the_cell():
    ce = rb.cell_claims(CELLS["cross-entropy"])
    assert {c.metric for c in ce} == {"test_ce"}
    off = rb.cell_claims(CELLS["test: memory off"])
    leaky = next(c for c in off if c.id == "leaky-more-repeats")
    assert all(comp.better["test_mode"] == "off" for comp in leaky.comparisons)
    assert CELLS["literal"].test_labels == "resets"
    assert CELLS["test: as random"].test_labels == "resets"  # label resets, random order
    assert CELLS["test: A.11 resets"].test_labels == "order"  # label-free resets, label order
    assert CELLS["test: as repeat-1"].test_labels == "resets"
    assert CELLS["test: memory off"].test_labels == "none"
    assert CELLS["no factor, memory off"].test_labels == "none"


@pytest.mark.parametrize("cell", list(CELLS))
def test_a_cells_tier_is_that_of_its_leaky_reset_arm_in_a_label_order(cell):
    """The cell's tier is the one :func:`label_tier` gives its most label-reading arm:
    leaky+reset trained (and streamed) in repeat-5 order."""
    from smoothlearn.claims import label_tier

    c = CELLS[cell]
    row = {"model": "leaky-reset", "reset": "label", "condition": "repeat-5",
           "dataset": "mnist", "task": "classify", "test_mode": c.test_mode,
           "test_reset": c.test_reset}
    assert c.test_labels == label_tier(row)


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("robustness")
    return out, rb.run(_small_options(out), Execution(workers=1, quiet=True))


def _small_options(out) -> rb.RobustnessOptions:
    return rb.RobustnessOptions(out, quick=True, seeds=8, cells=("literal", "test: memory off"),
                                autoencoders=False, dataset="synthetic-categories")


def test_every_claim_cell_and_stage_is_judged(small_sweep):
    out, res = small_sweep
    table = res.table
    assert set(table["stage"]) == {"early", "mid", "end", "auc"}
    assert set(table["cell"]) == {"literal", "test: memory off"}
    claims = len(rb.cell_claims(rb.CELLS[0]))
    assert len(table) == claims * 2 * 4 and table["literal"].sum() == claims * 4
    assert {rb.verdict_of(v) for v in table["verdict"]} <= set(VERDICT_COLORS)
    records = json.loads((out / "robustness.json").read_text(), parse_constant=float)["records"]
    assert all(r["robust_verdict"] in {"reproduced", "reversed", "equivalent", "inconclusive",
                                       "not testable", "no data"} for r in records)
    assert {rec["n"] for rec in records} == {8}  # every arm matched one run per seed
    for rec in records:
        if rec["n"] and rec["robust_verdict"] != "not testable":
            assert rec["p_holm"] >= rec["p"]
            assert (rec["robust_verdict"] == "reproduced") == (rec["p_holm"] < 0.05
                                                          and rec["mean_diff"] > 0)


def test_outputs_are_written_and_the_sweep_resumes(small_sweep):
    out, res = small_sweep
    assert res.png.stat().st_size > 10_000 and res.svg.is_file()
    text = (out / "claims.md").read_text()
    assert "Do not edit by hand" in text and "robustness.png" in text
    assert "## Summary" in text and "**ff-smoothness-slows**" in text
    again = rb.run(_small_options(out), Execution(workers=1, quiet=True))
    sweep = again.sweep
    assert sweep.done == 0 and sweep.skipped == sweep.total == again.meta["runs"]
    assert again.meta["sweep"] == sweep.line()
    assert again.table.equals(res.table)


def test_autoencoder_part_reports_init_and_reset_rate(monkeypatch):
    monkeypatch.setattr(rb, "AE_QUICK", {"seeds": 3, "lengths": (3000, 6000)})
    ae = rb.autoencoder_robustness(quick=True)
    sel = ae["selectivity"]
    assert set(sel["items"]) == {3000, 6000}
    assert {"selectivity", "selectivity_init"} <= set(sel.columns)
    rate = ae["reset_rate"]
    assert len(rate) == 3 and (rate["switch"] > 0).all()
    assert rate["switch"].iloc[0] > rate["switch"].iloc[2]  # fast row switches most
    assert any("init_mean_diff" in c for c in ae["claims"])


def test_unknown_cell_is_one_line_exit_2(capsys):
    assert cli.main(["robustness", "--cells", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "'literal'" in err[0]


def test_cli_parses_robustness():
    args = cli.build_parser().parse_args(["robustness", "--quick", "--cells", "literal"])
    assert args.cells == ["literal"] and args.quick


def test_options_reject_an_unknown_cell():
    with pytest.raises(ConfigError, match="--cells: unknown cell"):
        rb.RobustnessOptions(cells=("literal", "nope"))


def test_a_cell_whose_nets_did_not_learn_is_flagged_not_summarised(small_sweep):
    _, res = small_sweep
    records = res.records
    table = rb.claim_table(records, {"literal": rb.CellHealth(0.9),
                                     "test: memory off": rb.CellHealth(0.1)})
    assert table.loc[table["cell"] == "literal", "learned"].all()
    assert not table.loc[table["cell"] == "test: memory off", "learned"].any()
    lines = rb.summary_lines(table)
    assert "test: memory off" not in " ".join(lines[:-1])
    assert lines[-1].startswith("Left out above")
    assert "test: memory off (accuracy 0.10)" in lines[-1]
    health = res.meta["health"]
    assert set(health) == {"literal", "test: memory off"}
    assert 0.25 < health["literal"]["accuracy"] <= 1.0
    no_runs = rb.claim_table(records, {"literal": rb.CellHealth(math.nan),
                                       "test: memory off": rb.CellHealth(0.9)})
    assert not no_runs.loc[no_runs["cell"] == "literal", "learned"].any()


def test_no_literal_verdict_when_its_nets_did_not_learn(small_sweep):
    _, res = small_sweep
    table = rb.claim_table(res.records, {"literal": rb.CellHealth(0.1),
                                         "test: memory off": rb.CellHealth(0.9)})
    lines = rb.summary_lines(table)
    assert all("no verdict under the literal protocol" in line for line in lines[:5])


# ----------------------------------------------------------------------------- depends on
@pytest.mark.parametrize(("cell", "claim", "tier"), [
    ("literal", "reset-beats-ff", "resets"), ("literal", "ff-smoothness-slows", "none"),
    ("literal", "leaky-more-repeats", "order"), ("test: A.11 resets", "reset-beats-ff", "order"),
    ("test: as random", "leaky-more-repeats", "none"),
    ("test: as random", "reset-beats-ff", "resets"),
    ("test: memory off", "reset-beats-ff", "none"),
    ("no factor, memory off", "leaky-more-repeats", "none"),
    ("lr 0.05", "reset-smooth-beats-ff-memory-off", "none")])
def test_a_claims_test_label_tier_is_its_most_label_reading_arm(cell, claim, tier):
    claims = {c.id: c for c in rb.cell_claims(CELLS[cell])}
    assert rb.claim_test_labels(CELLS[cell], claims[claim]) == tier


def _row(cell: str, verdict: str, stage: str = "end", labels: str = "none",
         accuracy: float = 0.85) -> dict:
    health = rb.CellHealth(accuracy)
    return {"claim": "c", "cell": cell, "stage": stage, "literal": cell == "literal",
            "verdict": verdict, "test_labels": labels, "learned": health.learned,
            "health": health.describe()}


def _known_table() -> pd.DataFrame:
    """A claim that reads "reversed" without test labels and "reproduced" with label resets."""
    return pd.DataFrame([
        _row("literal", "reproduced", labels="resets"),
        _row("test: memory off", "reversed"),
        _row("test: as repeat-1", "reversed", labels="resets"),
        _row("no factor, memory off", "partly reproduced (1 of 2)"),
        _row("no factor, memory off", "reproduced", stage="early"),
        _row("test: memory off", "reversed", stage="early"),
        _row("lr 0.05", "reproduced", labels="resets"),
        _row("RMSprop", "reversed", labels="resets", accuracy=0.1016),
        _row("RMSprop", "inconclusive", stage="early", labels="resets",
             accuracy=0.1016),
    ])


def test_depends_on_compares_label_free_cells_with_the_headline():
    dep = rb.depends_on(_known_table(), {"c": "reversed"})["c"]
    # the memory-off cell agrees with the headline: not a dependence (it was listed before)
    assert [d.text() for d in dep.label_free] == [
        "no factor, memory off (partly reproduced (1 of 2))",
        "no factor, memory off (early: reproduced, against reversed)"]
    # label-reading cells are compared with the paper's protocol, not the headline
    assert dep.label_reading == (rb.Differs("test: as repeat-1", "end", "reversed", "reproduced"),)
    assert dep.did_not_learn == (("RMSprop", "accuracy 0.10"),)
    text = dep.text()
    assert "RMSprop: nets did not learn (accuracy 0.10)" in text
    assert "lr 0.05" not in text and "literal" not in text


def test_without_a_headline_the_label_free_reading_is_the_reference():
    dep = rb.depends_on(_known_table())["c"]
    assert dep.label_free[0] == rb.Differs("no factor, memory off", "end",
                                           "partly reproduced (1 of 2)", "reversed")
    assert rb.depends_on(pd.DataFrame()) == {}
    # a headline that decides nothing (every comparison reads labels) is no reference either
    undecided = rb.depends_on(_known_table(), {"c": "not testable"})["c"]
    assert undecided.label_free == rb.depends_on(_known_table())["c"].label_free


_CELL_NAMES = st.sampled_from([c.name for c in rb.CELLS if not c.literal])
_WORDS = st.sampled_from(["reproduced", "partly reproduced (1 of 2)", "reversed", "inconclusive"])


@settings(max_examples=60, deadline=None)  # a pandas table per example: slow on a busy CPU
@given(rows=st.lists(st.tuples(_CELL_NAMES, _WORDS, st.sampled_from(["none", "order"]),
                               st.sampled_from([0.1, 0.9])), max_size=12),
       headline=st.sampled_from(["reproduced", "partly reproduced", "reversed",
                                 "inconclusive"]))
def test_a_dependence_never_repeats_the_headline_nor_names_a_cell_that_did_not_learn(
        rows, headline):
    unique = list({c: (c, v, t, a) for c, v, t, a in rows}.values())  # one row per cell
    table = pd.DataFrame([_row("literal", "reproduced", labels="resets")]
                         + [_row(c, v, labels=t, accuracy=a) for c, v, t, a in unique])
    dep = rb.depends_on(table, {"c": headline})["c"]
    stalled = {c for c, _, _, a in unique if a < rb.LEARNED_ACCURACY}
    for entry in dep.label_free:
        assert rb.verdict_of(entry.verdict) != headline and entry.reference == headline
        assert entry.cell not in stalled
        assert (entry.cell, entry.verdict, "none") in {(c, v, t) for c, v, t, _ in unique}
    assert {c for c, _ in dep.did_not_learn} == stalled


def test_health_uses_accuracy_else_the_chance_level_mse():
    assert rb.chance_mse(np.repeat(np.arange(10), 7)) == pytest.approx(0.09)
    assert rb.chance_mse(np.array([0, 0, 0, 1])) == pytest.approx((1 - 0.75**2 - 0.25**2) / 2)
    assert rb.CellHealth(0.5).learned and not rb.CellHealth(0.49).learned
    assert rb.CellHealth(math.nan, mse=0.05, chance_mse=0.09).learned
    stalled = rb.CellHealth(math.nan, mse=0.0901, chance_mse=0.09)
    assert not stalled.learned and stalled.describe().startswith("MSE 0.0901")
    assert not rb.CellHealth(math.nan).learned
    assert rb.CellHealth(math.nan).describe() == "no finished runs"


def test_cell_health_falls_back_on_the_chance_level_mse_without_accuracy():
    def frame(mse: float) -> pd.DataFrame:
        return pd.DataFrame({"model": "feedforward", "diverged": False, "run_id": ["a", "a"],
                             "step": [0, 100], "test_acc": math.nan,
                             "test_mse": [0.5, mse], "dataset": "synthetic-categories"})

    health = rb.cell_health({"learned": frame(0.001), "stalled": frame(0.99)})
    assert health["learned"].learned and not health["stalled"].learned
    assert 0 < health["stalled"].chance_mse < 0.99
    assert health["stalled"].describe().startswith("MSE 0.99, chance level")
