"""Figure A.1: on synthetic data, classification and reconstruction order the same way as
MNIST (repeat-1 < random < repeat-3 < repeat-5), as bars of the gain over random."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from smoothlearn.claims import Claim, chain
from smoothlearn.figures.fig2 import FF_ORDER
from smoothlearn.figures.plotting import plots
from smoothlearn.figures.plotting.style import condition_color, new_figure, panel_title, sort_key
from smoothlearn.figures.unit import SYNTHETIC_QUICK, Drawing, FigureUnit


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    tasks = [t for t in ("classify", "reconstruct") if t in set(frame["task"])]
    fig = new_figure(3.4 * len(tasks) + 0.4, 3.6)
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    steps = []
    for ax, task in zip(axes, tasks, strict=True):
        sub = frame[frame["task"] == task]
        step = plots.measure_step(sub)
        steps.append(step)
        base = plots.values_at(sub[sub["condition"] == "random"], step, "test_mse")
        conds = sorted((c for c in sub["condition"].unique() if c != "random"), key=sort_key)
        groups = []
        for cond in conds:
            vals = plots.values_at(sub[sub["condition"] == cond], step, "test_mse")
            pair = pd.concat([base.rename("r"), vals.rename("c")], axis=1).dropna()
            groups.append((cond, (pair["r"] - pair["c"]).to_numpy()))
        scale = plots.power_of_ten(np.concatenate([v for _, v in groups]))
        plots.bars(ax, [(c, v / 10.0**scale) for c, v in groups],
                   [condition_color(c) for c, _ in groups])
        ax.axhline(0, color="#4D4D4D", ls="--", lw=1)
        name = "Classification (16-8-4)" if task == "classify" else "Reconstruction (16-4-16)"
        panel_title(ax, "", name)
        unit = f" × 10^{scale}" if scale else ""
        ax.set_ylabel(f"Error(random) − Error(condition)\n(MSE{unit}; > 0: better than random)")
    caption = ("Figure A.1. Difference between the test error after random sampling and after "
               "each other order, at the end of the first epoch (step "
               f"{', '.join(map(str, sorted(set(steps))))}), synthetic A.2 data; the dashed "
               f"line is the random baseline. Bars: mean over {frame['seed'].nunique()} seeds; "
               "error bars: SD of 10,000 bootstrap means (as in the paper).")
    return fig, caption


UNIT = FigureUnit(
    id="figA1",
    paper_ref="A.1",
    drawings=(Drawing("figA1", "Figure A.1: classification vs reconstruction", draw),),
    claims=(
        Claim("A1-classify-order", "Synthetic classification (16-8-4): repeat-1 < random < "
              "repeat-3 < repeat-5.", "figA1",
              chain("condition", FF_ORDER, task="classify"), source="A.1 left"),
        Claim("A1-reconstruct-order", "Synthetic reconstruction (16-4-16): repeat-1 < random < "
              "repeat-3 < repeat-5.", "figA1",
              chain("condition", FF_ORDER, task="reconstruct"), source="A.1 right"),
    ),
    quick=SYNTHETIC_QUICK,
    claim_order=2,
)
