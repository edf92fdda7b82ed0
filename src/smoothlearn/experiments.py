"""Experiments as data: one run's configuration, model presets, and the built-in figures.

A :class:`RunConfig` holds every setting that affects a run's numbers; its :meth:`run_id` is a
content hash of them. An :class:`Experiment` (a TOML file, or a built-in one under
``smoothlearn/configs/``) expands into a list of runs: ``base`` settings, overridden by each
``[[grids]]`` table's cartesian product, times ``seeds`` seeds.

:func:`prepare` turns a config into the arrays both engines consume, and :func:`run_many`
trains a list of configs (the fast engine by default, the reference on request).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smoothlearn import data, streams
from smoothlearn.nn import parse_reset, reset_flags
from smoothlearn.train import (
    Curves,
    Prepared,
    TrainSettings,
    train_lstm,
    train_minibatch,
    train_reference,
)

__all__ = [
    "MODELS",
    "RunConfig",
    "Experiment",
    "ConfigError",
    "builtin_names",
    "load_experiment",
    "prepare",
    "run_many",
    "curves_frame",
]

TEST_MODES = ("off", "same", "repeat-1", "random")

#: Model presets: what each model name sets, before a config's own overrides.
MODELS: dict[str, dict[str, Any]] = {
    "feedforward": {"leak": 0.0, "reset": "never"},
    "leaky": {"leak": 0.5, "reset": "never"},
    "leaky-reset": {"leak": 0.5, "reset": "label"},
    "leaky-localreset": {"leak": 0.5, "reset": "input-change"},
    "lstm": {"leak": 0.0, "reset": "never", "arch": "lstm"},
    "minibatch-feedforward": {"leak": 0.0, "reset": "never", "batch_size": 16},
    "ae-feedforward": {"leak": 0.0, "reset": "never"},
    "ae-leaky": {"leak": 0.5, "reset": "never"},
    "ae-multiscale": {"leak": [0.0, 0.3, 0.6], "reset": "never"},
    "ae-leaky-reset": {"leak": 0.5, "reset": "input-change", "reset_groups": 3},
    "ae-multiscale-reset": {"leak": [0.0, 0.3, 0.6], "reset": "input-change", "reset_groups": 3},
}

#: Hidden sizes of the paper's nets per dataset and task (Sections 4.1.2, 5.2.1, A.1).
HIDDEN = {
    ("mnist", "classify"): 392,
    ("fashion-mnist", "classify"): 392,
    ("synthetic-categories", "classify"): 8,
    ("synthetic-categories", "reconstruct"): 4,
    ("synthetic-no-shared", "classify"): 8,
    ("synthetic-no-shared", "reconstruct"): 4,
    ("multiscale", "reconstruct"): 3,
    ("multiscale-b", "reconstruct"): 3,
}


class ConfigError(ValueError):
    """A bad configuration; the message is one line naming the key and what is allowed."""


class RunConfig(BaseModel):
    """Every setting of one run. Unset model-dependent fields come from :data:`MODELS`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str = "custom"
    dataset: str = "synthetic-categories"
    dataset_params: dict[str, Any] = Field(default_factory=dict)
    task: Literal["classify", "reconstruct"] | None = None
    model: str = "feedforward"
    condition: str = "random"
    test_mode: str = "off"
    test_reset: str | None = None
    seed: int = Field(0, ge=0)
    order_seed: int | None = None
    init_seed: int | None = None
    data_seed: int | None = None
    hidden: int | None = Field(None, ge=1)
    leak: float | list[float] | None = None
    reset: str | None = None
    reset_groups: int | None = Field(None, ge=1)
    reset_aggregate: Literal["sum", "any", "all"] = "sum"
    leak_grad: Literal["exact", "ignore"] = "exact"
    optimizer: Literal["sgd", "rmsprop"] = "sgd"
    lr: float = Field(0.01, gt=0)
    rmsprop_alpha: float = Field(0.99, ge=0, lt=1)
    rmsprop_momentum: float = Field(0.0, ge=0, lt=1)
    rmsprop_eps: float = Field(1e-8, gt=0)
    loss: Literal["mse", "ce"] = "mse"
    output: Literal["softmax", "sigmoid"] | None = None
    epochs: int = Field(1, ge=1)
    steps: int | None = Field(None, ge=1)
    eval_every: int = Field(1000, ge=1)
    eval_steps: list[int] | None = None
    eval_items: int | None = Field(None, ge=1)
    class_balance: Literal["none", "balanced"] = "none"
    batch_size: int | None = Field(None, ge=1)
    bptt: int = Field(10, ge=1)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(f"unknown model {value!r}; allowed: {', '.join(MODELS)}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        allowed = sorted({name for name, _ in HIDDEN})
        if value not in allowed:
            raise ValueError(f"unknown dataset {value!r}; allowed: {', '.join(allowed)}")
        return value

    @field_validator("condition")
    @classmethod
    def _valid_condition(cls, value: str) -> str:
        return str(streams.parse_condition(value))

    @field_validator("test_mode")
    @classmethod
    def _valid_test_mode(cls, value: str) -> str:
        if value not in TEST_MODES:
            raise ValueError(f"test_mode={value!r}; allowed: {', '.join(TEST_MODES)}")
        return value

    @field_validator("reset", "test_reset")
    @classmethod
    def _valid_reset(cls, value: str | None) -> str | None:
        if value is not None:
            parse_reset(value)
        return value

    # ----- resolved settings (preset, then explicit value) -----
    def _preset(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        return MODELS[self.model].get(key, default) if value is None else value

    @property
    def arch(self) -> str:
        return MODELS[self.model].get("arch", "leaky")

    @property
    def resolved_task(self) -> str:
        if self.task:
            return self.task
        return "reconstruct" if self.dataset.startswith("multiscale") else "classify"

    @property
    def resolved_output(self) -> str:
        if self.output:
            return self.output
        return "softmax" if self.resolved_task == "classify" else "sigmoid"

    @property
    def resolved_hidden(self) -> int:
        return self.hidden or HIDDEN[(self.dataset, self.resolved_task)]

    def resolved(self) -> dict[str, Any]:
        """All settings after presets are applied: what the numbers depend on."""
        out = self.model_dump()
        out.update(
            task=self.resolved_task,
            output=self.resolved_output,
            hidden=self.resolved_hidden,
            leak=self._preset("leak"),
            reset=self._preset("reset"),
            reset_groups=self._preset("reset_groups", 1),
            batch_size=self._preset("batch_size", 1),
            arch=self.arch,
            order_seed=self.seed if self.order_seed is None else self.order_seed,
            init_seed=self.seed if self.init_seed is None else self.init_seed,
            data_seed=0 if self.data_seed is None else self.data_seed,
        )
        return out

    def run_id(self) -> str:
        """Stable content hash of every setting that affects the numbers (not the label)."""
        settings = self.resolved()
        settings.pop("experiment")
        blob = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def settings(self) -> TrainSettings:
        return TrainSettings(
            output=self.resolved_output,
            loss=self.loss,
            optimizer=self.optimizer,
            lr=self.lr,
            rmsprop_alpha=self.rmsprop_alpha,
            rmsprop_momentum=self.rmsprop_momentum,
            rmsprop_eps=self.rmsprop_eps,
            leak_grad=self.leak_grad,
        )

    def check(self) -> RunConfig:
        """Cross-field rules that single-field validators cannot see."""
        if self.loss == "ce" and (
            self.resolved_output != "softmax" or self.resolved_task != "classify"
        ):
            raise ConfigError("loss='ce' needs a classification task with output='softmax'")
        leak = np.atleast_1d(np.asarray(self._preset("leak"), dtype=np.float64))
        if np.any(leak < 0) or np.any(leak >= 1):
            raise ConfigError(f"leak={self._preset('leak')!r} must lie in [0, 1)")
        if leak.size not in (1, self.resolved_hidden):
            raise ConfigError(
                f"leak has {leak.size} values; give 1 or one per hidden unit "
                f"({self.resolved_hidden})"
            )
        if (self.dataset, self.resolved_task) not in HIDDEN:
            raise ConfigError(f"dataset {self.dataset!r} has no {self.resolved_task!r} task")
        return self


def _format_validation(err: ValidationError, where: str = "") -> ConfigError:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "config"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(RunConfig.model_fields)
        msg = f"unknown key; allowed keys: {allowed}"
    return ConfigError(f"{where}{key}: {msg}")


def make_config(**settings: Any) -> RunConfig:
    """Build and check a RunConfig, turning pydantic errors into one-line ConfigErrors."""
    try:
        return RunConfig(**settings).check()
    except ValidationError as err:
        raise _format_validation(err) from None


# ---------------------------------------------------------------- experiments
class Experiment(BaseModel):
    """A named grid of runs: ``base`` settings × each grid's cartesian product × seeds."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str = ""
    figure: str = ""
    description: str = ""
    seeds: int = Field(5, ge=1)
    base: dict[str, Any] = Field(default_factory=dict)
    grids: list[dict[str, list[Any]]] = Field(default_factory=lambda: [{}])

    def runs(self, seeds: int | None = None, overrides: dict[str, Any] | None = None):
        """Expand into checked RunConfigs (duplicates across grids are dropped)."""
        out: dict[str, RunConfig] = {}
        for index, grid in enumerate(self.grids or [{}]):
            keys = list(grid)
            for values in itertools.product(*(grid[k] for k in keys)):
                for seed in range(self.seeds if seeds is None else seeds):
                    settings = {**self.base, **dict(zip(keys, values, strict=True))}
                    settings.update(overrides or {})
                    settings.setdefault("seed", seed)
                    settings["experiment"] = self.name
                    where = f"{self.name} grid {index + 1}: "
                    try:
                        config = RunConfig(**settings).check()
                    except ValidationError as err:
                        raise _format_validation(err, where) from None
                    except ConfigError as err:
                        raise ConfigError(f"{where}{err}") from None
                    out.setdefault(config.run_id(), config)
        return list(out.values())


def builtin_names() -> list[str]:
    """Names of the experiments shipped with the package (one TOML file each)."""
    folder = resources.files("smoothlearn") / "configs"
    names = (p.name for p in folder.iterdir())
    return sorted(n.removesuffix(".toml") for n in names if n.endswith(".toml"))


def load_experiment(name_or_path: str | Path) -> Experiment:
    """A built-in experiment by name, or a TOML file by path; errors name the key."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"experiment file {str(path)!r} does not exist")
        text, where = path.read_text(), str(path)
    elif str(name_or_path) in builtin_names():
        resource = resources.files("smoothlearn") / "configs" / f"{name_or_path}.toml"
        text, where = resource.read_text(), str(name_or_path)
    else:
        raise ConfigError(
            f"unknown experiment {str(name_or_path)!r}; built-in: {', '.join(builtin_names())}"
        )
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where}: not valid TOML ({err})") from None
    try:
        return Experiment(**raw)
    except ValidationError as err:
        raise _format_validation(err, f"{where}: ") from None


# ---------------------------------------------------------------- preparation
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


def dataset_for(config: RunConfig) -> data.Dataset:
    """The (cached) dataset a config trains on; ``data_seed`` seeds synthetic generators."""
    params = dict(config.dataset_params)
    if not config.dataset.endswith("mnist"):
        params.setdefault("seed", config.resolved()["data_seed"])
    return _dataset(config.dataset, json.dumps(params, sort_keys=True))


def _targets(config: RunConfig, ds: data.Dataset, split: str) -> np.ndarray:
    if config.resolved_task == "reconstruct":
        return ds.X_train if split == "train" else ds.X_test
    params = dict(config.dataset_params)
    if not config.dataset.endswith("mnist"):
        params.setdefault("seed", config.resolved()["data_seed"])
    n_classes = int(max(ds.y_train.max(), ds.y_test.max())) + 1
    return _one_hot(config.dataset, json.dumps(params, sort_keys=True), split, n_classes)


def _labels(config: RunConfig, labels: np.ndarray) -> np.ndarray:
    if config.resolved_task == "reconstruct":
        return np.full(labels.shape[0], -1, np.int64)
    return labels


def _reset_labels(config: RunConfig, labels: np.ndarray) -> np.ndarray | None:
    """Category labels for label-based resets; reconstruction streams have none."""
    return labels if config.resolved_task == "classify" else None


def _training_order(config: RunConfig, ds: data.Dataset, labels: np.ndarray) -> np.ndarray:
    resolved = config.resolved()
    if ds.ordered and config.condition != "given":
        raise ConfigError(
            f"dataset {config.dataset!r} is an ordered stream; use condition='given'"
        )
    if ds.ordered:
        idx = np.tile(np.arange(labels.shape[0]), config.epochs)
        return idx[: config.steps] if config.steps else idx
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
        items = np.sort(np.random.default_rng(0).permutation(items.size)[: config.eval_items])
    if config.test_mode == "off":
        return items, None
    if not ds.ordered:  # an ordered stream is evaluated in its own order
        condition = config.condition if config.test_mode == "same" else config.test_mode
        items = items[streams.order(ds.y_test[items], condition, resolved["order_seed"])]
    policy = config.test_reset or resolved["reset"]
    flags = reset_flags(
        policy, ds.X_test[items], _reset_labels(config, ds.y_test[items]),
        resolved["reset_groups"], config.reset_aggregate,
    )
    return items, flags


def prepare(config: RunConfig) -> Prepared:
    """Materialise one run as arrays: the common input of both engines."""
    from smoothlearn.nn import init_params

    config.check()
    resolved = config.resolved()
    ds = dataset_for(config)
    train_targets = _targets(config, ds, "train")
    order = _training_order(config, ds, ds.y_train)
    if order.size == 0:
        raise ConfigError(f"{config.dataset!r} gives an empty training order")
    resets = reset_flags(
        resolved["reset"], ds.X_train[order], _reset_labels(config, ds.y_train[order]),
        resolved["reset_groups"], config.reset_aggregate,
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
    return Prepared(
        X=ds.X_train,
        targets=train_targets,
        labels=_labels(config, ds.y_train),
        order=order,
        resets=resets,
        params=init_params(ds.X_train.shape[1], hidden, train_targets.shape[1],
                           resolved["init_seed"]),
        leak=leak,
        eval_steps=eval_steps,
        X_eval=ds.X_test[eval_items],
        targets_eval=np.ascontiguousarray(test_targets[eval_items]),
        labels_eval=_labels(config, ds.y_test[eval_items]),
        eval_resets=eval_resets,
        settings=config.settings(),
        task=config.resolved_task,
    )


# ---------------------------------------------------------------- running
def _train_one_reference(config: RunConfig, prep: Prepared, progress) -> Curves:
    resolved = config.resolved()
    if config.arch == "lstm":
        return train_lstm(prep, resolved["hidden"], config.bptt, resolved["init_seed"], progress)
    if resolved["batch_size"] > 1:
        return train_minibatch(prep, resolved["batch_size"], progress)
    return train_reference(prep, progress)


def _train_fast_baselines(configs, preps, results, threads, progress) -> None:
    """Fill ``results`` for the LSTM and mini-batch runs with the compiled trainers."""
    from smoothlearn.fast_lstm import LSTMRun, train_lstm_many
    from smoothlearn.fast_minibatch import train_minibatch_many

    lstm = [i for i, c in enumerate(configs) if c.arch == "lstm"]
    runs = [LSTMRun(preps[i], configs[i].resolved_hidden, configs[i].bptt,
                    configs[i].resolved()["init_seed"]) for i in lstm]  # fmt: skip
    for i, curves in zip(lstm, train_lstm_many(runs, threads, progress), strict=True):
        results[i] = curves
    batched = [
        i for i, c in enumerate(configs) if c.arch == "leaky" and c.resolved()["batch_size"] > 1
    ]
    sizes = [configs[i].resolved()["batch_size"] for i in batched]
    trained = train_minibatch_many([preps[i] for i in batched], sizes, threads, progress)
    for i, curves in zip(batched, trained, strict=True):
        results[i] = curves


def run_many(
    configs: Sequence[RunConfig],
    engine: Literal["fast", "reference"] = "fast",
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> list[Curves]:
    """Train every config: with ``engine="fast"``, per-sample leaky/feedforward runs go
    through the fast engine, LSTM runs through ``fast_lstm`` and mini-batch runs through
    ``fast_minibatch``; ``engine="reference"`` uses the PyTorch trainers for all.
    """
    preps = [prepare(c) for c in configs]
    results: list[Curves | None] = [None] * len(configs)
    fast = [
        i for i, c in enumerate(configs)
        if engine == "fast" and c.arch == "leaky" and c.resolved()["batch_size"] == 1
    ]
    if fast:
        from smoothlearn.engine import train_many

        for i, curves in zip(fast, train_many([preps[i] for i in fast], threads=threads,
                                              progress=progress), strict=True):
            results[i] = curves
    if engine == "fast":
        _train_fast_baselines(configs, preps, results, threads, progress)
    for i, config in enumerate(configs):
        if results[i] is None:
            results[i] = _train_one_reference(config, preps[i], progress)
    return results  # type: ignore[return-value]


CURVE_COLUMNS = [
    "experiment", "dataset", "model", "condition", "test_mode", "seed", "step",
    "test_mse", "test_ce", "test_acc",
]


def curves_frame(configs: Iterable[RunConfig], curves: Iterable[Curves]):
    """Tidy table of curves: one row per run and evaluation step."""
    import pandas as pd

    frames = []
    for config, curve in zip(configs, curves, strict=True):
        n = curve.steps.size
        frames.append(pd.DataFrame({
            "run_id": config.run_id(),
            "experiment": config.experiment,
            "dataset": config.dataset,
            "model": config.model,
            "condition": config.condition,
            "test_mode": config.test_mode,
            "seed": config.seed,
            "step": curve.steps,
            "test_mse": curve.test_mse,
            "test_ce": curve.test_ce,
            "test_acc": curve.test_acc,
            "diverged": [curve.diverged] * n,
        }))
    if not frames:
        return pd.DataFrame(columns=["run_id", *CURVE_COLUMNS, "diverged"])
    return pd.concat(frames, ignore_index=True)

