"""Chunked training between evaluation points: the one evaluation loop of every trainer in
the engine (the per-sample, LSTM, mini-batch and conv ensembles, numba and torch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from smoothlearn.contract import Curves, Prepared, SharedTests

#: Longest stretch of steps per kernel call, so ``progress`` is called regularly.
MAX_CHUNK_STEPS = 4096


class Schedule:
    """Chunked training between evaluation points; subclasses hold the state and the math.

    Subclasses set ``runs``, ``T``, ``eval_sets``, ``points``, ``alive`` and ``stop`` (numpy,
    up to date after each ``train`` call) and implement ``train``, ``evaluate``, ``params``;
    ``evaluate`` scores ``shared_tests`` where the subclass supports it.
    """

    runs: Sequence[Prepared]
    T: int
    eval_sets: list[set[int]]
    points: list[list[tuple[int, float, float, float]]]
    alive: np.ndarray
    stop: np.ndarray
    #: More test sets scored at each evaluation point where a subclass supports it.
    shared_tests: SharedTests | None = None

    def train(self, s0: int, s1: int) -> int:
        raise NotImplementedError

    def evaluate(self, step: int) -> None:
        raise NotImplementedError

    def params(self, k: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def wanted(self, step: int) -> list[int]:
        """Live networks that asked for an evaluation at ``step``."""
        return [k for k in range(len(self.runs)) if self.alive[k] and step in self.eval_sets[k]]

    def bounds(self) -> list[int]:
        """Chunk boundaries: 0, every evaluation step of any run within the runs, and ``T``
        (training always reaches the end, so the final weights are the trained ones), at
        most MAX_CHUNK_STEPS apart."""
        steps = sorted({0, self.T} | {s for s in set().union(*self.eval_sets) if 0 <= s <= self.T})
        out = [steps[0]]
        for s in steps[1:]:
            while s - out[-1] > MAX_CHUNK_STEPS:
                out.append(out[-1] + MAX_CHUNK_STEPS)
            out.append(s)
        return out

    def run(self, progress: Callable[[int], None] | None) -> list[Curves]:
        """Evaluate at step 0, then alternate training chunks and evaluations (each network
        only at its own evaluation steps, :meth:`wanted`)."""
        bounds = self.bounds()
        self.evaluate(bounds[0])
        for s0, s1 in zip(bounds[:-1], bounds[1:], strict=True):
            if not self.alive.any():
                break
            done = self.train(s0, s1)
            self.evaluate(s1)
            if progress is not None:
                progress(done)
        curves = []
        for k in range(len(self.runs)):
            pts = self.points[k]
            cols = list(zip(*pts, strict=True)) if pts else [(), (), (), ()]
            curves.append(
                Curves(
                    steps=np.asarray(cols[0], dtype=np.int64),
                    test_mse=np.asarray(cols[1], dtype=np.float64),
                    test_ce=np.asarray(cols[2], dtype=np.float64),
                    test_acc=np.asarray(cols[3], dtype=np.float64),
                    diverged=bool(self.stop[k] >= 0),
                    final_params=self.params(k),
                )
            )
        return curves
