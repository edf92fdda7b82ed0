"""Mini-batch training (Appendix A.5/A.6) compiled: equal to ``train.train_minibatch``.

A memoryless net (feedforward, leak 0) takes one optimiser step per batch of ``batch_size``
consecutive items of the training order, on the loss averaged over the batch (MSE: over the
batch and the outputs; CE: over the batch), at the run's learning rate (``docs/model.md``).

As in the LSTM kernel (:mod:`smoothlearn.engine.lstm`), ``W1`` is stored transposed (one row
per input pixel): the batch's hidden pre-activations and the update of ``W1`` touch only
rows of pixels lit in the batch, and the update is fused with the next batch's products.
Runs go one per thread (``nogil`` kernels), each network's weights staying with its core.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from numba import njit

from smoothlearn.contract import Curves, Prepared
from smoothlearn.engine.arrays import aligned_copy, csr
from smoothlearn.engine.baselines import (
    add_metrics,
    combine_rows,
    finish_metrics,
    matvec_add,
    matvec_t,
    opt_update,
    output_loss,
    project,
    train_on_threads,
    update_and_project,
)
from smoothlearn.engine.codes import JIT, LOSSES, OPTIMIZERS, OUTPUTS
from smoothlearn.engine.kernels import forward_w1_wide
from smoothlearn.engine.schedule import Schedule

__all__ = ["boundaries", "train_minibatch_fast", "train_minibatch_many"]


@njit(**JIT)
def _train_batches(indptr, indices, values, targets, labels, order, start, stop, batch, P, SQ,
                   BUF, Px, state, cfg, lrs):  # fmt: skip
    """Train the batches starting at ``start, start + batch, ...`` below ``stop``.

    Returns the start of the batch whose loss was not finite, or -1. ``P = (W1T [d_in, h],
    b1, W2 [d_out, h], b2)``; ``Px`` holds the first-layer products of the batch at ``start``
    when ``state[0]`` is set (computed by the previous call's last update).
    """
    W1T, b1, W2, b2 = P
    output, loss, opt = cfg[0], cfg[1], cfg[2]
    lr, alpha, eps, mom = lrs[0], lrs[1], lrs[2], lrs[3]
    d_in, H = W1T.shape
    n_out = W2.shape[0]
    steps = order.shape[0]
    hidden = np.zeros((batch, H), np.float32)
    dpre = np.zeros((batch, H), np.float32)
    dz = np.zeros((batch, n_out), np.float32)
    z = np.empty(n_out, np.float32)
    dh = np.empty(H, np.float32)
    grad_h = np.empty(H, np.float32)
    grad_o = np.zeros(n_out, np.float32)
    mark = np.zeros(d_in, np.int8)
    dense = np.zeros((batch, d_in), np.float32)
    dense_next = np.zeros((batch, d_in), np.float32)
    for first in range(start, stop, batch):
        n = min(batch, steps - first)
        items = order[first:first + n]
        if state[0] == 0:
            project(W1T, indptr, indices, values, items, n, Px, mark, dense)
        total = np.float32(0.0)
        for b in range(n):
            for j in range(H):
                hidden[b, j] = max(Px[b, j] + b1[j], np.float32(0.0))
            z[:] = b2
            matvec_add(W2, hidden[b], z)
            item = items[b]
            total += output_loss(z, targets[item], labels[item], output, loss, dz[b])
        if not np.isfinite(total):
            return first
        dz[:n] /= np.float32(n)  # the loss is the mean over the batch
        for b in range(n):
            matvec_t(W2, dz[b], dh)  # W2 before its update
            for j in range(H):
                dpre[b, j] = dh[j] if Px[b, j] + b1[j] > 0 else np.float32(0.0)
        for r in range(n_out):
            combine_rows(dz[:, r], hidden, n, grad_h)
            opt_update(W2[r], grad_h, SQ[2][r], BUF[2][r], opt, lr, alpha, eps, mom)
        grad_o[:] = 0
        grad_h[:] = 0
        for b in range(n):
            for r in range(n_out):
                grad_o[r] += dz[b, r]
            for j in range(H):
                grad_h[j] += dpre[b, j]
        opt_update(b2, grad_o, SQ[3], BUF[3], opt, lr, alpha, eps, mom)
        opt_update(b1, grad_h, SQ[1], BUF[1], opt, lr, alpha, eps, mom)
        following = first + batch
        n_next = max(0, min(batch, steps - following))
        update_and_project(W1T, SQ[0], BUF[0], indptr, indices, values, items, n, dpre,
                           order[following:following + n_next], n_next, Px, mark, dense,
                           dense_next, grad_h, opt, lr, alpha, eps, mom)  # fmt: skip
        state[0] = 1
    return -1


@njit(**JIT)
def _evaluate(csr, targets, labels, P, W1wide, output, classify):
    """Mean test MSE, CE and accuracy of the memoryless net on every CSR row of ``csr``.

    The first layer is the per-sample engine's evaluation pass (:func:`forward_w1_wide` on
    ``W1wide``, ``W1T`` copied onto 64-byte lines) from zero, ``b1`` added after it as the
    reference does: the same products in the same order as a pass over dense rows.
    """
    indptr, indices, values = csr
    W1T, b1, W2, b2 = P
    n = indptr.shape[0] - 1
    H = W1T.shape[1]
    n_out = W2.shape[0]
    zero = np.zeros(H, np.float32)
    pre = np.empty(H, np.float32)
    hidden = np.empty(H, np.float32)
    z = np.empty(n_out, np.float32)
    y = np.empty(n_out, np.float32)
    totals = np.zeros(3)  # squared error, cross-entropy, hits
    for i in range(n):
        forward_w1_wide(pre, W1wide, zero, indptr, indices, values, i)
        for j in range(H):
            hidden[j] = max(pre[j] + b1[j], np.float32(0.0))
        z[:] = b2
        matvec_add(W2, hidden, z)
        add_metrics(z, y, targets[i], labels[i], output, classify, totals)
    return finish_metrics(totals, n, n_out, classify)


def _evaluate_prep(prep: Prepared, P: tuple[np.ndarray, ...]) -> tuple[float, float, float]:
    """Memory off: with leak 0, a streamed evaluation gives the same numbers (H = act)."""
    mse, ce, acc = _evaluate(
        csr(prep.X_eval),
        np.ascontiguousarray(prep.targets_eval, dtype=np.float32),
        np.ascontiguousarray(np.maximum(prep.labels_eval, 0), dtype=np.int64), P,
        aligned_copy(P[0]),
        OUTPUTS[prep.settings.output], prep.task == "classify",
    )  # fmt: skip
    return float(mse), float(ce), float(acc)


def _params(P: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
    return {"W1": np.ascontiguousarray(P[0].T), "b1": P[1].copy(), "W2": P[2].copy(),
            "b2": P[3].copy()}  # fmt: skip


def boundaries(eval_steps: np.ndarray, batch: int, steps: int) -> Counter[int]:
    """Where each evaluation point is recorded: the first batch start at or after it (the
    run's length at the end), counted once per point."""
    return Counter(min(-(-int(p) // batch) * batch, steps) for p in eval_steps)


class _MiniBatchSchedule(Schedule):
    """One run's compiled batches between its evaluation points, which lie on batch starts
    (:func:`boundaries`), with the reference's schedule."""

    def __init__(self, prep: Prepared, batch: int, train_rows: tuple[np.ndarray, ...]) -> None:
        if np.any(prep.leak != 0):
            raise ValueError("mini-batch training is defined for memoryless nets (leak 0)")
        s = prep.settings
        self.runs, self.T, self.batch, self.train_rows = [prep], prep.steps, batch, train_rows
        self.P = (np.ascontiguousarray(prep.params["W1"].T, dtype=np.float32),
                  *(np.array(prep.params[k], np.float32) for k in ("b1", "W2", "b2")))
        self.SQ = tuple(np.zeros_like(p) for p in self.P)
        self.BUF = tuple(np.zeros_like(p) for p in self.P) if s.rmsprop_momentum > 0 else self.SQ
        self.Px = np.zeros((batch, self.P[0].shape[1]), np.float32)
        self.state = np.zeros(1, np.int64)
        self.cfg = np.array([OUTPUTS[s.output], LOSSES[s.loss], OPTIMIZERS[s.optimizer]],
                            np.int64)
        self.lrs = np.array([s.lr, s.rmsprop_alpha, s.rmsprop_eps, s.rmsprop_momentum],
                            np.float32)
        self.targets = np.ascontiguousarray(prep.targets, dtype=np.float32)
        self.labels = np.ascontiguousarray(np.maximum(prep.labels, 0), dtype=np.int64)
        self.order = np.ascontiguousarray(prep.order, dtype=np.int64)
        self.counts = boundaries(prep.eval_steps, batch, self.T)
        self.eval_sets = [set(self.counts)]
        self.points: list[list[tuple[int, float, float, float]]] = [[]]
        self.alive, self.stop = np.ones(1, np.bool_), np.full(1, -1, np.int64)

    def train(self, s0: int, s1: int) -> int:
        """The batches starting in ``[s0, s1)``."""
        begun = -(-s0 // self.batch) * self.batch
        if begun >= s1:
            return 0
        bad = _train_batches(*self.train_rows, self.targets, self.labels, self.order, begun, s1,
                             self.batch, self.P, self.SQ, self.BUF, self.Px, self.state,
                             self.cfg, self.lrs)
        if bad < 0:
            return min(-(-s1 // self.batch) * self.batch, self.T) - begun
        self.alive[0], self.stop[0] = False, bad
        return self.T - begun  # a diverged run's remaining steps count as done

    def evaluate(self, step: int) -> None:
        for _ in range(self.counts[step] if self.wanted(step) else 0):
            self.points[0].append((step, *_evaluate_prep(self.runs[0], self.P)))

    def params(self, k: int) -> dict[str, np.ndarray]:
        return _params(self.P)


def _train_one(prep: Prepared, batch: int, train_rows: tuple[np.ndarray, ...],
               progress: Callable[[int], None]) -> Curves:
    return _MiniBatchSchedule(prep, batch, train_rows).run(progress)[0]


def train_minibatch_many(
    runs: Sequence[Prepared],
    batch_sizes: Sequence[int],
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Curves]:
    """Train mini-batch runs, one network per thread (``threads`` at a time; default all)."""
    jobs = [functools.partial(_train_one, p, b, csr(p.X))
            for p, b in zip(runs, batch_sizes, strict=True)]
    return train_on_threads(jobs, threads, progress)


def train_minibatch_fast(
    prep: Prepared, batch_size: int = 16, progress: Callable[[int], None] | None = None
) -> Curves:
    """The compiled twin of :func:`smoothlearn.train.train_minibatch` (same curves)."""
    return train_minibatch_many([prep], [batch_size], 1, progress)[0]

