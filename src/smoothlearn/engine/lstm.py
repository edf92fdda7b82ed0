"""The LSTM baseline (Appendix A.8-A.10) compiled: per-sample truncated BPTT, as ``train_lstm``.

The rule is the reference's (``smoothlearn.train.train_lstm``, ``docs/model.md``): the state is
carried forward once over the stream, each step keeps its item, input state and gate
activations, and the newest loss is backpropagated through the last ``bptt`` kept steps with
the current weights (Williams & Peng's BPTT(h; 1)); then the optimiser takes one step.

What makes it fast on a CPU, with the reference's arithmetic (float32, other summation order):
- one compiled loop per evaluation interval, so Python and autograd cost nothing per step;
- one forward cell per step: the kept steps are never recomputed;
- sparse inputs: ``W_ih`` is stored transposed (``Wx[pixel, gate]``); its update touches the
  rows of the pixels lit in the kept items (~19% of MNIST pixels each), and the same pass
  takes the next item's input product;
- the update of ``W_hh`` is fused with the next step's recurrent product (the carried state
  is known), four rows and four window steps per pass, the last pass taking the step;
- the backward products with ``W_hh`` (2.4 MB at h = 392, more than a core's L2) take eight
  rows at a time and alternate direction, so each pass starts on the rows the last one left
  in cache; ``W_hh`` is updated last in a step, after ``W_ih``, so that the next step's first
  backward pass finds the rows its update ended on;
- the SGD kernels index the 2-D weight arrays in one function, without row views (arrays
  numba builds and reference-counts) or a call per pass: the ``W_hh`` update took a fifth
  less time for it (``docs/performance.md``, "LSTM");
- each network's weights stay with one thread (``nogil`` kernels, a thread per network), so an
  ensemble of runs uses every core without sharing caches;
- evaluation takes a tile of test items' input products from their CSR rows (eight ``Wx``
  rows per pass, the per-sample engine's ``forward_w1_csr``), then runs the recurrence
  (streamed) or the single step (memory off) over the tile; a training scored on several
  test streams (Fig A.8: its training order and one common random order) runs them in one
  pass, reading ``W_hh`` once per item for two streams (1.19x on A.8's two streams,
  ``benchmarks/bench_lstm_eval.py``), each stream's sums as when scored alone.

The floor is the backward pass: ``bptt - 1`` sequential products with ``W_hh`` per step.
Cross-checked against the reference in ``tests/test_engine_lstm.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from smoothlearn.contract import Curves, Metrics, Prepared, SharedTests
from smoothlearn.engine.activations import sigmoid32, tanh32
from smoothlearn.engine.arrays import csr, rows_of_bases, scratch
from smoothlearn.engine.baselines import (
    add_metrics,
    finish_metrics,
    matvec_add,
    matvec_t,
    opt_update,
    output_loss,
    project,
    scatter,
    train_on_threads,
    update_and_project,
)
from smoothlearn.engine.codes import JIT, LOSSES, OPTIMIZERS, OUTPUTS, SGD
from smoothlearn.engine.kernels import forward_w1_csr, sigmoid
from smoothlearn.engine.schedule import Schedule
from smoothlearn.lstmcell import init_lstm_params

#: The evaluation's recurrent products: sums in a fixed order (FMA contraction only), so a
#: stream scored with another gets the numbers it gets alone.
_IN_ORDER = {**JIT, "fastmath": {"contract"}}

__all__ = ["LSTMRun", "train_lstm_fast", "train_lstm_many"]


@dataclass(frozen=True)
class LSTMRun:
    """One LSTM run: its prepared arrays and the LSTM's own settings."""

    prep: Prepared
    hidden: int
    bptt: int = 10
    init_seed: int = 0


@njit(**JIT)
def _lstm_cell(gates, c_prev, c_out, h_out, acts, tanh_c):
    """Gate pre-activations ``gates [4h]`` (i, f, g, o) -> new ``c``, ``h``; keeps activations."""
    h = c_prev.shape[0]
    for j in range(h):
        i = sigmoid(gates[j])
        f = sigmoid(gates[h + j])
        g = np.tanh(gates[2 * h + j])
        o = sigmoid(gates[3 * h + j])
        c = f * c_prev[j] + i * g
        tc = np.tanh(c)
        acts[j], acts[h + j], acts[2 * h + j], acts[3 * h + j] = i, f, g, o
        c_out[j] = c
        tanh_c[j] = tc
        h_out[j] = o * tc


@njit(**JIT)
def _eval_cell(gates, c, h_out, carried):
    """:func:`_lstm_cell` for the evaluation, which keeps no activations: ``c`` moves on in
    place (from zero unless ``carried``). Its sigmoids and tanhs vectorise
    (:mod:`~smoothlearn.engine.activations`; the library's scalar ``tanhf`` made them a third
    of the evaluation's time). ``c`` is one argument, not an input and an output that may
    overlap: the vectorised loop's overlap check would fail and run it element by element,
    10x slower. Training keeps :func:`_lstm_cell`."""
    h = c.shape[0]
    for j in range(h):
        i = sigmoid32(gates[j])
        f = sigmoid32(gates[h + j])
        g = tanh32(gates[2 * h + j])
        o = sigmoid32(gates[3 * h + j])
        cj = f * c[j] + i * g if carried else i * g
        c[j] = cj
        h_out[j] = o * tanh32(cj)


# ---------------------------------------------------------------- recurrent products
# ``Wh`` (2.4 MB at h = 392) is larger than a core's L2, so a pass in the same direction as
# the last one finds none of it cached; alternating directions finds the rows the last pass
# ended on. Rows go eight at a time, so ``out`` (or the state) is loaded once per block.
@njit(**_IN_ORDER)
def _recurrent_one(WhT, h, out, reverse):
    """``out = Wh @ h`` from ``WhT`` (``Wh`` transposed: a row per state unit), eight rows
    per pass over ``out``, the blocks walked backwards when ``reverse``, then the last
    ``h % 8`` rows.

    The evaluation's product. Each ``out[g]`` adds its products one by one in a fixed order
    (no reassociation), so :func:`_recurrent_two` gives every stream the same sums bit for
    bit, at any vector width.
    """
    out[:] = 0
    blocks = WhT.shape[0] // 8
    for b in range(blocks):
        j = 8 * (blocks - 1 - b) if reverse else 8 * b
        c0, c1, c2, c3 = h[j], h[j + 1], h[j + 2], h[j + 3]
        c4, c5, c6, c7 = h[j + 4], h[j + 5], h[j + 6], h[j + 7]
        for g in range(out.shape[0]):
            a = out[g]
            a += WhT[j, g] * c0
            a += WhT[j + 1, g] * c1
            a += WhT[j + 2, g] * c2
            a += WhT[j + 3, g] * c3
            a += WhT[j + 4, g] * c4
            a += WhT[j + 5, g] * c5
            a += WhT[j + 6, g] * c6
            a += WhT[j + 7, g] * c7
            out[g] = a
    for j in range(8 * blocks, WhT.shape[0]):
        c = h[j]
        for g in range(out.shape[0]):
            out[g] += WhT[j, g] * c


@njit(**_IN_ORDER)
def _recurrent_two(WhT, h, k, out_h, out_k, reverse):
    """:func:`_recurrent_one` for two test streams' states at once: ``Wh`` is streamed from
    L3 once for both (the evaluation's cost per item), each sum as :func:`_recurrent_one`'s."""
    out_h[:] = 0
    out_k[:] = 0
    blocks = WhT.shape[0] // 8
    for b in range(blocks):
        j = 8 * (blocks - 1 - b) if reverse else 8 * b
        c0, c1, c2, c3 = h[j], h[j + 1], h[j + 2], h[j + 3]
        c4, c5, c6, c7 = h[j + 4], h[j + 5], h[j + 6], h[j + 7]
        d0, d1, d2, d3 = k[j], k[j + 1], k[j + 2], k[j + 3]
        d4, d5, d6, d7 = k[j + 4], k[j + 5], k[j + 6], k[j + 7]
        for g in range(out_h.shape[0]):
            w0, w1, w2, w3 = WhT[j, g], WhT[j + 1, g], WhT[j + 2, g], WhT[j + 3, g]
            w4, w5, w6, w7 = WhT[j + 4, g], WhT[j + 5, g], WhT[j + 6, g], WhT[j + 7, g]
            a = out_h[g]
            a += w0 * c0
            a += w1 * c1
            a += w2 * c2
            a += w3 * c3
            a += w4 * c4
            a += w5 * c5
            a += w6 * c6
            a += w7 * c7
            out_h[g] = a
            e = out_k[g]
            e += w0 * d0
            e += w1 * d1
            e += w2 * d2
            e += w3 * d3
            e += w4 * d4
            e += w5 * d5
            e += w6 * d6
            e += w7 * d7
            out_k[g] = e
    for j in range(8 * blocks, WhT.shape[0]):
        c, d = h[j], k[j]
        for g in range(out_h.shape[0]):
            out_h[g] += WhT[j, g] * c
            out_k[g] += WhT[j, g] * d


@njit(**JIT)
def _matvec_t8(W, d, out, reverse):
    """``out = W.T @ d``, rows in blocks of eight (walked backwards when ``reverse``), then
    the last ``rows % 8`` rows one at a time.

    The backward pass's product: ``bptt - 1`` of them a step, each streaming ``Wh`` (2.46 MB)
    from L3. Eight rows per pass load and store ``out`` half as often as four: 39.4 against
    43.5 µs a product on the A.8 shape (AMD EPYC Zen 4, one core). Rows are indexed in the
    2-D array, not taken as row views: numba counts references to every view it makes.
    """
    out[:] = 0
    H = out.shape[0]
    blocks = W.shape[0] // 8
    for b in range(blocks):
        r = 8 * (blocks - 1 - b) if reverse else 8 * b
        c0, c1, c2, c3 = d[r], d[r + 1], d[r + 2], d[r + 3]
        c4, c5, c6, c7 = d[r + 4], d[r + 5], d[r + 6], d[r + 7]
        for j in range(H):
            out[j] += ((c0 * W[r, j] + c1 * W[r + 1, j] + c2 * W[r + 2, j] + c3 * W[r + 3, j])
                       + (c4 * W[r + 4, j] + c5 * W[r + 5, j] + c6 * W[r + 6, j]
                          + c7 * W[r + 7, j]))  # fmt: skip
    for r in range(8 * blocks, W.shape[0]):
        c = d[r]
        for j in range(H):
            out[j] += c * W[r, j]


# ---------------------------------------------------------------- training
@njit(**JIT)
def _gradient_rows4(D, r, Hs, n, out):
    """``out[i] = sum_k D[k, r + i] Hs[k]`` (i < 4, k < n): four rows of ``dWh``.

    Four rows and four window steps per pass, so each loaded ``Hs`` value serves 16 products.
    """
    g0, g1, g2, g3 = out[0], out[1], out[2], out[3]
    out[:] = 0
    k = 0
    while k + 4 <= n:
        d0, d1, d2, d3 = D[k], D[k + 1], D[k + 2], D[k + 3]
        a0, a1, a2, a3 = d0[r], d0[r + 1], d0[r + 2], d0[r + 3]
        b0, b1, b2, b3 = d1[r], d1[r + 1], d1[r + 2], d1[r + 3]
        c0, c1, c2, c3 = d2[r], d2[r + 1], d2[r + 2], d2[r + 3]
        e0, e1, e2, e3 = d3[r], d3[r + 1], d3[r + 2], d3[r + 3]
        h0, h1, h2, h3 = Hs[k], Hs[k + 1], Hs[k + 2], Hs[k + 3]
        for j in range(g0.shape[0]):
            x0, x1, x2, x3 = h0[j], h1[j], h2[j], h3[j]
            g0[j] += a0 * x0 + b0 * x1 + c0 * x2 + e0 * x3
            g1[j] += a1 * x0 + b1 * x1 + c1 * x2 + e1 * x3
            g2[j] += a2 * x0 + b2 * x1 + c2 * x2 + e2 * x3
            g3[j] += a3 * x0 + b3 * x1 + c3 * x2 + e3 * x3
        k += 4
    for rest in range(k, n):
        d0, h0 = D[rest], Hs[rest]
        a0, a1, a2, a3 = d0[r], d0[r + 1], d0[r + 2], d0[r + 3]
        for j in range(g0.shape[0]):
            x0 = h0[j]
            g0[j] += a0 * x0
            g1[j] += a1 * x0
            g2[j] += a2 * x0
            g3[j] += a3 * x0


@njit(**JIT)
def _update_wh_and_project(Wh, sq, buf, D, Hs, n_win, h_next, zh, grad, opt, lr, alpha, eps,
                           momentum):
    """Optimiser step of ``Wh`` (``dWh = sum_k D[k] (x) Hs[k]``), fused with ``zh = Wh h_next``.

    ``h_next`` is the carried state the next step starts from, so its recurrent product is
    taken while each updated row is in cache. ``grad`` is ``[4, h]`` scratch.
    """
    if opt == SGD:
        _sgd_wh_and_project(Wh, D, Hs, n_win, h_next, zh, grad, lr)
        return
    H = Wh.shape[1]
    for r in range(0, Wh.shape[0], 4):
        _gradient_rows4(D, r, Hs, n_win, grad)
        for i in range(4):
            row = Wh[r + i]
            opt_update(row, grad[i], sq[r + i], buf[r + i], opt, lr, alpha, eps, momentum)
            acc = np.float32(0.0)
            for j in range(H):
                acc += row[j] * h_next[j]
            zh[r + i] = acc


@njit(**JIT)
def _steps4(D, r, k, n):
    """The window steps ``k .. k + 3`` (absent ones past ``n`` repeat step ``k``) and their
    coefficients ``D[step, r + i]`` (i < 4; 0 for an absent step: ``+ 0 * h`` changes no sum,
    ``Hs`` is finite)."""
    m = min(4, n - k)
    z = np.float32(0.0)
    k1, k2, k3 = k + 1 if m > 1 else k, k + 2 if m > 2 else k, k + 3 if m > 3 else k
    a = (D[k, r], D[k, r + 1], D[k, r + 2], D[k, r + 3])
    b = (D[k1, r], D[k1, r + 1], D[k1, r + 2], D[k1, r + 3]) if m > 1 else (z, z, z, z)
    c = (D[k2, r], D[k2, r + 1], D[k2, r + 2], D[k2, r + 3]) if m > 2 else (z, z, z, z)
    e = (D[k3, r], D[k3, r + 1], D[k3, r + 2], D[k3, r + 3]) if m > 3 else (z, z, z, z)
    return (k, k1, k2, k3), a, b, c, e


@njit(**JIT)
def _sgd_wh_and_project(W, D, Hs, n, x, out, g, lr):
    """SGD step ``W -= lr sum_k D[k] (x) Hs[k]`` (k < n), fused with ``out = W x``.

    ``dWh`` is a rank-``bptt`` update, ~6 M multiply-adds a step at h = 392, the largest
    arithmetic of the step. Four rows of ``W`` take four window steps per pass (each loaded
    ``Hs`` value serves 16 products); the first pass writes the rows' gradient into ``g``
    (``[4, h]`` scratch), the last one adds its steps, takes the SGD step and the next
    recurrent product in one loop, so a window of 10 makes three passes over four rows.
    Everything is indexed in the 2-D arrays, in one function: the kernel before took row views
    (arrays numba builds and reference-counts) in a function call per pass, and took 236 µs a
    call against 188 µs for this one on the A.8 shape, state after 300 MNIST steps (AMD EPYC
    Zen 4, one core, medians of 200 calls, side by side, three repeats within 1%).
    """
    H = W.shape[1]
    last = 4 * ((n - 1) // 4)  # the window steps of the last (fused) pass start here
    for r in range(0, W.shape[0], 4):
        for k in range(0, last, 4):
            (k0, k1, k2, k3), a, b, c, e = _steps4(D, r, k, n)
            if k == 0:
                for j in range(H):
                    x0, x1, x2, x3 = Hs[k0, j], Hs[k1, j], Hs[k2, j], Hs[k3, j]
                    g[0, j] = a[0] * x0 + b[0] * x1 + c[0] * x2 + e[0] * x3
                    g[1, j] = a[1] * x0 + b[1] * x1 + c[1] * x2 + e[1] * x3
                    g[2, j] = a[2] * x0 + b[2] * x1 + c[2] * x2 + e[2] * x3
                    g[3, j] = a[3] * x0 + b[3] * x1 + c[3] * x2 + e[3] * x3
            else:
                for j in range(H):
                    x0, x1, x2, x3 = Hs[k0, j], Hs[k1, j], Hs[k2, j], Hs[k3, j]
                    g[0, j] += a[0] * x0 + b[0] * x1 + c[0] * x2 + e[0] * x3
                    g[1, j] += a[1] * x0 + b[1] * x1 + c[1] * x2 + e[1] * x3
                    g[2, j] += a[2] * x0 + b[2] * x1 + c[2] * x2 + e[2] * x3
                    g[3, j] += a[3] * x0 + b[3] * x1 + c[3] * x2 + e[3] * x3
        (k0, k1, k2, k3), a, b, c, e = _steps4(D, r, last, n)
        partial = last > 0  # earlier passes left their sum in ``g``
        s0 = s1 = s2 = s3 = np.float32(0.0)
        for j in range(H):
            x0, x1, x2, x3 = Hs[k0, j], Hs[k1, j], Hs[k2, j], Hs[k3, j]
            t0 = a[0] * x0 + b[0] * x1 + c[0] * x2 + e[0] * x3
            t1 = a[1] * x0 + b[1] * x1 + c[1] * x2 + e[1] * x3
            t2 = a[2] * x0 + b[2] * x1 + c[2] * x2 + e[2] * x3
            t3 = a[3] * x0 + b[3] * x1 + c[3] * x2 + e[3] * x3
            if partial:
                t0, t1, t2, t3 = g[0, j] + t0, g[1, j] + t1, g[2, j] + t2, g[3, j] + t3
            v0 = W[r, j] - lr * t0
            v1 = W[r + 1, j] - lr * t1
            v2 = W[r + 2, j] - lr * t2
            v3 = W[r + 3, j] - lr * t3
            W[r, j], W[r + 1, j], W[r + 2, j], W[r + 3, j] = v0, v1, v2, v3
            xj = x[j]
            s0 += v0 * xj
            s1 += v1 * xj
            s2 += v2 * xj
            s3 += v3 * xj
        out[r], out[r + 1], out[r + 2], out[r + 3] = s0, s1, s2, s3


@njit(**JIT)
def _sgd_wx_and_project(Wx, rows, window, n_win, D, items, n_next, Px, mark, dense,
                        dense_next, grad, lr):
    """SGD step of ``Wx`` (``dWx[p] = sum_k x_k[p] D[k]`` over the window's items), fused
    with the next item's product ``Px[0] = Wx.T x_next``: SGD's case of
    :func:`~.baselines.update_and_project`, its sums grouped as there.

    Only the rows of pixels lit in the window or the next item are visited (~250 and ~150 of
    784 on MNIST). A row's non-zero coefficients go four per pass into ``grad`` (L1 scratch);
    the last pass takes the step and adds the updated row to the product in the same loop,
    indexed in the 2-D arrays (no row views, whose reference counts numba keeps): 120 µs a
    call against 197 µs for the shared kernel on the A.8 shape, state after 300 MNIST steps
    (AMD EPYC Zen 4, one core, medians of 200 calls).
    """
    indptr, indices, values = rows
    scatter(indptr, indices, values, window, n_win, dense, mark, True)
    scatter(indptr, indices, values, items, n_next, dense_next, mark, True)
    if n_next > 0:
        Px[0] = 0
    G = Wx.shape[1]
    ks = np.empty(n_win + 3, np.int64)
    cs = np.zeros(n_win + 3, np.float32)
    for p in range(Wx.shape[0]):
        if mark[p] == 0:
            continue
        m = 0
        for k in range(n_win):
            if dense[k, p] != 0:
                ks[m], cs[m] = k, dense[k, p]
                m += 1
        x = dense_next[0, p] if n_next > 0 else np.float32(0.0)
        if m == 0:  # lit in the next item only: no gradient
            for j in range(G):
                Px[0, j] += x * Wx[p, j]
            continue
        for q in range(m, m + 3):  # absent terms: coefficient 0 on the first row
            ks[q], cs[q] = ks[0], 0
        last = 4 * ((m - 1) // 4)
        for q in range(0, last, 4):
            k0, k1, k2, k3 = ks[q], ks[q + 1], ks[q + 2], ks[q + 3]
            c0, c1, c2, c3 = cs[q], cs[q + 1], cs[q + 2], cs[q + 3]
            if q == 0:
                for j in range(G):
                    grad[j] = c0 * D[k0, j] + c1 * D[k1, j] + c2 * D[k2, j] + c3 * D[k3, j]
            else:
                for j in range(G):
                    grad[j] += c0 * D[k0, j] + c1 * D[k1, j] + c2 * D[k2, j] + c3 * D[k3, j]
        k0, k1, k2, k3 = ks[last], ks[last + 1], ks[last + 2], ks[last + 3]
        c0, c1, c2, c3 = cs[last], cs[last + 1], cs[last + 2], cs[last + 3]
        partial, lit_next = last > 0, x != 0  # an unlit pixel adds nothing (0 * inf is NaN)
        for j in range(G):
            t = c0 * D[k0, j] + c1 * D[k1, j] + c2 * D[k2, j] + c3 * D[k3, j]
            if partial:
                t = grad[j] + t
            v = Wx[p, j] - lr * t
            Wx[p, j] = v
            if lit_next:
                Px[0, j] += x * v
    scatter(indptr, indices, values, window, n_win, dense, mark, False)
    scatter(indptr, indices, values, items, n_next, dense_next, mark, False)


@njit(**JIT)
def _backward(acts, TC, Cprev, Wh, dh, n_win, D):
    """Gate gradients ``D[k]`` of the window, from ``dh`` = dLoss/dh of its last output."""
    H = Wh.shape[1]
    dc = np.zeros(H, np.float32)
    one = np.float32(1.0)
    for k in range(n_win - 1, -1, -1):
        a = acts[k]
        for j in range(H):
            i, f, g, o = a[j], a[H + j], a[2 * H + j], a[3 * H + j]
            tc = TC[k, j]
            dcj = dc[j] + dh[j] * o * (one - tc * tc)
            D[k, j] = dcj * g * i * (one - i)
            D[k, H + j] = dcj * Cprev[k, j] * f * (one - f)
            D[k, 2 * H + j] = dcj * i * (one - g * g)
            D[k, 3 * H + j] = dh[j] * tc * o * (one - o)
            dc[j] = dcj * f
        if k > 0:  # the oldest kept step's input state is a constant: no gradient past it
            _matvec_t8(Wh, D[k], dh, (n_win - 1 - k) % 2 == 0)


@njit(**JIT)
def _shift(a):
    """Drop the oldest row of a history array (rows are steps, oldest first)."""
    for k in range(a.shape[0] - 1):
        a[k] = a[k + 1]


@njit(**JIT)
def _train_steps(indptr, indices, values, targets, labels, order, start, stop, P, SQ, BUF,
                 window, history, state, hs, cs, Px, zh, cfg, lrs):
    """Train steps ``[start, stop)``; returns the step that diverged, or -1.

    ``P = (Wx [d_in, 4h], Wh [4h, h], b_ih, b_hh, Wo [d_out, h], b_out)``; ``SQ``/``BUF`` hold
    RMSprop's averages and momentum buffers of the same shapes. Persisting between calls:
    the carried state ``hs``/``cs``; the stored history of the last ``bptt`` steps (``window``
    item ids and ``history = (acts, tanh_c, c_in, h_in)``, oldest first; ``state[0]`` its
    length); and this step's products ``Px[0] = Wx.T x`` and ``zh = Wh hs`` (valid when
    ``state[1]``). ``cfg = (bptt, output, loss, optimiser)``, ``lrs = (lr, alpha, eps,
    momentum)``.
    """
    Wx, Wh, bi, bh, Wo, bo = P
    acts, TC, Cin, Hin = history
    bptt, output, loss, opt = cfg[0], cfg[1], cfg[2], cfg[3]
    lr, alpha, eps, mom = lrs[0], lrs[1], lrs[2], lrs[3]
    d_in, G = Wx.shape
    n_out = Wo.shape[0]
    D = np.zeros((bptt, G), np.float32)
    gates = np.empty(G, np.float32)
    z = np.empty(n_out, np.float32)
    dz = np.empty(n_out, np.float32)
    dh = np.empty(Wh.shape[1], np.float32)
    grad_g = np.empty(G, np.float32)
    grad_h = np.empty(Wh.shape[1], np.float32)
    grad4 = np.empty((4, Wh.shape[1]), np.float32)
    gb = np.empty(G, np.float32)
    mark = np.zeros(d_in, np.int8)
    dense = np.zeros((bptt, d_in), np.float32)
    dense_next = np.zeros((1, d_in), np.float32)
    items = np.empty(1, np.int64)
    for step in range(start, stop):
        if state[1] == 0:  # the run's first step: nothing precomputed yet
            items[0] = order[step]
            project(Wx, indptr, indices, values, items, 1, Px, mark, dense)
            zh[:] = 0
            matvec_add(Wh, hs, zh)
        n_win = state[0]
        if n_win == bptt:  # the oldest step leaves the history
            for a in (acts, TC, Cin, Hin):
                _shift(a)
            _shift(window)
        else:
            n_win += 1
            state[0] = n_win
        k = n_win - 1
        window[k] = order[step]
        Hin[k] = hs
        Cin[k] = cs
        gates[:] = Px[0] + bi
        gates += zh
        gates += bh
        _lstm_cell(gates, cs, cs, hs, acts[k], TC[k])  # the carried state moves on
        z[:] = bo
        matvec_add(Wo, hs, z)
        value = output_loss(z, targets[window[k]], labels[window[k]], output, loss, dz)
        if not np.isfinite(value):
            return step
        matvec_t(Wo, dz, dh)  # Wo before its update
        _backward(acts, TC, Cin, Wh, dh, n_win, D)
        # ---- optimiser steps (all gradients above used the old weights)
        for r in range(n_out):
            grad_h[:] = dz[r] * hs
            opt_update(Wo[r], grad_h, SQ[4][r], BUF[4][r], opt, lr, alpha, eps, mom)
        opt_update(bo, dz, SQ[5], BUF[5], opt, lr, alpha, eps, mom)
        gb[:] = 0
        for j in range(n_win):
            gb += D[j]
        opt_update(bi, gb, SQ[2], BUF[2], opt, lr, alpha, eps, mom)
        opt_update(bh, gb, SQ[3], BUF[3], opt, lr, alpha, eps, mom)
        n_next = 0
        if step + 1 < order.shape[0]:
            items[0] = order[step + 1]
            n_next = 1
        if opt == SGD:
            _sgd_wx_and_project(Wx, (indptr, indices, values), window, n_win, D, items, n_next,
                                Px, mark, dense, dense_next, grad_g, lr)
        else:
            update_and_project(Wx, SQ[0], BUF[0], indptr, indices, values, window, n_win, D,
                               items, n_next, Px, mark, dense, dense_next, grad_g, opt, lr,
                               alpha, eps, mom)  # fmt: skip
        # ``Wh`` last: its update pass ends on the rows the next step's first backward
        # product starts from (walked backwards), still in L2 with no ``Wx`` rows between
        _update_wh_and_project(Wh, SQ[1], BUF[1], D, Hin, n_win, hs, zh, grad4, opt, lr,
                               alpha, eps, mom)  # fmt: skip
        state[1] = 1
    return -1


# ---------------------------------------------------------------- evaluation
@njit(**JIT)
def _evaluate(csr, items, inputs, targets, labels, streamed, P, output, classify):
    """Mean test MSE, CE and accuracy (``[S, 3]``) of ``S`` test streams of ``n`` items each
    (stream ``s``'s item ``k`` is ``items[s * n + k]``, a row of ``csr``; its target and label
    are row ``s * n + k`` of ``targets`` and ``labels``), each streamed in order from a zero
    state (``streamed[s]``) or each item alone.

    The streams of one network share its weights, so what does not depend on a stream's state
    is done once: the input products of every distinct item (into ``inputs``, a row per row
    of ``csr``; Fig A.8's two test streams are the same items in two orders), and each read
    of ``Wh``, which the streamed ones take two at a time (:func:`_recurrent_two`). Each
    stream's numbers are those it has when scored alone.
    """
    indptr, indices, values = csr
    Wx, Wh, bi, bh, Wo, bo = P
    S = streamed.shape[0]
    n = items.shape[0] // S
    G, H = Wh.shape
    n_out = Wo.shape[0]
    for u in range(inputs.shape[0]):  # Wx.T x + b_ih of each distinct item, for every stream
        forward_w1_csr(inputs[u], Wx, bi, indptr, indices, values, u)
    WhT = np.ascontiguousarray(Wh.T)
    rec = np.flatnonzero(streamed)  # the streams that carry a state
    hs = np.zeros((S, H), np.float32)
    cs = np.zeros((S, H), np.float32)
    prod = np.zeros((S, G), np.float32)
    gates = np.empty(G, np.float32)
    z = np.empty(n_out, np.float32)
    y = np.empty(n_out, np.float32)
    totals = np.zeros((S, 3))  # squared error, cross-entropy, hits
    for k in range(n):
        reverse = k % 2 == 1
        r = 0
        while r + 1 < rec.shape[0]:
            _recurrent_two(WhT, hs[rec[r]], hs[rec[r + 1]], prod[rec[r]], prod[rec[r + 1]],
                           reverse)  # fmt: skip
            r += 2
        if r < rec.shape[0]:
            _recurrent_one(WhT, hs[rec[r]], prod[rec[r]], reverse)
        for s in range(S):
            row = s * n + k
            gates[:] = inputs[items[row]]
            if streamed[s]:
                gates += prod[s]
            gates += bh
            _eval_cell(gates, cs[s], hs[s], streamed[s])
            z[:] = bo
            matvec_add(Wo, hs[s], z)
            add_metrics(z, y, targets[row], labels[row], output, classify, totals[s])
    out = np.empty((S, 3))
    for s in range(S):
        out[s, 0], out[s, 1], out[s, 2] = finish_metrics(totals[s], n, n_out, classify)
    return out


def _kernel_params(params: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The kernels' layout: ``Wx`` is ``W_ih`` transposed (one row per input pixel)."""
    f32 = [np.ascontiguousarray(params[k], dtype=np.float32)
           for k in ("W_hh", "b_ih", "b_hh", "W_out", "b_out")]  # fmt: skip
    return (np.ascontiguousarray(params["W_ih"].T, dtype=np.float32), *f32)


def _torch_params(P: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
    names = ("W_hh", "b_ih", "b_hh", "W_out", "b_out")
    return {"W_ih": np.ascontiguousarray(P[0].T), **{k: v.copy() for k, v in zip(names, P[1:],
                                                                                strict=True)}}


def _evaluate_kernel(prep: Prepared, P: tuple[np.ndarray, ...]) -> Metrics:
    """The weights ``P`` on ``prep``'s test set alone."""
    return _TestStreams([prep]).evaluate(P)[0]


class _TestStreams:
    """Test streams of equal length scored together on one network's weights (the arrays
    :func:`_evaluate` takes, built once per run): their distinct items once, and each
    stream's items as indices into them."""

    def __init__(self, preps: Sequence[Prepared]) -> None:
        s = preps[0].settings
        X, self.items = _distinct_items(preps)
        self.csr = csr(X)
        self.targets = np.ascontiguousarray(np.concatenate([p.targets_eval for p in preps]),
                                            dtype=np.float32)
        self.labels = np.ascontiguousarray(np.concatenate([p.labels_eval for p in preps]),
                                           dtype=np.int64)
        self.streamed = np.array([p.eval_resets is not None for p in preps])
        self.output, self.classify = OUTPUTS[s.output], preps[0].task == "classify"

    def evaluate(self, P: tuple[np.ndarray, ...]) -> list[Metrics]:
        inputs = scratch("lstm_inputs", self.csr[0].shape[0] - 1, P[1].shape[0])
        scores = _evaluate(self.csr, self.items, inputs, self.targets, self.labels,
                           self.streamed, P, self.output, self.classify)
        return [(float(a), float(b), float(c)) for a, b, c in scores]


def _distinct_items(preps: Sequence[Prepared]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct test items of ``preps``, as rows of one array, and each stream's items as
    indices into it (stream after stream). Items are the same where their streams name the
    same row of one base array (:func:`.arrays.rows_of_bases`); other streams' items count as
    distinct."""
    arrays, rows = rows_of_bases([prep.test_rows() for prep in preps])
    units, index = np.unique(np.concatenate(rows), return_inverse=True)
    X = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    whole = units.shape[0] == X.shape[0]  # every row: the base itself (its CSR is cached)
    return (X if whole else np.ascontiguousarray(X[units])), index.reshape(-1)


# ---------------------------------------------------------------- drivers
class _LSTMSchedule(Schedule):
    """One run's compiled steps between its evaluation points (:class:`.schedule.Schedule`)."""

    def __init__(self, run: LSTMRun, train_rows: tuple[np.ndarray, ...]) -> None:
        prep, s = run.prep, run.prep.settings
        self.runs, self.T, self.train_rows = [prep], prep.steps, train_rows
        d_in, d_out = prep.X.shape[1], prep.targets.shape[1]
        self.P = _kernel_params(init_lstm_params(d_in, run.hidden, d_out, run.init_seed))
        self.SQ = tuple(np.zeros_like(p) for p in self.P)  # RMSprop's averages (unused by SGD)
        # read only with momentum > 0, so momentum 0 shares SQ's arrays instead of more
        self.BUF = tuple(np.zeros_like(p) for p in self.P) if s.rmsprop_momentum > 0 else self.SQ
        G = self.P[0].shape[1]
        self.window = np.zeros(run.bptt, np.int64)
        self.history = (np.zeros((run.bptt, G), np.float32),
                        *(np.zeros((run.bptt, run.hidden), np.float32) for _ in range(3)))
        self.state = np.zeros(2, np.int64)
        self.Px = np.zeros((1, G), np.float32)
        self.zh = np.zeros(G, np.float32)
        self.hs = np.zeros(run.hidden, np.float32)
        self.cs = np.zeros(run.hidden, np.float32)
        self.cfg = np.array([run.bptt, OUTPUTS[s.output], LOSSES[s.loss],
                             OPTIMIZERS[s.optimizer]], np.int64)
        self.lrs = np.array([s.lr, s.rmsprop_alpha, s.rmsprop_eps, s.rmsprop_momentum],
                            np.float32)
        self.targets = np.ascontiguousarray(prep.targets, dtype=np.float32)
        self.labels = np.ascontiguousarray(np.maximum(prep.labels, 0), dtype=np.int64)
        self.order = np.ascontiguousarray(prep.order, dtype=np.int64)
        self.eval_sets = [set(prep.eval_steps.tolist())]
        self.points: list[list[tuple[int, float, float, float]]] = [[]]
        self.alive, self.stop = np.ones(1, np.bool_), np.full(1, -1, np.int64)
        #: The test streams, scored together where they can be, each with the slots its
        #: metrics go to; built at the first point, when the shared tests are known.
        self.groups: list[tuple[_TestStreams, list[int]]] = []

    def train(self, s0: int, s1: int) -> int:
        bad = _train_steps(*self.train_rows, self.targets, self.labels, self.order, s0, s1,
                           self.P, self.SQ, self.BUF, self.window, self.history, self.state,
                           self.hs, self.cs, self.Px, self.zh, self.cfg, self.lrs)
        if bad < 0:
            return s1 - s0
        self.alive[0], self.stop[0] = False, bad
        return self.T - s0  # a diverged run's remaining steps count as done

    def evaluate(self, step: int) -> None:
        if not self.wanted(step):
            return
        if not self.groups:
            self.groups = self._groups()
        scores: dict[int, Metrics] = {}
        for streams, slots in self.groups:
            scores.update(zip(slots, streams.evaluate(self.P), strict=True))
        self.points[0].append((step, *scores.pop(-1)))
        if scores:
            assert self.shared_tests is not None
            self.shared_tests.record(0, step, [scores[i] for i in range(len(scores))])

    def _groups(self) -> list[tuple[_TestStreams, list[int]]]:
        """This run's test stream (slot -1) and its shared training's test sets of the same
        length in one pass; a set of another length on its own (slot: its place in the
        shared tests)."""
        prep = self.runs[0]
        others = self.shared_tests.tests.get(0, ()) if self.shared_tests is not None else ()
        n = prep.X_eval.shape[0]
        same = [i for i, other in enumerate(others) if other.X_eval.shape[0] == n]
        groups = [(_TestStreams([prep, *(others[i] for i in same)]), [-1, *same])]
        return groups + [(_TestStreams([other]), [i]) for i, other in enumerate(others)
                         if i not in same]  # fmt: skip

    def params(self, k: int) -> dict[str, np.ndarray]:
        return _torch_params(self.P)


def _train_one(run: LSTMRun, train_rows: tuple[np.ndarray, ...],
               shared_tests: SharedTests | None,
               progress: Callable[[int], None]) -> Curves:
    schedule = _LSTMSchedule(run, train_rows)
    schedule.shared_tests = shared_tests
    return schedule.run(progress)[0]


def train_lstm_many(
    runs: Sequence[LSTMRun],
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    shared_tests: SharedTests | None = None,
) -> list[Curves]:
    """Train LSTM runs, one network per thread (``threads`` at a time; default all cores);
    ``progress(n)`` receives the steps completed (thread-safe); ``shared_tests`` are scored
    at each evaluation point (:class:`~smoothlearn.contract.SharedTests`; ``k`` indexes
    ``runs``)."""
    def tests_of(k: int) -> SharedTests | None:
        return None if shared_tests is None else shared_tests.for_members([k])

    jobs = [functools.partial(_train_one, r, csr(r.prep.X), tests_of(k))
            for k, r in enumerate(runs)]
    return train_on_threads(jobs, threads, progress)


def train_lstm_fast(
    prep: Prepared, hidden: int, bptt: int = 10, init_seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Curves:
    """The compiled twin of :func:`smoothlearn.train.train_lstm` (same arguments, same curves)."""
    return train_lstm_many([LSTMRun(prep, hidden, bptt, init_seed)], 1, progress)[0]

