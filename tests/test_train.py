"""The reference trainer against hand computation, and its bookkeeping."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from smoothlearn.contract import Prepared, TrainSettings
from smoothlearn.nn import init_params, reset_flags
from smoothlearn.train import (
    evaluate,
    hidden_states,
    train_lstm,
    train_minibatch,
    train_reference,
)


def tiny(steps: int = 1, leak: float = 0.0, reset: str = "never", **settings) -> Prepared:
    rng = np.random.default_rng(0)
    X = rng.random((6, 3), dtype=np.float32)
    labels = np.array([0, 1, 0, 1, 0, 1])
    targets = np.eye(2, dtype=np.float32)[labels]
    order = np.arange(steps) % 6
    return Prepared(
        X=X, targets=targets, labels=labels, order=order,
        resets=reset_flags(reset, X[order], labels[order]),
        params=init_params(3, 4, 2, 0), leak=np.full(4, leak, np.float32),
        eval_steps=np.array([0, steps]), X_eval=X, targets_eval=targets, labels_eval=labels,
        eval_resets=None, settings=TrainSettings(**settings),
    )


def _hand_step(p, x, t, lr, output, loss, label):
    """One SGD step written out from docs/model.md for a memoryless net."""
    pre = p["W1"] @ x + p["b1"]
    h = np.maximum(pre, 0)
    z = p["W2"] @ h + p["b2"]
    if output == "softmax":
        y = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    else:
        y = 1 / (1 + np.exp(-z))
    if loss == "ce":
        g = y - np.eye(len(z))[label]
    elif output == "sigmoid":
        g = 2 * (y - t) / len(z) * y * (1 - y)
    else:
        u = 2 * (y - t) / len(z)
        g = y * (u - (u * y).sum())
    dpre = (p["W2"].T @ g) * (pre > 0)
    return {
        "W1": p["W1"] - lr * np.outer(dpre, x), "b1": p["b1"] - lr * dpre,
        "W2": p["W2"] - lr * np.outer(g, h), "b2": p["b2"] - lr * g,
    }


@pytest.mark.parametrize(
    "output,loss", [("softmax", "mse"), ("sigmoid", "mse"), ("softmax", "ce")]
)
def test_one_sgd_step_equals_hand_computation(output, loss):
    prep = tiny(steps=1, output=output, loss=loss, lr=0.5)
    curves = train_reference(prep)
    expected = _hand_step(prep.params, prep.X[0], prep.targets[0], 0.5, output, loss, 0)
    for key, value in expected.items():
        np.testing.assert_allclose(curves.final_params[key], value, rtol=1e-5, atol=1e-6)


def test_leaky_step_uses_exact_factor_and_detached_memory():
    prep = tiny(steps=2, leak=0.5, lr=0.5)
    curves = train_reference(prep)
    # step 0 resets (first item): identical to a memoryless step
    p1 = _hand_step(prep.params, prep.X[0], prep.targets[0], 0.5, "softmax", "mse", 0)
    h_prev = np.maximum(p1["W1"] @ prep.X[0] * 0 + prep.params["W1"] @ prep.X[0]
                        + prep.params["b1"], 0)  # H(0) = act with the pre-update weights
    x, t = prep.X[1], prep.targets[1]
    pre = p1["W1"] @ x + p1["b1"]
    h = 0.5 * h_prev + 0.5 * np.maximum(pre, 0)
    z = p1["W2"] @ h + p1["b2"]
    y = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    u = 2 * (y - t) / 2
    g = y * (u - (u * y).sum())
    dpre = (p1["W2"].T @ g) * 0.5 * (pre > 0)
    np.testing.assert_allclose(curves.final_params["W1"], p1["W1"] - 0.5 * np.outer(dpre, x),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(curves.final_params["W2"], p1["W2"] - 0.5 * np.outer(g, h),
                               rtol=1e-5, atol=1e-6)


def test_rmsprop_first_step_is_normalised():
    prep = tiny(steps=1, optimizer="rmsprop", lr=0.01)
    curves = train_reference(prep)
    grad_step = _hand_step(prep.params, prep.X[0], prep.targets[0], 1.0, "softmax", "mse", 0)
    grad = prep.params["W2"] - grad_step["W2"]
    expected = prep.params["W2"] - 0.01 * grad / (np.sqrt(0.01 * grad**2) + 1e-8)
    np.testing.assert_allclose(curves.final_params["W2"], expected, rtol=1e-4, atol=1e-6)


def test_evaluation_points_and_metrics():
    prep = tiny(steps=4)
    prep.eval_steps = np.array([0, 2, 4])
    curves = train_reference(prep)
    assert curves.steps.tolist() == [0, 2, 4]
    mse, ce, acc = evaluate(prep.params, prep.leak, prep.X, prep.targets, prep.labels, None,
                            "softmax", "classify")
    assert math.isclose(curves.test_mse[0], mse, rel_tol=1e-6)
    assert 0 <= acc <= 1 and ce > 0


def test_streamed_evaluation_uses_memory():
    p = init_params(3, 4, 2, 0)
    X = np.random.default_rng(1).random((5, 3), dtype=np.float32)
    off = hidden_states(p, np.full(4, 0.5, np.float32), X, None)
    on = hidden_states(p, np.full(4, 0.5, np.float32), X, np.zeros((5, 1), bool))
    assert np.allclose(on[0], 0.5 * off[0])
    assert np.allclose(on[1], 0.5 * on[0] + 0.5 * off[1])
    reset_all = hidden_states(p, np.full(4, 0.5, np.float32), X, np.ones((5, 1), bool))
    assert np.allclose(reset_all, off)


def test_divergence_stops_and_marks_the_run():
    prep = tiny(steps=50)
    prep.settings = replace(prep.settings, lr=1e30, loss="ce")
    prep.eval_steps = np.arange(0, 51, 5)
    curves = train_reference(prep)
    assert curves.diverged
    assert curves.steps.size < 11
    assert np.all(np.isfinite(curves.test_mse))


def test_minibatch_batch_of_one_equals_per_sample():
    prep = tiny(steps=6)
    prep.eval_steps = np.array([0, 3, 6])
    a, b = train_reference(prep), train_minibatch(prep, batch_size=1)
    np.testing.assert_allclose(a.test_mse, b.test_mse, rtol=1e-6)
    assert train_minibatch(prep, batch_size=4).steps.tolist() == [0, 4, 6]


def test_minibatch_rejects_memory():
    with pytest.raises(ValueError, match="memoryless"):
        train_minibatch(tiny(steps=2, leak=0.5))


def test_lstm_trains_and_reports():
    prep = tiny(steps=12)
    prep.eval_steps = np.array([0, 12])
    curves = train_lstm(prep, hidden=5, bptt=3)
    assert curves.steps.tolist() == [0, 12] and not curves.diverged
    prep.eval_resets = np.zeros((6, 1), bool)
    assert np.isfinite(train_lstm(prep, hidden=5, bptt=3).test_ce).all()


@pytest.mark.parametrize("bptt", [1, 3, 5])
def test_lstm_history_gradient_is_bptt_through_the_kept_steps(bptt):
    """With the weights held still, the stored-history rule is exact truncated BPTT: its
    gradients equal autograd's through ``nn.LSTM`` run over the last ``bptt`` items from the
    carried state before them, and its output is the online forward's."""
    import torch

    from smoothlearn.nn import LSTMClassifier, init_lstm_params, lstm_cell
    from smoothlearn.train import _lstm_window_output, _LSTMStep

    torch.manual_seed(0)
    X = torch.rand(7, 3)
    model = LSTMClassifier(3, 4, 2).load_params(init_lstm_params(3, 4, 2, 1))
    lstm = model.lstm
    h, c, history, states = torch.zeros(4), torch.zeros(4), [], []
    with torch.no_grad():  # the carried state over the stream, each step's gates kept
        for item in range(7):
            gates = (lstm.weight_ih_l0 @ X[item] + lstm.bias_ih_l0
                     + lstm.weight_hh_l0 @ h + lstm.bias_hh_l0)  # fmt: skip
            history = [*history, _LSTMStep(item, h, c, gates)][-bptt:]
            states.append((h, c))
            h, c = lstm_cell(gates, c)
    kept = model(X[7 - bptt:].unsqueeze(0),
                 tuple(s.view(1, 1, 4) for s in states[7 - bptt]))[0][0, -1]  # fmt: skip
    ours = _lstm_window_output(model, X, history)
    assert torch.allclose(ours, kept, atol=1e-6)
    grads = [torch.autograd.grad(out.sum() ** 2, list(model.parameters())) for out in (ours, kept)]
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6), (a - b).abs().max()
