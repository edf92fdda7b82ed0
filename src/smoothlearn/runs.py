"""From a config to a trained run: :func:`prepare` materialises a :class:`RunConfig` as the
arrays of the run contract (:class:`~smoothlearn.contract.Prepared`), :func:`run_many` hands
them to the fast engine or the reference trainer and returns their
:class:`~smoothlearn.contract.Curves`.

Layering (imports only go down): ``contract`` <- ``experiments`` (configs) <- ``runs`` (this
module; ``train`` and ``engine`` below it) <- ``sweep``, ``reproduce``, ``robustness``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Literal

import numpy as np

from smoothlearn import data, streams
from smoothlearn.contract import Curves, Prepared
from smoothlearn.convnet import init_conv_params
from smoothlearn.experiments import ConfigError, RunConfig
from smoothlearn.nn import init_params, reset_flags
from smoothlearn.train import (
    train_conv_reference,
    train_lstm,
    train_minibatch,
    train_reference,
)

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


def _params_json(config: RunConfig) -> str:
    """The generator keywords of a config's dataset; ``data_seed`` seeds generated sets."""
    params = dict(config.dataset_params)
    if data.dataset_info(config.dataset).seeded:
        params.setdefault("seed", config.resolved()["data_seed"])
    return json.dumps(params, sort_keys=True)


def dataset_for(config: RunConfig) -> data.Dataset:
    """The (cached) dataset a config trains on; ``data_seed`` seeds generated sets."""
    return _dataset(config.dataset, _params_json(config))


def _targets(config: RunConfig, ds: data.Dataset, split: str) -> np.ndarray:
    if config.resolved_task == "reconstruct":
        return ds.X_train if split == "train" else ds.X_test
    n_classes = int(max(ds.y_train.max(), ds.y_test.max())) + 1
    return _one_hot(config.dataset, _params_json(config), split, n_classes)


def _labels(config: RunConfig, labels: np.ndarray) -> np.ndarray:
    if config.resolved_task == "reconstruct":
        return np.full(labels.shape[0], -1, np.int64)
    return labels


def _reset_labels(config: RunConfig, labels: np.ndarray) -> np.ndarray | None:
    """Category labels for label-based resets; reconstruction streams have none."""
    return labels if config.resolved_task == "classify" else None


def _training_order(config: RunConfig, ds: data.Dataset, labels: np.ndarray) -> np.ndarray:
    resolved = config.resolved()
    if ds.ordered:  # the stream as given, or (condition "random") the same frames shuffled
        idx = np.tile(np.arange(labels.shape[0]), config.epochs)
        idx = idx[: config.steps] if config.steps else idx
        if config.condition == "random":
            idx = np.random.default_rng(resolved["order_seed"]).permutation(idx)
        return idx
    keep = np.arange(labels.size)
    if config.class_balance == "balanced":
        keep = streams.balanced_subset(labels, resolved["order_seed"])
    idx = keep[streams.order(labels[keep], config.condition, resolved["order_seed"], config.epochs)]
    return idx[: config.steps] if config.steps else idx


def _eval_stream(config: RunConfig, ds: data.Dataset, labels: np.ndarray):
    """Evaluation items in evaluation order, and their reset flags (None = memory off)."""
    resolved = config.resolved()
    items = np.arange(ds.X_test.shape[0])
    if config.eval_items and config.eval_items < items.size:
        if ds.ordered:  # the start of the stream: a streamed test needs consecutive items
            items = items[: config.eval_items]
        else:
            items = np.sort(np.random.default_rng(0).permutation(items.size)[: config.eval_items])
    if config.test_mode == "off":
        return items, None
    if not ds.ordered:  # an ordered stream is evaluated in its own order
        condition = config.condition if config.test_mode == "same" else config.test_mode
        items = items[streams.order(ds.y_test[items], condition, resolved["order_seed"])]
    policy = config.test_reset or resolved["reset"]
    flags = reset_flags(
        policy, ds.X_test, _reset_labels(config, ds.y_test[items]),
        resolved["reset_groups"], config.reset_aggregate, order=items,
    )
    return items, flags


def prepare(config: RunConfig) -> Prepared:
    """Materialise one run as arrays: the common input of both engines."""
    config.check()
    resolved = config.resolved()
    ds = dataset_for(config)
    train_targets = _targets(config, ds, "train")
    order = _training_order(config, ds, ds.y_train)
    if order.size == 0:
        raise ConfigError(f"{config.dataset!r} gives an empty training order")
    resets = reset_flags(
        resolved["reset"], ds.X_train, _reset_labels(config, ds.y_train[order]),
        resolved["reset_groups"], config.reset_aggregate, order=order,
    )
    eval_items, eval_resets = _eval_stream(config, ds, ds.y_test)
    steps = order.size
    if config.eval_steps is not None:  # explicit points (within the run) replace eval_every
        points = [s for s in config.eval_steps if 0 <= s < steps]
        eval_steps = np.unique(np.r_[0, points, steps]).astype(np.int64)
    else:
        eval_steps = np.unique(np.r_[np.arange(0, steps, config.eval_every), steps])
        eval_steps = eval_steps.astype(np.int64)
    hidden = resolved["hidden"]
    leak = np.broadcast_to(np.asarray(resolved["leak"], np.float32), (hidden,)).copy()
    test_targets = _targets(config, ds, "test")
    init = init_conv_params if config.arch == "conv" else init_params
    return Prepared(
        X=ds.X_train,
        targets=train_targets,
        labels=_labels(config, ds.y_train),
        order=order,
        resets=resets,
        params=init(ds.X_train.shape[1], hidden, train_targets.shape[1], resolved["init_seed"]),
        leak=leak,
        eval_steps=eval_steps,
        X_eval=_test_rows(config.dataset, _params_json(config),
                          eval_items.astype(np.int64).tobytes()),
        targets_eval=np.ascontiguousarray(test_targets[eval_items]),
        labels_eval=_labels(config, ds.y_test[eval_items]),
        eval_resets=eval_resets,
        settings=config.settings(),
        task=config.resolved_task,
    )


# ---------------------------------------------------------------- running
def _train_one_reference(config: RunConfig, prep: Prepared, progress) -> Curves:
    resolved = config.resolved()
    if config.arch == "conv":
        return train_conv_reference(prep, progress)
    if config.arch == "lstm":
        return train_lstm(prep, resolved["hidden"], config.bptt, resolved["init_seed"], progress)
    if resolved["batch_size"] > 1:
        return train_minibatch(prep, resolved["batch_size"], progress)
    return train_reference(prep, progress)


def run_many(
    configs: Sequence[RunConfig],
    engine: Literal["fast", "reference"] = "fast",
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> list[Curves]:
    """Train every config: with ``engine="fast"``, per-sample leaky/feedforward runs go
    through the fast engine, LSTM runs through ``engine.lstm``, mini-batch runs through
    ``engine.minibatch`` and conv runs through ``engine.conv``; ``engine="reference"`` uses
    the PyTorch trainers for all.

    On the fast engine's CPU path, runs that differ only in their test protocol
    (:meth:`RunConfig.training_key`, with equal training arrays) train one network, which is
    evaluated at each point on every one of their test sets, with the same code and so the
    same numbers as separate trainings (tested).

    ``device`` (e.g. ``"cuda"``; fast engine only) trains every run as batched torch
    ensembles on that device instead: ``engine.torch_path``, ``engine.torch_lstm``,
    ``engine.torch_minibatch`` and ``engine.conv``'s device mode. It is how runs are
    computed, not what they are: the configs and their run ids do not change.
    """
    if device is not None and engine != "fast":
        raise ValueError(f"device={device!r} needs engine='fast' (the reference runs on the CPU)")
    preps = [prepare(c) for c in configs]
    results: list[Curves | None] = [None] * len(configs)
    shared = _shared_training(configs, preps) if engine == "fast" and device is None else {}
    followers = {j for members in shared.values() for j in members}
    points: dict[int, list[tuple[float, ...]]] = {j: [] for j in followers}

    def observe(i: int, step: int, evaluate: Callable[[Prepared], tuple]) -> None:
        for j in shared.get(i, ()):
            points[j].append((step, *evaluate(preps[j])))

    todo = [i for i in range(len(configs)) if i not in followers]
    fast = [
        i for i in todo
        if engine == "fast" and configs[i].arch == "leaky"
        and configs[i].resolved()["batch_size"] == 1
    ]
    if fast:
        from smoothlearn.engine import train_many

        for i, curves in zip(fast, train_many([preps[i] for i in fast], threads=threads,
                                              progress=progress, device=device,
                                              observe=_observer(observe, fast, shared)),
                             strict=True):
            results[i] = curves
    if engine == "fast":
        _train_fast_baselines(configs, preps, results, threads, progress, device, todo,
                              lambda idx: _observer(observe, idx, shared))  # fmt: skip
    for i in todo:
        if results[i] is None:
            results[i] = _train_one_reference(configs[i], preps[i], progress)
    for leader, members in shared.items():
        for j in members:
            results[j] = _follower_curves(results[leader], points[j])  # type: ignore[arg-type]
            if progress:
                progress(preps[j].steps)
    return results  # type: ignore[return-value]


def _shared_training(configs: Sequence[RunConfig],
                     preps: Sequence[Prepared]) -> dict[int, list[int]]:
    """``{leader: [followers]}``: runs whose training equals an earlier run's (same
    :meth:`RunConfig.training_key` and equal training arrays), on trainers that can evaluate
    one network on several test sets (per-sample leaky nets, the LSTM, the conv nets)."""
    first: dict[str, int] = {}
    shared: dict[int, list[int]] = {}
    for i, config in enumerate(configs):
        if config.arch not in ("leaky", "lstm", "conv") or config.resolved()["batch_size"] > 1:
            continue
        leader = first.setdefault(config.training_key(), i)
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


def _observer(observe: Callable, indices: Sequence[int], shared: dict[int, list[int]]):
    """``observe`` for a trainer given the runs ``indices``; None when none has followers."""
    if not any(i in shared for i in indices):
        return None
    return lambda k, step, evaluate: observe(indices[k], step, evaluate)


def _follower_curves(leader: Curves, rows: list[tuple[float, ...]]) -> Curves:
    """A follower's curves: its own metrics at the leader's points, the leader's weights."""
    arr = np.array(rows, np.float64).reshape(-1, 4)
    steps = arr[:, 0].astype(np.int64)
    if not np.array_equal(steps, leader.steps):
        raise RuntimeError(f"a shared training evaluated at {steps.tolist()}, its leader at "
                           f"{leader.steps.tolist()}")  # fmt: skip
    return Curves(steps, arr[:, 1], arr[:, 2], arr[:, 3], leader.diverged, leader.final_params)


def _train_fast_baselines(configs: Sequence[RunConfig], preps: Sequence[Prepared],
                          results: list[Curves | None], threads: int | None,
                          progress: Callable[[int], None] | None,
                          device: str | None, todo: Sequence[int],
                          observer: Callable[[list[int]], Callable | None]) -> None:
    """Fill ``results`` for the LSTM, mini-batch and conv runs among ``todo`` with their fast
    trainers (compiled for the CPU, or batched torch ensembles on ``device``);
    ``observer(indices)`` gives the evaluation observer for a trainer of those runs."""
    lstm = [i for i in todo if configs[i].arch == "lstm"]
    conv = [i for i in todo if configs[i].arch == "conv"]
    batched = [i for i in todo
               if configs[i].arch == "leaky" and configs[i].resolved()["batch_size"] > 1]
    if lstm:
        from smoothlearn.engine.lstm import LSTMRun, train_lstm_many
        from smoothlearn.engine.torch_lstm import train_lstm_device

        runs = [LSTMRun(preps[i], configs[i].resolved_hidden, configs[i].bptt,
                        configs[i].resolved()["init_seed"]) for i in lstm]
        trained = (train_lstm_many(runs, threads, progress, observer(lstm)) if device is None
                   else train_lstm_device(runs, device, progress))  # fmt: skip
        for i, curves in zip(lstm, trained, strict=True):
            results[i] = curves
    if batched:
        from smoothlearn.engine.minibatch import train_minibatch_many
        from smoothlearn.engine.torch_minibatch import train_minibatch_device

        sizes = [configs[i].resolved()["batch_size"] for i in batched]
        chosen = [preps[i] for i in batched]
        trained = (train_minibatch_many(chosen, sizes, threads, progress) if device is None
                   else train_minibatch_device(chosen, sizes, device, progress))  # fmt: skip
        for i, curves in zip(batched, trained, strict=True):
            results[i] = curves
    if conv:
        from smoothlearn.engine.conv import train_conv_many

        trained = train_conv_many([preps[i] for i in conv], threads, progress, device=device,
                                  observe=observer(conv))
        for i, curves in zip(conv, trained, strict=True):
            results[i] = curves
