"""Reset rules and per-unit memory groups, as pure numpy: torch-free, so configs, claims and
the compiled engine can use them without loading PyTorch.

A reset sets a unit's leak to 0 for one step (paper Eq. 1). The rules are pure functions of the
inputs (and, for ``label``, of the labels): the reference trainer (:mod:`smoothlearn.nn`) and the
fast engine (:mod:`smoothlearn.engine`) call the same functions, so both reset on the same steps.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

__all__ = [
    "RESET_POLICIES",
    "ResetPolicy",
    "AGGREGATES",
    "parse_reset",
    "input_change",
    "reset_flags",
    "group_slices",
    "unit_groups",
    "change_ratio",
    "calibrated_threshold",
    "threshold_flags",
    "surprise_flags",
    "detection_rates",
]

RESET_POLICIES = ("never", "label", "every-K", "input-change")
AGGREGATES = ("sum", "any", "all")


class ResetPolicy(NamedTuple):
    """A parsed reset policy: ``kind`` is never, label, every or input-change; ``period`` is
    K of every-K (0 otherwise). ``str()`` gives the policy string back, as configs store it."""

    kind: str
    period: int = 0

    def __str__(self) -> str:
        return f"every-{self.period}" if self.kind == "every" else self.kind


def parse_reset(policy: str | ResetPolicy) -> ResetPolicy:
    """Parse a reset policy string (a parsed one passes through); the error names what is
    allowed."""
    if isinstance(policy, ResetPolicy):
        return policy
    match = re.fullmatch(r"every-(\d+)", policy)
    if match:
        period = int(match.group(1))
        if period < 1:
            raise ValueError(f"reset={policy!r}: every-K needs K >= 1")
        return ResetPolicy("every", period)
    if policy in ("never", "label", "input-change"):
        return ResetPolicy(policy)
    raise ValueError(
        f"reset={policy!r} is not valid; use one of 'never', 'label', 'every-K', 'input-change'"
    )


def group_slices(d_in: int, groups: int) -> list[slice]:
    """``groups`` contiguous, nearly equal slices of ``d_in`` inputs (the reset rule's groups)."""
    if groups < 1 or groups > d_in:
        raise ValueError(f"groups={groups!r} must be between 1 and the input size {d_in}")
    edges = np.linspace(0, d_in, groups + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def input_change(
    previous: np.ndarray, current: np.ndarray, groups: int = 1, aggregate: str = "sum"
) -> np.ndarray:
    """The A.11 rule: reset where ``|I_t - I_(t-1)| > |(I_t + I_(t-1)) / 2|``, per input group.

    ``previous``/``current`` are ``[..., d_in]``; the result is ``[..., groups]`` bool. The
    aggregation over a group's elements is open in the paper: ``sum`` compares the groups' L1
    norms of change and of mean; ``any``/``all`` apply the inequality element-wise.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"reset_aggregate={aggregate!r}; use one of {AGGREGATES}")
    change = np.abs(current - previous)
    level = np.abs((current + previous) / 2)
    out = []
    for part in group_slices(current.shape[-1], groups):
        a, b = change[..., part], level[..., part]
        if aggregate == "sum":
            out.append(a.sum(-1) > b.sum(-1))
        elif aggregate == "any":
            out.append((a > b).any(-1))
        else:
            out.append((a > b).all(-1))
    return np.stack(out, axis=-1)


def reset_flags(
    policy: str | ResetPolicy,
    inputs: np.ndarray,
    labels: np.ndarray | None = None,
    groups: int = 1,
    aggregate: str = "sum",
    order: np.ndarray | None = None,
) -> np.ndarray:
    """Reset flags ``[T, ..., G]`` for inputs ``[T, ..., d_in]`` and labels ``[T, ...]``.

    A pure function of the inputs (and labels): time is the first axis, any axes between
    (e.g. a batch of independent streams, ``[T, B, d_in]``) are carried along. Step 0 always
    resets: there is no previous item, and the memory starts empty. Only ``input-change`` uses
    more than one group; the others flag all groups alike. The result is the ``reset``
    argument of :meth:`LeakyMemory.sequence` (after ``torch.from_numpy``).

    ``order`` (1-D item indices) makes step t's input ``inputs[order[t]]``: the same flags as
    ``reset_flags(policy, inputs[order], ...)`` without copying the whole stream (a training
    order of 60,000 MNIST items is 188 MB), so preparing a run stays cheap.
    """
    kind, period = parse_reset(policy)
    shape = np.shape(order) if order is not None else inputs.shape[:-1]
    steps = shape[0]
    n_groups = groups if kind == "input-change" else 1
    flags = np.zeros((*shape, n_groups), dtype=bool)
    if kind == "label":
        if labels is None:
            raise ValueError("reset='label' needs labels (it resets at category boundaries)")
        labels = np.asarray(labels)
        if labels.shape != shape:
            raise ValueError(f"labels have shape {labels.shape}; the inputs need {shape}")
        flags[1:, ..., 0] = labels[1:] != labels[:-1]
    elif kind == "every":
        flags[::period, ..., 0] = True
    elif kind == "input-change" and steps > 1:
        flags[1:] = _input_change_steps(inputs, order, steps, groups, aggregate)
    if steps:
        flags[0] = True
    return flags


#: Steps per block of the input-change rule: two gathered blocks stay small (a few MB).
_CHANGE_BLOCK = 2048


def _input_change_steps(inputs: np.ndarray, order: np.ndarray | None, steps: int, groups: int,
                        aggregate: str) -> np.ndarray:
    """:func:`input_change` between every pair of consecutive steps, a block of steps at a
    time; each step's comparison is its own row, so blocking leaves every flag unchanged."""
    def at(s: slice) -> np.ndarray:
        return inputs[order[s]] if order is not None else inputs[s]

    blocks = []
    for a in range(1, steps, _CHANGE_BLOCK):
        b = min(a + _CHANGE_BLOCK, steps)
        blocks.append(input_change(at(slice(a - 1, b - 1)), at(slice(a, b)), groups, aggregate))
    return np.concatenate(blocks, axis=0)


def unit_groups(d_hidden: int, groups: int) -> np.ndarray:
    """Reset group of each hidden unit: unit j listens to input group floor(j * G / d_hidden)."""
    return (np.arange(d_hidden, dtype=np.int64) * groups) // d_hidden


# ----------------------------------------------------------------------------- boundary rules
# Rules that look for the boundaries between episodes of a stream without reading labels. Each
# returns flags ``[T]`` (step 0 always set, as in :func:`reset_flags`), so the same detection
# measure (:func:`detection_rates`) scores them all against the true boundaries.


def change_ratio(inputs: np.ndarray) -> np.ndarray:
    """Per step t >= 1, ``sum|I_t - I_(t-1)| / sum|(I_t + I_(t-1)) / 2|``; ``[T - 1]``.

    The A.11 rule (``aggregate="sum"``, one group) is ``change_ratio > 1``; the calibrated rule
    moves the threshold. A step between two blank inputs has ratio 0 (nothing changed).
    """
    inputs = np.asarray(inputs, np.float64)
    change = np.abs(np.diff(inputs, axis=0)).sum(-1)
    level = np.abs((inputs[1:] + inputs[:-1]) / 2).sum(-1)
    return np.divide(change, level, out=np.zeros_like(change), where=level > 0)


def calibrated_threshold(train_inputs: np.ndarray, bins: int = 256) -> float:
    """A change-ratio threshold learnt from a training stream alone, without labels.

    Inside an episode consecutive frames change a little; across a boundary, a lot. Otsu's
    split of the training stream's change ratios (the cut that maximises the variance
    between the two sides; for inputs >= 0 the ratio lies in [0, 2]) finds the valley
    between the two kinds of step whatever the episodes' length, where a fixed quantile
    would have to know it.
    """
    scores = change_ratio(train_inputs)
    if scores.size < 2 or np.ptp(scores) == 0:
        raise ValueError("calibrated_threshold needs a training stream of at least 3 inputs "
                         "whose consecutive changes differ")
    counts, edges = np.histogram(scores, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)  # steps at or below each cut
    total = weight[-1]
    mass = np.cumsum(counts * centres)
    below = weight[:-1]
    mean_low = mass[:-1] / np.maximum(below, 1)
    mean_high = (mass[-1] - mass[:-1]) / np.maximum(total - below, 1)
    between = below * (total - below) * (mean_low - mean_high) ** 2
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))  # cuts through an empty
    return float(edges[1:-1][best].mean())  # valley tie: take the valley's middle


def threshold_flags(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Reset flags ``[len(scores) + 1]`` where a per-step score (for t >= 1) exceeds
    ``threshold``; step 0 always resets."""
    return np.r_[True, np.asarray(scores) > threshold]


def surprise_flags(drive: np.ndarray, leak: float, decay: float = 0.9, jump: float = 1.5,
                   floor: float = 0.1) -> np.ndarray:
    """Reset where the leaky memory's own prediction error jumps above its running level.

    ``drive`` ``[T, d]`` is the network's feedforward activity ``ReLU(W I_t + b)``; the memory
    ``H(t-1)`` (paper Eq. 1) is its running estimate of that activity, so the relative error
    ``|drive_t - H(t-1)| / (|drive_t| + |H(t-1)|)`` (L1, in [0, 1]) is its surprise at step t.
    The rule resets where the surprise exceeds ``jump`` times its level, an exponential
    average (weight ``decay`` on the past) of the surprises since the last reset, and also
    ``floor`` (so that noise on a steady drive, tiny but jumpy, resets nothing); a reset
    empties the memory, as in the network. Flags ``[T]``; step 0 always resets.
    """
    drive = np.asarray(drive, np.float64)
    if not 0 <= leak < 1:
        raise ValueError(f"leak={leak!r} must lie in [0, 1)")
    if not 0 <= decay < 1:
        raise ValueError(f"decay={decay!r} must lie in [0, 1)")
    if jump <= 1:
        raise ValueError(f"jump={jump!r} must be above 1 (a factor over the running level)")
    if not 0 <= floor < 1:
        raise ValueError(f"floor={floor!r} must lie in [0, 1) (a relative error)")
    flags = np.zeros(drive.shape[0], dtype=bool)
    if not flags.size:
        return flags
    flags[0] = True
    memory, level = drive[0].copy(), np.nan
    for t in range(1, drive.shape[0]):
        size = np.abs(drive[t]).sum() + np.abs(memory).sum()
        error = np.abs(drive[t] - memory).sum() / size if size > 0 else 0.0
        if np.isfinite(level) and error > max(jump * level, floor):
            flags[t], level = True, np.nan  # a new episode: its memory and level start afresh
            memory = drive[t].copy()
            continue
        level = error if np.isnan(level) else decay * level + (1 - decay) * error
        memory = leak * memory + (1 - leak) * drive[t]
    return flags


def detection_rates(flags: np.ndarray, boundaries: np.ndarray) -> tuple[float, float]:
    """Hit rate (share of true boundaries flagged) and false-alarm rate (share of the other
    steps flagged) of reset ``flags`` against ``boundaries`` (both ``[T]`` bool). Step 0 is
    left out (it always resets); a rate with nothing to count is NaN."""
    flags, boundaries = np.asarray(flags, bool)[1:], np.asarray(boundaries, bool)[1:]
    if flags.shape != boundaries.shape:
        raise ValueError(f"flags have {flags.size + 1} steps; boundaries {boundaries.size + 1}")
    hit = float(flags[boundaries].mean()) if boundaries.any() else float("nan")
    false_alarm = float(flags[~boundaries].mean()) if (~boundaries).any() else float("nan")
    return hit, false_alarm
