"""Figure 3D/E: autoencoders on the multi-timescale stream; input-change resets lower the
reconstruction error (3D) and the hidden units pick up the timescale of their memory (3E)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from smoothlearn import unmixing
from smoothlearn.claims import Claim, beats
from smoothlearn.figures.plotting import plots
from smoothlearn.figures.plotting.style import (
    MODEL_LABELS,
    ae_order,
    model_color,
    model_legend,
    new_figure,
    panel_title,
)
from smoothlearn.figures.unit import AUTOENCODER_QUICK, Drawing, FigureUnit

#: The analysis settings that get a panel each when they vary (Fig A.12: lr and dataset).
SETTING = ["dataset", "lr", "optimizer", "test_mode"]


def draw_curves(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    return plots.model_curves(frame, ctx, "Figure 3D. Reconstruction test error (MSE) of the "
                              "five 6-3-6 autoencoders on the multi-timescale stream.")


def selectivity_figure(inputs: Mapping[str, Any], caption_head: str) -> tuple[Figure, str]:
    """Timescale selectivity per hidden unit and model, trained and at initialisation."""
    table = unmixing.fig3e_table(inputs["table"])
    panels = plots.panels_of(table, SETTING)
    fig = new_figure(5.2 * len(panels) + 2.4, 3.8)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    models: list[str] = []
    for ax, (name, part) in zip(axes, panels, strict=True):
        units = list(dict.fromkeys(part["unit_name"]))
        models = ae_order(part["model"])
        series, inits = [], []
        for model in models:
            rows = part[part["model"] == model].set_index("unit_name").reindex(units)
            series.append((MODEL_LABELS.get(model, model), model_color(model),
                           rows["selectivity"].to_numpy(), rows["sd"].to_numpy()))
            inits.append(rows["selectivity_init"].to_numpy())
        plots.grouped_bars(ax, [u.replace("-", " ") for u in units], series, inits)
        ax.axhline(0, color="#4D4D4D", lw=0.8)
        panel_title(ax, "", name or "Timescale selectivity")
    axes[0].set_ylabel("Timescale selectivity\n(r² matching − mean r² others)")
    init = Line2D([], [], color="black", marker="_", ls="", markersize=11, mew=1.6,
                  label="same nets at\ninitialisation")
    model_legend(fig, models, [init])
    n = int(table["n"].max()) if len(table) else 0
    caption = caption_head + (
        "Timescale selectivity of each hidden unit (no-memory ↔ fast row, short-memory ↔ "
        "medium row, long-memory ↔ slow row): squared Pearson correlation with the matching "
        "latent feature minus the mean squared correlation with the other two, on the "
        "held-out stream; 'mean' averages each network's three units (what the claims "
        f"compare). Bars: mean over {n} seeds; error bars: SD of 10,000 bootstrap means. "
        "Black ticks: the same networks before training (much of the selectivity of the "
        "reset models is wired in by the per-row resets).")
    return fig, caption


def draw_selectivity(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    return selectivity_figure(inputs, "Figure 3E. ")


def selectivity_claims(table: pd.DataFrame, curves: pd.DataFrame) -> list[dict[str, Any]]:
    """Timescale selectivity (trained vs initialisation) and the error ordering of 3D."""
    return unmixing.autoencoder_claims(table, curves_frame=curves)


UNIT = FigureUnit(
    id="fig3",
    paper_ref="Fig 3",
    drawings=(Drawing("fig3d", "Figure 3D: autoencoder learning curves", draw_curves),
              Drawing("fig3e", "Figure 3E: timescale selectivity", draw_selectivity,
                      source="analysis")),
    claims=(Claim("ae-reset-helps", "Autoencoders: adding input-change resets to leaky memory "
                  "lowers reconstruction error (the efficient models are memory+reset and no "
                  "memory).", "fig3",
                  (beats({"model": "ae-leaky-reset"}, {"model": "ae-leaky"},
                         "leaky+reset < leaky"),
                   beats({"model": "ae-multiscale-reset"}, {"model": "ae-multiscale"},
                         "multiscale+reset < multiscale")), source="§5.2.2, Fig 3D"),),
    analysis_claims=selectivity_claims,
    quick=AUTOENCODER_QUICK,
    claim_order=9,
)
