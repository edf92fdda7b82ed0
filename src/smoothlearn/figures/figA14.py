"""Figure A.14: across seeds, slow hidden units that track the fast feature go with a worse
fast-row reconstruction; the no-memory unit does not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from smoothlearn import unmixing
from smoothlearn.figures.plotting.style import (
    MODEL_LABELS,
    ae_order,
    model_color,
    new_figure,
    panel_title,
)
from smoothlearn.figures.unit import AUTOENCODER_QUICK, Drawing, FigureUnit


def draw(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    table = inputs["table"]
    rel = unmixing.a14_relation(table)
    fast = table[table["feature"] == 0].copy()
    fast["r2"] = fast["corr"] ** 2
    fig = new_figure(10.0, 4.0)
    axes = fig.subplots(1, 2, sharey=True)
    spec = [("slow", [1, 2], "Short- and long-memory units"),
            ("no-memory", [0], "No-memory unit")]
    for ax, (kind, units, title) in zip(axes, spec, strict=True):
        for model in ae_order(fast["model"]):
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
        panel_title(ax, "", title)
    axes[0].set_ylabel("Fast-row test error (MSE)")
    caption = ("Figure A.14. Across seeds, the squared correlation of hidden units with the "
               "fast-changing feature against the fast row's reconstruction error; left: the "
               "units with memory (short and long), right: the no-memory unit. The paper's "
               "hypothesis: for units with memory, more correlation with the fast feature goes "
               "with worse fast-row error (r > 0); not so for the no-memory unit. Legend: "
               "Pearson r across seeds with a bootstrap 95% CI.")
    return fig, caption


def relation_claims(table: pd.DataFrame, _curves: pd.DataFrame) -> list[dict[str, Any]]:
    return unmixing.a14_claims(table)


UNIT = FigureUnit(
    id="figA14",
    paper_ref="A.14",
    drawings=(Drawing("figA14", "Figure A.14: slow units and the fast feature", draw,
                      source="analysis"),),
    analysis_claims=relation_claims,
    quick=AUTOENCODER_QUICK,
    claim_order=12,
)
