"""What one more test set of a trained network costs: Fig 2's shared tests on one core.

Usage: ``python benchmarks/bench_shared_tests.py [--repeats 7]`` (needs MNIST under
``SMOOTHLEARN_DATA``). A Fig 2 feedforward network trained on a repeat-5 stream is scored on
one, two and three of its test sets, as the engine scores a shared training's tests at every
evaluation point (``engine.evaluate``): memory off; streamed in the training order with label
resets and memory switched on only at test over the hidden states; and the same over the
outputs. With several test sets the first layer is computed once per test item
(``engine.kernels.eval_shared``), so each further set costs only its memory and output layer.
The last line is the share of one evaluation that a further set costs, which the projection
uses (``smoothlearn.projection.SHARED_TEST_COST``).

One thread; median and minimum of ``--repeats`` calls. The load average is printed: on a
machine shared with other work the numbers are not benchmark results.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from smoothlearn.engine.evaluate import eval_groups, evaluate
from smoothlearn.experiments import load_experiment
from smoothlearn.machine import cpu_info
from smoothlearn.runs import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(cpu_info().line())
    print(f"load average {os.getloadavg()[0]:.2f}")
    configs = [c for c in load_experiment("fig2").runs(seeds=1)
               if c.model == "feedforward" and str(c.condition) == "repeat-5"]
    preps = [prepare(c) for c in configs]  # off; streamed, hidden; streamed, output
    p = preps[0].params
    params = (np.ascontiguousarray(p["W1"].T)[None], p["b1"][None], p["W2"][None], p["b2"][None])
    times = []
    for n in range(1, len(preps) + 1):
        groups = eval_groups(preps[:n], nets=[0] * n)
        evaluate(groups, np.array([0]), params, "softmax", True, 1)  # compile, warm
        ts = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            evaluate(groups, np.array([0]), params, "softmax", True, 1)
            ts.append(time.perf_counter() - start)
        times.append(float(np.median(ts)))
        names = ", ".join(f"{c.test_mode}/{c.test_memory}" for c in configs[:n])
        print(f"{n} test set(s) ({names}): {1e3 * times[-1]:.1f} ms median, "
              f"{1e3 * min(ts):.1f} ms min, {preps[0].X_eval.shape[0]:,} items each")
    extra = [(b - a) / times[0] for a, b in zip(times, times[1:], strict=False)]
    print("a further test set costs " + ", ".join(f"{e:.2f}" for e in extra)
          + " of one evaluation")


if __name__ == "__main__":
    main()
