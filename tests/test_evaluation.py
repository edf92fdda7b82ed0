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


# ------------------------------------------------ memory switched on only at test (the control)
def _tiny_stream():
    """Two inputs, an identity net (H = ReLU(x), z = H) and four items with a reset at the
    third: item 1 alone is misread, its average with item 0 is not."""
    params = {"W1": np.eye(2, dtype=np.float32), "b1": np.zeros(2, np.float32),
              "W2": np.eye(2, dtype=np.float32), "b2": np.zeros(2, np.float32)}
    X = np.array([[3, 0], [0, 1], [0, 2], [1, 0]], np.float32)
    labels = np.array([0, 0, 1, 1])
    resets = np.array([[True], [False], [True], [False]])
    return params, X, np.eye(2, dtype=np.float32)[labels], labels, resets


def _prepared(params, X, targets, labels, resets, test_memory: str, leak: float = 0.5):
    from smoothlearn.contract import Prepared, TrainSettings

    h = params["W1"].shape[0]
    return Prepared(
        X=X, targets=targets, labels=labels, order=np.arange(X.shape[0]),
        resets=np.zeros((X.shape[0], 1), bool), params=params, leak=np.zeros(h, np.float32),
        eval_steps=np.array([0, X.shape[0]]), X_eval=X, targets_eval=targets,
        labels_eval=labels, eval_resets=resets, settings=TrainSettings(output="softmax"),
        test_memory=test_memory, test_leak=leak,
    )  # fmt: skip


def _engine_scores(prep, sparse: bool) -> tuple[float, float, float]:
    from smoothlearn.engine import evaluate_many

    out = evaluate_many([prep], threads=1, sparse=sparse)[0]
    return out["test_mse"], out["test_ce"], out["test_acc"]


def test_output_averaging_equals_a_hand_computation() -> None:
    """Y(n) = 0.5 Y(n-1) + 0.5 y(n) over softmax outputs y, restarting at each reset; MSE,
    CE (of Y normalised) and accuracy of Y, written out by hand."""
    params, X, targets, labels, resets = _tiny_stream()
    e = np.exp(X.astype(np.float64))
    y = e / e.sum(1, keepdims=True)
    Y = np.array([y[0], 0.5 * y[0] + 0.5 * y[1], y[2], 0.5 * y[2] + 0.5 * y[3]])
    want_mse = np.mean((Y - targets) ** 2)
    want_ce = np.mean(np.log(Y.sum(1)) - np.log(Y[np.arange(4), labels]))
    assert np.mean(Y.argmax(1) == labels) == 1.0 and np.mean(y.argmax(1) == labels) == 0.5
    prep = _prepared(params, X, targets, labels, resets, "output")
    for got in (train._evaluate_prepared(prep, params), _engine_scores(prep, True),
                _engine_scores(prep, False)):
        np.testing.assert_allclose(got, (want_mse, want_ce, 1.0), rtol=1e-6)


def test_hidden_averaging_is_a_leaky_net_with_the_same_weights_tested_streamed() -> None:
    import torch

    from smoothlearn.nn import LeakyNet

    params, X, targets, labels = _case(3, m=40)
    resets = np.zeros((40, 1), bool)
    resets[::7] = True
    net = LeakyNet(6, 5, 3, leak=0.3).load_params(params)
    h, logits = None, []
    with torch.no_grad():
        for x, r in zip(torch.from_numpy(X), torch.from_numpy(resets[:, 0]), strict=True):
            z, h = net(x, h, r)
            logits.append(z)
    z = torch.stack(logits)
    want = (float(torch.mean((torch.softmax(z, -1) - torch.from_numpy(targets)) ** 2)),
            float(torch.nn.functional.cross_entropy(z, torch.from_numpy(labels))),
            float(np.mean(z.argmax(-1).numpy() == labels)))
    prep = _prepared(params, X, targets, labels, resets, "hidden", leak=0.3)
    for got in (train._evaluate_prepared(prep, params), _engine_scores(prep, True),
                _engine_scores(prep, False)):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    plain = train._evaluate_prepared(_prepared(params, X, targets, labels, resets, "none"),
                                     params)
    assert plain[0] != want[0]


def test_memory_at_test_needs_a_streamed_test() -> None:
    """With the test memory off (no eval resets) the control scores as the plain net."""
    params, X, targets, labels, _ = _tiny_stream()
    plain = _prepared(params, X, targets, labels, None, "none")
    for memory in ("hidden", "output"):
        prep = _prepared(params, X, targets, labels, None, memory)
        np.testing.assert_allclose(train._evaluate_prepared(prep, params),
                                   train._evaluate_prepared(plain, params), rtol=1e-6)
