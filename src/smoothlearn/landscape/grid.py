"""The landscape's axes, the runs they expand into, and what those runs will cost.

A :class:`Grid` is one or more :class:`Block` s (each a cartesian product of leak x
smoothness x reset x optimiser/rate x test protocol) over datasets and seeds, evaluated at
three :class:`Checkpoints`. Several blocks let a thinned grid keep the full map where it
matters and fewer points elsewhere; runs shared by blocks have one run id and train once.

Each block trains, per dataset, rate and seed:

* the **feedforward** arm (leak 0; no memory, so no reset and no test protocol to vary) in
  every smoothness condition of the block, plus random order (the second reference);
* the **leaky** arms: every leak > 0 x smoothness x reset rule x test protocol.

Runs train only up to the last checkpoint and are evaluated only at the checkpoints (and at
step 0, which ``prepare`` always adds), so training dominates the cost.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from smoothlearn import data, streams
from smoothlearn.engine.arrays import row_share
from smoothlearn.experiments import RunConfig, make_config
from smoothlearn.runs import dataset_for

#: The issue's default axes.
LEAKS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
SMOOTHNESS = ("random", "repeat-1", "repeat-2", "repeat-3", "repeat-5", "repeat-10",
              "repeat-20", "repeat-50")
#: The alternative, continuous smoothness axis (plotted by mean run length).
STICKY = ("random", "sticky-0", "sticky-0.5", "sticky-0.8", "sticky-0.9", "sticky-0.95",
          "sticky-0.98")
RESETS = ("never", "label", "input-change")
SGD_RATES = (("sgd", 0.003), ("sgd", 0.01), ("sgd", 0.03))
#: RMSprop per sample at the paper's 0.01 stalls the MNIST nets (robustness sweep); a tenth of
#: it is the rate where RMSprop is usually run and where those nets learn.
RMSPROP_RATE = ("rmsprop", 0.001)
#: Test protocols: what the test stream looks like to a net with memory.
PROTOCOLS: dict[str, dict[str, Any]] = {
    "memory-off": {"test_mode": "off"},  # each test item alone: no test labels read
    "streamed": {"test_mode": "same", "test_reset": "input-change"},  # label-free resets
}
#: The model preset of a leaky arm by its training reset rule (the leak is always explicit).
RESET_MODELS = {"never": "leaky", "label": "leaky-reset", "input-change": "leaky-localreset"}
RESET_NAMES = {"never": "no reset", "label": "label reset", "input-change": "input-change reset"}
FEEDFORWARD = "feedforward"

#: Training and evaluation rates of one core, for the cost projection (784-392-10 MNIST nets,
#: ``docs/performance.md``: SGD 98-118 k steps/s, RMSprop 22-25 k, one evaluation of the
#: 10,000 test items 41 ms). Small synthetic nets are much faster; the projection is an
#: upper bound for them.
STEPS_PER_CORE_SECOND = {"sgd": 100_000.0, "rmsprop": 23_000.0}
EVAL_ITEMS_PER_CORE_SECOND = 240_000.0
#: Share of W1's rows one MNIST step touches (:func:`engine.arrays.row_share`: the union of
#: two consecutive items' non-zero inputs, 19% each). A step costs about in proportion to
#: it, so denser inputs are projected slower (Fashion-MNIST, 50% non-zero: x2.2; measured
#: x3, docs/landscape-method.md).
MNIST_ROW_SHARE = 0.345


# ----------------------------------------------------------------------------- dataset facts
#: Dataset parameters as hashable pairs (the cached look-ups below take them as keys).
Params = tuple[tuple[str, Any], ...]


@lru_cache(maxsize=8)
def _dataset(dataset: str, params: Params = ()) -> data.Dataset:
    return dataset_for(make_config(dataset=dataset, dataset_params=dict(params)))


def training_labels(dataset: str, params: Params = ()) -> np.ndarray:
    """The training labels of a dataset (data seed 0): what the orders are built from."""
    return _dataset(dataset, params).y_train


def test_size(dataset: str, params: Params = ()) -> int:
    """Items in a dataset's test split (for the cost projection)."""
    return int(_dataset(dataset, params).X_test.shape[0])


@lru_cache(maxsize=16)
def step_cost_factor(dataset: str, params: Params = ()) -> float:
    """How much costlier a training step is than an MNIST one, from the input density."""
    return max(1.0, row_share(_dataset(dataset, params).X_train) / MNIST_ROW_SHARE)


@lru_cache(maxsize=512)
def exhaustion_step(dataset: str, condition: str, seed: int, params: Params = ()) -> int:
    """Steps of epoch 1 before the first class runs out, for this order."""
    return streams.first_exhaustion_step(training_labels(dataset, params), condition, seed)


@lru_cache(maxsize=256)
def mean_run_length(dataset: str, condition: str, params: Params = ()) -> float:
    """Mean run length of one label in a training order (order seed 0): the smoothness axis
    in numbers."""
    labels = training_labels(dataset, params)
    return streams.smoothness(labels[streams.order(labels, condition, 0)])["mean_run_length"]


@dataclass(frozen=True)
class Checkpoints:
    """Where every run is evaluated: early, mid, and the last step before a class runs out.

    ``end=None`` computes the end per dataset from the training orders themselves (the first
    exhaustion step over every planned condition and seed), rounded down to ``round_to`` so
    that adding seeds rarely moves it (and so rarely changes run ids).
    """

    early: int = 5_000
    mid: int = 20_000
    end: int | None = None
    round_to: int = 1_000

    def steps(self, dataset: str, conditions: Iterable[str], seeds: int,
              params: Params = ()) -> dict[str, int]:
        """Checkpoint name -> step for one dataset; early/mid past the end are dropped."""
        end = self.end or self._pre_exhaustion(dataset, conditions, seeds, params)
        items = training_labels(dataset, params).size
        if end > items:
            raise ValueError(f"end checkpoint {end:,} is past one epoch of {dataset} "
                             f"({items:,} training items)")
        points = {"early": self.early, "mid": self.mid}
        return {**{k: v for k, v in points.items() if 0 < v < end}, "end": end}

    def _pre_exhaustion(self, dataset: str, conditions: Iterable[str], seeds: int,
                        params: Params) -> int:
        first = min(exhaustion_step(dataset, c, s, params)
                    for c in set(conditions) for s in range(seeds))
        return max(first // self.round_to * self.round_to, 1)


@dataclass(frozen=True)
class Block:
    """One cartesian product of the axes (see the module docstring)."""

    leaks: tuple[float, ...] = LEAKS
    smoothness: tuple[str, ...] = SMOOTHNESS
    resets: tuple[str, ...] = RESETS
    rates: tuple[tuple[str, float], ...] = (*SGD_RATES, RMSPROP_RATE)
    protocols: tuple[str, ...] = tuple(PROTOCOLS)
    #: The datasets this block runs on (None: every dataset of the grid). A thinned grid
    #: can keep a costly dataset to the panels that answer its question.
    datasets: tuple[str, ...] | None = None

    def covers(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets

    def __post_init__(self) -> None:
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown:
            raise ValueError(f"protocols {unknown}: allowed {', '.join(PROTOCOLS)}")
        bad = [r for r in self.resets if r not in RESET_MODELS]
        if bad:
            raise ValueError(f"resets {bad}: allowed {', '.join(RESET_MODELS)}")


@dataclass(frozen=True)
class Grid:
    """Blocks over datasets and seeds, evaluated at the checkpoints."""

    blocks: tuple[Block, ...] = (Block(),)
    datasets: tuple[str, ...] = ("mnist", "fashion-mnist")
    seeds: int = 12
    checkpoints: Checkpoints = field(default_factory=Checkpoints)
    eval_items: int | None = None  # None: the whole test set
    dataset_params: Params = ()  # e.g. a synthetic dataset's size

    def with_overrides(self, datasets: Sequence[str] | None = None, seeds: int | None = None,
                       smoothness: Sequence[str] | None = None) -> Grid:
        """The same grid on other datasets, with another seed count, or along another
        smoothness axis in every block (e.g. :data:`STICKY`)."""
        if seeds is not None and seeds < 1:
            raise ValueError(f"seeds={seeds}: need at least 1")
        blocks = self.blocks
        if smoothness:
            blocks = tuple(replace(b, smoothness=tuple(smoothness)) for b in blocks)
        return replace(self, blocks=blocks, datasets=tuple(datasets or self.datasets),
                       seeds=seeds or self.seeds)

    def conditions(self, dataset: str | None = None) -> set[str]:
        """The training orders of the grid (of the blocks on ``dataset``, if given)."""
        blocks = [b for b in self.blocks if dataset is None or b.covers(dataset)]
        return {"random", *(c for b in blocks for c in b.smoothness)}


@dataclass(frozen=True)
class Arm:
    """One planned run and its place in the landscape (``reset``/``protocol`` of the
    feedforward arm are None: it has no memory to reset or to test)."""

    run_id: str
    dataset: str
    optimizer: str
    lr: float
    leak: float
    condition: str
    reset: str | None
    protocol: str | None
    seed: int

    @property
    def feedforward(self) -> bool:
        return self.leak == 0.0


@dataclass(frozen=True)
class Plan:
    """Every run of a grid, the configs to train, and each dataset's checkpoint steps."""

    grid: Grid
    arms: tuple[Arm, ...]
    configs: tuple[RunConfig, ...]  # in arm order
    checkpoints: dict[str, dict[str, int]]  # dataset -> checkpoint name -> step

    @property
    def run_ids(self) -> set[str]:
        return {a.run_id for a in self.arms}


def plan(grid: Grid, experiment: str = "landscape") -> Plan:
    """Expand a grid into its runs (duplicates across blocks kept once)."""
    checkpoints = {d: grid.checkpoints.steps(d, grid.conditions(d), grid.seeds,
                                             grid.dataset_params)
                   for d in grid.datasets}
    arms: dict[str, tuple[Arm, Any]] = {}
    for dataset in grid.datasets:
        points = checkpoints[dataset]
        common: dict[str, Any] = {
            "experiment": experiment, "dataset": dataset, "steps": points["end"],
            "eval_steps": sorted(points.values()),
            "dataset_params": dict(grid.dataset_params),
        }
        if grid.eval_items:
            common["eval_items"] = grid.eval_items
        for block in (b for b in grid.blocks if b.covers(dataset)):
            for optimizer, lr in block.rates:
                for seed in range(grid.seeds):
                    for spec in _arm_specs(block):
                        config = make_config(**common, **spec["settings"],
                                                optimizer=optimizer, lr=lr, seed=seed)
                        arm = Arm(config.run_id(), dataset, optimizer, lr, spec["leak"],
                                  spec["condition"], spec["reset"], spec["protocol"], seed)
                        arms.setdefault(arm.run_id, (arm, config))
    return Plan(grid, tuple(a for a, _ in arms.values()), tuple(c for _, c in arms.values()),
                checkpoints)


def _arm_specs(block: Block) -> list[dict[str, Any]]:
    """Settings of every arm of one block, for one dataset, rate and seed."""
    specs = []
    for condition in dict.fromkeys(("random", *block.smoothness)):
        specs.append({"leak": 0.0, "condition": condition, "reset": None, "protocol": None,
                      "settings": {"model": FEEDFORWARD, "leak": 0.0, "condition": condition}})
    for leak in (x for x in block.leaks if x > 0):
        for condition in block.smoothness:
            for reset in block.resets:
                for protocol in block.protocols:
                    specs.append({
                        "leak": float(leak), "condition": condition, "reset": reset,
                        "protocol": protocol,
                        "settings": {"model": RESET_MODELS[reset], "leak": float(leak),
                                     "reset": reset, "condition": condition,
                                     **PROTOCOLS[protocol]},
                    })
    return specs


# ----------------------------------------------------------------------------- cost
@dataclass(frozen=True)
class Cost:
    """What a plan (or its untrained part) will take on this machine."""

    runs: int
    network_steps: int
    eval_items: int
    core_seconds: float
    cores: int

    @property
    def hours(self) -> float:
        return self.core_seconds / self.cores / 3600

    def duration(self) -> str:
        return f"{self.hours:.1f} h" if self.hours >= 1 else f"{self.hours * 60:.0f} min"

    def describe(self) -> str:
        return (f"{self.runs:,} runs, {self.network_steps / 1e6:,.0f} M network-steps and "
                f"{self.eval_items / 1e6:,.0f} M evaluated items: about {self.duration()} on "
                f"{self.cores} cores of this machine (at {STEPS_PER_CORE_SECOND['sgd'] / 1e3:.0f}"
                f" k SGD / {STEPS_PER_CORE_SECOND['rmsprop'] / 1e3:.0f} k RMSprop MNIST steps/s "
                "per core, docs/performance.md, slower for denser inputs)")


def cost(plan_: Plan, skip: set[str] | None = None) -> Cost:
    """Projected cost of the plan's runs, leaving out ``skip`` (runs already in the store)."""
    skip = skip or set()
    runs = steps = items = 0
    seconds = 0.0
    for arm, config in zip(plan_.arms, plan_.configs, strict=True):
        if arm.run_id in skip:
            continue
        points = plan_.checkpoints[arm.dataset]
        run_steps = points["end"]
        test_items = test_size(arm.dataset, plan_.grid.dataset_params)
        run_items = (len(points) + 1) * min(plan_.grid.eval_items or test_items, test_items)
        runs, steps, items = runs + 1, steps + run_steps, items + run_items
        factor = step_cost_factor(arm.dataset, plan_.grid.dataset_params)
        seconds += (run_steps * factor / STEPS_PER_CORE_SECOND[config.optimizer]
                    + run_items / EVAL_ITEMS_PER_CORE_SECOND)
    return Cost(runs, steps, items, seconds, len(os.sched_getaffinity(0)))


def min_holm_p(seeds: int, family: int) -> float:
    """The smallest Holm-adjusted p an exact sign-flip test over ``seeds`` can reach in a
    family of ``family`` tests: all seeds one way (2 / 2^n), times the family size."""
    return min(1.0, family * 2.0 / 2.0**seeds) if family else math.nan
