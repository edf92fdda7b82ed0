"""The engine's view of the input arrays: read-only float32 layouts, CSR, shared stacks.

Facts about the datasets' read-only arrays (their density, their sparse form) are computed
once and remembered while the array lives.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from smoothlearn.engine.kernels import csr_count, csr_fill

#: Facts about read-only arrays (the datasets'), kept while the array lives.
_CACHE: dict[tuple[int, str], tuple[weakref.ref, Any]] = {}


def cached(X: np.ndarray, what: str, build: Callable[[np.ndarray], Any]) -> Any:
    """``build(X)``, remembered for a read-only X (a writable X could change between calls)."""
    if X.flags.writeable:
        return build(X)
    key = (id(X), what)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is X:
        return hit[1]
    value = build(X)
    _CACHE[key] = (weakref.ref(X, lambda _: _CACHE.pop(key, None)), value)
    return value


def f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def ro(a: np.ndarray) -> np.ndarray:
    """A read-only view: numba compiles read-only and writable arrays separately, and the
    datasets are read-only, so every input-only array is passed read-only (one compile)."""
    view = np.ascontiguousarray(a).view()
    view.flags.writeable = False
    return view


def past_line(size: int, offset: int = 0, align: int = 64) -> np.ndarray:
    """Zeros float32 ``[size]`` starting ``offset`` bytes past an ``align``-byte boundary.

    Where numpy puts an array is up to the allocator; kernels whose loads cost more across
    cache lines (and benchmarks that must not depend on that luck) place it themselves.
    """
    buf = np.zeros(size + (align + offset) // 4, dtype=np.float32)
    start = (-buf.ctypes.data % align + offset) // 4
    return buf[start : start + size]


def aligned_rows(rows: int, cols: int, align: int = 64) -> np.ndarray:
    """Zeros ``[rows, >= cols]`` float32 whose rows start on ``align``-byte boundaries.

    The row length is padded to a multiple of ``align`` bytes; the caller uses the first
    ``cols`` columns.
    """
    per = align // 4
    width = -(-cols // per) * per
    return past_line(rows * width, 0, align).reshape(rows, width)


#: Work arrays kept per thread (:func:`scratch`).
_SCRATCH = threading.local()


def scratch(name: str, rows: int, cols: int, aligned: bool = False) -> np.ndarray:
    """A float32 work array ``[rows, cols]`` that this thread keeps and hands out again (the
    first ``rows`` rows of the one it has for ``name`` while ``cols`` is the same and ``rows``
    fit, else a new one in its place); ``aligned``: an :func:`aligned_rows` array, whose
    padding stays zero. Its contents are whatever the last caller left.

    Why: an evaluation needs megabytes of scratch per network and point (the first-layer sums
    of every test item, ``W1`` padded). Allocated per call, such arrays are mapped and
    page-faulted afresh whenever the allocator gives them back to the system in between,
    which a Dask worker's default heap trimming made it do every time. A thread keeps at most
    one array per name (about 17 MB in all for MNIST's evaluation; an LSTM's input products
    of the 10,000 test items, 63 MB at 392 units).
    """
    kept = getattr(_SCRATCH, name, None)
    if kept is None or kept[0] != (cols, aligned) or kept[1].shape[0] < rows:
        array = aligned_rows(rows, cols) if aligned else np.empty((rows, cols), np.float32)
        kept = ((cols, aligned), array)
        setattr(_SCRATCH, name, kept)
    return kept[1][:rows]


def rows_of_bases(tests: Sequence[tuple[np.ndarray, np.ndarray]]
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Test sets given as ``(base array, its rows)`` as rows of the bases stacked: each
    distinct base (by identity) once, in order of first use, and each set's rows offset into
    that stack. Sets on one base (every run of a dataset's test split) then name the same
    item by the same row, so work that depends only on the item is done once."""
    offsets: dict[int, int] = {}
    arrays: list[np.ndarray] = []
    rows = []
    for base, items in tests:
        if id(base) not in offsets:
            offsets[id(base)] = sum(a.shape[0] for a in arrays)
            arrays.append(base)
        rows.append(items + offsets[id(base)])
    return arrays, rows


def aligned_copy(a: np.ndarray) -> np.ndarray:
    """``a [rows, cols]`` copied into :func:`aligned_rows` (its first ``cols`` columns)."""
    out = aligned_rows(*a.shape)
    out[:, : a.shape[1]] = a
    return out


def csr(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pointers, column indices (sorted per row) and float32 values of X's non-zero
    elements: the one sparse form of the engine's inputs (kept while a read-only X lives: a
    dataset's array is shared by every run on it, and converting MNIST's takes a while)."""
    return cached(X, "csr", _build_csr)


def _build_csr(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = ro(X)
    ptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    csr_count(X, ptr)
    idx = np.empty(ptr[-1], dtype=np.int32)
    val = np.empty(ptr[-1], dtype=np.float32)
    csr_fill(X, ptr, idx, val)
    return ptr, idx, val


def density(X: np.ndarray) -> float:
    """Fraction of non-zero elements (cached for read-only arrays)."""
    return float(cached(X, "density", lambda a: np.count_nonzero(a) / max(a.size, 1)))


def row_share(X: np.ndarray) -> float:
    """Expected share of W1's rows one fused step touches: the union of two items' non-zero
    inputs (what a per-sample step costs, relative to a dense one)."""
    return 1.0 - (1.0 - density(X)) ** 2


def choose_sparse(X: np.ndarray, d_hidden: int) -> bool:
    """Sparse first layer when it touches fewer bytes than the cost of its bookkeeping.

    A fused sparse step visits the union of two items' non-zero rows of W1, at a measured
    ~8 ns + 0.09 ns x d_hidden per row on this CPU (the merge branches dominate small
    layers); a dense step visits every row at ~3.5 ns + 0.1 ns x d_hidden. For 784-392 the
    sparse path wins up to ~70% density, for d_hidden = 8 only below ~25%.
    """
    return bool(row_share(X) * (8.0 + 0.09 * d_hidden) < 3.5 + 0.1 * d_hidden)


def shared(arrays: Sequence[np.ndarray], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Stack distinct arrays once: returns (stack [U, ...], index of each array).

    Arrays are the same if they are the same object or hold equal values (runs prepared one
    by one often carry equal copies of the targets), so 75 runs do not stack 75 copies.
    """
    unique: list[np.ndarray] = []
    of = np.empty(len(arrays), dtype=np.int64)
    for k, a in enumerate(arrays):
        for u, b in enumerate(unique):
            if a is b or (a.shape == b.shape and np.array_equal(a, b)):
                of[k] = u
                break
        else:
            of[k] = len(unique)
            unique.append(a)
    if len(unique) == 1:  # a view, no copy (autoencoder targets are X itself)
        return np.ascontiguousarray(unique[0], dtype=dtype)[None], of
    return np.ascontiguousarray(np.stack(unique), dtype=dtype), of
