"""Timing: the naive autograd loop, the engine's rate, side-by-side trainers, the roofline.

Every figure is wall-clock; the naive loops run on one torch thread. Timings on a shared
machine are noisy, so rates are medians of ``repeats`` calls with their range, and
:func:`parallel_check` measures how many cores were really free.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import torch
from torch.nn import functional as F

from smoothlearn.bench.workloads import training_only
from smoothlearn.contract import Prepared
from smoothlearn.engine import train_many
from smoothlearn.engine.arrays import csr, ro
from smoothlearn.engine.kernels import forward_w1, sgd_w1
from smoothlearn.engine.runtime import torch_threads
from smoothlearn.nn import LeakyNet
from smoothlearn.train import make_optimizer


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float, float]:
    """(median, min, max) wall seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def rates(units: float, times: tuple[float, float, float]) -> dict[str, float]:
    """``units`` per second at the (median, min, max) ``times``: median rate and its range."""
    med, best, worst = times
    return {"rate": units / med, "rate_min": units / worst, "rate_max": units / best}


def engine_rate(
    runs: list[Prepared], threads: int, repeats: int, sparse: bool | None = None
) -> dict[str, float]:
    """Network-steps/s of one ``train_many`` call (kernels loaded, evaluation included)."""
    train_many([runs[0]], threads=threads, sparse=sparse)  # load kernels, build sparse cache
    steps = sum(r.order.size for r in runs)
    return rates(steps, median_time(lambda: train_many(runs, threads=threads, sparse=sparse),
                                    repeats))  # fmt: skip


@numba.njit(parallel=True)
def _burn(n: int, out: np.ndarray) -> None:
    for k in numba.prange(out.size):
        acc = 0.0
        for i in range(n):
            acc += np.sin(i * 1e-3 + k)
        out[k] = acc


def parallel_check(threads: int) -> float:
    """Effective cores right now: speed-up of ``threads`` equal compute tasks on ``threads``
    threads over one thread. Other people's jobs on a shared machine show up here."""
    old = numba.get_num_threads()
    try:
        _burn(10, np.zeros(threads))
        numba.set_num_threads(1)
        t1 = best_of(lambda: _burn(3_000_000, np.zeros(threads)), repeats=3)
        numba.set_num_threads(threads)
        tn = best_of(lambda: _burn(3_000_000, np.zeros(threads)), repeats=3)
    finally:
        numba.set_num_threads(old)
    return t1 / tn


def best_of(fn: Callable[[], Any], repeats: int = 200) -> float:
    """Minimum seconds of ``fn`` over ``repeats`` calls (micro-benchmarks)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def side_by_side(
    reference: Callable[[Prepared], Any], fast: Callable[[Prepared], Any], run: Prepared,
    ref_steps: int, fast_steps: int, repeats: int,
) -> tuple[dict[str, float], float]:  # fmt: skip
    """(compiled rates, reference rate) of two one-network trainers of ``run``, one core each.

    Both are warmed up on 32 steps (numba's cache, torch's first calls); the slow reference
    is timed once on ``ref_steps``, the compiled one ``repeats`` times on ``fast_steps``.
    Rates are steps of ``run`` (items) per wall second.
    """
    warm, ref_run, fast_run = (training_only(run, n) for n in (32, ref_steps, fast_steps))
    fast(warm)
    with torch_threads(1):
        reference(warm)
        t_ref = median_time(lambda: reference(ref_run), 1)[0]
    return rates(fast_steps, median_time(lambda: fast(fast_run), repeats)), ref_steps / t_ref


# ----------------------------------------------------------------------------- naive loop


def naive_rate(run: Prepared, steps: int) -> float:
    """Network-steps/s of the plain autograd loop on one thread (after 20 warm-up steps).

    The loop is what a newcomer writes with the reference modules: ``nn.LeakyNet`` (autograd
    does the gradient, H(n-1) detached) and ``train.make_optimizer``.
    """
    with torch_threads(1):
        s = run.settings
        h = run.leak.size
        net = LeakyNet(run.X.shape[1], h, run.targets.shape[1], run.leak, s.leak_grad)
        net.load_params(run.params)
        opt = make_optimizer(net.parameters(), s)
        X = torch.from_numpy(np.array(run.X))
        targets = torch.from_numpy(np.array(run.targets))
        resets = torch.from_numpy(np.array(run.resets))  # [T, groups]: the layer maps units
        start, memory = 0.0, None
        for t in range(steps + 20):
            if t == 20:
                start = time.perf_counter()
            item = int(run.order[t % run.order.size])
            logits, memory = net(X[item], memory, resets[t % run.order.size])
            out = torch.softmax(logits, -1) if s.output == "softmax" else torch.sigmoid(logits)
            loss = F.mse_loss(out, targets[item])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return steps / (time.perf_counter() - start)


# ----------------------------------------------------------------------------- roofline


def roofline(X: np.ndarray, order: np.ndarray) -> dict[str, float]:
    """One W1 pass on this CPU (one thread): matvec, rank-1 update, and the sparse bound.

    The dense step must read W1 for the forward pass and read+write it for the update; with
    sparse inputs only the rows of non-zero pixels are needed, so the bound of a sparse step
    is density x (matvec + rank-1). The engine fuses the update with the next forward pass
    (one visit per row of the union of two items' pixels), which can beat that bound.
    """
    d, h = X.shape[1], 392
    rng = np.random.default_rng(0)
    W = torch.from_numpy((rng.random((h, d), dtype=np.float32) - 0.5) * 0.1)
    x = torch.from_numpy(X[order[0]].copy())
    u = torch.from_numpy(rng.random(h, dtype=np.float32) * 1e-3)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t_mv_torch = best_of(lambda: torch.mv(W, x))
        t_r1_torch = best_of(lambda: W.addr_(u, x, alpha=-0.01))
    finally:
        torch.set_num_threads(old)
    W1T = np.ascontiguousarray(W.numpy().T)
    b1 = np.zeros(h, np.float32)
    pre = np.zeros(h, np.float32)
    dpre = u.numpy().copy()
    ptr, idx, val = csr(X[order[:2001]])
    Xs = ro(np.ascontiguousarray(X[order[:2001]]))
    lr = np.float32(0.01)
    k = iter(range(10**9))

    def step(sparse: bool, fused: bool) -> None:
        i = next(k) % 2000
        sgd_w1(W1T, dpre, pre, b1, Xs, ptr, idx, val, i, i + 1 if fused else -1, sparse, lr)

    t_mv_numba = best_of(lambda: forward_w1(pre, W1T, b1, Xs, ptr, idx, val, 0, False))
    t_r1_numba = best_of(lambda: step(False, False))
    t_fused_dense = best_of(lambda: step(False, True))
    t_sparse_fused = best_of(lambda: step(True, True), repeats=2000)
    density = float(np.count_nonzero(X[order[:2000]]) / X[order[:2000]].size)
    nz = X[order[:2000]] != 0
    union = float((nz[:-1] | nz[1:]).mean())
    t_mv, t_r1 = min(t_mv_torch, t_mv_numba), min(t_r1_torch, t_r1_numba)
    bound = density * (t_mv + t_r1)
    return {
        "matvec_us_torch": 1e6 * t_mv_torch,
        "matvec_us_numba": 1e6 * t_mv_numba,
        "rank1_us_torch": 1e6 * t_r1_torch,
        "rank1_us_numba": 1e6 * t_r1_numba,
        "fused_dense_step_us": 1e6 * t_fused_dense,
        "sparse_fused_w1_us": 1e6 * t_sparse_fused,
        "density": density,
        "union_density_of_consecutive_items": union,
        "sparse_bound_us_per_step": 1e6 * bound,
        "sparse_roofline_steps_per_s_1core": 1 / bound,
        "sparse_roofline_steps_per_s_2cores": 2 / bound,
    }
