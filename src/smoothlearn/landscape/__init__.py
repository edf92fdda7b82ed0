"""Landscapes: where does training on smooth data help, and for which memory?

``run(LandscapeOptions(mode=...))`` trains what the store lacks, compares every cell with the
feedforward references (:mod:`~smoothlearn.landscape.analysis`), draws the heatmaps
(:mod:`~smoothlearn.landscape.figures`) and writes ``landscape.md``
(:mod:`~smoothlearn.landscape.markdown`), ``landscape.csv`` and ``landscape.parquet`` into
``out``. Runs go through the resumable sweep store (``out/store`` unless ``store`` names a
shared one); their ids hash their settings, so a rerun, a larger grid or another mode trains
only the runs it does not find there, on any executor (Dask included).

Modes (the thinning is explained in ``docs/landscape-method.md``):

``quick``
    First contact and CI: MNIST, SGD lr 0.01, memory-off test, 5 seeds, 6,000 steps with
    checkpoints 1k / 3k / 6k, 2,000 test items; every leak, smoothness and reset rule.
    Indicative only: 5 seeds cannot give p < 0.05 even before a correction.
``default``
    Both datasets, 12 seeds, the three checkpoints up to the last step before a class runs
    out, thinned to a *cross* around the fair centre (SGD lr 0.01, label-free input-change
    resets, memory-off test), so that each of the issue's questions moves one axis:
    leaks 0 / 0.3 / 0.5 / 0.7 / 0.9 and smoothness random, repeat-1 / 3 / 5 / 10 / 50 in
    every panel; the reset rule (none, label, input-change) at lr 0.01; the learning rate
    (0.003, 0.01, 0.03) with input-change resets; the streamed protocol at the centre only.
    No RMSprop panel (a run costs four SGD runs). About 3,900 runs: 0.4 h on 2 cores at the
    quiet-machine rates of ``docs/performance.md``, under 45 min at the slower rate measured
    in the quick mode.
    12 seeds rather than 10: with Holm over a panel's 24 cells, 10 seeds could only reach
    significance if all ten agree (24 x 2/1024 = 0.047).
``full``
    Every axis of the issue (6 leaks x 8 smoothness x 3 resets x 3 SGD rates + RMSprop
    lr 0.001 x 2 protocols x 2 datasets x 12 seeds): about 23,000 runs, meant for a Dask
    cluster (``executor="dask"``, ``scheduler=...``); its projected cost is printed first.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from smoothlearn import results
from smoothlearn.landscape import analysis, figures, markdown
from smoothlearn.landscape.grid import (
    LEAKS,
    RESETS,
    RMSPROP_RATE,
    SGD_RATES,
    SMOOTHNESS,
    STICKY,
    Block,
    Checkpoints,
    Cost,
    Grid,
    Plan,
    cost,
    plan,
)
from smoothlearn.sweep import Execution, SweepSummary, run_sweep

__all__ = ["LandscapeOptions", "LandscapeResult", "MODES", "Grid", "Block", "Checkpoints",
           "Plan", "Cost", "STICKY", "run", "plan_for", "DEFAULT_OUT"]

DEFAULT_OUT = Path("runs") / "landscape"
Mode = Literal["quick", "default", "full"]

_DEFAULT_LEAKS = (0.0, 0.3, 0.5, 0.7, 0.9)
_DEFAULT_SMOOTHNESS = ("random", "repeat-1", "repeat-3", "repeat-5", "repeat-10", "repeat-50")
_CENTRE = ("sgd", 0.01)
MODES: dict[str, Grid] = {
    "quick": Grid(
        blocks=(Block(rates=(("sgd", 0.01),), protocols=("memory-off",)),),
        datasets=("mnist",), seeds=5, checkpoints=Checkpoints(1_000, 3_000, 6_000),
        eval_items=2_000,
    ),
    "default": Grid(blocks=(
        Block(_DEFAULT_LEAKS, _DEFAULT_SMOOTHNESS, RESETS, (_CENTRE,), ("memory-off",)),
        # the learning-rate panels on MNIST only: Fashion-MNIST's dense inputs make each of its
        # runs ~3x as costly, and MNIST answers how the map moves with the rate
        Block(_DEFAULT_LEAKS, _DEFAULT_SMOOTHNESS, ("input-change",), SGD_RATES,
              ("memory-off",), datasets=("mnist",)),
        Block(_DEFAULT_LEAKS, _DEFAULT_SMOOTHNESS, ("input-change",), (_CENTRE,),
              ("streamed",)),
    )),
    "full": Grid(blocks=(Block(LEAKS, SMOOTHNESS, RESETS, (*SGD_RATES, RMSPROP_RATE)),)),
}


@dataclass(frozen=True)
class LandscapeOptions:
    """What to map. ``grid`` replaces the mode's axes entirely; ``datasets``/``seeds``/
    ``smoothness`` override the mode's. How to run it is a :class:`~smoothlearn.sweep.Execution`
    passed to :func:`run`."""

    mode: Mode = "default"
    out: Path = DEFAULT_OUT
    datasets: tuple[str, ...] | None = None
    seeds: int | None = None
    smoothness: tuple[str, ...] | None = None  # e.g. STICKY: the continuous axis
    grid: Grid | None = None
    store: Path | None = None  # default: out / "store"; point at a shared store to reuse runs
    plan_only: bool = False  # print the projected cost and stop

    @property
    def store_dir(self) -> Path:
        return Path(self.store) if self.store else Path(self.out) / "store"


@dataclass
class LandscapeResult:
    """What a landscape call produced (``table`` is empty when ``plan_only``)."""

    out: Path
    planned: int
    trained: int  # runs this call had to train (not found in the store)
    failed: int  # planned runs still without a finished result
    cost: Cost  # projected cost of the runs this call had to train
    seconds: float
    sweep: SweepSummary | None = None  # None when only planned
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: dict[str, Path] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


def plan_for(options: LandscapeOptions) -> Plan:
    """The runs of these options (nothing is trained)."""
    if options.mode not in MODES:
        raise ValueError(f"mode={options.mode!r}; allowed: {', '.join(MODES)}")
    grid = (options.grid or MODES[options.mode]).with_overrides(
        options.datasets, options.seeds, options.smoothness)
    return plan(grid)


def _finished_ids(store: Path) -> set[str]:
    """Run ids the store already holds (done or diverged): never trained again."""
    return results.Store(store).scan()[0] if store.is_dir() else set()


def _say(execution: Execution, text: str) -> None:
    if not execution.quiet:
        print(text, file=sys.stderr, flush=True)


def run(options: LandscapeOptions, execution: Execution | None = None) -> LandscapeResult:
    """Train what the store lacks (on ``execution``: engine, executor, workers; the local
    defaults if None), then write the table, heatmaps and ``landscape.md``."""
    execution = execution or Execution()
    started = time.perf_counter()
    out = Path(options.out)
    the_plan = plan_for(options)
    store = options.store_dir
    todo = the_plan.run_ids - _finished_ids(store)
    projected = cost(the_plan, skip=the_plan.run_ids - todo)
    _say(execution, f"landscape ({options.mode}): {len(the_plan.arms):,} runs planned, "
                  f"{len(the_plan.arms) - len(todo):,} already in {store}; to train: "
                  f"{projected.describe()}")
    result = LandscapeResult(out, len(the_plan.arms), len(todo), len(todo), projected, 0.0)
    if options.plan_only:
        result.seconds = time.perf_counter() - started
        return result
    result.sweep = run_sweep(list(the_plan.configs), store, execution)
    result.failed = len(the_plan.run_ids - _finished_ids(store))
    result.table = analysis.cell_table(the_plan, results.load(store, run_ids=the_plan.run_ids))
    result.files = _write(result, the_plan, options, started)
    return result


def _write(result: LandscapeResult, the_plan: Plan, options: LandscapeOptions,
           started: float) -> dict[str, Path]:
    out = result.out
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / "landscape.csv", "parquet": out / "landscape.parquet",
             "markdown": out / "landscape.md"}
    result.table.to_csv(files["csv"], index=False)
    result.table.to_parquet(files["parquet"], index=False)
    indicative = options.mode == "quick"
    pngs = figures.draw_all(result.table, out, indicative)
    files.update({p.stem: p for p in pngs})
    result.seconds = time.perf_counter() - started
    command = "smoothlearn landscape" + {"quick": " --quick", "full": " --full"}.get(
        options.mode, "")
    mode = f"{options.mode} mode" + (" with custom axes" if options.grid else "")
    meta = markdown.Meta(mode=mode, command=command, indicative=indicative,
                         seeds=the_plan.grid.seeds,
                         planned=result.planned, trained=result.trained,
                         failed=result.failed, seconds=result.seconds,
                         cores=len(os.sched_getaffinity(0)), checkpoints=the_plan.checkpoints,
                         figures=[p.name for p in pngs],
                         worker_seconds=results.training_seconds(options.store_dir,
                                                               the_plan.run_ids),
                         projected_seconds=cost(the_plan).core_seconds)
    text, result.findings = markdown.render(result.table, meta)
    files["markdown"].write_text(text)
    files["record"] = out / "landscape.json"
    files["record"].write_text(json.dumps({
        "kind": "landscape", **asdict(meta), "findings": result.findings,
        "main_finding": (markdown.main_finding(result.table) if not result.table.empty
                         else "No finished runs."),
    }, indent=2))
    return files
