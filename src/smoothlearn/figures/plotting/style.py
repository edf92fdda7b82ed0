"""The report's look: one colour per condition and per model, labels, and matplotlib settings.

Colours are fixed per condition (:data:`CONDITION_COLORS`) and per model (:data:`MODEL_COLORS`),
so one colour means one thing in every figure, the robustness matrix included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from smoothlearn.streams import parse_condition

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
FALLBACK_COLORS = ["#1F77B4", "#FF7F0E", "#2CA02C", "#9467BD", "#17BECF", "#BCBD22", "#7F7F7F"]
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


def sort_key(cond: str) -> tuple[int, float, str]:
    """random first, then repeat-N by N, then the rest: the paper's order of conditions.

    Any label sorts (legends also sort models with it); only conditions get a rank."""
    try:
        parsed = parse_condition(cond)
    except ValueError:
        return (2, 0.0, cond)
    if parsed.kind == "random":
        return (0, 0.0, cond)
    if parsed.kind == "repeat":
        return (1, float(parsed.repeats), cond)
    return (2, 0.0, cond)


def _fallback(name: str) -> str:
    """A stable colour for a name without one (the same in every figure and every run)."""
    return FALLBACK_COLORS[sum(map(ord, name)) % len(FALLBACK_COLORS)]


def condition_color(cond: str) -> str:
    return CONDITION_COLORS.get(cond, _fallback(cond))


def model_color(model: str) -> str:
    return MODEL_COLORS.get(model, _fallback(model))


def kilo(x: float, _pos: Any = None) -> str:
    return f"{x / 1000:g}k" if abs(x) >= 1000 else f"{x:g}"


def new_figure(width: float, height: float) -> Figure:
    """A figure with the report's style (callers run inside ``matplotlib.rc_context(RC)``)."""
    return Figure(figsize=(width, height), layout="constrained", dpi=110)


def style_axes(ax, metric: str | None = None, xlabel: bool = True) -> None:
    ax.xaxis.set_major_formatter(FuncFormatter(kilo))
    if xlabel:
        ax.set_xlabel(STEP_LABEL)
    if metric:
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if metric == "test_acc":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{100 * v:.0f}"))


def panel_title(ax, letter: str, text: str) -> None:
    ax.set_title(f"{letter}  {text}" if letter else text, loc="left")


def condition_legend(fig: Figure, conditions: Iterable[str], extra: Sequence[Any] = (),
                     title: str = "Training order") -> None:
    handles = [Line2D([], [], color=condition_color(c), lw=2.2, label=c) for c in conditions]
    handles += list(extra)
    fig.legend(handles=handles, loc="outside right upper", title=title, title_fontsize=9)


def model_legend(fig: Figure, models: Iterable[str], extra: Sequence[Any] = (),
                 title: str = "Model") -> None:
    handles = [Line2D([], [], color=model_color(m), lw=2.2, label=MODEL_LABELS.get(m, m))
               for m in models]
    handles += list(extra)
    fig.legend(handles=handles, loc="outside right upper", title=title, title_fontsize=9)


#: The five autoencoders of Fig 3 in the paper's order.
AE_MODELS = ["ae-feedforward", "ae-leaky", "ae-multiscale", "ae-leaky-reset",
             "ae-multiscale-reset"]
UNIT_COLORS = {"no-memory": "#D55E00", "short-memory": "#E69F00", "long-memory": "#0072B2",
               "mean": "#4D4D4D"}
FEATURE_COLORS = {"fast": "#D55E00", "medium": "#E69F00", "slow": "#0072B2"}


def ae_order(models: Iterable[str]) -> list[str]:
    """Models in the paper's autoencoder order (others last), each once."""
    models = list(dict.fromkeys(models))
    return sorted(models, key=lambda m: AE_MODELS.index(m) if m in AE_MODELS else 99)
