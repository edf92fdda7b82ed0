"""The fast engine against the readable reference trainer, config by config.

Tolerance: the engine and ``train_reference`` compute the same float32 math in different
summation orders (numba loops vs. BLAS/autograd), so curves and final weights are compared
with ``atol = rtol = 1e-5`` over 300-step runs (the largest gap seen is 8e-7). Steps and
the ``diverged`` flag must match exactly.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import smoothlearn.engine
from smoothlearn.contract import Curves, Prepared, TrainSettings
from smoothlearn.engine import choose_sparse, evaluate_many, schedule, train_many
from smoothlearn.engine.arrays import aligned_rows, csr
from smoothlearn.engine.codes import FASTMATH
from smoothlearn.engine.kernels import (
    forward_w1_csr,
    forward_w1_wide,
    output_grad,
    softmax_parts,
)
from smoothlearn.engine.vectors import PREFER_512, wide_vectors
from smoothlearn.nn import init_params, reset_flags
from smoothlearn.train import evaluate, train_reference

ATOL = RTOL = 1e-5
STEPS = 300


def _data(rng: np.random.Generator, n: int, d: int, density: float = 0.3) -> np.ndarray:
    """Inputs in [0, 1] with many exact zeros, so the sparse path has work to skip."""
    X = rng.random((n, d), dtype=np.float32)
    return np.where(rng.random((n, d)) < density, X, 0).astype(np.float32)


def make_run(
    *,
    seed: int = 0,
    X: np.ndarray | None = None,
    d: int = 12,
    h: int = 8,
    o: int = 4,
    steps: int = STEPS,
    task: str = "classify",
    leak: float | np.ndarray = 0.0,
    reset: str = "never",
    groups: int = 1,
    stream_eval: bool = False,
    eval_every: int = 70,
    **settings: object,
) -> Prepared:
    """A small run built like ``runs.prepare`` does (reset_flags, init_params)."""
    rng = np.random.default_rng(seed)
    if X is None:
        X = _data(np.random.default_rng(1234), 40, d)
    n, d = X.shape
    labels = np.random.default_rng(99).integers(0, o, n)
    if task == "reconstruct":
        o, targets, labels = d, X, np.full(n, -1)
    else:
        targets = np.eye(o, dtype=np.float32)[labels]
    # runs of equal labels, so label resets fire at boundaries and not on every step
    order = np.repeat(rng.integers(0, n, steps // 3 + 1), 3)[:steps]
    X_eval = _data(rng, 30, d)
    labels_eval = rng.integers(0, o, 30) if task == "classify" else np.full(30, -1)
    targets_eval = np.eye(o, dtype=np.float32)[labels_eval] if task == "classify" else X_eval
    eval_resets = None
    if stream_eval:
        eval_resets = reset_flags(reset, X_eval, labels_eval, groups)
    return Prepared(
        X=X,
        targets=targets,
        labels=labels,
        order=order,
        resets=reset_flags(reset, X[order], labels[order], groups),
        params=init_params(d, h, o, seed),
        leak=np.broadcast_to(np.asarray(leak, np.float32), (h,)).copy(),
        eval_steps=np.unique(np.r_[np.arange(0, steps, eval_every), steps]).astype(np.int64),
        X_eval=X_eval,
        targets_eval=targets_eval,
        labels_eval=labels_eval,
        eval_resets=eval_resets,
        settings=TrainSettings(**settings),
        task=task,
    )


def assert_same(fast: Curves, ref: Curves) -> None:
    np.testing.assert_array_equal(fast.steps, ref.steps)
    assert fast.diverged == ref.diverged
    for name in ("test_mse", "test_ce", "test_acc"):
        np.testing.assert_allclose(getattr(fast, name), getattr(ref, name), RTOL, ATOL, True)
    for name, value in ref.final_params.items():
        np.testing.assert_allclose(fast.final_params[name], value, RTOL, ATOL, err_msg=name)


PER_UNIT = np.linspace(0.0, 0.9, 8, dtype=np.float32)

CONFIGS = {
    "ff-sgd-mse-softmax": dict(lr=0.05),
    "ff-sgd-ce": dict(loss="ce", lr=0.05),
    "leaky-label-sgd-ce-stream": dict(leak=0.5, reset="label", loss="ce", stream_eval=True),
    "leaky-label-ignore-grad": dict(leak=0.5, reset="label", leak_grad="ignore", lr=0.05),
    "per-unit-every7-rms-sigmoid": dict(
        leak=PER_UNIT, reset="every-7", optimizer="rmsprop", lr=0.01, output="sigmoid"
    ),
    "per-unit-input-change-g2-rms-momentum-ce-stream": dict(
        leak=PER_UNIT,
        reset="input-change",
        groups=2,
        optimizer="rmsprop",
        rmsprop_momentum=0.9,
        lr=0.002,
        loss="ce",
        stream_eval=True,
    ),
    "leaky-never-rms-ignore": dict(
        leak=0.3, optimizer="rmsprop", leak_grad="ignore", rmsprop_alpha=0.9, lr=0.005
    ),
    "ae-6-3-6-input-change-g3-stream": dict(
        X=_data(np.random.default_rng(5), 40, 6, 0.5),
        h=3,
        task="reconstruct",
        leak=0.6,
        reset="input-change",
        groups=3,
        output="sigmoid",
        lr=0.1,
        stream_eval=True,
    ),
    "ae-rms-momentum-softmax": dict(
        h=5,
        task="reconstruct",
        leak=0.2,
        reset="every-4",
        optimizer="rmsprop",
        rmsprop_momentum=0.5,
        lr=0.003,
    ),
}


@functools.cache
def reference(name: str, seed: int = 0) -> Curves:
    """The reference curves of a named config (shared by the tests: the reference is slow)."""
    return train_reference(make_run(**CONFIGS[name], seed=seed))


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_equals_reference(name: str, sparse: bool) -> None:
    (fast,) = train_many([make_run(**CONFIGS[name])], threads=1, sparse=sparse)
    ref = reference(name)
    assert not ref.diverged and ref.steps.size > 2
    assert_same(fast, ref)


@pytest.mark.parametrize(
    "name",
    [
        "leaky-label-sgd-ce-stream",
        "leaky-label-ignore-grad",
        "per-unit-input-change-g2-rms-momentum-ce-stream",
        "leaky-never-rms-ignore",
        "ae-6-3-6-input-change-g3-stream",
    ],
)
def test_torch_path_equals_reference(name: str) -> None:
    """The optional batched-tensor path (for GPUs), run here on the CPU, in an ensemble."""
    runs = [make_run(**CONFIGS[name], seed=seed) for seed in (0, 4)]
    if "X" not in CONFIGS[name]:
        runs[1].X = runs[0].X  # one ensemble (make_run draws the same X, as another object)
    fast = train_many(runs, device="cpu")
    for seed, curves in zip((0, 4), fast, strict=True):
        assert_same(curves, reference(name, seed))


@pytest.mark.parametrize("sparse", [None, False], ids=["auto-sparse", "dense"])
def test_mnist_shape_equals_reference(sparse: bool | None) -> None:
    """784-392-10 with 19% non-zero inputs: the vectorised rows and the fused merge at size."""
    X = _data(np.random.default_rng(8), 60, 784, density=0.19)
    run = make_run(X=X, h=392, o=10, steps=150, leak=0.5, reset="label", stream_eval=True)
    (fast,) = train_many([run], sparse=sparse)
    assert_same(fast, train_reference(run))


def test_mixed_ensemble_equals_reference_in_input_order() -> None:
    """Seeds, orders, leaks, eval schedules and eval memory differ inside one ensemble;
    a second dataset and other settings form other ensembles; results keep input order."""
    X = _data(np.random.default_rng(7), 50, 12)
    runs = [
        make_run(seed=s, X=X, leak=leak, reset=reset, stream_eval=stream, eval_every=every)
        for s, (leak, reset, stream, every) in enumerate(
            [
                (0.0, "never", False, 70),
                (0.5, "label", True, 70),
                (PER_UNIT, "every-5", True, 45),
                (0.7, "label", False, 100),
                (0.2, "never", True, 70),
            ]
        )
    ]
    runs.insert(2, make_run(seed=9, loss="ce", leak=0.4, reset="label"))  # own data
    runs.insert(4, make_run(seed=3, X=X, optimizer="rmsprop", lr=0.01))  # own settings
    fast = train_many(runs, threads=2)
    for run, curves in zip(runs, fast, strict=True):
        assert_same(curves, train_reference(run))


def test_sparse_and_dense_paths_agree_and_threads_do_not_matter() -> None:
    X = _data(np.random.default_rng(3), 60, 64, density=0.15)
    X.flags.writeable = False  # like the datasets: the sparse form is cached
    runs = [
        make_run(seed=s, X=X, h=32, leak=0.5, reset="label", loss="ce", lr=0.05) for s in range(3)
    ]
    dense = train_many(runs, threads=1, sparse=False)
    sparse = train_many(runs, threads=2, sparse=True)
    dense_X = _data(np.random.default_rng(3), 60, 64, density=0.7)
    assert choose_sparse(X, 32) and choose_sparse(dense_X, 392) and not choose_sparse(dense_X, 8)
    for a, b in zip(dense, sparse, strict=True):
        np.testing.assert_allclose(a.test_mse, b.test_mse, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a.final_params["W1"], b.final_params["W1"], 1e-6, 1e-7)


def test_chunked_training_equals_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernel calls are cut at MAX_CHUNK_STEPS; state (H, optimiser) must carry over."""
    run = make_run(leak=PER_UNIT, reset="label", optimizer="rmsprop", rmsprop_momentum=0.5,
                   lr=0.003, eval_every=STEPS)  # fmt: skip
    monkeypatch.setattr(schedule, "MAX_CHUNK_STEPS", 37)
    for sparse in (False, True):
        (fast,) = train_many([run], sparse=sparse)
        assert_same(fast, train_reference(run))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_divergence_stops_the_network_and_drops_later_points() -> None:
    ok = make_run(seed=1, loss="ce", lr=0.05)
    bad = make_run(seed=2, X=ok.X, loss="ce", lr=1e25, eval_every=1)
    ref_ok, ref_bad = train_reference(ok), train_reference(bad)
    assert ref_bad.diverged and ref_bad.steps[-1] < STEPS
    for device in (None, "cpu"):
        fast_ok, fast_bad = train_many([ok, bad], threads=2, device=device)
        assert fast_bad.diverged and not fast_ok.diverged
        assert_same(fast_bad, ref_bad)
        assert_same(fast_ok, ref_ok)


def test_concurrent_calls_from_threads_agree_with_sequential() -> None:
    """Dask-style threads may call train_many at once: parallel launches are serialised."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [[make_run(seed=s, leak=0.5, reset="label")] for s in range(4)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda runs: train_many(runs, threads=2)[0], batches))
    for runs, curves in zip(batches, together, strict=True):
        np.testing.assert_array_equal(curves.test_mse, train_many(runs, threads=2)[0].test_mse)


def test_progress_counts_every_network_step_once() -> None:
    X = _data(np.random.default_rng(4), 30, 12)
    runs = [make_run(seed=s, X=X) for s in range(3)]
    runs.append(make_run(seed=5, X=X, loss="ce", lr=1e25))  # diverges: remainder counted
    seen: list[int] = []
    train_many(runs, progress=seen.append)
    assert sum(seen) == 4 * STEPS and all(n > 0 for n in seen)


@pytest.mark.parametrize("sparse", [None, False, True], ids=["auto", "blas", "items"])
def test_evaluate_many_equals_reference_evaluate(sparse: bool | None) -> None:
    runs = [
        make_run(seed=0, leak=0.5, reset="label", stream_eval=True),
        make_run(seed=1, leak=PER_UNIT, reset="label"),
        make_run(seed=2, h=3, task="reconstruct", output="sigmoid", leak=0.3, stream_eval=True),
    ]
    _assert_evaluations_match_reference(runs, sparse=sparse)


def _assert_evaluations_match_reference(runs: list, sparse: bool | None) -> None:
    """``evaluate_many`` against the reference ``evaluate``, run by run."""
    for run, got in zip(runs, evaluate_many(runs, sparse=sparse), strict=True):
        want = evaluate(
            run.params, run.leak, run.X_eval, run.targets_eval, run.labels_eval,
            run.eval_resets, run.settings.output, run.task,
        )  # fmt: skip
        np.testing.assert_allclose(
            [got["test_mse"], got["test_ce"], got["test_acc"]], want, RTOL, ATOL, True
        )


def _ragged(m: int, d: int, seed: int = 7) -> np.ndarray:
    """m items (odd) with 0 to 18 non-zeros each: empty items, and fewer, exactly and more
    than the eight W1 rows that :func:`forward_w1_csr` adds per pass, plus a remainder."""
    rng = np.random.default_rng(seed)
    X = np.zeros((m, d), np.float32)
    for i in range(m):
        k = i % 19
        X[i, rng.choice(d, k, replace=False)] = rng.random(k, dtype=np.float32) + 0.1
    return X


@pytest.mark.parametrize("h", [13, 392])
def test_forward_w1_csr_equals_dense_product(h: int) -> None:
    X = _data(np.random.default_rng(3), 1, 50)  # one item more, below
    X = np.vstack([_ragged(37, 50), X])
    rng = np.random.default_rng(5)
    W1T = rng.standard_normal((50, h), dtype=np.float32)
    b1 = rng.standard_normal(h, dtype=np.float32)
    ptr, idx, val = csr(X)
    pre = np.empty(h, np.float32)
    for i in range(X.shape[0]):
        forward_w1_csr(pre, W1T, b1, ptr, idx, val, i)
        want = X[i].astype(np.float64) @ W1T + b1
        np.testing.assert_allclose(pre, want, rtol=1e-5, atol=1e-5, err_msg=f"item {i}")
    assert (np.diff(ptr) == 0).sum() == 2  # empty items were covered


@pytest.mark.parametrize("aligned", [True, False], ids=["aligned-rows", "plain-array"])
@pytest.mark.parametrize("h", [13, 392])
def test_wide_first_layer_equals_the_in_order_one_bit_for_bit(h: int, aligned: bool) -> None:
    """The evaluation's 512-bit first layer adds the same products in the same order: its
    sums equal :func:`forward_w1_csr`'s exactly, on padded aligned rows or on any array."""
    X = np.vstack([_ragged(37, 50), _data(np.random.default_rng(3), 1, 50)])
    rng = np.random.default_rng(7)
    W1T = rng.standard_normal((50, h), dtype=np.float32)
    b1 = rng.standard_normal(h, dtype=np.float32)
    wide = aligned_rows(50, h) if aligned else np.zeros((50, h), np.float32)
    wide[:, :h] = W1T
    ptr, idx, val = csr(X)
    pre, got = np.empty(h, np.float32), np.empty(h, np.float32)
    for i in range(X.shape[0]):
        forward_w1_csr(pre, W1T, b1, ptr, idx, val, i)
        forward_w1_wide(got, wide, b1, ptr, idx, val, i)
        np.testing.assert_array_equal(got, pre, err_msg=f"item {i}")


@njit(fastmath=FASTMATH, error_model="numpy")
def _softmax_parts(z: np.ndarray, ez: np.ndarray) -> tuple[float, float]:
    return softmax_parts(z, ez)


def _at(buffer: np.ndarray, start: int, values: np.ndarray) -> np.ndarray:
    view = buffer[start:start + values.size]
    view[:] = values
    return view


@pytest.mark.parametrize("out_kind,loss_kind", [(0, 0), (0, 1), (1, 0)],
                         ids=["softmax-mse", "softmax-ce", "sigmoid-mse"])
@given(gap=st.integers(10, 200))
@settings(max_examples=25, deadline=None)
def test_output_step_gives_the_same_numbers_wherever_its_arrays_lie(
    out_kind: int, loss_kind: int, gap: int
) -> None:
    """The output layer's sums do not depend on where its scratch arrays are in memory.

    Before, a loop that stored ``y`` while summing it was vectorised behind a check of the
    arrays' addresses and fell back to a scalar loop (another order of the sum) when ``y``
    started within 256 bytes after ``z``: a Dask worker and a pool worker placed them
    differently and their curves differed by 1e-9. ``gap`` (floats) covers both sides.
    """
    z0 = (np.random.default_rng(0).standard_normal(10) * 3).astype(np.float32)
    tgt = np.eye(10, dtype=np.float32)
    near, far = np.zeros(512, np.float32), np.zeros(4096, np.float32)
    got, want = [], []
    for buffer, offset, out in ((near, gap, got), (far, 2000, want)):
        z = _at(buffer, 0, z0)
        y, g = _at(buffer, offset, np.zeros(10, np.float32)), _at(buffer, offset + 12, z0 * 0)
        loss = output_grad(z, y, g, tgt, 3, 3, out_kind, loss_kind)
        out.extend([loss, *g, *_softmax_parts(z, _at(buffer, offset + 24, z0 * 0))])
    assert got == want


def test_wide_vectors_marks_its_caller_512_bit_and_out_of_line() -> None:
    @njit(cache=False)
    def widened(a):
        wide_vectors()
        return a.sum()

    assert widened(np.ones(3)) == 3.0
    ir = next(iter(widened.inspect_llvm().values()))
    marked = [line for line in ir.splitlines() if PREFER_512 in line]
    assert marked and all("noinline" in line for line in marked)


def test_csr_lists_each_rows_nonzeros_in_column_order() -> None:
    X = np.array([[0, 2, 0], [0, 0, 0], [1, 0, 3]], np.float32)
    indptr, indices, values = csr(X)
    assert indptr.tolist() == [0, 1, 1, 3]
    assert indices.tolist() == [1, 0, 2] and values.tolist() == [2, 1, 3]


def test_csr_is_built_once_for_a_read_only_array_and_afresh_for_a_writable_one() -> None:
    """Datasets are read-only and shared by many runs; a writable array may change."""
    X = np.array([[0, 2, 0], [1, 0, 3]], np.float32)
    first = csr(X)
    X[0, 0] = 5
    assert csr(X)[0].tolist() == [0, 2, 4] and first[0].tolist() == [0, 1, 3]
    X.flags.writeable = False
    assert csr(X)[1] is csr(X)[1]


@given(rows=st.integers(1, 40), cols=st.integers(1, 130))
@settings(max_examples=30, deadline=None)
def test_aligned_rows_start_on_64_byte_boundaries(rows: int, cols: int) -> None:
    a = aligned_rows(rows, cols)
    assert a.shape[0] == rows and a.shape[1] >= cols and a.shape[1] % 16 == 0
    assert a.flags.c_contiguous and a.dtype == np.float32 and not a.any()
    assert all(a[r].ctypes.data % 64 == 0 for r in range(rows))


def test_scratch_is_kept_per_thread_and_replaced_when_it_does_not_fit() -> None:
    """The evaluation's work arrays are reused by a thread's later calls (no fresh pages per
    network and point), never shared between threads, and replaced when too small."""
    import threading

    from smoothlearn.engine.arrays import scratch

    first = scratch("test-buffer", 5, 7)
    assert first.shape == (5, 7) and first.dtype == np.float32 and first.flags.c_contiguous
    again = scratch("test-buffer", 3, 7)
    assert again.shape == (3, 7) and np.shares_memory(again, first)
    assert not np.shares_memory(scratch("test-buffer", 9, 7), first)  # grown
    assert scratch("test-buffer", 9, 8).shape == (9, 8)  # other columns: new
    other: list[np.ndarray] = []
    thread = threading.Thread(target=lambda: other.append(scratch("test-buffer", 9, 8)))
    thread.start()
    thread.join()
    assert not np.shares_memory(other[0], scratch("test-buffer", 9, 8))
    padded = scratch("test-padded", 4, 10, aligned=True)
    padded[:, :10] = 1.0
    reused = scratch("test-padded", 4, 10, aligned=True)
    assert np.shares_memory(reused, padded) and not reused[:, 10:].any()
    assert all(reused[r].ctypes.data % 64 == 0 for r in range(4))


@pytest.mark.parametrize("stacked", [False, True], ids=["shared-set", "stacked-sets"])
@pytest.mark.parametrize("stream", [False, True], ids=["memory-off", "streamed"])
def test_item_by_item_evaluation_of_ragged_items_equals_reference(
    stream: bool, stacked: bool
) -> None:
    """37 items (odd), two without any non-zero input, one evaluation set or one per network."""
    d, o = 50, 4
    labels = np.random.default_rng(8).integers(0, o, 37)
    shared = _ragged(37, d)
    runs = []
    for seed in range(3):
        X_eval = _ragged(37, d, seed=seed) if stacked else shared
        run = make_run(seed=seed, d=d, h=13, o=o, leak=0.5, reset="label")
        resets = reset_flags("label", X_eval, labels, 1) if stream else None
        runs.append(dataclasses.replace(
            run, X_eval=X_eval, targets_eval=np.eye(o, dtype=np.float32)[labels],
            labels_eval=labels, eval_resets=resets,
        ))  # fmt: skip
    _assert_evaluations_match_reference(runs, sparse=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(output="sigmoid", loss="ce"), "needs settings.output='softmax'"),
        (dict(optimizer="adam"), "settings.optimizer='adam'"),
        (dict(leak_grad="half"), "settings.leak_grad"),
    ],
)
def test_invalid_settings_are_named(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        train_many([make_run(**change)])


def test_bad_shapes_are_named() -> None:
    run = make_run()
    run.leak = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"runs\[0\]\.leak has shape"):
        train_many([run])


def test_rmsprop_floor_flushes_subnormal_averages_in_the_step_functions() -> None:
    from smoothlearn.engine import kernels

    tiny, f = np.finfo(np.float32).tiny, np.float32
    assert kernels.rms_decay(f(2 * tiny), f(0.25)) == 0
    assert kernels.rms_decay(f(8 * tiny), f(0.25)) == f(2 * tiny)
    w, v, _ = kernels.rms(f(1), f(0), f(2 * tiny), f(0), f(0.1), f(0.25), f(0.75), f(0), f(1e-8))
    assert (w, v) == (1, 0)


def test_reference_rmsprop_floors_its_square_averages() -> None:
    import torch

    from smoothlearn.train import RMSPROP_V_FLOOR, make_optimizer

    p = torch.zeros(1, requires_grad=True)
    opt = make_optimizer([p], TrainSettings(optimizer="rmsprop", rmsprop_alpha=0.5))
    p.grad = torch.ones(1)
    opt.step()
    p.grad = torch.zeros(1)
    for _ in range(125):  # v = 0.5 ** 126 is the floor itself; 0.5 ** 127 is subnormal
        opt.step()
    assert opt.state[p]["square_avg"].item() >= RMSPROP_V_FLOOR
    opt.step()
    assert opt.state[p]["square_avg"].item() == 0.0


@pytest.mark.parametrize("momentum", [0.0, 0.5])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_rmsprop_floor_is_applied_alike_in_engine_and_reference(sparse: bool, momentum: float):
    """Rarely lit inputs and a fast decay push averages below the floor within the run."""
    from smoothlearn.engine.ensemble import Ensemble
    from smoothlearn.engine.torch_path import TorchEnsemble

    X = _data(np.random.default_rng(6), 40, 12, density=0.3)
    X[1:, :4] = 0  # inputs 0-3 are lit by item 0 only, at the start: then they decay
    run = make_run(X=X, leak=0.5, reset="label", optimizer="rmsprop", rmsprop_alpha=0.3,
                   rmsprop_momentum=momentum, lr=0.003)  # fmt: skip
    run.order[:3] = 0
    (fast,) = train_many([run], sparse=sparse)
    assert_same(fast, train_reference(run))
    tiny = np.finfo(np.float32).tiny
    ensemble = Ensemble([run], sparse)
    for t in range(STEPS):  # each decaying average would pass ~13 steps as a subnormal
        ensemble.train(t, t + 1)
        v = ensemble.opt_state[0][0]  # network 0's W1 square averages, [d_in, d_hidden]
        assert np.all((v == 0) | (v >= tiny)), f"subnormal average after step {t}"
    assert np.all(v[:4] == 0)
    if not sparse:  # the torch path stores W1 as [d_hidden, d_in]
        torch_ensemble = TorchEnsemble([run], "cpu")
        for t in range(STEPS):
            torch_ensemble.train(t, t + 1)
            v = torch_ensemble.v[0][0].numpy()
            assert np.all((v == 0) | (v >= tiny)), f"torch path: subnormal after step {t}"
        assert np.all(v[:, :4] == 0)


def test_lazy_rmsprop_decay_equals_the_eager_update_row_for_row() -> None:
    """Without momentum, rows whose input is zero are left untouched (their decays are
    deferred) and caught up as ``alpha ** k`` when next lit: W1 then equals torch's eager
    update, and the square averages agree once every row is caught up."""
    from smoothlearn.engine import kernels

    rng = np.random.default_rng(3)
    d, h, steps = 6, 5, 400
    X = np.where(rng.random((steps, d)) < 0.15, rng.random((steps, d)), 0).astype(np.float32)
    lr, alpha, oma, eps = (np.float32(v) for v in (0.01, 0.9, 0.1, 1e-8))
    W = rng.standard_normal((d, h)).astype(np.float32)
    lazy = [W.copy(), np.zeros((d, h), np.float32), np.zeros((0, 0), np.float32),
            np.zeros(d, np.int64)]
    W_eager, V_eager = W.copy(), np.zeros((d, h), np.float32)
    pre, b1 = np.zeros(h, np.float32), np.zeros(h, np.float32)
    for t in range(steps):
        dpre = rng.standard_normal(h).astype(np.float32)
        before = lazy[1].copy()
        kernels.rms_w1(lazy[0], lazy[1], lazy[2], lazy[3], dpre, pre, b1, X, t, -1, t, False,
                       lr, alpha, oma, np.float32(0), eps)  # fmt: skip
        dark = X[t] == 0
        np.testing.assert_array_equal(lazy[1][dark], before[dark])  # deferred: not touched
        for i in range(d):
            for j in range(h):
                W_eager[i, j], V_eager[i, j], _ = kernels.rms(
                    W_eager[i, j], dpre[j] * X[t, i], V_eager[i, j], np.float32(0), lr, alpha,
                    oma, np.float32(0), eps)  # fmt: skip
    assert (lazy[3] < steps).any()  # some rows really were behind at the end
    np.testing.assert_allclose(lazy[0], W_eager, rtol=1e-6, atol=1e-7)
    for i in range(d):
        kernels.rms_catch_up(lazy[1], lazy[3], i, steps, alpha)
    np.testing.assert_allclose(lazy[1], V_eager, rtol=1e-5, atol=0)


def test_lazy_rmsprop_on_rarely_lit_inputs_equals_the_reference() -> None:
    """A long run whose inputs are mostly zero (rows stay dark for hundreds of steps)."""
    X = _data(np.random.default_rng(8), 60, 20, density=0.05)
    run = make_run(X=X, leak=0.5, reset="label", optimizer="rmsprop", rmsprop_alpha=0.99,
                   lr=0.003, steps=1500, eval_every=250)  # fmt: skip
    for sparse in (False, True):
        (fast,) = train_many([run], sparse=sparse)
        assert_same(fast, train_reference(run))


# ----------------------------------------------------------------------------- layering
#: The reference trainer and model: the engine is tested against them, so it must not use them.
REFERENCE = {"smoothlearn.train", "smoothlearn.nn"}


def _imports(source: str) -> set[str]:
    """Every module an ``import`` statement of ``source`` names (``from a import b``: a, a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def test_import_parser_sees_every_spelling_of_an_import() -> None:
    for line in ("import smoothlearn.nn", "from smoothlearn import nn",
                 "from smoothlearn.nn import lstm_cell", "def f():\n    import smoothlearn.nn"):
        assert "smoothlearn.nn" in _imports(line), line


def test_no_engine_module_imports_the_reference_trainer_or_model() -> None:
    modules = sorted(Path(smoothlearn.engine.__file__).parent.glob("*.py"))
    assert len(modules) > 10
    for path in modules:
        assert not _imports(path.read_text()) & REFERENCE, path.name


def test_the_numba_and_device_trainers_load_neither_reference_module() -> None:
    """Checked in a fresh interpreter, so nothing else has loaded them. (The conv path uses
    the conv net's own modules, which build on ``smoothlearn.nn``.)"""
    code = ("import sys, smoothlearn.engine, smoothlearn.engine.lstm, smoothlearn.engine.minibatch,"
            " smoothlearn.engine.torch_lstm, smoothlearn.engine.torch_minibatch;"
            f" print(sorted(set(sys.modules) & set({sorted(REFERENCE)!r})))")
    here = str(Path(smoothlearn.engine.__file__).parents[2])  # this copy of the package
    env = {**os.environ, "PYTHONPATH": here}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300, env=env)
    assert out.stdout.strip() == "[]"

