"""The model's step, once: numba functions that every training and evaluation kernel composes.

Each function is one piece of ``docs/model.md`` (float32 throughout): the first layer's
forward pass (dense or sparse), the leaky memory with its resets, the output layer with the
loss gradient (softmax/sigmoid x MSE/CE), and the SGD and RMSprop updates. The kernels in
:mod:`smoothlearn.engine.kernels` only loop over networks, steps and items and call these;
``tests/test_engine.py`` holds the result equal to the readable reference trainer.

``W1`` is stored transposed (``[d_in, d_hidden]``) so that the forward pass and the rank-1
update both walk contiguous rows, one per input element. Arrays are passed whole with an
index (``tgt`` and ``item``) rather than sliced: a slice is a view whose reference count,
shared by all threads, costs atomic operations every step.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation and FMA contraction only: NaN/inf must survive, they signal divergence.
# Kernels use error_model="numpy": a division by zero gives inf/NaN (which the divergence
# check sees) instead of a Python exception, and the check would block vectorisation.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

OUTPUTS = {"softmax": 0, "sigmoid": 1}
LOSSES = {"mse": 0, "ce": 1}
OPTIMIZERS = {"sgd": 0, "rmsprop": 1}
LEAK_GRADS = {"exact": True, "ignore": False}
SOFTMAX, SIGMOID = 0, 1
MSE, CE = 0, 1
SGD, RMSPROP = 0, 1

F0 = np.float32(0.0)
F1 = np.float32(1.0)
F2 = np.float32(2.0)

_STEP = dict(cache=True, error_model="numpy", fastmath=FASTMATH)


# ----------------------------------------------------------------------------- memory


@njit(inline="always", **_STEP)
def relu(p):
    return p if p > 0 else F0


@njit(inline="always", **_STEP)
def leak_now(leak, reset):
    """The leak of a unit on this step: 0 where its memory resets."""
    return F0 if reset else leak


@njit(inline="always", **_STEP)
def leaky(previous, act, e):
    """Paper Eq. (1) for one unit: H(n) = e H(n-1) + (1 - e) act, with act = ReLU(pre)."""
    return e * previous + (F1 - e) * act


@njit(inline="always", **_STEP)
def leaky_grad(p, e, exact):
    """dH/dpre of :func:`leaky` (H(n-1) detached): (1 - e) ReLU'(pre), or ReLU' ("ignore")."""
    return ((F1 - e) if exact else F1) if p > 0 else F0


@njit(**_STEP)
def memory(H, mask, pre, leak, reset, exact):
    """H = leaky(H, ReLU(pre)) and mask = dH/dpre, one reset flag for every unit.

    Separate from the grouped case so that the loop has no per-unit gather and vectorises.
    """
    for j in range(H.shape[0]):
        p = pre[j]
        e = leak_now(leak[j], reset)
        H[j] = leaky(H[j], relu(p), e)
        mask[j] = leaky_grad(p, e, exact)


@njit(**_STEP)
def memory_groups(H, mask, pre, leak, resets, t, group, exact):
    """As :func:`memory`, with unit j reset by its input group's flag ``resets[t, group[j]]``."""
    for j in range(H.shape[0]):
        p = pre[j]
        e = leak_now(leak[j], resets[t, group[j]])
        H[j] = leaky(H[j], relu(p), e)
        mask[j] = leaky_grad(p, e, exact)


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


@njit(**_STEP)
def forward_w1_nonzero(pre, W1T, b1, X, item, nz):
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
def rms_w1(W1T, V, B, dpre, pre, b1, X, it, nx, sparse, lr, alpha, oma, mom, eps):
    """RMSprop on all of W1 (its square average decays everywhere), fused with the next pre.

    Every element is visited: torch's RMSprop decays ``v`` (and moves ``w`` through the
    momentum buffer) even where this step's gradient is zero. Rows of zero inputs take the
    same update with g = 0 (:func:`rms_decay`, :func:`rms_coast`): no square root or division.
    """
    d, h = W1T.shape
    if nx >= 0:
        for j in range(h):
            pre[j] = b1[j]
    for i in range(d):
        xa = X[it, i]
        if xa == 0 and eps > 0:
            for j in range(h):
                V[i, j] = rms_decay(V[i, j], alpha)
            if mom > 0:
                for j in range(h):
                    W1T[i, j], B[i, j] = rms_coast(W1T[i, j], B[i, j], lr, mom)
        elif mom > 0:
            for j in range(h):
                W1T[i, j], V[i, j], B[i, j] = rms_momentum(
                    W1T[i, j], dpre[j] * xa, V[i, j], B[i, j], lr, alpha, oma, mom, eps
                )
        else:
            for j in range(h):
                W1T[i, j], V[i, j] = rms_plain(W1T[i, j], dpre[j] * xa, V[i, j], lr, alpha,
                                               oma, eps)  # fmt: skip
        if nx >= 0:
            xb = X[nx, i]
            if xb != 0 or not sparse:
                for j in range(h):
                    pre[j] += W1T[i, j] * xb


# ----------------------------------------------------------------------------- optimisers


@njit(inline="always", **_STEP)
def sgd(w, g, lr):
    return w - lr * g


@njit(inline="always", **_STEP)
def rms_plain(w, g, v, lr, alpha, oma, eps):
    """One element of torch.optim.RMSprop without momentum (no centering); returns (w, v)."""
    v = alpha * v + oma * (g * g)
    return w - lr * (g / (np.sqrt(v) + eps)), v


@njit(inline="always", **_STEP)
def rms_momentum(w, g, v, b, lr, alpha, oma, mom, eps):
    """One element of torch.optim.RMSprop with momentum > 0; returns (w, v, buf)."""
    v = alpha * v + oma * (g * g)
    b = mom * b + g / (np.sqrt(v) + eps)
    return w - lr * b, v, b


@njit(inline="always", **_STEP)
def rms_decay(v, alpha):
    """RMSprop's square average where g = 0: exactly alpha v (the rest of the sum is 0)."""
    return alpha * v


@njit(inline="always", **_STEP)
def rms_coast(w, b, lr, mom):
    """RMSprop with momentum where g = 0 (eps > 0): w moves by its decayed buffer alone."""
    b = mom * b
    return w - lr * b, b


@njit(inline="always", **_STEP)
def rms(w, g, v, b, lr, alpha, oma, mom, eps):
    """One element of torch.optim.RMSprop (no centering); returns (w, v, buf)."""
    if mom > 0:
        return rms_momentum(w, g, v, b, lr, alpha, oma, mom, eps)
    w, v = rms_plain(w, g, v, lr, alpha, oma, eps)
    return w, v, b


# ----------------------------------------------------------------------------- output layer


@njit(**_STEP)
def logits(z, W2, b2, H):
    """z = W2 H + b2."""
    for q in range(z.shape[0]):
        acc = F0
        for j in range(H.shape[0]):
            acc += W2[q, j] * H[j]
        z[q] = acc + b2[q]


@njit(**_STEP)
def softmax_parts(z, ez):
    """ez = exp(z - max z); returns (max z, sum ez): softmax = ez / sum, CE needs both."""
    zmax = z[0]
    for q in range(1, z.shape[0]):
        zmax = max(zmax, z[q])
    s = F0
    for q in range(z.shape[0]):
        ez[q] = np.exp(z[q] - zmax)
        s += ez[q]
    return zmax, s


@njit(inline="always", **_STEP)
def sigmoid(zq):
    return F1 / (F1 + np.exp(-zq))


@njit(**_STEP)
def output_grad(z, y, g, tgt, item, label, out_kind, loss_kind):
    """Output y, loss and g = dLoss/dz for one step (docs/model.md, "Backward pass")."""
    o = z.shape[0]
    zmax, s = z[0], F1
    if out_kind == SOFTMAX:
        zmax, s = softmax_parts(z, y)
        for q in range(o):
            y[q] = y[q] / s
    else:
        for q in range(o):
            y[q] = sigmoid(z[q])
    if loss_kind == CE:
        for q in range(o):
            g[q] = y[q]
        g[label] -= F1
        return np.log(s) - (z[label] - zmax)
    loss = F0
    scale = F2 / np.float32(o)
    su = F0
    for q in range(o):
        diff = y[q] - tgt[item, q]
        loss += diff * diff
        g[q] = scale * diff
        su += g[q] * y[q]
    if out_kind == SIGMOID:
        for q in range(o):
            g[q] = g[q] * y[q] * (F1 - y[q])
    else:
        for q in range(o):
            g[q] = y[q] * (g[q] - su)
    return loss / np.float32(o)


@njit(**_STEP)
def backward_w2(dH, W2, b2, H, g, vW2, vb2, mW2, mb2, opt, lr, alpha, oma, mom, eps):
    """dH = W2^T g with W2 before its update, then update W2 and b2 (SGD or RMSprop).

    With SGD the optimiser state arrays are empty and never touched.
    """
    for j in range(dH.shape[0]):
        dH[j] = F0
    for q in range(g.shape[0]):
        gq = g[q]
        if opt == SGD:
            for j in range(dH.shape[0]):
                w = W2[q, j]
                dH[j] += w * gq
                W2[q, j] = sgd(w, gq * H[j], lr)
        else:
            for j in range(dH.shape[0]):
                w = W2[q, j]
                dH[j] += w * gq
                W2[q, j], vW2[q, j], mW2[q, j] = rms(
                    w, gq * H[j], vW2[q, j], mW2[q, j], lr, alpha, oma, mom, eps
                )
        if opt == SGD:
            b2[q] = sgd(b2[q], gq, lr)
        else:
            b2[q], vb2[q], mb2[q] = rms(b2[q], gq, vb2[q], mb2[q], lr, alpha, oma, mom, eps)


@njit(**_STEP)
def backward_b1(dpre, mask, b1, vb1, mb1, opt, lr, alpha, oma, mom, eps):
    """In place: dH -> dpre = dH * mask, then update b1 (W1 is fused with the next forward)."""
    for j in range(dpre.shape[0]):
        dpre[j] = dpre[j] * mask[j]
        if opt == SGD:
            b1[j] = sgd(b1[j], dpre[j], lr)
        else:
            b1[j], vb1[j], mb1[j] = rms(b1[j], dpre[j], vb1[j], mb1[j], lr, alpha, oma, mom, eps)


@njit(**_STEP)
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
