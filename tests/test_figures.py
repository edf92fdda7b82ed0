"""The figure registry: one unit per paper figure, claims declared once, and a new unit (one
TOML + one module) picked up by ``reproduce`` and the report without touching anything else."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from matplotlib.figure import Figure

from smoothlearn import figures, robustness
from smoothlearn.claims import Claim, beats, evaluate_claims
from smoothlearn.experiments import MODELS, builtin_names, load_experiment
from smoothlearn.figures import fig2
from smoothlearn.figures.plotting import Context, plots
from smoothlearn.figures.plotting.style import condition_color, new_figure
from smoothlearn.figures.unit import Drawing, FigureUnit, QuickSettings
from smoothlearn.reproduce import ReproduceOptions, plan_experiments, reproduce
from smoothlearn.sweep import Execution


def test_every_builtin_experiment_has_one_unit_in_paper_order():
    units = figures.registry()
    in_report = [n for n in builtin_names() if load_experiment(n).in_report]
    assert sorted(u.id for u in units) == in_report
    ids = [u.id for u in units]
    assert ids[:3] == ["fig2", "fig3", "figA1"] and ids.index("figA3") < ids.index("figA10")
    drawings = [d.id for u in units for d in u.drawings]
    assert len(drawings) == len(set(drawings))
    assert figures.get("fig3").drawings[1].source == "analysis"
    with pytest.raises(KeyError, match="no figure unit"):
        figures.get("fig99")


def test_paper_claims_name_their_unit_and_known_models():
    claims = [c for u in figures.claim_units() for c in u.claims]
    assert len({c.id for c in claims}) == len(claims)  # each claim declared once
    for unit in figures.registry():
        for claim in unit.claims:
            assert claim.experiment == unit.id, claim.id
            for comp in claim.comparisons:
                for arm in (comp.better, comp.worse):
                    assert arm.get("model", "feedforward") in MODELS


def test_robustness_cells_reuse_the_fig2_claims():
    literal = robustness.cell_claims(robustness.CELLS[0])
    paper = {c.id: c for c in figures.get("fig2").claims}
    assert {c.id for c in literal} < set(paper)
    for claim in literal:
        assert claim.text == paper[claim.id].text and claim.experiment == "robustness"
    reset = next(c for c in literal if c.id == "reset-beats-random-1rep")
    assert reset.comparisons == paper[reset.id].comparisons  # literal cell = paper protocol
    ce = next(c for c in robustness.CELLS if c.settings.get("loss") == "ce")
    assert {c.metric for c in robustness.cell_claims(ce)} == {"test_ce"}
    off = robustness.cell_claims(next(c for c in robustness.CELLS if c.test_mode == "off"))
    leaky = next(c for c in off if c.id == "leaky-more-repeats")
    assert all(comp.better["test_mode"] == "off" for comp in leaky.comparisons)


def test_fig2_reading_changes_only_the_memory_arms():
    reading = fig2.Reading(reset={"model": "leaky-reset", "test_mode": "random"})
    claim = fig2.reset_beats_ff(reading)
    assert all(c.better["test_mode"] == "random" for c in claim.comparisons)
    assert all(c.worse == {**fig2.FEEDFORWARD, "condition": c.label}
               for c in claim.comparisons)


def test_quick_settings_cap_seeds_and_copy_overrides():
    quick = QuickSettings(seeds=3, overrides={"steps": 10}, per_model={"lstm": {"hidden": 4}})
    seeds, over, per_model = quick.apply(5)
    assert (seeds, over, per_model) == (3, {"steps": 10}, {"lstm": {"hidden": 4}})
    over["steps"] = 99
    assert quick.overrides["steps"] == 10 and QuickSettings().apply(7) == (7, {}, {})


# ----------------------------------------------------------------------------- a new unit
TOY_TOML = """name = "toy"
figure = "Toy figure"
title = "A tiny synthetic experiment registered by a test"
seeds = 6

[base]
dataset = "synthetic-categories"
model = "feedforward"
steps = 120
eval_every = 40

[[grids]]
condition = ["random", "repeat-1"]
"""


def draw_toy(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    fig = new_figure(4.0, 3.0)
    ax = fig.subplots()
    plots.curves_by(ax, frame, "condition", "test_mse", ctx, condition_color)
    return fig, f"Toy caption: {frame['seed'].nunique()} seeds."


@pytest.fixture
def toy(tmp_path, monkeypatch) -> FigureUnit:
    monkeypatch.setattr(figures, "_UNITS", dict(figures._discover()))  # undone after the test
    toml = tmp_path / "toy.toml"
    toml.write_text(TOY_TOML)
    unit = FigureUnit(
        id="toy", paper_ref="toy", experiment=toml,
        drawings=(Drawing("toy", "Toy: test error per order", draw_toy),),
        claims=(Claim("toy-order", "Toy: repeat-1 beats random.", "toy",
                      (beats({"condition": "repeat-1"}, {"condition": "random"},
                             "repeat-1 < random"),)),),
        quick=QuickSettings(seeds=3))
    return figures.register(unit)


def test_a_registered_unit_is_planned_with_its_quick_settings(toy):
    assert figures.registry()[-1] is toy  # no paper position: after the paper's figures
    (info, configs), = plan_experiments(quick=True, names=["toy"])
    assert info.status == "pending" and info.seeds == 3 and len(configs) == 6
    assert info.toml == TOY_TOML


def test_reproduce_and_the_report_pick_up_a_registered_unit(toy, tmp_path):
    done = reproduce(ReproduceOptions(tmp_path / "out", quick=True, experiments=("toy",)),
                     Execution(quiet=True))
    html = done.report
    data = json.loads((tmp_path / "out" / "claims.json").read_text())
    by_stage = {r["stage"]: r for r in data["records"] if r["claim"] == "toy-order"}
    assert sorted(by_stage) == ["auc", "end"]  # a curve claim is judged at both endpoints
    rec = by_stage["end"]
    assert rec["n"] == 3 and rec["verdict"] != "no data"
    assert by_stage["auc"]["n"] == 3 and by_stage["auc"]["step"] == rec["step"]
    assert (tmp_path / "out" / "figures" / "toy.png").is_file()
    text = html.read_text()
    assert 'id="fig-toy"' in text and "Toy caption: 3 seeds." in text
    assert 'href="#fig-toy"' in text  # the claim links to its figure


def test_fig2a_is_two_claims_one_per_statement():
    slows = fig2.ff_smoothness_slows(fig2.PAPER)
    best = fig2.ff_minimum_smoothness_best(fig2.PAPER)
    for claim in (slows, best):
        assert all(arm["model"] == "feedforward" and arm["test_mode"] == "off"
                   for comp in claim.comparisons for arm in (comp.better, comp.worse))
    assert [(c.better["condition"], c.worse["condition"]) for c in slows.comparisons] == [
        ("random", "repeat-3"), ("repeat-3", "repeat-5"), ("repeat-5", "repeat-10")]
    assert [(c.better["condition"], c.worse["condition"]) for c in best.comparisons] == [
        ("repeat-1", "random")]
    ids = [c.id for c in figures.get("fig2").claims]
    assert ids[:2] == ["ff-smoothness-slows", "ff-minimum-smoothness-best"]
    assert "ff-order" not in ids
    literal = {c.id for c in robustness.cell_claims(robustness.CELLS[0])}
    assert {"ff-smoothness-slows", "ff-minimum-smoothness-best"} <= literal


def _lstm_frame(steps=(0, 500, 1000), seeds=10) -> pd.DataFrame:
    """A.8-shaped runs: every order tested streamed as trained (smoother = better) and on one
    random-order stream (smoother = worse), so a pooled or mixed arm would show."""
    rank = {"repeat-10": 0, "repeat-5": 1, "repeat-3": 2, "repeat-1": 3, "random": 4}
    rows = []
    for cond, r in rank.items():
        for mode, sign in (("same", 1), ("random", -1)):
            for seed in range(seeds):
                for step in steps:
                    mse = 0.5 + sign * 0.01 * r + 0.0001 * seed - step * 1e-5
                    rows.append({"run_id": f"{cond}-{mode}-{seed}", "experiment": "figA8",
                                 "dataset": "synthetic-categories", "model": "lstm",
                                 "condition": cond, "test_mode": mode, "seed": seed,
                                 "step": step, "test_mse": mse, "test_acc": 1 - mse,
                                 "diverged": False})
    return pd.DataFrame(rows)


def test_a8_common_stream_claim_reads_only_the_random_order_tests():
    unit = figures.get("figA8")
    common = next(c for c in unit.claims if c.id == "lstm-smoothness-helps-common-stream")
    assert common.headline == "lstm-smoothness-helps"
    assert all(arm["test_mode"] == "random"
               for comp in common.comparisons for arm in (comp.better, comp.worse))
    results = evaluate_claims(_lstm_frame(), unit.claims)
    by_claim: dict[str, list] = {}
    for res in results:
        by_claim.setdefault(res.claim, []).append(res)
    assert {r.arms.test_mode["better"] for r in by_claim[common.id]} == {"random"}
    assert all(r.stats.mean_diff == pytest.approx(-0.01) for r in by_claim[common.id])
    assert all(r.stats.mean_diff == pytest.approx(0.01)
               for r in by_claim["lstm-smoothness-helps"])


def test_a8_draws_each_test_stream_as_its_own_curve():
    frame = _lstm_frame(seeds=2)
    fig, caption = figures.get("figA8").drawings[0].draw(frame, Context())
    styles = {line.get_linestyle() for line in fig.axes[0].get_lines()}
    assert {"-", "--"} <= styles and "random-order stream" in caption
    conditions = frame["condition"].nunique()
    assert len([ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() in ("-", "--")]) == \
        2 * conditions  # one curve per order and test stream, never the two pooled


def test_a9_draws_only_its_training_order_tests():
    frame = _lstm_frame(seeds=2)
    frame = frame[frame["condition"].isin(["repeat-1", "repeat-5", "repeat-10"])]
    fig, _ = figures.get("figA9").drawings[0].draw(frame.assign(experiment="figA9"), Context())
    curves = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_linestyle() in ("-", "--")]
    assert len(curves) == 2 * 1 * 2  # two panels x one model x (panel order, repeat-1)


def test_a10_says_its_repeat1_label_reset_test_is_memory_off():
    unit = figures.get("figA10")
    assert "as if its memory were off" in unit.claims[0].text


def test_a_unit_declares_a_positive_efficiency_end():
    with pytest.raises(ValueError, match="efficiency_end=0"):
        FigureUnit(id="x", paper_ref="x", drawings=(), efficiency_end=0)
    unit = FigureUnit(id="x", paper_ref="x", drawings=(), claims=(
        Claim("early", "early", "x", (), stage="early"), Claim("end", "end", "x", ())))
    assert [(c.id, c.stage) for c in unit.judged_claims] == [
        ("early", "early"), ("end", "end"), ("end", "auc")]
