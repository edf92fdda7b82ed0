"""Where an LSTM training step's time goes, and the kernel against an earlier one, side by side.

Usage: ``python benchmarks/bench_lstm_step.py [--before FILE] [--pairs 5] [--steps 5000]``.

The run is the bench's LSTM row (``smoothlearn bench``: 784-392-10, window 10, repeat-5
order, SGD, MSE; MNIST when ``SMOOTHLEARN_DATA`` has it, else random inputs of its density).
After 300 training steps, each piece of a step is timed alone (median of 200 calls, one
core): the backward products with ``W_hh``, the ``W_hh`` update with the next recurrent
product, the ``W_ih`` update with the next input product.

``--before FILE`` loads another version of ``smoothlearn/engine/lstm.py`` (for example
``git show 6b5f5c3:src/smoothlearn/engine/lstm.py > /tmp/lstm_before.py``) and trains the
run with it and with this checkout's kernel in turn, ``--pairs`` times: the ratio of each
pair is what a shared machine can measure; the load average is printed with it. The final
weights of the two kernels are compared too.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from smoothlearn.bench.cases import LSTM_BPTT, _memoryless_run
from smoothlearn.bench.workloads import mnist_workload, training_only
from smoothlearn.contract import Prepared
from smoothlearn.engine import lstm
from smoothlearn.engine.arrays import csr
from smoothlearn.engine.codes import SGD

NO_RMSPROP = np.float32(0.0)  # alpha, eps, momentum: unused by SGD


def median_us(f: Callable[[], object], calls: int = 200) -> float:
    """Median wall time of ``calls`` calls of ``f``, in µs (after one warm-up call)."""
    f()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def parts(run: Prepared, hidden: int) -> dict[str, float]:
    """Each big piece of a step alone, on the state after 300 steps (weights left as they
    are: the updates run with learning rate 0)."""
    sch = lstm._LSTMSchedule(lstm.LSTMRun(run, hidden, LSTM_BPTT), csr(run.X))
    sch.train(0, 300)
    Wx, Wh = sch.P[0], sch.P[1]
    acts, TC, Cin, Hin = sch.history
    G, H = Wh.shape
    D = np.zeros((LSTM_BPTT, G), np.float32)
    dh = np.random.default_rng(0).standard_normal(H).astype(np.float32) * 1e-2
    lstm._backward(acts, TC, Cin, Wh, dh.copy(), LSTM_BPTT, D)
    zh, grad4, grad = np.zeros(G, np.float32), np.empty((4, H), np.float32), np.empty(G, np.float32)
    mark, dense = np.zeros(Wx.shape[0], np.int8), np.zeros((LSTM_BPTT, Wx.shape[0]), np.float32)
    dense_next, Px = np.zeros((1, Wx.shape[0]), np.float32), np.zeros((1, G), np.float32)
    items, zero = np.array([sch.order[299]], np.int64), np.float32(0.0)
    return {
        "backward: products with W_hh and cells": median_us(
            lambda: lstm._backward(acts, TC, Cin, Wh, dh.copy(), LSTM_BPTT, D)),
        "W_hh update + next recurrent product": median_us(
            lambda: lstm._update_wh_and_project(Wh, Wh, Wh, D, Hin, LSTM_BPTT, sch.hs, zh, grad4,
                                                SGD, zero, NO_RMSPROP, NO_RMSPROP, NO_RMSPROP)),
        "W_ih update + next input product": median_us(
            lambda: lstm._sgd_wx_and_project(Wx, sch.train_rows, sch.window, LSTM_BPTT, D, items,
                                             1, Px, mark, dense, dense_next, grad, zero)),
    }  # fmt: skip


def load_kernel(path: Path, name: str = "lstm_before") -> ModuleType:
    """An engine module of another commit (``engine/lstm.py`` by default), as a module of
    its own named ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def side_by_side(run: Prepared, hidden: int, before: ModuleType, pairs: int) -> None:
    """Train ``run`` with the kernel before and this one in turn; print each pair's rates."""
    kernels = {"before": before.train_lstm_fast, "now": lstm.train_lstm_fast}
    for train in kernels.values():
        train(training_only(run, 32), hidden, LSTM_BPTT)
    ratios = []
    for _ in range(pairs):
        rates = {}
        for name, train in kernels.items():
            start = time.perf_counter()
            train(run, hidden, LSTM_BPTT)
            rates[name] = run.order.size / (time.perf_counter() - start)
        ratios.append(rates["now"] / rates["before"])
        print(f"before {rates['before']:,.0f}  now {rates['now']:,.0f} steps/s  "
              f"ratio {ratios[-1]:.3f}  load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"now / before: median {np.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]")
    a = before.train_lstm_fast(run, hidden, LSTM_BPTT).final_params
    b = lstm.train_lstm_fast(run, hidden, LSTM_BPTT).final_params
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    print(f"final weights: max |difference| {worst:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="an engine/lstm.py to time against")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args()
    wl = mnist_workload(False, test_items=1000)
    full = _memoryless_run(wl, "repeat-5", max(args.steps, 300))
    print(f"data: {wl.source}; load average {os.getloadavg()[0]:.2f}")
    for name, us in parts(training_only(full, 300), wl.hidden).items():
        print(f"{name:42s} {us:8.1f} µs")
    if args.before:
        side_by_side(training_only(full, args.steps), wl.hidden, load_kernel(args.before),
                     args.pairs)


if __name__ == "__main__":
    main()
