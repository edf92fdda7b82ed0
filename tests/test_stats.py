"""The one bootstrap, t interval, sign-flip and equivalence tests, Holm correction and MDE:
known answers and reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

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


def test_min_detectable_effect_is_a_t_power_calculation_with_a_floor():
    normal = 2.8016 * 2.0 / 4  # (z_0.975 + z_0.8) * sd / sqrt(n), n = 16
    mde = stats.min_detectable_effect(2.0, 16)
    assert mde == pytest.approx(2.0 * 0.74947, rel=1e-4)  # noncentral t, df 15
    assert mde > normal
    for n in (6, 8, 10, 12, 20):
        assert stats.min_detectable_effect(1.0, n) > 2.8016 / math.sqrt(n)
    assert stats.min_detectable_effect(2.0, 16, alpha=0.01) > mde
    assert stats.smallest_p(5) == 0.0625
    assert math.isinf(stats.min_detectable_effect(2.0, 5))  # 2/32 >= 0.05: never detected
    assert math.isfinite(stats.min_detectable_effect(2.0, 6))  # 2/64 < 0.05
    assert math.isinf(stats.min_detectable_effect(2.0, 8, alpha=0.05 / 7))  # Holm over 7
    assert math.isnan(stats.min_detectable_effect(math.nan, 10))


def test_the_min_detectable_effect_has_its_power():
    """Simulated paired t-tests at the MDE reject about 80% of the time (4,000 draws: SE
    0.006, so a +-0.025 band fails only for a wrong formula; the normal formula gives ~0.72)."""
    d = stats.min_detectable_effect(1.0, 10)
    draws = np.random.default_rng(0).normal(d, 1.0, (4000, 10))
    rejected = scipy_stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.025)


def test_the_t_interval_is_the_textbook_one_and_covers():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, sem sqrt(5/3) / 2, t_0.975(3) = 3.1824
    half = 3.182446 * math.sqrt(5 / 3) / 2
    assert stats.t_interval(values) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-6)
    assert stats.t_interval(np.r_[values, np.nan]) == stats.t_interval(values)
    assert stats.t_interval(np.full(4, 0.3)) == (0.3, 0.3)
    assert all(math.isnan(v) for v in stats.t_interval(np.array([0.3])))
    # coverage at 6 seeds under normality: 95% within simulation error (2,000 draws, SE 0.005)
    draws = np.random.default_rng(1).normal(0.4, 2.0, (2000, 6))
    covered = [low <= 0.4 <= high for low, high in map(stats.t_interval, draws)]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.02)


def test_equivalence_p_known_answers():
    inside = np.array([0.001, -0.002, 0.0, 0.002, -0.001, 0.001])
    assert stats.equivalence_p(inside, 0.01) == pytest.approx(1 / 64)  # every seed inside
    assert stats.equivalence_p(inside + 0.05, 0.01) == pytest.approx(1.0)  # every seed outside
    assert stats.equivalence_p(inside, 0.01) == stats.equivalence_p(-inside, 0.01)  # symmetric
    assert stats.equivalence_p(np.zeros(5), 0.1) == pytest.approx(1 / 32)  # 5 seeds suffice
    for margin in (0.0, -0.1, math.nan):
        assert math.isnan(stats.equivalence_p(inside, margin))
    assert math.isnan(stats.equivalence_p(np.array([0.0]), 0.1))


def test_correlation_p_is_a_permutation_test():
    x = np.arange(8.0)
    assert stats.correlation_p(x, 2 * x + 1) == pytest.approx(2 / math.factorial(8))
    noise = np.random.default_rng(5).normal(size=8)
    assert stats.correlation_p(x, noise) > 0.05
    assert math.isnan(stats.correlation_p(x, np.ones(8)))
