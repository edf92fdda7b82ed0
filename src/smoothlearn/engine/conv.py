"""The conv net's fast path: compatible runs trained together as one batched network.

Per-sample training of a small conv net on a CPU is dominated by per-step overhead (Python,
autograd, the optimiser: about a millisecond a step), not by arithmetic (about 1 MFLOP a
step). So the K networks of an ensemble take their steps together: their weights are
stacked along a leading axis, each stage runs once for all of them (a *grouped* convolution,
``groups=K``: network k sees only its own image and its own filters; batched matrix products
for the feature layer and the read-out), and one backward pass of the summed losses gives
each network its own gradient, since no network's loss depends on another's weights. All
weights of all networks live in one flat vector, updated by the MLP engine's fused SGD/RMSprop
kernel (:func:`smoothlearn.engine.baselines.opt_update`, element-wise, with the reference's
floor): one pass instead of torch's several per tensor, 1.45x the speed of ``torch.optim``
on the same flat vector (measured, ``docs/convnet.md``), at the price of bit-identity with
the reference. ``tests/test_convnet.py`` holds it equal to
:func:`smoothlearn.train.train_conv_reference` within float32 tolerance.

A network whose loss turns non-finite stops there (``diverged``): its weights are kept as
they were before that step, its slice of the stack no longer matters (the groups keep it
apart from the others) and it is evaluated no more. Evaluation is the reference's, per run.

With a ``device`` (e.g. ``"cuda"``) the stack lives there and the optimiser step is the
device paths' masked one (:func:`smoothlearn.engine.torch_ops.optimiser_step`), which also
freezes diverged networks without a host sync per step; evaluation stays the reference's
(:func:`smoothlearn.evaluation.evaluate_conv`), on the CPU. ``device="cpu"`` runs that same
code (how it is tested).
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from smoothlearn.contract import Curves, Metrics, Prepared, SharedTests
from smoothlearn.convnet import conv_features
from smoothlearn.convshape import CHANNELS, KERNEL, PARAM_NAMES, image_side
from smoothlearn.engine.baselines import opt_update
from smoothlearn.engine.codes import OPTIMIZERS
from smoothlearn.engine.runtime import torch_threads
from smoothlearn.engine.schedule import Schedule
from smoothlearn.engine.torch_ops import optimiser_step
from smoothlearn.evaluation import evaluate_conv
from smoothlearn.memory import unit_groups

__all__ = ["ConvEnsemble", "train_conv_many"]

#: Most networks stacked in one ensemble (docs/convnet.md has the measurements).
MAX_ENSEMBLE = 8


def _read_only(array: np.ndarray) -> torch.Tensor:
    """A zero-copy tensor of a (possibly read-only, cached) dataset array, only ever read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


class _StackedLinear(torch.autograd.Function):
    """``y[k] = W[k] x[k] + b[k]`` for the K stacked networks (``x [K, n]``, ``W [K, m, n]``):
    ``torch.baddbmm``'s forward, with its backward written out.

    Why: autograd's backward of that product takes ``dx[k] = W[k].T g[k]`` as a batched
    product of a transposed view, ~440 µs on 8 networks of the moving study's 128 x 400
    feature layer (one thread, AMD EPYC Zen 4), and ``dW`` as a batched product of inner size
    1, ~130 µs. ``g[k]`` as a row times ``W[k]`` gives the same sums bit for bit in ~40 µs,
    and ``dW``'s outer product is one multiplication per element either way (~25 µs). The
    forward stays as it was: every faster form of it tried rounds differently, and RMSprop
    carries a rounding difference into a different network within a few hundred steps
    (``docs/convnet.md``). Same weights as autograd's backward, bit for bit on the AMD EPYC
    where it was measured; tested within float32 rounding for ``dx``, whose BLAS product may
    take another kernel on another CPU.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, W)
        return torch.baddbmm(b.unsqueeze(2), W, x.unsqueeze(2)).squeeze(2)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, W = ctx.saved_tensors
        dx = torch.bmm(g.unsqueeze(1), W).squeeze(1) if ctx.needs_input_grad[0] else None
        return dx, g.unsqueeze(2) * x.unsqueeze(1), g


class ConvEnsemble(Schedule):
    """K compatible conv runs (same data, shapes, settings, length) as one stacked network."""

    def __init__(self, runs: Sequence[Prepared], device: str | None = None) -> None:
        first = runs[0]
        if first.task != "classify":
            raise ValueError("the conv net is a classifier; task must be 'classify'")
        self.runs, self.settings, self.T = runs, first.settings, first.order.shape[0]
        self.side = image_side(first.X.shape[1])
        K, h = len(runs), first.leak.size
        self.device = None if device is None else torch.device(device)
        on = self.device or torch.device("cpu")
        self.X = _read_only(np.ascontiguousarray(first.X, np.float32)).to(on)
        self.targets = torch.from_numpy(np.stack([np.asarray(r.targets, np.float32)
                                                  for r in runs])).to(on)
        self.labels = torch.from_numpy(np.stack([np.asarray(r.labels, np.int64)
                                                 for r in runs])).to(on)
        self.order = torch.from_numpy(np.stack([np.asarray(r.order, np.int64)
                                                for r in runs])).to(on)
        self.resets = torch.from_numpy(np.stack([np.asarray(r.resets, np.bool_)
                                                 for r in runs])).to(on)
        self.group = torch.from_numpy(unit_groups(h, first.resets.shape[1])).to(on)
        self.leak = torch.from_numpy(np.stack([np.asarray(r.leak, np.float32)
                                               for r in runs])).to(on)
        stacks = [np.stack([np.asarray(r.params[n], np.float32) for r in runs])
                  for n in PARAM_NAMES]
        ends = np.cumsum([a.size for a in stacks]).tolist()
        #: each stacked weight's place in the flat vector
        self.spans = list(zip([0, *ends[:-1]], ends, strict=True))
        # every weight of every network in one flat vector, so the optimiser's state is flat
        # too; the weights are leaf views of it (see :meth:`weights`)
        self.flat = torch.from_numpy(np.concatenate([a.ravel() for a in stacks])).to(on)
        self._weights = [self.flat[a:b].view(w.shape).requires_grad_()
                         for (a, b), w in zip(self.spans, stacks, strict=True)]
        size = self.flat.shape[0] if self.settings.optimizer == "rmsprop" else 0
        self.sq = np.zeros(size, np.float32) if device is None else torch.zeros(size, device=on)
        self.buf = np.zeros(size, np.float32) if device is None else torch.zeros(size, device=on)
        # on a device: which network owns each weight of the flat vector (for the step mask)
        owner = [np.repeat(np.arange(K), a[0].size) for a in stacks]
        self.owner = None if device is None else torch.from_numpy(np.concatenate(owner)).to(on)
        s = self.settings
        self.hyper = (OPTIMIZERS[s.optimizer], *np.float32([s.lr, s.rmsprop_alpha,
                                                            s.rmsprop_eps, s.rmsprop_momentum]))
        self.H = torch.zeros(K, h, device=on)
        self.rows = torch.arange(K, device=on)
        self.eval_sets = [set(np.asarray(r.eval_steps).tolist()) for r in runs]
        self.points: list[list[tuple[int, float, float, float]]] = [[] for _ in runs]
        self.alive, self.stop = np.ones(K, np.bool_), np.full(K, -1, np.int64)
        self.frozen: dict[int, dict[str, np.ndarray]] = {}

    def weights(self) -> list[torch.Tensor]:
        """The stacked weights ``[K, ...]`` of :data:`~smoothlearn.convnet.PARAM_NAMES`: views
        of the flat vector made leaves of the graph, each getting its own ``.grad``.

        Why leaves: sliced from a flat vector that requires grad, every slice's backward
        filled a zero tensor the size of the whole vector (5.3 MB for 8 networks on the
        moving set's 32 x 32 images) and autograd added the eight up: half of a step's time.
        """
        return self._weights

    def _step(self) -> None:
        """The optimiser step of every weight from its own ``.grad`` (element-wise, so the
        same numbers as one call on the whole flat vector)."""
        w, sq, buf = self.flat.detach().numpy(), self.sq, self.buf
        for (a, b), weight in zip(self.spans, self._weights, strict=True):
            grad = weight.grad.numpy().reshape(-1)
            opt_update(w[a:b], grad, sq[a:b], buf[a:b], *self.hyper)  # SGD's are empty

    def _flat_grad(self) -> torch.Tensor:
        """Every weight's ``.grad`` in the flat vector's layout (the device path's step)."""
        return torch.cat([w.grad.reshape(-1) for w in self._weights])

    def _zero_grad(self) -> None:
        for w in self._weights:
            w.grad = None

    def _logits(self, x: torch.Tensor, leak_now: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[K, o]`` and new memory ``[K, h]`` of each network for its image ``x[k]``."""
        C1, c1, C2, c2, W1, b1, W2, b2 = self.weights()
        K, s = x.shape[0], self.side
        a = F.conv2d(x.view(1, K, s, s), C1.view(K * CHANNELS[0], 1, KERNEL, KERNEL),
                     c1.view(-1), groups=K)
        a = F.max_pool2d(torch.relu(a), 2)
        a = F.conv2d(a, C2.view(K * CHANNELS[1], CHANNELS[0], KERNEL, KERNEL), c2.view(-1),
                     groups=K)
        f = F.max_pool2d(torch.relu(a), 2).reshape(K, -1)
        act = torch.relu(_StackedLinear.apply(f, W1, b1))
        if self.settings.leak_grad == "exact":
            current = (1 - leak_now) * act
        else:  # same value, the gradient of a plain feedforward layer (nn.leaky_update)
            current = act + (-leak_now * act).detach()
        H = leak_now * self.H + current  # self.H is H(n-1), never part of the graph (detached)
        z = _StackedLinear.apply(H, W2, b2)
        return z, H

    def _losses(self, z: torch.Tensor, step_items: torch.Tensor) -> torch.Tensor:
        """Each network's loss ``[K]``, as the reference's ``_step_loss``."""
        s = self.settings
        if s.loss == "ce":
            label = self.labels[self.rows, step_items]
            return torch.logsumexp(z, 1) - z[self.rows, label]
        y = torch.softmax(z, 1) if s.output == "softmax" else torch.sigmoid(z)
        return ((y - self.targets[self.rows, step_items]) ** 2).mean(1)

    def train(self, s0: int, s1: int) -> int:
        if self.device is not None:
            return self._train_on_device(s0, s1)
        was_alive = self.alive.copy()
        for step in range(s0, s1):
            items = self.order[:, step]
            leak_now = torch.where(self.resets[:, step][:, self.group], 0.0, self.leak)  # [K, h]
            z, H = self._logits(self.X[items], leak_now)
            loss = self._losses(z, items)
            finite = torch.isfinite(loss.detach()).numpy()
            for k in np.flatnonzero(self.alive & ~finite):
                self.frozen[int(k)] = self.params(int(k))  # the weights before this step
                self.alive[k], self.stop[k] = False, step
            if not self.alive.any():
                break
            self._zero_grad()
            loss.sum().backward()
            self._step()
            self.H = H.detach()
        died = was_alive & ~self.alive  # their remaining steps count as done, as the engine's
        return int(was_alive.sum()) * (s1 - s0) + int(died.sum()) * (self.T - s1)

    def _train_on_device(self, s0: int, s1: int) -> int:
        """The steps as ``train``, with no host sync: a network whose loss is not finite
        is masked out of the optimiser step (its weights stay as before that step)."""
        was_alive = int(self.alive.sum())
        alive = torch.as_tensor(self.alive, device=self.device)
        stop = torch.as_tensor(self.stop, device=self.device)
        for step in range(s0, s1):
            items = self.order[:, step]
            leak_now = torch.where(self.resets[:, step][:, self.group], 0.0, self.leak)
            z, H = self._logits(self.X[items], leak_now)
            loss = self._losses(z, items)
            self._zero_grad()
            loss.sum().backward()
            with torch.no_grad():
                ok = alive & torch.isfinite(loss)
                stop = torch.where(alive & ~ok, step, stop)
                alive = ok
                optimiser_step(self.flat, self._flat_grad(), self.sq, self.buf, self.settings,
                               ok[self.owner])
                self.H = H.detach()
        died = self.alive & (stop.cpu().numpy() >= 0)
        self.stop, self.alive = stop.cpu().numpy(), alive.cpu().numpy()
        return was_alive * (s1 - s0) + int(died.sum()) * (self.T - s1)

    def evaluate(self, step: int) -> None:
        for k in self.wanted(step):
            score = _Scorer(self.params(k))
            self.points[k].append((step, *score(self.runs[k])))
            if self.shared_tests is not None:
                self.shared_tests.report(k, step, score)

    def params(self, k: int) -> dict[str, np.ndarray]:
        if k in self.frozen:
            return self.frozen[k]
        return {n: w[k].detach().cpu().numpy().copy()
                for n, w in zip(PARAM_NAMES, self.weights(), strict=True)}


class _Scorer:
    """:func:`~smoothlearn.evaluation.evaluate_conv` of one network's weights on any of its
    test protocols, the conv features of each distinct test array computed once.

    Why: a conv run tested memory off and streamed (the moving-objects study's conv nets) is
    one training scored on two protocols of the same test images, and the features, the
    whole cost of a point, depend on the images and the weights alone. Same numbers as
    scoring each protocol alone (the same features, bit for bit).
    """

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.params = params
        self._features: list[tuple[np.ndarray, np.ndarray]] = []

    def _features_of(self, X: np.ndarray) -> np.ndarray:
        for seen, features in self._features:
            if seen is X or (seen.shape == X.shape and np.array_equal(seen, X)):
                return features
        features = conv_features(self.params, X)
        self._features.append((X, features))
        return features

    def __call__(self, prep: Prepared) -> Metrics:
        return evaluate_conv(prep, self.params, self._features_of(prep.X_eval))


def _key(run: Prepared) -> tuple:
    """Runs with equal keys train as one ensemble: same data, shapes, settings and length."""
    return (id(run.X), run.X.shape, run.leak.size, run.targets.shape[1], run.resets.shape,
            run.settings, run.task)


def _chunks(members: list[int], workers: int, max_ensemble: int) -> list[list[int]]:
    """Near-equal ensembles of at most ``max_ensemble`` runs, at least one per worker."""
    count = max(math.ceil(len(members) / max_ensemble), min(workers, len(members)))
    return [list(part) for part in np.array_split(np.asarray(members), count)]


def train_conv_many(
    runs: Sequence[Prepared],
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    max_ensemble: int = MAX_ENSEMBLE,
    device: str | None = None,
    shared_tests: SharedTests | None = None,
) -> list[Curves]:
    """Train conv runs (as :func:`smoothlearn.train.train_conv_reference`), in input order.

    Compatible runs are stacked into ensembles of at most ``max_ensemble`` networks (bigger
    stacks stop paying once the arithmetic outweighs the per-step overhead; see
    ``docs/convnet.md``), and the ensembles run side by side on ``threads`` threads (default:
    all cores), torch using one thread each (torch's ops release the GIL). ``device`` (e.g.
    ``"cuda"``) trains the ensembles there (see the module's docstring). ``shared_tests``
    are scored at each evaluation point (:class:`~smoothlearn.contract.SharedTests`; ``k``
    indexes ``runs``).
    """
    runs = list(runs)
    by_key: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        by_key.setdefault(_key(run), []).append(i)
    workers = max(1, threads or os.cpu_count() or 1)
    chunks = [chunk for members in by_key.values()
              for chunk in _chunks(members, workers, max_ensemble)]
    lock = threading.Lock()

    def report(n: int) -> None:
        if progress is not None:
            with lock:
                progress(n)

    def train(chunk: list[int]) -> list[Curves]:
        ensemble = ConvEnsemble([runs[i] for i in chunk], device)
        if shared_tests is not None:
            ensemble.shared_tests = shared_tests.for_members(chunk)
        return ensemble.run(report)

    out: list[Any] = [None] * len(runs)
    with torch_threads(1), ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
        for chunk, curves in zip(chunks, pool.map(train, chunks), strict=True):
            for i, c in zip(chunk, curves, strict=True):
                out[i] = c
    return out
