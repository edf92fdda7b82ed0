"""The model's step, once, and the compiled loops that compose it (numba, float32).

The first half holds one function per piece of ``docs/model.md``: the first layer's forward
pass (dense or sparse), the leaky memory with its resets, the output layer with the loss
gradient (softmax/sigmoid x MSE/CE), and the SGD and RMSprop updates. The second half holds
the kernels: training (:func:`train_net`, :func:`train_chunk`) and evaluation
(:func:`eval_items`, :func:`stream_memory`), which only walk networks, steps and items and call
the step functions; there is no model math in them. ``tests/test_engine.py`` holds the result
equal to the readable reference trainer.

Why one file: numba's on-disk cache (``cache=True``) only notices edits to the file that
defines a cached kernel, so kernels in another file would silently keep stale step functions.

Why some steps are ``inline="always"``: the kernels may reassociate and contract floating-point
operations (``FASTMATH``), so how a step is inlined decides the rounding. The inlining here
reproduces the numbers of the original hand-inlined kernels bit for bit (``tests/golden``).

``W1`` is stored transposed (``[d_in, d_hidden]``) so that the forward pass and the rank-1
update both walk contiguous rows, one per input element. Arrays are passed whole with an
index (``tgt`` and ``item``) rather than sliced: a slice is a view whose reference count,
shared by all threads, costs atomic operations every step.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from smoothlearn.engine.codes import (
    CE,
    F0,
    F1,
    F2,
    FASTMATH,
    RMSPROP_FLOOR,
    SGD,
    SIGMOID,
    SOFTMAX,
)
from smoothlearn.engine.floatmode import FLUSH_SUBNORMALS, float_mode, set_float_mode
from smoothlearn.engine.vectors import wide_vectors

# Kernels use error_model="numpy": a division by zero gives inf/NaN (which the divergence
# check sees) instead of a Python exception, and the check would block vectorisation.
_STEP = dict(cache=True, error_model="numpy", fastmath=FASTMATH)


# ----------------------------------------------------------------------------- memory


@njit(inline="always", **_STEP)
def relu(p):
    return p if p > 0 else F0


@njit(inline="always", **_STEP)
def leaky(previous, act, e, c):
    """Paper Eq. (1) for one unit: H(n) = e H(n-1) + c act, c = 1 - e, act = ReLU(pre)."""
    return e * previous + c * act


@njit(**_STEP)
def memory(H, mask, pre, leak, reset, exact):
    """H = leaky(H, ReLU(pre)) and mask = dH/dpre, one reset flag for every unit.

    Separate from the grouped case so that the loop has no per-unit gather and vectorises.
    """
    for j in range(H.shape[0]):
        p = pre[j]
        e = F0 if reset else leak[j]
        c = F1 - e
        H[j] = leaky(H[j], relu(p), e, c)
        mask[j] = (c if exact else F1) if p > 0 else F0


@njit(**_STEP)
def memory_groups(H, mask, pre, leak, resets, t, group, exact):
    """As :func:`memory`, with unit j reset by its input group's flag ``resets[t, group[j]]``."""
    for j in range(H.shape[0]):
        p = pre[j]
        e = F0 if resets[t, group[j]] else leak[j]
        c = F1 - e
        H[j] = leaky(H[j], relu(p), e, c)
        mask[j] = (c if exact else F1) if p > 0 else F0


# ----------------------------------------------------------------------------- first layer


@njit(**_STEP)
def forward_w1(pre, W1T, b1, X, ptr, idx, val, item, sparse):
    """pre = W1 x + b1 for one item (sparse: only the rows of its non-zero elements)."""
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


#: The grouped first layer keeps each sum in its written order (no "reassoc"), see below.
_IN_ORDER = dict(cache=True, error_model="numpy", fastmath={"contract"})


@njit(**_IN_ORDER)
def forward_w1_csr(pre, W1T, b1, ptr, idx, val, item):
    """pre = W1 x + b1 for CSR row ``item`` (:func:`w1_csr_rows`)."""
    w1_csr_rows(pre, W1T, b1, ptr, idx, val, item)


@njit(**_IN_ORDER)
def forward_w1_wide(pre, W1T, b1, ptr, idx, val, item):
    """:func:`forward_w1_csr` in 512-bit vectors, never inlined (:mod:`.vectors`).

    For the evaluation, whose rows of ``W1T`` are padded to 64-byte multiples and aligned
    (:func:`.arrays.aligned_rows`): each 512-bit load is then one whole cache line, where a
    64-byte load across two lines would cost more than two 32-byte ones. The sums are the
    same, in the same order, as at any other width.
    """
    wide_vectors()
    w1_csr_rows(pre, W1T, b1, ptr, idx, val, item)


@njit(inline="always", **_IN_ORDER)
def w1_csr_rows(pre, W1T, b1, ptr, idx, val, item):
    """pre = W1 x + b1 for CSR row ``item``, eight rows of W1T per pass over ``pre``.

    Why eight: one row per pass loads and stores ``pre`` once per multiply-add and is bound by
    that (and by streaming each row from L2); eight rows per pass share one load and store
    (about 0.6x the time of one row per pass on the MNIST test set). Each ``pre[j]`` still
    adds its products one by one in CSR (ascending pixel) order, and without "reassoc" the
    compiler may not regroup them, so the sums equal those of one row per pass bit for bit.
    """
    h = pre.shape[0]
    for j in range(h):
        pre[j] = b1[j]
    p = ptr[item]
    end = ptr[item + 1]
    while p + 8 <= end:
        c0, c1, c2, c3 = idx[p], idx[p + 1], idx[p + 2], idx[p + 3]
        c4, c5, c6, c7 = idx[p + 4], idx[p + 5], idx[p + 6], idx[p + 7]
        v0, v1, v2, v3 = val[p], val[p + 1], val[p + 2], val[p + 3]
        v4, v5, v6, v7 = val[p + 4], val[p + 5], val[p + 6], val[p + 7]
        for j in range(h):
            a = pre[j]
            a += W1T[c0, j] * v0
            a += W1T[c1, j] * v1
            a += W1T[c2, j] * v2
            a += W1T[c3, j] * v3
            a += W1T[c4, j] * v4
            a += W1T[c5, j] * v5
            a += W1T[c6, j] * v6
            a += W1T[c7, j] * v7
            pre[j] = a
        p += 8
    for q in range(p, end):
        c = idx[q]
        v = val[q]
        for j in range(h):
            pre[j] += W1T[c, j] * v


@njit(**_STEP)
def sgd_w1(W1T, dpre, pre, b1, X, ptr, idx, val, it, nx, sparse, lr):
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
                    w = sgd(W1T[ia, j], dpre[j] * xa, lr)
                    W1T[ia, j] = w
                    pre[j] += w * xb
                a += 1
                b += 1
            elif ia < ib:
                xa = val[a]
                for j in range(h):
                    W1T[ia, j] = sgd(W1T[ia, j], dpre[j] * xa, lr)
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
                w = sgd(W1T[i, j], dpre[j] * xa, lr)
                W1T[i, j] = w
                pre[j] += w * xb
    else:
        for i in range(d):
            xa = X[it, i]
            for j in range(h):
                W1T[i, j] = sgd(W1T[i, j], dpre[j] * xa, lr)


@njit(**_STEP)
def rms_w1(W1T, V, B, U, dpre, pre, b1, X, it, nx, t, sparse, lr, alpha, oma, mom, eps):
    """RMSprop on W1 at step ``t``, fused with the next pre.

    torch's RMSprop decays ``v`` (and, with momentum, moves ``w`` through its buffer) even
    where this step's gradient is zero, i.e. on every row whose input is zero. With momentum
    those rows take the g = 0 update (:func:`rms_decay`, :func:`rms_coast`). Without it the
    decay is all that happens there, so it is deferred ("lazy", as in lazy Adam): ``U[i]`` is
    the first step whose decay row i has not had, and the missed decays are applied at once
    (:func:`rms_catch_up`) when the row's input is next non-zero, and at the end of a chunk.
    The same numbers up to float32 rounding of ``alpha ** k``, at the cost of the lit rows only.
    """
    d, h = W1T.shape
    if nx >= 0:
        for j in range(h):
            pre[j] = b1[j]
    for i in range(d):
        xa = X[it, i]
        if xa == 0 and eps > 0:
            if mom > 0:
                for j in range(h):
                    V[i, j] = rms_decay(V[i, j], alpha)
                for j in range(h):
                    W1T[i, j], B[i, j] = rms_coast(W1T[i, j], B[i, j], lr, mom)
                U[i] = t + 1
        elif mom > 0:
            for j in range(h):
                W1T[i, j], V[i, j], B[i, j] = rms(
                    W1T[i, j], dpre[j] * xa, V[i, j], B[i, j], lr, alpha, oma, mom, eps
                )
            U[i] = t + 1
        else:
            rms_catch_up(V, U, i, t, alpha)
            for j in range(h):
                W1T[i, j], V[i, j], _ = rms(
                    W1T[i, j], dpre[j] * xa, V[i, j], F0, lr, alpha, oma, mom, eps
                )
            U[i] = t + 1
        if nx >= 0:
            xb = X[nx, i]
            if xb != 0 or not sparse:
                for j in range(h):
                    pre[j] += W1T[i, j] * xb


@njit(**_STEP)
def rms_w1_sparse(W1T, V, U, dpre, pre, b1, ptr, idx, val, it, nx, t, lr, alpha, oma, eps, decays):
    """:func:`rms_w1` without momentum on the sparse path (eps > 0): the only rows touched are
    those lit by item ``it`` (caught up, then updated) or by the next item ``nx`` (pre), a
    merge of the two sorted lists as in :func:`sgd_w1`. ``decays[k]`` is ``alpha ** k``
    (:func:`rms_decays`), so a catch-up costs no ``pow``, and it is fused into the update.
    Rows lit by both items get the update and the next pre in two loops over the row: one
    fused loop measured no faster and made train_net's SGD path ~10% slower (code layout).
    """
    d, h = W1T.shape
    if nx >= 0:
        for j in range(h):
            pre[j] = b1[j]
    a, ae = ptr[it], ptr[it + 1]
    b, be = 0, 0
    if nx >= 0:
        b, be = ptr[nx], ptr[nx + 1]
    while a < ae or b < be:
        ia = idx[a] if a < ae else d
        ib = idx[b] if b < be else d
        if ia <= ib:
            xa = val[a]
            factor = decays[t - U[ia]]
            for j in range(h):
                W1T[ia, j], V[ia, j], _ = rms(
                    W1T[ia, j], dpre[j] * xa, rms_floor(V[ia, j] * factor), F0, lr, alpha,
                    oma, F0, eps,
                )  # fmt: skip
            U[ia] = t + 1
            a += 1
        if ib <= ia:
            xb = val[b]
            for j in range(h):
                pre[j] += W1T[ib, j] * xb
            b += 1


@njit(**_STEP)
def rms_decays(alpha, n):
    """``alpha ** k`` for k = 0..n, each rounded as :func:`rms_catch_up` rounds it."""
    out = np.empty(n + 1, np.float32)
    for k in range(n + 1):
        out[k] = np.float32(np.float64(alpha) ** k)
    return out


@njit(inline="always", **_STEP)
def rms_catch_up(V, U, i, t, alpha):
    """Row i of the square averages brought to step ``t``: the ``t - U[i]`` decays it missed,
    as one factor ``alpha ** k`` (computed in float64), then floored."""
    k = t - U[i]
    if k > 0:
        factor = np.float32(np.float64(alpha) ** k)
        for j in range(V.shape[1]):
            V[i, j] = rms_floor(V[i, j] * factor)
        U[i] = t


# ----------------------------------------------------------------------------- optimisers


@njit(inline="always", **_STEP)
def sgd(w, g, lr):
    return w - lr * g


@njit(inline="always", **_STEP)
def rms_floor(v):
    """The stored square average, flushed to 0 below float32's smallest normal number.

    Averages of rarely non-zero inputs decay into subnormals, on which many CPUs are ~50x
    slower; the reference trainer applies the same floor (``train.RMSPROP_FLOOR``).
    """
    return F0 if v < RMSPROP_FLOOR else v


@njit(inline="always", **_STEP)
def rms_decay(v, alpha):
    """RMSprop's square average where g = 0: exactly alpha v (the rest of the sum is 0)."""
    return rms_floor(alpha * v)


@njit(inline="always", **_STEP)
def rms_coast(w, b, lr, mom):
    """RMSprop with momentum where g = 0 (eps > 0): w moves by its decayed buffer alone."""
    b = mom * b
    return w - lr * b, b


@njit(cache=True, error_model="numpy", fastmath={"arcp", "ninf"})
def inv_avg_finite(v, eps):
    """1 / (sqrt(v) + eps) for finite v. "arcp" with "ninf" (here only: "ninf" elsewhere
    could hide divergence) let LLVM replace the vector division, RMSprop's costliest
    operation with the square root, by a reciprocal estimate and one Newton step: within
    2 ulp of the rounded division (tests/test_engine_rmsprop.py). Scalar code keeps the
    exact division."""
    return F1 / (np.sqrt(v) + eps)


@njit(inline="always", **_STEP)
def inv_avg(v, eps):
    """1 / (sqrt(v) + eps), and 0 for v = inf as the exact division gives it."""
    return F0 if v == np.inf else inv_avg_finite(v, eps)


@njit(inline="always", **_STEP)
def rms(w, g, v, b, lr, alpha, oma, mom, eps):
    """One element of torch.optim.RMSprop (no centering); returns (w, v, buf).

    The update uses ``v`` as computed; the stored ``v`` is floored (:func:`rms_floor`).
    """
    v = alpha * v + oma * (g * g)
    r = inv_avg(v, eps)
    if mom > 0:
        b = mom * b + g * r
        w = w - lr * b
    else:
        w = w - lr * (g * r)
    return w, rms_floor(v), b


# ----------------------------------------------------------------------------- output layer


@njit(inline="always", **_STEP)
def logits(z, W2, b2, H):
    """z = W2 H + b2."""
    for q in range(z.shape[0]):
        acc = F0
        for j in range(H.shape[0]):
            acc += W2[q, j] * H[j]
        z[q] = acc + b2[q]


@njit(inline="always", **_STEP)
def softmax_parts(z, ez):
    """ez = exp(z - max z); returns (max z, sum ez): softmax = ez / sum, CE needs both.

    The sum is its own loop, which only reads: see :func:`sum_in_order`.
    """
    zmax = z[0]
    for q in range(1, z.shape[0]):
        zmax = max(zmax, z[q])
    for q in range(z.shape[0]):
        ez[q] = np.exp(z[q] - zmax)
    return zmax, sum_in_order(ez)


@njit(**_IN_ORDER)
def sum_in_order(x):
    """sum(x), added in index order, in a loop that stores nothing.

    Why: a loop that stores into one array while it sums another is vectorised behind a
    run-time check of the two arrays' addresses, and falls back to the scalar loop, which
    adds in another order ("reassoc"), when they start within 256 bytes of each other. The
    kernels' small scratch arrays (``z``, ``y``, ``g``, ``ez``: one float per output) often
    do, depending on where a process's and thread's allocator puts them, so the sums, and
    every curve after them, depended on the process that trained a run (1e-9 apart between
    a Dask worker and a pool worker). A loop that only reads, without "reassoc" (this
    function is never inlined by numba, so the caller's flags do not reach it), has one
    order wherever the arrays lie: the scalar loop's, which the arrays' usual placement
    took (``tests/golden`` unchanged). ``tests/test_engine.py`` moves the arrays about.
    """
    s = F0
    for q in range(x.shape[0]):
        s += x[q]
    return s


@njit(**_IN_ORDER)
def squares_in_order(y, tgt, item):
    """sum((y - tgt[item]) ** 2), in index order (:func:`sum_in_order`)."""
    s = F0
    for q in range(y.shape[0]):
        diff = y[q] - tgt[item, q]
        s += diff * diff
    return s


@njit(**_IN_ORDER)
def dot_in_order(a, b):
    """sum(a * b), in index order (:func:`sum_in_order`)."""
    s = F0
    for q in range(a.shape[0]):
        s += a[q] * b[q]
    return s


@njit(inline="always", **_STEP)
def sigmoid(zq):
    return F1 / (F1 + np.exp(-zq))


@njit(**_STEP)
def output_grad(z, y, g, tgt, item, label, out_kind, loss_kind):
    """Output y, loss and g = dLoss/dz for one step (docs/model.md, "Backward pass").

    The softmax and sigmoid are written out here rather than through :func:`softmax_parts`
    and :func:`sigmoid`: routed through them, the contracted float32 rounding changed.
    """
    o = z.shape[0]
    zmax = z[0]
    for q in range(1, o):
        zmax = max(zmax, z[q])
    s = F0
    if out_kind == SOFTMAX:
        for q in range(o):
            y[q] = np.exp(z[q] - zmax)
        s = sum_in_order(y)  # each sum in its own loop, in order: sum_in_order
        for q in range(o):
            y[q] = y[q] / s
    else:
        for q in range(o):
            y[q] = F1 / (F1 + np.exp(-z[q]))
    if loss_kind == CE:
        for q in range(o):
            g[q] = y[q]
        g[label] -= F1
        return np.log(s) - (z[label] - zmax)
    scale = F2 / np.float32(o)
    for q in range(o):
        g[q] = scale * (y[q] - tgt[item, q])
    loss = squares_in_order(y, tgt, item)
    su = dot_in_order(g, y)
    if out_kind == SIGMOID:
        for q in range(o):
            g[q] = g[q] * y[q] * (F1 - y[q])
    else:
        for q in range(o):
            g[q] = y[q] * (g[q] - su)
    return loss / np.float32(o)


@njit(inline="always", **_STEP)
def backward(dpre, mask, W2, b2, H, g, b1, vb1, vW2, vb2, mb1, mW2, mb2,
             opt, lr, alpha, oma, mom, eps):  # fmt: skip
    """Second layer and b1: dH = W2^T g (W2 before its update), update W2 and b2, then
    dpre = dH * mask and update b1. W1's update is fused with the next forward pass.

    With SGD the optimiser state arrays are empty and never touched.
    """
    h = dpre.shape[0]
    for j in range(h):
        dpre[j] = F0
    for q in range(g.shape[0]):
        gq = g[q]
        if opt == SGD:
            for j in range(h):
                w = W2[q, j]
                dpre[j] += w * gq
                W2[q, j] = sgd(w, gq * H[j], lr)
        else:
            for j in range(h):
                w = W2[q, j]
                dpre[j] += w * gq
                W2[q, j], vW2[q, j], mW2[q, j] = rms(
                    w, gq * H[j], vW2[q, j], mW2[q, j], lr, alpha, oma, mom, eps
                )
        if opt == SGD:
            b2[q] = sgd(b2[q], gq, lr)
        else:
            b2[q], vb2[q], mb2[q] = rms(b2[q], gq, vb2[q], mb2[q], lr, alpha, oma, mom, eps)
    for j in range(h):
        dpre[j] = dpre[j] * mask[j]
        if opt == SGD:
            b1[j] = sgd(b1[j], dpre[j], lr)
        else:
            b1[j], vb1[j], mb1[j] = rms(b1[j], dpre[j], vb1[j], mb1[j], lr, alpha, oma, mom, eps)


@njit(inline="always", **_STEP)
def metrics_add(z, ez, tgt, item, label, out_kind, classify, sums):
    """Add one item's squared error, cross-entropy and correctness to ``sums`` (float64 [3])."""
    o = z.shape[0]
    best = 0
    for q in range(1, o):
        if z[q] > z[best]:
            best = q
    s = F1
    zmax = z[best]
    if out_kind == SOFTMAX or classify:
        zmax, s = softmax_parts(z, ez)
    sq = F0
    for q in range(o):
        yq = ez[q] / s if out_kind == SOFTMAX else sigmoid(z[q])
        sq += (yq - tgt[item, q]) * (yq - tgt[item, q])
    sums[0] += sq
    if classify:
        sums[1] += np.log(s) - (z[label] - zmax)
        sums[2] += best == label


@njit(**_STEP)
def averaged_metrics_add(Y, tgt, item, label, classify, sums):
    """Add one item's squared error, cross-entropy and correctness of averaged outputs ``Y``
    to ``sums``: CE of ``Y`` normalised to sum 1, correct when its argmax is the label."""
    o = Y.shape[0]
    best = 0
    total = F0
    sq = F0
    for q in range(o):
        if Y[q] > Y[best]:
            best = q
        total += Y[q]
        sq += (Y[q] - tgt[item, q]) * (Y[q] - tgt[item, q])
    sums[0] += sq
    if classify:
        sums[1] += np.log(total) - np.log(Y[label])
        sums[2] += best == label


@njit(**_STEP)
def average_outputs_step(Y, z, ez, out_kind, reset, leak):
    """Y = leaky(Y, y): this item's outputs y (softmax or sigmoid of ``z``) into the running
    average of the outputs, restarting at a reset."""
    s = F1
    if out_kind == SOFTMAX:
        _, s = softmax_parts(z, ez)
    e = F0 if reset else leak
    for q in range(z.shape[0]):
        yq = ez[q] / s if out_kind == SOFTMAX else sigmoid(z[q])
        Y[q] = leaky(Y[q], yq, e, F1 - e)


# ----------------------------------------------------------------------------- kernels


@njit(**_STEP)
def train_net(
    X, ptr, idx, val, sparse, tgt, lab, order, resets, s0, s1, group, leak,
    W1T, b1, W2, b2, H, vW1, vb1, vW2, vb2, mW1, mb1, mW2, mb2, uW1,
    out_kind, loss_kind, opt, exact, lr, alpha, oma, mom, eps,
):  # fmt: skip
    """Steps s0..s1-1 of one network; returns -1, or the step whose loss was not finite.

    ``uW1`` [d]: RMSprop's lazy-decay bookkeeping (:func:`rms_w1`); every row is brought to
    ``s1`` before a normal return, so the optimiser state is exact between chunks (a network
    that diverged is never trained or read again, so it is left as it stopped). RMSprop runs
    with subnormals flushed (:mod:`.floatmode`); the caller's float mode is restored."""
    h = H.shape[0]
    o = b2.shape[0]
    pre = np.empty(h, np.float32)
    mask = np.empty(h, np.float32)
    dH = np.empty(h, np.float32)
    z = np.empty(o, np.float32)
    y = np.empty(o, np.float32)
    g = np.empty(o, np.float32)
    mode = float_mode()
    if opt != SGD:
        set_float_mode(mode | FLUSH_SUBNORMALS)
    lazy_sparse = opt != SGD and sparse and mom == 0 and eps > 0
    decays = rms_decays(alpha, s1 - s0 if lazy_sparse else 0)
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
            set_float_mode(mode)
            return t
        backward(dH, mask, W2, b2, H, g, b1, vb1, vW2, vb2, mb1, mW2, mb2,
                 opt, lr, alpha, oma, mom, eps)  # fmt: skip
        nx = order[t + 1] if t + 1 < s1 else -1
        if opt == SGD:
            sgd_w1(W1T, dH, pre, b1, X, ptr, idx, val, it, nx, sparse, lr)
        elif lazy_sparse:
            rms_w1_sparse(W1T, vW1, uW1, dH, pre, b1, ptr, idx, val, it, nx, t, lr, alpha, oma,
                          eps, decays)  # fmt: skip
        else:
            rms_w1(W1T, vW1, mW1, uW1, dH, pre, b1, X, it, nx, t, sparse, lr, alpha, oma, mom,
                   eps)  # fmt: skip
    if opt != SGD:
        for i in range(uW1.shape[0]):
            rms_catch_up(vW1, uW1, i, s1, alpha)
    set_float_mode(mode)
    return -1


@njit(parallel=True, cache=True, error_model="numpy")
def train_chunk(
    X, ptr, idx, val, sparse, tgts, tgt_of, labs, lab_of, order, resets, s0, s1, group, leak,
    W1T, b1, W2, b2, H, vW1, vb1, vW2, vb2, mW1, mb1, mW2, mb2, uW1, alive, stop,
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
                vW1[k], vb1k, vW2k, vb2k, mW1[k], mb1k, mW2k, mb2k, uW1[k],
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
                    prev = act[k, i - 1, j] if i > 0 else F0
                    e = F0 if resets[k, i, group[j]] else leak[k, j]
                    act[k, i, j] = leaky(prev, act[k, i, j], e, F1 - e)


@njit(inline="always", **_STEP)
def first_layer(pre, W1T, b1, ptr, idx, val, item, wide):
    """pre = W1 x + b1 for CSR row ``item``: 512-bit vectors (:func:`forward_w1_wide`) or the
    compiler's width (:func:`forward_w1_csr`), with the same sums
    (``smoothlearn.kernel_choice`` picks one per CPU)."""
    if wide:
        forward_w1_wide(pre, W1T, b1, ptr, idx, val, item)
    else:
        forward_w1_csr(pre, W1T, b1, ptr, idx, val, item)


@njit(inline="always", **_STEP)
def score_item(pre, i, H, z, ez, Y, W2, b2, leak, resets, streamed, group, tgt, lab, out_kind,
               classify, average, out_leak, sums):  # fmt: skip
    """Add test item ``i`` (first-layer sums ``pre``) to ``sums``: through the leaky memory
    ``H`` on a streamed test, the output layer, and the metrics of its outputs (or of the
    outputs averaged in ``Y``)."""
    h = pre.shape[0]
    if streamed and resets.shape[1] == 1:  # one reset group: no gather, so it vectorises
        reset = resets[i, 0]
        for j in range(h):
            e = F0 if reset else leak[j]
            H[j] = leaky(H[j], relu(pre[j]), e, F1 - e)
    elif streamed:
        for j in range(h):
            e = F0 if resets[i, group[j]] else leak[j]
            H[j] = leaky(H[j], relu(pre[j]), e, F1 - e)
    else:
        for j in range(h):
            H[j] = relu(pre[j])
    logits(z, W2, b2, H)
    if average and streamed:
        average_outputs_step(Y, z, ez, out_kind, resets[i, 0], out_leak)
        averaged_metrics_add(Y, tgt, i, lab[i], classify, sums)
    else:
        metrics_add(z, ez, tgt, i, lab[i], out_kind, classify, sums)


@njit(inline="always", **_STEP)
def mean_scores(sums, m, o, classify, out):
    """out = (MSE, CE, accuracy) from the sums over ``m`` items of ``o`` outputs."""
    out[0] = sums[0] / (m * o)
    out[1] = sums[1] / m if classify else np.nan
    out[2] = sums[2] / m if classify else np.nan


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
def eval_items(
    ptr, idx, val, items, W1T, b1, W2, b2, leak, resets, streamed, group, tgt, lab, out_kind,
    classify, average, out_leak, wide, out,
):  # fmt: skip
    """Test MSE, CE and accuracy of one network on one test set, item by item: ``items`` are
    the test items' CSR rows in test order; with ``average`` (a streamed test only), of its
    outputs averaged by leak ``out_leak``."""
    m = items.shape[0]
    h = b1.shape[0]
    o = b2.shape[0]
    pre = np.empty(h, np.float32)
    H = np.zeros(h, np.float32)
    z = np.empty(o, np.float32)
    ez = np.empty(o, np.float32)
    Y = np.zeros(o, np.float32)
    sums = np.zeros(3)
    for i in range(m):
        first_layer(pre, W1T, b1, ptr, idx, val, items[i], wide)
        score_item(pre, i, H, z, ez, Y, W2, b2, leak, resets, streamed, group, tgt, lab,
                   out_kind, classify, average, out_leak, sums)  # fmt: skip
    mean_scores(sums, m, o, classify, out)


@njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
def eval_shared(
    ptr, idx, val, units, slots, W1T, b1, W2, b2, leak, resets, streamed, group, tgts, labs,
    out_kind, classify, average, out_leak, wide, pre, out,
):  # fmt: skip
    """:func:`eval_items` for several test sets of one network (rows ``r`` of the per-row
    arrays): the first layer once for each of their distinct items ``units`` (CSR rows),
    then each test set in its own order, ``slots[r, i]`` naming the unit of its item ``i``.

    Why: a shared training's plain and streamed tests (and the averaging controls) are the
    same test items in other orders, and the first layer is nearly all of the work. The
    sums of each item are those of :func:`eval_items`, so the metrics are the same.
    """
    m = slots.shape[1]
    h = b1.shape[0]
    o = b2.shape[0]
    for u in range(units.shape[0]):  # pre: [>= units, h] scratch
        first_layer(pre[u], W1T, b1, ptr, idx, val, units[u], wide)
    z = np.empty(o, np.float32)
    ez = np.empty(o, np.float32)
    for r in range(slots.shape[0]):
        H = np.zeros(h, np.float32)
        Y = np.zeros(o, np.float32)
        sums = np.zeros(3)
        for i in range(m):
            score_item(pre[slots[r, i]], i, H, z, ez, Y, W2, b2, leak[r], resets[r],
                       streamed[r], group, tgts[r], labs[r], out_kind, classify, average[r],
                       out_leak[r], sums)  # fmt: skip
        mean_scores(sums, m, o, classify, out[r])


@njit(cache=True, nogil=True, error_model="numpy")
def eval_chunk(ptr, idx, val, items, gnets, row_ptr, unit_ptr, units, slots, nets, W1T, b1, W2,
               b2, leak, resets, streamed, group, tgts, labs, out_kind, classify, average,
               out_leak, wide, W1pad, pre, out):  # fmt: skip
    """Evaluate the group's networks ``gnets`` (indices into its networks ``nets``): the
    rows ``row_ptr[g]:row_ptr[g + 1]`` of the per-row arrays are network ``nets[g]``'s test
    sets (``items``: their CSR rows; the row arrays include the test-time leaks ``leak``,
    ``average`` and ``out_leak``); ``out`` gets one line per row, in row order.

    A network with one test set is evaluated item by item (:func:`eval_items`); one with
    several computes its first layer once per distinct item, ``units[unit_ptr[g]:unit_ptr[g
    + 1]]``, with ``slots`` naming them per row (:func:`eval_shared`). Each network's ``W1T``
    is first copied into ``W1pad`` (rows padded and aligned to 64 bytes,
    :func:`forward_w1_wide`); the copy of a 784 x 392 ``W1T`` takes about 55 us, a quarter of
    a percent of an MNIST evaluation. ``pre``: scratch for the first-layer sums, at least
    the most distinct items of a network by ``h`` (:func:`.arrays.scratch`).
    """
    d, h = W1T.shape[1], W1T.shape[2]
    for q in range(gnets.size):
        g = gnets[q]
        k = nets[g]
        for i in range(d):
            for j in range(h):
                W1pad[i, j] = W1T[k, i, j]
        r0, r1 = row_ptr[g], row_ptr[g + 1]
        if r1 - r0 == 1:
            eval_items(
                ptr, idx, val, items[r0], W1pad, b1[k], W2[k], b2[k], leak[r0], resets[r0],
                streamed[r0], group, tgts[r0], labs[r0], out_kind, classify, average[r0],
                out_leak[r0], wide, out[r0],
            )  # fmt: skip
        else:
            eval_shared(
                ptr, idx, val, units[unit_ptr[g] : unit_ptr[g + 1]], slots[r0:r1], W1pad,
                b1[k], W2[k], b2[k], leak[r0:r1], resets[r0:r1], streamed[r0:r1], group,
                tgts[r0:r1], labs[r0:r1], out_kind, classify, average[r0:r1],
                out_leak[r0:r1], wide, pre, out[r0:r1],
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
