"""The run contract: what every trainer consumes and returns, as plain numpy data.

:func:`smoothlearn.runs.prepare` turns a :class:`~smoothlearn.experiments.RunConfig` into a
:class:`Prepared`; the reference trainer (:mod:`smoothlearn.train`) and the fast engine
(:mod:`smoothlearn.engine`) both take it and return :class:`Curves`, so they can be tested equal.

Layering (imports only go down): ``contract`` (numpy) <- ``train``, ``engine`` <- ``runs``.
This module imports nothing of the project, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["Task", "Output", "Loss", "Optimizer", "LeakGrad", "TestMemory", "TrainSettings",
           "Prepared", "Curves", "Metrics", "Observer"]

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
#: ``observe(k, step, evaluate)``: called by a trainer at each evaluation point of its run
#: ``k``, with ``evaluate(other)`` giving the metrics of run ``k``'s current weights on the
#: test set of another prepared run of the same model (same code as the run's own points).
#: It lets runs that differ only in their test protocol share one training.
Observer = Callable[[int, int, Callable[[Prepared], Metrics]], None]
