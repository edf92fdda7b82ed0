"""Layer behaviour: memory, resets, detached gradients, per-unit leaks, the A.11 rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smoothlearn.nn import (
    LeakyMemory,
    LeakyNet,
    LSTMClassifier,
    init_lstm_params,
    init_params,
    input_change,
    parse_reset,
    reset_flags,
    unit_groups,
)


def _layer(leak, **kw) -> LeakyMemory:
    torch.manual_seed(0)
    return LeakyMemory(3, 4, leak, **kw)


def test_memory_mixes_previous_state_with_current_activity():
    layer = _layer(0.5)
    x1, x2 = torch.rand(3), torch.rand(3)
    h1 = layer(x1)
    h2 = layer(x2)
    act2 = torch.relu(layer.linear(x2))
    assert torch.allclose(h1, 0.5 * torch.relu(layer.linear(x1)))
    assert torch.allclose(h2, 0.5 * h1 + 0.5 * act2)


def test_reset_zeroes_the_memory_contribution():
    layer = _layer(0.7)
    layer(torch.rand(3))
    layer(torch.rand(3))
    x = torch.rand(3)
    h = layer(x, reset=True)
    assert torch.allclose(h, torch.relu(layer.linear(x)))


def test_per_unit_reset_acts_per_unit():
    layer = _layer(0.5)
    h1 = layer(torch.rand(3))
    x = torch.rand(3)
    mask = torch.tensor([True, False, True, False])
    h2 = layer(x, reset=mask)
    act = torch.relu(layer.linear(x))
    assert torch.allclose(h2[mask], act[mask])
    assert torch.allclose(h2[~mask], 0.5 * h1[~mask] + 0.5 * act[~mask])


def test_no_gradient_reaches_the_previous_state():
    layer = _layer(0.5)
    h1 = layer(torch.rand(3))
    h1.retain_grad()
    layer(torch.rand(3)).sum().backward()
    assert h1.grad is None or torch.all(h1.grad == 0)


def test_full_gradient_flag_lets_gradient_through_time():
    layer = _layer(0.5, detach=False)
    h1 = layer(torch.rand(3))
    h1.retain_grad()
    layer(torch.rand(3)).sum().backward()
    assert h1.grad is not None and torch.allclose(h1.grad, torch.full((4,), 0.5))


def test_leak_grad_exact_scales_gradient_and_ignore_does_not():
    x = torch.rand(3) + 0.1
    grads = {}
    for mode in ("exact", "ignore"):
        layer = _layer(0.5, leak_grad=mode)
        with torch.no_grad():
            layer.linear.weight.abs_()
        layer(x).sum().backward()
        grads[mode] = layer.linear.bias.grad.clone()
    assert torch.allclose(grads["exact"], 0.5 * grads["ignore"])
    # values are identical in both modes
    a, b = _layer(0.5, leak_grad="exact"), _layer(0.5, leak_grad="ignore")
    assert torch.allclose(a(x), b(x))


def test_leak_zero_equals_a_feedforward_layer():
    layer = _layer(0.0)
    for _ in range(3):
        x = torch.rand(3)
        assert torch.allclose(layer(x), torch.relu(layer.linear(x)))


def test_per_unit_leaks_act_per_unit():
    leak = [0.0, 0.3, 0.6, 0.9]
    layer = _layer(leak)
    h1 = layer(torch.rand(3))
    x = torch.rand(3)
    h2 = layer(x)
    act = torch.relu(layer.linear(x))
    expected = torch.tensor(leak) * h1 + (1 - torch.tensor(leak)) * act
    assert torch.allclose(h2, expected)


def test_reset_state_forgets():
    layer = _layer(0.5)
    layer(torch.rand(3))
    layer.reset_state()
    x = torch.rand(3)
    assert torch.allclose(layer(x), 0.5 * torch.relu(layer.linear(x)))


@pytest.mark.parametrize("leak", [-0.1, 1.0, [0.5, 1.2, 0, 0]])
def test_bad_leaks_are_rejected(leak):
    with pytest.raises(ValueError, match="leak"):
        LeakyMemory(3, 4, leak)


def test_input_change_rule_on_hand_made_inputs():
    prev = np.array([[1.0, 1.0], [1.0, 0.0], [0.2, 0.2]])
    cur = np.array([[1.0, 0.9], [0.0, 1.0], [0.0, 0.9]])
    # row 0: change 0.1 vs level 1.9 -> no; row 1: change 2 vs level 1 -> yes;
    # row 2: element 0 change .2 > level .1 (fires), element 1 change .7 > level .55 (fires)
    assert input_change(prev, cur, 1, "sum")[:, 0].tolist() == [False, True, True]
    assert input_change(prev, cur, 1, "all")[:, 0].tolist() == [False, True, True]
    prev2 = np.array([[1.0, 0.2]])
    cur2 = np.array([[1.0, 0.0]])  # element 1 fires alone (0.2 > 0.1), element 0 does not
    assert input_change(prev2, cur2, 1, "any")[0, 0]
    assert not input_change(prev2, cur2, 1, "all")[0, 0]
    assert not input_change(prev2, cur2, 1, "sum")[0, 0]  # 0.2 < 1.1


def test_input_change_per_group():
    prev = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    cur = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    assert input_change(prev, cur, 3).tolist() == [False, True, True]


def test_reset_flags_policies():
    x = np.eye(4)[[0, 0, 1, 1, 1]]
    labels = np.array([0, 0, 1, 1, 1])
    assert reset_flags("never", x)[:, 0].tolist() == [True, False, False, False, False]
    assert reset_flags("label", x, labels)[:, 0].tolist() == [True, False, True, False, False]
    assert reset_flags("every-2", x)[:, 0].tolist() == [True, False, True, False, True]
    assert reset_flags("input-change", x)[:, 0].tolist() == [True, False, True, False, False]
    assert reset_flags("input-change", np.ones((3, 6)), groups=3).shape == (3, 3)
    with pytest.raises(ValueError, match="labels"):
        reset_flags("label", x)


@pytest.mark.parametrize("bad", ["sometimes", "every-0", "every-", "labels"])
def test_bad_reset_policy(bad):
    with pytest.raises(ValueError, match="reset="):
        parse_reset(bad)


def test_unit_groups_map_units_to_input_rows():
    assert unit_groups(3, 3).tolist() == [0, 1, 2]
    assert unit_groups(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert unit_groups(4, 1).tolist() == [0, 0, 0, 0]


def test_init_params_are_seeded_xavier():
    a, b = init_params(784, 392, 10, 1), init_params(784, 392, 10, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W1"], init_params(784, 392, 10, 2)["W1"])
    bound = np.sqrt(6 / (784 + 392))
    assert np.abs(a["W1"]).max() <= bound and np.abs(a["W1"]).max() > 0.9 * bound
    assert a["W1"].dtype == np.float32 and not a["b1"].any()


def test_leaky_net_round_trips_params():
    params = init_params(5, 3, 2, 0)
    net = LeakyNet(5, 3, 2, 0.5).load_params(params)
    assert all(np.array_equal(net.params()[k], params[k]) for k in params)


def test_lstm_classifier_shapes():
    model = LSTMClassifier(4, 6, 3)
    logits, state = model(torch.rand(2, 5, 4))
    assert logits.shape == (2, 5, 3) and state[0].shape == (1, 2, 6)


def test_lstm_init_is_xavier_with_zero_biases_and_round_trips():
    params = init_lstm_params(20, 6, 3, init_seed=4)
    bound = np.sqrt(6 / (20 + 24))  # Xavier-uniform over the stacked [4h, d_in] matrix
    assert params["W_ih"].shape == (24, 20) and np.abs(params["W_ih"]).max() <= bound
    assert np.abs(params["W_ih"]).max() > 0.9 * bound
    assert not any(params[k].any() for k in ("b_ih", "b_hh", "b_out"))
    assert np.array_equal(params["W_hh"], init_lstm_params(20, 6, 3, init_seed=4)["W_hh"])
    model = LSTMClassifier(20, 6, 3).load_params(params)
    assert all(np.array_equal(model.params()[k], v) for k, v in params.items())
