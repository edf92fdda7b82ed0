"""Caption pieces read from the data (smoothing, exhaustion marker, net settings), so a changed
config changes the caption too."""

from __future__ import annotations

from typing import Any

import pandas as pd

from smoothlearn.figures.plotting.context import Context


def caption_curves(ctx: Context, frame: pd.DataFrame) -> str:
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


def _unique(frame: pd.DataFrame, column: str) -> list[Any]:
    if column not in frame.columns:
        return []
    return sorted(frame[column].dropna().unique().tolist())


def net_text(frame: pd.DataFrame) -> str:
    """Hidden size, optimiser and learning rate as the runs used them, e.g. "392 hidden units,
    SGD lr 0.01" (read from the frame, so a changed config changes the caption too)."""
    parts = []
    hidden = [str(int(h)) for h in _unique(frame, "hidden")]
    if hidden:
        parts.append(f"{' or '.join(hidden)} hidden units")
    rates = " or ".join(f"{lr:g}" for lr in _unique(frame, "lr"))
    names = {"sgd": "SGD", "rmsprop": "RMSprop"}
    optimizer = " or ".join(names.get(str(o), str(o)) for o in _unique(frame, "optimizer"))
    if rates:
        parts.append(f"{optimizer} lr {rates}".strip())
    return ", ".join(parts)


def in_brackets(text: str) -> str:
    return f" ({text})" if text else ""


def hidden_note(frame: pd.DataFrame) -> str:
    if "hidden" in frame.columns:
        sizes = frame.loc[frame["model"] == "lstm", "hidden"].dropna().unique()
        if len(sizes) and any(int(s) != 392 for s in sizes):
            return f" LSTM hidden size here: {', '.join(str(int(s)) for s in sizes)} (quick)."
    return ""
