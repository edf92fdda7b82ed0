"""The landscape: its plan, its statistics (checked by hand), and a tiny run end to end."""

from __future__ import annotations

import itertools
import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from smoothlearn import landscape
from smoothlearn.landscape import analysis, figures, grid, markdown
from smoothlearn.landscape.grid import Arm, Block, Checkpoints, Grid, Plan
from smoothlearn.streams import first_exhaustion_step
from smoothlearn.sweep import Execution

SYNTH = "synthetic-categories"


# ----------------------------------------------------------------------------- the plan
def test_plan_trains_feedforward_once_per_order_and_memory_nets_per_setting():
    block = Block(leaks=(0.0, 0.5), smoothness=("repeat-2",), resets=grid.RESETS,
                  rates=(("sgd", 0.01), ("rmsprop", 0.001)), protocols=tuple(grid.PROTOCOLS))
    the_plan = grid.plan(Grid(blocks=(block,), datasets=(SYNTH,), seeds=2,
                              checkpoints=Checkpoints(50, 100, 400)))
    ff = [a for a in the_plan.arms if a.feedforward]
    leaky = [a for a in the_plan.arms if not a.feedforward]
    # feedforward: (repeat-2 + the random reference) x 2 rates x 2 seeds, no reset/protocol
    assert len(ff) == 2 * 2 * 2
    assert {(a.reset, a.protocol) for a in ff} == {(None, None)}
    assert {a.condition for a in ff} == {"random", "repeat-2"}
    assert len(leaky) == 1 * 1 * 3 * 2 * 2 * 2  # leak x smoothness x reset x rate x protocol x seed
    assert len(the_plan.run_ids) == len(the_plan.arms)
    for arm, config in zip(the_plan.arms, the_plan.configs, strict=True):
        assert config.steps == 400 and config.eval_steps == [50, 100, 400]
        assert config.spec().record()["leak"] == arm.leak and config.seed == arm.seed
        if arm.protocol == "streamed":
            assert (config.test_mode, str(config.test_reset)) == ("same", "input-change")
        elif arm.protocol == "memory-off":
            assert config.test_mode == "off"


def test_blocks_share_runs_and_end_checkpoint_is_before_any_class_runs_out():
    block = Block(leaks=(0.0, 0.3), smoothness=("random", "repeat-5"), resets=("never",),
                  rates=(("sgd", 0.01),), protocols=("memory-off",))
    checkpoints = Checkpoints(100, 200, None, round_to=50)
    the_plan = grid.plan(Grid(blocks=(block, block), datasets=(SYNTH,), seeds=3,
                              checkpoints=checkpoints))
    assert len(the_plan.arms) == 3 * (2 + 2)  # the repeated block adds nothing
    first = min(first_exhaustion_step(grid.training_labels(SYNTH), c, s)
                for c in ("random", "repeat-5") for s in range(3))
    end = the_plan.checkpoints[SYNTH]["end"]
    assert end == first // 50 * 50 and end <= first
    assert the_plan.checkpoints[SYNTH] == {"early": 100, "mid": 200, "end": end}


def test_cost_counts_only_runs_not_in_the_store():
    block = Block(leaks=(0.0, 0.5), smoothness=("repeat-1",), resets=("never",),
                  rates=(("sgd", 0.01),), protocols=("memory-off",))
    the_plan = grid.plan(Grid(blocks=(block,), datasets=(SYNTH,), seeds=2,
                              checkpoints=Checkpoints(10, 20, 300), eval_items=100))
    whole = grid.cost(the_plan)
    assert whole.runs == len(the_plan.arms) == 6
    assert whole.network_steps == 6 * 300
    assert whole.eval_items == 6 * 4 * 100  # steps 0, 10, 20, 300
    factor = grid.step_cost_factor(SYNTH)
    assert factor >= 1.0
    expected = 6 * (300 * factor / grid.STEPS_PER_CORE_SECOND["sgd"]
                    + 400 / grid.EVAL_ITEMS_PER_CORE_SECOND)
    assert whole.core_seconds == pytest.approx(expected)
    assert grid.cost(the_plan, skip=the_plan.run_ids).runs == 0
    assert "6 runs" in whole.describe()


def test_a_block_can_keep_to_some_datasets():
    """A thinned grid keeps a costly dataset to the panels that answer its question."""
    def axes(rates, datasets=None):
        return Block(leaks=(0.0, 0.5), smoothness=("repeat-1",), resets=("never",),
                     rates=rates, protocols=("memory-off",), datasets=datasets)

    both = axes((("sgd", 0.01),))
    only = axes((("sgd", 0.003),), datasets=("synthetic-other",))
    the_plan = grid.plan(Grid(blocks=(both, only), datasets=(SYNTH,), seeds=1,
                              checkpoints=Checkpoints(10, 20, 300), eval_items=100))
    assert {a.lr for a in the_plan.arms} == {0.01}
    assert only.covers("synthetic-other") and not only.covers(SYNTH) and both.covers(SYNTH)


def test_default_mode_keeps_the_rate_panels_to_mnist():
    blocks = landscape.MODES["default"].blocks
    fashion = {r for b in blocks if b.covers("fashion-mnist") for r in b.rates}
    mnist = {r for b in blocks if b.covers("mnist") for r in b.rates}
    assert fashion == {("sgd", 0.01)} and mnist == set(grid.SGD_RATES)


def test_min_holm_p():
    assert grid.min_holm_p(10, 24) == pytest.approx(24 * 2 / 1024)
    assert grid.min_holm_p(5, 40) == 1.0


def test_modes_are_as_documented(mnist_available):
    quick = landscape.plan_for(landscape.LandscapeOptions(mode="quick"))
    assert {a.dataset for a in quick.arms} == {"mnist"}
    assert {(a.optimizer, a.lr) for a in quick.arms} == {("sgd", 0.01)}
    assert {a.protocol for a in quick.arms} == {None, "memory-off"}
    assert {a.seed for a in quick.arms} == set(range(5))
    assert quick.checkpoints["mnist"] == {"early": 1000, "mid": 3000, "end": 6000}
    sticky = landscape.plan_for(landscape.LandscapeOptions(mode="quick",
                                                           smoothness=landscape.STICKY))
    assert {a.condition for a in sticky.arms} == set(landscape.STICKY)
    with pytest.raises(ValueError, match="mode"):
        landscape.plan_for(landscape.LandscapeOptions(mode="huge"))  # type: ignore[arg-type]


def test_the_builtin_experiment_has_the_default_grids_axes():
    """``smoothlearn run landscape`` trains the default grid's runs: same leaks, orders,
    models, rates and test protocols, block by block (checked without data)."""
    from smoothlearn.experiments import load_experiment

    tables = load_experiment("landscape").grids
    for dataset in ("mnist", "fashion-mnist"):
        blocks = [b for b in landscape.MODES["default"].blocks if b.covers(dataset)]
        mine = [t for t in tables if t["dataset"] == [dataset]]
        feedforward, leaky = mine[0], mine[1:]
        assert feedforward["model"] == ["feedforward"]
        assert set(feedforward["condition"]) == {"random", *blocks[0].smoothness}
        assert {("sgd", lr) for lr in feedforward["lr"]} == {r for b in blocks for r in b.rates}
        assert len(leaky) == len(blocks)
        for table, block in zip(leaky, blocks, strict=True):
            assert set(table["leak"]) == {x for x in block.leaks if x > 0}
            assert table["condition"] == list(block.smoothness)
            assert table["model"] == [grid.RESET_MODELS[r] for r in block.resets]
            assert [("sgd", lr) for lr in table["lr"]] == list(block.rates)
            protocol = "streamed" if table.get("test_mode") == ["same"] else "memory-off"
            assert (protocol,) == block.protocols


def test_the_builtin_experiment_is_the_default_plan(mnist_available, data_dir):
    """Run for run (ids hash every setting, the end checkpoints included), so both commands
    share one store."""
    from smoothlearn.experiments import load_experiment

    if not (data_dir / "fashion-mnist").is_dir():
        pytest.skip(f"Fashion-MNIST is not under SMOOTHLEARN_DATA ({data_dir})")
    runs = load_experiment("landscape").runs()
    assert {c.run_id() for c in runs} == landscape.plan_for(landscape.LandscapeOptions()).run_ids


# ----------------------------------------------------------------------------- statistics
FF_SAME = [0.20, 0.22, 0.18, 0.21]
FF_RANDOM = [0.25, 0.24, 0.26, 0.23]
DIFF_A = [-0.04, -0.03, -0.02, 0.01]  # leak 0.5: three seeds better, one worse
DIFF_B = [-0.01, 0.02, -0.03, 0.04]  # leak 0.9: no consistent direction


def _hand_p(diffs: list[float]) -> float:
    """Two-sided exact sign-flip p, by listing all 2^n sign patterns."""
    observed = abs(sum(diffs))
    patterns = list(itertools.product((-1, 1), repeat=len(diffs)))
    hits = sum(abs(sum(s * abs(d) for s, d in zip(signs, diffs, strict=True)))
               >= observed - 1e-12 for signs in patterns)
    return hits / len(patterns)


def _hand_plan() -> tuple[Plan, pd.DataFrame]:
    """Four arms x four seeds with known test errors at one checkpoint (no training)."""
    arms, rows = [], []
    nets = {("ff", "repeat-5"): FF_SAME, ("ff", "random"): FF_RANDOM,
            ("a", "repeat-5"): [f + d for f, d in zip(FF_SAME, DIFF_A, strict=True)],
            ("b", "repeat-5"): [f + d for f, d in zip(FF_SAME, DIFF_B, strict=True)]}
    leaks = {"ff": 0.0, "a": 0.5, "b": 0.9}
    for (name, condition), values in nets.items():
        for seed, value in enumerate(values):
            leak = leaks[name]
            run_id = f"{name}-{condition}-{seed}"
            arms.append(Arm(run_id, SYNTH, "sgd", 0.01, leak, condition,
                            None if leak == 0 else "never",
                            None if leak == 0 else "memory-off", seed))
            rows.append({"run_id": run_id, "step": 600, "test_mse": value,
                         "test_acc": 1 - value})
    the_plan = Plan(Grid(datasets=(SYNTH,), seeds=4), tuple(arms), (), {SYNTH: {"end": 600}})
    return the_plan, pd.DataFrame(rows)


def test_cell_statistics_match_a_hand_computation():
    cells = analysis.cell_table(*_hand_plan()).set_index("leak")
    assert list(cells.index) == [0.0, 0.5, 0.9]  # one panel: the feedforward row and two nets
    a, b, ff = cells.loc[0.5], cells.loc[0.9], cells.loc[0.0]
    # the enumeration by hand: 4 of 16 patterns reach |sum| >= 0.08 (all same sign, or only
    # the smallest flipped); for B only the 2 patterns summing to 0 fall short
    assert _hand_p(DIFF_A) == 4 / 16 and _hand_p(DIFF_B) == 14 / 16
    assert a["diff_same"] == pytest.approx(np.mean(DIFF_A))
    assert a["p_same"] == pytest.approx(4 / 16) and b["p_same"] == pytest.approx(14 / 16)
    # Holm over the panel's two cells: 2 x 0.25 = 0.5, then max(0.5, 0.875)
    assert a["p_holm_same"] == pytest.approx(0.5) and b["p_holm_same"] == pytest.approx(0.875)
    assert not a["significant_same"]
    assert a["share_same"] == pytest.approx(3 / 4) and b["share_same"] == pytest.approx(1 / 2)
    values_a = [f + d for f, d in zip(FF_SAME, DIFF_A, strict=True)]
    # d_z: the mean paired difference over the SD of the paired differences (not pooled SD)
    assert a["effect_sd_same"] == pytest.approx(np.mean(DIFF_A) / statistics.stdev(DIFF_A))
    # against random order: A minus FF random, seed by seed
    diff_random = [v - r for v, r in zip(values_a, FF_RANDOM, strict=True)]
    assert a["diff_random"] == pytest.approx(np.mean(diff_random))
    assert a["p_random"] == pytest.approx(_hand_p(diff_random))
    # the feedforward row: nothing to compare with itself, but smooth vs random order
    assert math.isnan(ff["diff_same"]) and ff["n_pairs_same"] == 0
    assert ff["diff_random"] == pytest.approx(np.mean(np.subtract(FF_SAME, FF_RANDOM)))
    assert a["test_mse"] == pytest.approx(np.mean(values_a)) and a["n_seeds"] == 4


def test_a_failed_run_drops_its_pair_only():
    the_plan, curves = _hand_plan()
    cells = analysis.cell_table(the_plan, curves[curves["run_id"] != "a-repeat-5-3"])
    a = cells.set_index("leak").loc[0.5]
    assert a["n_seeds"] == 3 and a["n_missing"] == 1 and a["n_pairs_same"] == 3
    assert a["diff_same"] == pytest.approx(np.mean(DIFF_A[:3]))
    text = "\n".join(markdown.findings(cells))
    assert "Missing values** at the end checkpoint in 1 of 3 cells" in text


def test_findings_state_the_numbers():
    cells = analysis.cell_table(*_hand_plan())
    text = "\n".join(markdown.findings(cells))
    assert "leak 0.5, repeat-5" in text
    assert f"{np.mean(DIFF_A):+.4f}" in text
    assert "0 of 2 cells have significantly lower test error" in text


def test_lr_is_compared_on_the_reset_rules_every_rate_has():
    rows = [{"dataset": SYNTH, "checkpoint": "end", "protocol": "memory-off", "leak": 0.5,
             "smoothness": "repeat-5", "optimizer": "sgd", "lr": lr, "reset": reset,
             "diff_same": -0.01, "ff_mse_same": 0.2, "significant_same": True,
             "diff_random": -0.01, "ff_mse_random": 0.2, "significant_random": True}
            for lr, reset in [(0.01, "never"), (0.01, "label"), (0.01, "input-change"),
                              (0.003, "input-change")]]
    by_lr, by_reset = markdown.moves_with(pd.DataFrame(rows), SYNTH)
    assert "(on input-change reset)" in by_lr
    assert "lr 0.003: 1 better / 0 worse of 1" in by_lr
    assert "lr 0.01: 1 better / 0 worse of 1" in by_lr  # not 3: other resets left out
    assert "(on SGD lr 0.01)" in by_reset and "label reset: 1 better" in by_reset


def test_datasets_are_compared_on_the_panels_both_have():
    """With the rate panels on one dataset only, the comparison leaves them (and their
    feedforward nets) out, and each dataset's lr line speaks of its own rates only."""
    def row(dataset, lr, leak, diff, mse):
        return {"dataset": dataset, "checkpoint": "end", "protocol": "memory-off",
                "leak": leak, "smoothness": "repeat-5", "optimizer": "sgd", "lr": lr,
                "reset": "input-change" if leak else None, "diff_same": diff,
                "ff_mse_same": 0.2, "significant_same": diff is not None, "test_mse": mse,
                "diff_random": diff, "ff_mse_random": 0.2,
                "significant_random": diff is not None}

    rows = [row(d, 0.01, 0.0, None, 0.2) for d in ("a", "b")]
    rows += [row(d, 0.01, 0.5, -0.02, 0.18) for d in ("a", "b")]
    rows += [row("a", 0.03, 0.0, None, 0.1), row("a", 0.03, 0.5, 0.02, 0.12)]
    table = pd.DataFrame(rows)
    text = markdown.datasets_compared(table)
    assert "on the panels both datasets share" in text
    assert text.count("1 better / 0 worse of 1 cells") == 2  # lr 0.03 left out
    assert "best feedforward MSE 0.2000" in text  # not a's 0.1 at lr 0.03
    assert any(line.startswith("**With the learning rate") for line in
               markdown.moves_with(table, "a"))
    assert not any("learning rate" in line for line in markdown.moves_with(table, "b"))


# ----------------------------------------------------------------------------- by construction
@pytest.mark.parametrize(("leak", "reset", "smoothness", "protocol", "expected"), [
    (0.5, "label", "repeat-1", "memory-off", True),  # a label reset at every training step
    (0.5, "label", "sticky-0", "memory-off", True),  # sticky-0 is repeat-1
    (0.0, None, "repeat-5", "memory-off", True),  # no memory at all
    (0.5, "label", "repeat-1", "streamed", False),  # memory used at test (input-change)
    (0.5, "label", "repeat-3", "memory-off", False),
    (0.5, "input-change", "repeat-1", "memory-off", False),
    (0.5, "never", "repeat-1", "memory-off", False)])
def test_feedforward_by_construction(leak, reset, smoothness, protocol, expected):
    assert analysis.feedforward_by_construction(leak, reset, smoothness, protocol) is expected


@pytest.mark.parametrize(("protocol", "smoothness", "tier"), [
    ("memory-off", "repeat-5", "none"), ("streamed", "random", "none"),
    ("streamed", "repeat-5", "order"), ("streamed", "sticky-0.9", "order")])
def test_a_cells_test_label_tier(protocol, smoothness, tier):
    assert analysis.test_labels(protocol, smoothness) == tier


def _end_row(leak, smoothness, reset, diff, *, significant=True, same=None,
             by_construction=False, mse=0.2, protocol="memory-off", tier="none") -> dict:
    same = diff if same is None else same
    return {"dataset": SYNTH, "checkpoint": "end", "protocol": protocol, "leak": leak,
            "smoothness": smoothness, "optimizer": "sgd", "lr": 0.01, "reset": reset,
            "feedforward_by_construction": by_construction, "test_labels": tier,
            "test_mse": mse + (diff if math.isfinite(diff) else 0.0), "test_acc": 0.8,
            "diff_random": diff, "ff_mse_random": mse, "significant_random": significant,
            "p_holm_random": 0.01, "effect_sd_random": -3.0, "share_random": 1.0,
            "n_pairs_random": 12, "diff_same": same, "ff_mse_same": mse,
            "significant_same": significant, "p_holm_same": 0.01, "effect_sd_same": -3.0,
            "share_same": 1.0, "n_pairs_same": 12, "n_missing": 0}


def _known_landscape() -> pd.DataFrame:
    """One panel: a label-reset cell at repeat-1 (the feedforward net by construction) and a
    real memory cell both significantly better than random-order feedforward; the repeat-50
    feedforward net 41% worse than random order."""
    return pd.DataFrame([
        _end_row(0.0, "random", None, math.nan, significant=False, by_construction=True),
        _end_row(0.0, "repeat-1", None, -0.004, by_construction=True),
        _end_row(0.0, "repeat-50", None, 0.082, by_construction=True),
        _end_row(0.5, "repeat-1", "label", -0.005, same=-0.001, by_construction=True),
        _end_row(0.5, "repeat-50", "label", 0.03, same=-0.05),
        _end_row(0.5, "repeat-5", "label", -0.006, same=-0.002),
    ])


def test_a_feedforward_equivalent_cell_is_excluded_from_the_counts():
    table = _known_landscape()
    line = markdown.beats_feedforward(table, SYNTH)
    # random order first (primary): 1 better (repeat-5), 1 worse (repeat-50); not the
    # repeat-1 label-reset cell, which is the feedforward net itself
    assert ("against the feedforward net trained in random order at that rate, 1 of 2 cells "
            "have significantly lower test error and 1 significantly higher") in line
    assert "on the same order, 2 of 2 cells" in line
    assert "1 cells are the feedforward net by construction" in line
    assert line.index("random order") < line.index("same order")
    finding = markdown.main_finding(table)
    assert "1 of 2 leak x smoothness cells" in finding
    assert "1 further cells (label resets at every step of a repeat-1 order)" in finding
    panel = markdown._panel_table(table)
    assert "| 2 | 1 | 1 | 1 | 2 | 0 |" in panel  # cells, FF by construction, the four counts


def test_a_handicapped_same_order_reference_is_named():
    table = _known_landscape()
    weak = markdown.weak_references(table, SYNTH)
    assert weak is not None and "repeat-50 at SGD lr 0.01: +41% test MSE" in weak
    assert "repeat-1" not in weak  # 2% worse: under the 10% threshold
    assert "worse than random order at repeat-50 on synthetic-categories (+41%)" in (
        markdown.main_finding(table))
    assert any(line.startswith("**The same-order reference") for line in
               markdown.findings(table))


def test_streamed_panels_state_their_test_label_tier():
    table = pd.DataFrame([_end_row(0.5, "repeat-5", "input-change", -0.01, protocol="streamed",
                                   tier="order")])
    line = markdown.streamed(table, SYNTH)
    assert line.startswith("**Streamed test with label-free resets (")
    assert "test labels: order" in line and "1 of 1 cells significantly better" in line


def test_the_cell_table_flags_feedforward_equivalent_cells():
    arms, rows = [], []
    for name, leak, condition, reset in [("ff1", 0.0, "repeat-1", None),
                                         ("ffr", 0.0, "random", None),
                                         ("lr1", 0.5, "repeat-1", "label")]:
        for seed in range(3):
            run_id = f"{name}-{seed}"
            arms.append(Arm(run_id, SYNTH, "sgd", 0.01, leak, condition, reset,
                            None if leak == 0 else "memory-off", seed))
            rows.append({"run_id": run_id, "step": 600, "test_mse": 0.2 + 0.01 * seed,
                         "test_acc": 0.8})
    the_plan = Plan(Grid(datasets=(SYNTH,), seeds=3), tuple(arms), (), {SYNTH: {"end": 600}})
    cells = analysis.cell_table(the_plan, pd.DataFrame(rows)).set_index(["leak", "smoothness"])
    assert cells.loc[(0.5, "repeat-1"), "feedforward_by_construction"]
    assert cells.loc[(0.5, "repeat-1"), "test_labels"] == "none"
    assert "0 of 0 cells" in markdown.beats_feedforward(cells.reset_index(), SYNTH)


# ----------------------------------------------------------------------------- figures
def test_heatmap_scale_is_symmetric_around_zero_and_covers_every_cell():
    cells = analysis.cell_table(*_hand_plan())
    fig = figures.heatmap_figure(cells, SYNTH, "memory-off", "end")
    colourbar = fig.axes[-1]
    low, high = sorted(colourbar.get_ylim())
    # every row is coloured against the random-order feedforward net (the primary reference)
    ff_row = np.mean(np.subtract(FF_SAME, FF_RANDOM))
    largest = max(abs(ff_row + np.mean(d)) for d in (DIFF_A, DIFF_B, [0.0]))
    assert largest == pytest.approx(abs(ff_row + np.mean(DIFF_A)))
    assert (low, high) == pytest.approx((-largest, largest))


def test_smoothness_columns_run_from_random_to_the_longest_runs():
    cells = pd.DataFrame({"smoothness": ["repeat-5", "sticky-0.9", "random", "repeat-1"],
                          "mean_run_length": [5.0, 9.87, 1.1, 1.0]})
    assert figures.columns(cells) == ["random", "repeat-1", "repeat-5", "sticky-0.9"]
    assert figures.smoothness_name("sticky-0.9", 9.87) == "sticky 0.9\n(run 9.9)"
    assert figures.smoothness_name("repeat-5", 5.0) == "rep 5"
    assert 3 < grid.mean_run_length(SYNTH, "sticky-0.8") < 6  # geometric runs, mean 1/(1-P)


# ----------------------------------------------------------------------------- end to end
def test_tiny_landscape_end_to_end_then_resumes_without_training(tmp_path):
    block = Block(leaks=(0.0, 0.5), smoothness=("random", "repeat-5"), resets=("never",),
                  rates=(("sgd", 0.05),), protocols=("memory-off",))
    options = landscape.LandscapeOptions(
        mode="quick", out=tmp_path,
        grid=Grid(blocks=(block,), datasets=(SYNTH,), seeds=4,
                  checkpoints=Checkpoints(100, 300, 600)))
    execution = Execution(workers=1, quiet=True)
    first = landscape.run(options, execution)
    assert first.planned == first.trained == 4 * (2 + 2) and first.failed == 0
    table = pd.read_csv(first.files["csv"])
    assert len(table) == 3 * 4  # checkpoints x (feedforward row + leak 0.5) x 2 orders
    assert set(table["step"]) == {100, 300, 600}
    assert (table["n_seeds"] == 4).all()
    text = first.files["markdown"].read_text()
    assert "Indicative only" in text and "landscape-synthetic-categories-memory-off-end.png" in text
    for name in ("early", "mid", "end"):
        png = tmp_path / f"landscape-{SYNTH}-memory-off-{name}.png"
        assert png.stat().st_size > 10_000
    records = {p: p.stat().st_mtime_ns for p in (tmp_path / "store" / "runs").glob("*.json")}
    assert len(records) == first.planned

    again = landscape.run(options, execution)
    assert again.trained == 0 and again.cost.runs == 0
    assert {p: p.stat().st_mtime_ns for p in records} == records  # nothing rewritten
    pd.testing.assert_frame_equal(again.table, first.table)
    _check_publish(tmp_path, first)


def _check_publish(out, result):
    """``smoothlearn publish`` copies the landscape page and heatmaps into docs, and puts the
    main finding (the tool's own sentence) into the README once."""
    from smoothlearn import cli

    record = json.loads(result.files["record"].read_text())
    assert record["kind"] == "landscape" and record["planned"] == result.planned
    leaky = result.table.query("checkpoint == 'end' and protocol == 'memory-off' and leak > 0")
    assert f"of {len(leaky)} leak x smoothness cells" in record["main_finding"]
    readme = out / "README.md"
    readme.write_text("# project\n\nintro\n")
    docs = out / "docs"
    assert cli.main(["publish", str(out), "--docs", str(docs), "--readme", str(readme)]) == 0
    page = (docs / "landscape.md").read_text()
    for name in record["figures"]:
        assert (docs / "figures" / "landscape" / name).is_file()
        assert f"](figures/landscape/{name})" in page
    first = readme.read_text()
    assert record["main_finding"] in first and "](docs/landscape.md)" in first
    cli.main(["publish", str(out), "--docs", str(docs), "--readme", str(readme)])
    assert readme.read_text() == first  # replaced in place, never appended twice


def test_plan_only_trains_nothing(tmp_path):
    tiny = Grid(blocks=(Block(leaks=(0.0, 0.5), smoothness=("repeat-1",), resets=("never",),
                              rates=(("sgd", 0.01),), protocols=("memory-off",)),),
                datasets=(SYNTH,), seeds=1, checkpoints=Checkpoints(10, 20, 100))
    options = landscape.LandscapeOptions(out=tmp_path, plan_only=True, grid=tiny)
    result = landscape.run(options, Execution(quiet=True))
    assert result.trained == result.planned == 3 and result.table.empty
    assert not (tmp_path / "store").exists()


def test_an_end_checkpoint_past_one_epoch_is_refused():
    with pytest.raises(ValueError, match="past one epoch"):
        landscape.plan_for(landscape.LandscapeOptions(mode="quick", datasets=(SYNTH,)))
