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
