"""Ensembles: compatible runs stacked and trained by one kernel call; the public entry points.

Every run that shares a training set, layer shape, settings and length is trained in one
*ensemble*: one compiled kernel walks the whole step sequence of each network (``prange``
over networks, one math thread each), and the networks are evaluated between chunks of
steps (:class:`.schedule.Schedule`). ``device="cuda"`` trains the same ensembles as batched
torch tensors instead (:mod:`.torch_path`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from smoothlearn.contract import Curves, Prepared, SharedTests
from smoothlearn.engine.arrays import choose_sparse, csr, f32, ro, shared
from smoothlearn.engine.codes import LEAK_GRADS, LOSSES, OPTIMIZERS, OUTPUTS
from smoothlearn.engine.evaluate import eval_groups, evaluate
from smoothlearn.engine.kernels import train_chunk
from smoothlearn.engine.runtime import PARALLEL_LOCK, numba_threads
from smoothlearn.engine.schedule import Schedule
from smoothlearn.engine.torch_path import TorchEnsemble
from smoothlearn.memory import unit_groups

_TASKS = ("classify", "reconstruct")


class Ensemble(Schedule):
    """Stacked state of compatible runs, trained chunk by chunk between evaluation steps."""

    def __init__(self, runs: Sequence[Prepared], sparse: bool | None, threads: int = 1,
                 shared_tests: SharedTests | None = None) -> None:
        first = runs[0]
        self.shared_tests = shared_tests
        self.runs = runs
        self.settings = first.settings
        self.classify = first.task == "classify"
        K = len(runs)
        X = f32(first.X)
        h = first.params["W1"].shape[0]
        self.X = ro(X)
        self.sparse = choose_sparse(X, h) if sparse is None else bool(sparse)
        if self.sparse:
            layout = csr(X)
        else:
            layout = (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))
        self.ptr, self.idx, self.val = (ro(a) for a in layout)
        tgts, tgt_of = shared([r.targets for r in runs], np.float32)
        labs, lab_of = shared([r.labels for r in runs], np.int64)
        self.tgts, self.tgt_of, self.labs, self.lab_of = map(ro, (tgts, tgt_of, labs, lab_of))
        self.order = ro(np.stack([np.asarray(r.order, dtype=np.int64) for r in runs]))
        self.resets = ro(np.stack([np.asarray(r.resets, dtype=np.bool_) for r in runs]))
        self.group = ro(unit_groups(h, first.resets.shape[1]))
        self.leak = ro(np.stack([f32(r.leak) for r in runs]))
        # [K, d, h]; np.stack of transposes is not C-contiguous, and numba vectorises only C
        self.W1T = np.ascontiguousarray(np.stack([f32(r.params["W1"]).T for r in runs]))
        self.b1 = np.stack([f32(r.params["b1"]) for r in runs])
        self.W2 = np.stack([f32(r.params["W2"]) for r in runs])
        self.b2 = np.stack([f32(r.params["b2"]) for r in runs])
        self.H = np.zeros((K, h), dtype=np.float32)
        rms = self.settings.optimizer == "rmsprop"
        self.opt_state = [
            np.zeros_like(a) if rms else np.zeros((K,) + (0,) * (a.ndim - 1), np.float32)
            for a in (self.W1T, self.b1, self.W2, self.b2) * 2
        ]
        # per W1 row: the first step whose RMSprop decay it has not had (kernels.rms_w1)
        self.opt_state.append(np.zeros((K, self.W1T.shape[1] if rms else 0), np.int64))
        self.alive = np.ones(K, dtype=np.bool_)
        self.stop = np.full(K, -1, dtype=np.int64)
        # the test sets: each run's own (entry k), then the shared trainings' (evaluate)
        tests = [] if shared_tests is None else [(k, t) for k in range(K)
                                                  for t in shared_tests.tests.get(k, ())]
        self.eval_groups = eval_groups([*runs, *(t for _, t in tests)], sparse,
                                       [*range(K), *(k for k, _ in tests)])
        self.shared_entries: dict[int, list[int]] = {}
        for e, (k, _) in enumerate(tests, start=K):
            self.shared_entries.setdefault(k, []).append(e)
        self.threads = threads
        self.eval_sets = [set(np.asarray(r.eval_steps).tolist()) for r in runs]
        self.points: list[list[tuple[int, float, float, float]]] = [[] for _ in runs]
        self.T = first.order.shape[0]

    def _scalars(self) -> tuple:
        s = self.settings
        return (
            OUTPUTS[s.output],
            LOSSES[s.loss],
            OPTIMIZERS[s.optimizer],
            LEAK_GRADS[s.leak_grad],
            np.float32(s.lr),
            np.float32(s.rmsprop_alpha),
            np.float32(1.0 - s.rmsprop_alpha),  # as torch: 1 - alpha in double, then float32
            np.float32(s.rmsprop_momentum),
            np.float32(s.rmsprop_eps),
        )

    def evaluate(self, step: int) -> None:
        """Record the evaluation point ``step`` for live networks that asked for it, and
        hand their shared trainings' metrics (scored in the same pass) to ``shared_tests``."""
        nets = self.wanted(step)
        if not nets:
            return
        params = (self.W1T, self.b1, self.W2, self.b2)
        res = evaluate(
            self.eval_groups, np.asarray(nets), params, self.settings.output, self.classify,
            self.threads,
        )  # fmt: skip
        for k in nets:
            self.points[k].append((step, *res[k]))
            if self.shared_tests is not None and k in self.shared_entries:
                self.shared_tests.record(k, step, [res[e] for e in self.shared_entries[k]])

    def train(self, s0: int, s1: int) -> int:
        """Steps [s0, s1) of every live network; returns network-steps counted as done."""
        was_alive = int(self.alive.sum())
        with PARALLEL_LOCK:
            train_chunk(
                self.X, self.ptr, self.idx, self.val, self.sparse, self.tgts, self.tgt_of,
                self.labs, self.lab_of, self.order, self.resets, s0, s1, self.group, self.leak,
                self.W1T, self.b1, self.W2, self.b2, self.H, *self.opt_state,
                self.alive, self.stop, *self._scalars(),
            )  # fmt: skip
        died = self.alive & (self.stop >= 0)
        # a diverged network's remaining steps count as done, so progress reaches its total
        done = was_alive * (s1 - s0) + int(died.sum()) * (self.T - s1)
        self.alive &= ~died
        return done

    def params(self, k: int) -> dict[str, np.ndarray]:
        """Network k's current weights in the reference layout (W1 as [d_hidden, d_in])."""
        return {
            "W1": np.ascontiguousarray(self.W1T[k].T),
            "b1": self.b1[k].copy(),
            "W2": self.W2[k].copy(),
            "b2": self.b2[k].copy(),
        }


# ----------------------------------------------------------------------------- checks


def check_settings(settings: Any, task: str, d_out: int) -> None:
    """Validate a run's settings early, naming the bad value and what is allowed."""
    for name, allowed in (
        ("output", OUTPUTS),
        ("loss", LOSSES),
        ("optimizer", OPTIMIZERS),
        ("leak_grad", LEAK_GRADS),
    ):
        value = getattr(settings, name)
        if value not in allowed:
            raise ValueError(f"settings.{name}={value!r} is not valid; use one of {list(allowed)}")
    if task not in _TASKS:
        raise ValueError(f"task={task!r} is not valid; use one of {list(_TASKS)}")
    if settings.loss == "ce" and settings.output != "softmax":
        raise ValueError("settings.loss='ce' needs settings.output='softmax'")
    if settings.loss == "ce" and task != "classify":
        raise ValueError("settings.loss='ce' needs task='classify'")
    if not np.isfinite(settings.lr) or settings.lr < 0:
        raise ValueError(f"settings.lr={settings.lr!r} must be a finite number >= 0")
    if settings.optimizer == "rmsprop":
        for name, low, high in (
            ("rmsprop_alpha", 0.0, 1.0),
            ("rmsprop_momentum", 0.0, 1.0),
            ("rmsprop_eps", 0.0, np.inf),
        ):
            value = getattr(settings, name)
            if not low <= value < high:
                raise ValueError(f"settings.{name}={value!r} must lie in [{low}, {high})")
    if d_out < 1:
        raise ValueError("d_out must be >= 1")


def check_run(run: Prepared, i: int) -> None:
    """Shapes and ranges of one Prepared run; errors name the run and the field."""
    n, d = run.X.shape
    p = run.params
    h = p["W1"].shape[0]
    o = p["W2"].shape[0]
    T = run.order.shape[0]
    expect = {
        "targets": (run.targets.shape, (n, o)),
        "labels": (run.labels.shape, (n,)),
        "params['W1']": (p["W1"].shape, (h, d)),
        "params['b1']": (p["b1"].shape, (h,)),
        "params['W2']": (p["W2"].shape, (o, h)),
        "params['b2']": (p["b2"].shape, (o,)),
        "leak": (run.leak.shape, (h,)),
        "resets": (run.resets.shape[:1], (T,)),
        "X_eval": (run.X_eval.shape[1:], (d,)),
        "targets_eval": (run.targets_eval.shape, (run.X_eval.shape[0], o)),
        "labels_eval": (run.labels_eval.shape, (run.X_eval.shape[0],)),
    }
    for name, (got, want) in expect.items():
        if tuple(got) != tuple(want):
            raise ValueError(f"runs[{i}].{name} has shape {tuple(got)}, expected {want}")
    G = run.resets.shape[1]
    if run.resets.ndim != 2 or not 1 <= G <= h:
        raise ValueError(f"runs[{i}].resets must be [T, G] with 1 <= G <= d_hidden={h}")
    if run.eval_resets is not None and run.eval_resets.shape != (run.X_eval.shape[0], G):
        raise ValueError(
            f"runs[{i}].eval_resets has shape {run.eval_resets.shape}, "
            f"expected {(run.X_eval.shape[0], G)} or None"
        )
    if T and (run.order.min() < 0 or run.order.max() >= n):
        raise ValueError(f"runs[{i}].order must index the {n} training items")
    steps = np.asarray(run.eval_steps)
    if steps.size < 1 or steps[0] != 0 or steps[-1] != T or np.any(np.diff(steps) <= 0):
        raise ValueError(f"runs[{i}].eval_steps must be sorted, unique, and include 0 and T={T}")
    check_settings(run.settings, run.task, o)
    if (
        run.settings.loss == "ce"
        and T
        and (run.labels[run.order].min() < 0 or run.labels[run.order].max() >= o)
    ):
        raise ValueError(f"runs[{i}].labels must lie in [0, {o}) for loss='ce'")


def ensemble_key(run: Prepared) -> tuple:
    """Runs with equal keys share one kernel call: same data, shapes, settings and length."""
    return (
        id(run.X),
        run.X.shape,
        run.params["W1"].shape,
        run.params["W2"].shape[0],
        run.resets.shape,
        run.settings,
        run.task,
    )


# ----------------------------------------------------------------------------- public API


def train_many(
    runs: Sequence[Prepared],
    threads: int | None = None,
    sparse: bool | None = None,
    progress: Callable[[int], None] | None = None,
    device: str | None = None,
    shared_tests: SharedTests | None = None,
) -> list[Curves]:
    """Train every run (one independent network each) and return their curves in input order.

    Runs sharing the training array object, layer shapes, reset groups, settings, task and
    length form one ensemble trained by one compiled kernel, ``threads`` networks at a time
    (default: all cores). ``sparse`` forces the first-layer path (None: chosen from the
    measured input density, :func:`choose_sparse`); both paths give the same numbers.
    ``progress(n)`` is called between chunks with the network-steps completed since the
    previous call (``tqdm.update`` fits); a diverged network's remaining steps count as done.

    ``device`` (e.g. ``"cuda"``) trains each ensemble as batched torch tensors on that device
    instead (optional path for GPUs; ``"cpu"`` runs the same code, which is how it is tested).
    ``shared_tests`` (CPU path only): more test sets scored on the runs' networks at each of their
    points (:class:`~smoothlearn.contract.SharedTests`; ``k`` indexes ``runs``), in the same
    pass as the runs' own, each network's first layer once per test item.
    """
    if shared_tests is not None and device is not None:
        raise ValueError("shared_tests is supported on the CPU path only (device=None)")
    runs = list(runs)
    for i, run in enumerate(runs):
        check_run(run, i)
    by_key: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        by_key.setdefault(ensemble_key(run), []).append(i)
    out: list[Any] = [None] * len(runs)
    with numba_threads(threads) as n_threads:
        for members in by_key.values():
            group = [runs[i] for i in members]
            ensemble = (
                Ensemble(group, sparse, n_threads,
                         None if shared_tests is None else shared_tests.for_members(members))
                if device is None
                else TorchEnsemble(group, device)
            )
            curves = ensemble.run(progress)
            for i, c in zip(members, curves, strict=True):
                out[i] = c
    return out


def evaluate_many(
    runs: Sequence[Prepared],
    params: Sequence[dict[str, np.ndarray]] | None = None,
    threads: int | None = None,
    sparse: bool | None = None,
) -> list[dict[str, float]]:
    """Evaluate each run's network (its initial params, or ``params[i]``) on its eval set.

    The same code as the evaluation points of :func:`train_many` (``sparse`` forces its
    item-by-item path or its BLAS path); returns ``{"test_mse", "test_ce", "test_acc"}`` per
    run, in input order.
    """
    runs = list(runs)
    if params is not None and len(params) != len(runs):
        raise ValueError(f"params has {len(params)} entries for {len(runs)} runs")
    out: list[dict[str, float]] = [{} for _ in runs]
    by_key: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        check_run(run, i)
        p = run.params if params is None else params[i]
        key = (p["W1"].shape, p["W2"].shape[0], run.resets.shape[1], run.settings.output,
               run.task)  # fmt: skip
        by_key.setdefault(key, []).append(i)
    with numba_threads(threads) as n_threads:
        for members in by_key.values():
            rs = [runs[i] for i in members]
            ps = [runs[i].params if params is None else params[i] for i in members]
            stacked = (
                np.ascontiguousarray(np.stack([f32(p["W1"]).T for p in ps])),
                np.stack([f32(p["b1"]) for p in ps]),
                np.stack([f32(p["W2"]) for p in ps]),
                np.stack([f32(p["b2"]) for p in ps]),
            )
            res = evaluate(
                eval_groups(rs, sparse), np.arange(len(rs)), stacked, rs[0].settings.output,
                rs[0].task == "classify", n_threads,
            )  # fmt: skip
            for j, i in enumerate(members):
                mse, ce, acc = res[j]
                out[i] = {"test_mse": mse, "test_ce": ce, "test_acc": acc}
    return out
