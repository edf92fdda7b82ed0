"""The test protocol shared by the reference trainers and the conv net's fast path."""

from __future__ import annotations

import math

import numpy as np

from smoothlearn import evaluation, train
from smoothlearn.nn import init_params


def _case(seed: int = 0, m: int = 30):
    rng = np.random.default_rng(seed)
    params = init_params(6, 5, 3, seed)
    X = rng.random((m, 6), dtype=np.float32)
    labels = rng.integers(0, 3, m)
    return params, X, np.eye(3, dtype=np.float32)[labels], labels


def test_streamed_with_leak_zero_equals_memory_off() -> None:
    """With leak 0 the memory is the activation: H(n) = ReLU(W x(n) + b)."""
    params, X, targets, labels = _case()
    off = evaluation.evaluate(params, np.zeros(5, np.float32), X, targets, labels, None,
                              "softmax", "classify")
    streamed = evaluation.evaluate(params, np.zeros(5, np.float32), X, targets, labels,
                                   np.zeros((30, 1), bool), "softmax", "classify")
    np.testing.assert_allclose(streamed, off, rtol=1e-6)
    leaky = evaluation.evaluate(params, np.full(5, 0.8, np.float32), X, targets, labels,
                                np.zeros((30, 1), bool), "softmax", "classify")
    assert leaky[0] != off[0]


def test_a_reset_on_every_item_is_memory_off() -> None:
    params, X, targets, labels = _case(1)
    leak = np.full(5, 0.8, np.float32)
    off = evaluation.hidden_states(params, leak, X, None)
    reset = evaluation.hidden_states(params, leak, X, np.ones((30, 2), bool))
    np.testing.assert_array_equal(reset, off)


def test_reconstruction_has_no_cross_entropy_or_accuracy() -> None:
    params, X, targets, labels = _case(2)
    mse, ce, acc = evaluation.evaluate(params, np.zeros(5, np.float32), X, targets, labels,
                                       None, "sigmoid", "reconstruct")
    assert mse > 0 and math.isnan(ce) and math.isnan(acc)


def test_the_reference_trainer_evaluates_with_it() -> None:
    assert train.evaluate is evaluation.evaluate
    assert train.evaluate_conv is evaluation.evaluate_conv
    assert train.hidden_states is evaluation.hidden_states
