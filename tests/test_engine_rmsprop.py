"""RMSprop's fast paths: the CSR-driven lazy W1 update, the approximate reciprocal, and the
flushed float mode, each against the plain update or the reference trainer."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from test_engine import STEPS, _data, assert_same, make_run

from smoothlearn.engine import ensemble, floatmode, kernels, schedule, train_many
from smoothlearn.engine.floatmode import FLUSH_SUBNORMALS, X86, float_mode, set_float_mode
from smoothlearn.train import train_reference

TINY = np.finfo(np.float32).tiny
HALF_TINY = 2.0**-127  # a Python float: numpy's own arithmetic would follow the float mode
f32 = np.float32


def _csr(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ptr = np.zeros(X.shape[0] + 1, np.int64)
    kernels.csr_count(X, ptr)
    idx, val = np.empty(ptr[-1], np.int64), np.empty(ptr[-1], np.float32)
    kernels.csr_fill(X, ptr, idx, val)
    return ptr, idx, val


def test_sparse_lazy_update_equals_the_dense_lazy_update_with_the_next_pre() -> None:
    """rms_w1_sparse visits only the rows lit now (update) or next (pre): W1, the next pre
    and, once caught up, the square averages equal rms_w1's walk over every row."""
    rng = np.random.default_rng(4)
    d, h, steps = 40, 24, 300
    X = _data(rng, steps + 1, d, density=0.1)
    ptr, idx, val = _csr(X)
    lr, alpha, oma, eps = f32(0.01), f32(0.9), f32(0.1), f32(1e-8)
    W = rng.standard_normal((d, h)).astype(np.float32)
    b1 = rng.standard_normal(h).astype(np.float32)
    dense, sparse = (
        [W.copy(), np.zeros((d, h), np.float32), np.zeros(d, np.int64), np.zeros(h, np.float32)]
        for _ in range(2)
    )  # W1, square averages, lazy-decay steps, next pre
    decays = kernels.rms_decays(alpha, steps)
    for t in range(steps):
        dpre = rng.standard_normal(h).astype(np.float32)
        nx = t + 1 if t < steps - 1 else -1  # the last step has no next item
        kernels.rms_w1(dense[0], dense[1], np.zeros((0, 0), np.float32), dense[2], dpre,
                       dense[3], b1, X, t, nx, t, True, lr, alpha, oma, f32(0), eps)  # fmt: skip
        kernels.rms_w1_sparse(sparse[0], sparse[1], sparse[2], dpre, sparse[3], b1, ptr, idx,
                              val, t, nx, t, lr, alpha, oma, eps, decays)  # fmt: skip
        if nx >= 0:
            np.testing.assert_allclose(sparse[3], dense[3], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(sparse[2], dense[2])
    assert (sparse[2] < steps).any()  # some rows were still behind
    np.testing.assert_allclose(sparse[0], dense[0], rtol=1e-6, atol=1e-7)
    for V, U in ((dense[1], dense[2]), (sparse[1], sparse[2].copy())):
        for i in range(d):
            kernels.rms_catch_up(V, U, i, steps, alpha)
    np.testing.assert_allclose(sparse[1], dense[1], rtol=1e-6, atol=0)


def test_decay_table_is_rounded_as_the_catch_up_rounds_it() -> None:
    alpha = f32(0.99)
    table = kernels.rms_decays(alpha, 5000)
    ks = np.array([0, 1, 2, 17, 999, 4096, 5000])
    expected = [np.float32(np.float64(alpha) ** k) for k in ks]
    np.testing.assert_array_equal(table[ks], expected)


def test_lazy_sparse_rmsprop_caught_up_across_chunks_equals_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks end mid-run: every row is brought to the chunk's end (a new decay table per
    chunk) and the next chunk goes on from there."""
    X = _data(np.random.default_rng(11), 50, 30, density=0.08)
    run = make_run(X=X, h=16, leak=0.5, reset="label", optimizer="rmsprop", lr=0.003,
                   rmsprop_alpha=0.95, steps=900, eval_every=150)  # fmt: skip
    monkeypatch.setattr(schedule, "MAX_CHUNK_STEPS", 41)
    (fast,) = train_many([run], sparse=True)
    assert_same(fast, train_reference(run))


@njit(error_model="numpy")
def _inv_avgs(v: np.ndarray, eps: np.float32, out: np.ndarray) -> None:
    for i in range(v.shape[0]):  # a loop, so that the vectorised (estimated) form runs
        out[i] = kernels.inv_avg(v[i], eps)


def test_inverse_average_is_within_two_ulp_and_keeps_inf_and_nan() -> None:
    rng = np.random.default_rng(0)
    v = (10.0 ** rng.uniform(-38, 6, 100_000)).astype(np.float32)
    v[:100] = 0
    v[100:108] = [np.inf, np.nan, 1, 4, 0, np.inf, np.nan, 2]
    eps = f32(1e-8)
    out = np.empty_like(v)
    _inv_avgs(v, eps, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = np.float32(1) / (np.sqrt(v) + eps)
    assert out[100] == 0 and out[105] == 0  # 1 / inf, as the division gives it
    assert np.isnan(out[101]) and np.isnan(out[106])
    ok = np.isfinite(v)
    ulps = np.abs(out[ok].view(np.int32).astype(np.int64) - exact[ok].view(np.int32))
    assert ulps.max() <= 2


@pytest.mark.skipif(not X86, reason="the float mode is only set on x86")
def test_flush_mode_zeroes_subnormals_only_while_set() -> None:
    @njit
    def halves(x: np.ndarray, flush: bool) -> np.ndarray:
        mode = float_mode()
        if flush:
            set_float_mode(mode | FLUSH_SUBNORMALS)
        out = x * np.float32(0.5)
        set_float_mode(mode)
        return out

    x = np.full(16, TINY, np.float32)
    assert np.all(halves(x, True) == 0)
    assert np.all(halves(x, False) == HALF_TINY)


def test_off_x86_the_float_mode_is_a_no_op_and_rmsprop_keeps_the_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The non-x86 path (ARM, ...), forced here: kernels compiled with ``X86`` False read mode
    0, flush nothing, and RMSprop still equals the reference (the subnormal floor alone).
    Fresh, uncached compilations, so the cached x86 kernels are neither used nor overwritten."""
    assert floatmode.has_mxcsr("AMD64") and not floatmode.has_mxcsr("aarch64")
    monkeypatch.setattr(floatmode, "X86", False)

    @njit
    def halves(x: np.ndarray) -> tuple[int, np.ndarray]:
        mode = float_mode()
        set_float_mode(mode | FLUSH_SUBNORMALS)
        out = x * np.float32(0.5)
        set_float_mode(mode)
        return mode, out

    mode, out = halves(np.full(4, TINY, np.float32))
    assert mode == 0 and np.all(out == HALF_TINY)  # no float mode was set
    fresh = njit(**{**kernels._STEP, "cache": False})(kernels.train_net.py_func)
    monkeypatch.setattr(kernels, "train_net", fresh)
    monkeypatch.setattr(ensemble, "train_chunk", kernels.train_chunk.py_func)
    run = make_run(optimizer="rmsprop", lr=0.01, loss="ce", eval_every=STEPS)
    (fast,) = train_many([run], threads=1)
    assert_same(fast, train_reference(run))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("lr", [0.01, 1e30], ids=["normal", "diverging"])
def test_rmsprop_training_restores_the_callers_float_mode(
    monkeypatch: pytest.MonkeyPatch, lr: float
) -> None:
    """train_net flushes subnormals while it runs and restores the mode on both returns.
    Run here through train_chunk's Python body, so train_net runs on this test's thread."""
    monkeypatch.setattr(ensemble, "train_chunk", kernels.train_chunk.py_func)
    run = make_run(optimizer="rmsprop", lr=lr, loss="ce", eval_every=STEPS)
    (fast,) = train_many([run], threads=1)
    assert fast.diverged == (lr > 1)
    assert float(np.float32(TINY) * np.float32(0.5)) == HALF_TINY
    assert_same(fast, train_reference(run))
