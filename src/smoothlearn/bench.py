"""Benchmark the fast engine against the naive per-sample autograd loop, in one process.

Usage: ``smoothlearn bench [--quick] [--out DIR]`` (or ``python benchmarks/bench_engine.py``),
or :func:`run_benchmarks` from Python. Writes ``bench_engine.json`` and ``bench_engine.md`` to
DIR (default ``runs/bench``).

The unit is network-steps/s: one per-sample update of one network. The naive loop is what a
newcomer writes with the reference modules (``nn.LeakyNet`` + ``torch.optim.SGD`` or
``RMSprop``, one thread); the engine
trains a whole ensemble in one call. MNIST uses the real images when
``smoothlearn.data.load("mnist")`` finds them (``SMOOTHLEARN_DATA``), else random [0, 1]
inputs with 19% non-zeros. Timings on a shared machine are noisy: every figure is the median
of ``repeats`` runs, the spread is reported, and so is how many cores were really free.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch
from torch.nn import functional as F

from smoothlearn import data, streams
from smoothlearn.contract import Prepared, TrainSettings
from smoothlearn.engine import train_many
from smoothlearn.engine.arrays import csr, ro
from smoothlearn.engine.kernels import forward_w1, sgd_w1
from smoothlearn.nn import LeakyNet, init_params, reset_flags
from smoothlearn.train import make_optimizer

DEFAULT_OUT = Path("runs") / "bench"
FIG2_RUNS, FIG2_STEPS, FIG2_EVAL_EVERY, FIG2_EVAL_ITEMS = 75, 60_000, 1000, 10_000


# ----------------------------------------------------------------------------- workloads


@dataclass
class Workload:
    """One benchmark case: a dataset, a network shape and settings, built into runs."""

    name: str
    X: np.ndarray
    labels: np.ndarray
    X_test: np.ndarray
    labels_test: np.ndarray
    hidden: int
    leak: np.ndarray | float
    reset: str
    reset_groups: int
    condition: str
    task: str
    settings: TrainSettings
    source: str

    @property
    def shape(self) -> str:
        d_out = self.X.shape[1] if self.task == "reconstruct" else int(self.labels.max()) + 1
        return f"{self.X.shape[1]}-{self.hidden}-{d_out}"

    def runs(
        self, seeds: int, steps: int, eval_every: int | None = None, stream_every: int = 0
    ) -> list[Prepared]:
        """``seeds`` runs of ``steps`` steps; every ``stream_every``-th run evaluates streamed."""
        classify = self.task == "classify"
        d, n_out = self.X.shape[1], (int(self.labels.max()) + 1 if classify else self.X.shape[1])
        eye = np.eye(n_out, dtype=np.float32)
        targets = eye[self.labels] if classify else self.X
        targets_test = eye[self.labels_test] if classify else self.X_test
        no_labels = np.full(self.X.shape[0], -1)
        out = []
        for seed in range(seeds):
            order = streams.order(self.labels, self.condition, seed)
            order = np.resize(order, steps)  # repeat the epoch if more steps are asked for
            every = eval_every or steps
            streamed = stream_every > 0 and seed % stream_every == stream_every - 1
            out.append(
                Prepared(
                    X=self.X,
                    targets=targets,
                    labels=self.labels if classify else no_labels,
                    order=order,
                    resets=reset_flags(
                        self.reset, self.X[order], self.labels[order], self.reset_groups
                    ),
                    params=init_params(d, self.hidden, n_out, seed),
                    leak=np.broadcast_to(np.asarray(self.leak, np.float32), (self.hidden,)).copy(),
                    eval_steps=np.unique(np.r_[np.arange(0, steps, every), steps]),
                    X_eval=self.X_test,
                    targets_eval=targets_test,
                    labels_eval=self.labels_test if classify else np.full(len(self.X_test), -1),
                    eval_resets=(
                        reset_flags(self.reset, self.X_test, self.labels_test, self.reset_groups)
                        if streamed
                        else None
                    ),
                    settings=self.settings,
                    task=self.task,
                )
            )
        return out


def _read_only(*arrays: np.ndarray) -> None:
    """Like the library's datasets: read-only, so the engine may cache their sparse form."""
    for a in arrays:
        a.flags.writeable = False


def mnist_workload(quick: bool, test_items: int) -> Workload:
    """784-392-10, leak 0.5 with label resets (Fig 2's leaky+reset), MSE, SGD lr 0.01."""
    try:
        X, y = data.load("mnist")
        Xt, yt = data.load("mnist", "test")
        source = "MNIST"
    except Exception:  # noqa: BLE001 - any failure to find the files means: use random data
        rng = np.random.default_rng(0)
        n = 10_000 if quick else 60_000
        X = np.where(rng.random((n, 784)) < 0.19, rng.random((n, 784)), 0).astype(np.float32)
        y = rng.integers(0, 10, n)
        Xt = np.where(rng.random((10_000, 784)) < 0.19, rng.random((10_000, 784)), 0)
        Xt, yt = Xt.astype(np.float32), rng.integers(0, 10, 10_000)
        _read_only(X, y, Xt, yt)
        source = "random, 19% non-zero"
    return Workload(
        "mnist", X, y, Xt[:test_items], yt[:test_items], 392, 0.5, "label", 1, "repeat-3",
        "classify", TrainSettings(output="softmax", loss="mse", optimizer="sgd", lr=0.01), source,
    )  # fmt: skip


def synthetic_workload() -> Workload:
    """16-8-4 on the synthetic categories, leak 0.5 with label resets."""
    ds = data.load_dataset("synthetic-categories")
    return Workload(
        "synthetic", ds.X_train, ds.y_train, ds.X_test, ds.y_test, 8, 0.5, "label", 1,
        "repeat-3", "classify", TrainSettings(output="softmax", loss="mse", lr=0.01),
        "synthetic-categories",
    )  # fmt: skip


def autoencoder_workload() -> Workload:
    """6-3-6 autoencoder on the multiscale stream: leaks 0/0.3/0.6, input-change resets (G=3)."""
    ds = data.load_dataset("multiscale")
    no = np.zeros(len(ds.X_train), np.int64)
    return Workload(
        "autoencoder", ds.X_train, no, ds.X_test, np.zeros(len(ds.X_test), np.int64), 3,
        np.array([0.0, 0.3, 0.6]), "input-change", 3, "given", "reconstruct",
        TrainSettings(output="sigmoid", loss="mse", lr=0.01), "multiscale",
    )  # fmt: skip


# ----------------------------------------------------------------------------- naive loop


def naive_rate(run: Prepared, steps: int) -> float:
    """Network-steps/s of the plain autograd loop on one thread (after 20 warm-up steps).

    The loop is what a newcomer writes with the reference modules: ``nn.LeakyNet`` (autograd
    does the gradient, H(n-1) detached) and ``train.make_optimizer``.
    """
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
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
    finally:
        torch.set_num_threads(old_threads)


# ----------------------------------------------------------------------------- timing


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float, float]:
    """(median, min, max) wall seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def engine_rate(
    runs: list[Prepared], threads: int, repeats: int, sparse: bool | None = None
) -> dict[str, float]:
    """Network-steps/s of one ``train_many`` call (kernels loaded, evaluation included)."""
    train_many([runs[0]], threads=threads, sparse=sparse)  # load kernels, build sparse cache
    steps = sum(r.order.size for r in runs)
    med, best, worst = _median_time(
        lambda: train_many(runs, threads=threads, sparse=sparse), repeats
    )
    return {"rate": steps / med, "rate_min": steps / worst, "rate_max": steps / best}


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


# ----------------------------------------------------------------------------- cases


def _case(
    name: str, shape: str, K: int, steps: int, threads: int, eng: dict, naive: float,
    target: float, note: str,
) -> dict[str, Any]:  # fmt: skip
    ratio = eng["rate"] / naive
    return {
        "case": name, "shape": shape, "networks": K, "steps": steps, "threads": threads,
        "engine_steps_per_s": eng["rate"], "engine_min": eng["rate_min"],
        "engine_max": eng["rate_max"], "naive_steps_per_s": naive, "ratio": ratio,
        "target_ratio": target, "met": bool(target == 0 or ratio >= target), "note": note,
    }  # fmt: skip


def fig2_projection(wl: Workload, threads: int, rate: float, quick: bool) -> dict[str, float]:
    """Projected wall time of Fig 2: train at ``rate`` plus measured per-network evaluations.

    The evaluation cost comes from the difference between two ``train_many`` calls that only
    differ in their evaluation schedule (2 networks: one memory off, one streamed).
    """
    steps = 1000 if quick else 2000
    few = wl.runs(2, steps, stream_every=2)
    many = wl.runs(2, steps, eval_every=100, stream_every=2)
    train_many(few[:1], threads=threads)
    t_few, _, _ = _median_time(lambda: train_many(few, threads=threads), 1 if quick else 3)
    t_many, _, _ = _median_time(lambda: train_many(many, threads=threads), 1 if quick else 3)
    evals = 2 * (many[0].eval_steps.size - few[0].eval_steps.size)
    per_eval = max(t_many - t_few, 0.0) / evals * FIG2_EVAL_ITEMS / len(wl.X_test)
    n_evals = FIG2_STEPS // FIG2_EVAL_EVERY + 1
    train_s = FIG2_RUNS * FIG2_STEPS / rate
    eval_s = FIG2_RUNS * n_evals * per_eval
    return {
        "runs": FIG2_RUNS, "steps": FIG2_STEPS, "eval_every": FIG2_EVAL_EVERY,
        "eval_items": FIG2_EVAL_ITEMS, "eval_s_per_network_eval_wall": per_eval,
        "train_s": train_s, "eval_s": eval_s, "total_s": train_s + eval_s,
    }  # fmt: skip


def measure(quick: bool) -> dict[str, Any]:
    """Every case; returns a JSON-ready dict (see :func:`markdown` for the table)."""
    threads = min(2, os.cpu_count() or 1)
    repeats = 1 if quick else 3
    cores_before = parallel_check(threads)
    cases = []
    mnist = mnist_workload(quick, test_items=1000)
    T = 4000 if quick else 20_000
    runs = mnist.runs(2, T)
    naive = naive_rate(runs[0], 300 if quick else 2000)
    eng = engine_rate(runs, threads, repeats)
    cases.append(_case("MNIST leaky+reset, sparse", mnist.shape, 2, T, threads, eng, naive, 40,
                       f"data: {mnist.source}"))  # fmt: skip
    one = engine_rate(runs[:1], 1, repeats)
    cases.append(_case("MNIST, 1 network, 1 core", mnist.shape, 1, T, 1, one, naive, 0,
                       "sparse path"))  # fmt: skip
    dense = engine_rate(runs, threads, repeats, sparse=False)
    cases.append(_case("MNIST, dense path forced", mnist.shape, 2, T, threads, dense, naive, 0,
                       "sparse=False"))  # fmt: skip
    rms = replace(mnist, settings=replace(mnist.settings, optimizer="rmsprop", lr=0.001))
    rms_runs = rms.runs(2, T)  # steady state: >= 20k steps, past the averages' decay
    rms_naive = naive_rate(rms_runs[0], 300 if quick else 1000)
    rms_eng = engine_rate(rms_runs, threads, repeats)
    cases.append(_case("MNIST, RMSprop (momentum 0)", mnist.shape, 2, T, threads, rms_eng,
                       rms_naive, 0, f"naive: torch.optim.RMSprop; "
                       f"{rms_eng['rate'] / eng['rate']:.0%} of the SGD rate above "
                       "(target 40%)"))  # fmt: skip
    for wl, K, steps, naive_steps in (
        (synthetic_workload(), 100, 1200, 1200),
        (autoencoder_workload(), 50, 3000, 1000),
    ):
        runs_s = wl.runs(K, steps)
        nv = naive_rate(runs_s[0], 300 if quick else naive_steps)
        eng_s = engine_rate(runs_s, threads, repeats)
        cases.append(_case(f"{wl.name} x{K} seeds, 1 epoch", wl.shape, K, steps, threads, eng_s,
                           nv, 1000, f"data: {wl.source}"))  # fmt: skip
    full_test = mnist_workload(quick, test_items=FIG2_EVAL_ITEMS)
    fig2 = fig2_projection(full_test, threads, eng["rate"], quick)
    roof = roofline(mnist.X, runs[0].order)
    return {
        "machine": {
            "python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "processor": _cpu_name(), "torch": torch.__version__,
            "numpy": np.__version__, "numba": numba.__version__, "quick": quick,
            "repeats": repeats, "threads": threads,
            "effective_cores": [cores_before, parallel_check(threads)],
        },
        "cases": cases,
        "roofline": roof,
        "fig2_projection": fig2,
    }  # fmt: skip


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ----------------------------------------------------------------------------- report


def markdown(res: dict[str, Any]) -> str:
    """The results as Markdown tables (what docs/performance.md quotes)."""
    m = res["machine"]
    lines = [
        f"Machine: {m['processor']}, {m['cpu_count']} cores; torch {m['torch']}, "
        f"numpy {m['numpy']}, numba {m['numba']}; median of {m['repeats']} "
        f"(range in brackets){' — quick mode' if m['quick'] else ''}. Effective cores "
        f"(speed-up of {m['threads']} busy threads) before/after: "
        f"{m['effective_cores'][0]:.2f} / {m['effective_cores'][1]:.2f}.",
    ]
    if min(m["effective_cores"]) < 0.9 * m["threads"]:
        lines.append(
            f"\n**Warning:** other jobs shared the CPU during this run (effective cores "
            f"{min(m['effective_cores']):.2f} of {m['threads']}); multi-thread figures are low."
        )
    lines += [
        "",
        "| case | shape | networks × steps | threads | engine steps/s | naive steps/s "
        "| engine/naive | target | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in res["cases"]:
        target = f"≥{c['target_ratio']:g}× {'met' if c['met'] else 'NOT met'}"
        lines.append(
            f"| {c['case']} | {c['shape']} | {c['networks']} × {c['steps']:,} | {c['threads']} "
            f"| {c['engine_steps_per_s']:,.0f} [{c['engine_min']:,.0f}–{c['engine_max']:,.0f}] "
            f"| {c['naive_steps_per_s']:,.0f} | {c['ratio']:,.0f}× "
            f"| {target if c['target_ratio'] else '—'} | {c['note']} |"
        )
    r = res["roofline"]
    share = 100 * res["cases"][0]["engine_steps_per_s"] / r["sparse_roofline_steps_per_s_2cores"]
    lines += [
        "",
        "| roofline (1 thread, 392×784 W1) | µs |",
        "|---|---|",
        f"| matvec W1·x (torch / numba) "
        f"| {r['matvec_us_torch']:.1f} / {r['matvec_us_numba']:.1f} |",
        f"| rank-1 update W1 -= lr·u⊗x (torch / numba) "
        f"| {r['rank1_us_torch']:.1f} / {r['rank1_us_numba']:.1f} |",
        f"| engine dense step, update fused with next forward | {r['fused_dense_step_us']:.1f} |",
        f"| sparse bound: density {r['density']:.3f} × (matvec + rank-1) "
        f"| {r['sparse_bound_us_per_step']:.1f} |",
        f"| engine sparse W1 work per step (union density "
        f"{r['union_density_of_consecutive_items']:.3f}) | {r['sparse_fused_w1_us']:.1f} |",
        "",
        f"Sparse roofline: {r['sparse_roofline_steps_per_s_1core']:,.0f} steps/s on one core, "
        f"{r['sparse_roofline_steps_per_s_2cores']:,.0f} on two; the 2-network MNIST ensemble "
        f"reached {res['cases'][0]['engine_steps_per_s']:,.0f} "
        f"({share:.0f}% of the 2-core roofline).",
    ]
    f = res["fig2_projection"]
    lines += [
        "",
        f"Fig 2 projection ({f['runs']} runs × {f['steps']:,} steps, evaluation every "
        f"{f['eval_every']:,} steps on {f['eval_items']:,} items): training {f['train_s']:.0f} s "
        f"+ evaluation {f['eval_s']:.0f} s ({1e3 * f['eval_s_per_network_eval_wall']:.1f} ms "
        f"wall per network-evaluation) = **{f['total_s'] / 60:.1f} min**.",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BenchResult:
    """What one benchmark run measured and where it was written."""

    results: dict[str, Any]  # JSON-ready: machine, cases, roofline, fig2_projection
    table: str  # the results as Markdown (what docs/performance.md quotes)
    json_path: Path
    markdown_path: Path


def run_benchmarks(quick: bool = False, out: Path = DEFAULT_OUT) -> BenchResult:
    """Run every case and write ``bench_engine.json`` and ``bench_engine.md`` to ``out``."""
    res = measure(quick)
    out.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = out / "bench_engine.json", out / "bench_engine.md"
    json_path.write_text(json.dumps(res, indent=2) + "\n")
    table = markdown(res)
    markdown_path.write_text(table)
    return BenchResult(res, table, json_path, markdown_path)
