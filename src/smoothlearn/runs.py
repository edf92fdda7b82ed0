"""From a config to a trained run: :func:`prepare` materialises a :class:`RunConfig` (through
its :class:`~smoothlearn.experiments.RunSpec`) as the arrays of the run contract
(:class:`~smoothlearn.contract.Prepared`); :func:`run_many` hands each run to its model
family's trainer (:data:`smoothlearn.families.FAMILIES`) and returns their
:class:`~smoothlearn.contract.Curves`.

Layering (imports only go down): ``contract`` <- ``experiments`` (configs), ``families`` <-
``runs`` (this module) <- ``sweep``, ``reproduce``, ``robustness``. The trainers (``train``,
``engine``) load when a family's trainer is first called, so importing this module loads
neither torch nor numba.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Literal

import numpy as np

from smoothlearn import data, streams
from smoothlearn.contract import Curves, Prepared, SharedTests
from smoothlearn.experiments import ConfigError, RunConfig, RunSpec
from smoothlearn.families import FAMILIES, Job, TrainOptions
from smoothlearn.memory import reset_flags

__all__ = ["dataset_for", "prepare", "run_many"]


@lru_cache(maxsize=8)
def _dataset(name: str, params_json: str) -> data.Dataset:
    return data.load_dataset(name, **json.loads(params_json))


@lru_cache(maxsize=16)
def _one_hot(name: str, params_json: str, split: str, n_classes: int) -> np.ndarray:
    ds = _dataset(name, params_json)
    labels = ds.y_train if split == "train" else ds.y_test
    out = np.zeros((labels.size, n_classes), np.float32)
    out[np.arange(labels.size), labels] = 1.0
    out.flags.writeable = False
    return out


@lru_cache(maxsize=4)
def _test_rows(name: str, params_json: str, items: bytes) -> np.ndarray:
    """The test inputs at ``items`` (int64 bytes), one read-only array per distinct selection.

    Runs tested on the same items then hold the same array, which the engine evaluates as
    one shared set instead of stacking a copy per run (the whole MNIST test set is 31 MB).
    """
    X = _dataset(name, params_json).X_test
    idx = np.frombuffer(items, dtype=np.int64)
    if idx.size == X.shape[0] and np.array_equal(idx, np.arange(idx.size)):
        return X
    rows = X[idx]
    rows.flags.writeable = False
    return rows


def _params_json(spec: RunSpec) -> str:
    """The generator keywords of a run's dataset; ``data_seed`` seeds generated sets."""
    params = dict(spec.dataset_params)
    if data.dataset_info(spec.dataset).seeded:
        params.setdefault("seed", spec.data_seed)
    return json.dumps(params, sort_keys=True)


def dataset_for(config: RunConfig | RunSpec) -> data.Dataset:
    """The (cached) dataset a run trains on; ``data_seed`` seeds generated sets."""
    spec = config.spec() if isinstance(config, RunConfig) else config
    return _dataset(spec.dataset, _params_json(spec))


def _targets(spec: RunSpec, ds: data.Dataset, split: str) -> np.ndarray:
    if spec.task == "reconstruct":
        return ds.X_train if split == "train" else ds.X_test
    n_classes = int(max(ds.y_train.max(), ds.y_test.max())) + 1
    return _one_hot(spec.dataset, _params_json(spec), split, n_classes)


def _labels(spec: RunSpec, labels: np.ndarray) -> np.ndarray:
    if spec.task == "reconstruct":
        return np.full(labels.shape[0], -1, np.int64)
    return labels


def _reset_labels(spec: RunSpec, labels: np.ndarray) -> np.ndarray | None:
    """Category labels for label-based resets; reconstruction streams have none."""
    return labels if spec.task == "classify" else None


def _training_order(spec: RunSpec, ds: data.Dataset, labels: np.ndarray) -> np.ndarray:
    if ds.ordered:  # the stream as given, or (condition "random") the same frames shuffled
        idx = np.tile(np.arange(labels.shape[0]), spec.epochs)
        idx = idx[: spec.steps] if spec.steps else idx
        if spec.condition.kind == "random":
            idx = np.random.default_rng(spec.order_seed).permutation(idx)
        return idx
    keep = np.arange(labels.size)
    if spec.class_balance == "balanced":
        keep = streams.balanced_subset(labels, spec.order_seed)
    idx = keep[streams.order(labels[keep], spec.condition, spec.order_seed, spec.epochs)]
    return idx[: spec.steps] if spec.steps else idx


def _eval_stream(spec: RunSpec, ds: data.Dataset, labels: np.ndarray):
    """Evaluation items in evaluation order, and their reset flags (None = memory off)."""
    items = np.arange(ds.X_test.shape[0])
    if spec.eval_items and spec.eval_items < items.size:
        if ds.ordered:  # the start of the stream: a streamed test needs consecutive items
            items = items[: spec.eval_items]
        else:
            items = np.sort(np.random.default_rng(0).permutation(items.size)[: spec.eval_items])
    condition = spec.test_condition
    if condition is None:
        return items, None
    if not ds.ordered:  # an ordered stream is evaluated in its own order
        items = items[streams.order(ds.y_test[items], condition, spec.order_seed)]
    flags = reset_flags(
        spec.eval_reset, ds.X_test, _reset_labels(spec, ds.y_test[items]),
        spec.reset_groups, spec.reset_aggregate, order=items,
    )
    return items, flags


def prepare(config: RunConfig) -> Prepared:
    """Materialise one run as arrays: the common input of both engines."""
    return _prepare(config.check().spec())


def _prepare(spec: RunSpec) -> Prepared:
    ds = dataset_for(spec)
    train_targets = _targets(spec, ds, "train")
    order = _training_order(spec, ds, ds.y_train)
    if order.size == 0:
        raise ConfigError(f"{spec.dataset!r} gives an empty training order")
    resets = reset_flags(
        spec.reset, ds.X_train, _reset_labels(spec, ds.y_train[order]),
        spec.reset_groups, spec.reset_aggregate, order=order,
    )
    eval_items, eval_resets = _eval_stream(spec, ds, ds.y_test)
    steps = order.size
    if spec.eval_steps is not None:  # explicit points (within the run) replace eval_every
        points = [s for s in spec.eval_steps if 0 <= s < steps]
        eval_steps = np.unique(np.r_[0, points, steps]).astype(np.int64)
    else:
        eval_steps = np.unique(np.r_[np.arange(0, steps, spec.eval_every), steps])
        eval_steps = eval_steps.astype(np.int64)
    leak = np.broadcast_to(np.asarray(spec.leak, np.float32), (spec.hidden,)).copy()
    test_targets = _targets(spec, ds, "test")
    return Prepared(
        X=ds.X_train,
        targets=train_targets,
        labels=_labels(spec, ds.y_train),
        order=order,
        resets=resets,
        params=spec.family.init(ds.X_train.shape[1], spec.hidden, train_targets.shape[1],
                                spec.init_seed),
        leak=leak,
        eval_steps=eval_steps,
        X_eval=_test_rows(spec.dataset, _params_json(spec),
                          eval_items.astype(np.int64).tobytes()),
        targets_eval=np.ascontiguousarray(test_targets[eval_items]),
        labels_eval=_labels(spec, ds.y_test[eval_items]),
        eval_resets=eval_resets,
        settings=spec.training,
        task=spec.task,
        test_memory=spec.test_memory,
        test_leak=0.0 if spec.test_leak is None else spec.test_leak,
        eval_base=ds.X_test,
        eval_items=eval_items.astype(np.int64),
    )


# ---------------------------------------------------------------- running
def _job(spec: RunSpec, prep: Prepared) -> Job:
    return Job(prep, spec.hidden, spec.batch_size, spec.bptt, spec.init_seed)


def run_many(
    configs: Sequence[RunConfig],
    engine: Literal["fast", "reference"] = "fast",
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> list[Curves]:
    """Train every config with its family's trainer (:data:`smoothlearn.families.FAMILIES`):
    with ``engine="fast"`` the compiled CPU trainer, or with ``device`` (e.g. ``"cuda"``)
    the family's batched torch ensembles on that device; ``engine="reference"`` uses the
    readable PyTorch trainers for all. ``device`` is how runs are computed, not what they
    are: the configs and their run ids do not change.

    On the fast engine's CPU path, runs that differ only in their test protocol
    (:meth:`RunSpec.training_key`, with equal training arrays) of a family that shares
    trainings train one network, which is evaluated at each point on every one of their
    test sets (:class:`~smoothlearn.contract.SharedTests`), with the numbers of separate
    trainings (tested: the per-sample engine scores all of a network's test sets in one pass,
    its first layer once per test item, whose float64 metric sums may differ in the last bit).
    """
    if device is not None and engine != "fast":
        raise ValueError(f"device={device!r} needs engine='fast' (the reference runs on the CPU)")
    specs = [c.check().spec() for c in configs]
    jobs = [_job(spec, _prepare(spec)) for spec in specs]
    preps = [job.prep for job in jobs]
    results: list[Curves | None] = [None] * len(configs)
    shared = _shared_training(specs, preps) if engine == "fast" and device is None else {}
    followers = {j for members in shared.values() for j in members}
    points: dict[int, list[tuple[float, ...]]] = {j: [] for j in followers}

    def record(i: int, step: int, metrics: Sequence[tuple[float, float, float]]) -> None:
        for j, scores in zip(shared[i], metrics, strict=True):
            points[j].append((step, *scores))

    tests = SharedTests({i: [preps[j] for j in members] for i, members in shared.items()},
                        record)

    by_family: dict[str, list[int]] = {}
    for i, spec in enumerate(specs):
        if i not in followers:
            by_family.setdefault(spec.family.name, []).append(i)
    for name, indices in by_family.items():
        family = FAMILIES[name]
        if engine == "reference":
            trained = [family.reference(jobs[i], progress) for i in indices]
        else:
            options = TrainOptions(threads, progress, device, tests.for_members(indices))
            train = family.cpu if device is None else family.device
            trained = train([jobs[i] for i in indices], options)
        for i, curves in zip(indices, trained, strict=True):
            results[i] = curves
    for leader, members in shared.items():
        for j in members:
            results[j] = _follower_curves(results[leader], points[j])  # type: ignore[arg-type]
            if progress:
                progress(preps[j].steps)
    return results  # type: ignore[return-value]


def _shared_training(specs: Sequence[RunSpec],
                     preps: Sequence[Prepared]) -> dict[int, list[int]]:
    """``{leader: [followers]}``: runs whose training equals an earlier run's (same
    :meth:`RunSpec.training_key` and equal training arrays), in families whose trainers
    can evaluate one network on several test sets."""
    first: dict[str, int] = {}
    shared: dict[int, list[int]] = {}
    for i, spec in enumerate(specs):
        if not spec.family.shares_training:
            continue
        leader = first.setdefault(spec.training_key(), i)
        if leader != i and _same_training(preps[leader], preps[i]):
            shared.setdefault(leader, []).append(i)
    return shared


def _same_training(a: Prepared, b: Prepared) -> bool:
    """Every input of the training is equal (the test set and its resets may differ)."""
    arrays = ("targets", "labels", "order", "resets", "leak", "eval_steps")
    return (
        a.X is b.X and a.settings == b.settings and a.task == b.task
        and all(np.array_equal(getattr(a, n), getattr(b, n)) for n in arrays)
        and a.params.keys() == b.params.keys()
        and all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    )


def _follower_curves(leader: Curves, rows: list[tuple[float, ...]]) -> Curves:
    """A follower's curves: its own metrics at the leader's points, the leader's weights."""
    arr = np.array(rows, np.float64).reshape(-1, 4)
    steps = arr[:, 0].astype(np.int64)
    if not np.array_equal(steps, leader.steps):
        raise RuntimeError(f"a shared training evaluated at {steps.tolist()}, its leader at "
                           f"{leader.steps.tolist()}")  # fmt: skip
    return Curves(steps, arr[:, 1], arr[:, 2], arr[:, 3], leader.diverged, leader.final_params)
