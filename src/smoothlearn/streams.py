"""Orders of one fixed training set, at controlled levels of temporal smoothness.

The paper's first variable is the *order* in which one fixed training set is presented
(Section 4.1.1, Figure 1B). Every condition here is built from the same two seeded pieces:

* a **category order** (a permutation of the categories), and
* a **within-category order** (a permutation of each category's items),

so that, for a given seed, every condition presents each category's items in the same order
and visits categories in the same cyclic order; only the *interleaving* differs.

Conditions (strings, as used in configs and result tables):

``random``
    A random interleaving of the categories: a uniformly random permutation of the label
    multiset, filled with each category's items in within-category order. This is exactly a
    uniform random permutation of the items (without replacement), with the within-category
    order shared with the other conditions.
``repeat-N`` (N >= 1)
    Blocks of N consecutive items of one category, categories visited cyclically in category
    order. ``repeat-1`` is the paper's "minimum smoothness".
``sticky-P`` (0 <= P < 1)
    A continuous smoothness setting: after each item the stream stays in its category with
    probability P, else moves on to the next category in category order. Run lengths are
    geometric with mean 1/(1-P); ``sticky-0`` equals ``repeat-1``.
``given``
    The data's own order (for intrinsically ordered streams such as the multi-timescale one).

**Exhausted categories.** Classes rarely have equal sizes (MNIST: 5,421 to 6,742). When a
category runs out, it is skipped and the remaining categories keep their cyclic order, so every
item still appears exactly once per epoch. Near the end of an epoch this leaves only the largest
classes (for MNIST the last ~480 items are all "1"), which biases anything measured there; see
:func:`first_exhaustion_step` to measure before that point, or :func:`balanced_subset` to cut
every class to the smallest class size (the same subset in every condition).

**Epochs.** The category order is fixed for the whole run; each epoch draws a fresh
within-category order (and a fresh interleaving for ``random``/``sticky``), as
``DistributedSampler.set_epoch`` would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "Condition",
    "parse_condition",
    "as_labels",
    "order",
    "epoch_order",
    "boundaries",
    "mean_run_length",
    "same_label_fraction",
    "consecutive_similarity",
    "smoothness",
    "first_exhaustion_step",
    "balanced_subset",
]

_PATTERN = re.compile(r"^(random|given|repeat-(\d+)|sticky-([0-9]*\.?[0-9]+))$")


@dataclass(frozen=True)
class Condition:
    """A parsed condition string; ``str()`` gives it back in its one spelling (``sticky-0.50``
    becomes ``sticky-0.5``), as configs and result tables store it."""

    kind: Literal["random", "given", "repeat", "sticky"]
    repeats: int = 1
    stay: float = 0.0

    def __str__(self) -> str:
        if self.kind == "repeat":
            return f"repeat-{self.repeats}"
        if self.kind == "sticky":
            return f"sticky-{self.stay:g}"
        return self.kind


def parse_condition(condition: str | Condition) -> Condition:
    """Validate a condition string early, naming what is allowed (scikit-learn style)."""
    if isinstance(condition, Condition):
        return condition
    match = _PATTERN.match(str(condition).strip())
    if not match:
        raise ValueError(
            f"condition={condition!r} is not valid; use 'random', 'given', 'repeat-N' "
            "with N >= 1, or 'sticky-P' with 0 <= P < 1"
        )
    kind = match.group(1).split("-")[0]
    if kind == "repeat":
        repeats = int(match.group(2))
        if repeats < 1:
            raise ValueError(f"condition={condition!r}: repeat-N needs N >= 1")
        return Condition("repeat", repeats=repeats)
    if kind == "sticky":
        stay = float(match.group(3))
        if not 0.0 <= stay < 1.0:
            raise ValueError(f"condition={condition!r}: sticky-P needs 0 <= P < 1")
        return Condition("sticky", stay=stay)
    return Condition(kind)


def as_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` as a 1-d int64 array; a ValueError says what is wrong with them."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-d array, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    return labels.astype(np.int64, copy=False)


def _seed_rng(seed: int, *stream: int) -> np.random.Generator:
    """Independent generators per purpose, so adding a condition never shifts another's draws."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *stream]))


def category_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """The seeded cyclic order in which categories are visited (same for every condition)."""
    categories = np.unique(as_labels(labels))
    return categories[_seed_rng(seed, 0).permutation(categories.size)]


def _within_category(labels: np.ndarray, seed: int, epoch: int) -> dict[int, np.ndarray]:
    """Each category's items in the seeded within-category order of this epoch."""
    rng = _seed_rng(seed, 1, epoch)
    return {
        int(c): rng.permutation(np.flatnonzero(labels == c))
        for c in np.unique(labels)  # sorted, so draws do not depend on the category order
    }


def _category_sequence(
    cond: Condition, counts: dict[int, int], cats: np.ndarray, seed: int, epoch: int
) -> np.ndarray:
    """The category of each position in the epoch (items are filled in afterwards)."""
    if cond.kind == "random":
        multiset = np.repeat(cats, [counts[int(c)] for c in cats])
        return _seed_rng(seed, 2, epoch).permutation(multiset)
    left = {int(c): counts[int(c)] for c in cats}
    total = sum(left.values())
    rng = _seed_rng(seed, 3, epoch)
    out = np.empty(total, dtype=np.int64)
    ring = [int(c) for c in cats]
    pos, here = 0, 0
    while pos < total:
        category = ring[here]
        if cond.kind == "repeat":
            take = min(cond.repeats, left[category])
        else:  # sticky: geometric run length, capped by what is left
            take = min(int(rng.geometric(1.0 - cond.stay)), left[category])
        out[pos : pos + take] = category
        pos += take
        left[category] -= take
        if left[category] == 0:
            ring.pop(here)
            if ring:
                here %= len(ring)
        elif ring:
            here = (here + 1) % len(ring)
    return out


def _one_epoch(labels: np.ndarray, cond: Condition, seed: int, epoch: int) -> np.ndarray:
    if cond.kind == "given":
        return np.arange(labels.size, dtype=np.int64)
    items = _within_category(labels, seed, epoch)
    counts = {c: v.size for c, v in items.items()}
    sequence = _category_sequence(cond, counts, category_order(labels, seed), seed, epoch)
    out = np.empty(labels.size, dtype=np.int64)
    for category, members in items.items():
        out[sequence == category] = members
    return out


def order(
    labels: np.ndarray, condition: str | Condition, seed: int, epochs: int = 1
) -> np.ndarray:
    """Index array presenting every item once per epoch, in the given smoothness condition.

    >>> order(np.array([0, 0, 1, 1]), "repeat-2", seed=0).shape
    (4,)
    """
    labels = as_labels(labels)
    cond = parse_condition(condition)
    if epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be >= 1")
    return np.concatenate([_one_epoch(labels, cond, seed, e) for e in range(epochs)])


def epoch_order(labels: np.ndarray, condition: str | Condition, seed: int,
                epoch: int) -> np.ndarray:
    """Epoch ``epoch`` of :func:`order` alone (what a sampler yields after ``set_epoch``)."""
    return _one_epoch(as_labels(labels), parse_condition(condition), seed, int(epoch))


def boundaries(sequence_labels: np.ndarray) -> np.ndarray:
    """True where the category differs from the previous item's (and at the first item)."""
    seq = np.asarray(sequence_labels)
    flags = np.ones(seq.shape[0], dtype=bool)
    flags[1:] = seq[1:] != seq[:-1]
    return flags


def mean_run_length(sequence_labels: np.ndarray) -> float:
    """Average length of maximal runs of one label: 1 for minimum smoothness, N for repeat-N."""
    seq = np.asarray(sequence_labels)
    if seq.size == 0:
        return float("nan")
    return float(seq.size / boundaries(seq).sum())


def same_label_fraction(sequence_labels: np.ndarray) -> float:
    """Fraction of consecutive pairs sharing a label: 0 for minimum smoothness, ~1/C for random."""
    seq = np.asarray(sequence_labels)
    if seq.size < 2:
        return float("nan")
    return float(np.mean(seq[1:] == seq[:-1]))


def consecutive_similarity(inputs: np.ndarray, centred: bool = False,
                           chunk: int = 8192) -> float:
    """Mean cosine similarity of consecutive inputs (rows of ``[T, d]``), or with
    ``centred=True`` their mean Pearson correlation (each input minus its own mean).

    This puts streams smooth in the signal (a moving object) and streams smooth in the
    category (repeated labels) on one axis. Pairs in which either input has zero norm (after
    centring) have no angle and are left out; NaN if no pair is left. Computed ``chunk`` rows
    at a time in float64, so a long stream is never copied whole.
    """
    inputs = np.asarray(inputs)
    if inputs.ndim != 2:
        raise ValueError(f"inputs must be a 2-d array [T, d], got shape {inputs.shape}")
    total, count = 0.0, 0
    for start in range(0, max(inputs.shape[0] - 1, 0), chunk):
        rows = inputs[start : start + chunk + 1].astype(np.float64)
        if centred:
            rows -= rows.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(rows, axis=1)
        nonzero = norms > 0
        rows[nonzero] /= norms[nonzero, None]  # unit rows first: no product of tiny norms
        valid = nonzero[:-1] & nonzero[1:]
        total += float(np.einsum("ij,ij->i", rows[:-1], rows[1:])[valid].sum())
        count += int(valid.sum())
    return total / count if count else float("nan")


def smoothness(sequence_labels: np.ndarray, inputs: np.ndarray | None = None
               ) -> dict[str, float]:
    """Smoothness metrics of a stream, for tables and the CLI: of its labels, and, when the
    ``inputs`` (``[T, d]``, in stream order) are given, of its signal
    (:func:`consecutive_similarity`: ``input_cosine`` and ``input_correlation``)."""
    out = {
        "mean_run_length": mean_run_length(sequence_labels),
        "same_label_fraction": same_label_fraction(sequence_labels),
    }
    if inputs is not None:
        if np.shape(inputs)[0] != np.shape(sequence_labels)[0]:
            raise ValueError(f"inputs have {np.shape(inputs)[0]} rows; the labels "
                             f"{np.shape(sequence_labels)[0]}")
        out["input_cosine"] = consecutive_similarity(inputs)
        out["input_correlation"] = consecutive_similarity(inputs, centred=True)
    return out


def first_exhaustion_step(labels: np.ndarray, condition: str | Condition, seed: int) -> int:
    """Number of steps (in epoch 0) before the first category runs out.

    Claims measured at or before this step are free of the exhausted-category tail artifact.
    For ``random`` it is where the first class presents its last item.
    """
    labels = as_labels(labels)
    seq = labels[order(labels, condition, seed)]
    last = [np.flatnonzero(seq == c)[-1] for c in np.unique(seq)]
    return int(min(last)) + 1


def balanced_subset(labels: np.ndarray, seed: int, per_class: int | None = None) -> np.ndarray:
    """Sorted indices keeping the same number of items per class (default: the smallest class).

    The subset depends only on ``labels`` and ``seed``, so every condition trains on the same
    items; it removes the exhausted-category tail of repeat-N orders.
    """
    labels = as_labels(labels)
    cats, counts = np.unique(labels, return_counts=True)
    keep = int(counts.min()) if per_class is None else int(per_class)
    if keep < 1 or keep > counts.min():
        raise ValueError(f"per_class={per_class!r} must be between 1 and {counts.min()}")
    rng = _seed_rng(seed, 4)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:keep] for c in cats]
    return np.sort(np.concatenate(chosen))
