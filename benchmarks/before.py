"""Memory-off evaluation as the engine did it before issue 13 (``git show 4af13af^``).

Frozen code, so it lives beside the benchmarks rather than in the installed package;
``smoothlearn bench`` loads it from a source checkout (``bench.cases.load_before``).

Kept only as a side-by-side baseline for the evaluation row's target ("at least 2x faster
than before, numbers unchanged"): this machine's speed has varied by a third between
sessions, so a time measured once is no yardstick, while a ratio taken in one run is.
The code is the old kernel's: per item, a gather of the non-zero pixels of the dense row,
then one ``W1`` row per pass over the pre-activations; the helpers it called are the
engine's current ones (unchanged since).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from smoothlearn.contract import Metrics, Prepared
from smoothlearn.engine.arrays import past_line
from smoothlearn.engine.codes import FASTMATH, OUTPUTS
from smoothlearn.engine.kernels import logits, metrics_add, relu

__all__ = ["FRESH_ARRAY_OFFSET", "at_offset", "evaluate_before"]

_BEFORE = dict(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)


@njit(**_BEFORE)
def _forward_nonzero(pre, W1T, b1, X, item, nz):
    """pre = W1 x + b1 for a dense row, skipping its zero elements (``nz`` is scratch [d])."""
    d = X.shape[1]
    n = 0
    for c in range(d):  # branch-free gather of the non-zero inputs
        nz[n] = c
        n += X[item, c] != 0
    for j in range(pre.shape[0]):
        pre[j] = b1[j]
    for p in range(n):
        c = nz[p]
        xv = X[item, c]
        for j in range(pre.shape[0]):
            pre[j] += W1T[c, j] * xv


@njit(**_BEFORE)
def _evaluate_off(X, W1T, b1, W2, b2, tgt, lab, out_kind, classify, out):
    """Test MSE, CE and accuracy of one network, memory off, item by item."""
    m, d = X.shape
    h = b1.shape[0]
    o = b2.shape[0]
    pre = np.empty(h, np.float32)
    H = np.zeros(h, np.float32)
    z = np.empty(o, np.float32)
    ez = np.empty(o, np.float32)
    nz = np.empty(d, np.int64)
    sums = np.zeros(3)
    for i in range(m):
        _forward_nonzero(pre, W1T, b1, X, i, nz)
        for j in range(h):
            H[j] = relu(pre[j])
        logits(z, W2, b2, H)
        metrics_add(z, ez, tgt, i, lab[i], out_kind, classify, sums)
    out[0] = sums[0] / (m * o)
    out[1] = sums[1] / m if classify else np.nan
    out[2] = sums[2] / m if classify else np.nan


#: Where a fresh large numpy array starts on this machine's glibc (an mmap'd block plus its
#: 16-byte header): the layout of the engine's stacked weights in a fresh process.
FRESH_ARRAY_OFFSET = 16


def at_offset(a: np.ndarray, offset: int) -> np.ndarray:
    """A C-contiguous float32 copy of ``a`` starting ``offset`` bytes past a 64-byte line.

    The old kernel's 256-bit loads cost more when ``W1``'s rows straddle cache lines (about
    15% here), and where a numpy array starts is up to the allocator, so the baseline pins it.
    """
    out = past_line(a.size, offset).reshape(a.shape)
    out[...] = a
    return out


def evaluate_before(
    runs: Sequence[Prepared], offset: int = 0
) -> Callable[[int], list[Metrics]]:
    """A function ``(threads) -> metrics`` evaluating each run's initial network on its test
    set, memory off, ``threads`` networks at once; the arrays are laid out beforehand, as the
    engine kept them, so that only the kernel is timed. ``offset``: where ``W1``'s first row
    starts past a 64-byte line (0, the kernel's best case; :data:`FRESH_ARRAY_OFFSET`, the
    engine's layout in a fresh process)."""
    if offset not in (0, 16, 32, 48):
        raise ValueError(f"offset must be 0, 16, 32 or 48 bytes, not {offset!r}")
    f32 = np.float32
    jobs = [(
        np.ascontiguousarray(r.X_eval, f32),
        at_offset(np.asarray(r.params["W1"], f32).T, offset),
        np.asarray(r.params["b1"], f32), np.ascontiguousarray(r.params["W2"], f32),
        np.asarray(r.params["b2"], f32), np.ascontiguousarray(r.targets_eval, f32),
        np.asarray(r.labels_eval, np.int64), OUTPUTS[r.settings.output], r.task == "classify",
    ) for r in runs]  # fmt: skip

    def one(args: tuple) -> Metrics:
        out = np.zeros(3)
        _evaluate_off(*args, out)
        return float(out[0]), float(out[1]), float(out[2])

    def evaluate(threads: int) -> list[Metrics]:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(one, jobs))

    return evaluate
