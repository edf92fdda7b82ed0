"""The un-mixing measures, checked by hand on constructed arrays before they meet real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smoothlearn import analysis as A
from smoothlearn import unmixing as U
from smoothlearn.train import hidden_states


def _features(m: int = 4000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(m, 3)).astype(np.float64)


# ---------------------------------------------------------------- pearson
def test_pearson_matches_numpy():
    rng = np.random.default_rng(1)
    hidden, feats = rng.normal(size=(200, 3)), rng.normal(size=(200, 4))
    expected = np.corrcoef(hidden.T, feats.T)[:3, 3:]
    np.testing.assert_allclose(A.pearson(hidden, feats), expected, atol=1e-12)


def test_pearson_constant_unit_gives_zero_not_nan():
    feats = _features(100)
    hidden = np.c_[feats[:, 0], np.zeros(100), np.full(100, 0.7, np.float32)]
    corr = A.pearson(hidden, feats)
    assert np.isfinite(corr).all()
    np.testing.assert_array_equal(corr[1:], 0.0)
    assert corr[0, 0] == pytest.approx(1.0)


def test_pearson_of_a_diverged_network_is_nan():
    hidden = np.ones((10, 3))
    hidden[3, 1] = np.nan
    assert np.isnan(A.pearson(hidden, _features(10))).all()


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(0.01, 100), shift=st.floats(-10, 10))
def test_pearson_is_invariant_to_positive_affine_maps(scale, shift):
    rng = np.random.default_rng(3)
    hidden, feats = rng.normal(size=(50, 3)), _features(50)
    np.testing.assert_allclose(A.pearson(scale * hidden + shift, feats),
                               A.pearson(hidden, feats), atol=1e-9)


# ---------------------------------------------------------------- selectivity
def test_selectivity_matches_a_hand_computation():
    corr = np.array([[0.9, 0.3, -0.1],
                     [0.2, -0.5, 0.4],
                     [0.0, 0.6, 0.8]])
    expected = [0.81 - (0.09 + 0.01) / 2, 0.25 - (0.04 + 0.16) / 2, 0.64 - (0.0 + 0.36) / 2]
    np.testing.assert_allclose(A.selectivity(corr), expected)
    # a permuted matching reads the named column
    np.testing.assert_allclose(A.selectivity(corr, matching=[2, 0, 1])[0], 0.01 - (0.81 + 0.09) / 2)
    # "units" reading: feature j's r² with its unit minus the mean over the other units
    np.testing.assert_allclose(A.selectivity(corr, over="units")[0], 0.81 - (0.04 + 0.0) / 2)


def test_units_that_copy_their_feature_are_selective():
    feats = _features()
    noise = np.random.default_rng(5).normal(0, 0.05, feats.shape)
    sel = A.selectivity(A.pearson(feats + noise, feats))
    assert np.all(sel > 0.95)


def test_noise_units_have_no_selectivity():
    feats = _features()
    hidden = np.random.default_rng(6).normal(size=(feats.shape[0], 3))
    sel = A.selectivity(A.pearson(hidden, feats))
    # r² of independent series is ~1/m = 2.5e-4 each
    assert np.all(np.abs(sel) < 0.01)


def test_a_unit_following_every_feature_alike_scores_zero():
    corr = np.full((3, 3), 0.5)
    np.testing.assert_allclose(A.selectivity(corr), 0.0)


def test_selectivity_rejects_bad_matching():
    with pytest.raises(ValueError, match="matching"):
        A.selectivity(np.eye(3), matching=[0, 1, 3])


# ---------------------------------------------------------------- errors and dynamics
def test_per_feature_error_by_hand():
    target = np.array([[0, 0, 1, 1, 0, 1], [1, 1, 0, 0, 1, 0]], float)
    recon = np.array([[0.5, 0, 1, 1, 0, 0], [1, 1, 0, 0.5, 1, 0]], float)
    # fast: (0.25) / 4 ; medium: (0.25) / 4 ; slow: (1) / 4
    np.testing.assert_allclose(A.per_feature_error(recon, target), [0.0625, 0.0625, 0.25])
    overall = ((recon - target) ** 2).mean()
    assert A.per_feature_error(recon, target).mean() == pytest.approx(overall)
    np.testing.assert_allclose(A.per_feature_error(recon, target, groups=1), [0.125])


def test_unit_dynamics_keeps_the_memory_from_the_stream_start():
    rng = np.random.default_rng(10)
    params = {"W1": rng.normal(size=(3, 6)).astype(np.float32), "b1": np.zeros(3, np.float32),
              "W2": rng.normal(size=(6, 3)).astype(np.float32), "b2": np.zeros(6, np.float32)}
    X = rng.uniform(size=(40, 6)).astype(np.float32)
    leak = np.array([0.0, 0.3, 0.6], np.float32)
    resets = np.zeros((40, 3), bool)
    resets[0] = True
    full = hidden_states(params, leak, X, resets)
    out = A.unit_dynamics(params, leak, X, resets, _features(40), start=10, length=5)
    np.testing.assert_array_equal(out["hidden"], full[10:15])
    np.testing.assert_array_equal(out["step"], np.arange(10, 15))
    assert out["latent"].shape == (5, 3) and out["recon"].shape == (5, 6)


# ---------------------------------------------------------------- claims
def _run_table(err_fast, err_slow, models=("ae-feedforward", "ae-leaky-reset")):
    import pandas as pd

    rows = []
    for seed, (fast, slow) in enumerate(zip(err_fast, err_slow, strict=True)):
        for model in models:
            rows.append({"run_id": f"{model}{seed}", "experiment": "fig3",
                         "dataset": "multiscale", "lr": 0.01, "optimizer": "sgd",
                         "test_mode": "same", "model": model, "seed": seed,
                         "err_fast": fast, "err_slow": slow})
    return pd.DataFrame(rows)


def test_feature_error_claims_on_an_analysis_table():
    table = _run_table(0.2 + 0.001 * np.arange(8), np.full(8, 0.1))
    (res,) = U.feature_error_claims(table)
    assert res.decision.verdict == "reproduced" and res.stats.n == 8
    assert res.model == "ae-leaky-reset"
    assert res.stats.mean_diff == pytest.approx(0.1035)
    assert res.id == "ae-slow-row-learned-better: ae-leaky-reset"
    record = res.to_record()
    assert record["lr"] == 0.01 and record["step"] is None and record["seeds"] == list(range(8))
    assert record["step_rule"] == "end of training (final weights)"


def test_a14_claim_reads_the_correlation_across_seeds():
    import pandas as pd

    rng = np.random.default_rng(3)
    r2 = rng.uniform(0, 1, 12)  # slow units' r^2 with the fast feature, one value per seed
    rows = []
    for seed in range(12):
        for unit in range(3):
            rows.append({"run_id": f"r{seed}", "experiment": "figA14", "dataset": "multiscale",
                         "lr": 0.01, "optimizer": "sgd", "test_mode": "same",
                         "model": "ae-leaky-reset", "seed": seed, "unit": unit, "feature": 0,
                         "corr": np.sqrt(r2[seed]) if unit else 0.1,
                         "err_fast": 0.1 + 0.05 * r2[seed]})  # error grows with r^2
    (res,) = U.a14_claims(pd.DataFrame(rows))
    assert res.stats.mean_diff == pytest.approx(1.0) and res.stats.ci_low > 0.99
    assert res.stats.p < 0.001 and res.decision.verdict == "reproduced"
    assert math.isnan(res.stats.share)
    record = res.to_record()
    assert "mean_better" not in record and record["note"].startswith("least-squares slope")


def _unit_table(sel, sel_init, mse, models=("ae-feedforward", "ae-leaky-reset")):
    """An analyse_runs-like table: per model and seed, three units with given selectivity."""
    import pandas as pd

    rows = []
    for m, model in enumerate(models):
        for seed in range(len(sel[m])):
            for unit in range(3):
                rows.append({"run_id": f"{model}{seed}", "experiment": "fig3",
                             "dataset": "multiscale", "lr": 0.01, "optimizer": "sgd",
                             "test_mode": "same", "model": model, "seed": seed, "unit": unit,
                             "feature": 0, "feature_name": "fast", "corr": 0.0,
                             "corr_init": 0.0, "matching": unit == 0,
                             "selectivity": sel[m][seed], "selectivity_init": sel_init[m][seed],
                             "test_mse": mse[m][seed], "test_mse_init": 0.25})
    return pd.DataFrame(rows)


def test_an_effect_present_at_initialisation_is_named():
    from smoothlearn import verdicts

    rng = np.random.default_rng(6)
    base = rng.normal(0, 0.01, (2, 10))
    sel_init = np.array([base[0], base[1] + 0.1])  # the reset model starts 0.1 ahead
    sel = sel_init + rng.normal(0, 0.001, (2, 10))  # and training changes nothing
    mse = np.array([np.full(10, 0.1), np.full(10, 0.1) + 0.01 + base[0]])
    results = U.autoencoder_claims(_unit_table(sel, sel_init, mse))
    by_claim = {r.claim: r for r in results}
    selective = by_claim["ae-selectivity"]
    # significant after training, but already so at init and training changes nothing: the
    # paper's "the nets learn it" is not what these nets show (Fig 3E)
    assert selective.decision.verdict == "present at initialisation"
    assert selective.stats.p == pytest.approx(2 / 1024)
    assert selective.init.p == pytest.approx(2 / 1024)
    assert selective.init.mean_diff == pytest.approx(0.1, abs=0.01)
    assert abs(selective.gain.mean_diff) < 0.002 and selective.gain.p > 0.05
    reasons = {row.claim: row.reason for row in verdicts.summarise(results)}
    assert "already present at initialisation" in reasons["ae-selectivity"]
    assert "not from learning" in reasons["ae-selectivity"]
    positive = by_claim["ae-selectivity-positive"]  # 0.1 above 0 from the start, too
    assert positive.decision.verdict == "present at initialisation"
    assert positive.gain is not None and positive.gain.ci_low < 0 < positive.gain.ci_high
    error = by_claim["ae-ff-lower-error"]
    assert error.decision.verdict == "reproduced" and error.init.mean_diff == 0.0
    assert "initialisation" not in reasons["ae-ff-lower-error"]
