"""The multi-timescale autoencoder experiments (paper 5.2, A.11–A.15), end to end but small."""

from __future__ import annotations

import numpy as np
import pytest

from smoothlearn import analysis as A
from smoothlearn import data
from smoothlearn import unmixing as U
from smoothlearn.experiments import curves_frame, load_experiment
from smoothlearn.nn import input_change
from smoothlearn.runs import prepare, run_many

FIVE = ["ae-feedforward", "ae-leaky", "ae-multiscale", "ae-leaky-reset", "ae-multiscale-reset"]


# ---------------------------------------------------------------- configs
def test_fig3_is_the_papers_setup():
    runs = load_experiment("fig3").runs()
    assert len(runs) == 5 * 50
    assert {r.model for r in runs} == set(FIVE)
    assert {r.seed for r in runs} == set(range(50))
    for r in runs:
        s = r.spec().record()
        assert (s["dataset"], s["condition"], s["task"]) == ("multiscale", "given", "reconstruct")
        assert (s["lr"], s["optimizer"], s["loss"], s["output"]) == (0.01, "sgd", "mse", "sigmoid")
        assert (s["hidden"], s["test_mode"], s["data_seed"]) == (3, "same", 0)


def test_figA12_changes_only_the_learning_rate_or_the_dataset():
    runs = load_experiment("figA12").runs()
    grids = {(r.dataset, r.lr) for r in runs}
    assert grids == {("multiscale", 0.003), ("multiscale-b", 0.005)}
    assert len(runs) == 2 * 5 * 50


@pytest.mark.parametrize("name", ["figA13", "figA14", "figA15"])
def test_appendix_figures_reuse_the_fig3_runs(name):
    fig3 = {r.run_id() for r in load_experiment("fig3").runs()}
    ids = {r.run_id() for r in load_experiment(name).runs()}
    assert ids <= fig3 and len(ids) >= 5


def test_the_five_models_differ_only_in_memory_and_reset():
    configs = load_experiment("fig3").runs(seeds=1)
    settings = [c.spec().record() for c in configs]
    differing = {k for k in settings[0] if len({repr(s[k]) for s in settings}) > 1}
    assert differing == {"model", "leak", "reset", "reset_groups"}
    preps = [prepare(c) for c in configs]
    first = preps[0]
    for prep in preps[1:]:
        for key in first.params:
            np.testing.assert_array_equal(prep.params[key], first.params[key])
        for name in ("X", "targets", "order", "X_eval", "targets_eval", "eval_steps"):
            np.testing.assert_array_equal(getattr(prep, name), getattr(first, name))
        assert prep.settings == first.settings
    leaks = {c.model: p.leak.tolist() for c, p in zip(configs, preps, strict=True)}
    assert leaks["ae-feedforward"] == [0, 0, 0]
    assert leaks["ae-leaky"] == leaks["ae-leaky-reset"] == [0.5] * 3
    assert leaks["ae-multiscale"] == leaks["ae-multiscale-reset"] == pytest.approx([0, 0.3, 0.6])


# ---------------------------------------------------------------- the A.11 local reset
def test_reset_rule_fires_on_the_inequality_per_row():
    ds = data.load_dataset("multiscale", seed=0)
    X = ds.X_train.astype(np.float64)
    a = np.abs(X[1:] - X[:-1]).reshape(-1, 3, 2).sum(-1)
    b = np.abs((X[1:] + X[:-1]) / 2).reshape(-1, 3, 2).sum(-1)
    np.testing.assert_array_equal(input_change(ds.X_train[:-1], ds.X_train[1:], 3), a > b)
    # the engines see exactly these flags, unit k listening to row k
    prep = prepare(load_experiment("fig3").runs(seeds=1, overrides={"model": FIVE[-1]})[0])
    np.testing.assert_array_equal(prep.resets[1:], a > b)
    rates = A.reset_rate(ds.X_train, ds.latent_train)
    np.testing.assert_allclose(rates["fire"], (a > b).mean(0))


@pytest.mark.parametrize("aggregate", ["sum", "any", "all"])
def test_reset_rates_against_switch_rates(aggregate):
    """Noise 0.25 keeps the states apart, so every switch fires and a held 1 never does; a
    held 0 fires by chance: per element when the larger of two U(0, c) values exceeds three
    times the smaller (probability 1/3), so 5/9 for "any", 1/9 for "all"."""
    ds = data.load_dataset("multiscale", seed=1, n_train=20_000)
    rates = A.reset_rate(ds.X_train, ds.latent_train, 3, aggregate)
    np.testing.assert_allclose(rates["switch"], [1, 1 / 3, 1 / 5], atol=1e-3)
    np.testing.assert_array_equal(rates["hit"], 1.0)
    np.testing.assert_array_equal(rates["fire_in_1"].iloc[1:], 0.0)
    if aggregate == "sum":  # independent Monte Carlo of the 2-element L1 rule in state 0
        u = np.random.default_rng(0).uniform(size=(2, 400_000, 2))
        expected = (np.abs(u[0] - u[1]).sum(-1) > ((u[0] + u[1]) / 2).sum(-1)).mean()
    else:
        expected = 5 / 9 if aggregate == "any" else 1 / 9
    # ~6,700 held-0 transitions per row: standard error below 0.007
    np.testing.assert_allclose(rates["fire_in_0"].iloc[1:], expected, atol=0.025)
    switch, held0 = rates["switch"], (1 - rates["switch"]) / 2
    np.testing.assert_allclose(rates["fire"].iloc[1:], (switch + held0 * expected).iloc[1:],
                               atol=0.02)


# ---------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def small_fig3():
    configs = load_experiment("fig3").runs(seeds=3, overrides={"steps": 150})
    curves = run_many(configs, engine="reference")
    return configs, curves, A.analyse_runs(configs, curves)


def test_analysis_sees_what_the_evaluation_saw(small_fig3):
    configs, curves, frame = small_fig3
    per_run = frame.groupby("run_id").first()
    for config, curve in zip(configs, curves, strict=True):
        row = per_run.loc[config.run_id()]
        assert row["test_mse"] == pytest.approx(curve.test_mse[-1], rel=1e-5)
        assert row["test_mse_init"] == pytest.approx(curve.test_mse[0], rel=1e-5)
        errs = row[["err_fast", "err_medium", "err_slow"]].to_numpy(float)
        assert errs.mean() == pytest.approx(row["test_mse"], rel=1e-9)


def test_smoke_fig3_tables_and_claims(small_fig3):
    configs, curves, frame = small_fig3
    assert len(frame) == len(configs) * 3 * 3
    assert frame["selectivity"].between(-1, 1).all() and frame["corr"].abs().le(1).all()
    # every model starts from the same weights: the no-memory unit 0 of the feedforward and
    # multiscale nets is the same unit at initialisation
    init = frame[frame.unit == 0].groupby(["model", "seed"]).selectivity_init.first().unstack()
    np.testing.assert_allclose(init.loc["ae-feedforward"], init.loc["ae-multiscale"])

    table = U.fig3e_table(frame, n_boot=200)
    assert len(table) == 5 * 4 and set(table["unit"]) == {0, 1, 2, "mean"}
    assert (table["n"] == 3).all() and (table["sd"] >= 0).all()

    claims = [c.to_record() for c in U.autoencoder_claims(frame, curves_frame(configs, curves))]
    assert len(claims) == 2 * 3
    assert {c["claim"] for c in claims} == {"ae-selectivity", "ae-selectivity-positive",
                                            "ae-ff-lower-error"}
    assert {c["verdict"] for c in claims} <= {"reproduced", "reversed", "inconclusive",
                                              "equivalent", "present at initialisation"}
    assert all(c["ci_low"] <= c["mean_diff"] <= c["ci_high"] and c["n"] == 3 for c in claims)
    # mean_diff > 0 means "as claimed": reset model minus feedforward for selectivity,
    # feedforward error below the reset model's for the error claim
    sel = next(c for c in claims if c["claim"] == "ae-selectivity")
    assert sel["mean_diff"] == pytest.approx(sel["mean_better"] - sel["mean_worse"], abs=0.02)
    err = next(c for c in claims if c["claim"] == "ae-ff-lower-error")
    assert err["mean_diff"] == pytest.approx(err["mean_worse"] - err["mean_better"], abs=0.002)

    assert len(U.a13_table(frame, n_boot=200)) == 5
    a14 = U.a14_relation(frame, n_boot=200)
    assert len(a14) == 10 and a14["r"].between(-1, 1).all()

    dyn = A.dynamics_for(configs[-1], curves[-1], start=5, length=10)
    assert dyn["hidden"].shape == (10, 3) and dyn["resets"].shape == (10, 3)
