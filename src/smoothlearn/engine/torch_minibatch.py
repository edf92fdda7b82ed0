"""Mini-batch training (Appendix A.5/A.6) as batched torch tensors on a device.

As :func:`smoothlearn.train.train_minibatch`: a memoryless net takes one optimiser step per
batch of ``batch_size`` consecutive items of its order, on the loss averaged over the batch,
and an evaluation point is taken at the first batch boundary at or after it (recorded once
per point, at that boundary). Here K networks take their batches together: the hidden layer
is one ``[K, B, d] x [K, d, h]`` product, autograd differentiates the summed losses, and the
masked optimiser step freezes diverged networks on the device.
``tests/test_engine_device.py`` runs it on the CPU against the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from smoothlearn.contract import Curves, Prepared
from smoothlearn.engine.minibatch import boundaries
from smoothlearn.engine.schedule import Schedule
from smoothlearn.engine.torch_ops import (
    EVAL_TILE,
    Targets,
    as_tensor,
    evaluate_groups,
    net_losses,
    optimiser_step,
)

__all__ = ["TorchMiniBatchEnsemble", "train_minibatch_device"]

NAMES = ("W1", "b1", "W2", "b2")


class TorchMiniBatchEnsemble(Schedule):
    """K compatible mini-batch runs (same data, shapes, batch size, settings, length)."""

    def __init__(self, runs: Sequence[Prepared], batch: int, device: str) -> None:
        for run in runs:
            if np.any(run.leak != 0):
                raise ValueError("mini-batch training is defined for memoryless nets (leak 0)")
        self.device = torch.device(device)
        first = runs[0]
        self.runs, self.batch, self.settings = runs, batch, first.settings
        self.T, K = first.order.shape[0], len(runs)
        self.X = as_tensor(first.X, self.device)
        self.targets = Targets(runs, self.device)
        self.order = as_tensor(np.stack([r.order for r in runs]), self.device, torch.int64)
        self.w = [as_tensor(np.stack([r.params[n] for r in runs]), self.device).requires_grad_()
                  for n in NAMES]  # fmt: skip
        self.v = [torch.zeros_like(w) for w in self.w]
        self.buf = [torch.zeros_like(w) for w in self.w]
        self.alive_t = torch.ones(K, dtype=torch.bool, device=self.device)
        self.stop_t = torch.full((K,), -1, dtype=torch.int64, device=self.device)
        self.alive, self.stop = np.ones(K, np.bool_), np.full(K, -1, np.int64)
        self.counts = [boundaries(r.eval_steps, batch, self.T) for r in runs]
        self.eval_sets = [set(c) for c in self.counts]
        self.points: list[list[tuple[int, float, float, float]]] = [[] for _ in runs]

    def _losses(self, first: int) -> torch.Tensor:
        """Each network's mean loss ``[K]`` over its batch starting at item ``first``."""
        W1, b1, W2, b2 = self.w
        items = self.order[:, first:first + self.batch]
        hidden = torch.relu(torch.baddbmm(b1.unsqueeze(1), self.X[items], W1.transpose(1, 2)))
        z = torch.baddbmm(b2.unsqueeze(1), hidden, W2.transpose(1, 2))
        return net_losses(z, *self.targets.at(items), self.settings)

    def train(self, s0: int, s1: int) -> int:
        """The batches starting in ``[s0, s1)`` (evaluation points lie on batch starts)."""
        was_alive = int(self.alive.sum())
        starts = range(-(-s0 // self.batch) * self.batch, s1, self.batch)
        for first in starts:
            with torch.enable_grad():
                loss = self._losses(first)
                grads = torch.autograd.grad(loss.sum(), self.w)
            with torch.no_grad():
                ok = self.alive_t & torch.isfinite(loss)
                self.stop_t = torch.where(self.alive_t & ~ok, first, self.stop_t)
                self.alive_t = ok
                for w, g, v, b in zip(self.w, grads, self.v, self.buf, strict=True):
                    optimiser_step(w, g, v, b, self.settings, ok)
        stop = self.stop_t.cpu().numpy()
        died = self.alive & (stop >= 0)
        self.stop, self.alive = stop, self.alive_t.cpu().numpy().copy()
        begun = starts[0] if starts else s0  # the items trained here: [begun, reached)
        reached = min(starts[-1] + self.batch, self.T) if starts else s0
        return was_alive * (reached - begun) + int(died.sum()) * (self.T - reached)

    def _logits(self, nets: torch.Tensor, X: torch.Tensor, streamed: bool) -> torch.Tensor:
        """Logits on test inputs ``X``; with leak 0 a streamed test gives the same numbers."""
        W1, b1, W2, b2 = (w[nets] for w in self.w)
        out = []
        for t0 in range(0, X.shape[0], EVAL_TILE):
            hidden = torch.relu(torch.einsum("nd,khd->knh", X[t0:t0 + EVAL_TILE], W1)
                                + b1.unsqueeze(1))  # fmt: skip
            out.append(torch.baddbmm(b2.unsqueeze(1), hidden, W2.transpose(1, 2)))
        return torch.cat(out, 1)

    def evaluate(self, step: int) -> None:
        nets = self.wanted(step)
        for k, values in evaluate_groups(self.runs, nets, self._logits, self.device).items():
            self.points[k].extend([(step, *values)] * self.counts[k][step])

    def params(self, k: int) -> dict[str, np.ndarray]:
        return {n: w[k].detach().cpu().numpy().copy() for n, w in zip(NAMES, self.w, strict=True)}


def _key(run: Prepared, batch: int) -> tuple:
    """Runs with equal keys train as one ensemble: same data, shapes, batch and settings."""
    return (id(run.X), run.X.shape, run.params["W1"].shape, run.params["W2"].shape[0], batch,
            run.order.shape[0], run.settings, run.task)  # fmt: skip


def train_minibatch_device(runs: Sequence[Prepared], batch_sizes: Sequence[int], device: str,
                           progress: Callable[[int], None] | None = None) -> list[Curves]:
    """Train mini-batch runs on a torch ``device``, compatible runs as one ensemble each;
    curves in input order (as :func:`smoothlearn.engine.minibatch.train_minibatch_many`)."""
    by_key: dict[tuple, list[int]] = {}
    for i, (run, batch) in enumerate(zip(runs, batch_sizes, strict=True)):
        by_key.setdefault(_key(run, batch), []).append(i)
    out: list[Curves | None] = [None] * len(runs)
    for members in by_key.values():
        ensemble = TorchMiniBatchEnsemble([runs[i] for i in members], batch_sizes[members[0]],
                                          device)  # fmt: skip
        for i, c in zip(members, ensemble.run(progress), strict=True):
            out[i] = c
    return out  # type: ignore[return-value]
