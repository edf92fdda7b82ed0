"""``smoothlearn reproduce``: every built-in experiment, its figures, the checked claims, a report.

Each built-in experiment runs resumably through :func:`smoothlearn.sweep.run_sweep` into one
shared store, ``OUT/store/``, at the paper's settings (the TOML defaults: MNIST nets 5 seeds,
synthetic 100, autoencoders 50). ``quick=True`` runs fewer seeds and steps
(:func:`quick_settings`) so that the whole reproduction takes under two minutes on two cores
and still draws every figure.

Nothing here stops halfway: when MNIST cannot be had, one line says so and the synthetic
experiments go on; an experiment that fails is reported as failed in the report; a figure or
claim that cannot be computed says why in its place.

The store is shared because run ids hash the settings, not the experiment: a run that several
figures use (the LSTMs of A.8-A.10, the autoencoders of Fig 3 and A.13-A.15) trains once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from smoothlearn import claims as claims_mod
from smoothlearn import report
from smoothlearn.experiments import (
    MODELS,
    Experiment,
    RunConfig,
    builtin_names,
    curves_frame,
    load_experiment,
    make_config,
    run_many,
)
from smoothlearn.sweep import failed_count, run_sweep
from smoothlearn.verdicts import ComparisonResult, summarise

__all__ = ["reproduce", "main_reproduce", "quick_settings", "plan_experiments", "DEFAULT_OUT"]

DEFAULT_OUT = Path("runs") / "reproduce"
STORE = "store"
REAL_DATASETS = ("mnist", "fashion-mnist")

# Quick mode: enough to draw every figure and exercise every claim, in < 2 min on 2 cores.
QUICK_REAL = {"steps": 6000, "eval_every": 200, "eval_items": 1000}
QUICK_REAL_SEEDS = 3
#: Mini-batch runs are evaluated at batch boundaries: keep their schedule a multiple of 16.
QUICK_MINIBATCH_EVAL = 320
#: The LSTM (reference trainer, BPTT: ~1k steps/s) is shrunk and stopped early; its
#: evaluation grid stays a subset of the other models', so comparisons remain paired.
QUICK_LSTM = {"hidden": 32, "steps": 1000}
QUICK_SYNTHETIC_SEEDS = 20
QUICK_AUTOENCODER_SEEDS = 10


# ----------------------------------------------------------------------------- planning
def _datasets(exp: Experiment) -> set[str]:
    found = {str(exp.base.get("dataset", "synthetic-categories"))}
    for grid in exp.grids:
        found.update(str(d) for d in grid.get("dataset", []))
    return found


def _models(exp: Experiment) -> set[str]:
    found = {str(exp.base.get("model", "feedforward"))}
    for grid in exp.grids:
        found.update(str(m) for m in grid.get("model", []))
    return found


def uses_real_data(exp: Experiment) -> bool:
    return bool(_datasets(exp) & set(REAL_DATASETS))


def quick_settings(exp: Experiment) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    """Seeds, overrides and per-model overrides of an experiment in quick mode.

    MNIST experiments are cut to a few thousand steps on a 1,000-item test subset, and their
    LSTMs (reference trainer only) are shrunk and cut further. Synthetic sets are small enough
    to keep whole epochs; they only get fewer seeds.
    """
    if uses_real_data(exp):
        overrides = dict(QUICK_REAL)
        if any(m.startswith("minibatch") for m in _models(exp)):
            overrides["eval_every"] = QUICK_MINIBATCH_EVAL
        per_model = {"lstm": dict(QUICK_LSTM)} if "lstm" in _models(exp) else {}
        return QUICK_REAL_SEEDS, overrides, per_model
    if any(d.startswith("multiscale") for d in _datasets(exp)):
        return min(exp.seeds, QUICK_AUTOENCODER_SEEDS), {}, {}
    return min(exp.seeds, QUICK_SYNTHETIC_SEEDS), {}, {}


def _experiment_toml(name: str) -> str:
    from importlib import resources

    resource = resources.files("smoothlearn") / "configs" / f"{name}.toml"
    return resource.read_text() if resource.is_file() else ""


def plan_experiments(
    quick: bool, names: Sequence[str] | None = None, skip_models: Sequence[str] = ()
) -> list[tuple[report.ExperimentInfo, list[RunConfig]]]:
    """The experiments to run, with their configs (an experiment that fails to expand is
    planned as failed, not raised). ``skip_models`` drops those models' runs, e.g. the
    multi-hour LSTM baseline on a first full run."""
    plans = []
    for name in names or builtin_names():
        info = report.ExperimentInfo(name=name, toml=_experiment_toml(name))
        try:
            exp = load_experiment(name)
            info.figure, info.title = exp.figure, exp.title
            seeds, overrides, per_model = quick_settings(exp) if quick else (exp.seeds, {}, {})
            info.seeds, info.overrides, info.model_overrides = seeds, overrides, per_model
            configs = exp.runs(seeds=seeds, overrides=overrides)
            configs = [_per_model(c, per_model) for c in configs if c.model not in skip_models]
            info.runs = len(configs)
            if not configs:
                info.status, info.message = "skipped", f"--skip-models {' '.join(skip_models)}"
            plans.append((info, configs))
        except Exception as err:
            info.status, info.message = "failed", f"could not expand: {err}"
            plans.append((info, []))
    return plans


def _per_model(config: RunConfig, per_model: dict[str, dict[str, Any]]) -> RunConfig:
    extra = per_model.get(config.model)
    if not extra:
        return config
    return make_config(**{**config.model_dump(), **extra})


# ----------------------------------------------------------------------------- running
def real_data_problem() -> str | None:
    """Why MNIST cannot be had (cache, SMOOTHLEARN_DATA or download), or None when it can."""
    from smoothlearn.data import DataError, load_dataset

    try:
        load_dataset("mnist")
    except DataError as err:
        return str(err).strip().splitlines()[0] if str(err).strip() else "DataError"
    return None


def _run_store(configs: Sequence[RunConfig], directory: Path, engine: str, executor: str,
               workers: int | None, quiet: bool, scheduler: str | None = None) -> str:
    """Train what the experiment's resumable store lacks; returns the sweep's summary line."""
    return str(run_sweep(list(configs), directory, engine=engine, executor=executor,
                         workers=workers, scheduler=scheduler, quiet=quiet))


def config_table(configs: Sequence[RunConfig]) -> pd.DataFrame:
    """Resolved settings per run_id: the config columns claims and figures filter on."""
    rows = []
    for config in configs:
        resolved = config.resolved()
        rows.append({
            "run_id": config.run_id(),
            **{k: resolved[k] for k in (
                "task", "lr", "optimizer", "loss", "reset", "test_reset", "class_balance",
                "order_seed", "init_seed", "data_seed", "epochs", "steps", "eval_every",
                "eval_items", "hidden", "batch_size", "output", "leak_grad")},
            "leak": json.dumps(resolved["leak"]),
            "dataset_params": json.dumps(resolved["dataset_params"], sort_keys=True),
        })
    return pd.DataFrame(rows)


def load_frame(configs: Sequence[RunConfig], directory: Path) -> pd.DataFrame:
    """This experiment's runs from its store (a store may also hold other runs), enriched with
    the config columns the store did not keep."""
    from smoothlearn import results

    table = config_table(configs)
    frame = results.load(directory, run_ids=table["run_id"])
    missing = [c for c in table.columns if c == "run_id" or c not in frame.columns]
    return frame.merge(table[missing], on="run_id", how="left")


def _run_experiment(info: report.ExperimentInfo, configs: list[RunConfig], out: Path,
                    engine: str, executor: str, workers: int | None,
                    quiet: bool, scheduler: str | None = None) -> pd.DataFrame | None:
    start = time.perf_counter()
    try:
        summary = _run_store(configs, out / STORE, engine, executor, workers, quiet,
                             scheduler)
        frame = load_frame(configs, out / STORE).assign(experiment=info.name)
        info.status = "failed" if failed_count(summary) else "ok"
        info.message = summary.strip().splitlines()[-1] if summary.strip() else ""
        return frame
    except Exception as err:  # reported in the report; the other experiments go on
        info.status, info.message = "failed", f"{type(err).__name__}: {err}"
        return None
    finally:
        info.seconds = time.perf_counter() - start


def _say(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, flush=True)


def reproduce(
    out: Path,
    quick: bool = False,
    executor: str = "local",
    workers: int | None = None,
    engine: str = "fast",
    quiet: bool = False,
    experiments: Sequence[str] | None = None,
    step_policy: str | int = "pre-exhaustion",
    scheduler: str | None = None,
    skip_models: Sequence[str] = (),
    robustness: bool | None = None,
) -> Path:
    """Run every built-in experiment (or ``experiments``), then write figures, claims.json and
    the report into ``out``; returns the path of ``report.html``."""
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plans = plan_experiments(quick, experiments, skip_models)
    notes = []
    if skip_models:
        notes.append(f"Runs of {', '.join(skip_models)} were skipped (--skip-models): their "
                     "claims have no data.")
    needs_real = [i.name for i, c in plans if c and any(x.dataset in REAL_DATASETS for x in c)]
    # The sweep re-checks Fig 2 on MNIST: by default it joins full runs that include fig2.
    with_sweep = (robustness if robustness is not None
                  else not quick and (experiments is None or "fig2" in experiments))
    problem = real_data_problem() if needs_real or with_sweep else None
    if problem:
        skipped = needs_real + (["the robustness sweep"] if with_sweep else [])
        line = (f"MNIST unavailable ({problem}); skipping {', '.join(skipped)} and running "
                "the synthetic experiments")
        print(line, flush=True)
        notes.append(line)
    frames = []
    for info, configs in plans:
        if info.status in ("failed", "skipped"):
            continue
        if problem and info.name in needs_real:
            info.status, info.message = "skipped", "MNIST unavailable"
            continue
        _say(f"{info.name}: {len(configs)} runs ...", quiet)
        frame = _run_experiment(info, configs, out, engine, executor, workers, quiet,
                                scheduler)
        _say(f"{info.name}: {info.status} in {info.seconds:.1f} s"
             + (f" ({info.message})" if info.message else ""), quiet)
        if frame is not None and len(frame):
            frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if frames else curves_frame([], [])
    extra = []
    if with_sweep:
        extra.append(_robustness(out, quick, engine, executor, workers, quiet, scheduler,
                                 problem, notes))
    else:
        notes.append("The robustness matrix (which claims depend on which unstated choice) is "
                     "left out of quick runs: `smoothlearn robustness --quick`, or "
                     "`smoothlearn reproduce --robustness`.")
    return _write_outputs(out, frame, plans, quick, engine, step_policy, notes, started, extra)


def _robustness(out: Path, quick: bool, engine: str, executor: str, workers: int | None,
                quiet: bool, scheduler: str | None, mnist_problem: str | None,
                notes: list[str]) -> report.FigureResult:
    """The robustness sweep (``smoothlearn.robustness``) as one more figure of the report."""
    result = report.FigureResult("robustness", "robustness",
                                 "Robustness: which claims hold under which unstated choice")
    if mnist_problem:
        result.note = "not drawn: the robustness sweep needs MNIST"
        return result
    _say("robustness: sweep ...", quiet)
    try:
        from smoothlearn import robustness

        res = robustness.run(out / "robustness", quick=quick, executor=executor,
                             workers=workers, engine=engine, quiet=quiet, scheduler=scheduler)
    except Exception as err:  # reported in its place; the report still gets written
        result.note = f"robustness sweep failed: {type(err).__name__}: {err}"
        notes.append(result.note)
        return result
    import shutil

    figures = out / "figures"  # beside the other figures, where report.md links them
    figures.mkdir(parents=True, exist_ok=True)
    result.png = Path(shutil.copy2(res["png"], figures / res["png"].name))
    result.svg = Path(shutil.copy2(res["svg"], figures / res["svg"].name))
    result.caption = (" ".join(line.replace("**", "") for line in res["summary"])
                      + f" Details, every comparison and the autoencoder checks: "
                      f"{res['markdown'].relative_to(out)}.")
    return result


def _write_outputs(out: Path, frame: pd.DataFrame, plans, quick: bool, engine: str,
                   step_policy: str | int, notes: list[str], started: float,
                   extra: Sequence[report.FigureResult] = ()) -> Path:
    infos = [info for info, _ in plans]
    inputs = analyse(plans, engine, notes)
    results = _claims(frame, step_policy, notes, infos, inputs)
    records = [r.to_record() for r in results]
    figures = report.draw_figures(frame, out / "figures", inputs) + list(extra)
    failed = [i.name for i in infos if i.status == "failed"]
    if failed:
        notes.append(f"Failed experiments: {', '.join(failed)} (see Experiments below).")
    meta = {"quick": quick, "seconds": time.perf_counter() - started, "notes": notes,
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "step_policy": step_policy}
    payload = {"step_policy": str(step_policy), "quick": quick,
               "summary": [c.to_record() for c in summarise(results)],
               "records": records,
               "notes": notes,
               "experiments": [asdict(i) | {"toml": None} for i in infos]}
    from smoothlearn.results import strict_json

    (out / "claims.json").write_text(json.dumps(strict_json(payload), indent=2,
                                                default=_json_default, allow_nan=False))
    return report.write_report(out, records, figures, infos, meta)


def _claims(frame: pd.DataFrame, step_policy: str | int, notes: list[str],
            infos: Sequence[report.ExperimentInfo],
            inputs: dict[str, dict[str, Any]]) -> list[ComparisonResult]:
    results = claims_mod.evaluate_claims(frame, step_policy=step_policy)
    results += _autoencoder_claims(inputs, frame, notes)
    why = {i.name: f"experiment {i.status}: {i.message}" for i in infos if i.status != "ok"}
    return [replace(r, note=why[r.experiment])
            if r.verdict == "no data" and r.experiment in why else r for r in results]


def uses_autoencoders(configs: Sequence[RunConfig]) -> bool:
    return any(c.dataset.startswith("multiscale") for c in configs)


def analyse(plans, engine: str, notes: list[str]) -> dict[str, dict[str, Any]]:
    """Hidden-unit analysis of the autoencoder experiments (``smoothlearn.analysis``).

    The store keeps curves, not weights, so the (tiny, deterministic) autoencoders are trained
    again in-process to get their final weights; runs shared by several experiments (fig3,
    A.13-A.15 use the same run ids) are trained once.
    """
    from smoothlearn import analysis

    cache: dict[str, Any] = {}
    out: dict[str, dict[str, Any]] = {}
    for info, configs in plans:
        if info.status != "ok" or not uses_autoencoders(configs):
            continue
        try:
            todo = list({c.run_id(): c for c in configs if c.run_id() not in cache}.values())
            if todo:
                cache.update(zip([c.run_id() for c in todo],
                                 run_many(todo, engine=engine), strict=True))  # type: ignore
            curves = [cache[c.run_id()] for c in configs]
            out[info.name] = {"configs": configs, "curves": curves,
                              "table": analysis.analyse_runs(configs, curves)}
        except Exception as err:
            notes.append(f"{info.name}: hidden-unit analysis failed: {type(err).__name__}: "
                         f"{err}")
    return out


#: Which experiment's analysis table carries which autoencoder claims (fig3's runs are
#: shared by A.13 and A.14; each claim is checked once).
_AE_CLAIMS = {"fig3": "selectivity", "figA12": "selectivity", "figA13": "features",
              "figA14": "a14"}


def _autoencoder_claims(inputs: dict[str, dict[str, Any]], frame: pd.DataFrame,
                        notes: list[str]) -> list[ComparisonResult]:
    """Timescale selectivity (``analysis.autoencoder_claims``), A.13 and A.14 claims."""
    from smoothlearn import analysis

    results: list[ComparisonResult] = []
    for exp, kind in _AE_CLAIMS.items():
        if exp not in inputs:
            continue
        table = inputs[exp]["table"]
        try:
            if kind == "selectivity":
                curves = frame[frame["experiment"] == exp]
                results += analysis.autoencoder_claims(table, curves_frame=curves)
            elif kind == "features":
                results += analysis.feature_error_claims(table)
            else:
                results += analysis.a14_claims(table)
        except Exception as err:
            notes.append(f"{exp}: autoencoder claims failed: {type(err).__name__}: {err}")
    return results


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def main_reproduce(args: Any) -> int:
    """CLI entry: 0 when every experiment ran (or was skipped for missing MNIST), else 1."""
    from smoothlearn.experiments import ConfigError

    unknown = sorted(set(getattr(args, "only", None) or []) - set(builtin_names()))
    if unknown:
        raise ConfigError(f"--only: unknown experiment(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(builtin_names())}")
    unknown = sorted(set(getattr(args, "skip_models", None) or []) - set(MODELS))
    if unknown:
        raise ConfigError(f"--skip-models: unknown model(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(MODELS)}")
    out = Path(getattr(args, "out", None) or DEFAULT_OUT)
    path = reproduce(
        out,
        quick=bool(getattr(args, "quick", False)),
        executor=getattr(args, "executor", "local") or "local",
        workers=getattr(args, "workers", None),
        engine=getattr(args, "engine", "fast") or "fast",
        quiet=bool(getattr(args, "quiet", False)),
        experiments=getattr(args, "only", None),
        scheduler=getattr(args, "scheduler", None),
        skip_models=tuple(getattr(args, "skip_models", None) or ()),
        robustness=getattr(args, "robustness", None),
    )
    print(f"report: {path}")
    data = json.loads((out / "claims.json").read_text())
    failed = [e["name"] for e in data["experiments"] if e["status"] == "failed"]
    if failed:
        print(f"failed experiments: {', '.join(failed)}")
    return 1 if failed else 0
