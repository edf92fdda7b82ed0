"""Figure 2: smoothness slows feedforward learning; leaky memory (+ reset) turns it into a
benefit (MNIST). Its claims are built by functions of a :class:`Reading`, so the robustness
sweep re-checks the same claims (same ids) under other test protocols and losses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from smoothlearn.claims import Claim, beats, chain, select_runs
from smoothlearn.figures.plotting import plots, prose
from smoothlearn.figures.plotting.style import (
    condition_color,
    condition_legend,
    new_figure,
    panel_title,
    style_axes,
)
from smoothlearn.figures.unit import MNIST_QUICK, Drawing, FigureUnit

#: The paper's feedforward ordering as A.1 and A.3 restate it: repeat-1 best, then slowing.
FF_ORDER = ["repeat-1", "random", "repeat-3", "repeat-5"]
#: The paper's first Fig 2A statement, best to worst: more smoothness slows feedforward
#: learning (its second, minimum smoothness beats random, is a claim of its own).
FF_SLOWING = ["random", "repeat-3", "repeat-5", "repeat-10"]
SMOOTH = ["repeat-3", "repeat-5", "repeat-10"]
LEVELS = ["random", "repeat-1", "repeat-3", "repeat-5", "repeat-10"]
FEEDFORWARD = {"model": "feedforward", "test_mode": "off"}
RESET_MEMORY_OFF = {"model": "leaky-reset", "test_mode": "off"}
#: What the test-time averaging control averages, per ``test_memory``.
AVERAGED = {"hidden": "hidden states", "output": "output probabilities (softmax)"}
#: What each verdict of a test-time averaging control claim means: in the claim's text (the
#: report's claim list), not in its headline ``statement``, which would repeat it on every row.
CONTROL_VERDICTS = (
    " Reproduced: leaky + reset's streamed advantage is more than averaging at test time "
    "(the net learned something the averaging does not give). Equivalent or reversed: "
    "averaging at test time alone gives the advantage, so it is not a learned "
    "representation. Inconclusive: these seeds cannot tell the two apart."
)


def averaging_control(memory: str, test_mode: str = "same") -> dict[str, str]:
    """The test-time averaging control: the feedforward nets (trained without memory) tested
    on leaky + reset's streamed test (label resets) with leaky memory, leak 0.5, switched on
    only at test over their ``memory`` ("hidden" or "output")."""
    return {"model": "feedforward", "test_mode": test_mode, "test_memory": memory}


def without_control(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs tested without memory switched on only at test: figures that draw models
    by name leave the control out (a frame from before it has no such runs)."""
    if "test_memory" not in frame.columns:
        return frame
    return frame[frame["test_memory"].fillna("none") == "none"]


def averaging_text(memory: str) -> str:
    """How the control is tested, for a claim's text."""
    return (f"the feedforward net tested on the same stream with its {AVERAGED[memory]} "
            "averaged by the same leak (0.5) and resets, switched on only at test")


@dataclass(frozen=True)
class Reading:
    """How the Fig 2 claims are read: the arms of the memory nets (their test protocol), the
    metric, and the experiment whose runs are compared."""

    leaky: Mapping[str, Any] = field(default_factory=lambda: {"model": "leaky"})
    reset: Mapping[str, Any] = field(
        default_factory=lambda: {"model": "leaky-reset", "test_mode": "same"})
    metric: str = "test_mse"
    experiment: str = "fig2"


PAPER = Reading()


def _claim(reading: Reading, claim_id: str, text: str, comparisons, source: str,
           headline: str = "", statement: str = "") -> Claim:
    return Claim(claim_id, text, reading.experiment, tuple(comparisons), metric=reading.metric,
                 source=source, headline=headline, statement=statement)


def ff_smoothness_slows(r: Reading) -> Claim:
    """Fig 2A's first statement, split from the second so that one answer cannot hide the
    other under a compound verdict."""
    return _claim(r, "ff-smoothness-slows", "Feedforward nets: smoothness slows learning; test "
                  "error random < repeat-3 < repeat-5 < repeat-10.",
                  chain("condition", FF_SLOWING, **FEEDFORWARD), "§4.2, Fig 2A")


def ff_minimum_smoothness_best(r: Reading) -> Claim:
    """Fig 2A's second statement: the least smooth order (repeat-1) beats random."""
    return _claim(r, "ff-minimum-smoothness-best", "Feedforward nets: minimum smoothness "
                  "(repeat-1) beats random order; test error repeat-1 < random.",
                  (beats({**FEEDFORWARD, "condition": "repeat-1"},
                         {**FEEDFORWARD, "condition": "random"}, "repeat-1 < random"),),
                  "§4.2, Fig 2A")


def leaky_more_repeats(r: Reading) -> Claim:
    return _claim(r, "leaky-more-repeats", "Leaky memory: more repeats help (test error falls "
                  "with smoothness).",
                  chain("condition", ["repeat-10", "repeat-5", "repeat-3", "repeat-1"],
                        **r.leaky), "§5.1.2, Fig 2B")


def _reset_vs_levels(reset: Mapping[str, Any]):
    return (beats({**reset, "condition": n}, {**reset, "condition": ref}, f"{n} < {ref}")
            for n in SMOOTH for ref in ("random", "repeat-1"))


def reset_beats_random_1rep(r: Reading) -> Claim:
    return _claim(r, "reset-beats-random-1rep", "Leaky memory + reset: every N-repeat order "
                  "(N ≥ 3) beats random and repeat-1; tested streamed in the training order "
                  "with label resets (reads test labels).", _reset_vs_levels(r.reset),
                  "§5.1.2, Fig 2C", statement="Leaky memory + reset: every N-repeat order "
                  "(N ≥ 3) beats random and repeat-1.")


def reset_beats_random_1rep_memory_off(r: Reading) -> Claim:
    return _claim(r, "reset-beats-random-1rep-memory-off", "As above, but tested with memory "
                  "off (each test item alone; no test labels read).",
                  _reset_vs_levels(RESET_MEMORY_OFF), "§5.1.2, Fig 2C (honest protocol)",
                  headline="reset-beats-random-1rep")


def reset_beats_ff(r: Reading) -> Claim:
    return _claim(r, "reset-beats-ff", "Leaky memory + reset beats the feedforward net at every "
                  "smoothness level (streamed test, label resets: reads test labels).",
                  (beats({**r.reset, "condition": c}, {**FEEDFORWARD, "condition": c}, f"{c}")
                   for c in LEVELS), "§5.1.3, Fig 2A vs 2C", statement="Leaky memory + reset "
                  "beats the feedforward net at every smoothness level.")


def reset_beats_ff_memory_off(r: Reading) -> Claim:
    return _claim(r, "reset-beats-ff-memory-off", "As above, but tested with memory off (each "
                  "test item alone; no test labels read).",
                  (beats({**RESET_MEMORY_OFF, "condition": c}, {**FEEDFORWARD, "condition": c},
                         f"{c}") for c in LEVELS), "§5.1.3, Fig 2A vs 2C (honest protocol)",
                  headline="reset-beats-ff")


def reset_smooth_beats_ff_memory_off(r: Reading) -> Claim:
    return _claim(r, "reset-smooth-beats-ff-memory-off", "Leaky memory + reset trained on "
                  "smooth data and tested with memory off beats feedforward nets (trained on "
                  "the same order, and trained in random order).",
                  (beats({**RESET_MEMORY_OFF, "condition": n}, {**FEEDFORWARD, "condition": ref},
                         f"LR {n} < FF {ref}") for n in SMOOTH for ref in (n, "random")),
                  "§5.1.3")


def reset_gain_vs_averaging(r: Reading, memory: str) -> Claim:
    statement = ("Leaky memory + reset tested streamed (training order, label resets: reads "
                 f"test labels) beats {averaging_text(memory)}, at every N-repeat order "
                 "(N ≥ 3), where its streamed gain over random and repeat-1 lies.")
    return _claim(r, f"reset-gain-vs-{memory}-averaging", statement + CONTROL_VERDICTS,
                  (beats({**r.reset, "condition": n}, {**averaging_control(memory),
                                                       "condition": n}, f"LR < FF+avg {n}")
                   for n in SMOOTH), "§5.1.2, Fig 2C (test-time averaging control)",
                  statement=statement)


def reset_beats_ff_vs_averaging(r: Reading, memory: str) -> Claim:
    statement = ("Leaky memory + reset tested streamed (training order, label resets: reads "
                 f"test labels) beats {averaging_text(memory)}, at every smoothness level.")
    return _claim(r, f"reset-beats-ff-{memory}-averaging", statement + CONTROL_VERDICTS,
                  (beats({**r.reset, "condition": c}, {**averaging_control(memory),
                                                       "condition": c}, f"{c}")
                   for c in LEVELS), "§5.1.3, Fig 2A vs 2C (test-time averaging control)",
                  statement=statement)


#: The claims a robustness cell re-checks: the memory-off variant of the reset claim is a
#: cell of its own there ("test: memory off").
ROBUSTNESS_CLAIMS = (ff_smoothness_slows, ff_minimum_smoothness_best, leaky_more_repeats,
                     reset_beats_random_1rep, reset_beats_ff, reset_smooth_beats_ff_memory_off)


def claims(reading: Reading = PAPER) -> tuple[Claim, ...]:
    return (ff_smoothness_slows(reading), ff_minimum_smoothness_best(reading),
            leaky_more_repeats(reading), reset_beats_random_1rep(reading),
            reset_beats_random_1rep_memory_off(reading), reset_beats_ff(reading),
            reset_beats_ff_memory_off(reading), reset_smooth_beats_ff_memory_off(reading),
            *(reset_gain_vs_averaging(reading, m) for m in AVERAGED),
            *(reset_beats_ff_vs_averaging(reading, m) for m in AVERAGED))


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    panels = [
        ("A", "Feedforward", FEEDFORWARD),
        ("B", "Leaky memory", {"model": "leaky"}),
        ("C", "Leaky + reset (memory off)", {"model": "leaky-reset", "test_mode": "off"}),
        ("C′", "Leaky + reset (streamed)", {"model": "leaky-reset", "test_mode": "same"}),
    ]
    panels = [p for p in panels if not select_runs(frame, p[2]).empty]
    fig = new_figure(3.1 * len(panels) + 1.6, 6.2)
    axes = fig.subplots(2, len(panels), sharey="row", squeeze=False)
    reference = select_runs(frame, {**FEEDFORWARD, "condition": "random"})
    control = select_runs(frame, averaging_control("hidden"))
    conds: list[str] = []
    for col, (letter, title, where) in enumerate(panels):
        sub = select_runs(frame, where)
        for row, metric in enumerate(("test_mse", "test_acc")):
            ax = axes[row, col]
            conds = plots.curves_by(ax, sub, "condition", metric, ctx, condition_color) or conds
            if letter == "C′":
                plots.curves_by(ax, control, "condition", metric, ctx, condition_color,
                                style_of=lambda _row: "--")
            if col > 0 and not reference.empty:
                ref = plots.seed_curves(reference, ["model"], metric, ctx.window)
                ax.plot(ref["step"], ref["mean"], "--", color="#999999", lw=1.1)
            style_axes(ax, metric if col == 0 else None, xlabel=row == 1)
            plots.exhaustion_marker(ax, ctx)
            if row == 0:
                panel_title(ax, letter, title)
    ref_handle = [Line2D([], [], color="#999999", ls="--", lw=1.1,
                         label="feedforward, random\n(reference)")]
    if not control.empty and any(p[0] == "C′" for p in panels):
        ref_handle.append(Line2D([], [], color="#4D4D4D", ls="--", lw=1.1,
                                 label="C′ dashed: feedforward,\nhidden averaged at test"))
    condition_legend(fig, conds, ref_handle + plots.exhaustion_handle(ctx, frame))
    caption = ("Figure 2. Test error (MSE, top) and accuracy (bottom) during one epoch of "
               f"per-sample training on MNIST{prose.in_brackets(prose.net_text(frame))}, per "
               "training order. A: feedforward; B: leaky memory (α = 0.5); C: leaky memory with "
               "resets at category boundaries, tested with memory off; C′: the same nets tested "
               "streamed in their training order with label resets on the test stream (this "
               "protocol reads test labels). The dashed grey line repeats A's random curve"
               + ("; C′'s dashed colour lines are the feedforward nets tested on the same "
                  "stream with their hidden states averaged only at test (leak 0.5, the same "
                  "resets: the test-time averaging control)" if not control.empty else "")
               + ". "
               + prose.caption_curves(ctx, frame))
    return fig, caption


UNIT = FigureUnit(
    id="fig2",
    paper_ref="Fig 2",
    drawings=(Drawing("fig2", "Figure 2: smoothness and leaky memory (MNIST)", draw,
                      smoothed=True, exhaustion=True),),
    claims=claims(),
    quick=MNIST_QUICK,
    claim_order=0,
)
