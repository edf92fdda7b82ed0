"""Heatmaps of the landscape: leak (rows) x smoothness (columns), one panel per reset rule and
learning rate, one figure per dataset, test protocol and checkpoint.

Colour is the paired test-MSE difference against the feedforward net trained on the same order
(blue: the net with memory has lower error), on one symmetric scale per figure centred at zero
(square-root spaced, so that small differences stay visible beside large ones).
The feedforward row shows instead what smooth order does to the feedforward net (its
difference against random order), on the same scale. Outlined cells are Holm-significant within
their panel; each cell prints its difference in thousandths of MSE.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import FuncNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from smoothlearn.landscape.grid import RESET_NAMES
from smoothlearn.streams import parse_condition

CMAP = "RdBu_r"
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
PROTOCOL_NAMES = {"memory-off": "tested with memory off",
                  "streamed": "tested streamed in the training order (an order built from "
                              "test labels except random: tier order), input-change resets"}
MISSING = "#E8E8E8"


def _signed_root(x: np.ndarray) -> np.ndarray:
    """The colour scale: square root of the size, sign kept. A few nets far worse than
    feedforward (memory-off tests of nets that rely on memory) then do not wash out the
    small differences the map is looking for, and zero stays the centre."""
    return np.sign(x) * np.sqrt(np.abs(x))


def _signed_square(y: np.ndarray) -> np.ndarray:
    return np.sign(y) * y**2


def rate_name(optimizer: str, lr: float) -> str:
    return f"{'SGD' if optimizer == 'sgd' else 'RMSprop'} lr {lr:g}"


def smoothness_name(condition: str, run_length: float) -> str:
    """Column label: repeat-N as 'rep N', sticky-P with its mean run length."""
    parsed = parse_condition(condition)
    if parsed.kind == "repeat":
        return f"rep {parsed.repeats}"
    if parsed.kind == "sticky":
        return f"sticky {parsed.stay:g}\n(run {run_length:.1f})"
    return condition


def columns(cells: pd.DataFrame) -> list[str]:
    """Smoothness conditions: random first, then by mean run length (smoother to the right)."""
    runs = cells.groupby("smoothness")["mean_run_length"].first()
    ordered = sorted(runs.index, key=lambda c: (c != "random", runs[c], c))
    return list(ordered)


def _colour_values(panel: pd.DataFrame) -> pd.Series:
    """Difference vs the same-order feedforward net; the feedforward row: vs random order."""
    return panel["diff_same"].where(panel["leak"] > 0, panel["diff_random"])


def _significant(panel: pd.DataFrame) -> pd.Series:
    return panel["significant_same"].where(panel["leak"] > 0, panel["significant_random"])


def _draw_panel(ax, panel: pd.DataFrame, leaks: list[float], conds: list[str],
                norm: Normalize) -> None:
    from matplotlib import colormaps

    cmap = colormaps[CMAP]
    values = _colour_values(panel)
    significant = _significant(panel)
    cell_of = {(r.leak, r.smoothness): i for i, r in enumerate(panel.itertuples())}
    for i, leak in enumerate(leaks):
        for j, cond in enumerate(conds):
            index = cell_of.get((leak, cond))
            value = math.nan if index is None else float(values.iloc[index])
            colour = cmap(norm(value)) if math.isfinite(value) else MISSING
            ax.add_patch(Rectangle((j, i), 1, 1, color=colour, ec="white", lw=0.8))
            if leak == 0 and cond == "random":
                ax.text(j + 0.5, i + 0.5, "ref", ha="center", va="center", fontsize=6,
                        color="#666666")
            if not math.isfinite(value):
                continue
            dark = abs(norm(value) - 0.5) > 0.33
            ax.text(j + 0.5, i + 0.5, f"{1000 * value:+.1f}", ha="center", va="center",
                    fontsize=6, color="white" if dark else "#222222")
            if bool(significant.iloc[index]):
                ax.add_patch(Rectangle((j + 0.06, i + 0.06), 0.88, 0.88, fill=False,
                                       ec="black", lw=1.6))
    ax.set_xlim(0, len(conds))
    ax.set_ylim(len(leaks), 0)
    if 0.0 in leaks:
        ax.axhline(leaks.index(0.0) + 1, color="black", lw=0.8)
    ax.tick_params(length=0, labelsize=7)
    for side in ax.spines.values():
        side.set_visible(False)


def heatmap_figure(cells: pd.DataFrame, dataset: str, protocol: str, checkpoint: str,
                   indicative: bool = False) -> Figure:
    """One figure: panels of resets (rows) x rates (columns) for one dataset, protocol and
    checkpoint; one colour scale over all its panels."""
    part = cells[(cells["dataset"] == dataset) & (cells["protocol"] == protocol)
                 & (cells["checkpoint"] == checkpoint)]
    resets = [r for r in RESET_NAMES if r in set(part["reset"])]
    rates = sorted(set(zip(part["optimizer"], part["lr"], strict=True)),
                   key=lambda r: (r[0] != "sgd", r[1]))
    leaks = sorted(set(part["leak"]))
    conds = columns(part)
    labels = [smoothness_name(c, part.loc[part["smoothness"] == c, "mean_run_length"].iloc[0])
              for c in conds]
    colour = _colour_values(part).abs()
    vmax = float(colour.max()) if colour.notna().any() and colour.max() > 0 else 1e-3
    norm = FuncNorm((_signed_root, _signed_square), vmin=-vmax, vmax=vmax)
    fig = Figure(figsize=(0.42 * len(conds) * len(rates) + 2.2,
                          0.3 * len(leaks) * len(resets) + 2.0),
                 layout="constrained", dpi=110)
    axes = np.atleast_2d(fig.subplots(len(resets), len(rates), squeeze=False))
    panels = {(i, j): part[(part["reset"] == reset) & (part["optimizer"] == optimizer)
                           & (part["lr"] == lr)]
              for i, reset in enumerate(resets) for j, (optimizer, lr) in enumerate(rates)}
    drawn = [key for key, panel in panels.items() if not panel.empty]
    for (i, j), panel in panels.items():
        ax, name = axes[i, j], f"{RESET_NAMES[resets[i]]} · {rate_name(*rates[j])}"
        if panel.empty:  # a thinned grid leaves some reset x rate panels out
            ax.axis("off")
            ax.text(0.5, 0.5, f"{name}:\nnot in this grid", ha="center", va="center",
                    fontsize=7, color="#888888", transform=ax.transAxes)
            continue
        _draw_panel(ax, panel, leaks, conds, norm)
        ax.set_title(name, fontsize=8)
        left = j == min(c for r, c in drawn if r == i)
        bottom = i == max(r for r, c in drawn if c == j)
        ax.set_yticks(np.arange(len(leaks)) + 0.5,
                      ["0 (FF)" if x == 0 else f"{x:g}" for x in leaks] if left else [])
        ax.set_xticks(np.arange(len(conds)) + 0.5, labels if bottom else [], rotation=90)
        if left:
            ax.set_ylabel("leak", fontsize=8)
        if bottom:
            ax.set_xlabel("training order", fontsize=7)
    mappable = _scalar_mappable(norm)
    bar = fig.colorbar(mappable, ax=axes, shrink=0.8, pad=0.02)
    bar.set_label("test MSE difference (net − feedforward)\nblue: the net has lower error",
                  fontsize=7)
    bar.ax.tick_params(labelsize=7)
    step = int(part["step"].iloc[0]) if len(part) else 0
    title = (f"{DATASET_NAMES.get(dataset, dataset)}, {PROTOCOL_NAMES[protocol]}, {checkpoint} "
             f"checkpoint ({step:,} steps){' — indicative (quick mode)' if indicative else ''}")
    caption = ("Colour: test MSE of the net with memory minus that of the feedforward net "
               "trained on the same order, in 10⁻³. Row 0 (FF): the feedforward net on this "
               "order minus random order. Outlined: Holm p < 0.05 within its panel. Rep N: runs "
               "of N items of one category.")
    width = int(fig.get_figwidth() * 15)
    fig.suptitle(textwrap.fill(title, width) + "\n" + textwrap.fill(caption, int(width * 1.1)),
                 fontsize=8)
    return fig


def _scalar_mappable(norm: Normalize):
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=CMAP)


def figure_name(dataset: str, protocol: str, checkpoint: str) -> str:
    return f"landscape-{dataset}-{protocol}-{checkpoint}"


def draw_all(cells: pd.DataFrame, out: Path, indicative: bool = False) -> list[Path]:
    """Every figure of the table as PNG (and SVG beside it); returns the PNG paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    keys = cells[["dataset", "protocol", "checkpoint"]].drop_duplicates()
    for dataset, protocol, checkpoint in keys.itertuples(index=False):
        fig = heatmap_figure(cells, dataset, protocol, checkpoint, indicative)
        name = figure_name(dataset, protocol, checkpoint)
        fig.savefig(out / f"{name}.png", dpi=130, facecolor="white")
        fig.savefig(out / f"{name}.svg", facecolor="white")
        written.append(out / f"{name}.png")
    return written
