"""The evaluation's first layer on one core: vector width, row alignment, cache level.

Usage: ``python benchmarks/bench_first_layer.py [--repeats 5]``. Times ``pre = W1 x + b1`` for
every item of the MNIST test set (random inputs of its density when ``SMOOTHLEARN_DATA`` has
no MNIST), 784-392, one thread, in the forms below, and the whole memory-off evaluation kernel of
before issue 13 with ``W1``'s rows at each 16-byte offset from a cache line:

- 256-bit: ``kernels.forward_w1_csr`` (the training path's first layer), a plain array;
- 512-bit, plain array: ``kernels.forward_w1_wide`` on rows of 392 floats (1,568 bytes), so
  every other row starts mid-line and its 64-byte loads straddle two lines;
- 512-bit, aligned: the same on rows padded to 400 floats on 64-byte lines (what the
  evaluation does, ``arrays.aligned_rows``);
- the same with every item's pixels folded onto eight rows (a diagnostic, not a result: the
  rows then stay in L1, which shows what streaming them from L2 costs);
- the same with every item's pixels folded onto as many rows as fill half of this CPU's L2
  (a diagnostic: whether ``W1`` fitting in L2 would pay, i.e. whether a kernel that tiles
  ``W1`` by the L2 size could win; ``smoothlearn.kernel_choice``).

The issue that allowed a numerically different evaluation suggested BLAS over the pixels lit
in many items plus the sparse pass for the rest; the second table times that split (BLAS:
``torch.mm`` on one thread over the pixels lit in more than a share of the test items, the
512-bit sparse pass adding the rest) at several shares, with BLAS over every pixel, and the
largest relative difference of its sums from the sparse pass's.

Each form is timed in wall time and in CPU time (one thread works): on a shared machine the
second is the steadier one. The last table times whole memory-off evaluations of one network
on one thread: the engine's (``engine.evaluate_many``, the kernel ``smoothlearn.kernel_choice``
picks, ``SMOOTHLEARN_EVAL_KERNEL`` forces) and the kernel from before issue 13's.

Every form must give the same sums bit for bit; the script checks that. The load average is
printed with the numbers: on a machine shared with other work they are not benchmark results.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable

import numpy as np
import torch
from numba import njit

from smoothlearn.bench.cases import load_before
from smoothlearn.bench.timing import median_time
from smoothlearn.bench.workloads import mnist_workload
from smoothlearn.engine import evaluate_many
from smoothlearn.engine.arrays import aligned_copy, csr
from smoothlearn.engine.kernels import forward_w1_csr, forward_w1_wide
from smoothlearn.engine.runtime import numba_threads, torch_threads
from smoothlearn.kernel_choice import eval_kernel
from smoothlearn.machine import cpu_info


@njit(nogil=True)
def _all_items(first_layer, out, W1T, b1, ptr, idx, val):
    """``out[i] = W1 x_i + b1`` for every CSR row, through ``first_layer``."""
    for i in range(ptr.shape[0] - 1):
        first_layer(out[i], W1T, b1, ptr, idx, val, i)


@njit(nogil=True)
def _add_sparse(out, W1T, dense, ptr, idx, val):
    """``out[i] = dense[i] + W1 x_i`` over CSR row ``i``'s pixels (the split's sparse part)."""
    for i in range(ptr.shape[0] - 1):
        forward_w1_wide(out[i], W1T, dense[i], ptr, idx, val, i)


def _split_forms(X: np.ndarray, W1T: np.ndarray, b1: np.ndarray,
                 aligned: np.ndarray) -> dict[str, Callable[[np.ndarray], None]]:
    """The first layer as BLAS over the pixels lit in more than a share of the items and the
    sparse pass over the rest, by share (1.0: all sparse is the table above; 0: all BLAS)."""
    lit = (X != 0).mean(axis=0)
    bias = torch.from_numpy(b1)
    forms = {}
    for share in (0.0, 0.3, 0.4, 0.5, 0.6):
        cols, rest = np.flatnonzero(lit > share), np.flatnonzero(lit <= share)
        Xd = torch.from_numpy(np.ascontiguousarray(X[:, cols]))
        Wd = torch.from_numpy(np.ascontiguousarray(W1T[cols]))
        Xr = np.zeros_like(X)
        Xr[:, rest] = X[:, rest]
        ptr, idx, val = csr(Xr)
        dense = torch.empty(X.shape[0], W1T.shape[1])

        def split(out: np.ndarray, Xd=Xd, Wd=Wd, ptr=ptr, idx=idx, val=val, dense=dense) -> None:
            torch.addmm(bias, Xd, Wd, out=dense)
            _add_sparse(out, aligned, dense.numpy(), ptr, idx, val)

        name = (f"BLAS over the {cols.size} pixels lit in > {share:.0%} of items "
                f"({np.count_nonzero(X[:, cols]) / np.count_nonzero(X):.0%} of the non-zeros), "
                "sparse pass for the rest")  # fmt: skip
        forms[name] = split
    return forms


def _cpu_time(call: functools.partial, repeats: int) -> float:
    """Median CPU seconds of this process over ``repeats`` calls: with one thread at work, the
    time it spent on a core, however many other jobs share the machine."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return float(np.median(times))


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
    l2_bytes = 1024 * (cpu_info().l2_kib or 1024)
    half_l2 = max(8, min(W1T.shape[0], l2_bytes // 2 // aligned[0].nbytes))
    plain = at_offset(W1T, 32)  # rows alternate 32 and 0 bytes past a line
    forms = {
        "256-bit, plain array": (forward_w1_csr, plain, idx),
        "512-bit, plain array": (forward_w1_wide, plain, idx),
        "512-bit, aligned rows": (forward_w1_wide, aligned, idx),
        "512-bit, aligned, rows in L1 (diagnostic)": (forward_w1_wide, aligned, idx % 8),
        f"512-bit, aligned, rows in half the L2 ({half_l2} rows, diagnostic)":
            (forward_w1_wide, aligned, (idx % half_l2 + (784 - half_l2) // 2).astype(idx.dtype)),
    }
    m, h = len(wl.X_test), W1T.shape[1]
    print(f"data: {wl.source}; {m:,} items, {idx.size / m:.0f} lit pixels each, 784-{h}; "
          f"load average {os.getloadavg()[0]:.2f}; median of {args.repeats}")  # fmt: skip
    print("| first layer, one core | ms per 10,000 items | CPU ms of the process | same sums |")
    print("|---|---|---|---|")
    want = None
    for name, (first_layer, W, cols) in forms.items():
        out = np.zeros((m, h), np.float32)
        call = functools.partial(_all_items, first_layer, out, W, b1, ptr, cols, val)
        call()  # compile or load, warm up
        t = median_time(call, args.repeats)[0]
        cpu = _cpu_time(call, args.repeats)
        want = out.copy() if want is None else want
        same = "—" if cols is not idx else ("yes" if np.array_equal(out, want) else "NO")
        print(f"| {name} | {1e3 * t:.1f} | {1e3 * cpu:.1f} | {same} |")
    print("\n| first layer split, one core | ms per 10,000 items | CPU ms of the process "
          "| max relative difference from the sparse pass |")
    print("|---|---|---|---|")
    X = np.ascontiguousarray(wl.X_test, np.float32)
    with torch_threads(1):
        for name, split in _split_forms(X, W1T, b1, aligned).items():
            out = np.zeros((m, h), np.float32)
            call = functools.partial(split, out)
            call()
            t, cpu = median_time(call, args.repeats)[0], _cpu_time(call, args.repeats)
            rel = np.abs(out - want).max() / np.abs(want).max()
            print(f"| {name} | {1e3 * t:.1f} | {1e3 * cpu:.1f} | {rel:.1e} |")
    print("\n| whole evaluation, one network, one core | ms per network-evaluation "
          "| CPU ms of the process |")
    print("|---|---|---|")
    with numba_threads(1):
        engine = functools.partial(evaluate_many, [run], threads=1)
        engine()  # compile or load, cache the test set's CSR form
        t, cpu = median_time(engine, args.repeats)[0], _cpu_time(engine, args.repeats)
        print(f"| the engine now ({eval_kernel().name} kernel) | {1e3 * t:.1f} "
              f"| {1e3 * cpu:.1f} |")
        for offset in (0, 16, 32, 48):
            before = functools.partial(evaluate_before([run], offset), 1)
            before()
            t, cpu = median_time(before, args.repeats)[0], _cpu_time(before, args.repeats)
            print(f"| the kernel before issue 13, W1's rows from {offset} bytes past a "
                  f"64-byte line | {1e3 * t:.1f} | {1e3 * cpu:.1f} |")

if __name__ == "__main__":
    main()
