"""The run contract: what every trainer consumes and returns, as plain numpy data.

:func:`smoothlearn.runs.prepare` turns a :class:`~smoothlearn.experiments.RunConfig` into a
:class:`Prepared`; the reference trainer (:mod:`smoothlearn.train`) and the fast engine
(:mod:`smoothlearn.engine`) both take it and return :class:`Curves`, so they can be tested equal.

Layering (imports only go down): ``contract`` (numpy) <- ``train``, ``engine`` <- ``runs``.
This module imports nothing of the project, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["Task", "Output", "Loss", "Optimizer", "LeakGrad", "TestMemory", "TrainSettings",
           "Prepared", "Curves", "Metrics", "SharedTests"]

#: What a run learns: the category of each item, or the item itself (an autoencoder).
Task = Literal["classify", "reconstruct"]
Output = Literal["softmax", "sigmoid"]
Loss = Literal["mse", "ce"]
Optimizer = Literal["sgd", "rmsprop"]
#: Whether the gradient flows through the leaky memory's own term (docs/model.md).
LeakGrad = Literal["exact", "ignore"]
#: Leaky memory switched on only at test, for a net trained without it (the test-time
#: averaging control): ``"hidden"`` averages the hidden states over the test stream,
#: ``"output"`` the output layer's activations (softmax probabilities or sigmoid outputs).
TestMemory = Literal["none", "hidden", "output"]


#: RMSprop's squared-gradient averages below this (float32's smallest normal number) are
#: stored as 0: averages of rarely non-zero inputs otherwise decay into subnormals, on which
#: many CPUs are ~50x slower. The engine applies the same floor (docs/model.md, Optimisers).
RMSPROP_V_FLOOR = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class TrainSettings:
    """Settings shared by every network of one ensemble (see ``docs/model.md``)."""

    output: Output = "softmax"
    loss: Loss = "mse"
    optimizer: Optimizer = "sgd"
    lr: float = 0.01
    rmsprop_alpha: float = 0.99
    rmsprop_momentum: float = 0.0
    rmsprop_eps: float = 1e-8
    leak_grad: LeakGrad = "exact"


@dataclass
class Prepared:
    """One run, fully materialised as arrays (the engines' common input)."""

    X: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    order: np.ndarray
    resets: np.ndarray
    params: dict[str, np.ndarray]
    leak: np.ndarray
    eval_steps: np.ndarray
    X_eval: np.ndarray
    targets_eval: np.ndarray
    labels_eval: np.ndarray
    eval_resets: np.ndarray | None
    settings: TrainSettings
    task: Task = "classify"
    #: Memory switched on only on the streamed test (``eval_resets`` set), with leak
    #: ``test_leak``; the training never sees it.
    test_memory: TestMemory = "none"
    test_leak: float = 0.0
    #: Where ``X_eval``'s rows come from: ``X_eval == eval_base[eval_items]`` (the dataset's
    #: test split, shared by its runs). Optional; with it the engine computes a network's
    #: first layer once per base item for every test set of that network (a shared
    #: training's plain and streamed tests, :class:`SharedTests`), not once per test set.
    eval_base: np.ndarray | None = None
    eval_items: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return int(self.order.shape[0])

    @property
    def eval_leak(self) -> np.ndarray:
        """The hidden layer's leak on the test stream: the trained one, or ``test_leak`` on
        every unit when the hidden states are averaged only at test."""
        if self.test_memory == "hidden":
            return np.full(self.leak.shape, self.test_leak, np.float32)
        return self.leak

    def test_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The array ``X_eval``'s rows are rows of, and which rows (``eval_base`` and
        ``eval_items`` when given, else ``X_eval`` itself): test sets on one base array share
        the work that depends only on the item."""
        if self.eval_base is not None and self.eval_items is not None:
            return self.eval_base, np.asarray(self.eval_items, np.int64)
        return self.X_eval, np.arange(self.X_eval.shape[0], dtype=np.int64)

    @property
    def output_leak(self) -> float | None:
        """The leak by which the outputs are averaged on the test stream; None: they are not."""
        return self.test_leak if self.test_memory == "output" else None


@dataclass
class Curves:
    """Evaluation results of one run; ``steps`` stops early if the run diverged."""

    steps: np.ndarray
    test_mse: np.ndarray
    test_ce: np.ndarray
    test_acc: np.ndarray
    diverged: bool = False
    final_params: dict[str, np.ndarray] = field(default_factory=dict)


#: Test MSE, cross-entropy and accuracy at one evaluation point.
Metrics = tuple[float, float, float]


@dataclass(frozen=True)
class SharedTests:
    """More test sets for a trainer's runs: runs that differ from run ``k`` only in their test
    protocol share its training, and are scored on ``k``'s weights at each of ``k``'s points.

    ``tests[k]``: the prepared runs whose test sets run ``k``'s network is scored on (with
    the same code as its own points, so with the numbers of separate trainings);
    ``record(k, step, metrics)`` receives their metrics, in the order of ``tests[k]``.
    A trainer scores them however it can best share the work (the per-sample engine passes
    them through its batched evaluation; the others call :meth:`report`).
    """

    tests: Mapping[int, Sequence[Prepared]]
    record: Callable[[int, int, Sequence[Metrics]], None]

    def report(self, k: int, step: int, evaluate: Callable[[Prepared], Metrics]) -> None:
        """Score run ``k``'s extra test sets one by one with ``evaluate`` and record them."""
        tests = self.tests.get(k, ())
        if tests:
            self.record(k, step, [evaluate(other) for other in tests])

    def for_members(self, members: Sequence[int]) -> SharedTests | None:
        """The same for a batch of runs ``members`` (its run ``k`` is ``members[k]``); None
        when none of them has extra test sets."""
        local = {k: self.tests[i] for k, i in enumerate(members) if self.tests.get(i)}
        if not local:
            return None
        return SharedTests(local, lambda k, step, metrics: self.record(members[k], step,
                                                                       metrics))
