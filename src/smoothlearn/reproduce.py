"""``smoothlearn reproduce``: every built-in experiment, its figures, the checked claims, a report.

Each built-in experiment runs resumably through :func:`smoothlearn.sweep.run_sweep` into one
shared store, ``OUT/store/``, at the paper's settings (the TOML defaults: MNIST nets 5 seeds,
synthetic 100, autoencoders 50). Quick mode (``ReproduceOptions(quick=True)``) runs fewer
seeds and steps (each figure
unit's ``quick`` settings, :mod:`smoothlearn.figures`) so that the whole reproduction takes
under two minutes on two cores and still draws every figure.

Nothing here stops halfway: when MNIST cannot be had, one line says so and the synthetic
experiments go on; an experiment that fails is reported as failed in the report; a figure or
claim that cannot be computed says why in its place.

The store is shared because run ids hash the settings, not the experiment: a run that several
figures use (the LSTMs of A.8-A.10, the autoencoders of Fig 3 and A.13-A.15) trains once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from smoothlearn import analysis, figures, projection
from smoothlearn import claims as claims_mod
from smoothlearn.data import DataError, dataset_info, load_dataset
from smoothlearn.experiments import (
    MODELS,
    ConfigError,
    RunConfig,
    curves_frame,
    load_experiment,
    make_config,
)
from smoothlearn.figures.unit import FigureUnit, QuickSettings
from smoothlearn.report import headline
from smoothlearn.report.draw import FigureResult, save_figure, start_drawing
from smoothlearn.report.html import write_report
from smoothlearn.report.inputs import ExperimentInfo
from smoothlearn.results import training_seconds
from smoothlearn.runs import run_many
from smoothlearn.sweep import Execution, run_sweep, shared_workers
from smoothlearn.verdicts import ComparisonResult, Verdict, summarise

__all__ = ["reproduce", "ReproduceOptions", "Reproduction", "plan_experiments", "ExperimentInfo",
           "DEFAULT_OUT"]

DEFAULT_OUT = Path("runs") / "reproduce"
STORE = "store"


# ----------------------------------------------------------------------------- options
@dataclass(frozen=True)
class ReproduceOptions:
    """What to reproduce, checked when built (how to train: :class:`~smoothlearn.sweep.Execution`).

    ``experiments``: figure-unit ids (None: all); ``skip_models``: models whose runs are left
    out, e.g. the multi-hour LSTM; ``robustness``: add the robustness sweep (None: in full runs
    that include fig2, not in quick ones).
    """

    out: Path = DEFAULT_OUT
    quick: bool = False
    experiments: tuple[str, ...] | None = None
    skip_models: tuple[str, ...] = ()
    robustness: bool | None = None
    step_policy: str | int = "pre-exhaustion"

    def __post_init__(self) -> None:
        known = [unit.id for unit in figures.registry()]
        unknown = sorted(set(self.experiments or ()) - set(known))
        if unknown:
            raise ConfigError(f"--only: unknown experiment(s) {', '.join(unknown)}; choose "
                              f"from {', '.join(known)}")
        unknown = sorted(set(self.skip_models) - set(MODELS))
        if unknown:
            raise ConfigError(f"--skip-models: unknown model(s) {', '.join(unknown)}; choose "
                              f"from {', '.join(MODELS)}")


@dataclass(frozen=True)
class Reproduction:
    """Where the report is, and which experiments failed (none: every one ran or was skipped
    for missing MNIST)."""

    report: Path
    failed: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- planning
def _experiment_toml(source: str | Path) -> str:
    """The TOML text of a built-in experiment (by name) or of a file (by path)."""
    from importlib import resources

    path = Path(source)
    if path.suffix == ".toml":
        return path.read_text() if path.is_file() else ""
    resource = resources.files("smoothlearn") / "configs" / f"{source}.toml"
    return resource.read_text() if resource.is_file() else ""


def _plan_one(name: str, quick: bool,
              skip_models: Sequence[str]) -> tuple[ExperimentInfo, list[RunConfig]]:
    unit = figures.find(name)
    source = unit.toml_source if unit else name
    info = ExperimentInfo(name=name, toml=_experiment_toml(source))
    try:
        exp = load_experiment(source)
        info.figure, info.title = exp.figure, exp.title
        settings = unit.quick if unit and quick else QuickSettings()
        seeds, overrides, per_model = settings.apply(exp.seeds)
        info.seeds, info.overrides, info.model_overrides = seeds, overrides, per_model
        configs = exp.runs(seeds=seeds, overrides=overrides)
        configs = [_per_model(c, per_model) for c in configs if c.model not in skip_models]
        info.runs = len(configs)
        if not configs:
            info.status, info.message = "skipped", f"--skip-models {' '.join(skip_models)}"
        return info, configs
    except Exception as err:
        info.status, info.message = "failed", f"could not expand: {err}"
        return info, []


def plan_experiments(
    quick: bool, names: Sequence[str] | None = None, skip_models: Sequence[str] = ()
) -> list[tuple[ExperimentInfo, list[RunConfig]]]:
    """The experiments to run (every registered figure unit, in quick mode those with
    ``extension``; or ``names``), with their configs
    and, with ``quick``, each unit's quick settings. An experiment that fails to expand is
    planned as failed, not raised. ``skip_models`` drops those models' runs, e.g. the
    multi-hour LSTM baseline on a first full run."""
    names = names or [unit.id for unit in figures.registry() if not (quick and unit.extension)]
    return [_plan_one(name, quick, skip_models) for name in names]


def _per_model(config: RunConfig, per_model: dict[str, dict[str, Any]]) -> RunConfig:
    extra = per_model.get(config.model)
    if not extra:
        return config
    return make_config(**{**config.model_dump(), **extra})


# ----------------------------------------------------------------------------- running
def real_data_problem() -> str | None:
    """Why MNIST cannot be had (cache, SMOOTHLEARN_DATA or download), or None when it can."""
    try:
        load_dataset("mnist")
    except DataError as err:
        return str(err).strip().splitlines()[0] if str(err).strip() else "DataError"
    return None


def config_table(configs: Sequence[RunConfig]) -> pd.DataFrame:
    """Resolved settings per run_id: the config columns claims and figures filter on."""
    rows = []
    for config in configs:
        resolved = config.spec().record()
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


def later_siblings(configs: Sequence[RunConfig],
                   later: Sequence[RunConfig]) -> list[RunConfig]:
    """Runs of ``later`` experiments that train the same networks as ``configs`` and test them
    another way (:meth:`RunConfig.training_key`): swept with ``configs``, they share those
    trainings (``runs.run_many``) instead of training them again when their turn comes."""
    keys = {c.training_key() for c in configs}
    own = {c.run_id() for c in configs}
    out: dict[str, RunConfig] = {}
    for c in later:
        if c.run_id() not in own and c.training_key() in keys:
            out.setdefault(c.run_id(), c)
    return list(out.values())


def _run_experiment(info: ExperimentInfo, configs: list[RunConfig], out: Path,
                    execution: Execution, siblings: Sequence[RunConfig] = ()
                    ) -> pd.DataFrame | None:
    """Train what the shared store lacks of this experiment (and of ``siblings``, runs of
    later experiments that share its trainings), then load its runs."""
    start = time.perf_counter()
    try:
        summary = run_sweep([*configs, *siblings], out / STORE, execution)
        frame = load_frame(configs, out / STORE).assign(experiment=info.name)
        info.status = "failed" if summary.failed else "ok"
        info.message = summary.line() + (
            f"; {len(siblings)} of them belong to later experiments and test the same networks "
            "another way" if siblings else "")  # fmt: skip
        return frame
    except Exception as err:  # reported in the report; the other experiments go on
        info.status, info.message = "failed", f"{type(err).__name__}: {err}"
        return None
    finally:
        info.seconds = time.perf_counter() - start


def _say(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, flush=True)


def report_work(runnable: Sequence[tuple[ExperimentInfo, list[RunConfig]]]
                ) -> projection.ReportWork:
    """What :func:`_write_outputs` will do for these experiments, for the projected time: the
    units' drawings (and the scorecard), their claims, and the runs the hidden-unit analysis
    trains again (:func:`analyse`)."""
    units = [u for u in (figures.find(info.name) for info, _ in runnable) if u is not None]
    retrained = {c.run_id(): c for (info, configs) in runnable
                 if (unit := figures.find(info.name)) is not None and unit.analysed
                 for c in configs}
    return projection.ReportWork(drawings=1 + sum(len(u.drawings) for u in units),
                                 claims=sum(len(u.claims) for u in units),
                                 retrained=tuple(retrained.values()))


def reproduce(options: ReproduceOptions, execution: Execution) -> Reproduction:
    """Run every registered figure unit's experiment (or ``options.experiments``), then write
    figures, claims.json and the report into ``options.out``."""
    started = time.perf_counter()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    quick, experiments, skip_models = options.quick, options.experiments, options.skip_models
    robustness, engine, quiet = options.robustness, execution.engine, execution.quiet
    plans = plan_experiments(quick, experiments, skip_models)
    notes = []
    if skip_models:
        notes.append(f"Runs of {', '.join(skip_models)} were skipped (--skip-models): their "
                     "claims have no data.")
    needs_real = [i.name for i, c in plans
                  if c and any(dataset_info(x.dataset).real for x in c)]
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
    for info, _ in plans:
        if info.status not in ("failed", "skipped") and problem and info.name in needs_real:
            info.status, info.message = "skipped", "MNIST unavailable"
    runnable = [(info, configs) for info, configs in plans
                if info.status not in ("failed", "skipped")]  # fmt: skip
    # each experiment's sweep also trains the later experiments' runs that share its trainings
    siblings_of = [later_siblings(cs, [c for _, rest in runnable[at + 1:] for c in rest])
                   for at, (_, cs) in enumerate(runnable)]
    groups = [([*cs, *siblings], out / STORE)  # one sweep each, as below
              for (_, cs), siblings in zip(runnable, siblings_of, strict=True)]
    if with_sweep and not problem:
        groups.append((projection.robustness_runs(quick), out / "robustness" / STORE))
    projected = None if quiet else projection.announce(
        groups, execution.worker_count, engine, report_work(runnable),
        shared_pool=execution.executor == "local")
    with shared_workers(execution) as pool:  # one set of worker processes for all below
        for (info, configs), siblings in zip(runnable, siblings_of, strict=True):
            _say(f"{info.name}: {len(configs)} runs"
                 + (f" (+{len(siblings)} of later experiments, same trainings)"
                    if siblings else "")
                 + " ...", quiet)
            frame = _run_experiment(info, configs, out, execution, siblings)
            _say(f"{info.name}: {info.status} in {info.seconds:.1f} s"
                 + (f" ({info.message})" if info.message else ""), quiet)
            if frame is not None and len(frame):
                frames.append(frame)
        extra = [_robustness(out, quick, execution, problem, notes)] if with_sweep else []
        frame = pd.concat(frames, ignore_index=True) if frames else curves_frame([], [])
        if not with_sweep and _page([info for info, _ in plans]) is None:
            notes.append("The robustness matrix (which claims depend on which unstated "
                         "choice) is not part of this run: `smoothlearn robustness`, or "
                         "`smoothlearn reproduce --robustness`.")
        path = _write_outputs(out, frame, plans, quick, engine, options.step_policy, notes,
                              started, extra, pool)
    if projected:
        print(projected.versus(time.perf_counter() - started), flush=True)
    return Reproduction(path, tuple(i.name for i, _ in plans if i.status == "failed"))


def _robustness(out: Path, quick: bool, execution: Execution, mnist_problem: str | None,
                notes: list[str]) -> FigureResult:
    """The robustness sweep (``smoothlearn.robustness``) as one more figure of the report."""
    result = FigureResult("robustness", "robustness",
                                 "Robustness: which claims hold under which unstated choice")
    if mnist_problem:
        result.note = "not drawn: the robustness sweep needs MNIST"
        return result
    _say("robustness: sweep ...", execution.quiet)
    try:
        from smoothlearn import robustness

        res = robustness.run(robustness.RobustnessOptions(out / "robustness", quick=quick),
                             execution)
    except Exception as err:  # reported in its place; the report still gets written
        result.note = f"robustness sweep failed: {type(err).__name__}: {err}"
        notes.append(result.note)
        return result
    import shutil

    fig_dir = out / "figures"  # beside the other figures, where report.md links them
    fig_dir.mkdir(parents=True, exist_ok=True)
    result.png = Path(shutil.copy2(res.png, fig_dir / res.png.name))
    result.svg = Path(shutil.copy2(res.svg, fig_dir / res.svg.name))
    result.caption = (" ".join(line.replace("**", "") for line in res.summary)
                      + f" Details, every comparison and the autoencoder checks: "
                      f"{res.markdown.relative_to(out)}.")
    return result


def _write_outputs(out: Path, frame: pd.DataFrame, plans, quick: bool, engine: str,
                   step_policy: str | int, notes: list[str], started: float,
                   extra: Sequence[FigureResult] = (), executor: Executor | None = None) -> Path:
    """Figures, claims.json and the report; the figures are drawn on ``executor``'s workers
    (when given) while this process tests the claims."""
    infos = [info for info, _ in plans]
    page = _page(infos)
    inputs = analyse(plans, engine, notes)
    pending = start_drawing(frame, out / "figures", inputs,
                            only={i.name for i in infos} if page else None, executor=executor)
    results = _claims(frame, step_policy, notes, infos, inputs)
    records = [r.to_record() for r in results]
    declared = [c for unit in figures.registry() for c in unit.claims]
    rows = headline.headline_rows(results, {c.id: c.headline for c in declared if c.headline},
                                  statements={c.id: c.statement for c in declared
                                              if c.statement})
    depends = _depends_on(out, rows)
    rows = [replace(r, depends_on=depends.get(r.claim, "")) for r in rows]
    drawn = [_scorecard(rows, out / "figures"), *pending.results(), *extra]
    failed = [i.name for i in infos if i.status == "failed"]
    if failed:
        notes.append(f"Failed experiments: {', '.join(failed)} (see Experiments below).")
    run_ids = {c.run_id() for _, configs in plans for c in configs}
    meta = {"quick": quick, "seconds": time.perf_counter() - started, "notes": notes,
            "compute_seconds": training_seconds(out / STORE, run_ids),
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "step_policy": step_policy, "headline": [r.to_record() for r in rows],
            "page_title": figures.get(page).paper_ref if page else ""}
    payload = {"step_policy": str(step_policy), "quick": quick,
               "seconds": meta["seconds"], "compute_seconds": meta["compute_seconds"],
               "headline": meta["headline"],
               "summary": [c.to_record() for c in summarise(results)],
               "records": records,
               "notes": notes,
               "experiments": [asdict(i) | {"toml": None} for i in infos],
               "page": page}
    payload.update(_unit_tables(frame, infos, notes))
    meta["answers"] = payload["answers"] = _answers(frame, results, payload, infos, notes)
    from smoothlearn.results import strict_json

    (out / "claims.json").write_text(json.dumps(strict_json(payload), indent=2,
                                                default=_json_default, allow_nan=False))
    return write_report(out, records, drawn, infos, meta)


def _unit_tables(frame: pd.DataFrame, infos: Sequence[ExperimentInfo],
                 notes: list[str]) -> dict[str, Any]:
    """The extra ``claims.json`` tables of the units that ran (a failure is a note)."""
    out: dict[str, Any] = {}
    for info in infos:
        unit = figures.find(info.name)
        if info.status != "ok" or unit is None or unit.tables is None:
            continue
        try:
            out.update(unit.tables(frame[frame["experiment"] == unit.id]))
        except Exception as err:
            notes.append(f"{info.name}: extra tables failed: {type(err).__name__}: {err}")
    return out


def _answers(frame: pd.DataFrame, results: Sequence[ComparisonResult],
             tables: Mapping[str, Any], infos: Sequence[ExperimentInfo],
             notes: list[str]) -> list[str]:
    """The one-paragraph answers of the units that ran and declare one (a failure is a
    note, never a missing report)."""
    out = []
    for info in infos:
        unit = figures.find(info.name)
        if info.status != "ok" or unit is None or unit.answer is None:
            continue
        mine = [r for r in results if r.experiment == unit.id]
        try:
            out.append(unit.answer(frame[frame["experiment"] == unit.id], mine, tables))
        except Exception as err:
            notes.append(f"{info.name}: the answer failed: {type(err).__name__}: {err}")
    return out


def _page(infos: Sequence[ExperimentInfo]) -> str | None:
    """The docs page a run of one extension unit alone (e.g. ``--only moving``) is published
    as (``docs/<id>.md``), so that it never replaces the paper's reproduction; else None."""
    units = [figures.find(i.name) for i in infos]
    if len(units) == 1 and units[0] is not None and units[0].extension:
        return units[0].id
    return None


def _depends_on(out: Path, rows: Sequence[headline.HeadlineRow]) -> dict[str, str]:
    """Per claim, what its verdict depends on (:func:`smoothlearn.robustness.depends_on`),
    when the sweep ran into ``out/robustness`` (else empty): cells where the nets learned and
    whose label-free verdict differs from the row's headline verdict, so that a row never
    contradicts itself; cells whose nets did not learn are named as such."""
    from smoothlearn import robustness

    path = out / "robustness" / "robustness.json"
    if not path.is_file():
        return {}
    table = pd.DataFrame(json.loads(path.read_text()).get("table", []))
    if table.empty or "test_labels" not in table:  # a sweep written before the tiers
        return {}
    found = robustness.depends_on(table, {r.claim: r.label_free for r in rows})
    return {claim: dep.text() for claim, dep in found.items() if dep.text()}


def _scorecard(rows: Sequence[headline.HeadlineRow], fig_dir: Path) -> FigureResult:
    """The one-screen scorecard at the top of the report (and of the README)."""
    png, svg = save_figure(headline.scorecard_figure(rows), fig_dir, "scorecard")
    return FigureResult("scorecard", "scorecard", "Scorecard: which claims hold",
                        caption=("Each paper claim: its verdict from the comparisons that "
                                 "read no test labels (tier none: the headline), next to the "
                                 "paper's streamed protocol, labelled by its tier (order: a "
                                 "test stream ordered by its labels; resets: label resets at "
                                 "test), and each comparison's effect "
                                 "(mean paired difference over seeds / SD of the differences, "
                                 "95% t interval; positive = as the paper claims)."),
                        png=png, svg=svg)


def _claims(frame: pd.DataFrame, step_policy: str | int, notes: list[str],
            infos: Sequence[ExperimentInfo],
            inputs: dict[str, dict[str, Any]]) -> list[ComparisonResult]:
    """Every registered unit's claims, in claim order: the paper's read "no data" where they
    have no runs; an extension's appear only when it was planned; and a run of one extension
    alone (its own docs page) lists only that extension's claims."""
    results: list[ComparisonResult] = []
    planned = {i.name for i in infos}
    page = _page(infos)
    for unit in figures.claim_units():
        if unit.id not in planned and (unit.extension or page):
            continue
        results += claims_mod.evaluate_claims(frame, unit.judged_claims,
                                              step_policy=step_policy,
                                              efficiency_end=unit.efficiency_end)
        if unit.id in inputs:
            results += _analysis_claims(unit, inputs[unit.id]["table"], frame, notes)
    why = {i.name: f"experiment {i.status}: {i.message}" for i in infos if i.status != "ok"}
    return [replace(r, note=why[r.experiment])
            if r.decision.verdict == Verdict.NO_DATA and r.experiment in why else r
            for r in results]


def analyse(plans, engine: str, notes: list[str]) -> dict[str, dict[str, Any]]:
    """Hidden-unit analysis (``smoothlearn.analysis``) of the units that need it.

    The store keeps curves, not weights, so the (tiny, deterministic) autoencoders are trained
    again in-process to get their final weights; runs shared by several experiments (fig3,
    A.13-A.15 use the same run ids) are trained once.
    """
    cache: dict[str, Any] = {}
    out: dict[str, dict[str, Any]] = {}
    for info, configs in plans:
        unit = figures.find(info.name)
        if info.status != "ok" or unit is None or not unit.analysed:
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


def _analysis_claims(unit: FigureUnit, table: pd.DataFrame, frame: pd.DataFrame,
                     notes: list[str]) -> list[ComparisonResult]:
    """A unit's claims on its analysis table (e.g. timescale selectivity, A.13, A.14)."""
    if unit.analysis_claims is None:
        return []
    try:
        return list(unit.analysis_claims(table, frame[frame["experiment"] == unit.id]))
    except Exception as err:
        notes.append(f"{unit.id}: autoencoder claims failed: {type(err).__name__}: {err}")
        return []


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)

