"""Experiments as data: one run's configuration, model presets, and the built-in figures.

A :class:`RunConfig` holds every setting that affects a run's numbers, as given and checked
where it is built (the condition and reset policies parsed there, once).
:meth:`RunConfig.spec` resolves it into a :class:`RunSpec`: the model preset applied, every
setting typed, and the run's model family (:mod:`smoothlearn.families`); the run id (a content
hash), the training key, the ensemble key and the stored columns derive from it.

An :class:`Experiment` (a TOML file, or a built-in one under ``smoothlearn/configs/``) expands
into a list of runs: ``base`` settings, overridden by each ``[[grids]]`` table's cartesian
product, times ``seeds`` seeds.

This module only describes runs: :mod:`smoothlearn.runs` turns a config into the arrays both
engines consume (``prepare``) and trains them (``run_many``). Layering: ``contract``,
``streams``, ``memory``, ``families`` <- ``experiments`` <- ``runs`` <- ``sweep``; no torch.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
)

from smoothlearn import data, streams
from smoothlearn.contract import (
    Curves,
    LeakGrad,
    Loss,
    Optimizer,
    Output,
    Task,
    TestMemory,
    TrainSettings,
)
from smoothlearn.convshape import image_side
from smoothlearn.families import Family, family_of
from smoothlearn.memory import ResetPolicy, parse_reset

__all__ = [
    "MODELS",
    "RunConfig",
    "RunSpec",
    "Experiment",
    "ConfigError",
    "builtin_names",
    "load_experiment",
    "curves_frame",
]

TEST_MODES = ("off", "same", "repeat-1", "random")
#: The test orders of the test modes that present the test items in an order of their own.
_TEST_ORDERS = {"repeat-1": streams.Condition("repeat", repeats=1),
                "random": streams.Condition("random")}

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

class ConfigError(ValueError):
    """A bad configuration; the message is one line naming the key and what is allowed."""


#: Settings that change only the test protocol (and the label), never the trained weights.
TEST_ONLY = ("experiment", "test_mode", "test_reset", "eval_items", "test_memory", "test_leak")
#: Settings that may differ inside one ensemble (the fast engine trains them in one kernel).
ENSEMBLE_FREE = frozenset({
    "experiment", "seed", "order_seed", "init_seed", "condition", "model", "leak", "reset",
    "reset_aggregate", "test_mode", "test_reset", "eval_every", "eval_steps", "eval_items",
    "test_memory", "test_leak",
})
#: The leak of memory switched on only at test when none is given: the paper's (Fig 2).
DEFAULT_TEST_LEAK = 0.5

Arch = Literal["leaky", "lstm", "conv"]
TestMode = Literal["off", "same", "repeat-1", "random"]
Aggregate = Literal["sum", "any", "all"]

#: A condition is parsed once, where a config is built; the config holds the parsed value and
#: stores (and hashes) its one spelling.
ConditionField = Annotated[
    streams.Condition,
    PlainValidator(streams.parse_condition),
    PlainSerializer(str, return_type=str),
]


def _reset_policy(value: Any) -> ResetPolicy:
    """A reset policy from a config: a string (or a parsed one); any other value is named in
    the error, like a bad string."""
    return parse_reset(value if isinstance(value, ResetPolicy | str) else repr(value))


#: A reset policy, parsed once where a config is built; stored as its string.
ResetField = Annotated[
    ResetPolicy,
    PlainValidator(_reset_policy),
    PlainSerializer(str, return_type=str),
]


def _digest(settings: dict[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    """One run with its model preset applied and every setting parsed: what the numbers
    depend on. Built by :meth:`RunConfig.spec`; runs, sweeps and stores read this, never
    the raw config. :meth:`record` is its flat form, as hashed into the run id and stored."""

    experiment: str
    model: str
    dataset: str
    dataset_params: dict[str, Any]
    task: Task
    family: Family
    hidden: int
    #: One leak per hidden unit when ``shared_leak`` is False, else one for all of them.
    leak: tuple[float, ...]
    shared_leak: bool
    batch_size: int
    bptt: int
    condition: streams.Condition
    test_mode: TestMode
    reset: ResetPolicy
    #: The test stream's own reset policy; None: the training's (:attr:`eval_reset`).
    test_reset: ResetPolicy | None
    reset_groups: int
    reset_aggregate: Aggregate
    seed: int
    order_seed: int
    init_seed: int
    data_seed: int
    training: TrainSettings
    epochs: int
    steps: int | None
    eval_every: int
    eval_steps: tuple[int, ...] | None
    eval_items: int | None
    class_balance: Literal["none", "balanced"]
    #: Memory switched on only at test (the averaging control); "none" for every other run.
    test_memory: TestMemory = "none"
    #: Its leak; None when ``test_memory`` is "none".
    test_leak: float | None = None

    @property
    def arch(self) -> Arch:
        return self.family.arch

    @property
    def eval_reset(self) -> ResetPolicy:
        """The reset policy of the test stream."""
        return self.test_reset or self.reset

    @property
    def test_condition(self) -> streams.Condition | None:
        """The order the test items are presented in; None when tested with memory off."""
        if self.test_mode == "off":
            return None
        if self.test_mode == "same":
            return self.condition
        return _TEST_ORDERS[self.test_mode]

    def record(self) -> dict[str, Any]:
        """Every setting as plain JSON values: the run id's content and the stored columns."""
        out: dict[str, Any] = {
            "experiment": self.experiment, "dataset": self.dataset,
            "dataset_params": self.dataset_params, "task": self.task, "model": self.model,
            "condition": str(self.condition), "test_mode": self.test_mode,
            "test_reset": None if self.test_reset is None else str(self.test_reset),
            "seed": self.seed, "order_seed": self.order_seed, "init_seed": self.init_seed,
            "data_seed": self.data_seed, "hidden": self.hidden,
            "leak": self.leak[0] if self.shared_leak else list(self.leak),
            "reset": str(self.reset), "reset_groups": self.reset_groups,
            "reset_aggregate": self.reset_aggregate, **asdict(self.training),
            "epochs": self.epochs, "steps": self.steps, "eval_every": self.eval_every,
            "eval_steps": None if self.eval_steps is None else list(self.eval_steps),
            "eval_items": self.eval_items, "class_balance": self.class_balance,
            "batch_size": self.batch_size, "bptt": self.bptt, "arch": self.arch,
        }
        out.update(self.family.identity)
        if self.test_memory != "none":  # absent when unset: earlier run ids stay as they were
            out.update(test_memory=self.test_memory, test_leak=self.test_leak)
        return out

    def run_id(self) -> str:
        """Stable content hash of every setting that affects the numbers (not the label)."""
        settings = self.record()
        settings.pop("experiment")
        return _digest(settings)

    def training_key(self) -> str:
        """Hash of the settings the training depends on: runs that differ only in how they
        are tested (:data:`TEST_ONLY`) train one network and evaluate it each their way."""
        settings = self.record()
        for name in TEST_ONLY:
            settings.pop(name, None)
        return _digest(settings)

    def ensemble_key(self) -> str:
        """Runs with equal keys share data, layer shapes, training settings and length, so
        the fast engine trains them as one ensemble (:data:`ENSEMBLE_FREE` may differ)."""
        kept = {k: v for k, v in self.record().items() if k not in ENSEMBLE_FREE}
        return json.dumps(kept, sort_keys=True, default=str)


class RunConfig(BaseModel):
    """Every setting of one run, as given. Unset model-dependent fields come from
    :data:`MODELS` when it is resolved into a :class:`RunSpec` (:meth:`spec`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str = "custom"
    dataset: str = "synthetic-categories"
    dataset_params: dict[str, Any] = Field(default_factory=dict)
    task: Task | None = None
    model: str = "feedforward"
    condition: ConditionField = streams.Condition("random")
    test_mode: str = "off"
    test_reset: ResetField | None = None
    test_memory: TestMemory = "none"
    test_leak: float | None = Field(None, ge=0, lt=1)
    seed: int = Field(0, ge=0)
    order_seed: int | None = None
    init_seed: int | None = None
    data_seed: int | None = None
    hidden: int | None = Field(None, ge=1)
    leak: float | list[float] | None = None
    reset: ResetField | None = None
    reset_groups: int | None = Field(None, ge=1)
    reset_aggregate: Aggregate = "sum"
    leak_grad: LeakGrad = "exact"
    optimizer: Optimizer = "sgd"
    lr: float = Field(0.01, gt=0)
    rmsprop_alpha: float = Field(0.99, ge=0, lt=1)
    rmsprop_momentum: float = Field(0.0, ge=0, lt=1)
    rmsprop_eps: float = Field(1e-8, gt=0)
    loss: Loss = "mse"
    output: Output | None = None
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
        if data.userdata.is_user_name(value):  # checked and cached from the user's files
            data.userdata.user_meta(value)
            return value
        if value not in data.DATASET_INFO:
            allowed = ", ".join(sorted(data.DATASET_INFO))
            raise ValueError(f"unknown dataset {value!r}; allowed: {allowed}, or a file "
                             "(.npz, .csv, .parquet, an image folder)")
        return value

    @field_validator("test_mode")
    @classmethod
    def _valid_test_mode(cls, value: str) -> str:
        if value not in TEST_MODES:
            raise ValueError(f"test_mode={value!r}; allowed: {', '.join(TEST_MODES)}")
        return value

    # ----- resolution (preset, then explicit value) -----
    def _preset(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        return MODELS[self.model].get(key, default) if value is None else value

    def spec(self) -> RunSpec:
        """The run with its preset applied and every setting parsed."""
        arch = MODELS[self.model].get("arch", "leaky")
        batch_size = self._preset("batch_size", 1)
        family = family_of(arch, batch_size)
        task = self.task or data.dataset_info(self.dataset).task
        output = self.output or ("softmax" if task == "classify" else "sigmoid")
        leak = self._preset("leak")
        return RunSpec(
            experiment=self.experiment, model=self.model, dataset=self.dataset,
            dataset_params=self.dataset_params, task=task, family=family,
            hidden=self.hidden or family.hidden or self._default_hidden(task),
            leak=tuple(float(v) for v in np.atleast_1d(leak)),
            shared_leak=not isinstance(leak, list | tuple), batch_size=batch_size,
            bptt=self.bptt, condition=self.condition, test_mode=self.test_mode,
            reset=parse_reset(self._preset("reset")), test_reset=self.test_reset,
            reset_groups=self._preset("reset_groups", 1),
            reset_aggregate=self.reset_aggregate, seed=self.seed,
            order_seed=self.seed if self.order_seed is None else self.order_seed,
            init_seed=self.seed if self.init_seed is None else self.init_seed,
            data_seed=self._data_seed(),
            training=TrainSettings(
                output=output, loss=self.loss, optimizer=self.optimizer, lr=self.lr,
                rmsprop_alpha=self.rmsprop_alpha, rmsprop_momentum=self.rmsprop_momentum,
                rmsprop_eps=self.rmsprop_eps, leak_grad=self.leak_grad,
            ),
            epochs=self.epochs, steps=self.steps, eval_every=self.eval_every,
            eval_steps=None if self.eval_steps is None else tuple(self.eval_steps),
            eval_items=self.eval_items, class_balance=self.class_balance,
            test_memory=self.test_memory, test_leak=self._test_leak(),
        )

    def _test_leak(self) -> float | None:
        """The leak of memory switched on only at test: as given, else the paper's."""
        if self.test_memory == "none":
            return None
        return DEFAULT_TEST_LEAK if self.test_leak is None else float(self.test_leak)

    def _default_hidden(self, task: str) -> int:
        """The paper's hidden size for a built-in dataset; a user dataset's own default."""
        if data.userdata.is_user_name(self.dataset):
            return data.userdata.default_hidden(self.dataset)
        return HIDDEN[(self.dataset, task)]

    def _data_seed(self) -> int:
        """A stream rendered from files (moving-mnist) is the run's order: like the order
        seed, it follows the seed; generated datasets keep one data seed (0) for all seeds."""
        if self.data_seed is not None:
            return self.data_seed
        return self.seed if data.dataset_info(self.dataset).source is not None else 0

    def run_id(self) -> str:
        """Stable content hash of every setting that affects the numbers (not the label)."""
        return self.spec().run_id()

    def training_key(self) -> str:
        """See :meth:`RunSpec.training_key`."""
        return self.spec().training_key()

    def check(self) -> RunConfig:
        """Cross-field rules that single-field validators cannot see."""
        task = self.task or data.dataset_info(self.dataset).task
        if data.userdata.is_user_name(self.dataset):
            try:
                repeats = self.condition.repeats if self.condition.kind == "repeat" else None
                data.userdata.check_condition(self.dataset, str(self.condition), repeats, task)
            except data.DataError as err:
                raise ConfigError(str(err)) from None
        elif (self.dataset, task) not in HIDDEN:
            raise ConfigError(f"dataset {self.dataset!r} has no {task!r} task")
        spec = self.spec()
        if self.loss == "ce" and (spec.training.output != "softmax" or spec.task != "classify"):
            raise ConfigError("loss='ce' needs a classification task with output='softmax'")
        leak = np.asarray(spec.leak)
        if np.any(leak < 0) or np.any(leak >= 1):
            raise ConfigError(f"leak={self._preset('leak')!r} must lie in [0, 1)")
        if leak.size not in (1, spec.hidden):
            raise ConfigError(
                f"leak has {leak.size} values; give 1 or one per hidden unit ({spec.hidden})"
            )
        self._check_test_memory(spec)
        if data.dataset_info(self.dataset).source is not None:
            self._check_rendered_stream()
        if spec.arch == "conv":
            self._check_conv(spec)
        if data.dataset_info(self.dataset).ordered:
            if spec.condition.kind not in ("given", "random"):
                raise ConfigError(f"dataset {self.dataset!r} is an ordered stream: its order is "
                                  "the data; use condition='given' (or 'random': the same "
                                  f"frames shuffled) (not {str(spec.condition)!r})")
            if self.test_mode not in ("off", "same"):
                raise ConfigError(f"dataset {self.dataset!r} is an ordered stream, tested in its "
                                  f"own order: test_mode must be 'off' or 'same' (not "
                                  f"{self.test_mode!r})")
        return self

    def _check_test_memory(self, spec: RunSpec) -> None:
        """Memory switched on only at test needs a streamed test of the per-sample MLP (the
        net both evaluation paths average), and output averaging one reset group."""
        if self.test_memory == "none":
            if self.test_leak is not None:
                raise ConfigError("test_leak is the leak of test_memory; set test_memory to "
                                  "'hidden' or 'output' as well")
            return
        where = f"test_memory={self.test_memory!r}"
        if self.test_mode == "off":
            raise ConfigError(f"{where} needs a streamed test; set test_mode to one of "
                              f"{', '.join(TEST_MODES[1:])}")
        if spec.family.name != "per-sample":
            raise ConfigError(f"{where} is defined for the per-sample MLP; model "
                              f"{self.model!r} is a {spec.family.name} net")
        if self.test_memory == "output" and spec.reset_groups != 1:
            raise ConfigError(f"{where} resets all outputs at once; reset_groups must be 1 "
                              f"(not {spec.reset_groups})")

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

    def _check_conv(self, spec: RunSpec) -> None:
        """The conv net classifies square one-channel images, one per step."""
        where = f"model {self.model!r} (a conv net)"
        if spec.task != "classify":
            raise ConfigError(f"{where} is a classifier; {self.dataset!r} has task "
                              f"{spec.task!r}")
        if spec.batch_size != 1:
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
    #: Hypotheses declared with the grid (``[[claims]]``), judged by ``smoothlearn check``
    #: (:mod:`smoothlearn.study`); the runs do not depend on them.
    claims: list[dict[str, Any]] = Field(default_factory=list)

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
    if path.suffix == ".toml" or path.exists():  # a dataset file is named relative to it
        raw = resolve_dataset_paths(raw, path.parent, where)
    try:
        return Experiment(**raw)
    except ValidationError as err:
        raise _format_validation(err, f"{where}: ") from None


def resolve_dataset_paths(raw: dict[str, Any], folder: Path, where: str = "") -> dict[str, Any]:
    """A TOML's dataset files (``dataset = "data.npz"``, relative to ``folder``) checked,
    cached and named by content (:func:`smoothlearn.data.userdata.resolve_dataset`), in
    ``base`` and in the grids; the keys that say how to read a table (``label``, ``split``)
    then leave ``dataset_params``: the content hash already covers them. Malformed tables are
    left for the schema to name."""
    base, grids = raw.get("base", {}), raw.get("grids", [])
    if not isinstance(base, dict) or not isinstance(grids, list):
        return raw
    params = base.get("dataset_params", {})
    params = params if isinstance(params, dict) else {}

    def resolve(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return data.userdata.resolve_dataset(value, folder, params)
        except data.DataError as err:
            raise ConfigError(f"{where}: {err}" if where else str(err)) from None

    base = {**base, "dataset": resolve(base["dataset"])} if "dataset" in base else dict(base)
    grids = [{**grid, "dataset": [resolve(v) for v in grid["dataset"]]}
             if isinstance(grid, dict) and isinstance(grid.get("dataset"), list) else grid
             for grid in grids]
    named = [base.get("dataset"), *(v for g in grids if isinstance(g, dict)
                                    for v in g.get("dataset", []))]
    if any(data.userdata.is_user_name(str(v)) for v in named) and params:
        base["dataset_params"] = {k: v for k, v in params.items() if k not in ("label", "split")}
    out = {**raw, "base": base}
    if "grids" in raw:
        out["grids"] = grids
    return out


CURVE_COLUMNS = [
    "experiment", "dataset", "model", "condition", "test_mode", "test_memory", "seed", "step",
    "test_mse", "test_ce", "test_acc",
]


def curves_frame(configs: Iterable[RunConfig], curves: Iterable[Curves]):
    """Tidy table of curves: one row per run and evaluation step."""
    import pandas as pd  # pandas loads in ~0.3 s; configs are read by every CLI command

    frames = []
    for config, curve in zip(configs, curves, strict=True):
        n = curve.steps.size
        frames.append(pd.DataFrame({
            "run_id": config.run_id(),
            "experiment": config.experiment,
            "dataset": config.dataset,
            "model": config.model,
            "condition": str(config.condition),
            "test_mode": config.test_mode,
            "test_memory": config.test_memory,
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

