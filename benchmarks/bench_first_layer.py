"""The evaluation's first layer on one core: vector width, row alignment, cache level.

Usage: ``python benchmarks/bench_first_layer.py [--repeats 5]``. Times ``pre = W1 x + b1`` for
every item of the MNIST test set (random inputs of its density when ``SMOOTHLEARN_DATA`` has
no MNIST), 784-392, one thread, in four forms, and the whole memory-off evaluation kernel of
before issue 13 with ``W1``'s rows at each 16-byte offset from a cache line:

- 256-bit: ``kernels.forward_w1_csr`` (the training path's first layer), a plain array;
- 512-bit, plain array: ``kernels.forward_w1_wide`` on rows of 392 floats (1,568 bytes), so
  every other row starts mid-line and its 64-byte loads straddle two lines;
- 512-bit, aligned: the same on rows padded to 400 floats on 64-byte lines (what the
  evaluation does, ``arrays.aligned_rows``);
- the same with every item's pixels folded onto eight rows (a diagnostic, not a result: the
  rows then stay in L1, which shows what streaming them from L2 costs).

Every form must give the same sums bit for bit; the script checks that. The load average is
printed with the numbers: on a machine shared with other work they are not benchmark results.
"""

from __future__ import annotations

import argparse
import functools
import os

import numpy as np
from numba import njit

from smoothlearn.bench.cases import load_before
from smoothlearn.bench.timing import median_time
from smoothlearn.bench.workloads import mnist_workload
from smoothlearn.engine.arrays import aligned_copy, csr
from smoothlearn.engine.kernels import forward_w1_csr, forward_w1_wide
from smoothlearn.engine.runtime import numba_threads
from smoothlearn.machine import cpu_info


@njit(nogil=True)
def _all_items(first_layer, out, W1T, b1, ptr, idx, val):
    """``out[i] = W1 x_i + b1`` for every CSR row, through ``first_layer``."""
    for i in range(ptr.shape[0] - 1):
        first_layer(out[i], W1T, b1, ptr, idx, val, i)


def main() -> None:
    print(cpu_info().line(), flush=True)  # speed depends on it: say which CPU ran
    # the kernel before issue 13, loaded under the one module name smoothlearn bench gives it:
    # numba's on-disk cache of this folder keeps the name, and another one fails to load it
    before_module = load_before()
    assert before_module is not None, "benchmarks/before.py lies beside this script"
    at_offset, evaluate_before = before_module.at_offset, before_module.evaluate_before
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    wl = mnist_workload(False, 10_000)
    run = wl.runs(1, 1)[0]
    ptr, idx, val = csr(np.ascontiguousarray(wl.X_test, np.float32))
    W1T = np.ascontiguousarray(np.asarray(run.params["W1"], np.float32).T)
    b1 = np.asarray(run.params["b1"], np.float32)
    aligned = aligned_copy(W1T)
    plain = at_offset(W1T, 32)  # rows alternate 32 and 0 bytes past a line
    forms = {
        "256-bit, plain array": (forward_w1_csr, plain, idx),
        "512-bit, plain array": (forward_w1_wide, plain, idx),
        "512-bit, aligned rows": (forward_w1_wide, aligned, idx),
        "512-bit, aligned, rows in L1 (diagnostic)": (forward_w1_wide, aligned, idx % 8),
    }
    m, h = len(wl.X_test), W1T.shape[1]
    print(f"data: {wl.source}; {m:,} items, {idx.size / m:.0f} lit pixels each, 784-{h}; "
          f"load average {os.getloadavg()[0]:.2f}; median of {args.repeats}")  # fmt: skip
    print("| first layer, one core | ms per 10,000 items | same sums |")
    print("|---|---|---|")
    want = None
    for name, (first_layer, W, cols) in forms.items():
        out = np.zeros((m, h), np.float32)
        call = functools.partial(_all_items, first_layer, out, W, b1, ptr, cols, val)
        call()  # compile or load, warm up
        t = median_time(call, args.repeats)[0]
        want = out.copy() if want is None else want
        same = "—" if cols is not idx else ("yes" if np.array_equal(out, want) else "NO")
        print(f"| {name} | {1e3 * t:.1f} | {same} |")
    print("\n| evaluation kernel before issue 13, one core | ms per network-evaluation |")
    print("|---|---|")
    with numba_threads(1):
        for offset in (0, 16, 32, 48):
            before = evaluate_before([run], offset)
            before(1)
            t = median_time(functools.partial(before, 1), args.repeats)[0]
            print(f"| W1's rows from {offset} bytes past a 64-byte line | {1e3 * t:.1f} |")


if __name__ == "__main__":
    main()
