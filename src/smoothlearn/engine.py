"""Fast per-sample training: ensembles of independent networks, the whole loop in numba.

Per-sample SGD is the whole cost of the paper, and a Python autograd loop spends nearly all
of its ~400 us per step on interpreter, autograd and optimizer overhead. Here every run that
shares a training set, layer shape, settings and length is trained in one *ensemble*: one
compiled kernel walks the whole step sequence of each network (``prange`` over networks,
one math thread each), and the networks are evaluated between chunks of steps.

The math is exactly ``docs/model.md`` (float32 throughout); ``tests/test_engine.py`` holds it
equal to the readable reference trainer. Performance choices (``docs/performance.md``):

* ``W1`` is stored transposed (``[d_in, d_hidden]``), so the forward pass and the rank-1
  update both walk contiguous rows, one per input element;
* with sparse inputs (MNIST: ~19% non-zero pixels) only the rows of non-zero elements are
  touched, and the SGD update of step ``n`` is fused with the forward pass of step ``n + 1``
  (a merge of the two items' non-zero lists), so each touched row is loaded once per step;
* evaluation goes item by item in numba, skipping zero inputs and carrying the memory, one
  network per worker thread (sparse or small layers), or uses BLAS products (dense, large);
* divergence is detected from the training loss, so the kernels may reassociate and contract
  floating-point operations but never assume finite values (no ``nnan``/``ninf``);
* importing this module selects numba's ``workqueue`` threading layer (see below).

``train_many(..., device="cuda")`` runs the same ensembles as batched torch tensors instead
(an optional path for GPUs, tested on the CPU).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from smoothlearn.contract import Curves, Prepared

__all__ = ["train_many", "evaluate_many", "choose_sparse"]

#: Evaluation skips zero inputs item by item (numba) up to this density, else uses BLAS.
EVAL_SPARSE_MAX_DENSITY = 0.3
#: Longest stretch of steps per kernel call, so ``progress`` is called regularly.
MAX_CHUNK_STEPS = 4096
#: Budget for the hidden activations of one evaluation batch (bytes).
EVAL_BATCH_BYTES = 64 * 2**20
#: Layers up to this many first-layer weights are evaluated item by item even when dense.
FUSED_EVAL_MAX_WEIGHTS = 16384
#: Distinct evaluation sets of one ensemble are stacked into one array below this size.
EVAL_STACK_BYTES = 256 * 2**20

# numba's OpenMP layer and torch's OpenMP pool fight once both have run in one process: on
# this machine every 2-thread torch op then took ~1 ms instead of ~2 us (the reference
# trainer ran 500x slower after the engine). The workqueue layer has no such interaction; it
# must not run two parallel kernels at once, so launches are serialised by a lock. An
# explicit NUMBA_THREADING_LAYER is respected.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"
_PARALLEL_LOCK = threading.Lock()

# Reassociation and FMA contraction only: NaN/inf must survive, they signal divergence.
# Kernels use error_model="numpy": a division by zero gives inf/NaN (which the divergence
# check sees) instead of a Python exception, and the check would block vectorisation.
_FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

_OUTPUTS = {"softmax": 0, "sigmoid": 1}
_LOSSES = {"mse": 0, "ce": 1}
_OPTIMIZERS = {"sgd": 0, "rmsprop": 1}
_LEAK_GRADS = {"exact": True, "ignore": False}
_TASKS = ("classify", "reconstruct")
_SOFTMAX, _SIGMOID = 0, 1
_MSE, _CE = 0, 1
_SGD, _RMSPROP = 0, 1

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)


# ----------------------------------------------------------------------------- kernels


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _rms(w, g, v, b, lr, alpha, oma, mom, eps):
    """One element of torch.optim.RMSprop (no centering); returns (w, v, buf)."""
    v = alpha * v + oma * (g * g)
    avg = np.sqrt(v) + eps
    if mom > 0:
        b = mom * b + g / avg
        w = w - lr * b
    else:
        w = w - lr * (g / avg)
    return w, v, b


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _forward_w1(pre, W1T, b1, X, ptr, idx, val, item, sparse):
    """pre = W1 x + b1 for one item (the first step of a chunk; later ones are fused)."""
    h = pre.shape[0]
    for j in range(h):
        pre[j] = b1[j]
    if sparse:
        for p in range(ptr[item], ptr[item + 1]):
            i = idx[p]
            xi = val[p]
            for j in range(h):
                pre[j] += W1T[i, j] * xi
    else:
        for i in range(X.shape[1]):
            xi = X[item, i]
            for j in range(h):
                pre[j] += W1T[i, j] * xi


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _sgd_w1(W1T, dpre, pre, b1, X, ptr, idx, val, it, nx, sparse, lr):
    """W1 -= lr dpre ⊗ x(it), fused with pre = W1 x(nx) + b1 (no next item when nx < 0).

    Fusing loads each touched row of W1 once per step instead of twice; in the sparse path
    the rows are the union of the two items' non-zero elements (a merge of sorted lists).
    """
    d, h = W1T.shape
    if nx >= 0:
        for j in range(h):
            pre[j] = b1[j]
    if sparse:
        a, ae = ptr[it], ptr[it + 1]
        b, be = 0, 0
        if nx >= 0:
            b, be = ptr[nx], ptr[nx + 1]
        while a < ae or b < be:
            ia = idx[a] if a < ae else d
            ib = idx[b] if b < be else d
            if ia == ib:
                xa = val[a]
                xb = val[b]
                for j in range(h):
                    w = W1T[ia, j] - lr * (dpre[j] * xa)
                    W1T[ia, j] = w
                    pre[j] += w * xb
                a += 1
                b += 1
            elif ia < ib:
                xa = val[a]
                for j in range(h):
                    W1T[ia, j] = W1T[ia, j] - lr * (dpre[j] * xa)
                a += 1
            else:
                xb = val[b]
                for j in range(h):
                    pre[j] += W1T[ib, j] * xb
                b += 1
    elif nx >= 0:
        for i in range(d):
            xa = X[it, i]
            xb = X[nx, i]
            for j in range(h):
                w = W1T[i, j] - lr * (dpre[j] * xa)
                W1T[i, j] = w
                pre[j] += w * xb
    else:
        for i in range(d):
            xa = X[it, i]
            for j in range(h):
                W1T[i, j] = W1T[i, j] - lr * (dpre[j] * xa)


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _rms_w1(W1T, V, B, dpre, pre, b1, X, it, nx, sparse, lr, alpha, oma, mom, eps):
    """RMSprop on all of W1 (its square average decays everywhere), fused with the next pre.

    Every element is visited: torch's RMSprop decays ``v`` (and moves ``w`` through the
    momentum buffer) even where this step's gradient is zero. Rows of zero inputs have a zero
    gradient, for which the update reduces exactly (eps > 0) to ``v *= alpha`` (and
    ``buf *= momentum; w -= lr buf``): no square root or division there.
    """
    d, h = W1T.shape
    if nx >= 0:
        for j in range(h):
            pre[j] = b1[j]
    for i in range(d):
        xa = X[it, i]
        if xa == 0 and eps > 0:
            for j in range(h):
                V[i, j] = alpha * V[i, j]
            if mom > 0:
                for j in range(h):
                    b = mom * B[i, j]
                    B[i, j] = b
                    W1T[i, j] = W1T[i, j] - lr * b
        elif mom > 0:
            for j in range(h):
                g = dpre[j] * xa
                v = alpha * V[i, j] + oma * (g * g)
                V[i, j] = v
                b = mom * B[i, j] + g / (np.sqrt(v) + eps)
                B[i, j] = b
                W1T[i, j] = W1T[i, j] - lr * b
        else:
            for j in range(h):
                g = dpre[j] * xa
                v = alpha * V[i, j] + oma * (g * g)
                V[i, j] = v
                W1T[i, j] = W1T[i, j] - lr * (g / (np.sqrt(v) + eps))
        if nx >= 0:
            xb = X[nx, i]
            if xb != 0 or not sparse:
                for j in range(h):
                    pre[j] += W1T[i, j] * xb


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _output_grad(z, y, g, tgt, item, label, out_kind, loss_kind):
    """Output y, loss and g = dLoss/dz for one step (docs/model.md, "Backward pass").

    ``tgt`` is the whole target array and ``item`` the row: slicing a row every step would
    create a view, whose reference count (shared by all threads) costs atomic operations.
    """
    o = z.shape[0]
    zmax = z[0]
    for q in range(1, o):
        zmax = max(zmax, z[q])
    s = _F0
    if out_kind == _SOFTMAX:
        for q in range(o):
            y[q] = np.exp(z[q] - zmax)
            s += y[q]
        for q in range(o):
            y[q] = y[q] / s
    else:
        for q in range(o):
            y[q] = _F1 / (_F1 + np.exp(-z[q]))
    if loss_kind == _CE:
        for q in range(o):
            g[q] = y[q]
        g[label] -= _F1
        return np.log(s) - (z[label] - zmax)
    loss = _F0
    scale = _F2 / np.float32(o)
    su = _F0
    for q in range(o):
        diff = y[q] - tgt[item, q]
        loss += diff * diff
        g[q] = scale * diff
        su += g[q] * y[q]
    if out_kind == _SIGMOID:
        for q in range(o):
            g[q] = g[q] * y[q] * (_F1 - y[q])
    else:
        for q in range(o):
            g[q] = y[q] * (g[q] - su)
    return loss / np.float32(o)


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _memory(H, mask, pre, leak, reset, exact):
    """H = e H + (1 - e) ReLU(pre) and mask = c ReLU'(pre), one reset flag for every unit.

    Separate from the grouped case so that the loop has no per-unit gather and vectorises.
    """
    for j in range(H.shape[0]):
        p = pre[j]
        e = _F0 if reset else leak[j]
        c = _F1 - e
        H[j] = e * H[j] + c * (p if p > 0 else _F0)
        mask[j] = (c if exact else _F1) if p > 0 else _F0


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _memory_groups(H, mask, pre, leak, resets, t, group, exact):
    """As :func:`_memory`, with unit j reset by its input group's flag ``resets[t, group[j]]``."""
    for j in range(H.shape[0]):
        p = pre[j]
        e = _F0 if resets[t, group[j]] else leak[j]
        c = _F1 - e
        H[j] = e * H[j] + c * (p if p > 0 else _F0)
        mask[j] = (c if exact else _F1) if p > 0 else _F0


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _train_net(
    X, ptr, idx, val, sparse, tgt, lab, order, resets, s0, s1, group, leak,
    W1T, b1, W2, b2, H, vW1, vb1, vW2, vb2, mW1, mb1, mW2, mb2,
    out_kind, loss_kind, opt, exact, lr, alpha, oma, mom, eps,
):  # fmt: skip
    """Steps s0..s1-1 of one network; returns -1, or the step whose loss was not finite."""
    h = H.shape[0]
    o = b2.shape[0]
    pre = np.empty(h, np.float32)
    mask = np.empty(h, np.float32)
    dH = np.empty(h, np.float32)
    z = np.empty(o, np.float32)
    y = np.empty(o, np.float32)
    g = np.empty(o, np.float32)
    _forward_w1(pre, W1T, b1, X, ptr, idx, val, order[s0], sparse)
    for t in range(s0, s1):
        it = order[t]
        # memory: H = e H(n-1) + (1 - e) ReLU(pre); mask = c(n) ReLU'(pre)
        if resets.shape[1] == 1:
            _memory(H, mask, pre, leak, resets[t, 0], exact)
        else:
            _memory_groups(H, mask, pre, leak, resets, t, group, exact)
        for q in range(o):
            acc = _F0
            for j in range(h):
                acc += W2[q, j] * H[j]
            z[q] = acc + b2[q]
        loss = _output_grad(z, y, g, tgt, it, lab[it], out_kind, loss_kind)
        if not np.isfinite(loss):
            return t
        # second layer: dH = W2^T g with W2 before its update, then update W2 and b2
        for j in range(h):
            dH[j] = _F0
        for q in range(o):
            gq = g[q]
            if opt == _SGD:
                for j in range(h):
                    w = W2[q, j]
                    dH[j] += w * gq
                    W2[q, j] = w - lr * (gq * H[j])
            else:
                for j in range(h):
                    w = W2[q, j]
                    dH[j] += w * gq
                    W2[q, j], vW2[q, j], mW2[q, j] = _rms(
                        w, gq * H[j], vW2[q, j], mW2[q, j], lr, alpha, oma, mom, eps
                    )
            if opt == _SGD:
                b2[q] = b2[q] - lr * gq
            else:
                b2[q], vb2[q], mb2[q] = _rms(b2[q], gq, vb2[q], mb2[q], lr, alpha, oma, mom, eps)
        # first layer: dpre (kept in dH) = dH * mask; b1, then W1 fused with the next forward
        for j in range(h):
            dH[j] = dH[j] * mask[j]
            if opt == _SGD:
                b1[j] = b1[j] - lr * dH[j]
            else:
                b1[j], vb1[j], mb1[j] = _rms(b1[j], dH[j], vb1[j], mb1[j], lr, alpha, oma, mom, eps)
        nx = order[t + 1] if t + 1 < s1 else -1
        if opt == _SGD:
            _sgd_w1(W1T, dH, pre, b1, X, ptr, idx, val, it, nx, sparse, lr)
        else:
            _rms_w1(W1T, vW1, mW1, dH, pre, b1, X, it, nx, sparse, lr, alpha, oma, mom, eps)
    return -1


@njit(parallel=True, cache=True, error_model="numpy")
def _train_chunk(
    X, ptr, idx, val, sparse, tgts, tgt_of, labs, lab_of, order, resets, s0, s1, group, leak,
    W1T, b1, W2, b2, H, vW1, vb1, vW2, vb2, mW1, mb1, mW2, mb2, alive, stop,
    out_kind, loss_kind, opt, exact, lr, alpha, oma, mom, eps,
):  # fmt: skip
    """Steps s0..s1-1 of every live network, one network per thread at a time.

    The small per-network arrays are trained in private copies: neighbouring networks' rows
    share cache lines, and two cores writing them every step would ping-pong those lines.
    """
    for k in prange(order.shape[0]):
        if alive[k]:
            b1k, W2k, b2k, Hk = b1[k].copy(), W2[k].copy(), b2[k].copy(), H[k].copy()
            vb1k, vW2k, vb2k = vb1[k].copy(), vW2[k].copy(), vb2[k].copy()
            mb1k, mW2k, mb2k = mb1[k].copy(), mW2[k].copy(), mb2[k].copy()
            stop[k] = _train_net(
                X, ptr, idx, val, sparse, tgts[tgt_of[k]], labs[lab_of[k]], order[k],
                resets[k], s0, s1, group, leak[k], W1T[k], b1k, W2k, b2k, Hk,
                vW1[k], vb1k, vW2k, vb2k, mW1[k], mb1k, mW2k, mb2k,
                out_kind, loss_kind, opt, exact, lr, alpha, oma, mom, eps,
            )  # fmt: skip
            b1[k], W2[k], b2[k], H[k] = b1k, W2k, b2k, Hk
            vb1[k], vW2[k], vb2[k] = vb1k, vW2k, vb2k
            mb1[k], mW2[k], mb2[k] = mb1k, mW2k, mb2k


@njit(parallel=True, cache=True, error_model="numpy", fastmath=_FASTMATH)
def _stream_memory(act, resets, streamed, group, leak):
    """In place: act[k] -> H[k] by the leaky recursion over the evaluation stream."""
    K, m, h = act.shape
    for k in prange(K):
        if streamed[k]:
            for i in range(m):
                for j in range(h):
                    e = _F0 if resets[k, i, group[j]] else leak[k, j]
                    prev = act[k, i - 1, j] if i > 0 else _F0
                    act[k, i, j] = e * prev + (_F1 - e) * act[k, i, j]


@njit(cache=True, nogil=True, error_model="numpy", fastmath=_FASTMATH)
def _eval_items(
    X, W1T, b1, W2, b2, leak, resets, streamed, group, tgt, lab, out_kind, classify, out
):
    """Test MSE, CE and accuracy of one network, item by item, skipping zero inputs."""
    m, d = X.shape
    h = b1.shape[0]
    o = b2.shape[0]
    pre = np.empty(h, np.float32)
    H = np.zeros(h, np.float32)
    z = np.empty(o, np.float32)
    ez = np.empty(o, np.float32)
    nz = np.empty(d, np.int64)
    mse = 0.0
    ce = 0.0
    correct = 0
    for i in range(m):
        n = 0
        for c in range(d):  # branch-free gather of the non-zero inputs
            nz[n] = c
            n += X[i, c] != 0
        for j in range(h):
            pre[j] = b1[j]
        for p in range(n):
            c = nz[p]
            xv = X[i, c]
            for j in range(h):
                pre[j] += W1T[c, j] * xv
        if streamed:
            for j in range(h):
                e = _F0 if resets[i, group[j]] else leak[j]
                H[j] = e * H[j] + (_F1 - e) * (pre[j] if pre[j] > 0 else _F0)
        else:
            for j in range(h):
                H[j] = pre[j] if pre[j] > 0 else _F0
        best = 0
        for q in range(o):
            acc = _F0
            for j in range(h):
                acc += W2[q, j] * H[j]
            z[q] = acc + b2[q]
            if z[q] > z[best]:
                best = q
        zmax = z[best]
        s = _F0
        if out_kind == _SOFTMAX or classify:
            for q in range(o):
                ez[q] = np.exp(z[q] - zmax)
                s += ez[q]
        sq = _F0
        for q in range(o):
            y = ez[q] / s if out_kind == _SOFTMAX else _F1 / (_F1 + np.exp(-z[q]))
            sq += (y - tgt[i, q]) * (y - tgt[i, q])
        mse += sq
        if classify:
            ce += np.log(s) - (z[lab[i]] - zmax)
            correct += best == lab[i]
    out[0] = mse / (m * o)
    out[1] = ce / m if classify else np.nan
    out[2] = correct / m if classify else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def _eval_chunk(X, src, nets, rows, W1T, b1, W2, b2, leak, resets, streamed, group, tgts, labs,
                out_kind, classify, out):  # fmt: skip
    """Evaluate networks ``nets`` (rows ``rows`` of the group's per-network arrays)."""
    for q in range(nets.size):
        k = nets[q]
        r = rows[q]
        _eval_items(
            X[src[r]], W1T[k], b1[k], W2[k], b2[k], leak[k], resets[r], streamed[r], group,
            tgts[r], labs[r], out_kind, classify, out[q],
        )  # fmt: skip


# ----------------------------------------------------------------------------- helpers


@contextmanager
def _numba_threads(threads: int | None) -> Iterator[int]:
    """Run numba kernels on ``threads`` threads (default: all cores), restoring the old count."""
    wanted = (os.cpu_count() or 1) if threads is None else int(threads)
    if wanted < 1:
        raise ValueError(f"threads={threads!r} must be >= 1")
    wanted = min(wanted, numba.config.NUMBA_NUM_THREADS)
    old = numba.get_num_threads()
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(old)


def _density(X: np.ndarray) -> float:
    return float(_cached(X, "density", lambda a: np.count_nonzero(a) / max(a.size, 1)))


def choose_sparse(X: np.ndarray, d_hidden: int) -> bool:
    """Sparse first layer when it touches fewer bytes than the cost of its bookkeeping.

    A fused sparse step visits the union of two items' non-zero rows of W1, at a measured
    ~8 ns + 0.09 ns x d_hidden per row on this CPU (the merge branches dominate small
    layers); a dense step visits every row at ~3.5 ns + 0.1 ns x d_hidden. For 784-392 the
    sparse path wins up to ~70% density, for d_hidden = 8 only below ~25%.
    """
    density = _density(X)
    union = 1.0 - (1.0 - density) ** 2
    return bool(union * (8.0 + 0.09 * d_hidden) < 3.5 + 0.1 * d_hidden)


@njit(cache=True)
def _csr_count(X, ptr):
    """First pass of the CSR build: ptr[r + 1] = non-zeros in rows 0..r."""
    n, d = X.shape
    total = 0
    for r in range(n):
        for c in range(d):
            total += X[r, c] != 0
        ptr[r + 1] = total


@njit(cache=True)
def _csr_fill(X, ptr, idx, val):
    """Second pass of the CSR build: column indices (ascending) and values per row."""
    n, d = X.shape
    for r in range(n):
        p = ptr[r]
        for c in range(d):
            if X[r, c] != 0:
                idx[p] = c
                val[p] = X[r, c]
                p += 1


def _csr(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pointers, column indices (sorted per row) and values of X's non-zero elements."""
    X = _ro(X)
    ptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    _csr_count(X, ptr)
    idx = np.empty(ptr[-1], dtype=np.int32)
    val = np.empty(ptr[-1], dtype=np.float32)
    _csr_fill(X, ptr, idx, val)
    return ptr, idx, val


#: Facts about read-only arrays (the datasets'), kept while the array lives.
_CACHE: dict[tuple[int, str], tuple[weakref.ref, Any]] = {}


def _cached(X: np.ndarray, what: str, build: Callable[[np.ndarray], Any]) -> Any:
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


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only view: numba compiles read-only and writable arrays separately, and the
    datasets are read-only, so every input-only array is passed read-only (one compile)."""
    view = np.ascontiguousarray(a).view()
    view.flags.writeable = False
    return view


def _groups_of_units(h: int, G: int) -> np.ndarray:
    """Hidden unit j belongs to reset group floor(j * G / h)."""
    return (np.arange(h, dtype=np.int64) * G) // h


def _shared(arrays: Sequence[np.ndarray], dtype: type) -> tuple[np.ndarray, np.ndarray]:
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


# ----------------------------------------------------------------------------- validation


def _check_settings(settings: Any, task: str, d_out: int) -> None:
    """Validate a run's settings early, naming the bad value and what is allowed."""
    for name, allowed in (
        ("output", _OUTPUTS),
        ("loss", _LOSSES),
        ("optimizer", _OPTIMIZERS),
        ("leak_grad", _LEAK_GRADS),
    ):
        value = getattr(settings, name)
        if value not in allowed:
            raise ValueError(f"settings.{name}={value!r} is not valid; use one of {list(allowed)}")
    if task not in _TASKS:
        raise ValueError(f"task={task!r} is not valid; use one of {list(_TASKS)}")
    if settings.loss == "ce" and settings.output != "softmax":
        raise ValueError("settings.loss='ce' needs settings.output='softmax'")
    if settings.loss == "ce" and task != "classify":
        raise ValueError("settings.loss='ce' needs task='classify'")
    if not np.isfinite(settings.lr) or settings.lr < 0:
        raise ValueError(f"settings.lr={settings.lr!r} must be a finite number >= 0")
    if settings.optimizer == "rmsprop":
        for name, low, high in (
            ("rmsprop_alpha", 0.0, 1.0),
            ("rmsprop_momentum", 0.0, 1.0),
            ("rmsprop_eps", 0.0, np.inf),
        ):
            value = getattr(settings, name)
            if not low <= value < high:
                raise ValueError(f"settings.{name}={value!r} must lie in [{low}, {high})")
    if d_out < 1:
        raise ValueError("d_out must be >= 1")


def _check_run(run: Prepared, i: int) -> None:
    """Shapes and ranges of one Prepared run; errors name the run and the field."""
    n, d = run.X.shape
    p = run.params
    h = p["W1"].shape[0]
    o = p["W2"].shape[0]
    T = run.order.shape[0]
    expect = {
        "targets": (run.targets.shape, (n, o)),
        "labels": (run.labels.shape, (n,)),
        "params['W1']": (p["W1"].shape, (h, d)),
        "params['b1']": (p["b1"].shape, (h,)),
        "params['W2']": (p["W2"].shape, (o, h)),
        "params['b2']": (p["b2"].shape, (o,)),
        "leak": (run.leak.shape, (h,)),
        "resets": (run.resets.shape[:1], (T,)),
        "X_eval": (run.X_eval.shape[1:], (d,)),
        "targets_eval": (run.targets_eval.shape, (run.X_eval.shape[0], o)),
        "labels_eval": (run.labels_eval.shape, (run.X_eval.shape[0],)),
    }
    for name, (got, want) in expect.items():
        if tuple(got) != tuple(want):
            raise ValueError(f"runs[{i}].{name} has shape {tuple(got)}, expected {want}")
    G = run.resets.shape[1]
    if run.resets.ndim != 2 or not 1 <= G <= h:
        raise ValueError(f"runs[{i}].resets must be [T, G] with 1 <= G <= d_hidden={h}")
    if run.eval_resets is not None and run.eval_resets.shape != (run.X_eval.shape[0], G):
        raise ValueError(
            f"runs[{i}].eval_resets has shape {run.eval_resets.shape}, "
            f"expected {(run.X_eval.shape[0], G)} or None"
        )
    if T and (run.order.min() < 0 or run.order.max() >= n):
        raise ValueError(f"runs[{i}].order must index the {n} training items")
    steps = np.asarray(run.eval_steps)
    if steps.size < 1 or steps[0] != 0 or steps[-1] != T or np.any(np.diff(steps) <= 0):
        raise ValueError(f"runs[{i}].eval_steps must be sorted, unique, and include 0 and T={T}")
    if np.any((run.leak < 0) | (run.leak >= 1)):
        raise ValueError(f"runs[{i}].leak must lie in [0, 1)")
    _check_settings(run.settings, run.task, o)
    if (
        run.settings.loss == "ce"
        and T
        and (run.labels[run.order].min() < 0 or run.labels[run.order].max() >= o)
    ):
        raise ValueError(f"runs[{i}].labels must lie in [0, {o}) for loss='ce'")


def _group_key(run: Prepared) -> tuple:
    """Runs with equal keys share one kernel call: same data, shapes, settings and length."""
    return (
        id(run.X),
        run.X.shape,
        run.params["W1"].shape,
        run.params["W2"].shape[0],
        run.resets.shape,
        run.settings,
        run.task,
    )


# ----------------------------------------------------------------------------- evaluation


@dataclass
class _EvalGroup:
    """Networks whose evaluation items are one array ``X [u, m, d]``: shared (u = 1) or stacked.

    ``fused``: evaluate item by item in numba, skipping zero inputs (sparse or small layers);
    otherwise with BLAS products over the whole set (dense, large layers). ``train_many``'s
    ``sparse`` argument forces the choice, as for training.
    """

    nets: np.ndarray  # ensemble indices
    X: np.ndarray  # [u, m, d], read-only
    src: np.ndarray  # [k] which X[u] each network reads
    targets: np.ndarray  # [k, m, o]
    labels: np.ndarray  # [k, m]
    resets: np.ndarray  # [k, m, G] bool (zeros where not streamed)
    streamed: np.ndarray  # [k] bool
    fused: bool
    pos: dict[int, int] = field(default_factory=dict)  # ensemble index -> row in this group


def _eval_groups(runs: Sequence[Prepared], sparse: bool | None = None) -> list[_EvalGroup]:
    """Share one evaluation array per distinct X_eval; stack small distinct ones."""
    by_id: dict[int, list[int]] = {}
    for k, r in enumerate(runs):
        by_id.setdefault(id(r.X_eval), []).append(k)
    by_shape: dict[tuple, list[int]] = {}
    for k, r in enumerate(runs):
        by_shape.setdefault(r.X_eval.shape, []).append(k)
    parts: list[tuple[list[int], bool]] = []
    if len(by_id) == 1:
        parts.append((list(range(len(runs))), False))
    else:
        for shape, nets in by_shape.items():
            if len(nets) * int(np.prod(shape)) * 4 <= EVAL_STACK_BYTES:
                parts.append((nets, True))
            else:
                ids: dict[int, list[int]] = {}
                for k in nets:
                    ids.setdefault(id(runs[k].X_eval), []).append(k)
                parts.extend((v, False) for v in ids.values())
    h = runs[0].params["W1"].shape[0]
    groups = []
    for nets, stacked in parts:
        rs = [runs[k] for k in nets]
        m, d = rs[0].X_eval.shape
        G = rs[0].resets.shape[1]
        X = np.stack([_f32(r.X_eval) for r in rs]) if stacked else _f32(rs[0].X_eval)[None]
        resets = np.zeros((len(rs), m, G), dtype=np.bool_)
        for i, r in enumerate(rs):
            if r.eval_resets is not None:
                resets[i] = r.eval_resets
        small = d * h <= FUSED_EVAL_MAX_WEIGHTS
        groups.append(
            _EvalGroup(
                nets=np.asarray(nets, dtype=np.int64),
                X=_ro(X),
                src=np.arange(len(rs)) if stacked else np.zeros(len(rs), np.int64),
                targets=_ro(np.stack([_f32(r.targets_eval) for r in rs])),
                labels=_ro(np.stack([np.asarray(r.labels_eval, dtype=np.int64) for r in rs])),
                resets=_ro(resets),
                streamed=_ro(np.array([r.eval_resets is not None for r in rs], dtype=np.bool_)),
                fused=(small or _density(rs[0].X_eval) <= EVAL_SPARSE_MAX_DENSITY)
                if sparse is None
                else bool(sparse),
                pos={int(k): i for i, k in enumerate(nets)},
            )
        )
    return groups


def _metrics(
    z: np.ndarray, targets: np.ndarray, labels: np.ndarray, output: str, classify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """test_mse, test_ce, test_acc per network from logits z [k, m, o] (float32 outputs)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        zmax = z.max(axis=-1, keepdims=True)
        ez = np.exp(z - zmax)
        s = ez.sum(axis=-1, keepdims=True)
        y = ez / s if output == "softmax" else 1 / (1 + np.exp(-z))
        mse = np.mean(np.square(y - targets), axis=(1, 2), dtype=np.float64)
        if not classify:
            nan = np.full(z.shape[0], np.nan)
            return mse, nan, nan
        zl = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
        ce = np.mean(np.log(s[..., 0]) - (zl - zmax[..., 0]), axis=1, dtype=np.float64)
        acc = np.mean(z.argmax(axis=-1) == labels, axis=1, dtype=np.float64)
    return mse, ce, acc


_POOL: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    """A persistent worker pool for evaluation: starting threads per evaluation costs ms."""
    if threads not in _POOL:
        _POOL[threads] = ThreadPoolExecutor(threads, thread_name_prefix="smoothlearn-eval")
    return _POOL[threads]


# a forked child (e.g. a process-pool worker) inherits the pool objects but not their threads
os.register_at_fork(after_in_child=_POOL.clear)


def _evaluate_blas(
    eg: _EvalGroup,
    ks: np.ndarray,
    params: tuple[np.ndarray, ...],
    group: np.ndarray,
    output: str,
    classify: bool,
) -> np.ndarray:
    """Dense, large layers: BLAS products over the whole evaluation set, batched by memory."""
    W1T, b1, W2, b2, leak = params
    m, h = eg.targets.shape[1], W1T.shape[2]
    out = np.empty((ks.size, 3))
    batch = max(1, EVAL_BATCH_BYTES // max(1, m * h * 4))
    for start in range(0, ks.size, batch):
        part = ks[start : start + batch]
        rows = np.asarray([eg.pos[int(k)] for k in part], dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            Xe = eg.X[0] if eg.X.shape[0] == 1 else eg.X[eg.src[rows]]  # shared: no copies
            act = np.matmul(Xe, W1T[part])  # [k, m, h]
            act += b1[part][:, None, :]
            np.maximum(act, 0, out=act)
            streamed = eg.streamed[rows]
            if streamed.any():
                with _PARALLEL_LOCK:
                    _stream_memory(act, _ro(eg.resets[rows]), _ro(streamed), group, _ro(leak[part]))
            z = np.matmul(act, W2[part].transpose(0, 2, 1))
            z += b2[part][:, None, :]
        mse, ce, acc = _metrics(z, eg.targets[rows], eg.labels[rows], output, classify)
        out[start : start + part.size] = np.stack([mse, ce, acc], axis=1)
    return out


def _evaluate_fused(
    eg: _EvalGroup,
    ks: np.ndarray,
    params: tuple[np.ndarray, ...],
    group: np.ndarray,
    output: str,
    classify: bool,
) -> np.ndarray:
    """Sparse or small layers: one numba pass per network (called from worker threads)."""
    W1T, b1, W2, b2, leak = params
    rows = np.asarray([eg.pos[int(k)] for k in ks], dtype=np.int64)
    out = np.empty((ks.size, 3))
    _eval_chunk(
        eg.X, eg.src, ks, rows, W1T, b1, W2, b2, _ro(leak), eg.resets, eg.streamed, group,
        eg.targets, eg.labels, _OUTPUTS[output], classify, out,
    )  # fmt: skip
    return out


def _evaluate(
    groups: Sequence[_EvalGroup],
    nets: np.ndarray,
    params: tuple[np.ndarray, ...],
    output: str,
    classify: bool,
    threads: int,
) -> dict[int, tuple[float, float, float]]:
    """Evaluate ensemble networks ``nets``; returns {net: (mse, ce, acc)}.

    ``params`` is (W1T, b1, W2, b2, leak) stacked over the ensemble. Fused groups are split
    into ``threads`` slices run by worker threads (the numba kernel releases the GIL), so
    evaluation uses every core even when each network has its own evaluation array.
    """
    wanted = set(int(k) for k in nets)
    h = params[0].shape[2]
    jobs: list[tuple[Callable[..., np.ndarray], _EvalGroup, np.ndarray]] = []
    for eg in groups:
        ks = np.asarray([k for k in eg.nets.tolist() if k in wanted], dtype=np.int64)
        if not ks.size:
            continue
        if eg.fused:
            jobs.extend((_evaluate_fused, eg, part) for part in np.array_split(ks, threads))
        else:
            jobs.append((_evaluate_blas, eg, ks))
    jobs = [job for job in jobs if job[2].size]

    def run(job: tuple[Callable[..., np.ndarray], _EvalGroup, np.ndarray]) -> np.ndarray:
        fn, eg, ks = job
        return fn(eg, ks, params, _ro(_groups_of_units(h, eg.resets.shape[2])), output, classify)

    fused = [job for job in jobs if job[0] is _evaluate_fused]
    if threads > 1 and len(fused) > 1:  # BLAS jobs stay here: their kernel is parallel
        done = dict(zip(map(id, fused), _pool(threads).map(run, fused), strict=True))
        results = [done[id(job)] if id(job) in done else run(job) for job in jobs]
    else:
        results = [run(job) for job in jobs]
    out: dict[int, tuple[float, float, float]] = {}
    for (_, _, ks), res in zip(jobs, results, strict=True):
        for k, row in zip(ks.tolist(), res.tolist(), strict=True):
            out[k] = (row[0], row[1], row[2])
    return out


# ----------------------------------------------------------------------------- ensembles


class _Schedule:
    """Chunked training between evaluation points; subclasses hold the state and the math.

    Subclasses set ``runs``, ``T``, ``eval_sets``, ``points``, ``alive`` and ``stop`` (numpy,
    up to date after each ``train`` call) and implement ``train``, ``evaluate``, ``params``.
    """

    runs: Sequence[Prepared]
    T: int
    eval_sets: list[set[int]]
    points: list[list[tuple[int, float, float, float]]]
    alive: np.ndarray
    stop: np.ndarray

    def train(self, s0: int, s1: int) -> int:
        raise NotImplementedError

    def evaluate(self, step: int) -> None:
        raise NotImplementedError

    def params(self, k: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def wanted(self, step: int) -> list[int]:
        """Live networks that asked for an evaluation at ``step``."""
        return [k for k in range(len(self.runs)) if self.alive[k] and step in self.eval_sets[k]]

    def bounds(self) -> list[int]:
        """Chunk boundaries: every evaluation step of any run, at most MAX_CHUNK_STEPS apart."""
        steps = sorted(set().union(*self.eval_sets))
        out = [steps[0]]
        for s in steps[1:]:
            while s - out[-1] > MAX_CHUNK_STEPS:
                out.append(out[-1] + MAX_CHUNK_STEPS)
            out.append(s)
        return out

    def run(self, progress: Callable[[int], None] | None) -> list[Curves]:
        """Evaluate at the first boundary, then alternate training chunks and evaluations."""
        bounds = self.bounds()
        self.evaluate(bounds[0])
        for s0, s1 in zip(bounds[:-1], bounds[1:], strict=True):
            if not self.alive.any():
                break
            done = self.train(s0, s1)
            self.evaluate(s1)
            if progress is not None:
                progress(done)
        curves = []
        for k in range(len(self.runs)):
            pts = self.points[k]
            cols = list(zip(*pts, strict=True)) if pts else [(), (), (), ()]
            curves.append(
                Curves(
                    steps=np.asarray(cols[0], dtype=np.int64),
                    test_mse=np.asarray(cols[1], dtype=np.float64),
                    test_ce=np.asarray(cols[2], dtype=np.float64),
                    test_acc=np.asarray(cols[3], dtype=np.float64),
                    diverged=bool(self.stop[k] >= 0),
                    final_params=self.params(k),
                )
            )
        return curves


class _Ensemble(_Schedule):
    """Stacked state of compatible runs, trained chunk by chunk between evaluation steps."""

    def __init__(self, runs: Sequence[Prepared], sparse: bool | None, threads: int = 1) -> None:
        first = runs[0]
        self.runs = runs
        self.settings = first.settings
        self.classify = first.task == "classify"
        K = len(runs)
        X = _f32(first.X)
        h = first.params["W1"].shape[0]
        self.X = _ro(X)
        self.sparse = choose_sparse(X, h) if sparse is None else bool(sparse)
        if self.sparse:
            csr = _cached(X, "csr", _csr)
        else:
            csr = (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))
        self.ptr, self.idx, self.val = (_ro(a) for a in csr)
        tgts, tgt_of = _shared([r.targets for r in runs], np.float32)
        labs, lab_of = _shared([r.labels for r in runs], np.int64)
        self.tgts, self.tgt_of, self.labs, self.lab_of = map(_ro, (tgts, tgt_of, labs, lab_of))
        self.order = _ro(np.stack([np.asarray(r.order, dtype=np.int64) for r in runs]))
        self.resets = _ro(np.stack([np.asarray(r.resets, dtype=np.bool_) for r in runs]))
        self.group = _ro(_groups_of_units(h, first.resets.shape[1]))
        self.leak = _ro(np.stack([_f32(r.leak) for r in runs]))
        # [K, d, h]; np.stack of transposes is not C-contiguous, and numba vectorises only C
        self.W1T = np.ascontiguousarray(np.stack([_f32(r.params["W1"]).T for r in runs]))
        self.b1 = np.stack([_f32(r.params["b1"]) for r in runs])
        self.W2 = np.stack([_f32(r.params["W2"]) for r in runs])
        self.b2 = np.stack([_f32(r.params["b2"]) for r in runs])
        self.H = np.zeros((K, h), dtype=np.float32)
        rms = self.settings.optimizer == "rmsprop"
        self.opt_state = [
            np.zeros_like(a) if rms else np.zeros((K,) + (0,) * (a.ndim - 1), np.float32)
            for a in (self.W1T, self.b1, self.W2, self.b2) * 2
        ]
        self.alive = np.ones(K, dtype=np.bool_)
        self.stop = np.full(K, -1, dtype=np.int64)
        self.eval_groups = _eval_groups(runs, sparse)
        self.threads = threads
        self.eval_sets = [set(np.asarray(r.eval_steps).tolist()) for r in runs]
        self.points: list[list[tuple[int, float, float, float]]] = [[] for _ in runs]
        self.T = first.order.shape[0]

    def _scalars(self) -> tuple:
        s = self.settings
        return (
            _OUTPUTS[s.output],
            _LOSSES[s.loss],
            _OPTIMIZERS[s.optimizer],
            _LEAK_GRADS[s.leak_grad],
            np.float32(s.lr),
            np.float32(s.rmsprop_alpha),
            np.float32(1.0 - s.rmsprop_alpha),  # as torch: 1 - alpha in double, then float32
            np.float32(s.rmsprop_momentum),
            np.float32(s.rmsprop_eps),
        )

    def evaluate(self, step: int) -> None:
        """Record the evaluation point ``step`` for live networks that asked for it."""
        nets = self.wanted(step)
        if not nets:
            return
        params = (self.W1T, self.b1, self.W2, self.b2, self.leak)
        res = _evaluate(
            self.eval_groups, np.asarray(nets), params, self.settings.output, self.classify,
            self.threads,
        )  # fmt: skip
        for k, (mse, ce, acc) in res.items():
            self.points[k].append((step, mse, ce, acc))

    def train(self, s0: int, s1: int) -> int:
        """Steps [s0, s1) of every live network; returns network-steps counted as done."""
        was_alive = int(self.alive.sum())
        with _PARALLEL_LOCK:
            _train_chunk(
                self.X, self.ptr, self.idx, self.val, self.sparse, self.tgts, self.tgt_of,
                self.labs, self.lab_of, self.order, self.resets, s0, s1, self.group, self.leak,
                self.W1T, self.b1, self.W2, self.b2, self.H, *self.opt_state,
                self.alive, self.stop, *self._scalars(),
            )  # fmt: skip
        died = self.alive & (self.stop >= 0)
        # a diverged network's remaining steps count as done, so progress reaches its total
        done = was_alive * (s1 - s0) + int(died.sum()) * (self.T - s1)
        self.alive &= ~died
        return done

    def params(self, k: int) -> dict[str, np.ndarray]:
        """Network k's current weights in the reference layout (W1 as [d_hidden, d_in])."""
        return {
            "W1": np.ascontiguousarray(self.W1T[k].T),
            "b1": self.b1[k].copy(),
            "W2": self.W2[k].copy(),
            "b2": self.b2[k].copy(),
        }


# ----------------------------------------------------------------------------- torch path


class _TorchEnsemble(_Schedule):
    """The same ensemble as batched tensors on a torch device (for GPUs; optional).

    One Python iteration per step drives all networks at once with batched products, so it
    pays only when the ensemble is large and the device fast. Nothing syncs with the host
    inside a chunk: diverged networks are frozen with ``torch.where`` on a device mask.
    Evaluation runs on the device too (streamed memory loops over the items).
    """

    def __init__(self, runs: Sequence[Prepared], device: str) -> None:
        import torch

        self.torch, self.device = torch, torch.device(device)
        first = runs[0]
        self.runs, self.settings, self.T = runs, first.settings, first.order.shape[0]
        self.classify = first.task == "classify"
        K, h = len(runs), first.params["W1"].shape[0]

        def t(a: np.ndarray, dtype: Any = torch.float32) -> Any:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=self.device)

        self.X = t(first.X)
        tgts, self.tgt_of = _shared([r.targets for r in runs], np.float32)
        labs, self.lab_of = _shared([r.labels for r in runs], np.int64)
        self.tgts, self.labs = t(tgts), t(labs, torch.int64)
        self.tgt_of, self.lab_of = t(self.tgt_of, torch.int64), t(self.lab_of, torch.int64)
        self.order = t(np.stack([r.order for r in runs]), torch.int64)
        self.resets = t(np.stack([r.resets for r in runs]), torch.bool)
        self.group = t(_groups_of_units(h, first.resets.shape[1]), torch.int64)
        self.leak = t(np.stack([r.leak for r in runs]))
        self.w = [t(np.stack([r.params[n] for r in runs])) for n in ("W1", "b1", "W2", "b2")]
        self.v = [torch.zeros_like(w) for w in self.w]
        self.buf = [torch.zeros_like(w) for w in self.w]
        self.H = torch.zeros(K, h, device=self.device)
        self.alive_t = torch.ones(K, dtype=torch.bool, device=self.device)
        self.stop_t = torch.full((K,), -1, dtype=torch.int64, device=self.device)
        self.alive, self.stop = np.ones(K, np.bool_), np.full(K, -1, np.int64)
        self.eval_sets = [set(np.asarray(r.eval_steps).tolist()) for r in runs]
        self.points = [[] for _ in runs]
        self.rows = torch.arange(K, device=self.device)

    def _outputs(self, z: Any, tgt: Any, lab: Any) -> tuple[Any, Any]:
        """Per-network loss [K] and g = dLoss/dz [K, o], as docs/model.md."""
        torch, s = self.torch, self.settings
        o = z.shape[1]
        if s.loss == "ce":
            y = torch.softmax(z, 1)
            loss = torch.logsumexp(z, 1) - z.gather(1, lab[:, None])[:, 0]
            return loss, y - torch.nn.functional.one_hot(lab, o).to(y.dtype)
        y = torch.softmax(z, 1) if s.output == "softmax" else torch.sigmoid(z)
        u = 2 * (y - tgt) / o
        loss = ((y - tgt) ** 2).mean(1)
        if s.output == "sigmoid":
            return loss, u * y * (1 - y)
        return loss, y * (u - (u * y).sum(1, keepdim=True))

    def _update(self, i: int, grad: Any, ok: Any) -> None:
        """SGD or RMSprop (torch's update) on parameter i, only where the network is live."""
        torch, s, w = self.torch, self.settings, self.w[i]
        mask = ok.view((-1,) + (1,) * (w.dim() - 1))
        if s.optimizer == "sgd":
            w.copy_(torch.where(mask, w - s.lr * grad, w))
            return
        v = torch.where(mask, s.rmsprop_alpha * self.v[i] + (1 - s.rmsprop_alpha) * grad * grad,
                        self.v[i])  # fmt: skip
        avg = v.sqrt() + s.rmsprop_eps
        self.v[i] = v
        if s.rmsprop_momentum > 0:
            buf = torch.where(mask, s.rmsprop_momentum * self.buf[i] + grad / avg, self.buf[i])
            self.buf[i] = buf
            w.copy_(torch.where(mask, w - s.lr * buf, w))
        else:
            w.copy_(torch.where(mask, w - s.lr * (grad / avg), w))

    def train(self, s0: int, s1: int) -> int:
        torch, s = self.torch, self.settings
        was_alive = int(self.alive.sum())
        W1, b1, W2, b2 = self.w
        with torch.no_grad():
            for step in range(s0, s1):
                item = self.order[:, step]
                x = self.X[item]
                pre = torch.einsum("khd,kd->kh", W1, x) + b1
                e = torch.where(self.resets[:, step][:, self.group], 0.0, self.leak)
                c = 1 - e
                H = e * self.H + c * torch.relu(pre)
                z = torch.einsum("koh,kh->ko", W2, H) + b2
                tgt = self.tgts[self.tgt_of, item]
                loss, g = self._outputs(z, tgt, self.labs[self.lab_of, item])
                ok = self.alive_t & torch.isfinite(loss)
                self.stop_t = torch.where(self.alive_t & ~ok, step, self.stop_t)
                self.alive_t = ok
                grad_c = c if s.leak_grad == "exact" else torch.ones_like(c)
                dpre = torch.einsum("koh,ko->kh", W2, g) * torch.where(pre > 0, grad_c, 0.0)
                self.H = torch.where(ok[:, None], H, self.H)
                self._update(2, g[:, :, None] * H[:, None, :], ok)
                self._update(3, g, ok)
                self._update(0, dpre[:, :, None] * x[:, None, :], ok)
                self._update(1, dpre, ok)
        stop = self.stop_t.cpu().numpy()
        died = self.alive & (stop >= 0)
        self.stop = stop
        self.alive = self.alive_t.cpu().numpy().copy()
        return was_alive * (s1 - s0) + int(died.sum()) * (self.T - s1)

    def evaluate(self, step: int) -> None:
        nets = self.wanted(step)
        torch = self.torch
        W1, b1, W2, b2 = self.w
        with torch.no_grad():
            for k in nets:
                run = self.runs[k]
                Xe = torch.as_tensor(np.asarray(run.X_eval, np.float32), device=self.device)
                act = torch.relu(Xe @ W1[k].T + b1[k])
                if run.eval_resets is not None:
                    flags = torch.as_tensor(run.eval_resets, device=self.device)[:, self.group]
                    keep = torch.where(flags, 0.0, self.leak[k])
                    state = torch.zeros_like(act[0])
                    for i in range(act.shape[0]):
                        state = keep[i] * state + (1 - keep[i]) * act[i]
                        act[i] = state
                z = (act @ W2[k].T + b2[k]).cpu().numpy()[None]
                mse, ce, acc = _metrics(
                    z, np.asarray(run.targets_eval, np.float32)[None],
                    np.asarray(run.labels_eval, np.int64)[None], self.settings.output,
                    self.classify,
                )  # fmt: skip
                self.points[k].append((step, float(mse[0]), float(ce[0]), float(acc[0])))

    def params(self, k: int) -> dict[str, np.ndarray]:
        return {
            n: w[k].cpu().numpy().copy()
            for n, w in zip(("W1", "b1", "W2", "b2"), self.w, strict=True)
        }


# ----------------------------------------------------------------------------- public API


def train_many(
    runs: Sequence[Prepared],
    threads: int | None = None,
    sparse: bool | None = None,
    progress: Callable[[int], None] | None = None,
    device: str | None = None,
) -> list[Curves]:
    """Train every run (one independent network each) and return their curves in input order.

    Runs sharing the training array object, layer shapes, reset groups, settings, task and
    length form one ensemble trained by one compiled kernel, ``threads`` networks at a time
    (default: all cores). ``sparse`` forces the first-layer path (None: chosen from the
    measured input density, :func:`choose_sparse`); both paths give the same numbers.
    ``progress(n)`` is called between chunks with the network-steps completed since the
    previous call (``tqdm.update`` fits); a diverged network's remaining steps count as done.

    ``device`` (e.g. ``"cuda"``) trains each ensemble as batched torch tensors on that device
    instead (optional path for GPUs; ``"cpu"`` runs the same code, which is how it is tested).
    """
    runs = list(runs)
    for i, run in enumerate(runs):
        _check_run(run, i)
    by_key: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        by_key.setdefault(_group_key(run), []).append(i)
    out: list[Any] = [None] * len(runs)
    with _numba_threads(threads) as n_threads:
        for members in by_key.values():
            group = [runs[i] for i in members]
            ensemble = (
                _Ensemble(group, sparse, n_threads)
                if device is None
                else _TorchEnsemble(group, device)
            )
            curves = ensemble.run(progress)
            for i, c in zip(members, curves, strict=True):
                out[i] = c
    return out


def evaluate_many(
    runs: Sequence[Prepared],
    params: Sequence[dict[str, np.ndarray]] | None = None,
    threads: int | None = None,
    sparse: bool | None = None,
) -> list[dict[str, float]]:
    """Evaluate each run's network (its initial params, or ``params[i]``) on its eval set.

    The same code as the evaluation points of :func:`train_many` (``sparse`` forces its
    item-by-item path or its BLAS path); returns ``{"test_mse", "test_ce", "test_acc"}`` per
    run, in input order.
    """
    runs = list(runs)
    if params is not None and len(params) != len(runs):
        raise ValueError(f"params has {len(params)} entries for {len(runs)} runs")
    out: list[dict[str, float]] = [{} for _ in runs]
    by_key: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        _check_run(run, i)
        p = run.params if params is None else params[i]
        key = (p["W1"].shape, p["W2"].shape[0], run.resets.shape[1], run.settings.output,
               run.task)  # fmt: skip
        by_key.setdefault(key, []).append(i)
    with _numba_threads(threads) as n_threads:
        for members in by_key.values():
            rs = [runs[i] for i in members]
            ps = [runs[i].params if params is None else params[i] for i in members]
            stacked = (
                np.ascontiguousarray(np.stack([_f32(p["W1"]).T for p in ps])),
                np.stack([_f32(p["b1"]) for p in ps]),
                np.stack([_f32(p["W2"]) for p in ps]),
                np.stack([_f32(p["b2"]) for p in ps]),
                _ro(np.stack([_f32(r.leak) for r in rs])),
            )
            res = _evaluate(
                _eval_groups(rs, sparse), np.arange(len(rs)), stacked, rs[0].settings.output,
                rs[0].task == "classify", n_threads,
            )  # fmt: skip
            for j, i in enumerate(members):
                mse, ce, acc = res[j]
                out[i] = {"test_mse": mse, "test_ce": ce, "test_acc": acc}
    return out
