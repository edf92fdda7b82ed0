"""The ensembles as batched torch tensors on a device: the optional GPU path of ``train_many``.

The same math as :mod:`.steps`, written with tensor operations over all networks at once;
``tests/test_engine.py`` runs it on the CPU against the reference trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from smoothlearn.contract import Prepared
from smoothlearn.engine.arrays import shared
from smoothlearn.engine.evaluate import averaged_scores, metrics
from smoothlearn.engine.schedule import Schedule
from smoothlearn.engine.torch_ops import as_tensor, optimiser_step
from smoothlearn.memory import unit_groups


class TorchEnsemble(Schedule):
    """The same ensemble as batched tensors on a torch device (for GPUs; optional).

    One Python iteration per step drives all networks at once with batched products, so it
    pays only when the ensemble is large and the device fast. Nothing syncs with the host
    inside a chunk: diverged networks are frozen with ``torch.where`` on a device mask.
    Evaluation runs on the device too (streamed memory loops over the items).
    """

    def __init__(self, runs: Sequence[Prepared], device: str) -> None:
        import torch

        self.torch, self.device = torch, torch.device(device)
        first = runs[0]
        self.runs, self.settings, self.T = runs, first.settings, first.order.shape[0]
        self.classify = first.task == "classify"
        K, h = len(runs), first.params["W1"].shape[0]

        def t(a: np.ndarray, dtype: Any = torch.float32) -> Any:
            return as_tensor(a, self.device, dtype)  # a copy: dataset arrays are read-only

        self.X = t(first.X)
        tgts, self.tgt_of = shared([r.targets for r in runs], np.float32)
        labs, self.lab_of = shared([r.labels for r in runs], np.int64)
        self.tgts, self.labs = t(tgts), t(labs, torch.int64)
        self.tgt_of, self.lab_of = t(self.tgt_of, torch.int64), t(self.lab_of, torch.int64)
        self.order = t(np.stack([r.order for r in runs]), torch.int64)
        self.resets = t(np.stack([r.resets for r in runs]), torch.bool)
        self.group = t(unit_groups(h, first.resets.shape[1]), torch.int64)
        self.leak = t(np.stack([r.leak for r in runs]))
        self.w = [t(np.stack([r.params[n] for r in runs])) for n in ("W1", "b1", "W2", "b2")]
        self.v = [torch.zeros_like(w) for w in self.w]
        self.buf = [torch.zeros_like(w) for w in self.w]
        self.H = torch.zeros(K, h, device=self.device)
        self.alive_t = torch.ones(K, dtype=torch.bool, device=self.device)
        self.stop_t = torch.full((K,), -1, dtype=torch.int64, device=self.device)
        self.alive, self.stop = np.ones(K, np.bool_), np.full(K, -1, np.int64)
        self.eval_sets = [set(np.asarray(r.eval_steps).tolist()) for r in runs]
        self.points = [[] for _ in runs]
        self.rows = torch.arange(K, device=self.device)

    def _outputs(self, z: Any, tgt: Any, lab: Any) -> tuple[Any, Any]:
        """Per-network loss [K] and g = dLoss/dz [K, o], as docs/model.md."""
        torch, s = self.torch, self.settings
        o = z.shape[1]
        if s.loss == "ce":
            y = torch.softmax(z, 1)
            loss = torch.logsumexp(z, 1) - z.gather(1, lab[:, None])[:, 0]
            return loss, y - torch.nn.functional.one_hot(lab, o).to(y.dtype)
        y = torch.softmax(z, 1) if s.output == "softmax" else torch.sigmoid(z)
        u = 2 * (y - tgt) / o
        loss = ((y - tgt) ** 2).mean(1)
        if s.output == "sigmoid":
            return loss, u * y * (1 - y)
        return loss, y * (u - (u * y).sum(1, keepdim=True))

    def _update(self, i: int, grad: Any, ok: Any) -> None:
        """SGD or RMSprop (torch's update) on parameter i, only where the network is live."""
        optimiser_step(self.w[i], grad, self.v[i], self.buf[i], self.settings, ok)

    def train(self, s0: int, s1: int) -> int:
        torch, s = self.torch, self.settings
        was_alive = int(self.alive.sum())
        W1, b1, W2, b2 = self.w
        with torch.no_grad():
            for step in range(s0, s1):
                item = self.order[:, step]
                x = self.X[item]
                pre = torch.einsum("khd,kd->kh", W1, x) + b1
                e = torch.where(self.resets[:, step][:, self.group], 0.0, self.leak)
                c = 1 - e
                H = e * self.H + c * torch.relu(pre)
                z = torch.einsum("koh,kh->ko", W2, H) + b2
                tgt = self.tgts[self.tgt_of, item]
                loss, g = self._outputs(z, tgt, self.labs[self.lab_of, item])
                ok = self.alive_t & torch.isfinite(loss)
                self.stop_t = torch.where(self.alive_t & ~ok, step, self.stop_t)
                self.alive_t = ok
                grad_c = c if s.leak_grad == "exact" else torch.ones_like(c)
                dpre = torch.einsum("koh,ko->kh", W2, g) * torch.where(pre > 0, grad_c, 0.0)
                self.H = torch.where(ok[:, None], H, self.H)
                self._update(2, g[:, :, None] * H[:, None, :], ok)
                self._update(3, g, ok)
                self._update(0, dpre[:, :, None] * x[:, None, :], ok)
                self._update(1, dpre, ok)
        stop = self.stop_t.cpu().numpy()
        died = self.alive & (stop >= 0)
        self.stop = stop
        self.alive = self.alive_t.cpu().numpy().copy()
        return was_alive * (s1 - s0) + int(died.sum()) * (self.T - s1)

    def evaluate(self, step: int) -> None:
        nets = self.wanted(step)
        torch = self.torch
        W1, b1, W2, b2 = self.w
        with torch.no_grad():
            for k in nets:
                run = self.runs[k]
                Xe = torch.as_tensor(np.asarray(run.X_eval, np.float32), device=self.device)
                act = torch.relu(Xe @ W1[k].T + b1[k])
                if run.eval_resets is not None:
                    flags = torch.as_tensor(run.eval_resets, device=self.device)[:, self.group]
                    leak = torch.as_tensor(run.eval_leak, device=self.device)
                    keep = torch.where(flags, 0.0, leak)
                    state = torch.zeros_like(act[0])
                    for i in range(act.shape[0]):
                        state = keep[i] * state + (1 - keep[i]) * act[i]
                        act[i] = state
                z = (act @ W2[k].T + b2[k]).cpu().numpy()[None]
                targets = np.asarray(run.targets_eval, np.float32)[None]
                labels = np.asarray(run.labels_eval, np.int64)[None]
                if run.output_leak is not None and run.eval_resets is not None:
                    mse, ce, acc = averaged_scores(
                        z, run.eval_resets[None], np.array([run.output_leak]), targets, labels,
                        self.settings.output, self.classify).T  # fmt: skip
                else:
                    mse, ce, acc = metrics(z, targets, labels, self.settings.output,
                                           self.classify)
                self.points[k].append((step, float(mse[0]), float(ce[0]), float(acc[0])))

    def params(self, k: int) -> dict[str, np.ndarray]:
        return {
            n: w[k].cpu().numpy().copy()
            for n, w in zip(("W1", "b1", "W2", "b2"), self.w, strict=True)
        }
