"""The vectorisable float32 ``exp``, ``sigmoid`` and ``tanh`` of ``engine.activations``.

Accuracy is measured in ulps of the float32 result against float64 NumPy, over a dense
sweep of each function's working range and hypothesis' float32 draws; the bounds are those
the module states (the worst seen: 1.01, 2.46 and 1.33 ulp).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from smoothlearn.engine.activations import exp32, sigmoid32, tanh32
from smoothlearn.engine.codes import JIT


def _sigmoid64(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


CASES = {  # function, float64 reference, range swept, ulp bound
    "exp": (exp32, np.exp, (-87.3, 88.7), 1.5),
    "sigmoid": (sigmoid32, _sigmoid64, (-87.0, 40.0), 3.0),
    "tanh": (tanh32, np.tanh, (-12.0, 12.0), 2.0),
}


@njit(**{**JIT, "cache": False})
def _over(fn, x, out):
    """``fn`` over an array in one loop: the vectorised form the engine's kernels compile."""
    for i in range(x.shape[0]):
        out[i] = fn(x[i])


def _apply(fn, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, np.float32)
    out = np.empty_like(x)
    _over(fn, x, out)
    return out


def _ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """``|got - exact|`` in units of the float32 spacing at the rounded exact value."""
    spacing = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


@pytest.mark.parametrize("name", sorted(CASES))
def test_within_its_stated_ulps_over_the_working_range(name):
    fn, exact, (lo, hi), bound = CASES[name]
    x = np.linspace(lo, hi, 400_001, dtype=np.float32)
    x = np.concatenate([x, np.geomspace(1e-30, 1.0, 20_001, dtype=np.float32)])
    x = np.concatenate([x, -x])
    x = x[(x >= lo) & (x <= hi)]
    worst = _ulps(_apply(fn, x), exact(x.astype(np.float64))).max()
    assert worst <= bound, f"{name}: {worst:.2f} ulp"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-80.0, 80.0, width=32), min_size=1, max_size=64))
def test_any_float32_within_the_bounds(values):
    x = np.array(values, np.float32)
    for fn, exact, (lo, hi), bound in CASES.values():
        inside = x[(x >= lo) & (x <= hi)]
        if inside.size:
            assert _ulps(_apply(fn, inside), exact(inside.astype(np.float64))).max() <= bound


def test_special_values_follow_float32():
    """NaN stays NaN (a diverged network's metrics must show it); exp overflows to inf and
    gives 0 below the normal range; sigmoid and tanh saturate."""
    x = np.array([np.nan, np.inf, -np.inf, 89.0, 88.7, -87.3, -87.4, -200.0, 0.0],
                 np.float32)  # fmt: skip
    e = _apply(exp32, x)
    assert np.isnan(e[0]) and e[1] == np.inf and e[2] == 0.0 and e[3] == np.inf
    assert np.isfinite(e[4]) and e[4] > 3.3e38
    assert e[5] > 0.0 and e[6] == 0.0 and e[7] == 0.0 and e[8] == 1.0
    s = _apply(sigmoid32, x)
    assert np.isnan(s[0]) and s[1] == 1.0 and s[2] == 0.0 and s[8] == 0.5
    t = _apply(tanh32, x)
    assert np.isnan(t[0]) and t[1] == 1.0 and t[2] == -1.0 and t[7] == -1.0 and t[8] == 0.0


def test_tanh_is_odd_and_sigmoid_symmetric():
    x = np.linspace(0.0, 15.0, 30_001, dtype=np.float32)
    np.testing.assert_array_equal(_apply(tanh32, -x), -_apply(tanh32, x))
    np.testing.assert_allclose(_apply(sigmoid32, x) + _apply(sigmoid32, -x), 1.0, rtol=2e-7)
