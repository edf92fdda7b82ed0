"""The one bootstrap, sign-flip test and Holm correction: known answers and reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smoothlearn import stats


def test_bootstrap_is_reproducible_and_seeded():
    values = np.random.default_rng(1).normal(1.0, 1.0, 100)
    first = stats.bootstrap(values, seed=0)
    assert stats.bootstrap(values, seed=0) == first
    assert stats.bootstrap(values, seed=1) != first


def test_bootstrap_matches_the_standard_error():
    values = np.random.default_rng(8).normal(2.0, 3.0, size=50)
    boot = stats.bootstrap(values)
    se = values.std() / np.sqrt(values.size)  # the bootstrap's plug-in (ddof 0) SE
    assert boot.n == 50
    assert boot.mean == pytest.approx(values.mean(), abs=0.05 * se)
    assert boot.sd == pytest.approx(se, rel=0.05)
    assert stats.bootstrap_sd(values) == boot.sd
    assert boot.low < values.mean() < boot.high
    assert boot.high - boot.low == pytest.approx(2 * 1.96 * se, rel=0.1)
    wide = stats.bootstrap(values, level=0.99)
    assert wide.low < boot.low and wide.high > boot.high


def test_bootstrap_drops_non_finite_seeds_in_every_sample():
    values = np.random.default_rng(9).normal(size=40)
    assert stats.bootstrap(np.r_[values, np.nan, np.inf]) == stats.bootstrap(values)
    x, y = np.r_[values, 1.0], np.r_[2 * values, np.nan]
    paired = stats.bootstrap((x, y), lambda a, b, axis: (b - a).mean(axis))
    assert paired == stats.bootstrap(values)  # y - x = x, the NaN seed dropped from both


def test_bootstrap_of_nothing_or_one_value():
    empty = stats.bootstrap(np.array([]))
    assert empty.n == 0 and math.isnan(empty.low) and math.isnan(empty.sd)
    one = stats.bootstrap(np.array([0.3]))
    assert (one.n, one.low, one.high, one.sd) == (1, 0.3, 0.3, 0.0)


def test_paired_samples_are_resampled_together():
    x = np.random.default_rng(2).normal(size=30)
    r = stats.bootstrap((x, 3 * x + 1), lambda a, b, axis: np.mean(b - 3 * a, axis))
    assert r.low == pytest.approx(1.0) and r.high == pytest.approx(1.0)


def test_signflip_p_is_exact_for_few_seeds():
    assert stats.signflip_p(np.ones(10)) == pytest.approx(2 / 1024)
    assert stats.signflip_p(-np.ones(10)) == pytest.approx(2 / 1024)
    assert stats.signflip_p(np.array([1.0, -1.0])) == 1.0
    assert stats.signflip_p(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 8)
    noise = np.random.default_rng(0).normal(0, 1, 12)
    assert stats.signflip_p(noise) > 0.05
    assert stats.signflip_p(noise + 3) < 0.001
    assert math.isnan(stats.signflip_p(np.array([])))
    assert stats.signflip_p(np.array([0.5])) == 1.0  # one seed: both signs as extreme
    assert stats.signflip_p(np.array([0.5, np.nan])) == 1.0
    assert stats.signflip_p(np.full(5, 1e-13)) == pytest.approx(2 / 32)  # tiny but one-sided
    assert stats.signflip_p(np.zeros(6)) == 1.0
    assert stats.signflip_p(np.array([0.1, 0.2, 0.3, -0.6])) == 1.0  # zero up to rounding


def test_signflip_p_monte_carlo_beyond_the_exact_range_is_never_zero():
    p = stats.signflip_p(np.ones(20), n_perm=2000)
    assert p == pytest.approx(2 / 2001)  # twice the smaller one-sided (1 + 0) / (1 + 2000)
    noise = np.random.default_rng(1).normal(0, 1, 30)
    assert stats.signflip_p(noise, n_perm=2000) > 0.05


def test_holm_matches_a_hand_computation():
    adjusted = stats.holm([0.01, 0.04, 0.03, math.nan])
    # sorted 0.01, 0.03, 0.04 with m = 3: 0.03, max(0.03, 0.06), max(0.06, 0.04)
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert math.isnan(adjusted[3])
    assert stats.holm([0.5, 0.9]).tolist() == [1.0, 1.0]
    assert stats.holm([]).size == 0


def test_min_detectable_effect_formula_and_floor():
    # (z_0.975 + z_0.8) * sd / sqrt(n) = 2.8016 * 2 / 4
    assert stats.min_detectable_effect(2.0, 16) == pytest.approx(2.8016 * 0.5, rel=1e-4)
    assert stats.min_detectable_effect(2.0, 16, alpha=0.01) > stats.min_detectable_effect(2.0, 16)
    assert stats.smallest_p(5) == 0.0625
    assert math.isinf(stats.min_detectable_effect(2.0, 5))  # 2/32 >= 0.05: never detected
    assert math.isfinite(stats.min_detectable_effect(2.0, 6))  # 2/64 < 0.05
    assert math.isinf(stats.min_detectable_effect(2.0, 8, alpha=0.05 / 7))  # Holm over 7
    assert math.isnan(stats.min_detectable_effect(math.nan, 10))


def test_correlation_p_is_a_permutation_test():
    x = np.arange(8.0)
    assert stats.correlation_p(x, 2 * x + 1) == pytest.approx(2 / math.factorial(8))
    noise = np.random.default_rng(5).normal(size=8)
    assert stats.correlation_p(x, noise) > 0.05
    assert math.isnan(stats.correlation_p(x, np.ones(8)))
