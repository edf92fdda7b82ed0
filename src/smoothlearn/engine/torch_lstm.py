"""The LSTM baseline as batched torch tensors on a device: K networks take each step together.

The rule is the reference's (:func:`smoothlearn.train.train_lstm`, ``docs/model.md``):
truncated BPTT over the stored history of the last ``bptt`` steps (Williams & Peng's
BPTT(h; 1)). The state is carried forward once; each step keeps its item, input state and
gates; the newest loss is backpropagated through the kept steps with the current weights,
written, as in the reference, so that autograd computes it. Weights start from
:func:`smoothlearn.lstmcell.init_lstm_params`.

On the device the networks share every kernel launch: the kept steps' products with the
current weights are two batched products per step (``[K, n, d] x [K, d, 4h]`` and
``[K, n, h] x [K, h, 4h]``), each backward link one ``bmm`` over the K networks, and
autograd differentiates the summed losses (each network's loss
depends on its own weights only, so each gets its own gradient). Diverged networks are
frozen by the optimiser's mask, without a host sync inside a chunk. Evaluation is the
reference's ``_lstm_evaluate``: memory off (each test item alone from a zero state) or
streamed (one pass in order, state carried), batched over the networks sharing a test set.
``tests/test_engine_device.py`` runs it on the CPU against the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from smoothlearn.contract import Curves
from smoothlearn.engine.lstm import LSTMRun
from smoothlearn.engine.schedule import Schedule
from smoothlearn.engine.torch_ops import (
    EVAL_TILE,
    Targets,
    as_tensor,
    evaluate_groups,
    net_losses,
    optimiser_step,
)
from smoothlearn.lstmcell import init_lstm_params, lstm_cell

__all__ = ["TorchLSTMEnsemble", "train_lstm_device"]

NAMES = ("W_ih", "W_hh", "b_ih", "b_hh", "W_out", "b_out")


def _bmv(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``W[k] @ x[k]`` for every network k: ``[K, m, n] x [K, n] -> [K, m]``."""
    return torch.bmm(W, x.unsqueeze(2)).squeeze(2)


class TorchLSTMEnsemble(Schedule):
    """K compatible LSTM runs (same data, widths, window, settings, length) on one device."""

    def __init__(self, runs: Sequence[LSTMRun], device: str) -> None:
        self.device = torch.device(device)
        first = runs[0]
        self.runs = [r.prep for r in runs]
        self.settings, self.bptt = first.prep.settings, first.bptt
        self.T = first.prep.order.shape[0]
        d_in, d_out = first.prep.X.shape[1], first.prep.targets.shape[1]
        K = len(runs)
        self.X = as_tensor(first.prep.X, self.device)
        self.targets = Targets(self.runs, self.device)
        self.order = as_tensor(np.stack([r.order for r in self.runs]), self.device, torch.int64)
        inits = [init_lstm_params(d_in, r.hidden, d_out, r.init_seed) for r in runs]
        self.w = [as_tensor(np.stack([p[n] for p in inits]), self.device).requires_grad_()
                  for n in NAMES]  # fmt: skip
        self.v = [torch.zeros_like(w) for w in self.w]
        self.buf = [torch.zeros_like(w) for w in self.w]
        self.h = torch.zeros(K, first.hidden, device=self.device)  # the carried state
        self.c = torch.zeros_like(self.h)
        self.history: list[tuple[torch.Tensor, ...]] = []  # (items, h_in, c_in, gates) a step
        self.alive_t = torch.ones(K, dtype=torch.bool, device=self.device)
        self.stop_t = torch.full((K,), -1, dtype=torch.int64, device=self.device)
        self.alive, self.stop = np.ones(K, np.bool_), np.full(K, -1, np.int64)
        self.eval_sets = [set(np.asarray(r.eval_steps).tolist()) for r in self.runs]
        self.points: list[list[tuple[int, float, float, float]]] = [[] for _ in runs]

    def _history_loss(self) -> torch.Tensor:
        """Each network's loss ``[K]`` on its newest item, built over the kept steps as in
        :func:`smoothlearn.train._lstm_window_output` (stored values, live gradients)."""
        W_ih, W_hh, b_ih, b_hh, W_out, b_out = self.w
        items = torch.stack([step[0] for step in self.history], 1)  # [K, n]
        h_in = torch.stack([step[1] for step in self.history], 1)  # [K, n, h]
        live = torch.baddbmm((b_ih + b_hh).unsqueeze(1), self.X[items], W_ih.transpose(1, 2))
        live = live + torch.bmm(h_in, W_hh.transpose(1, 2))
        h = c = None
        for t, (_, _, c_in, stored) in enumerate(self.history):
            gates = live[:, t]
            if h is not None:  # adds zero; passes the gradient back to the cell before
                gates = gates + _bmv(W_hh, h - h.detach())
                c_in = c_in + (c - c.detach())
            h, c = lstm_cell(stored + (gates - gates.detach()), c_in)
        z = _bmv(W_out, h) + b_out
        targets, labels = self.targets.at(items[:, -1:])
        return net_losses(z.unsqueeze(1), targets, labels, self.settings)

    def _keep_step(self, step: int) -> torch.Tensor:
        """This step's gates from the carried state (current weights), kept as history."""
        W_ih, W_hh, b_ih, b_hh = self.w[:4]
        items = self.order[:, step]
        gates = _bmv(W_ih, self.X[items]) + b_ih + _bmv(W_hh, self.h) + b_hh
        self.history = [*self.history, (items, self.h, self.c, gates)][-self.bptt:]
        return gates

    def train(self, s0: int, s1: int) -> int:
        was_alive = int(self.alive.sum())
        for step in range(s0, s1):
            with torch.no_grad():
                gates = self._keep_step(step)
            with torch.enable_grad():
                loss = self._history_loss()
                grads = torch.autograd.grad(loss.sum(), self.w)
            with torch.no_grad():
                self.h, self.c = lstm_cell(gates, self.c)  # the carried state moves on
                ok = self.alive_t & torch.isfinite(loss)
                self.stop_t = torch.where(self.alive_t & ~ok, step, self.stop_t)
                self.alive_t = ok
                for w, g, v, b in zip(self.w, grads, self.v, self.buf, strict=True):
                    optimiser_step(w, g, v, b, self.settings, ok)
        stop = self.stop_t.cpu().numpy()
        died = self.alive & (stop >= 0)
        self.stop, self.alive = stop, self.alive_t.cpu().numpy().copy()
        return was_alive * (s1 - s0) + int(died.sum()) * (self.T - s1)

    def _logits(self, nets: torch.Tensor, X: torch.Tensor, streamed: bool) -> torch.Tensor:
        """Logits ``[len(nets), n, o]`` on test inputs ``X``, memory off or streamed."""
        W_ih, W_hh, b_ih, b_hh, W_out, b_out = (w[nets] for w in self.w)
        h = torch.zeros(len(nets), W_hh.shape[2], device=self.device)
        c = torch.zeros_like(h)
        out = []
        for t0 in range(0, X.shape[0], EVAL_TILE):
            P = torch.einsum("nd,kgd->kng", X[t0:t0 + EVAL_TILE], W_ih) + (b_ih + b_hh)[:, None]
            if streamed:
                hs = torch.empty(P.shape[:2] + h.shape[1:], device=self.device)
                for i in range(P.shape[1]):
                    h, c = lstm_cell(P[:, i] + _bmv(W_hh, h), c)
                    hs[:, i] = h
            else:  # from a zero state: no recurrent term, no forget term
                hs, _ = lstm_cell(P, torch.zeros((), device=self.device))
            out.append(torch.baddbmm(b_out.unsqueeze(1), hs, W_out.transpose(1, 2)))
        return torch.cat(out, 1)

    def evaluate(self, step: int) -> None:
        nets = self.wanted(step)
        for k, values in evaluate_groups(self.runs, nets, self._logits, self.device).items():
            self.points[k].append((step, *values))

    def params(self, k: int) -> dict[str, np.ndarray]:
        return {n: w[k].detach().cpu().numpy().copy() for n, w in zip(NAMES, self.w, strict=True)}


def _key(run: LSTMRun) -> tuple:
    """Runs with equal keys train as one ensemble: same data, widths, window, settings."""
    p = run.prep
    return (id(p.X), p.X.shape, run.hidden, run.bptt, p.targets.shape[1], p.order.shape[0],
            p.settings, p.task)  # fmt: skip


def train_lstm_device(runs: Sequence[LSTMRun], device: str,
                      progress: Callable[[int], None] | None = None) -> list[Curves]:
    """Train LSTM runs on a torch ``device``, compatible runs as one ensemble each; curves in
    input order (as :func:`smoothlearn.engine.lstm.train_lstm_many`)."""
    by_key: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        by_key.setdefault(_key(run), []).append(i)
    out: list[Curves | None] = [None] * len(runs)
    for members in by_key.values():
        curves = TorchLSTMEnsemble([runs[i] for i in members], device).run(progress)
        for i, c in zip(members, curves, strict=True):
            out[i] = c
    return out  # type: ignore[return-value]
