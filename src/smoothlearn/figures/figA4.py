"""Figure A.4: leaky memory (+ reset) on synthetic data, per test protocol."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from smoothlearn.claims import Claim, beats, chain
from smoothlearn.figures.fig2 import SMOOTH
from smoothlearn.figures.plotting import plots, prose
from smoothlearn.figures.plotting.style import condition_color, new_figure, panel_title, sort_key
from smoothlearn.figures.unit import SYNTHETIC_QUICK, Drawing, FigureUnit

_MODE_MARKERS = {"off": ("o", True), "same": ("s", False), "repeat-1": ("D", False),
                 "random": ("^", False)}


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    panels = [("Feedforward (reference)", "feedforward"), ("Leaky memory", "leaky"),
              ("Leaky memory + reset", "leaky-reset")]
    panels = [p for p in panels if p[1] in set(frame["model"])]
    fig = new_figure(3.0 * len(panels) + 1.9, 3.6)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    step = plots.measure_step(frame[frame["test_mode"] == "off"])
    conds = sorted(frame["condition"].unique(), key=sort_key)
    modes = sorted(frame["test_mode"].unique(), key=lambda m: m != "off")
    for ax, (title, model) in zip(axes, panels, strict=True):
        sub = frame[frame["model"] == model]
        for i, cond in enumerate(conds):
            for j, mode in enumerate(modes):
                part = sub[(sub["condition"] == cond) & (sub["test_mode"] == mode)]
                shift = 0.0 if len(modes) == 1 else (j - (len(modes) - 1) / 2) * 0.28
                marker, filled = _MODE_MARKERS.get(mode, ("v", False))
                plots.dots(ax, i + shift, plots.values_at(part, step, "test_mse").to_numpy(),
                           condition_color(cond), marker, filled)
        ax.set_xticks(range(len(conds)), conds, rotation=30, ha="right")
        ax.set_xlim(-0.6, len(conds) - 0.4)
        ax.grid(False, axis="x")
        panel_title(ax, "", title)
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
               f"{step}) on synthetic A.2 data{prose.in_brackets(prose.net_text(frame))}, per "
               "training order, for "
               "feedforward nets (reference), leaky memory, and leaky memory with resets at "
               "category boundaries, tested with memory off (filled) or streamed in the "
               "training order with label resets (open squares). Points: mean over "
               f"{frame['seed'].nunique()} seeds; error bars: SD of 10,000 bootstrap means.")
    return fig, caption


UNIT = FigureUnit(
    id="figA4",
    paper_ref="A.4",
    drawings=(Drawing("figA4", "Figure A.4: leaky memory on synthetic data", draw),),
    claims=(
        Claim("A4-leaky-more-repeats", "Synthetic data, leaky memory: higher smoothness gives "
              "lower error.", "figA4",
              chain("condition", ["repeat-10", "repeat-5", "repeat-3", "repeat-1"],
                    model="leaky"), source="A.4 left"),
        Claim("A4-reset-beats-1rep", "Synthetic data, leaky memory + reset: every smoothness "
              "level beats repeat-1 (memory off, and streamed with label resets).", "figA4",
              tuple(beats({"model": "leaky-reset", "test_mode": tm, "condition": n},
                          {"model": "leaky-reset", "test_mode": tm, "condition": "repeat-1"},
                          f"{n} < repeat-1 ({tm})")
                    for tm in ("off", "same") for n in SMOOTH), source="A.4 right"),
    ),
    quick=SYNTHETIC_QUICK,
    claim_order=3,
)
