"""Paired statistics over seeds: one bootstrap, one exact sign-flip test, one Holm correction.

Every comparison in the project pairs two arms by seed (same initial weights, same category
order), so its evidence is a vector of per-seed differences. This module is the only place
that turns such vectors into numbers: claims (:mod:`smoothlearn.claims`), the robustness sweep
(:mod:`smoothlearn.robustness`) and the autoencoder analysis (:mod:`smoothlearn.analysis`)
all call it, so a CI or a p-value means the same thing in every table.

* :func:`bootstrap` — percentile-bootstrap CI, mean and SD of any statistic of one or more
  paired samples (seeds resampled together), reproducible by ``seed``;
* :func:`bootstrap_sd` — the paper's error bar, the SD of 10,000 bootstrap means;
* :func:`t_interval` — the Student-t 95% interval of a mean paired difference (the CI of every
  comparison: it keeps its coverage at 5-10 seeds under normality, where the percentile
  bootstrap under-covers);
* :func:`signflip_p` — the paired sign-flip permutation test, exact for few seeds;
* :func:`equivalence_p` — two one-sided exact sign-flip tests (TOST) of "|mean| < margin";
* :func:`holm` — Holm's step-down adjustment over the comparisons of one family;
* :func:`min_detectable_effect` — the smallest effect a test over n seeds finds at 80% power
  (noncentral-t power of the paired test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy import stats as scipy_stats

__all__ = ["Bootstrap", "bootstrap", "bootstrap_sd", "t_interval", "signflip_p",
           "equivalence_p", "holm", "correlation_p", "smallest_p", "min_detectable_effect",
           "N_BOOT", "EXACT_MAX_SEEDS", "ALPHA", "POWER", "CI_LEVEL"]

#: Resamples of every bootstrap (the paper's 10,000).
N_BOOT = 10_000
#: Up to this many seeds the sign-flip test enumerates all 2^n sign patterns.
EXACT_MAX_SEEDS = 16
#: Family-wise error rate of one claim's comparisons, and the power the detectable effect is
#: quoted at.
ALPHA = 0.05
POWER = 0.8
#: Coverage of every confidence interval of a paired difference.
CI_LEVEL = 0.95

Statistic = Callable[..., np.ndarray]


def mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """The default statistic: the mean of one sample along ``axis``."""
    (values,) = samples
    return np.mean(values, axis=axis)


@dataclass(frozen=True)
class Bootstrap:
    """Summary of a bootstrap distribution: its mean, SD and percentile CI, and the sample
    size ``n`` (finite values used)."""

    mean: float
    sd: float
    low: float
    high: float
    n: int

    @classmethod
    def empty(cls) -> Bootstrap:
        return cls(math.nan, math.nan, math.nan, math.nan, 0)


def _finite_rows(samples: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The samples as float arrays, without the seeds where any sample is NaN or inf."""
    arrays = [np.asarray(s, np.float64).ravel() for s in samples]
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return tuple(a[keep] for a in arrays)


def bootstrap(
    samples: np.ndarray | Sequence[np.ndarray],
    statistic: Statistic = mean,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> Bootstrap:
    """Percentile bootstrap of ``statistic`` over seeds (``scipy.stats.bootstrap``).

    ``samples`` is one array or a tuple of equally long arrays measured on the same seeds;
    they are resampled together (paired), so e.g. a correlation across seeds keeps each
    seed's x with its y. ``statistic(*samples, axis=-1)`` must be vectorised along ``axis``.
    Seeds with a non-finite value in any sample (diverged runs) are dropped first. The
    percentile method, not BCa: BCa's jackknife is unstable with the 3-10 seeds of most
    comparisons, and the percentile interval is what the paper's error bars describe.
    """
    if isinstance(samples, np.ndarray):
        samples = (samples,)
    data = _finite_rows(samples)
    n = int(data[0].size)
    if n == 0:
        return Bootstrap.empty()
    if n == 1:  # every resample is the one seed (scipy needs two)
        value = float(statistic(*data, axis=-1))
        return Bootstrap(value, 0.0, value, value, 1)
    res = scipy_stats.bootstrap(data, statistic, n_resamples=n_boot, vectorized=True,
                                paired=True, axis=-1, confidence_level=level,
                                method="percentile", rng=np.random.default_rng(seed))
    dist = res.bootstrap_distribution
    return Bootstrap(float(dist.mean()), float(res.standard_error),
                     float(res.confidence_interval.low), float(res.confidence_interval.high), n)


def bootstrap_sd(values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> float:
    """SD of ``n_boot`` bootstrap means: the paper's error bar ("mean and standard deviation
    across 10,000 bootstraps, with 50 values per bootstrap"); about sd / sqrt(n)."""
    return bootstrap(np.asarray(values), n_boot=n_boot, seed=seed).sd


def t_interval(diff: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean of ``diff`` (non-finite values dropped).

    Exact under normality at any n, so it keeps its coverage at the 5-10 seeds of most
    comparisons, where a percentile bootstrap is too narrow. One seed: NaN (no spread to
    scale by); differences that are all equal: the point itself.
    """
    values = np.asarray(diff, np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return math.nan, math.nan
    centre = float(values.mean())
    sem = float(scipy_stats.sem(values))
    if sem == 0:
        return centre, centre
    low, high = scipy_stats.t.interval(level, values.size - 1, loc=centre, scale=sem)
    return float(low), float(high)


def _signflip(values: np.ndarray, alternative: str, n_perm: int, seed: int) -> float:
    """The sign-flip permutation p of "mean = 0" (``scipy.stats.permutation_test``, exact up
    to :data:`EXACT_MAX_SEEDS` seeds) against ``alternative``."""
    res = scipy_stats.permutation_test(
        (values,), mean, permutation_type="samples", vectorized=True,
        n_resamples=np.inf if values.size <= EXACT_MAX_SEEDS else n_perm,
        alternative=alternative, rng=np.random.default_rng(seed))
    return float(res.pvalue)


def signflip_p(diff: np.ndarray, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided paired sign-flip permutation p-value of "mean difference = 0"
    (``scipy.stats.permutation_test`` with ``permutation_type="samples"`` on one sample).

    Exact (all 2^n sign patterns) up to :data:`EXACT_MAX_SEEDS` seeds, Monte Carlo with
    ``n_perm`` resamples beyond (then never 0). Unlike a bootstrap p-value it is not
    optimistic with few seeds: the smallest p that n seeds can reach is 2 / 2^n (5 seeds:
    0.0625, never below 0.05; 10 seeds: 0.002).
    """
    values = np.asarray(diff, dtype=np.float64)
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return math.nan
    if n == 1:  # both sign patterns are as extreme as the observed one (scipy needs n >= 2)
        return 1.0
    return _signflip(values, "two-sided", n_perm, seed)


def equivalence_p(diff: np.ndarray, margin: float, n_perm: int = 20_000,
                  seed: int = 0) -> float:
    """p of "the mean difference lies outside ±``margin``" by two one-sided exact sign-flip
    tests (TOST): the differences shifted by +margin against "mean <= 0" and by -margin
    against "mean >= 0"; the larger of the two p. Small p: the effect is within the margin.

    NaN without a positive finite margin or with fewer than 2 seeds. With n seeds the
    smallest p is 1 / 2^n (5 seeds: 0.031), so equivalence, unlike an effect, can be shown
    with 5 seeds.
    """
    values = np.asarray(diff, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2 or not (math.isfinite(margin) and margin > 0):
        return math.nan
    above = _signflip(values + margin, "greater", n_perm, seed)
    below = _signflip(values - margin, "less", n_perm, seed)
    return max(above, below)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN and is not counted).

    Hand-written (ten lines): ``scipy.stats.false_discovery_control`` offers only the
    Benjamini-Hochberg/Yekutieli FDR procedures, and Holm controls the family-wise error,
    which is what "every comparison of this claim holds" needs.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def correlation_p(x: np.ndarray, y: np.ndarray, n_perm: int = 20_000, seed: int = 0) -> float:
    """Two-sided permutation p of Pearson r = 0 across seeds (``scipy.stats.pearsonr`` with a
    permutation method: exact, all n! pairings, up to 8 seeds): the test of the A.14
    relation."""
    x, y = _finite_rows((x, y))
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    exact = math.factorial(x.size) <= 50_000
    method = scipy_stats.PermutationMethod(n_resamples=np.inf if exact else n_perm,
                                           rng=np.random.default_rng(seed))
    return float(scipy_stats.pearsonr(x, y, method=method).pvalue)


def smallest_p(n: int) -> float:
    """The smallest two-sided sign-flip p that n seeds can give: all seeds one way, 2 / 2^n."""
    return 2.0 / 2.0**n if n > 0 else math.nan


def min_detectable_effect(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest mean paired difference the test over ``n`` seeds detects with probability
    ``power`` at two-sided level ``alpha``; inf when n seeds cannot reach p < alpha at all.

    Two parts: the power of the paired t-test from the noncentral t distribution
    (``scipy.stats.nct``, df = n - 1, noncentrality d * sqrt(n)), solved for the effect d in
    units of ``sd``, the SD of the paired differences (the sign-flip test's power approaches
    the t-test's; the normal formula (z_{1-alpha/2} + z_power) / sqrt(n) is about 18%
    optimistic at 10 seeds), and the hard floor that the exact test's smallest p is 2 / 2^n:
    with ``smallest_p(n) >= alpha`` (5 seeds at 0.05) no effect, however large, is detected.
    """
    if n < 2 or smallest_p(n) >= alpha:
        return math.inf
    if not math.isfinite(sd):
        return math.nan
    df, critical = n - 1, float(scipy_stats.t.ppf(1 - alpha / 2, n - 1))

    def shortfall(d: float) -> float:
        shift = d * math.sqrt(n)
        reach = scipy_stats.nct.sf(critical, df, shift) + scipy_stats.nct.cdf(-critical, df,
                                                                              shift)
        return float(reach) - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-10)) * sd
