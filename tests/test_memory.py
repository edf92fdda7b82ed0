"""Reset policies (parsed into a typed value that spells itself back, accepted by the flags) and
the label-free boundary rules of smoothlearn.memory: the change ratio, the calibrated threshold,
the surprise-driven reset, and their hit and false-alarm rates against known boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smoothlearn.memory import (
    ResetPolicy,
    calibrated_threshold,
    change_ratio,
    detection_rates,
    input_change,
    parse_reset,
    reset_flags,
    surprise_flags,
    threshold_flags,
)

POLICIES = st.one_of(st.sampled_from(["never", "label", "input-change"]),
                     st.integers(1, 10_000).map(lambda k: f"every-{k}"))


@given(POLICIES)
def test_a_parsed_policy_spells_itself_back_and_passes_through(text):
    policy = parse_reset(text)
    assert isinstance(policy, ResetPolicy) and str(policy) == text
    assert parse_reset(policy) is policy


@given(st.integers(1, 7))
def test_reset_flags_are_the_same_for_the_string_and_the_parsed_policy(period):
    inputs = np.random.default_rng(period).random((20, 4)).astype(np.float32)
    for text in (f"every-{period}", "input-change"):
        np.testing.assert_array_equal(reset_flags(text, inputs, groups=2),
                                      reset_flags(parse_reset(text), inputs, groups=2))


@pytest.mark.parametrize("bad", ["every-0", "sometimes", "every-x"])
def test_a_bad_policy_names_what_is_allowed(bad):
    with pytest.raises(ValueError, match="reset="):
        parse_reset(bad)


def _episodes(n_episodes: int = 40, frames: int = 8, d: int = 30, jitter: float = 0.05,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A stream of episodes, each one random pattern seen ``frames`` times with a little
    noise, and its true boundaries (the first frame of each episode)."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0, 1, (n_episodes, d)) * (rng.uniform(0, 1, (n_episodes, d)) < 0.3)
    stream = np.repeat(patterns, frames, axis=0)
    stream = np.clip(stream + jitter * rng.uniform(0, 1, stream.shape), 0, 1)
    boundaries = np.arange(stream.shape[0]) % frames == 0
    return stream, boundaries


def test_change_ratio_is_the_a11_rule_at_one():
    stream, _ = _episodes(n_episodes=10, frames=3)
    a11 = input_change(stream[:-1], stream[1:], 1, "sum")[:, 0]
    assert np.array_equal(change_ratio(stream) > 1.0, a11)


def test_change_ratio_of_blank_inputs_is_zero():
    assert change_ratio(np.zeros((3, 4))).tolist() == [0.0, 0.0]


def test_detection_rates_on_hand_made_flags():
    boundaries = np.array([True, False, False, True, False, True, False, False])
    flags = np.array([True, False, True, True, False, False, False, False])
    hit, false_alarm = detection_rates(flags, boundaries)
    assert hit == pytest.approx(1 / 2)  # boundaries at 3 (found) and 5 (missed); 0 left out
    assert false_alarm == pytest.approx(1 / 5)  # step 2 of the five others


def test_detection_rates_without_steps_to_count_are_nan():
    hit, false_alarm = detection_rates(np.ones(4, bool), np.ones(4, bool))
    assert hit == 1.0 and np.isnan(false_alarm)


def test_detection_rates_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="steps"):
        detection_rates(np.ones(4, bool), np.ones(5, bool))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=60))
def test_detection_rates_are_shares(pairs):
    flags, boundaries = (np.array(column) for column in zip(*pairs, strict=True))
    hit, false_alarm = detection_rates(flags, boundaries)
    for rate in (hit, false_alarm):
        assert np.isnan(rate) or 0.0 <= rate <= 1.0
    always = detection_rates(np.ones_like(flags), boundaries)
    assert all(np.isnan(r) or r == 1.0 for r in always)


def test_the_calibrated_rule_finds_every_boundary_of_a_stream_with_known_boundaries():
    train, _ = _episodes(seed=1)
    test, boundaries = _episodes(seed=2)
    threshold = calibrated_threshold(train)
    hit, false_alarm = detection_rates(threshold_flags(change_ratio(test), threshold),
                                       boundaries)
    assert hit == 1.0 and false_alarm == 0.0


def test_the_calibrated_threshold_moves_with_the_training_stream():
    """Larger changes inside the training episodes move the cut up: it is learnt from them."""
    calm, _ = _episodes(jitter=0.02, seed=1)
    shaky, _ = _episodes(jitter=0.3, seed=1)
    assert calibrated_threshold(shaky) > calibrated_threshold(calm)


def test_the_calibrated_threshold_needs_changes_that_differ():
    with pytest.raises(ValueError, match="calibrated_threshold"):
        calibrated_threshold(np.ones((5, 3)))


def test_the_surprise_reset_finds_the_jumps_of_its_own_drive():
    drive, boundaries = _episodes(n_episodes=30, frames=10, seed=3)
    flags = surprise_flags(drive, leak=0.5)
    hit, false_alarm = detection_rates(flags, boundaries)
    assert hit >= 0.9 and false_alarm <= 0.05
    assert flags[0]


def test_the_surprise_reset_stays_quiet_on_a_steady_drive():
    drive = np.ones((50, 4)) + 0.01 * np.random.default_rng(0).uniform(size=(50, 4))
    assert surprise_flags(drive, leak=0.5)[1:].sum() == 0


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"leak": 1.0}, "leak"), ({"leak": 0.5, "decay": 1.0}, "decay"),
    ({"leak": 0.5, "jump": 1.0}, "jump"), ({"leak": 0.5, "floor": 1.0}, "floor"),
])
def test_the_surprise_reset_rejects_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        surprise_flags(np.ones((3, 2)), **kwargs)
