"""Experiments as data: one run's configuration, model presets, and the built-in figures.

A :class:`RunConfig` holds every setting that affects a run's numbers; its :meth:`run_id` is a
content hash of them. An :class:`Experiment` (a TOML file, or a built-in one under
``smoothlearn/configs/``) expands into a list of runs: ``base`` settings, overridden by each
``[[grids]]`` table's cartesian product, times ``seeds`` seeds.

This module only describes runs: :mod:`smoothlearn.runs` turns a config into the arrays both
engines consume (``prepare``) and trains them (``run_many``). Layering: ``contract`` <-
``experiments`` <- ``runs`` <- ``sweep``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smoothlearn import data, streams
from smoothlearn.contract import TrainSettings
from smoothlearn.convshape import image_side
from smoothlearn.memory import parse_reset

if TYPE_CHECKING:
    from smoothlearn.contract import Curves

__all__ = [
    "MODELS",
    "RunConfig",
    "Experiment",
    "ConfigError",
    "builtin_names",
    "report_names",
    "load_experiment",
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
    "conv-feedforward": {"leak": 0.0, "reset": "never", "arch": "conv"},
    "conv-leaky": {"leak": 0.5, "reset": "never", "arch": "conv"},
    "conv-leaky-localreset": {"leak": 0.5, "reset": "input-change", "arch": "conv"},
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
    # moving streams: the MNIST net's hidden layer, on 36 x 36 frames
    ("moving-mnist", "classify"): 392,
    ("moving-fashion", "classify"): 392,
}

#: Units of the conv net's leaky feature layer, on every dataset (docs/convnet.md): between
#: the pooled features (256 for 28 x 28 images, 576 for 36 x 36) and the 10 classes.
CONV_HIDDEN = 128


class ConfigError(ValueError):
    """A bad configuration; the message is one line naming the key and what is allowed."""


#: The LSTM's truncated-BPTT rule (``docs/model.md``). Part of an LSTM run's id, so a store
#: never mixes results of the earlier rule (the window recomputed from its start state) with
#: results of this one (the stored history, Williams & Peng's BPTT(h; 1)).
LSTM_BPTT_RULE = "stored-history"
#: Settings that change only the test protocol (and the label), never the trained weights.
TEST_ONLY = ("experiment", "test_mode", "test_reset", "eval_items")


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

    @field_validator("*", mode="before")
    @classmethod
    def _plain_finite_numbers(cls, value: Any) -> Any:
        """No bool where a number goes (``lr=true`` is not 1.0) and no NaN or infinity: both
        would otherwise pass pydantic's checks and fail, or mislead, much later."""
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                raise ValueError(f"{item!r} is a bool; give a number")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"{item!r} is not a finite number")
        return value

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(f"unknown model {value!r}; allowed: {', '.join(MODELS)}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in data.DATASET_INFO:
            allowed = ", ".join(sorted(data.DATASET_INFO))
            raise ValueError(f"unknown dataset {value!r}; allowed: {allowed}")
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
        return data.dataset_info(self.dataset).task

    @property
    def resolved_output(self) -> str:
        if self.output:
            return self.output
        return "softmax" if self.resolved_task == "classify" else "sigmoid"

    @property
    def resolved_hidden(self) -> int:
        if self.hidden:
            return self.hidden
        if self.arch == "conv":
            return CONV_HIDDEN
        return HIDDEN[(self.dataset, self.resolved_task)]

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
            data_seed=self._data_seed(),
        )
        if self.arch == "lstm":  # its training rule changed once: results of the old one differ
            out["bptt_rule"] = LSTM_BPTT_RULE
        return out

    def _data_seed(self) -> int:
        """A stream rendered from files (moving-mnist) is the run's order: like the order
        seed, it follows the seed; generated datasets keep one data seed (0) for all seeds."""
        if self.data_seed is not None:
            return self.data_seed
        return self.seed if data.dataset_info(self.dataset).source is not None else 0

    def run_id(self) -> str:
        """Stable content hash of every setting that affects the numbers (not the label)."""
        settings = self.resolved()
        settings.pop("experiment")
        blob = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def training_key(self) -> str:
        """Hash of the settings the training depends on: runs that differ only in how they
        are tested (:data:`TEST_ONLY`) train one network and evaluate it each their way."""
        settings = self.resolved()
        for name in TEST_ONLY:
            settings.pop(name)
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
        if data.dataset_info(self.dataset).source is not None:
            self._check_rendered_stream()
        if self.arch == "conv":
            self._check_conv()
        if data.dataset_info(self.dataset).ordered:
            if self.condition not in ("given", "random"):
                raise ConfigError(f"dataset {self.dataset!r} is an ordered stream: its order is "
                                  "the data; use condition='given' (or 'random': the same "
                                  f"frames shuffled) (not {self.condition!r})")
            if self.test_mode not in ("off", "same"):
                raise ConfigError(f"dataset {self.dataset!r} is an ordered stream, tested in its "
                                  f"own order: test_mode must be 'off' or 'same' (not "
                                  f"{self.test_mode!r})")
        return self

    def _check_rendered_stream(self) -> None:
        """A stream rendered from files (moving-mnist): its knobs, one seed, its length."""
        if "seed" in self.dataset_params:
            raise ConfigError("dataset_params: seed; a rendered stream is drawn from data_seed "
                              "(default: the run's seed), so give data_seed instead")
        try:
            spec = data.moving_spec(self.dataset, self.dataset_params)
        except data.DataError as err:
            raise ConfigError(f"dataset_params: {err}") from None
        if self.steps is not None and self.steps > spec.steps * self.epochs:
            raise ConfigError(f"steps={self.steps} is longer than the {self.dataset} stream "
                              f"({spec.steps} frames; set dataset_params.steps)")

    def _check_conv(self) -> None:
        """The conv net classifies square one-channel images, one per step."""
        where = f"model {self.model!r} (a conv net)"
        if self.resolved_task != "classify":
            raise ConfigError(f"{where} is a classifier; {self.dataset!r} has task "
                              f"{self.resolved_task!r}")
        if self._preset("batch_size", 1) != 1:
            raise ConfigError(f"{where} trains per sample; batch_size must be 1")
        size = data.dataset_info(self.dataset).input_size_for(self.dataset_params)
        try:
            image_side(size)
        except ValueError as err:
            raise ConfigError(f"{where} on {self.dataset!r}: {err}") from None


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
    #: False for an experiment with its own command and report (the landscape), which
    #: ``reproduce`` does not run; True for the paper's figures.
    in_report: bool = True
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


def report_names() -> list[str]:
    """Built-in experiments that ``reproduce`` runs and reports: the paper's figures, each a
    unit in :mod:`smoothlearn.figures` (the others have their own command)."""
    return [n for n in builtin_names() if load_experiment(n).in_report]


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

