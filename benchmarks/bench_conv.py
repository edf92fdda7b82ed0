"""Conv net training speed: reference (one net, autograd per step) vs the fast path
(``engine.conv``: K nets stacked per step), on MNIST-shaped (28 x 28) and moving-set-shaped
(36 x 36) images.

Usage: ``python benchmarks/bench_conv.py [--steps N] [--sizes 1,4,8,16] [--threads 1,2]
[--before FILE [--pairs 4]]``. Inputs are random images at MNIST's density (19% of pixels
lit), so nothing needs downloading; the timing covers training steps (evaluation is two points
on 10 items). The load average is printed with the numbers: on a machine shared with other
work they are not benchmark results.

``--before FILE`` (another ``smoothlearn/engine/conv.py``, e.g. ``git show
7a630c7:src/smoothlearn/engine/conv.py > /tmp/conv_before.py``) instead times one ensemble
of 8 networks on 32 x 32 images (the moving-objects study's), one thread, with that file's
``ConvEnsemble`` and this one's in alternating pairs, and says how far apart their weights
are at the end (or that they are equal bit for bit).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from bench_lstm_step import load_kernel  # the same directory

from smoothlearn.contract import Prepared, TrainSettings
from smoothlearn.convnet import init_conv_params
from smoothlearn.engine.conv import ConvEnsemble, train_conv_many
from smoothlearn.machine import cpu_info
from smoothlearn.nn import reset_flags
from smoothlearn.train import train_conv_reference


def make_runs(side: int, count: int, steps: int, hidden: int = 128) -> list[Prepared]:
    """``count`` conv-leaky-localreset runs (RMSprop, MSE) on random images of ``side``."""
    rng = np.random.default_rng(0)
    d = side * side
    X = np.where(rng.random((2000, d)) < 0.19, rng.random((2000, d), dtype=np.float32), 0)
    X = X.astype(np.float32)
    labels = rng.integers(0, 10, 2000)
    out = []
    for seed in range(count):
        order = np.random.default_rng(seed).integers(0, 2000, steps)
        out.append(Prepared(
            X=X, targets=np.eye(10, dtype=np.float32)[labels], labels=labels, order=order,
            resets=reset_flags("input-change", X[order]),
            params=init_conv_params(d, hidden, 10, seed), leak=np.full(hidden, 0.5, np.float32),
            eval_steps=np.array([0, steps]), X_eval=X[:10],
            targets_eval=np.eye(10, dtype=np.float32)[labels[:10]], labels_eval=labels[:10],
            eval_resets=None, settings=TrainSettings(optimizer="rmsprop", lr=0.001),
        ))
    return out


def rate(train, runs: list[Prepared]) -> float:
    """Network-steps per second of ``train(runs)``."""
    start = time.perf_counter()
    train(runs)
    return sum(r.steps for r in runs) / (time.perf_counter() - start)


def side_by_side(before: ModuleType, pairs: int, steps: int = 60) -> None:
    """One ensemble of 8 networks (32 x 32) with the ``ConvEnsemble`` before and this one's,
    ``steps`` steps each in turn; ms per ensemble step, and whether the weights agree."""
    runs = make_runs(32, 8, 30 + pairs * steps)
    ensembles = {"before": before.ConvEnsemble(runs), "now": ConvEnsemble(runs)}
    for ensemble in ensembles.values():
        ensemble.train(0, 30)  # warm-up
    ratios = []
    for p in range(pairs):
        ms = {}
        for name, ensemble in ensembles.items():
            start = time.perf_counter()
            ensemble.train(30 + p * steps, 30 + (p + 1) * steps)
            ms[name] = 1e3 * (time.perf_counter() - start) / steps
        ratios.append(ms["before"] / ms["now"])
        print(f"ms per step of 8 networks: before {ms['before']:.2f}, now {ms['now']:.2f}, "
              f"{ratios[-1]:.2f}x  load {os.getloadavg()[0]:.2f}", flush=True)
    a, b = (e.flat.detach().numpy() for e in ensembles.values())
    gap = "bit-identical" if np.array_equal(a, b) else (
        f"{np.max(np.abs(a - b)) / np.max(np.abs(a)):.1e} apart (largest gap / largest weight)")
    print(f"now faster by: median {np.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
          f"; weights after {30 + pairs * steps} steps {gap}")


def main() -> None:
    print(cpu_info().line(), flush=True)  # speed depends on it: say which CPU ran
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--sizes", default="1,4,8,16", help="networks per call of the fast path")
    parser.add_argument("--threads", default="1,2", help="worker threads of the fast path")
    parser.add_argument("--before", type=Path, help="an engine/conv.py to time against")
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    if args.before:
        torch.set_num_threads(1)
        side_by_side(load_kernel(args.before, "conv_before"), args.pairs)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    torch.set_num_threads(1)  # the reference on one thread: per-sample steps do not split
    print(f"cores {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}, "
          f"torch {torch.__version__}, {args.steps} steps per network")
    print(f"{'image':>7} {'path':>22} {'net-steps/s':>12} {'vs reference':>13}")
    for side in (28, 36):
        train_conv_reference(make_runs(side, 1, 20)[0])  # warm-up
        ref = rate(lambda rs: [train_conv_reference(r) for r in rs], make_runs(side, 2, args.steps))
        print(f"{side:>4}x{side:<2} {'reference':>22} {ref:>12.0f} {1:>12.1f}x")
        for t in threads:
            for k in sizes:
                if k < t:
                    continue
                fast = rate(lambda rs, t=t, k=k: train_conv_many(rs, t, max_ensemble=-(-k // t)),
                            make_runs(side, k, args.steps))
                label = f"fast, {k} nets, {t} thr"
                print(f"{side:>4}x{side:<2} {label:>22} {fast:>12.0f} {fast / ref:>12.1f}x")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
