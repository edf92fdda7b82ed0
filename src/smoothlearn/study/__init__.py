"""Your own study: your data, your hypotheses, the package's verdicts.

A study is a TOML like the built-in experiments whose ``dataset`` may be a file (``.npz``,
``.csv``/``.parquet``, an image folder; relative to the TOML) and whose ``[[claims]]`` declare
the hypotheses (:mod:`smoothlearn.study.hypotheses`). :func:`run` records the hypotheses in the
store, then trains the grid; :func:`check` judges the runs with the paper's claim code and
writes ``claims.json`` and ``report.html``. Both return typed results, for notebooks::

    import smoothlearn
    done = smoothlearn.run("study.toml", out="runs/study")
    verdicts = smoothlearn.check("runs/study")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smoothlearn.experiments import ConfigError, Experiment, RunConfig, load_experiment
from smoothlearn.study.hypotheses import Hypotheses, Hypothesis, parse, record
from smoothlearn.study.judge import StudyCheck, assess, verdict_table
from smoothlearn.study.report import write_report

__all__ = ["StudyRun", "StudyCheck", "Hypotheses", "Hypothesis", "run", "check",
           "plan", "hypotheses_of", "resolve_overrides", "verdict_table"]


@dataclass(frozen=True)
class StudyRun:
    """What :func:`run` did: the runs planned, the sweep's summary, the hypotheses recorded."""

    experiment: Experiment
    configs: tuple[RunConfig, ...]
    summary: Any  # smoothlearn.sweep.SweepSummary (imported lazily: it loads the engine)
    hypotheses: Hypotheses | None
    store: Path


def hypotheses_of(exp: Experiment, source: str | os.PathLike[str] | None) -> Hypotheses | None:
    """The experiment's ``[[claims]]``, checked; declared when its TOML was last written."""
    if not exp.claims:
        return None
    path = Path(source) if source is not None else None
    if path is not None and path.is_file():
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        where = str(path)
    else:
        stamp, where = datetime.now(UTC), exp.name
    return parse(exp.claims, where, stamp.isoformat(timespec="seconds"))


def resolve_overrides(overrides: dict[str, Any], folder: Path | None = None) -> dict[str, Any]:
    """``dataset`` overrides given as a path (relative to ``folder``, default the working
    directory) or as a :class:`~smoothlearn.data.Dataset` become the dataset's name."""
    from smoothlearn.data import DataError, Dataset, userdata

    out = dict(overrides)
    value = out.get("dataset")
    if isinstance(value, Dataset):
        out["dataset"] = value.name
    elif isinstance(value, str):
        try:
            out["dataset"] = userdata.resolve_dataset(value, folder or Path.cwd(),
                                                      out.get("dataset_params", {}))
        except DataError as err:
            raise ConfigError(f"dataset: {err}") from None
    return out


def plan(experiment: str | os.PathLike[str] | Experiment, seeds: int | None = None,
         overrides: dict[str, Any] | None = None) -> tuple[Experiment, list[RunConfig],
                                                           Hypotheses | None]:
    """Everything checked, nothing written: the experiment, its runs and its hypotheses."""
    if isinstance(experiment, Experiment):
        exp, source = experiment, None
    else:
        exp, source = load_experiment(experiment), experiment
    configs = exp.runs(seeds=seeds, overrides=resolve_overrides(overrides or {}))
    return exp, configs, hypotheses_of(exp, source)


def run(experiment: str | os.PathLike[str] | Experiment, out: str | os.PathLike[str],
        seeds: int | None = None, overrides: dict[str, Any] | None = None,
        execution: Any = None) -> StudyRun:
    """Check a study, record its hypotheses in ``out``, then train what ``out`` lacks."""
    from smoothlearn.sweep import Execution, run_sweep

    exp, configs, hyps = plan(experiment, seeds, overrides)
    store = Path(out)
    store.mkdir(parents=True, exist_ok=True)
    if hyps is not None:
        hyps = record(store, hyps)
    summary = run_sweep(configs, store, execution or Execution())
    return StudyRun(exp, tuple(configs), summary, hyps, store)


def check(directory: str | os.PathLike[str],
          claims: str | os.PathLike[str] | None = None) -> StudyCheck:
    """Judge the runs of ``directory`` against its recorded hypotheses (or those of the TOML
    file ``claims``); write ``claims.json`` and ``report.html`` there."""
    result, frame = assess(directory, claims)
    write_report(result, frame, Path(directory))
    return result
