"""Figures of the paper and a self-contained HTML report (plus a Markdown twin).

Every figure is drawn from a tidy results frame (``smoothlearn.results.load`` or
``experiments.curves_frame``): curves are means over seeds with a ±1 SEM band; bars are means
at the claims' measurement step with the paper's bootstrap error bars. Colours are fixed per
condition (:data:`CONDITION_COLORS`) and per model (:data:`MODEL_COLORS`), so one colour means
one thing in every figure. Matplotlib is used through ``Figure`` objects (Agg canvas), never
``pyplot``, so drawing needs no display and no global state.

The report (``report.html``) embeds its images as base64 PNGs and its styles inline: it opens
from a file with no network. ``report.md`` says the same for GitHub, linking the PNGs.
"""

from __future__ import annotations

import base64
import html
import json
import math
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from smoothlearn import claims as claims_mod
from smoothlearn import stats
from smoothlearn.verdicts import ComparisonResult, summarise

__all__ = [
    "CONDITION_COLORS",
    "MODEL_COLORS",
    "FigureResult",
    "ExperimentInfo",
    "draw_figures",
    "write_report",
    "seed_curves",
    "moving_average_points",
    "OPEN_SETTINGS",
]

# ----------------------------------------------------------------------------- style
#: One colour per smoothness condition in every figure (Okabe-Ito, ordered by smoothness).
CONDITION_COLORS: dict[str, str] = {
    "random": "#4D4D4D",
    "repeat-1": "#0072B2",
    "repeat-3": "#009E73",
    "repeat-5": "#E69F00",
    "repeat-10": "#D55E00",
    "repeat-16": "#CC79A7",
    "repeat-24": "#8C564B",
    "given": "#56B4E9",
}
#: One colour per model, for figures whose lines are models rather than conditions.
MODEL_COLORS: dict[str, str] = {
    "feedforward": "#4D4D4D",
    "leaky": "#0072B2",
    "leaky-reset": "#D55E00",
    "leaky-localreset": "#E69F00",
    "lstm": "#009E73",
    "minibatch-feedforward": "#CC79A7",
    "ae-feedforward": "#4D4D4D",
    "ae-leaky": "#0072B2",
    "ae-multiscale": "#56B4E9",
    "ae-leaky-reset": "#D55E00",
    "ae-multiscale-reset": "#E69F00",
}
MODEL_LABELS: dict[str, str] = {
    "feedforward": "Feedforward",
    "leaky": "Leaky memory",
    "leaky-reset": "Leaky memory + reset",
    "leaky-localreset": "Leaky memory + local reset",
    "lstm": "LSTM (BPTT)",
    "minibatch-feedforward": "Mini-batch (16)",
    "ae-feedforward": "No memory",
    "ae-leaky": "Leaky memory",
    "ae-multiscale": "Multiscale leaky memory",
    "ae-leaky-reset": "Leaky memory + reset",
    "ae-multiscale-reset": "Multiscale leaky memory + reset",
}
SHORT_LABELS = {
    "ae-feedforward": "No memory",
    "ae-leaky": "Leaky",
    "ae-multiscale": "Multiscale",
    "ae-leaky-reset": "Leaky\n+ reset",
    "ae-multiscale-reset": "Multiscale\n+ reset",
}
METRIC_LABELS = {
    "test_mse": "Test error (MSE)",
    "test_ce": "Test error (cross-entropy)",
    "test_acc": "Test accuracy (%)",
}
_FALLBACK = ["#1F77B4", "#FF7F0E", "#2CA02C", "#9467BD", "#17BECF", "#BCBD22", "#7F7F7F"]
STEP_LABEL = "Training step (items seen)"
#: Fraction of the run shown in the "early" panel of early/late figures (A.3, A.6).
EARLY_PANEL = 0.2

RC = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.7,
    "svg.fonttype": "none",
}


def _sort_key(cond: str) -> tuple[int, float, str]:
    """random first, then repeat-N by N, then the rest: the paper's order of conditions."""
    if cond == "random":
        return (0, 0.0, cond)
    if cond.startswith("repeat-"):
        return (1, float(cond.split("-")[1]), cond)
    return (2, 0.0, cond)


def condition_color(cond: str) -> str:
    return CONDITION_COLORS.get(cond, _FALLBACK[sum(map(ord, cond)) % len(_FALLBACK)])


def model_color(model: str) -> str:
    return MODEL_COLORS.get(model, _FALLBACK[sum(map(ord, model)) % len(_FALLBACK)])


def _kilo(x: float, _pos: Any = None) -> str:
    return f"{x / 1000:g}k" if abs(x) >= 1000 else f"{x:g}"


def _new_figure(width: float, height: float) -> Figure:
    """A figure with the report's style (callers run inside ``matplotlib.rc_context(RC)``)."""
    return Figure(figsize=(width, height), layout="constrained", dpi=110)


def _style_axes(ax, metric: str | None = None, xlabel: bool = True) -> None:
    ax.xaxis.set_major_formatter(FuncFormatter(_kilo))
    if xlabel:
        ax.set_xlabel(STEP_LABEL)
    if metric:
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if metric == "test_acc":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{100 * v:.0f}"))


# ----------------------------------------------------------------------------- aggregation
def eval_every(frame: pd.DataFrame) -> int:
    """The spacing of evaluation points (median over runs), to size the moving average."""
    gaps = frame.sort_values("step").groupby("run_id")["step"].diff().dropna()
    gaps = gaps[gaps > 0]
    return int(gaps.median()) if len(gaps) else 0


def moving_average_points(every: int, window_steps: int = 100) -> int:
    """Points in a ``window_steps`` moving average: only when points are closer than that."""
    if every <= 0 or every >= window_steps:
        return 1
    return max(1, round(window_steps / every))


def seed_curves(
    frame: pd.DataFrame, keys: Sequence[str], metric: str, window: int = 1
) -> pd.DataFrame:
    """Mean over seeds and SEM per ``keys`` and step, after a trailing moving average per run."""
    cols = [*keys, "seed", "step", metric]
    data = frame[cols].dropna(subset=[metric]).sort_values([*keys, "seed", "step"])
    if window > 1:
        data[metric] = data.groupby([*keys, "seed"], dropna=False)[metric].transform(
            lambda s: s.rolling(window, min_periods=1).mean()
        )
    grouped = data.groupby([*keys, "step"], dropna=False)[metric]
    out = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    out["sem"] = out["sd"] / np.sqrt(out["n"])
    return out


def _measure_step(runs: pd.DataFrame) -> int:
    """The claims' end-of-epoch-1 step (before any class runs out) for bar figures."""
    return claims_mod.choose_step(claims_mod.normalise_frame(runs)).step


def _values_at(frame: pd.DataFrame, step: int, metric: str) -> pd.Series:
    at = frame[frame["step"] == step]
    return at.groupby("seed")[metric].mean()


# ----------------------------------------------------------------------------- drawing
@dataclass
class Context:
    """What a figure function needs besides its frame: smoothing and the exhaustion marker."""

    window: int = 0  # moving-average points; 0: the paper used none for this figure
    every: int = 0
    exhaustion: int | None = None
    notes: list[str] = field(default_factory=list)


def _band(ax, curve: pd.DataFrame, color: str, label: str | None, style: str = "-",
          metric: str = "test_mse", alpha: float = 0.18, lw: float | None = None) -> None:
    x = curve["step"].to_numpy()
    y = curve["mean"].to_numpy()
    ax.plot(x, y, style, color=color, label=label, lw=lw)
    sem = curve["sem"].to_numpy()
    if np.isfinite(sem).any():
        sem = np.nan_to_num(sem)
        ax.fill_between(x, y - sem, y + sem, color=color, alpha=alpha, lw=0)


def _curves_by(ax, frame: pd.DataFrame, key: str, metric: str, ctx: Context,
               color_of: Callable[[str], str], style_of: Callable[[Any], str] | None = None,
               extra_keys: Sequence[str] = ()) -> list[str]:
    """Draw one mean±SEM curve per value of ``key``; returns the values in legend order."""
    if frame.empty:
        return []
    curves = seed_curves(frame, [key, *extra_keys], metric, ctx.window)
    values = sorted(curves[key].dropna().unique(), key=lambda v: _sort_key(str(v)))
    for value in values:
        sub = curves[curves[key] == value]
        for _extra, part in sub.groupby(list(extra_keys)) if extra_keys else [(None, sub)]:
            style = style_of(part.iloc[0]) if style_of else "-"
            _band(ax, part, color_of(str(value)), None, style, metric)
    return [str(v) for v in values]


def _exhaustion_marker(ax, ctx: Context) -> None:
    if ctx.exhaustion is None:
        return
    lo, hi = ax.get_xlim()
    if lo < ctx.exhaustion < hi:
        ax.axvline(ctx.exhaustion, color="#999999", ls=":", lw=1)


def _condition_legend(fig: Figure, conditions: Iterable[str], extra: Sequence[Any] = (),
                      title: str = "Training order") -> None:
    handles = [Line2D([], [], color=condition_color(c), lw=2.2, label=c) for c in conditions]
    handles += list(extra)
    fig.legend(handles=handles, loc="outside right upper", title=title, title_fontsize=9)


def _model_legend(fig: Figure, models: Iterable[str], extra: Sequence[Any] = (),
                  title: str = "Model") -> None:
    handles = [Line2D([], [], color=model_color(m), lw=2.2, label=MODEL_LABELS.get(m, m))
               for m in models]
    handles += list(extra)
    fig.legend(handles=handles, loc="outside right upper", title=title, title_fontsize=9)


def _exhaustion_handle(ctx: Context, frame: pd.DataFrame) -> list[Any]:
    """A legend entry for the exhaustion marker, when the marker falls inside the curves."""
    if ctx.exhaustion is None or ctx.exhaustion >= frame["step"].max():
        return []
    return [Line2D([], [], color="#999999", ls=":", lw=1, label="first class runs out")]


def _panel_title(ax, letter: str, text: str) -> None:
    ax.set_title(f"{letter}  {text}" if letter else text, loc="left")


def _early_late(ax_early, ax_late, frame: pd.DataFrame, metric: str, ctx: Context) -> list[str]:
    """Same curves twice, zoomed on the first EARLY_PANEL of training and on the rest."""
    conds: list[str] = []
    for ax in (ax_early, ax_late):
        conds = _curves_by(ax, frame, "condition", metric, ctx, condition_color)
    last = float(frame["step"].max())
    cut = EARLY_PANEL * last
    ax_early.set_xlim(0, cut)
    ax_late.set_xlim(cut, last)
    for ax, (lo, hi) in ((ax_early, (0, cut)), (ax_late, (cut, last))):
        _autoscale_y(ax, frame, metric, lo, hi, ctx)
        _style_axes(ax, metric)
        _exhaustion_marker(ax, ctx)
    return conds


def _autoscale_y(ax, frame: pd.DataFrame, metric: str, lo: float, hi: float,
                 ctx: Context) -> None:
    curves = seed_curves(frame, ["run_id"], metric, ctx.window)
    inside = curves[(curves["step"] >= lo) & (curves["step"] <= hi)]["mean"]
    inside = inside[np.isfinite(inside)]
    if len(inside):
        ymin, ymax = float(inside.min()), float(inside.max())
        pad = 0.06 * (ymax - ymin or abs(ymax) or 1.0)
        ax.set_ylim(ymin - pad, ymax + pad)


def _bars(ax, groups: Sequence[tuple[str, np.ndarray]], colors: Sequence[str]) -> None:
    """Bars of means with the paper's error bars (SD of 10,000 bootstrap means)."""
    x = np.arange(len(groups))
    means = [float(np.mean(v)) if len(v) else math.nan for _, v in groups]
    errs = [stats.bootstrap_sd(v) if len(v) else math.nan for _, v in groups]
    ax.bar(x, means, yerr=errs, color=colors, capsize=3, width=0.7,
           error_kw={"elinewidth": 1, "ecolor": "#333333"})
    ax.set_xticks(x, [g for g, _ in groups], rotation=30, ha="right", fontsize=8.5)
    ax.grid(False, axis="x")
    ax.set_axisbelow(True)


# ----------------------------------------------------------------------------- figures
FigureFn = Callable[[pd.DataFrame, Context], tuple[Figure, str]]


def _caption_curves(ctx: Context, frame: pd.DataFrame) -> str:
    seeds = frame["seed"].nunique()
    if ctx.window > 1:
        smooth = (f"smoothed with the paper's 100-step moving average ({ctx.window} points, "
                  f"evaluated every {ctx.every} steps)")
    elif ctx.window == 1:
        smooth = (f"evaluated every {ctx.every} steps, so the paper's 100-step moving average "
                  "is not applied (it would span at most one point)")
    else:
        smooth = f"evaluated every {ctx.every} steps, no smoothing"
    marker = ""
    if ctx.exhaustion is not None and ctx.exhaustion < frame["step"].max():
        marker = (f" The dotted line marks where the first class runs out in a repeat-N order "
                  f"(step {ctx.exhaustion}); claims are measured before it.")
    elif ctx.exhaustion is not None:
        marker = (f" No class runs out within these curves (the first does at step "
                  f"{ctx.exhaustion} of a full repeat-N epoch).")
    return f"Mean over {seeds} seeds, band ±1 SEM; {smooth}.{marker}"


def fig2(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    panels = [
        ("A", "Feedforward", {"model": "feedforward"}),
        ("B", "Leaky memory", {"model": "leaky"}),
        ("C", "Leaky + reset (memory off)", {"model": "leaky-reset", "test_mode": "off"}),
        ("C′", "Leaky + reset (streamed)", {"model": "leaky-reset", "test_mode": "same"}),
    ]
    panels = [p for p in panels if not claims_mod.select_runs(frame, p[2]).empty]
    fig = _new_figure(3.1 * len(panels) + 1.6, 6.2)
    axes = fig.subplots(2, len(panels), sharey="row", squeeze=False)
    reference = claims_mod.select_runs(frame, {"model": "feedforward", "condition": "random"})
    conds: list[str] = []
    for col, (letter, title, where) in enumerate(panels):
        sub = claims_mod.select_runs(frame, where)
        for row, metric in enumerate(("test_mse", "test_acc")):
            ax = axes[row, col]
            conds = _curves_by(ax, sub, "condition", metric, ctx, condition_color) or conds
            if col > 0 and not reference.empty:
                ref = seed_curves(reference, ["model"], metric, ctx.window)
                ax.plot(ref["step"], ref["mean"], "--", color="#999999", lw=1.1)
            _style_axes(ax, metric if col == 0 else None, xlabel=row == 1)
            _exhaustion_marker(ax, ctx)
            if row == 0:
                _panel_title(ax, letter, title)
    ref_handle = [Line2D([], [], color="#999999", ls="--", lw=1.1,
                         label="feedforward, random\n(reference)")]
    _condition_legend(fig, conds, ref_handle + _exhaustion_handle(ctx, frame))
    caption = ("Figure 2. Test error (MSE, top) and accuracy (bottom) during one epoch of "
               "per-sample SGD on MNIST (784-392-10, lr 0.01), per training order. A: "
               "feedforward; B: leaky memory (α = 0.5); C: leaky memory with resets at "
               "category boundaries, tested with memory off; C′: the same nets tested streamed "
               "in their training order with label resets on the test stream (this protocol "
               "reads test labels). The dashed grey line repeats A's random curve. "
               + _caption_curves(ctx, frame))
    return fig, caption


def _power_of_ten(values: np.ndarray) -> int:
    """Exponent for an axis label (``× 10^-5``) instead of matplotlib's detached offset."""
    finite = np.abs(values[np.isfinite(values)])
    if not finite.size or finite.max() == 0:
        return 0
    power = int(np.floor(np.log10(finite.max())))
    return power if abs(power) >= 3 else 0


def figA1(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    tasks = [t for t in ("classify", "reconstruct") if t in set(frame["task"])]
    fig = _new_figure(3.4 * len(tasks) + 0.4, 3.6)
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    steps = []
    for ax, task in zip(axes, tasks, strict=True):
        sub = frame[frame["task"] == task]
        step = _measure_step(sub)
        steps.append(step)
        base = _values_at(sub[sub["condition"] == "random"], step, "test_mse")
        conds = sorted((c for c in sub["condition"].unique() if c != "random"), key=_sort_key)
        groups = []
        for cond in conds:
            vals = _values_at(sub[sub["condition"] == cond], step, "test_mse")
            pair = pd.concat([base.rename("r"), vals.rename("c")], axis=1).dropna()
            groups.append((cond, (pair["r"] - pair["c"]).to_numpy()))
        scale = _power_of_ten(np.concatenate([v for _, v in groups]))
        _bars(ax, [(c, v / 10.0**scale) for c, v in groups],
              [condition_color(c) for c, _ in groups])
        ax.axhline(0, color="#4D4D4D", ls="--", lw=1)
        name = "Classification (16-8-4)" if task == "classify" else "Reconstruction (16-4-16)"
        _panel_title(ax, "", name)
        unit = f" × 10^{scale}" if scale else ""
        ax.set_ylabel(f"Error(random) − Error(condition)\n(MSE{unit}; > 0: better than random)")
    caption = ("Figure A.1. Difference between the test error after random sampling and after "
               "each other order, at the end of the first epoch (step "
               f"{', '.join(map(str, sorted(set(steps))))}), synthetic A.2 data; the dashed "
               f"line is the random baseline. Bars: mean over {frame['seed'].nunique()} seeds; "
               "error bars: SD of 10,000 bootstrap means (as in the paper).")
    return fig, caption


def _early_late_figure(frame: pd.DataFrame, ctx: Context, metric: str,
                       what: str) -> tuple[Figure, str]:
    """Early and late panels per training order (Figs A.3, A.6)."""
    fig = _new_figure(9.0, 3.5)
    ax_e, ax_l = fig.subplots(1, 2)
    conds = _early_late(ax_e, ax_l, frame, metric, ctx)
    _panel_title(ax_e, "", "Early in training")
    _panel_title(ax_l, "", "Later in training")
    _condition_legend(fig, conds, _exhaustion_handle(ctx, frame))
    caption = (f"{what} on MNIST, per training order; left: the first {EARLY_PANEL:.0%} of "
               "training, right: the rest. " + _caption_curves(ctx, frame))
    return fig, caption


def figA3(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    return _early_late_figure(frame, ctx, "test_ce", "Figure A.3. Test error (cross-entropy) "
                              "of feedforward nets trained with cross-entropy loss")


def _dots(ax, x: float, values: np.ndarray, color: str, marker: str, filled: bool) -> None:
    """Mean with the paper's error bar (SD of 10,000 bootstrap means) as a point range."""
    if not len(values):
        return
    mean, err = float(np.mean(values)), stats.bootstrap_sd(values)
    ax.errorbar([x], [mean], yerr=[err], fmt=marker, color=color, ms=7, capsize=3, lw=1.2,
                mfc=color if filled else "white", mew=1.5)


_MODE_MARKERS = {"off": ("o", True), "same": ("s", False), "repeat-1": ("D", False),
                 "random": ("^", False)}


def figA4(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    panels = [("Feedforward (reference)", "feedforward"), ("Leaky memory", "leaky"),
              ("Leaky memory + reset", "leaky-reset")]
    panels = [p for p in panels if p[1] in set(frame["model"])]
    fig = _new_figure(3.0 * len(panels) + 1.9, 3.6)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    step = _measure_step(frame[frame["test_mode"] == "off"])
    conds = sorted(frame["condition"].unique(), key=_sort_key)
    modes = sorted(frame["test_mode"].unique(), key=lambda m: m != "off")
    for ax, (title, model) in zip(axes, panels, strict=True):
        sub = frame[frame["model"] == model]
        for i, cond in enumerate(conds):
            for j, mode in enumerate(modes):
                part = sub[(sub["condition"] == cond) & (sub["test_mode"] == mode)]
                shift = 0.0 if len(modes) == 1 else (j - (len(modes) - 1) / 2) * 0.28
                marker, filled = _MODE_MARKERS.get(mode, ("v", False))
                _dots(ax, i + shift, _values_at(part, step, "test_mse").to_numpy(),
                      condition_color(cond), marker, filled)
        ax.set_xticks(range(len(conds)), conds, rotation=30, ha="right")
        ax.set_xlim(-0.6, len(conds) - 0.4)
        ax.grid(False, axis="x")
        _panel_title(ax, "", title)
    axes[0].set_ylabel(f"Test error (MSE) at step {step}")
    handles = [Line2D([], [], color="#4D4D4D", marker=_MODE_MARKERS[m][0], ls="",
                      mfc="#4D4D4D" if _MODE_MARKERS[m][1] else "white", mew=1.5,
                      label={"off": "memory off at test",
                             "same": "streamed test, label\nresets (reads test labels)"
                             }.get(m, f"streamed as {m}"))
               for m in modes if m in _MODE_MARKERS]
    fig.legend(handles=handles, loc="outside right upper", title="Test protocol",
               title_fontsize=9)
    caption = ("Figure A.4. Test error at the end of the first epoch (step "
               f"{step}) on synthetic A.2 data (16-8-4, lr 0.01), per training order, for "
               "feedforward nets (reference), leaky memory, and leaky memory with resets at "
               "category boundaries, tested with memory off (filled) or streamed in the "
               "training order with label resets (open squares). Points: mean over "
               f"{frame['seed'].nunique()} seeds; error bars: SD of 10,000 bootstrap means.")
    return fig, caption


def figA5(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    panels = [(m, MODEL_LABELS[m]) for m in ("minibatch-feedforward", "leaky-reset")
              if m in set(frame["model"])]
    fig = _new_figure(3.4 * len(panels) + 1.6, 5.8)
    axes = fig.subplots(2, len(panels), sharey="row", squeeze=False)
    conds: list[str] = []
    for col, (model, title) in enumerate(panels):
        sub = frame[frame["model"] == model]
        for row, metric in enumerate(("test_mse", "test_acc")):
            ax = axes[row, col]
            conds = _curves_by(ax, sub, "condition", metric, ctx, condition_color) or conds
            _style_axes(ax, metric if col == 0 else None, xlabel=row == 1)
            _exhaustion_marker(ax, ctx)
            if row == 0:
                _panel_title(ax, "", title)
    _condition_legend(fig, conds, _exhaustion_handle(ctx, frame))
    caption = ("Figure A.5. Mini-batch training (batches of 16 consecutive items, left) and "
               "per-sample leaky memory + reset (memory off at test, right) respond "
               "differently to repetition: test error (top) and accuracy (bottom) on MNIST, "
               "784-392-10, SGD lr 0.01. " + _caption_curves(ctx, frame))
    return fig, caption


def figA6(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    return _early_late_figure(frame, ctx, "test_mse", "Figure A.6. Test error (MSE) of "
                              "mini-batch training (batch 16)")


def _variant(row: pd.Series) -> str:
    reset = str(row["reset"])
    if row["model"] == "feedforward":
        return "feedforward"
    if reset == "never":
        return "leaky"
    if reset == "label":
        return "leaky + reset at labels"
    return f"leaky + reset {reset.replace('-', ' ')}"


VARIANT_COLORS = {
    "feedforward": MODEL_COLORS["feedforward"],
    "leaky": MODEL_COLORS["leaky"],
    "leaky + reset at labels": MODEL_COLORS["leaky-reset"],
    "leaky + reset every 2": "#CC79A7",
    "leaky + reset every 3": "#E69F00",
}


def figA7(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    frame = frame.copy()
    ff_reset = (frame["model"] == "feedforward") & (frame["reset"] != "never")
    frame = frame[~ff_reset]
    frame["variant"] = frame.apply(_variant, axis=1)
    tasks = [t for t in ("reconstruct", "classify") if t in set(frame["task"])]
    fig = _new_figure(3.6 * len(tasks) + 1.9, 3.6)
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    variants: list[str] = []
    for ax, task in zip(axes, tasks, strict=True):
        sub = frame[frame["task"] == task]
        got = _curves_by(ax, sub, "variant", "test_mse", ctx,
                         lambda v: VARIANT_COLORS.get(v, "#7F7F7F"))
        variants += [v for v in got if v not in variants]
        _style_axes(ax, "test_mse")
        _panel_title(ax, "", "Reconstruction (16-4-16)" if task == "reconstruct"
                     else "Classification (16-8-4)")
    handles = [Line2D([], [], color=VARIANT_COLORS.get(v, "#7F7F7F"), lw=2.2, label=v)
               for v in variants]
    fig.legend(handles=handles, loc="outside right upper", title="Model", title_fontsize=9)
    caption = ("Figure A.7. On a stream whose consecutive items share no features (A.7), "
               "leaky memory, with or without resets (at category boundaries or every 2 or 3 "
               "items), does not help: test error (MSE) for reconstruction (left) and "
               "classification (right). Feedforward nets are unaffected by resets and shown "
               "once. " + _caption_curves(ctx, frame))
    return fig, caption


def figA8(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    fig = _new_figure(8.6, 3.5)
    axes = fig.subplots(1, 2)
    conds: list[str] = []
    for ax, metric in zip(axes, ("test_mse", "test_acc"), strict=True):
        conds = _curves_by(ax, frame, "condition", metric, ctx, condition_color) or conds
        _style_axes(ax, metric)
    _panel_title(axes[0], "", "LSTM test error")
    _panel_title(axes[1], "", "LSTM test accuracy")
    _condition_legend(fig, conds)
    hidden = _hidden_note(frame)
    caption = ("Figure A.8. An LSTM trained per sample with truncated BPTT (10 items) on MNIST, "
               "per training order, tested streamed in its training order." + hidden + " "
               + _caption_curves(ctx, frame))
    return fig, caption


def _hidden_note(frame: pd.DataFrame) -> str:
    if "hidden" in frame.columns:
        sizes = frame.loc[frame["model"] == "lstm", "hidden"].dropna().unique()
        if len(sizes) and any(int(s) != 392 for s in sizes):
            return f" LSTM hidden size here: {', '.join(str(int(s)) for s in sizes)} (quick)."
    return ""


_MODE_STYLE = {"same": "-", "off": "-", "repeat-1": "--", "random": ":"}


def figA9(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    levels = [c for c in ("repeat-5", "repeat-10") if c in set(frame["condition"])]
    fig = _new_figure(3.6 * len(levels) + 2.0, 3.6)
    axes = fig.subplots(1, len(levels), sharey=True, squeeze=False)[0]
    models = sorted(frame["model"].unique(), key=lambda m: ["lstm", "leaky-reset",
                                                            "feedforward"].index(m)
                    if m in ("lstm", "leaky-reset", "feedforward") else 9)
    for ax, level in zip(axes, levels, strict=True):
        for cond, style in ((level, "-"), ("repeat-1", "--")):
            sub = frame[frame["condition"] == cond]
            _curves_by(ax, sub, "model", "test_mse", ctx, model_color,
                       style_of=lambda _r, s=style: s)
        _style_axes(ax, "test_mse" if ax is axes[0] else None)
        _panel_title(ax, "", f"Trained and tested as {level}")
    extra = [Line2D([], [], color="#4D4D4D", ls="-", label="trained as the panel's order"),
             Line2D([], [], color="#4D4D4D", ls="--", label="trained as repeat-1 (reference)")]
    _model_legend(fig, models, extra)
    caption = ("Figure A.9. LSTM, leaky memory + reset and feedforward nets on MNIST, trained "
               "on repeat-5 (left) or repeat-10 (right); the LSTM and leaky + reset are tested "
               "streamed in their training order (leaky + reset with label resets: reads test "
               "labels), feedforward with each item alone. Dashed: the same models trained as "
               "repeat-1." + _hidden_note(frame) + " " + _caption_curves(ctx, frame))
    return fig, caption


def figA10(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    fig = _new_figure(8.8, 3.6)
    axes = fig.subplots(1, 2)
    models = [m for m in ("lstm", "leaky-reset", "feedforward") if m in set(frame["model"])]
    for ax, metric in zip(axes, ("test_mse", "test_acc"), strict=True):
        _curves_by(ax, frame, "model", metric, ctx, model_color,
                   style_of=lambda r: _MODE_STYLE.get(str(r["test_mode"]), "-"),
                   extra_keys=["test_mode"])
        _style_axes(ax, metric)
    _panel_title(axes[0], "", "Test error")
    _panel_title(axes[1], "", "Test accuracy")
    extra = [Line2D([], [], color="#4D4D4D", ls="-", label="tested as trained (repeat-5)"),
             Line2D([], [], color="#4D4D4D", ls="--", label="tested as repeat-1")]
    _model_legend(fig, models, extra)
    caption = ("Figure A.10. Generalisation to a different temporal structure: models trained "
               "on repeat-5 MNIST, tested streamed as repeat-5 (solid) or as repeat-1 (dashed); "
               "feedforward (memory off) as reference." + _hidden_note(frame) + " "
               + _caption_curves(ctx, frame))
    return fig, caption


def _panel_name(key: str, value: Any) -> str:
    return {"lr": f"lr {value}", "test_mode": f"test {value}"}.get(key, str(value))


def _panels_of(frame: pd.DataFrame, candidates: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """Split a frame into panels by whichever of ``candidates`` vary (e.g. dataset, lr)."""
    varying = [c for c in candidates if c in frame.columns and frame[c].nunique(dropna=False) > 1]
    if not varying:
        return [("", frame)]
    out = []
    for values, sub in frame.groupby(varying, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        out.append((", ".join(_panel_name(k, v) for k, v in zip(varying, values, strict=True)),
                    sub))
    return out


def model_curves(frame: pd.DataFrame, ctx: Context, title: str = "") -> tuple[Figure, str]:
    """Test error per model (one panel per dataset/lr/task variant): Fig 3D, A.12 and others."""
    panels = _panels_of(frame, ["dataset", "lr", "task", "optimizer", "condition", "test_mode"])
    fig = _new_figure(3.6 * len(panels) + 2.4, 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    models: list[str] = []
    for i, (ax, (name, sub)) in enumerate(zip(axes, panels, strict=True)):
        got = _curves_by(ax, sub, "model", "test_mse", ctx, model_color)
        models += [m for m in got if m not in models]
        _style_axes(ax, "test_mse" if i == 0 else None)
        _panel_title(ax, "ABCDEFGH"[i] if len(panels) > 1 else "", name)
    _model_legend(fig, _ae_order(models))
    return fig, (title + " " + _caption_curves(ctx, frame)).strip()


def fig3d(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    return model_curves(frame, ctx, "Figure 3D. Reconstruction test error (MSE) of the five "
                        "6-3-6 autoencoders on the multi-timescale stream.")


def figA12(frame: pd.DataFrame, ctx: Context) -> tuple[Figure, str]:
    return model_curves(frame, ctx, "Figure A.12 (learning curves). The autoencoders at another "
                        "learning rate and on a second multi-timescale dataset.")


#: Paper figures drawn from the results frame: (figure id, experiment, title, function).
FIGURES: list[tuple[str, str, str, FigureFn]] = [
    ("fig2", "fig2", "Figure 2: smoothness and leaky memory (MNIST)", fig2),
    ("fig3d", "fig3", "Figure 3D: autoencoder learning curves", fig3d),
    ("figA1", "figA1", "Figure A.1: classification vs reconstruction", figA1),
    ("figA3", "figA3", "Figure A.3: cross-entropy loss", figA3),
    ("figA4", "figA4", "Figure A.4: leaky memory on synthetic data", figA4),
    ("figA5", "figA5", "Figure A.5: mini-batches vs leaky memory", figA5),
    ("figA6", "figA6", "Figure A.6: mini-batches, early and late", figA6),
    ("figA7", "figA7", "Figure A.7: no shared features", figA7),
    ("figA8", "figA8", "Figure A.8: LSTM and smoothness", figA8),
    ("figA9", "figA9", "Figure A.9: LSTM vs leaky + reset vs feedforward", figA9),
    ("figA10", "figA10", "Figure A.10: generalisation to another order", figA10),
    ("figA12", "figA12", "Figure A.12: other learning rate and dataset", figA12),
]
#: Experiments whose curves are MNIST runs: they get the first-class-runs-out marker.
_MNIST_FIGS = {"fig2", "figA3", "figA5", "figA6"}


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
    table_html: str = ""


#: Figures whose paper captions state a 100-iteration moving average.
SMOOTHED = {"fig2"}


def _context(frame: pd.DataFrame, fig_id: str) -> Context:
    every = eval_every(frame)
    window = moving_average_points(every) if fig_id in SMOOTHED else 0
    ctx = Context(window=window, every=every)
    if fig_id in _MNIST_FIGS:
        ctx.exhaustion = _first_exhaustion(frame)
    return ctx


def _first_exhaustion(frame: pd.DataFrame) -> int | None:
    try:
        norm = claims_mod.normalise_frame(frame)
        norm = norm[norm["class_balance"] == "none"]
        first = norm.iloc[0]
        labels = claims_mod.training_labels(str(first["dataset"]), int(first["data_seed"]))
        if labels is None:
            return None
        pairs = norm[["condition", "order_seed"]].drop_duplicates()
        pairs = pairs[pairs["condition"].str.startswith("repeat-")]
        steps = [claims_mod.exhaustion_step(labels, str(first["dataset"]),
                                             int(first["data_seed"]), str(r.condition),
                                             int(r.order_seed)) for r in pairs.itertuples()]
        return min(steps) if steps else None
    except Exception:  # the marker is a courtesy; never fail a figure for it
        return None


def save_figure(fig: Figure, fig_dir: Path, fig_id: str) -> tuple[Path, Path]:
    fig_dir.mkdir(parents=True, exist_ok=True)
    png, svg = fig_dir / f"{fig_id}.png", fig_dir / f"{fig_id}.svg"
    fig.savefig(png, dpi=130, facecolor="white")
    fig.savefig(svg, facecolor="white")
    return png, svg


def _paper_order(fig_id: str, order: Sequence[str]) -> tuple[int, int]:
    """Figures in the paper's order: 2, 3D, 3E, A.1, ..., A.15; others last."""
    paper = ["fig2", "fig3d", "fig3e", "figA1", "figA3", "figA4", "figA5", "figA6", "figA7",
             "figA8", "figA9", "figA10", "figA12", "figA12-selectivity", "figA13", "figA14",
             "figA15"]
    if fig_id in paper:
        return (0, paper.index(fig_id))
    return (1, order.index(fig_id) if fig_id in order else 0)


def draw_figures(
    frame: pd.DataFrame,
    fig_dir: Path,
    analysis_inputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[FigureResult]:
    """Every paper figure whose experiment is in ``frame``; failures become notes.

    ``analysis_inputs`` maps an autoencoder experiment to ``{"configs", "curves", "table"}``:
    its run configs, their :class:`~smoothlearn.train.Curves` (with final weights) and the
    ``smoothlearn.analysis.analyse_runs`` table, for the hidden-unit figures (3E, A.12-A.15).
    """
    frame = claims_mod.normalise_frame(frame) if len(frame) else frame
    present = set(frame["experiment"]) if len(frame) else set()
    out: list[FigureResult] = []
    known = {exp for _, exp, _, _ in FIGURES} | {exp for _, exp, _, _ in ANALYSIS_FIGURES}
    specs = list(FIGURES) + [
        (exp, exp, f"{exp}: test error per model", model_curves)
        for exp in sorted(present - known)
    ]
    for fig_id, exp, title, fn in specs:
        result = FigureResult(fig_id, exp, title)
        out.append(result)
        if exp not in present:
            result.note = f"not drawn: no results for experiment {exp!r}"
            continue
        sub = frame[frame["experiment"] == exp]
        try:
            with matplotlib.rc_context(RC):
                fig, caption = fn(sub, _context(sub, fig_id))
                result.png, result.svg = save_figure(fig, fig_dir, fig_id)
            result.caption = caption
        except Exception as err:  # one broken figure must not sink the report
            result.note = f"figure failed: {type(err).__name__}: {err}"
    analysed = _analysis_figures(present, analysis_inputs or {}, fig_dir)
    order = [f[0] for f in FIGURES] + [f[0] for f in ANALYSIS_FIGURES]
    out = sorted(out + analysed, key=lambda r: _paper_order(r.id, order))
    return out


# ----------------------------------------------------------------------------- analysis
UNIT_COLORS = {"no-memory": "#D55E00", "short-memory": "#E69F00", "long-memory": "#0072B2",
               "mean": "#4D4D4D"}
FEATURE_COLORS = {"fast": "#D55E00", "medium": "#E69F00", "slow": "#0072B2"}
AE_MODELS = ["ae-feedforward", "ae-leaky", "ae-multiscale", "ae-leaky-reset",
             "ae-multiscale-reset"]
_SETTING = ["dataset", "lr", "optimizer", "test_mode"]


def _analysis_module():
    try:
        from smoothlearn import analysis
    except ImportError:
        return None
    return analysis


def _ae_order(models: Iterable[str]) -> list[str]:
    models = list(dict.fromkeys(models))
    return sorted(models, key=lambda m: AE_MODELS.index(m) if m in AE_MODELS else 99)


def _settings(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One panel per analysis setting (dataset, lr, ...) that varies in the table."""
    return _panels_of(table, _SETTING)


def _grouped_bars(ax, groups: Sequence[str], series: Sequence[tuple[str, str, np.ndarray,
                  np.ndarray]], markers: Sequence[np.ndarray] | None = None) -> None:
    """Bars of several series side by side in each group, with error bars (and init ticks)."""
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (label, color, means, errs) in enumerate(series):
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, means, width * 0.92, yerr=errs, color=color, label=label, capsize=2,
               error_kw={"elinewidth": 0.9, "ecolor": "#333333"})
        if markers is not None:
            ax.scatter(pos, markers[i], marker="_", s=120, color="black", zorder=3, lw=1.6)
    ax.set_xticks(x, groups)
    ax.grid(False, axis="x")
    ax.set_axisbelow(True)


def fig3e(inputs: Mapping[str, Any], caption_head: str = "") -> tuple[Figure, str]:
    analysis = _analysis_module()
    table = analysis.fig3e_table(inputs["table"])
    panels = _settings(table)
    fig = _new_figure(5.2 * len(panels) + 2.4, 3.8)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    models: list[str] = []
    for ax, (name, part) in zip(axes, panels, strict=True):
        units = list(dict.fromkeys(part["unit_name"]))
        models = _ae_order(part["model"])
        series, inits = [], []
        for model in models:
            rows = part[part["model"] == model].set_index("unit_name").reindex(units)
            series.append((MODEL_LABELS.get(model, model), model_color(model),
                           rows["selectivity"].to_numpy(), rows["sd"].to_numpy()))
            inits.append(rows["selectivity_init"].to_numpy())
        _grouped_bars(ax, [u.replace("-", " ") for u in units], series, inits)
        ax.axhline(0, color="#4D4D4D", lw=0.8)
        _panel_title(ax, "", name or "Timescale selectivity")
    axes[0].set_ylabel("Timescale selectivity\n(r² matching − mean r² others)")
    init = Line2D([], [], color="black", marker="_", ls="", markersize=11, mew=1.6,
                  label="same nets at\ninitialisation")
    _model_legend(fig, models, [init])
    n = int(table["n"].max()) if len(table) else 0
    caption = (caption_head or "Figure 3E. ") + (
        "Timescale selectivity of each hidden unit (no-memory ↔ fast row, short-memory ↔ "
        "medium row, long-memory ↔ slow row): squared Pearson correlation with the matching "
        "latent feature minus the mean squared correlation with the other two, on the "
        "held-out stream; 'mean' averages each network's three units (what the claims "
        f"compare). Bars: mean over {n} seeds; error bars: SD of 10,000 bootstrap means. "
        "Black ticks: the same networks before training (much of the selectivity of the "
        "reset models is wired in by the per-row resets).")
    return fig, caption


def figA12_selectivity(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    return fig3e(inputs, "Figure A.12 (selectivity). ")


def figA13(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    analysis = _analysis_module()
    table = analysis.a13_table(inputs["table"])
    panels = _settings(table)
    fig = _new_figure(5.6 * len(panels) + 1.6, 3.8)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, part) in zip(axes, panels, strict=True):
        part = part.set_index("model").reindex(_ae_order(part["model"]))
        series = [(f"{f} row", FEATURE_COLORS[f], part[f"err_{f}"].to_numpy(),
                   part[f"sd_{f}"].to_numpy()) for f in ("fast", "medium", "slow")]
        labels = [SHORT_LABELS.get(m, m) for m in part.index]
        _grouped_bars(ax, labels, series)
        ax.tick_params(axis="x", labelsize=8)
        _panel_title(ax, "", name or "Per-row reconstruction error")
    axes[0].set_ylabel("Test error of the row (MSE)")
    handles = [Patch(color=FEATURE_COLORS[f], label=f"{f}-changing row")
               for f in ("fast", "medium", "slow")]
    fig.legend(handles=handles, loc="outside right upper", title="Feature", title_fontsize=9)
    n = int(table["n"].max()) if len(table) else 0
    caption = ("Figure A.13. Per-feature test error: the reconstruction error of the fast "
               "(every item), medium and slow rows of the held-out multi-timescale stream at "
               f"the end of training, per autoencoder. Mean over {n} seeds; error bars: SD of "
               "10,000 bootstrap means. The paper predicts slow < fast for the two memory + "
               "reset models.")
    return fig, caption


def figA14(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    analysis = _analysis_module()
    table = inputs["table"]
    rel = analysis.a14_relation(table)
    fast = table[table["feature"] == 0].copy()
    fast["r2"] = fast["corr"] ** 2
    fig = _new_figure(10.0, 4.0)
    axes = fig.subplots(1, 2, sharey=True)
    spec = [("slow", [1, 2], "Short- and long-memory units"), ("no-memory", [0],
                                                               "No-memory unit")]
    for ax, (kind, units, title) in zip(axes, spec, strict=True):
        for model in _ae_order(fast["model"]):
            part = fast[(fast["model"] == model) & fast["unit"].isin(units)]
            x = part.groupby("seed")["r2"].mean()
            y = part.groupby("seed")["err_fast"].first().reindex(x.index)
            r = rel[(rel["model"] == model) & rel["units"].str.startswith(kind)]
            label = MODEL_LABELS.get(model, model)
            if len(r):
                r = r.iloc[0]
                label += f": r = {r['r']:+.2f} [{r['r_lo']:+.2f}, {r['r_hi']:+.2f}]"
            ax.scatter(x, y, s=16, color=model_color(model), alpha=0.75, label=label,
                       edgecolors="none")
        ax.set_xlabel("r² with the fast feature (mean over the units)")
        ax.legend(fontsize=7.5, loc="best")
        _panel_title(ax, "", title)
    axes[0].set_ylabel("Fast-row test error (MSE)")
    caption = ("Figure A.14. Across seeds, the squared correlation of hidden units with the "
               "fast-changing feature against the fast row's reconstruction error; left: the "
               "units with memory (short and long), right: the no-memory unit. The paper's "
               "hypothesis: for units with memory, more correlation with the fast feature goes "
               "with worse fast-row error (r > 0); not so for the no-memory unit. Legend: "
               "Pearson r across seeds with a bootstrap 95% CI.")
    return fig, caption


def figA15(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    analysis = _analysis_module()
    runs = list(zip(inputs["configs"], inputs["curves"], strict=True))
    first: dict[str, tuple[Any, Any]] = {}
    for config, curve in sorted(runs, key=lambda r: r[0].seed):
        first.setdefault(config.model, (config, curve))
    models = _ae_order(first)
    fig = _new_figure(8.6, 1.55 * (len(models) + 1) + 0.6)
    axes = fig.subplots(len(models) + 1, 1, sharex=True, squeeze=False)[:, 0]
    dyn = {m: analysis.dynamics_for(*first[m], start=0, length=30) for m in models}
    some = next(iter(dyn.values()))
    steps = some["step"]
    for k, name in enumerate(("fast", "medium", "slow")):
        axes[0].step(steps, some["latent"][:, k] + 1.4 * (2 - k), where="mid",
                     color=FEATURE_COLORS[name], label=f"{name}-changing feature")
    axes[0].set_yticks([])
    _panel_title(axes[0], "", "Latent states of the input rows")
    unit_names = ("no-memory", "short-memory", "long-memory")
    for ax, model in zip(axes[1:], models, strict=True):
        hidden = dyn[model]["hidden"]
        for u in range(hidden.shape[1]):
            name = unit_names[u] if u < 3 else str(u)
            ax.plot(steps, hidden[:, u], color=UNIT_COLORS.get(name, "#7F7F7F"), lw=1.5,
                    label=f"{name} unit")
        _panel_title(ax, "", MODEL_LABELS.get(model, model))
        ax.set_ylabel("activity", fontsize=8)
    axes[-1].set_xlabel("Item of the held-out stream")
    handles = [Line2D([], [], color=FEATURE_COLORS[f], lw=2, label=f"{f}-changing feature")
               for f in ("fast", "medium", "slow")]
    handles += [Line2D([], [], color=UNIT_COLORS[u], lw=2, label=f"{u} unit")
                for u in unit_names]
    fig.legend(handles=handles, loc="outside right upper", title_fontsize=9)
    seed = first[models[0]][0].seed
    caption = ("Figure A.15. Dynamics of the three hidden units of each trained autoencoder "
               f"(seed {seed}) over the first 30 items of the held-out stream, streamed with "
               "its own memory and resets, beside the latent fast, medium and slow states of "
               "the input rows (top). Unit colours match the row whose timescale the unit is "
               "meant to track.")
    return fig, caption


#: Figures drawn from ``smoothlearn.analysis`` tables: (figure id, experiment, title, fn).
ANALYSIS_FIGURES: list[tuple[str, str, str, Callable[[Mapping[str, Any]],
                                                     tuple[Figure, str]]]] = [
    ("fig3e", "fig3", "Figure 3E: timescale selectivity", fig3e),
    ("figA12-selectivity", "figA12", "Figure A.12: selectivity at another lr and dataset",
     figA12_selectivity),
    ("figA13", "figA13", "Figure A.13: per-feature error", figA13),
    ("figA14", "figA14", "Figure A.14: slow units and the fast feature", figA14),
    ("figA15", "figA15", "Figure A.15: hidden-unit dynamics", figA15),
]


def _analysis_figures(present: set[str], inputs: Mapping[str, Mapping[str, Any]],
                      fig_dir: Path) -> list[FigureResult]:
    out = []
    for fig_id, exp, title, fn in ANALYSIS_FIGURES:
        result = FigureResult(fig_id, exp, title)
        out.append(result)
        if exp not in present:
            result.note = f"not drawn: no results for experiment {exp!r}"
        elif _analysis_module() is None:
            result.note = "not drawn: smoothlearn.analysis is not available"
        elif exp not in inputs or "table" not in inputs[exp]:
            result.note = "not drawn: no hidden-unit analysis for this experiment"
        else:
            try:
                with matplotlib.rc_context(RC):
                    fig, result.caption = fn(inputs[exp])
                    result.png, result.svg = save_figure(fig, fig_dir, fig_id)
            except Exception as err:
                result.note = f"figure failed: {type(err).__name__}: {err}"
    return out


# ----------------------------------------------------------------------------- report data
@dataclass
class ExperimentInfo:
    """One experiment as run: its TOML, the overrides used, and how it went."""

    name: str
    figure: str = ""
    title: str = ""
    toml: str = ""
    seeds: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: int = 0
    status: str = "pending"  # ok, failed, skipped
    message: str = ""
    seconds: float = 0.0


#: Settings the paper leaves open, and what this reproduction chose (docs/model.md, data).
OPEN_SETTINGS: list[tuple[str, str, str]] = [
    ("Bias initialisation", "Xavier initialisation only", "Xavier-uniform weights (W1 then W2 "
     "from one seeded generator); biases zero"),
    ("Gradient through the leak", "“did not account for the fact that the neurons were leaky”",
     "H(n−1) detached; the current term keeps its (1−α) factor (leak_grad=\"exact\"); "
     "\"ignore\" drops it"),
    ("RMSprop β1, β2 = 0.9, 0.99", "two betas for a one-beta optimiser", "alpha = 0.99; "
     "momentum 0 by default (rmsprop_momentum offers 0.9); eps 1e-8; all runs here use SGD"),
    ("MSE definition", "MSE loss", "mean over the output units (torch.nn.MSELoss)"),
    ("Exhausted categories", "unequal class sizes not discussed", "an exhausted class is "
     "skipped and the others keep cycling; claims are measured before the first class runs "
     "out (or class_balance=\"balanced\" cuts every class to the smallest)"),
    ("Test protocol of memory nets", "not stated", "test_mode: \"off\" (each item alone; "
     "default) or streamed (\"same\", \"repeat-1\", \"random\") with the run's resets on the "
     "test stream; label resets there read test labels, and every record says so"),
    ("Evaluation schedule", "curves vs training step", "the whole test set (or eval_items of "
     "it) at step 0, every eval_every steps and at the end"),
    ("Moving average", "100 iterations", "a trailing 100-step window, only where points are "
     "closer than 100 steps"),
    ("Mini-batches", "batches of 16", "16 consecutive items of the order per update; step "
     "counts items"),
    ("LSTM training", "LSTM with BPTT, same data and lr", "392 hidden units, per-sample "
     "updates, truncated BPTT over the last 10 items, MSE on softmax output"),
    ("A.11 reset aggregation", "element-wise inequality", "compared as L1 norms over each "
     "input group (reset_aggregate=\"sum\"); \"any\"/\"all\" available"),
    ("Synthetic A.2 data", "4 categories × 300 items of 16 features, low overlap",
     "disjoint 4-feature templates; exemplar = (template + U(0, 1)) / 2; test 100 per class"),
    ("Multi-timescale stream", "rows switch every 1, 3, 5 items; binary state + noise",
     "state flips at each multiple of the period; element = (state + U(0, 0.25)) / 1.25, both "
     "elements of a row equal; 3000 training and 500 test items"),
    ("Second multi-timescale set (A.12)", "“a different synthesized dataset”",
     "periods (1, 4, 8) and noise 0.4"),
    ("A.7 stream", "consecutive items share no features", "2 disjoint 2-feature "
     "sub-templates per class, alternating inside blocks of 4; U(0.5, 1) on the support"),
]


def package_versions() -> dict[str, str]:
    names = ["smoothlearn", "numpy", "torch", "numba", "pandas", "matplotlib", "pydantic",
             "pyarrow"]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# ----------------------------------------------------------------------------- formatting
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _ci(rec: Mapping[str, Any]) -> str:
    lo, hi = rec.get("ci_low"), rec.get("ci_high")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def _protocol_text(rec: Mapping[str, Any]) -> str:
    prot = rec.get("test_protocol")
    if not prot:
        return "—"
    if isinstance(prot, str):
        return prot
    if prot["better"] == prot["worse"]:
        return prot["better"]
    return f"{prot['better']} vs {prot['worse']}"


_VERDICT_CLASS = {"reproduced": "ok", "reversed": "bad", "mixed": "bad",
                  "no detectable effect": "meh", "partly reproduced": "part",
                  "not testable": "none", "no data": "none"}


def _badge(verdict: str) -> str:
    cls = _VERDICT_CLASS.get(verdict, "none")
    return f'<span class="badge {cls}">{html.escape(verdict)}</span>'


def _png_data(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.6em;margin:.2em 0}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:.86em;background:#fff;margin:8px 0}
th,td{border:1px solid #e1e1e1;padding:4px 7px;vertical-align:top;text-align:left}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.claim td{background:#f6f8fb;font-weight:500}
.badge{border-radius:9px;padding:1px 8px;font-size:.85em;white-space:nowrap}
.ok{background:#d4f0dc;color:#17602c}.bad{background:#f8d7d5;color:#8a1f17}
.meh{background:#eee;color:#555}.part{background:#fff0c7;color:#7a5a00}.none{background:#fff;
color:#999;border:1px dashed #ccc}
figure{background:#fff;border:1px solid #e3e3e3;margin:18px 0;padding:12px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:.9em;color:#444;margin-top:6px}
.note{color:#8a5a00;background:#fff7e0;padding:6px 10px;border-left:3px solid #e0b84c}
pre{background:#f4f4f4;padding:8px;overflow-x:auto;font-size:.82em}
.small{font-size:.82em;color:#666}details{margin:6px 0}summary{cursor:pointer}
"""


def _claim_link(experiment: str, anchors: Mapping[str, str]) -> str:
    anchor = anchors.get(experiment)
    name = html.escape(experiment)
    return f'<a href="#{anchor}">{name}</a>' if anchor else name


def _claims_summary_html(summary: Sequence[Mapping[str, Any]],
                         anchors: Mapping[str, str]) -> str:
    rows = ["<tr><th>Claim</th><th>Statement</th><th>Paper</th><th>Figure</th>"
            "<th>Comparisons</th><th>Verdict</th></tr>"]
    for claim in summary:
        counts = ", ".join(f"{n} {v}" for v, n in claim["counts"].items())
        rows.append(
            f'<tr><td><a href="#claim-{html.escape(claim["claim"])}">'
            f'{html.escape(claim["claim"])}</a></td><td>{html.escape(claim["text"])}</td>'
            f'<td>{html.escape(claim["source"])}</td>'
            f"<td>{_claim_link(claim['experiment'], anchors)}</td>"
            f"<td>{html.escape(counts)}</td><td>{_badge(claim['verdict'])}</td></tr>")
    return f'<table id="claims-summary">{"".join(rows)}</table>'


def _step_sentence(recs: Sequence[Mapping[str, Any]]) -> str:
    """One line per claim saying where it was measured (the step rarely differs inside one)."""
    steps = {r.get("step") for r in recs if r.get("step_rule")}
    if len(steps) == 1:
        rule = next(r["step_rule"] for r in recs if r.get("step_rule"))
        (step,) = steps
        return f"Measured at step {_fmt(step)}: {rule}." if step is not None else f"{rule}."
    return "Measurement steps differ between comparisons (see the step column's tooltips)."


def _claims_html(records: Sequence[Mapping[str, Any]], anchors: Mapping[str, str]) -> str:
    summary = [c.to_record() for c in summarise(map(ComparisonResult.from_record, records))]
    head = ("<tr><th>Comparison</th><th>Dataset</th><th>Metric</th><th>Step</th>"
            "<th>Test protocol</th><th>Reads test labels</th><th>n</th>"
            "<th>Mean advantage</th><th>95% CI</th><th>Share</th><th>Verdict</th></tr>")
    rows = [head]
    for claim in summary:
        recs = [r for r in records if r["claim"] == claim["claim"]]
        rows.append(
            f'<tr class="claim" id="claim-{html.escape(claim["claim"])}"><td colspan="10">'
            f'<b>{html.escape(claim["claim"])}</b> — {html.escape(claim["text"])} '
            f'<span class="small">({html.escape(claim["source"])}; '
            f"{_claim_link(claim['experiment'], anchors)}). "
            f"{html.escape(_step_sentence(recs))}</span></td>"
            f"<td>{_badge(claim['verdict'])}</td></tr>")
        for rec in recs:
            note = (f'<div class="small">{html.escape(rec["note"])}</div>' if rec.get("note")
                    else "")
            rows.append(
                f"<tr><td>{html.escape(rec['comparison'])}{note}</td>"
                f"<td>{html.escape(_fmt(rec.get('dataset')))}</td>"
                f"<td>{html.escape(str(rec['metric']))}</td>"
                f'<td class="num" title="{html.escape(rec.get("step_rule") or "")}">'
                f"{_fmt(rec.get('step'))}</td>"
                f"<td>{html.escape(_protocol_text(rec))}</td>"
                f"<td>{'yes' if rec.get('reads_test_labels') else 'no'}</td>"
                f'<td class="num">{rec.get("n", 0)}</td>'
                f'<td class="num">{_fmt(rec.get("mean_diff"))}</td>'
                f'<td class="num">{_ci(rec)}</td>'
                f'<td class="num">{_fmt(rec.get("share"), 2)}</td>'
                f"<td>{_badge(rec['verdict'])}</td></tr>")
    return (_claims_summary_html(summary, anchors)
            + "<h3>Every comparison</h3>"
            + f'<table id="claims-table" class="claims">{"".join(rows)}</table>')


def _figures_html(figures: Sequence[FigureResult]) -> str:
    parts = []
    for fig in figures:
        parts.append(f'<figure id="fig-{html.escape(fig.id)}"><h3>{html.escape(fig.title)}</h3>')
        if fig.png is not None and fig.png.exists():
            svg = f' <a href="figures/{fig.svg.name}">SVG</a>' if fig.svg else ""
            parts.append(f'<img src="{_png_data(fig.png)}" alt="{html.escape(fig.title)}">'
                         f"<figcaption>{html.escape(fig.caption)}{svg}</figcaption>")
        if fig.table_html:
            parts.append(fig.table_html + f"<figcaption>{html.escape(fig.caption)}</figcaption>")
        if fig.note:
            parts.append(f'<p class="note">{html.escape(fig.note)}</p>')
        parts.append("</figure>")
    return "".join(parts)


def _configs_html(experiments: Sequence[ExperimentInfo]) -> str:
    rows = []
    for exp in experiments:
        status = exp.status + (f": {exp.message}" if exp.message else "")
        over = json.dumps({"seeds": exp.seeds, "overrides": exp.overrides,
                           "per-model overrides": exp.model_overrides}, indent=2, default=str)
        rows.append(
            f"<details><summary><b>{html.escape(exp.name)}</b> ({html.escape(exp.figure)}) — "
            f"{exp.runs} runs, {exp.seconds:.1f} s — {html.escape(status)}</summary>"
            f"<p>{html.escape(exp.title)}</p><pre>{html.escape(exp.toml)}</pre>"
            f"<p>Overrides used here:</p><pre>{html.escape(over)}</pre></details>")
    return "".join(rows)


def _table_html(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _status_html(experiments: Sequence[ExperimentInfo]) -> str:
    return _table_html(["experiment", "figure", "status", "runs", "seconds", "message"],
                       [(e.name, e.figure, e.status, e.runs, f"{e.seconds:.1f}", e.message)
                        for e in experiments])


def write_report(
    out: Path,
    records: Sequence[Mapping[str, Any]],
    figures: Sequence[FigureResult],
    experiments: Sequence[ExperimentInfo],
    meta: Mapping[str, Any],
) -> Path:
    """Write ``report.html`` (self-contained) and ``report.md``; returns the HTML path."""
    out = Path(out)
    anchors: dict[str, str] = {}
    for fig in figures:
        anchors.setdefault(fig.experiment, f"fig-{fig.id}")
    mode = "quick (fewer seeds and steps: indicative only)" if meta.get("quick") else "paper"
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in meta.get("notes", []))
    versions = _table_html(["package", "version"], package_versions().items())
    open_rows = _table_html(["setting", "the paper", "chosen here"], OPEN_SETTINGS)
    body = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>smoothlearn reproduction report</title><style>{CSS}</style></head><body><main>
<h1>Learning representations from temporally smooth data — reproduction report</h1>
<p>Mode: <b>{html.escape(mode)}</b>. Run time {meta.get("seconds", 0):.0f} s;
finished {html.escape(str(meta.get("finished", "")))}; step policy
<code>{html.escape(str(meta.get("step_policy", "")))}</code>.</p>{notes}
<h2 id="claims">Claims</h2>
<p class="small">Each row pairs runs by seed at one evaluation step. <i>Mean advantage</i> is
how much the first-named arm beats the second (error of the worse minus error of the better;
positive = as the paper claims); the CI is a percentile bootstrap (10,000 resamples, seed 0);
<i>share</i> is the fraction of seeds in the claimed direction. Verdicts come from an exact
paired sign-flip test, Holm-adjusted over the comparisons of each claim: reproduced / reversed
(adjusted p &lt; 0.05, for / against the claim), no detectable effect (otherwise; 5 seeds can
never reach p &lt; 0.05), not testable (the arms are one network by construction), no data (an
arm is missing: the whole claim is then no data). claims.json gives every p, the smallest
detectable effect and each claim's reason.
</p>
{_claims_html(records, anchors)}
<h2 id="figures">Figures</h2>{_figures_html(figures)}
<h2 id="experiments">Experiments and exact configs</h2>{_status_html(experiments)}
{_configs_html(experiments)}
<h2 id="open-settings">Settings the paper left open</h2>{open_rows}
<h2 id="environment">Environment</h2>{versions}
</main></body></html>"""
    html_path = out / "report.html"
    html_path.write_text(body, encoding="utf-8")
    (out / "report.md").write_text(
        markdown_report(records, figures, experiments, meta), encoding="utf-8")
    return html_path


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_report(
    records: Sequence[Mapping[str, Any]],
    figures: Sequence[FigureResult],
    experiments: Sequence[ExperimentInfo],
    meta: Mapping[str, Any],
) -> str:
    """The report for GitHub: the same tables, figures as relative PNG links."""
    mode = "quick (indicative only)" if meta.get("quick") else "paper"
    lines = ["# Learning representations from temporally smooth data — reproduction report", "",
             f"Mode: **{mode}**. Run time {meta.get('seconds', 0):.0f} s; finished "
             f"{meta.get('finished', '')}; step policy `{meta.get('step_policy', '')}`.", ""]
    lines += [f"> {n}" for n in meta.get("notes", [])] + [""]
    summary = [c.to_record() for c in summarise(map(ComparisonResult.from_record, records))]
    lines += ["## Claims", "", "| claim | statement | paper | verdict |", "|---|---|---|---|"]
    lines += [f"| {c['claim']} | {_md_escape(c['text'])} | {_md_escape(c['source'])} "
              f"| {c['verdict']} |" for c in summary]
    lines += ["", "### Every comparison", "", "| claim | comparison | step | test protocol "
              "| reads test labels | n | mean advantage | 95% CI | share | verdict |",
              "|" + "---|" * 10]
    verdicts = {c["claim"]: c["verdict"] for c in summary}
    for rec in records:
        lines.append("| " + " | ".join(_md_escape(x) for x in (
            f"{rec['claim']} ({verdicts[rec['claim']]})", rec["comparison"],
            _fmt(rec.get("step")), _protocol_text(rec),
            "yes" if rec.get("reads_test_labels") else "no", rec.get("n", 0),
            _fmt(rec.get("mean_diff")), _ci(rec), _fmt(rec.get("share"), 2),
            rec["verdict"])) + " |")
    lines += ["", "## Figures", ""]
    for fig in figures:
        lines += [f"### {fig.title}", ""]
        if fig.png is not None:
            lines += [f"![{fig.title}](figures/{fig.png.name})", "", fig.caption, ""]
        if fig.note:
            lines += [f"*{fig.note}*", ""]
    lines += ["## Experiments", "", "| experiment | figure | status | runs | seconds |",
              "|---|---|---|---|---|"]
    for e in experiments:
        status = _md_escape(e.status + (f": {e.message}" if e.message else ""))
        lines.append(f"| {e.name} | {e.figure} | {status} | {e.runs} | {e.seconds:.1f} |")
    lines += ["", "## Settings the paper left open", "", "| setting | the paper | chosen here |",
              "|---|---|---|"]
    lines += [f"| {_md_escape(a)} | {_md_escape(b)} | {_md_escape(c)} |"
              for a, b, c in OPEN_SETTINGS]
    lines += ["", "## Environment", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in package_versions().items()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- publishing
README_START = "<!-- results:start (written by `smoothlearn publish`; do not edit) -->"
README_END = "<!-- results:end -->"
#: The README shows the first of these figures that the run drew (docs/ gets all of them).
PUBLISHED_FIGURES = ("fig2", "fig3e", "robustness")


def publish(out: Path, docs: Path, readme: Path | None = None) -> list[Path]:
    """Copy a finished reproduction's claims table and headline figures into ``docs`` (and
    the README's results block), so the numbers in the repository are the tool's own.

    Writes ``docs/reproduction.md`` (the report's Markdown, figure links rewritten),
    ``docs/figures/*.png`` and, when the run had one, ``docs/claims.md`` from the robustness
    sweep. Returns the files written.
    """
    import shutil

    out, docs = Path(out), Path(docs)
    data = json.loads((out / "claims.json").read_text())
    written = []
    figures = docs / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    pngs = sorted((out / "figures").glob("*.png"))
    pngs += [p for p in [out / "robustness" / "robustness.png"] if p.is_file()]
    for png in pngs:
        written.append(Path(shutil.copy2(png, figures / png.name)))
    text = (out / "report.md").read_text()
    head, _, rest = text.partition("\n")
    text = (f"{head}\n\n> Copied from `{out / 'report.md'}` by `smoothlearn publish {out}`; "
            f"the self-contained HTML version is `{out / 'report.html'}`.\n{rest}")
    (docs / "reproduction.md").write_text(text)
    written.append(docs / "reproduction.md")
    robust = out / "robustness" / "claims.md"
    if robust.is_file():
        claims_md = robust.read_text().replace("](robustness.png)", "](figures/robustness.png)")
        head, _, rest = claims_md.partition("\n")
        claims_md = (f"{head}\n\n> Copied from `{robust}` by `smoothlearn publish {out}`. To "
                     f"regenerate: `smoothlearn reproduce --out {out}` (or only the sweep: "
                     f"`smoothlearn robustness --out {out / 'robustness'}`), then "
                     f"`smoothlearn publish {out}`.\n{rest}")
        (docs / "claims.md").write_text(claims_md)
        written.append(docs / "claims.md")
    if readme is not None:
        readme = Path(readme)
        block = _readme_block(data, docs, readme.parent)
        current = readme.read_text()
        if README_START in current and README_END in current:
            head, rest = current.split(README_START, 1)
            current = head + block + rest.split(README_END, 1)[1]
        else:
            current = current.rstrip("\n") + "\n\n" + block + "\n"
        readme.write_text(current)
        written.append(readme)
    return written


def _readme_block(data: Mapping[str, Any], docs: Path, root: Path) -> str:
    import os

    rel = Path(os.path.relpath(docs.resolve(), root.resolve())).as_posix()
    mode = "quick" if data.get("quick") else "paper settings"
    lines = [README_START, "", f"## What reproduces ({mode})", "",
             f"From `smoothlearn reproduce` ({mode}); every comparison, figure and config is in "
             f"[{rel}/reproduction.md]({rel}/reproduction.md), and which claims depend on which "
             f"unstated choice in [{rel}/claims.md]({rel}/claims.md).", ""]
    left_out = [f"{e['name']} ({e['status']}: {e.get('message', '')})"
                for e in data.get("experiments", []) if e.get("status") != "ok"]
    if left_out:
        lines += ["Not run in this reproduction, so their claims read *no data*: "
                  + "; ".join(left_out) + ".", ""]
    lines += [f"> {_md_escape(note)}" for note in data.get("notes", [])
              if "skipped" in note or "unavailable" in note]
    if lines[-1].startswith(">"):
        lines.append("")
    for fig in PUBLISHED_FIGURES:
        if (docs / "figures" / f"{fig}.png").is_file():
            lines += [f"![{fig}]({rel}/figures/{fig}.png)", ""]
            break
    lines += ["| claim | paper | verdict |", "|---|---|---|"]
    for row in data.get("summary", []):
        lines.append(f"| {_md_escape(row['text'])} | {_md_escape(row.get('source', ''))} | "
                     f"**{row['verdict']}** |")
    lines += ["", README_END]
    return "\n".join(lines)
