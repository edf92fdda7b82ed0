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
  is known), four rows at a time;
- the backward products with ``W_hh`` (2.4 MB at h = 392, a little more than a core's L2
  here) take four rows at a time and alternate direction, so each pass starts on the rows
  the last one left in cache;
- two threads share one run (``lockstep``): the units are split in two halves and each
  thread holds all four gates of its half (its rows of ``W_ih``, ``W_hh`` and the biases),
  so its 1.2 MB of ``W_hh`` stays in its own core's L2 and its cells need nothing from the
  other half. A step meets at four kinds of barrier: after the cells (the new state), after
  each backward product (``W_hh.T d`` is summed part by part, then added in a fixed order),
  before the updates of the shared ``W_out``, and at the end of the step. One thread runs
  both halves itself with the same arithmetic, so the numbers do not depend on the thread
  count (tested). Measured here, two runs one after the other on both cores beat two runs
  side by side (``smoothlearn bench``, "LSTM, one run on 2 threads");
- evaluation takes a tile of test items' input products from their CSR rows (eight ``Wx``
  rows per pass, the per-sample engine's ``forward_w1_csr``), then runs the recurrence
  (streamed) or the single step (memory off) over the tile.

The floor is the backward pass: ``bptt - 1`` sequential products with ``W_hh`` per step.
Cross-checked against the reference in ``tests/test_engine_lstm.py``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from smoothlearn.contract import Curves, Metrics, Observer, Prepared
from smoothlearn.engine.arrays import cached
from smoothlearn.engine.baselines import (
    JIT,
    LOSSES,
    OPTIMISERS,
    OUTPUTS,
    add_metrics,
    csr_rows,
    curves_of,
    finish_metrics,
    matvec_add,
    matvec_t,
    opt_update,
    output_loss,
    project,
    sigmoid,
    train_on_threads,
    update_and_project,
)
from smoothlearn.engine.kernels import forward_w1_csr
from smoothlearn.engine.lockstep import barrier, run_in_lockstep
from smoothlearn.nn import init_lstm_params

_EVAL_TILE = 64  # test items whose input products are taken before their recurrence
PARTS = 2  # the units are split in two halves, each run by one thread (or both by one)

__all__ = ["LSTMRun", "train_lstm_fast", "train_lstm_many", "evaluate_lstm", "lstm_threads",
           "part_rows"]


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



# ---------------------------------------------------------------- recurrent products
# ``Wh`` (2.4 MB at h = 392) is a little larger than a core's L2 here, so a pass in the same
# direction as the last one finds none of it cached; alternating directions finds the rows
# the last pass ended on. Rows go four at a time, so ``x`` (or ``out``) is loaded once per
# four rows. Blocks of four rows; ``4h`` rows is always a multiple of four.
@njit(**JIT)
def _matvec_add4(W, x, out, reverse):
    """``out += W @ x``, rows in blocks of four, walked backwards when ``reverse``."""
    blocks = W.shape[0] // 4
    for b in range(blocks):
        r = 4 * (blocks - 1 - b) if reverse else 4 * b
        w0, w1, w2, w3 = W[r], W[r + 1], W[r + 2], W[r + 3]
        a0 = a1 = a2 = a3 = np.float32(0.0)
        for j in range(x.shape[0]):
            xj = x[j]
            a0 += w0[j] * xj
            a1 += w1[j] * xj
            a2 += w2[j] * xj
            a3 += w3[j] * xj
        out[r] += a0
        out[r + 1] += a1
        out[r + 2] += a2
        out[r + 3] += a3


@njit(**JIT)
def _matvec_t4(W, d, out, reverse):
    """``out = W.T @ d``, rows in blocks of four, walked backwards when ``reverse``."""
    out[:] = 0
    blocks = W.shape[0] // 4
    for b in range(blocks):
        r = 4 * (blocks - 1 - b) if reverse else 4 * b
        c0, c1, c2, c3 = d[r], d[r + 1], d[r + 2], d[r + 3]
        w0, w1, w2, w3 = W[r], W[r + 1], W[r + 2], W[r + 3]
        for j in range(out.shape[0]):
            out[j] += c0 * w0[j] + c1 * w1[j] + c2 * w2[j] + c3 * w3[j]


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
    H = Wh.shape[1]
    for r in range(0, Wh.shape[0], 4):
        _gradient_rows4(D, r, Hs, n_win, grad)
        if opt == 0:  # SGD: update and product in one loop over the four rows
            _sgd_rows4_and_project(Wh, r, grad, lr, h_next, zh)
            continue
        for i in range(4):
            row = Wh[r + i]
            opt_update(row, grad[i], sq[r + i], buf[r + i], opt, lr, alpha, eps, momentum)
            acc = np.float32(0.0)
            for j in range(H):
                acc += row[j] * h_next[j]
            zh[r + i] = acc


@njit(**JIT)
def _sgd_rows4_and_project(W, r, grad, lr, x, out):
    """``W[r + i] -= lr grad[i]``, then ``out[r + i] = W[r + i] . x`` (i < 4), in one loop."""
    w0, w1, w2, w3 = W[r], W[r + 1], W[r + 2], W[r + 3]
    g0, g1, g2, g3 = grad[0], grad[1], grad[2], grad[3]
    a0 = a1 = a2 = a3 = np.float32(0.0)
    for j in range(x.shape[0]):
        xj = x[j]
        v0 = w0[j] - lr * g0[j]
        v1 = w1[j] - lr * g1[j]
        v2 = w2[j] - lr * g2[j]
        v3 = w3[j] - lr * g3[j]
        w0[j], w1[j], w2[j], w3[j] = v0, v1, v2, v3
        a0 += v0 * xj
        a1 += v1 * xj
        a2 += v2 * xj
        a3 += v3 * xj
    out[r], out[r + 1], out[r + 2], out[r + 3] = a0, a1, a2, a3


@njit(**JIT)
def _gate_grads(a, tc, c_prev, dh, dc, d, u0, u1):
    """One kept step's gate gradients ``d`` for units ``[u0, u1)`` (a part: ``a``/``d`` are
    its gate rows i, f, g, o); ``dc`` carries dLoss/dc to the step before."""
    n = u1 - u0
    one = np.float32(1.0)
    for q in range(n):
        j = u0 + q
        i, f, g, o = a[q], a[n + q], a[2 * n + q], a[3 * n + q]
        t = tc[j]
        dcj = dc[j] + dh[j] * o * (one - t * t)
        d[q] = dcj * g * i * (one - i)
        d[n + q] = dcj * c_prev[j] * f * (one - f)
        d[2 * n + q] = dcj * i * (one - g * g)
        d[3 * n + q] = dh[j] * t * o * (one - o)
        dc[j] = dcj * f


@njit(**JIT)
def _shift(a):
    """Drop the oldest row of a history array (rows are steps, oldest first)."""
    for k in range(a.shape[0] - 1):
        a[k] = a[k + 1]


@njit(**JIT)
def _shift_units(a, u0, u1):
    """:func:`_shift` on the columns ``[u0, u1)`` only (a part's units)."""
    for k in range(a.shape[0] - 1):
        a[k, u0:u1] = a[k + 1, u0:u1]


@njit(**JIT)
def _units(p, H):
    """The hidden units ``[u0, u1)`` of part ``p`` (see :func:`part_rows`)."""
    s = (H + 1) // 2
    return (0, s) if p == 0 else (s, H)


@njit(**JIT)
def _train_steps(me, threads, sync, indptr, indices, values, targets, labels, order, start,
                 stop, P, SQ, BUF, windows, history, state, hs, cs, PX, ZH, partials, cfg, lrs):
    """Train steps ``[start, stop)`` as thread ``me`` of ``threads``; returns the step that
    diverged, or -1.

    ``P = (WX, WH, BI, BH, Wo, bo)``: per part ``p``, ``WX[p] [d_in, 4n]`` (its rows of
    ``W_ih``, transposed), ``WH[p] [4n, h]``, ``BI[p]``/``BH[p]``; ``Wo [d_out, h]`` and ``bo``
    are shared, each part updating its units' columns. ``SQ``/``BUF`` hold RMSprop's averages
    and momentum buffers in the same layout. Thread ``me`` owns parts ``me, me + threads``.
    Persisting between calls: the carried state ``hs``/``cs``; the stored history of the
    last ``bptt`` steps (``windows[p]`` item ids, ``history = (ACTS, tanh_c, c_in, h_in)``,
    oldest first, ``ACTS[p]`` a part's gate activations); ``state[me] = (length of the
    history, products valid)``; this step's products ``PX[p][0] = WX[p].T x`` and
    ``ZH[p] = WH[p] hs``. ``partials [2, 2, h]`` is shared scratch for ``W_hh.T d``.
    ``cfg = (bptt, output, loss, optimiser)``, ``lrs = (lr, alpha, eps, momentum)``.
    """
    WX, WH, BI, BH, Wo, bo = P
    ACTS, TC, Cin, Hin = history
    bptt, output, loss, opt = cfg[0], cfg[1], cfg[2], cfg[3]
    lr, alpha, eps, mom = lrs[0], lrs[1], lrs[2], lrs[3]
    d_in = WX[0].shape[0]
    H = hs.shape[0]
    n_out = Wo.shape[0]
    G0, G1 = WX[0].shape[1], WX[1].shape[1]
    D = (np.zeros((bptt, G0), np.float32), np.zeros((bptt, G1), np.float32))
    GATES = (np.empty(G0, np.float32), np.empty(G1, np.float32))
    GRAD = (np.empty(G0, np.float32), np.empty(G1, np.float32))
    GB = (np.empty(G0, np.float32), np.empty(G1, np.float32))
    z = np.empty(n_out, np.float32)
    dz = np.empty(n_out, np.float32)
    dh = np.empty(H, np.float32)
    dc = np.empty(H, np.float32)
    grad_h = np.empty(H, np.float32)
    grad4 = np.empty((4, H), np.float32)
    mark = np.zeros(d_in, np.int8)
    dense = np.zeros((bptt, d_in), np.float32)
    dense_next = np.zeros((1, d_in), np.float32)
    items = np.empty(1, np.int64)
    n_win, ready = state[me, 0], state[me, 1]
    mine = windows[me]  # every part's window holds the same items
    if ready == 0 and start < stop:  # the run's first step: nothing precomputed yet
        items[0] = order[start]
        for p in range(me, 2, threads):
            project(WX[p], indptr, indices, values, items, 1, PX[p], mark, dense)
            ZH[p][:] = 0
            matvec_add(WH[p], hs, ZH[p])
        ready = 1
        barrier(sync, me, threads)  # every read of hs before the first cell writes to it
    for step in range(start, stop):
        full = n_win == bptt
        n_win = bptt if full else n_win + 1
        k = n_win - 1
        # ---- forward: each part moves its units' state on
        for p in range(me, 2, threads):
            u0, u1 = _units(p, H)
            if full:  # the oldest step leaves the history
                _shift(ACTS[p])
                _shift(windows[p])
                for a in (TC, Cin, Hin):
                    _shift_units(a, u0, u1)
            windows[p][k] = order[step]
            Hin[k, u0:u1] = hs[u0:u1]
            Cin[k, u0:u1] = cs[u0:u1]
            gates = GATES[p]
            gates[:] = PX[p][0] + BI[p]
            gates += ZH[p]
            gates += BH[p]
            _lstm_cell(gates, cs[u0:u1], cs[u0:u1], hs[u0:u1], ACTS[p][k], TC[k, u0:u1])
        barrier(sync, me, threads)  # A: the new state hs is complete
        z[:] = bo
        matvec_add(Wo, hs, z)
        value = output_loss(z, targets[mine[k]], labels[mine[k]], output, loss, dz)
        if not np.isfinite(value):  # every thread sees the same z and stops here
            return step
        matvec_t(Wo, dz, dh)  # Wo before its update
        # ---- backward through the kept steps; W_hh.T d is summed part by part
        dc[:] = 0
        for kk in range(n_win - 1, -1, -1):
            for p in range(me, 2, threads):
                u0, u1 = _units(p, H)
                _gate_grads(ACTS[p][kk], TC[kk], Cin[kk], dh, dc, D[p][kk], u0, u1)
            if kk > 0:  # the oldest kept step's input state is a constant: no gradient past it
                half = partials[kk % 2]  # alternating: the other thread may still read the last
                for p in range(me, 2, threads):
                    _matvec_t4(WH[p], D[p][kk], half[p], (n_win - 1 - kk) % 2 == 0)
                barrier(sync, me, threads)  # B: both parts' sums are there
                for p in range(me, 2, threads):
                    u0, u1 = _units(p, H)
                    for j in range(u0, u1):
                        dh[j] = half[0, j] + half[1, j]
        barrier(sync, me, threads)  # C: nobody reads Wo or bo any more this step
        # ---- optimiser steps (all gradients above used the old weights)
        for p in range(me, 2, threads):
            u0, u1 = _units(p, H)
            for r in range(n_out):
                for j in range(u0, u1):
                    grad_h[j] = dz[r] * hs[j]
                opt_update(Wo[r, u0:u1], grad_h[u0:u1], SQ[4][r, u0:u1], BUF[4][r, u0:u1],
                           opt, lr, alpha, eps, mom)  # fmt: skip
            if p == 0:
                opt_update(bo, dz, SQ[5], BUF[5], opt, lr, alpha, eps, mom)
            gb = GB[p]
            gb[:] = 0
            for j in range(n_win):
                gb += D[p][j]
            opt_update(BI[p], gb, SQ[2][p], BUF[2][p], opt, lr, alpha, eps, mom)
            opt_update(BH[p], gb, SQ[3][p], BUF[3][p], opt, lr, alpha, eps, mom)
            _update_wh_and_project(WH[p], SQ[1][p], BUF[1][p], D[p], Hin, n_win, hs, ZH[p],
                                   grad4, opt, lr, alpha, eps, mom)  # fmt: skip
            n_next = 0
            if step + 1 < order.shape[0]:
                items[0] = order[step + 1]
                n_next = 1
            update_and_project(WX[p], SQ[0][p], BUF[0][p], indptr, indices, values, windows[p],
                               n_win, D[p], items, n_next, PX[p], mark, dense, dense_next,
                               GRAD[p], opt, lr, alpha, eps, mom)  # fmt: skip
        barrier(sync, me, threads)  # D: the step is done everywhere (the history may shift)
    state[me, 0], state[me, 1] = n_win, ready
    return -1


# ---------------------------------------------------------------- evaluation
@njit(**JIT)
def _evaluate(me, threads, sync, csr, targets, labels, streamed, P, h2, output, classify):
    """Mean test MSE, CE and accuracy over the test items (``csr`` rows of ``X_eval``),
    streamed in order from a zero state, or each item alone; as thread ``me`` of
    ``threads`` (thread 0 returns the metrics). ``h2 [2, h]`` is the shared state, zeroed:
    item ``i`` reads row ``i % 2`` and writes the other."""
    indptr, indices, values = csr
    WX, WH, BI, BH, Wo, bo = P
    n = indptr.shape[0] - 1
    H = Wo.shape[1]
    n_out = Wo.shape[0]
    G0, G1 = WX[0].shape[1], WX[1].shape[1]
    c = np.zeros(H, np.float32)
    zero = np.zeros(H, np.float32)
    PXT = (np.empty((_EVAL_TILE, G0), np.float32), np.empty((_EVAL_TILE, G1), np.float32))
    ACT = (np.empty(G0, np.float32), np.empty(G1, np.float32))
    tc = np.empty(H, np.float32)
    z = np.empty(n_out, np.float32)
    y = np.empty(n_out, np.float32)
    totals = np.zeros(3)  # squared error, cross-entropy, hits
    for t0 in range(0, n, _EVAL_TILE):  # input products of a tile first: Wh then stays cached
        m = min(_EVAL_TILE, n - t0)
        for p in range(me, 2, threads):
            for k in range(m):  # WX[p].T x + BI[p]
                forward_w1_csr(PXT[p][k], WX[p], BI[p], indptr, indices, values, t0 + k)
        for k in range(m):
            h_old, h_new = h2[(t0 + k) % 2], h2[(t0 + k + 1) % 2]
            for p in range(me, 2, threads):
                u0, u1 = _units(p, H)
                gates = PXT[p][k]
                if streamed:
                    _matvec_add4(WH[p], h_old, gates, k % 2 == 1)
                    gates += BH[p]
                    _lstm_cell(gates, c[u0:u1], c[u0:u1], h_new[u0:u1], ACT[p], tc[u0:u1])
                else:
                    gates += BH[p]
                    _lstm_cell(gates, zero[u0:u1], c[u0:u1], h_new[u0:u1], ACT[p], tc[u0:u1])
            barrier(sync, me, threads)  # h_new is complete
            if me == 0:
                z[:] = bo
                matvec_add(Wo, h_new, z)
                add_metrics(z, y, targets[t0 + k], labels[t0 + k], output, classify, totals)
    return finish_metrics(totals, n, n_out, classify)


def part_rows(hidden: int, part: int) -> np.ndarray:
    """Rows of ``W_ih``/``W_hh`` (PyTorch's gate order i, f, g, o) held by ``part``.

    The units are split in two halves, and a part holds all four gates of its units, so its
    cells need nothing from the other part; its rows keep the order i, f, g, o.
    """
    s = (hidden + 1) // 2
    units = np.arange(0, s) if part == 0 else np.arange(s, hidden)
    return np.concatenate([g * hidden + units for g in range(4)])


def _kernel_params(params: dict[str, np.ndarray]) -> tuple:
    """The kernels' layout: per part, its rows of ``W_ih`` transposed (one row per input
    pixel), of ``W_hh`` and of the biases; then ``W_out``, ``b_out``."""
    hidden = params["W_hh"].shape[1]
    rows = [part_rows(hidden, p) for p in range(PARTS)]

    def parts(a: np.ndarray, transpose: bool = False) -> tuple[np.ndarray, ...]:
        return tuple(np.ascontiguousarray(a[r].T if transpose else a[r], dtype=np.float32)
                     for r in rows)  # fmt: skip

    return (parts(params["W_ih"], True), parts(params["W_hh"]), parts(params["b_ih"]),
            parts(params["b_hh"]), np.ascontiguousarray(params["W_out"], dtype=np.float32),
            np.ascontiguousarray(params["b_out"], dtype=np.float32))  # fmt: skip


def _zeros_like(P: tuple) -> tuple:
    return tuple(tuple(np.zeros_like(a) for a in p) if isinstance(p, tuple) else np.zeros_like(p)
                 for p in P)  # fmt: skip


def _torch_params(P: tuple) -> dict[str, np.ndarray]:
    WX, WH, BI, BH, Wo, bo = P
    hidden, d_in = Wo.shape[1], WX[0].shape[0]
    out = {"W_ih": np.empty((4 * hidden, d_in), np.float32),
           "W_hh": np.empty((4 * hidden, hidden), np.float32),
           "b_ih": np.empty(4 * hidden, np.float32), "b_hh": np.empty(4 * hidden, np.float32)}
    for p in range(PARTS):
        r = part_rows(hidden, p)
        out["W_ih"][r], out["W_hh"][r] = WX[p].T, WH[p]
        out["b_ih"][r], out["b_hh"][r] = BI[p], BH[p]
    return {**out, "W_out": Wo.copy(), "b_out": bo.copy()}


def evaluate_lstm(prep: Prepared, params: dict[str, np.ndarray],
                  threads: int = 1) -> tuple[float, float, float]:
    """Test MSE, CE and accuracy of an LSTM (``init_lstm_params`` names) on ``prep``'s test set."""
    return _evaluate_kernel(prep, _kernel_params(params), threads=threads)


def _evaluate_kernel(
    prep: Prepared, P: tuple, test_csr: tuple[np.ndarray, ...] | None = None, threads: int = 1,
) -> tuple[float, float, float]:
    """``test_csr``: the test items as CSR rows, built once per run (it evaluates ~60 times)."""
    s = prep.settings
    h2 = np.zeros((2, P[4].shape[1]), np.float32)
    mse, ce, acc = run_in_lockstep(
        _evaluate, threads, test_csr or csr_rows(np.asarray(prep.X_eval, dtype=np.float32)),
        np.ascontiguousarray(prep.targets_eval, dtype=np.float32),
        np.ascontiguousarray(prep.labels_eval, dtype=np.int64),
        prep.eval_resets is not None, P, h2, OUTPUTS[s.output], prep.task == "classify",
    )
    return float(mse), float(ce), float(acc)


# ---------------------------------------------------------------- drivers
def _train_one(run: LSTMRun, csr: tuple[np.ndarray, ...], progress, threads: int = 1,
               observe: Callable[[int, Callable[[Prepared], Metrics]], None] | None = None,
               ) -> Curves:
    """One run on ``threads`` threads (1 or 2; the same numbers either way): compiled steps
    between evaluation points, evaluations in between (``observe(step, evaluate)`` sees
    each, as :data:`~smoothlearn.contract.Observer` without the run index)."""
    prep, s = run.prep, run.prep.settings
    d_in, d_out = prep.X.shape[1], prep.targets.shape[1]
    P = _kernel_params(init_lstm_params(d_in, run.hidden, d_out, run.init_seed))
    SQ = _zeros_like(P)  # RMSprop's averages (unused by SGD)
    BUF = _zeros_like(P) if s.rmsprop_momentum > 0 else SQ  # read only with momentum > 0,
    # so momentum 0 shares SQ's arrays instead of allocating more
    H, bptt = run.hidden, run.bptt
    windows = tuple(np.zeros(bptt, np.int64) for _ in range(PARTS))
    history = (tuple(np.zeros((bptt, w.shape[1]), np.float32) for w in P[0]),
               *(np.zeros((bptt, H), np.float32) for _ in range(3)))  # fmt: skip
    state = np.zeros((PARTS, 2), np.int64)
    PX = tuple(np.zeros((1, w.shape[1]), np.float32) for w in P[0])
    ZH = tuple(np.zeros(w.shape[1], np.float32) for w in P[0])
    partials = np.zeros((2, PARTS, H), np.float32)
    hs = np.zeros(H, np.float32)
    cs = np.zeros(H, np.float32)
    cfg = np.array([bptt, OUTPUTS[s.output], LOSSES[s.loss], OPTIMISERS[s.optimizer]],
                   np.int64)  # fmt: skip
    lrs = np.array([s.lr, s.rmsprop_alpha, s.rmsprop_eps, s.rmsprop_momentum], np.float32)
    targets = np.ascontiguousarray(prep.targets, dtype=np.float32)
    labels = np.ascontiguousarray(np.maximum(prep.labels, 0), dtype=np.int64)
    order = np.ascontiguousarray(prep.order, dtype=np.int64)
    rows, done, diverged = [], 0, False
    test_csr = csr_rows(np.asarray(prep.X_eval, dtype=np.float32))
    points = set(prep.eval_steps.tolist())
    for point in sorted(p for p in points | {prep.steps} if 0 <= p <= prep.steps):
        if point > done:
            bad = run_in_lockstep(_train_steps, threads, *csr, targets, labels, order, done,
                                  point, P, SQ, BUF, windows, history, state, hs, cs, PX, ZH,
                                  partials, cfg, lrs)  # fmt: skip
            if progress:
                progress((bad if bad >= 0 else point) - done)
            if bad >= 0:
                diverged = True
                break
            done = point
        if point in points:
            rows.append((point, *_evaluate_kernel(prep, P, test_csr, threads)))
            if observe is not None:
                observe(point, functools.partial(_evaluate_other, P=P, threads=threads))
    if progress and diverged:
        progress(prep.steps - done)  # a diverged run's remaining steps count as done
    return curves_of(rows, diverged, _torch_params(P))


def _evaluate_other(other: Prepared, P: tuple, threads: int) -> Metrics:
    """The current weights ``P`` on another run's test set (its CSR rows kept with it)."""
    return _evaluate_kernel(other, P, cached(other.X_eval, "lstm-csr", _test_csr), threads)


def _test_csr(X: np.ndarray) -> tuple[np.ndarray, ...]:
    return csr_rows(np.asarray(X, dtype=np.float32))


def lstm_threads(threads: int | None) -> tuple[int, int]:
    """``(runs at once, threads per run)`` for ``threads`` cores (default: all).

    Two threads share a run wherever two cores are free: each keeps its half of ``W_hh`` in
    its own L2, which beats two runs side by side that both stream all of it from L3.
    """
    total = max(1, threads or os.cpu_count() or 1)
    per_run = min(PARTS, total)
    return max(1, total // per_run), per_run


def train_lstm_many(
    runs: Sequence[LSTMRun],
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    observe: Observer | None = None,
    threads_per_run: int | None = None,
) -> list[Curves]:
    """Train LSTM runs on ``threads`` cores (default all): two threads per run where there
    are two cores (:func:`lstm_threads`; ``threads_per_run`` 1 or 2 overrides it);
    ``progress(n)`` receives the steps completed (thread-safe); ``observe`` sees each
    evaluation point (:data:`~smoothlearn.contract.Observer`; ``k`` indexes ``runs``).
    The numbers do not depend on ``threads`` or ``threads_per_run``."""
    at_once, per_run = lstm_threads(threads)
    if threads_per_run is not None:
        if threads_per_run not in range(1, PARTS + 1):
            raise ValueError(f"threads_per_run={threads_per_run!r}; allowed: 1 to {PARTS}")
        per_run = threads_per_run
        at_once = max(1, (threads or os.cpu_count() or 1) // per_run)
    jobs = [functools.partial(_train_one, r, csr_rows(r.prep.X), threads=per_run,
                              observe=None if observe is None else functools.partial(observe, k))
            for k, r in enumerate(runs)]  # fmt: skip
    return train_on_threads(jobs, at_once, progress)


def train_lstm_fast(
    prep: Prepared, hidden: int, bptt: int = 10, init_seed: int = 0,
    progress: Callable[[int], None] | None = None, threads: int = 1,
) -> Curves:
    """The compiled twin of :func:`smoothlearn.train.train_lstm` (same arguments, same curves)."""
    return train_lstm_many([LSTMRun(prep, hidden, bptt, init_seed)], threads, progress)[0]
