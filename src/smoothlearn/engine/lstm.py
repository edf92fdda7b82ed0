"""The LSTM baseline (Appendix A.8-A.10) compiled: per-sample truncated BPTT, as ``train_lstm``.

The rule is the reference's (``smoothlearn.train.train_lstm``, ``docs/model.md``): at every step
the window of the last ``bptt`` items is run forward from the detached state before it, the
loss of the newest item's output is backpropagated through the whole window, and the optimiser
takes one step. When the window is full, its starting state is first advanced by the item
that leaves it (with the current weights, no gradient).

What makes it fast on a CPU, with the reference's arithmetic (float32, other summation order):
- one compiled loop per evaluation interval, so Python and autograd cost nothing per step;
- sparse inputs: ``W_ih`` is stored transposed (``Wx[pixel, gate]``); the input products of
  all items of the next step's window (plus the leaving one) are accumulated in ONE pass over
  the rows of the pixels lit in any of them (~19% of MNIST pixels each), and that pass is the
  same one that applies this step's update to ``Wx`` (SGD touches only lit rows);
- the update of ``W_hh`` is fused with the next step's first recurrent product, whose
  previous state (the window's start state) is already known;
- each network's weights stay with one thread (``nogil`` kernels, a thread per network), so an
  ensemble of runs uses every core without sharing caches;
- evaluation projects the test items a tile at a time (each ``Wx`` row read once per tile),
  then runs the recurrence (streamed) or the single step (memory off).

No product is carried over from an older step: the weights change at every step, so every
product of the window is taken with the current weights, as the reference does. The floor is
the recurrent work: about 2 x ``bptt`` sequential passes over ``W_hh`` (2.4 MB at h = 392,
larger than a core's L2 here) per step, forward and back. Cross-checked against the reference
in ``tests/test_engine_lstm.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from smoothlearn.contract import Curves, Prepared
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
    project_tile,
    sigmoid,
    train_on_threads,
    update_and_project,
)
from smoothlearn.nn import init_lstm_params

__all__ = ["LSTMRun", "train_lstm_fast", "train_lstm_many", "evaluate_lstm"]


_EVAL_TILE = 64


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



# ---------------------------------------------------------------- training
@njit(**JIT)
def _gradient_row(D, r, Hs, n, out):
    """``out = sum_k D[k, r] Hs[k]`` (k < n): one row of ``dWh``, four terms per pass."""
    out[:] = 0
    k = 0
    while k + 4 <= n:
        c0, c1, c2, c3 = D[k, r], D[k + 1, r], D[k + 2, r], D[k + 3, r]
        h0, h1, h2, h3 = Hs[k], Hs[k + 1], Hs[k + 2], Hs[k + 3]
        for j in range(out.shape[0]):
            out[j] += c0 * h0[j] + c1 * h1[j] + c2 * h2[j] + c3 * h3[j]
        k += 4
    for rest in range(k, n):
        c0, h0 = D[rest, r], Hs[rest]
        for j in range(out.shape[0]):
            out[j] += c0 * h0[j]


@njit(**JIT)
def _update_wh_and_project(Wh, sq, buf, D, Hs, n_win, h_next, zh, grad, opt, lr, alpha, eps,
                           momentum):
    """Optimiser step of ``Wh`` (``dWh = sum_k D[k] (x) Hs[k]``), fused with ``zh = Wh h_next``.

    ``h_next`` (the window's start state) is the previous hidden state of the next step's
    first cell, so its recurrent product is taken while each updated row is in cache.
    """
    H = Wh.shape[1]
    for r in range(Wh.shape[0]):
        _gradient_row(D, r, Hs, n_win, grad)
        row = Wh[r]
        opt_update(row, grad, sq[r], buf[r], opt, lr, alpha, eps, momentum)
        acc = np.float32(0.0)
        for j in range(H):
            acc += row[j] * h_next[j]
        zh[r] = acc


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
        if k > 0:  # the window's start state is detached: no gradient flows past it
            matvec_t(Wh, D[k], dh)


@njit(**JIT)
def _train_steps(indptr, indices, values, targets, labels, order, start, stop, P, SQ, BUF,
                 window, state, hs, cs, Px, zh, cfg, lrs):
    """Train steps ``[start, stop)``; returns the step that diverged, or -1.

    ``P = (Wx [d_in, 4h], Wh [4h, h], b_ih, b_hh, Wo [d_out, h], b_out)``; ``SQ``/``BUF`` hold
    RMSprop's averages and momentum buffers of the same shapes. Persisting between calls:
    ``window`` (item ids, oldest first; ``state[0]`` its length), its start state ``hs``/``cs``,
    and the next step's input projections ``Px`` and ``zh = Wh hs`` (valid when ``state[1]``).
    ``cfg = (bptt, output, loss, optimiser)``, ``lrs = (lr, alpha, eps, momentum)``.
    """
    Wx, Wh, bi, bh, Wo, bo = P
    bptt, output, loss, opt = cfg[0], cfg[1], cfg[2], cfg[3]
    lr, alpha, eps, mom = lrs[0], lrs[1], lrs[2], lrs[3]
    d_in, G = Wx.shape
    H = Wh.shape[1]
    n_out = Wo.shape[0]
    acts = np.zeros((bptt, G), np.float32)
    C = np.zeros((bptt, H), np.float32)
    TC = np.zeros((bptt, H), np.float32)
    Hs = np.zeros((bptt + 1, H), np.float32)  # Hs[0] = start state, Hs[k + 1] = output of k
    Cprev = np.zeros((bptt + 1, H), np.float32)
    D = np.zeros((bptt, G), np.float32)
    gates = np.empty(G, np.float32)
    scratch_acts = np.empty(G, np.float32)
    scratch_tc = np.empty(H, np.float32)
    z = np.empty(n_out, np.float32)
    dz = np.empty(n_out, np.float32)
    dh = np.empty(H, np.float32)
    grad_g = np.empty(G, np.float32)
    grad_h = np.empty(H, np.float32)
    gb = np.empty(G, np.float32)
    mark = np.zeros(d_in, np.int8)
    dense = np.zeros((bptt + 1, d_in), np.float32)
    dense_next = np.zeros((bptt + 1, d_in), np.float32)
    items = np.empty(bptt + 1, np.int64)
    for step in range(start, stop):
        n_win = state[0]
        if n_win < bptt:
            window[n_win] = order[step]
            n_win += 1
            state[0] = n_win
            first = 0
        else:  # the oldest item leaves: it moves the window's start state
            first = 1
        if state[1] == 0:  # the run's first step: nothing precomputed yet
            for k in range(first + n_win - 1):
                items[k] = window[k]
            items[first + n_win - 1] = order[step]
            project(Wx, indptr, indices, values, items, first + n_win, Px, mark, dense)
            zh[:] = 0
            matvec_add(Wh, hs, zh)
        if first:
            for k in range(bptt - 1):
                window[k] = window[k + 1]
            window[bptt - 1] = order[step]
            gates[:] = Px[0] + bi
            gates += zh
            gates += bh
            _lstm_cell(gates, cs, cs, hs, scratch_acts, scratch_tc)
        Hs[0] = hs
        Cprev[0] = cs
        for k in range(n_win):
            gates[:] = Px[first + k] + bi
            if k == 0 and not first:
                gates += zh
            else:
                matvec_add(Wh, Hs[k], gates)
            gates += bh
            _lstm_cell(gates, Cprev[k], C[k], Hs[k + 1], acts[k], TC[k])
            Cprev[k + 1] = C[k]
        h_last = Hs[n_win]
        z[:] = bo
        matvec_add(Wo, h_last, z)
        item = window[n_win - 1]
        value = output_loss(z, targets[item], labels[item], output, loss, dz)
        if not np.isfinite(value):
            return step
        matvec_t(Wo, dz, dh)  # Wo before its update
        _backward(acts, TC, Cprev, Wh, dh, n_win, D)
        # ---- optimiser steps (all gradients above used the old weights)
        for r in range(n_out):
            grad_h[:] = dz[r] * h_last
            opt_update(Wo[r], grad_h, SQ[4][r], BUF[4][r], opt, lr, alpha, eps, mom)
        opt_update(bo, dz, SQ[5], BUF[5], opt, lr, alpha, eps, mom)
        gb[:] = 0
        for k in range(n_win):
            gb += D[k]
        opt_update(bi, gb, SQ[2], BUF[2], opt, lr, alpha, eps, mom)
        opt_update(bh, gb, SQ[3], BUF[3], opt, lr, alpha, eps, mom)
        _update_wh_and_project(Wh, SQ[1], BUF[1], D, Hs, n_win, hs, zh, grad_h, opt, lr,
                               alpha, eps, mom)  # fmt: skip
        for k in range(n_win):  # the next step's items: this window, then the next item
            items[k] = window[k]
        n_next = n_win
        if step + 1 < order.shape[0]:
            items[n_win] = order[step + 1]
            n_next += 1
        update_and_project(Wx, SQ[0], BUF[0], indptr, indices, values, items, n_win, D, items,
                           n_next, Px, mark, dense, dense_next, grad_g, opt, lr, alpha, eps,
                           mom)  # fmt: skip
        state[1] = 1
    return -1


# ---------------------------------------------------------------- evaluation
@njit(**JIT)
def _evaluate(X, targets, labels, streamed, P, output, classify, tile):
    """Mean test MSE, CE and accuracy over ``X`` (streamed in order from zero, or item alone)."""
    Wx, Wh, bi, bh, Wo, bo = P
    n, d_in = X.shape
    G, H = Wh.shape
    n_out = Wo.shape[0]
    Px = np.zeros((tile, G), np.float32)
    h = np.zeros(H, np.float32)
    c = np.zeros(H, np.float32)
    zero = np.zeros(H, np.float32)
    gates = np.empty(G, np.float32)
    acts = np.empty(G, np.float32)
    tc = np.empty(H, np.float32)
    z = np.empty(n_out, np.float32)
    y = np.empty(n_out, np.float32)
    totals = np.zeros(3)  # squared error, cross-entropy, hits
    for t0 in range(0, n, tile):
        m = min(tile, n - t0)
        project_tile(X, t0, m, Wx, Px)
        for k in range(m):
            gates[:] = Px[k] + bi
            if streamed:
                matvec_add(Wh, h, gates)
                gates += bh
                _lstm_cell(gates, c, c, h, acts, tc)
            else:
                gates += bh
                _lstm_cell(gates, zero, c, h, acts, tc)
            z[:] = bo
            matvec_add(Wo, h, z)
            add_metrics(z, y, targets[t0 + k], labels[t0 + k], output, classify, totals)
    return finish_metrics(totals, n, n_out, classify)


def _kernel_params(params: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The kernels' layout: ``Wx`` is ``W_ih`` transposed (one row per input pixel)."""
    f32 = [np.ascontiguousarray(params[k], dtype=np.float32)
           for k in ("W_hh", "b_ih", "b_hh", "W_out", "b_out")]  # fmt: skip
    return (np.ascontiguousarray(params["W_ih"].T, dtype=np.float32), *f32)


def _torch_params(P: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
    names = ("W_hh", "b_ih", "b_hh", "W_out", "b_out")
    return {"W_ih": np.ascontiguousarray(P[0].T), **{k: v.copy() for k, v in zip(names, P[1:],
                                                                                strict=True)}}


def evaluate_lstm(prep: Prepared, params: dict[str, np.ndarray]) -> tuple[float, float, float]:
    """Test MSE, CE and accuracy of an LSTM (``init_lstm_params`` names) on ``prep``'s test set."""
    return _evaluate_kernel(prep, _kernel_params(params))


def _evaluate_kernel(prep: Prepared, P: tuple[np.ndarray, ...]) -> tuple[float, float, float]:
    s = prep.settings
    mse, ce, acc = _evaluate(
        np.ascontiguousarray(prep.X_eval, dtype=np.float32),
        np.ascontiguousarray(prep.targets_eval, dtype=np.float32),
        np.ascontiguousarray(prep.labels_eval, dtype=np.int64),
        prep.eval_resets is not None, P, OUTPUTS[s.output], prep.task == "classify",
        _EVAL_TILE,
    )
    return float(mse), float(ce), float(acc)


# ---------------------------------------------------------------- drivers
def _train_one(run: LSTMRun, csr: tuple[np.ndarray, ...], progress) -> Curves:
    """One run: compiled steps between evaluation points, evaluations in between."""
    prep, s = run.prep, run.prep.settings
    d_in, d_out = prep.X.shape[1], prep.targets.shape[1]
    P = _kernel_params(init_lstm_params(d_in, run.hidden, d_out, run.init_seed))
    SQ = tuple(np.zeros_like(p) for p in P)  # RMSprop's averages (unused by SGD)
    BUF = tuple(np.zeros_like(p) for p in P) if s.rmsprop_momentum > 0 else SQ  # read only
    # with momentum > 0, so momentum 0 shares SQ's arrays instead of allocating more
    window = np.zeros(run.bptt, np.int64)
    state = np.zeros(2, np.int64)
    Px = np.zeros((run.bptt + 1, P[0].shape[1]), np.float32)
    zh = np.zeros(P[0].shape[1], np.float32)
    hs = np.zeros(run.hidden, np.float32)
    cs = np.zeros(run.hidden, np.float32)
    cfg = np.array([run.bptt, OUTPUTS[s.output], LOSSES[s.loss], OPTIMISERS[s.optimizer]],
                   np.int64)  # fmt: skip
    lrs = np.array([s.lr, s.rmsprop_alpha, s.rmsprop_eps, s.rmsprop_momentum], np.float32)
    targets = np.ascontiguousarray(prep.targets, dtype=np.float32)
    labels = np.ascontiguousarray(np.maximum(prep.labels, 0), dtype=np.int64)
    order = np.ascontiguousarray(prep.order, dtype=np.int64)
    rows, done, diverged = [], 0, False
    points = set(prep.eval_steps.tolist())
    for point in sorted(p for p in points | {prep.steps} if 0 <= p <= prep.steps):
        if point > done:
            bad = _train_steps(*csr, targets, labels, order, done, point, P, SQ, BUF, window,
                               state, hs, cs, Px, zh, cfg, lrs)  # fmt: skip
            if progress:
                progress((bad if bad >= 0 else point) - done)
            if bad >= 0:
                diverged = True
                break
            done = point
        if point in points:
            rows.append((point, *_evaluate_kernel(prep, P)))
    if progress and diverged:
        progress(prep.steps - done)  # a diverged run's remaining steps count as done
    return curves_of(rows, diverged, _torch_params(P))


def train_lstm_many(
    runs: Sequence[LSTMRun],
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Curves]:
    """Train LSTM runs, one network per thread (``threads`` at a time; default all cores);
    ``progress(n)`` receives the steps completed (thread-safe)."""
    jobs = [functools.partial(_train_one, r, csr_rows(r.prep.X)) for r in runs]
    return train_on_threads(jobs, threads, progress)


def train_lstm_fast(
    prep: Prepared, hidden: int, bptt: int = 10, init_seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Curves:
    """The compiled twin of :func:`smoothlearn.train.train_lstm` (same arguments, same curves)."""
    return train_lstm_many([LSTMRun(prep, hidden, bptt, init_seed)], 1, progress)[0]

