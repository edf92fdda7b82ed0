"""Figure A.15: the dynamics of each trained autoencoder's three hidden units beside the
latent fast, medium and slow states of the input rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from smoothlearn import analysis
from smoothlearn.figures.plotting.style import (
    FEATURE_COLORS,
    MODEL_LABELS,
    UNIT_COLORS,
    ae_order,
    new_figure,
    panel_title,
)
from smoothlearn.figures.unit import AUTOENCODER_QUICK, Drawing, FigureUnit

UNIT_NAMES = ("no-memory", "short-memory", "long-memory")


def draw(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    runs = list(zip(inputs["configs"], inputs["curves"], strict=True))
    first: dict[str, tuple[Any, Any]] = {}
    for config, curve in sorted(runs, key=lambda r: r[0].seed):
        first.setdefault(config.model, (config, curve))
    models = ae_order(first)
    fig = new_figure(8.6, 1.55 * (len(models) + 1) + 0.6)
    axes = fig.subplots(len(models) + 1, 1, sharex=True, squeeze=False)[:, 0]
    dyn = {m: analysis.dynamics_for(*first[m], start=0, length=30) for m in models}
    some = next(iter(dyn.values()))
    steps = some["step"]
    for k, name in enumerate(("fast", "medium", "slow")):
        axes[0].step(steps, some["latent"][:, k] + 1.4 * (2 - k), where="mid",
                     color=FEATURE_COLORS[name], label=f"{name}-changing feature")
    axes[0].set_yticks([])
    panel_title(axes[0], "", "Latent states of the input rows")
    for ax, model in zip(axes[1:], models, strict=True):
        hidden = dyn[model]["hidden"]
        for u in range(hidden.shape[1]):
            name = UNIT_NAMES[u] if u < 3 else str(u)
            ax.plot(steps, hidden[:, u], color=UNIT_COLORS.get(name, "#7F7F7F"), lw=1.5,
                    label=f"{name} unit")
        panel_title(ax, "", MODEL_LABELS.get(model, model))
        ax.set_ylabel("activity", fontsize=8)
    axes[-1].set_xlabel("Item of the held-out stream")
    handles = [Line2D([], [], color=FEATURE_COLORS[f], lw=2, label=f"{f}-changing feature")
               for f in ("fast", "medium", "slow")]
    handles += [Line2D([], [], color=UNIT_COLORS[u], lw=2, label=f"{u} unit")
                for u in UNIT_NAMES]
    fig.legend(handles=handles, loc="outside right upper", title_fontsize=9)
    seed = first[models[0]][0].seed
    caption = ("Figure A.15. Dynamics of the three hidden units of each trained autoencoder "
               f"(seed {seed}) over the first 30 items of the held-out stream, streamed with "
               "its own memory and resets, beside the latent fast, medium and slow states of "
               "the input rows (top). Unit colours match the row whose timescale the unit is "
               "meant to track.")
    return fig, caption


UNIT = FigureUnit(
    id="figA15",
    paper_ref="A.15",
    drawings=(Drawing("figA15", "Figure A.15: hidden-unit dynamics", draw, source="analysis"),),
    quick=AUTOENCODER_QUICK,
)
