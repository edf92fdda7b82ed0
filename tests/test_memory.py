"""Reset policies parse into a typed value that spells itself back, and the flags accept it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smoothlearn.memory import ResetPolicy, parse_reset, reset_flags

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
