"""An LSTM's evaluation on one and on two test streams, and against an earlier kernel.

Usage: ``python benchmarks/bench_lstm_eval.py [--before FILE] [--pairs 5] [--items 10000]``.

Fig A.8 scores every LSTM training on two test streams at each of its 61 points: streamed in
its training order (the run's own) and on one common random-order stream (a shared
training's test, :class:`smoothlearn.contract.SharedTests`). This times one evaluation point
of the bench's LSTM (784-392-10, as Fig A.8; MNIST's test set when ``SMOOTHLEARN_DATA`` has
it, else random inputs of its density) after 300 training steps, on one core:

- the run's own stream alone (``engine.lstm._evaluate_kernel``);
- both streams as a training scores them (one pass: ``W_hh`` read once per item for both);
- with ``--before FILE`` (another ``smoothlearn/engine/lstm.py``, e.g.
  ``git show 40e179b:src/smoothlearn/engine/lstm.py > /tmp/lstm_before.py``), that kernel's
  two streams (in one pass where it has one, else one after the other), in alternating
  pairs with this one, and the largest difference of their metrics.

It also checks that each stream's metrics are the same, bit for bit, scored together or alone.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from bench_lstm_step import load_kernel  # the same directory

from smoothlearn.bench.cases import LSTM_BPTT, _memoryless_run
from smoothlearn.bench.timing import best_of
from smoothlearn.bench.workloads import mnist_workload, training_only
from smoothlearn.contract import Prepared
from smoothlearn.engine import lstm
from smoothlearn.engine.arrays import csr
from smoothlearn.machine import cpu_info


def streams(run: Prepared) -> list[Prepared]:
    """The run's own test stream and the same items in a random order, both streamed and
    both naming their rows of one base array, as ``runs.prepare`` builds Fig A.8's tests (so
    the items are known to be the same without comparing them)."""
    n = run.X_eval.shape[0]
    base, rows = run.test_rows()
    own = replace(run, eval_resets=np.zeros(n, np.bool_), eval_base=base, eval_items=rows)
    order = np.random.default_rng(1).permutation(n)
    common = replace(own, X_eval=np.ascontiguousarray(run.X_eval[order]),
                     eval_items=rows[order],
                     targets_eval=np.ascontiguousarray(run.targets_eval[order]),
                     labels_eval=np.ascontiguousarray(run.labels_eval[order]))  # fmt: skip
    return [own, common]


def two_streams_before(before, tests: list[Prepared], P) -> Callable[[], list]:
    """The earlier kernel's scoring of both streams, in its own API: one pass where it has
    ``_TestStreams`` (from f8f3035), else one stream after the other."""
    if hasattr(before, "_TestStreams"):
        joint = before._TestStreams(tests)
        return lambda: joint.evaluate(P)
    rows = [csr(p.X_eval) for p in tests]  # its signature takes them
    return lambda: [before._evaluate_kernel(p, P, r) for p, r in zip(tests, rows, strict=True)]


def main() -> None:
    print(cpu_info().line(), flush=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="an engine/lstm.py to time against")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    wl = mnist_workload(False, test_items=args.items)
    run = _memoryless_run(wl, "repeat-5", 300)
    trained = training_only(run, 300)
    sch = lstm._LSTMSchedule(lstm.LSTMRun(trained, wl.hidden, LSTM_BPTT), csr(trained.X))
    sch.train(0, 300)
    own, common = streams(run)
    alone = [lstm._evaluate_kernel(p, sch.P) for p in (own, common)]
    joint = lstm._TestStreams([own, common])
    together = joint.evaluate(sch.P)
    print(f"data: {wl.source}, "
          f"{own.X_eval.shape[0]:,} test items; load average {os.getloadavg()[0]:.2f}")
    print(f"each stream scored together == alone, bit for bit: {together == alone}")
    single = lstm._TestStreams([own])
    one = best_of(lambda: single.evaluate(sch.P), 3)
    two = best_of(lambda: joint.evaluate(sch.P), 3)
    print(f"one stream {one * 1e3:.0f} ms; two streams in one pass {two * 1e3:.0f} ms "
          f"({two / one:.2f}x one)")
    if args.before:
        score_before = two_streams_before(load_kernel(args.before), [own, common], sch.P)
        old = score_before()
        worst = max(abs(a - b) / max(abs(b), 1e-30) for x, y in zip(old, together, strict=True)
                    for a, b in zip(x, y, strict=True))
        print(f"metrics against the kernel before: max relative difference {worst:.2e}")
        ratios = []
        for _ in range(args.pairs):
            start = time.perf_counter()
            score_before()
            t_before = time.perf_counter() - start
            start = time.perf_counter()
            joint.evaluate(sch.P)
            t_now = time.perf_counter() - start
            ratios.append(t_before / t_now)
            print(f"two streams: before {t_before * 1e3:.0f} ms, now {t_now * 1e3:.0f} ms, "
                  f"{ratios[-1]:.2f}x  load {os.getloadavg()[0]:.2f}", flush=True)
        print(f"now faster by: median {np.median(ratios):.2f}x "
              f"[{min(ratios):.2f}-{max(ratios):.2f}]")


if __name__ == "__main__":
    main()
