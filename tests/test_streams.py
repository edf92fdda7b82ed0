"""Invariants of the smoothness-controlled orders, on arbitrary label arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smoothlearn import streams

label_arrays = st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=80).map(
    lambda xs: np.array(xs, dtype=np.int64)
)
conditions = st.one_of(
    st.just("random"),
    st.integers(min_value=1, max_value=7).map(lambda n: f"repeat-{n}"),
    st.sampled_from([0.0, 0.3, 0.75, 0.95]).map(lambda p: f"sticky-{p}"),
)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def _within(labels: np.ndarray, idx: np.ndarray) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i in idx.tolist():
        out.setdefault(int(labels[i]), []).append(i)
    return out


def _first_visits(labels: np.ndarray, idx: np.ndarray) -> list[int]:
    seen: list[int] = []
    for c in labels[idx].tolist():
        if c not in seen:
            seen.append(c)
    return seen


@settings(max_examples=150, deadline=None)
@given(labels=label_arrays, condition=conditions, seed=seeds, epochs=st.integers(1, 3))
def test_every_item_once_per_epoch(labels, condition, seed, epochs):
    idx = streams.order(labels, condition, seed, epochs=epochs)
    assert idx.dtype == np.int64
    assert idx.shape == (labels.size * epochs,)
    for e in range(epochs):
        chunk = idx[e * labels.size : (e + 1) * labels.size]
        assert np.array_equal(np.sort(chunk), np.arange(labels.size))


@settings(max_examples=150, deadline=None)
@given(labels=label_arrays, seed=seeds, a=conditions, b=conditions)
def test_within_category_order_shared_across_conditions(labels, seed, a, b):
    assert _within(labels, streams.order(labels, a, seed)) == _within(
        labels, streams.order(labels, b, seed)
    )


@settings(max_examples=150, deadline=None)
@given(labels=label_arrays, seed=seeds, n=st.integers(1, 7), m=st.integers(1, 7))
def test_category_order_shared_across_repeat_conditions(labels, seed, n, m):
    expected = streams.category_order(labels, seed).tolist()
    for cond in (f"repeat-{n}", f"repeat-{m}", "sticky-0.5"):
        assert _first_visits(labels, streams.order(labels, cond, seed)) == expected


@settings(max_examples=200, deadline=None)
@given(labels=label_arrays, seed=seeds, n=st.integers(1, 7))
def test_repeat_runs_have_length_n_unless_a_category_runs_out(labels, seed, n):
    seq = labels[streams.order(labels, f"repeat-{n}", seed)]
    total = {int(c): int((labels == c).sum()) for c in np.unique(labels)}
    used = dict.fromkeys(total, 0)
    start = 0
    while start < seq.size:
        stop = start
        while stop < seq.size and seq[stop] == seq[start]:
            stop += 1
        category, length = int(seq[start]), stop - start
        others_left = any(used[c] < total[c] for c in total if c != category)
        used[category] += length
        ran_out = used[category] == total[category]
        if length != n:
            # Shorter: this is the category's last block. Longer: nothing else was left.
            assert (length < n and ran_out) or (length > n and not others_left) or (
                not others_left and ran_out
            )
        start = stop


def test_repeat_blocks_follow_category_order():
    labels = np.repeat(np.arange(3), 6)
    seq = labels[streams.order(labels, "repeat-3", seed=7)]
    cats = streams.category_order(labels, 7)
    expected = np.tile(np.repeat(cats, 3), 2)
    assert np.array_equal(seq, expected)
    assert streams.mean_run_length(seq) == 3.0


def test_repeat_one_is_minimum_smoothness():
    labels = np.repeat(np.arange(10), 50)
    seq = labels[streams.order(labels, "repeat-1", seed=3)]
    assert streams.same_label_fraction(seq) == 0.0
    assert streams.mean_run_length(seq) == 1.0


def test_sticky_zero_equals_repeat_one():
    labels = np.repeat(np.arange(4), [5, 7, 3, 9])
    assert np.array_equal(
        streams.order(labels, "sticky-0", 11), streams.order(labels, "repeat-1", 11)
    )


def test_sticky_smoothness_grows_with_p():
    labels = np.repeat(np.arange(10), 300)
    fractions = [
        streams.same_label_fraction(labels[streams.order(labels, f"sticky-{p}", 0)])
        for p in (0.0, 0.5, 0.9)
    ]
    assert fractions[0] == 0.0
    assert abs(fractions[1] - 0.5) < 0.05
    assert abs(fractions[2] - 0.9) < 0.05


def test_random_is_near_chance_smoothness():
    labels = np.repeat(np.arange(10), 500)
    frac = streams.same_label_fraction(labels[streams.order(labels, "random", 5)])
    assert abs(frac - 0.1) < 0.02


def test_seeds_change_and_fix_the_order():
    labels = np.repeat(np.arange(5), 20)
    a = streams.order(labels, "random", 1)
    assert np.array_equal(a, streams.order(labels, "random", 1))
    assert not np.array_equal(a, streams.order(labels, "random", 2))


def test_epochs_draw_fresh_within_category_orders():
    labels = np.repeat(np.arange(3), 10)
    idx = streams.order(labels, "repeat-2", 0, epochs=2)
    assert not np.array_equal(idx[:30], idx[30:])


def test_given_keeps_data_order():
    labels = np.array([3, 1, 2])
    assert streams.order(labels, "given", 9).tolist() == [0, 1, 2]


def test_boundaries_flag_category_changes():
    assert streams.boundaries(np.array([1, 1, 2, 2, 2, 1])).tolist() == [
        True, False, True, False, False, True,
    ]


def test_first_exhaustion_step_and_tail():
    labels = np.repeat(np.arange(3), [2, 4, 6])
    # repeat-1 over classes of 2, 4, 6 items: the 2-item class ends within the 2nd round.
    step = streams.first_exhaustion_step(labels, "repeat-1", seed=0)
    assert 4 <= step <= 6
    seq = labels[streams.order(labels, "repeat-1", 0)]
    assert set(seq[step:].tolist()) <= {1, 2}


def test_balanced_subset_is_equal_per_class_and_condition_free():
    labels = np.repeat(np.arange(3), [5, 8, 13])
    keep = streams.balanced_subset(labels, seed=4)
    assert np.bincount(labels[keep]).tolist() == [5, 5, 5]
    assert np.array_equal(keep, streams.balanced_subset(labels, seed=4))
    with pytest.raises(ValueError, match="per_class"):
        streams.balanced_subset(labels, seed=4, per_class=6)


@pytest.mark.parametrize(
    "bad", ["repeat-0", "repeat-", "sticky-1.0", "sticky-1.5", "smooth", "", "repeat-x"]
)
def test_bad_conditions_name_the_allowed_values(bad):
    with pytest.raises(ValueError, match="condition="):
        streams.order(np.array([0, 1]), bad, 0)


def test_bad_labels_and_epochs():
    with pytest.raises(ValueError, match="1-d"):
        streams.order(np.zeros((2, 2), dtype=int), "random", 0)
    with pytest.raises(ValueError, match="integers"):
        streams.order(np.array([0.5, 1.5]), "random", 0)
    with pytest.raises(ValueError, match="epochs"):
        streams.order(np.array([0, 1]), "random", 0, epochs=0)
