"""Compiled pieces shared by the per-sample LSTM and the mini-batch trainers (numba, float32).

Sparse inputs enter through their CSR rows (:func:`.arrays.csr`); a first-layer weight matrix is
stored transposed, one row per input pixel, so an input touches only the rows of its lit
pixels. :func:`update_and_project` fuses a layer's optimiser step with the input products of
the next step's items, reading each lit row once for both. The optimisers and losses follow
``docs/model.md`` (PyTorch's SGD and RMSprop; MSE or cross-entropy on softmax/sigmoid).

Why these pieces are not the per-sample kernels' (:mod:`.kernels`): they work on whole
vectors of a layer (a batch, four gates) where those work one unit at a time, and their test
metrics (:func:`add_metrics`) sum each squared error and the cross-entropy in float64 where
:func:`.kernels.metrics_add` sums an item's errors in float32 first. Each is tested equal to
its reference within float32 tolerance; merging the two accumulators would move the curves
of one family in the last bits. Setting codes and constants come from :mod:`.codes`.

numba's on-disk cache keys a kernel on its own file only, and :mod:`.lstm` and
:mod:`.minibatch` compile these functions into their kernels: after editing this file (or
:mod:`.kernels`, :mod:`.codes`), clear ``engine/__pycache__``.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from smoothlearn.contract import Curves
from smoothlearn.engine.codes import CE, JIT, RMSPROP_FLOOR, SGD, SOFTMAX
from smoothlearn.engine.kernels import sigmoid

__all__ = [
    "matvec_add", "matvec_t", "output_loss", "opt_update", "add_metrics", "finish_metrics",
    "scatter", "project", "project_row", "combine_rows", "update_and_project",
    "train_on_threads",
]


# ---------------------------------------------------------------- drivers
def train_on_threads(jobs: Sequence[Callable[[Callable[[int], None]], Curves]],
                     threads: int | None, progress: Callable[[int], None] | None) -> list[Curves]:
    """Run each job (a one-network trainer taking a progress callback) on its own thread,
    ``threads`` at a time (default all cores): each keeps one network's weights hot in its
    core's cache, and the kernels release the GIL. ``progress`` is called under a lock."""
    lock = threading.Lock()

    def report(n: int) -> None:
        if progress:
            with lock:
                progress(n)

    workers = max(1, min(threads or os.cpu_count() or 1, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job, report) for job in jobs]
        return [f.result() for f in futures]


# ---------------------------------------------------------------- small kernels
@njit(**JIT)
def matvec_add(W, x, out):
    """``out += W @ x`` for ``W [m, n]`` (one pass over W's rows)."""
    for r in range(W.shape[0]):
        acc = np.float32(0.0)
        row = W[r]
        for j in range(x.shape[0]):
            acc += row[j] * x[j]
        out[r] += acc


@njit(**JIT)
def matvec_t(W, d, out):
    """``out = W.T @ d`` for ``W [m, n]`` (one pass over W's rows, axpy per row)."""
    out[:] = 0
    for r in range(W.shape[0]):
        coef = d[r]
        if coef != 0:
            row = W[r]
            for j in range(out.shape[0]):
                out[j] += coef * row[j]


@njit(**JIT)
def output_loss(z, target, label, output, loss, dz):
    """Loss of one output ``z`` and its gradient ``dz`` (``docs/model.md``, backward pass)."""
    n = z.shape[0]
    y = np.empty(n, np.float32)
    if output == SOFTMAX or loss == CE:
        m = z.max()
        s = np.float32(0.0)
        for k in range(n):
            y[k] = np.exp(z[k] - m)
            s += y[k]
        y /= s
        lse = m + np.log(s)
    else:
        for k in range(n):
            y[k] = sigmoid(z[k])
        lse = np.float32(0.0)
    if loss == CE:
        dz[:] = y
        dz[label] -= 1
        return lse - z[label]
    value = np.float32(0.0)
    for k in range(n):
        value += (y[k] - target[k]) ** 2
    u = np.float32(2.0) * (y - target) / np.float32(n)
    if output == SOFTMAX:
        uy = np.float32(0.0)
        for k in range(n):
            uy += u[k] * y[k]
        dz[:] = y * (u - uy)
    else:
        dz[:] = u * y * (np.float32(1.0) - y)
    return value / np.float32(n)


@njit(**JIT)
def decay_floored(sq, alpha):
    """``sq *= alpha``, then averages below the RMSprop floor are stored as 0 (never
    subnormal: see :data:`~smoothlearn.contract.RMSPROP_V_FLOOR`)."""
    for j in range(sq.shape[0]):
        v = sq[j] * alpha
        sq[j] = v if v >= RMSPROP_FLOOR else np.float32(0.0)


@njit(**JIT)
def opt_update(w, g, sq, buf, opt, lr, alpha, eps, momentum):
    """SGD, or PyTorch's RMSprop, on flat views ``w`` with gradient ``g`` (same length)."""
    if opt == SGD:
        for j in range(w.shape[0]):
            w[j] -= lr * g[j]
        return
    for j in range(w.shape[0]):
        v = alpha * sq[j] + (np.float32(1.0) - alpha) * g[j] * g[j]
        sq[j] = v if v >= RMSPROP_FLOOR else np.float32(0.0)  # stored floored, step uses v as is
        step = g[j] / (np.sqrt(v) + eps)
        if momentum > 0:
            buf[j] = momentum * buf[j] + step
            step = buf[j]
        w[j] -= lr * step


@njit(**JIT)
def add_metrics(z, y, target, label, output, classify, totals):
    """Add one test item's squared error, cross-entropy and hit (``totals``, float64) from
    its logits ``z`` (``y`` is scratch for the output)."""
    if output == SOFTMAX:
        y[:] = np.exp(z - z.max())
        y /= y.sum()
    else:
        for r in range(z.shape[0]):
            y[r] = sigmoid(z[r])
    for r in range(z.shape[0]):
        totals[0] += (y[r] - target[r]) ** 2
    if classify:
        top = z.max()
        totals[1] += top + math.log(np.exp(z - top).sum()) - z[label]
        totals[2] += np.argmax(z) == label


@njit(**JIT)
def finish_metrics(totals, n, n_out, classify):
    """Mean test MSE, CE and accuracy over ``n`` items (CE and accuracy NaN when not
    classifying)."""
    if not classify:
        return totals[0] / (n * n_out), np.nan, np.nan
    return totals[0] / (n * n_out), totals[1] / n, totals[2] / n


# ---------------------------------------------------------------- training
@njit(**JIT)
def scatter(indptr, indices, values, items, n, dense, mark, fill):
    """Write (``fill``) or clear the dense rows of ``items[:n]`` and mark their lit pixels."""
    for k in range(n):
        item = items[k]
        for q in range(indptr[item], indptr[item + 1]):
            dense[k, indices[q]] = values[q] if fill else 0
            mark[indices[q]] = 1 if fill else 0


@njit(**JIT)
def project(Wx, indptr, indices, values, items, n, Px, mark, dense):
    """``Px[k] = Wx.T x_items[k]`` for k < n, in one pass over the rows of lit pixels.

    ``Wx [d_in, m]`` holds one row per input pixel; ``mark``/``dense`` are zeroed scratch.
    """
    scatter(indptr, indices, values, items, n, dense, mark, True)
    Px[:n] = 0
    for p in range(Wx.shape[0]):
        if mark[p]:
            project_row(Wx[p], dense[:n, p], Px)
    scatter(indptr, indices, values, items, n, dense, mark, False)


@njit(**JIT)
def project_row(row, xs, Px):
    """Add one pixel's row of ``Wx`` to the projections of the items where it is lit."""
    for k in range(xs.shape[0]):
        v = xs[k]
        if v != 0:
            pk = Px[k]
            for j in range(row.shape[0]):
                pk[j] += v * row[j]


@njit(**JIT)
def combine_rows(coef, rows, n, out):
    """``out = sum_k coef[k] rows[k]`` for k < n (zero coefficients skipped).

    Four non-zero terms per pass over ``out``: one load and store of ``out`` per four rows.
    """
    first = True
    k = 0
    while k < n:
        m, i0, i1, i2, i3 = 0, 0, 0, 0, 0
        c0 = c1 = c2 = c3 = np.float32(0.0)
        while k < n and m < 4:
            c = coef[k]
            if c != 0:
                if m == 0:
                    i0, c0 = k, c
                elif m == 1:
                    i1, c1 = k, c
                elif m == 2:
                    i2, c2 = k, c
                else:
                    i3, c3 = k, c
                m += 1
            k += 1
        if m > 0:  # absent terms have coefficient 0 and repeat row i0
            _axpy4(out, first, c0, rows[i0], c1, rows[i1 if m > 1 else i0],
                   c2, rows[i2 if m > 2 else i0], c3, rows[i3 if m > 3 else i0])  # fmt: skip
            first = False
    if first:
        out[:] = 0


@njit(**JIT)
def _axpy4(out, first, c0, r0, c1, r1, c2, r2, c3, r3):
    """``out (= or +=) c0 r0 + c1 r1 + c2 r2 + c3 r3``."""
    if first:
        for j in range(out.shape[0]):
            out[j] = c0 * r0[j] + c1 * r1[j] + c2 * r2[j] + c3 * r3[j]
    else:
        for j in range(out.shape[0]):
            out[j] += c0 * r0[j] + c1 * r1[j] + c2 * r2[j] + c3 * r3[j]


@njit(**JIT)
def update_and_project(W, sq, buf, indptr, indices, values, grad_items, n_grad, D, proj_items,
                       n_proj, Px, mark, dense_g, dense_p, grad, opt, lr, alpha, eps, momentum):
    """Optimiser step of a first layer ``W [d_in, m]``, fused with the next step's products.

    The gradient is ``dW[p] = sum_k x_k[p] D[k]`` over ``grad_items[:n_grad]``; the products
    ``Px[k] = W.T x_k`` (after the step) are of ``proj_items[:n_proj]``, so each lit row is
    read once for both. SGD touches only rows lit in either set (the others have zero
    gradient and no product); RMSprop visits every row, as its averages decay (and momentum
    moves the weight) even at zero gradient.
    """
    scatter(indptr, indices, values, grad_items, n_grad, dense_g, mark, True)
    scatter(indptr, indices, values, proj_items, n_proj, dense_p, mark, True)
    Px[:n_proj] = 0
    coef = np.empty(max(n_grad, 1), np.float32)
    for p in range(W.shape[0]):
        if mark[p] == 0 and opt == SGD:
            continue
        row = W[p]
        if mark[p] != 0 or momentum > 0:
            for k in range(n_grad):
                coef[k] = dense_g[k, p]
            combine_rows(coef, D, n_grad, grad)
            opt_update(row, grad, sq[p], buf[p], opt, lr, alpha, eps, momentum)
        elif opt != SGD:  # zero gradient, no momentum: only the average decays, w is unchanged
            decay_floored(sq[p], alpha)
        if mark[p] != 0:
            project_row(row, dense_p[:n_proj, p], Px)
    scatter(indptr, indices, values, grad_items, n_grad, dense_g, mark, False)
    scatter(indptr, indices, values, proj_items, n_proj, dense_p, mark, False)

