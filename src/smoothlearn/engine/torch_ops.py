"""Tensor pieces shared by the ensembles that train on a torch device (GPU, or the CPU in tests).

K independent networks are stacked along a leading axis; every operation here is element-wise
or per network, so no network's numbers depend on another's. The optimiser step takes a mask
of live networks and freezes the others with ``torch.where``, on the device: a diverged
network stops changing without a host sync inside a chunk of steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from smoothlearn.contract import RMSPROP_V_FLOOR, Prepared, TrainSettings
from smoothlearn.engine.arrays import shared
from smoothlearn.engine.evaluate import metrics

__all__ = ["as_tensor", "optimiser_step", "net_losses", "Targets", "evaluate_groups"]

#: Test items projected at once in evaluation (bounds device memory: K x tile x width).
EVAL_TILE = 2048


def as_tensor(array: np.ndarray, device: torch.device, dtype: Any = torch.float32) -> torch.Tensor:
    """A copy of ``array`` on ``device`` (the dataset arrays may be read-only and shared)."""
    return torch.tensor(np.asarray(array), dtype=dtype, device=device)


def optimiser_step(w: torch.Tensor, grad: torch.Tensor, v: torch.Tensor, buf: torch.Tensor,
                   s: TrainSettings, ok: torch.Tensor | None = None) -> None:
    """SGD, or torch's RMSprop with the reference's floor, on stacked weights, in place.

    ``ok [K]`` masks the networks that step (None: all). As ``train.FlooredRMSprop``: the
    step uses the square average as computed, the stored one is floored at
    :data:`~smoothlearn.contract.RMSPROP_V_FLOOR`. Call under ``torch.no_grad()``.
    """
    mask = None if ok is None else ok.view((-1,) + (1,) * (w.dim() - 1))

    def keep(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        return new if mask is None else torch.where(mask, new, old)

    if s.optimizer == "sgd":
        w.copy_(keep(w - s.lr * grad, w))
        return
    new_v = s.rmsprop_alpha * v + (1 - s.rmsprop_alpha) * grad * grad
    step = grad / (new_v.sqrt() + s.rmsprop_eps)
    v.copy_(keep(new_v.masked_fill(new_v < RMSPROP_V_FLOOR, 0.0), v))
    if s.rmsprop_momentum > 0:
        buf.copy_(keep(s.rmsprop_momentum * buf + step, buf))
        step = buf
    w.copy_(keep(w - s.lr * step, w))


def net_losses(z: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
               s: TrainSettings) -> torch.Tensor:
    """Each network's loss ``[K]`` from logits ``z [K, n, o]``, as the reference's:
    cross-entropy averaged over the n items, or MSE of the outputs averaged over items and
    outputs (``labels`` are read only for cross-entropy)."""
    if s.loss == "ce":
        picked = z.gather(2, labels.unsqueeze(2)).squeeze(2)
        return (torch.logsumexp(z, 2) - picked).mean(1)
    y = torch.softmax(z, 2) if s.output == "softmax" else torch.sigmoid(z)
    return ((y - targets) ** 2).mean((1, 2))


class Targets:
    """The runs' training targets and labels on the device, each distinct array once."""

    def __init__(self, runs: Sequence[Prepared], device: torch.device) -> None:
        tgts, tgt_of = shared([r.targets for r in runs], np.float32)
        labs, lab_of = shared([r.labels for r in runs], np.int64)
        self.tgts, self.labs = as_tensor(tgts, device), as_tensor(labs, device, torch.int64)
        self.tgt_of = as_tensor(tgt_of, device, torch.int64)
        self.lab_of = as_tensor(lab_of, device, torch.int64)

    def at(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets ``[K, n, o]`` and labels ``[K, n]`` of each network's ``items [K, n]``."""
        return self.tgts[self.tgt_of[:, None], items], self.labs[self.lab_of[:, None], items]


#: ``logits(nets, X, streamed)``: logits ``[len(nets), n, o]`` of the networks ``nets``
#: (indices into the ensemble) on the test inputs ``X [n, d]`` (a device tensor).
Logits = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]


def evaluate_groups(runs: Sequence[Prepared], nets: Sequence[int], logits: Logits,
                    device: torch.device) -> dict[int, tuple[float, float, float]]:
    """Test MSE, CE and accuracy of networks ``nets``, those sharing a test array together.

    Runs of a grid usually hold the same test array object (``runs.prepare`` shares it), so
    their networks are evaluated in one batched pass over it; the metrics are the CPU
    engine's (:func:`smoothlearn.engine.evaluate.metrics`) on the logits brought back.
    """
    groups: dict[tuple[int, bool], list[int]] = {}
    for k in nets:
        run = runs[k]
        groups.setdefault((id(run.X_eval), run.eval_resets is not None), []).append(k)
    out = {}
    for (_, streamed), members in groups.items():
        first = runs[members[0]]
        X = as_tensor(np.asarray(first.X_eval, np.float32), device)
        with torch.no_grad():
            z = logits(torch.as_tensor(members, device=device), X, streamed).cpu().numpy()
        targets = np.stack([np.asarray(runs[k].targets_eval, np.float32) for k in members])
        labels = np.stack([np.maximum(runs[k].labels_eval, 0) for k in members])
        mse, ce, acc = metrics(z, targets, labels.astype(np.int64), first.settings.output,
                               first.task == "classify")  # fmt: skip
        for j, k in enumerate(members):
            out[k] = (float(mse[j]), float(ce[j]), float(acc[j]))
    return out
