"""Draw every registered figure (:mod:`smoothlearn.figures`) that has results; a figure that
cannot be drawn says why in its place instead of sinking the report."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from smoothlearn import claims as claims_mod
from smoothlearn import figures
from smoothlearn.figures.plotting import plots
from smoothlearn.figures.plotting.context import Context
from smoothlearn.figures.plotting.style import RC
from smoothlearn.figures.unit import Drawing, FigureUnit
from smoothlearn.streams import parse_condition


@dataclass
class FigureResult:
    """One figure of the report: files (or why there are none) and its caption."""

    id: str
    experiment: str
    title: str
    caption: str = ""
    png: Path | None = None
    svg: Path | None = None
    note: str = ""


def save_figure(fig: Figure, fig_dir: Path, fig_id: str) -> tuple[Path, Path]:
    fig_dir.mkdir(parents=True, exist_ok=True)
    png, svg = fig_dir / f"{fig_id}.png", fig_dir / f"{fig_id}.svg"
    fig.savefig(png, dpi=130, facecolor="white")
    fig.savefig(svg, facecolor="white")
    return png, svg


def first_exhaustion(frame: pd.DataFrame) -> int | None:
    """The step where the first class runs out in any repeat-N order of the frame's runs."""
    try:
        norm = claims_mod.normalise_frame(frame)
        norm = norm[norm["class_balance"] == "none"]
        first = norm.iloc[0]
        labels = claims_mod.training_labels(str(first["dataset"]), int(first["data_seed"]))
        if labels is None:
            return None
        pairs = norm[["condition", "order_seed"]].drop_duplicates()
        repeats = pairs["condition"].map(lambda c: parse_condition(c).kind == "repeat")
        pairs = pairs[repeats.astype(bool)]
        steps = [claims_mod.exhaustion_step(labels, str(first["dataset"]),
                                             int(first["data_seed"]), str(r.condition),
                                             int(r.order_seed)) for r in pairs.itertuples()]
        return min(steps) if steps else None
    except Exception:  # the marker is a courtesy; never fail a figure for it
        return None


def _context(frame: pd.DataFrame, drawing: Drawing) -> Context:
    every = plots.eval_every(frame)
    window = plots.moving_average_points(every) if drawing.smoothed else 0
    ctx = Context(window=window, every=every)
    if drawing.exhaustion:
        ctx.exhaustion = first_exhaustion(frame)
    return ctx


def _fallback_unit(experiment: str) -> FigureUnit:
    """Results of an experiment without a registered unit still get a figure."""
    return FigureUnit(experiment, "", (Drawing(experiment, f"{experiment}: test error per "
                                               "model", plots.model_curves),))


def _draw_one(drawing: Drawing, unit: FigureUnit, frame: pd.DataFrame,
              inputs: Mapping[str, Mapping[str, Any]], fig_dir: Path) -> FigureResult:
    result = FigureResult(drawing.id, unit.id, drawing.title)
    if frame.empty:
        result.note = f"not drawn: no results for experiment {unit.id!r}"
        return result
    if drawing.source == "analysis" and "table" not in inputs.get(unit.id, {}):
        result.note = "not drawn: no hidden-unit analysis for this experiment"
        return result
    try:
        with matplotlib.rc_context(RC):
            if drawing.source == "analysis":
                fig, result.caption = drawing.draw(inputs[unit.id])
            else:
                fig, result.caption = drawing.draw(frame, _context(frame, drawing))
            result.png, result.svg = save_figure(fig, fig_dir, drawing.id)
    except Exception as err:  # one broken figure must not sink the report
        result.note = f"figure failed: {type(err).__name__}: {err}"
    return result


def _units(frame: pd.DataFrame, only: Collection[str] | None) -> list[FigureUnit]:
    present = set(frame["experiment"]) if len(frame) else set()
    units = [u for u in figures.registry() if only is None or u.id in only]
    known = {u.id for u in figures.registry()}
    return units + [_fallback_unit(exp) for exp in sorted(present - known)]


def draw_unit(unit: FigureUnit, frame: pd.DataFrame, inputs: Mapping[str, Mapping[str, Any]],
              fig_dir: Path) -> list[FigureResult]:
    """Every drawing of one unit: ``frame`` holds the unit's rows, already normalised."""
    return [_draw_one(d, unit, frame, inputs, fig_dir) for d in unit.drawings]


def _portable(unit: FigureUnit) -> bool:
    """Whether a worker process can draw ``unit``: its drawing functions are this package's,
    which a worker imports by name. A unit registered from a script or a test is drawn in
    the calling process, where its functions live."""
    return all(getattr(d.draw, "__module__", "").startswith("smoothlearn.")
               for d in unit.drawings)


class PendingFigures:
    """Figures that worker processes are drawing while the caller does other work
    (:func:`start_drawing`); :meth:`results` waits for them."""

    def __init__(self, parts: list[tuple[tuple, Future | list[FigureResult]]]) -> None:
        self._parts = parts  # per unit: draw_unit's arguments, and its task or its figures

    def results(self) -> list[FigureResult]:
        """The figures in the order :func:`draw_figures` gives them. A unit whose worker
        failed (a dead process, say) is drawn here instead."""
        out: list[FigureResult] = []
        for args, part in self._parts:
            if isinstance(part, list):
                out += part
                continue
            try:
                out += part.result()
            except Exception:  # noqa: BLE001 - the drawing itself catches its own errors
                out += draw_unit(*args)
        return out


def start_drawing(
    frame: pd.DataFrame,
    fig_dir: Path,
    analysis_inputs: Mapping[str, Mapping[str, Any]] | None = None,
    only: Collection[str] | None = None,
    executor: Executor | None = None,
) -> PendingFigures:
    """:func:`draw_figures`, one unit per task on ``executor`` (drawn here and now without
    one). Why: saving ~40 PNG and SVG files is Python-bound, ~10 s of ``reproduce --quick``;
    its pool's idle workers draw while the main process tests the claims."""
    frame = claims_mod.normalise_frame(frame) if len(frame) else frame
    analysis_inputs = analysis_inputs or {}
    parts: list[tuple[tuple, Future | list[FigureResult]]] = []
    for unit in _units(frame, only):
        sub = frame[frame["experiment"] == unit.id] if len(frame) else frame
        inputs = {unit.id: analysis_inputs[unit.id]} if unit.id in analysis_inputs else {}
        args = (unit, sub, inputs, fig_dir)
        there = executor is not None and len(sub) and _portable(unit)
        parts.append((args, executor.submit(draw_unit, *args) if there else draw_unit(*args)))
    return PendingFigures(parts)


def draw_figures(
    frame: pd.DataFrame,
    fig_dir: Path,
    analysis_inputs: Mapping[str, Mapping[str, Any]] | None = None,
    only: Collection[str] | None = None,
) -> list[FigureResult]:
    """Every registered figure (results or not: those without say why), in the paper's order,
    then one per unregistered experiment in ``frame``; ``only``: just these units (a run of
    one extension alone draws only its own figures).

    ``analysis_inputs`` maps an autoencoder experiment to ``{"configs", "curves", "table"}``:
    its run configs, their :class:`~smoothlearn.contract.Curves` (with final weights) and the
    ``smoothlearn.analysis.analyse_runs`` table, for the hidden-unit figures (3E, A.12-A.15).
    """
    return start_drawing(frame, fig_dir, analysis_inputs, only).results()
