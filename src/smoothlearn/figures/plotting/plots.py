"""Curve and bar helpers shared by the figures: seed means with SEM bands, bars with the
paper's bootstrap error bars, early/late panels and one-panel-per-setting model curves."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from smoothlearn import claims as claims_mod
from smoothlearn import stats
from smoothlearn.figures.plotting import prose
from smoothlearn.figures.plotting.context import Context
from smoothlearn.figures.plotting.style import (
    EARLY_PANEL,
    ae_order,
    condition_color,
    model_color,
    model_legend,
    new_figure,
    panel_title,
    sort_key,
    style_axes,
)


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


def measure_step(runs: pd.DataFrame) -> int:
    """The claims' end-of-epoch-1 step (before any class runs out) for bar figures."""
    return claims_mod.choose_step(claims_mod.normalise_frame(runs)).step


def values_at(frame: pd.DataFrame, step: int, metric: str) -> pd.Series:
    """Per-seed value of ``metric`` at ``step`` (mean over a seed's runs)."""
    at = frame[frame["step"] == step]
    return at.groupby("seed")[metric].mean()


# ----------------------------------------------------------------------------- curves
def band(ax, curve: pd.DataFrame, color: str, label: str | None, style: str = "-",
         alpha: float = 0.18, lw: float | None = None) -> None:
    """A mean curve with a ±1 SEM band."""
    x = curve["step"].to_numpy()
    y = curve["mean"].to_numpy()
    ax.plot(x, y, style, color=color, label=label, lw=lw)
    sem = curve["sem"].to_numpy()
    if np.isfinite(sem).any():
        sem = np.nan_to_num(sem)
        ax.fill_between(x, y - sem, y + sem, color=color, alpha=alpha, lw=0)


def curves_by(ax, frame: pd.DataFrame, key: str, metric: str, ctx: Context,
              color_of: Callable[[str], str], style_of: Callable[[Any], str] | None = None,
              extra_keys: Sequence[str] = ()) -> list[str]:
    """Draw one mean±SEM curve per value of ``key``; returns the values in legend order."""
    if frame.empty:
        return []
    curves = seed_curves(frame, [key, *extra_keys], metric, ctx.window)
    values = sorted(curves[key].dropna().unique(), key=lambda v: sort_key(str(v)))
    for value in values:
        sub = curves[curves[key] == value]
        for _extra, part in sub.groupby(list(extra_keys)) if extra_keys else [(None, sub)]:
            style = style_of(part.iloc[0]) if style_of else "-"
            band(ax, part, color_of(str(value)), None, style)
    return [str(v) for v in values]


def exhaustion_marker(ax, ctx: Context) -> None:
    """A dotted line where the first class runs out, when that falls inside the axes."""
    if ctx.exhaustion is None:
        return
    lo, hi = ax.get_xlim()
    if lo < ctx.exhaustion < hi:
        ax.axvline(ctx.exhaustion, color="#999999", ls=":", lw=1)


def exhaustion_handle(ctx: Context, frame: pd.DataFrame) -> list[Any]:
    """A legend entry for the exhaustion marker, when the marker falls inside the curves."""
    if ctx.exhaustion is None or ctx.exhaustion >= frame["step"].max():
        return []
    return [Line2D([], [], color="#999999", ls=":", lw=1, label="first class runs out")]


def early_late(ax_early, ax_late, frame: pd.DataFrame, metric: str, ctx: Context) -> list[str]:
    """Same curves twice, zoomed on the first EARLY_PANEL of training and on the rest."""
    conds: list[str] = []
    for ax in (ax_early, ax_late):
        conds = curves_by(ax, frame, "condition", metric, ctx, condition_color)
    last = float(frame["step"].max())
    cut = EARLY_PANEL * last
    ax_early.set_xlim(0, cut)
    ax_late.set_xlim(cut, last)
    for ax, (lo, hi) in ((ax_early, (0, cut)), (ax_late, (cut, last))):
        _autoscale_y(ax, frame, metric, lo, hi, ctx)
        style_axes(ax, metric)
        exhaustion_marker(ax, ctx)
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


def _panel_name(key: str, value: Any) -> str:
    return {"lr": f"lr {value}", "test_mode": f"test {value}"}.get(key, str(value))


def panels_of(frame: pd.DataFrame, candidates: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
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
    """Test error per model (one panel per dataset/lr/task variant): Fig 3D, A.12, and the
    figure of any experiment without a registered figure."""
    panels = panels_of(frame, ["dataset", "lr", "task", "optimizer", "condition", "test_mode"])
    fig = new_figure(3.6 * len(panels) + 2.4, 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    models: list[str] = []
    for i, (ax, (name, sub)) in enumerate(zip(axes, panels, strict=True)):
        got = curves_by(ax, sub, "model", "test_mse", ctx, model_color)
        models += [m for m in got if m not in models]
        style_axes(ax, "test_mse" if i == 0 else None)
        panel_title(ax, "ABCDEFGH"[i] if len(panels) > 1 else "", name)
    model_legend(fig, ae_order(models))
    return fig, (title + " " + prose.caption_curves(ctx, frame)).strip()


# ----------------------------------------------------------------------------- bars and dots
def bars(ax, groups: Sequence[tuple[str, np.ndarray]], colors: Sequence[str]) -> None:
    """Bars of means with the paper's error bars (SD of 10,000 bootstrap means)."""
    x = np.arange(len(groups))
    means = [float(np.mean(v)) if len(v) else math.nan for _, v in groups]
    errs = [stats.bootstrap_sd(v) if len(v) else math.nan for _, v in groups]
    ax.bar(x, means, yerr=errs, color=colors, capsize=3, width=0.7,
           error_kw={"elinewidth": 1, "ecolor": "#333333"})
    ax.set_xticks(x, [g for g, _ in groups], rotation=30, ha="right", fontsize=8.5)
    ax.grid(False, axis="x")
    ax.set_axisbelow(True)


def grouped_bars(ax, groups: Sequence[str], series: Sequence[tuple[str, str, np.ndarray,
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


def dots(ax, x: float, values: np.ndarray, color: str, marker: str, filled: bool) -> None:
    """Mean with the paper's error bar (SD of 10,000 bootstrap means) as a point range."""
    if not len(values):
        return
    mean, err = float(np.mean(values)), stats.bootstrap_sd(values)
    ax.errorbar([x], [mean], yerr=[err], fmt=marker, color=color, ms=7, capsize=3, lw=1.2,
                mfc=color if filled else "white", mew=1.5)


def power_of_ten(values: np.ndarray) -> int:
    """Exponent for an axis label (``× 10^-5``) instead of matplotlib's detached offset."""
    finite = np.abs(values[np.isfinite(values)])
    if not finite.size or finite.max() == 0:
        return 0
    power = int(np.floor(np.log10(finite.max())))
    return power if abs(power) >= 3 else 0
