"""The compiled loops: training and evaluation kernels, each composed of :mod:`.steps`.

A kernel only walks networks, steps or items and calls the step functions in the order of
``docs/model.md``; there is no model math here. Training runs one network per thread
(``prange``), evaluation one network per worker thread (``nogil``) or, for dense large layers,
the leaky memory over BLAS-computed activations (:func:`stream_memory`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from smoothlearn.engine.steps import (
    FASTMATH,
    SGD,
    backward_b1,
    backward_w2,
    forward_w1,
    forward_w1_nonzero,
    leak_now,
    leaky,
    logits,
    memory,
    memory_groups,
    metrics_add,
    output_grad,
    relu,
    rms_w1,
    sgd_w1,
)


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def train_net(
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
    forward_w1(pre, W1T, b1, X, ptr, idx, val, order[s0], sparse)
    for t in range(s0, s1):
        it = order[t]
        if resets.shape[1] == 1:
            memory(H, mask, pre, leak, resets[t, 0], exact)
        else:
            memory_groups(H, mask, pre, leak, resets, t, group, exact)
        logits(z, W2, b2, H)
        loss = output_grad(z, y, g, tgt, it, lab[it], out_kind, loss_kind)
        if not np.isfinite(loss):
            return t
        backward_w2(dH, W2, b2, H, g, vW2, vb2, mW2, mb2, opt, lr, alpha, oma, mom, eps)
        backward_b1(dH, mask, b1, vb1, mb1, opt, lr, alpha, oma, mom, eps)
        nx = order[t + 1] if t + 1 < s1 else -1
        if opt == SGD:
            sgd_w1(W1T, dH, pre, b1, X, ptr, idx, val, it, nx, sparse, lr)
        else:
            rms_w1(W1T, vW1, mW1, dH, pre, b1, X, it, nx, sparse, lr, alpha, oma, mom, eps)
    return -1


@njit(parallel=True, cache=True, error_model="numpy")
def train_chunk(
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
            stop[k] = train_net(
                X, ptr, idx, val, sparse, tgts[tgt_of[k]], labs[lab_of[k]], order[k],
                resets[k], s0, s1, group, leak[k], W1T[k], b1k, W2k, b2k, Hk,
                vW1[k], vb1k, vW2k, vb2k, mW1[k], mb1k, mW2k, mb2k,
                out_kind, loss_kind, opt, exact, lr, alpha, oma, mom, eps,
            )  # fmt: skip
            b1[k], W2[k], b2[k], H[k] = b1k, W2k, b2k, Hk
            vb1[k], vW2[k], vb2[k] = vb1k, vW2k, vb2k
            mb1[k], mW2[k], mb2[k] = mb1k, mW2k, mb2k


@njit(parallel=True, cache=True, error_model="numpy", fastmath=FASTMATH)
def stream_memory(act, resets, streamed, group, leak):
    """In place: activations act[k] = ReLU(pre) -> H[k], the leaky memory over the stream."""
    K, m, h = act.shape
    for k in prange(K):
        if streamed[k]:
            for i in range(m):
                for j in range(h):
                    e = leak_now(leak[k, j], resets[k, i, group[j]])
                    prev = act[k, i - 1, j] if i > 0 else np.float32(0.0)
                    act[k, i, j] = leaky(prev, act[k, i, j], e)


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
def eval_items(
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
    sums = np.zeros(3)
    for i in range(m):
        forward_w1_nonzero(pre, W1T, b1, X, i, nz)
        if streamed:
            for j in range(h):
                H[j] = leaky(H[j], relu(pre[j]), leak_now(leak[j], resets[i, group[j]]))
        else:
            for j in range(h):
                H[j] = relu(pre[j])
        logits(z, W2, b2, H)
        metrics_add(z, ez, tgt, i, lab[i], out_kind, classify, sums)
    out[0] = sums[0] / (m * o)
    out[1] = sums[1] / m if classify else np.nan
    out[2] = sums[2] / m if classify else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def eval_chunk(X, src, nets, rows, W1T, b1, W2, b2, leak, resets, streamed, group, tgts, labs,
               out_kind, classify, out):  # fmt: skip
    """Evaluate networks ``nets`` (rows ``rows`` of the group's per-network arrays)."""
    for q in range(nets.size):
        k = nets[q]
        r = rows[q]
        eval_items(
            X[src[r]], W1T[k], b1[k], W2[k], b2[k], leak[k], resets[r], streamed[r], group,
            tgts[r], labs[r], out_kind, classify, out[q],
        )  # fmt: skip


@njit(cache=True)
def csr_count(X, ptr):
    """First pass of the CSR build: ptr[r + 1] = non-zeros in rows 0..r."""
    n, d = X.shape
    total = 0
    for r in range(n):
        for c in range(d):
            total += X[r, c] != 0
        ptr[r + 1] = total


@njit(cache=True)
def csr_fill(X, ptr, idx, val):
    """Second pass of the CSR build: column indices (ascending) and values per row."""
    n, d = X.shape
    for r in range(n):
        p = ptr[r]
        for c in range(d):
            if X[r, c] != 0:
                idx[p] = c
                val[p] = X[r, c]
                p += 1
