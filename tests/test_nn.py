"""Layer behaviour: memory, resets, detached gradients, per-unit leaks, the A.11 rule."""

from __future__ import annotations

import copy
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import smoothlearn.memory as memory_module
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
    h2 = layer(x2, h1)
    act2 = torch.relu(layer.linear(x2))
    assert torch.allclose(h1, 0.5 * torch.relu(layer.linear(x1)))
    assert torch.allclose(h2, 0.5 * h1 + 0.5 * act2)


def test_reset_zeroes_the_memory_contribution():
    layer = _layer(0.7)
    h = layer(torch.rand(3))
    h = layer(torch.rand(3), h)
    x = torch.rand(3)
    assert torch.allclose(layer(x, h, reset=torch.tensor(True)), torch.relu(layer.linear(x)))


def test_per_unit_reset_acts_per_unit():
    layer = _layer(0.5)
    h1 = layer(torch.rand(3))
    x = torch.rand(3)
    mask = torch.tensor([True, False, True, False])
    h2 = layer(x, h1, reset=mask)
    act = torch.relu(layer.linear(x))
    assert torch.allclose(h2[mask], act[mask])
    assert torch.allclose(h2[~mask], 0.5 * h1[~mask] + 0.5 * act[~mask])


def test_reset_per_item_and_per_group_in_a_batch():
    layer = _layer(0.5)
    h1 = layer(torch.rand(2, 3))
    x = torch.rand(2, 3)
    act = torch.relu(layer.linear(x))
    kept = 0.5 * h1 + 0.5 * act
    per_item = layer(x, h1, reset=torch.tensor([True, False]))
    assert torch.allclose(per_item[0], act[0]) and torch.allclose(per_item[1], kept[1])
    # two groups over four units: units 0-1 follow group 0, units 2-3 group 1
    per_group = layer(x, h1, reset=torch.tensor([[False, True], [True, False]]))
    assert torch.allclose(per_group[0, :2], kept[0, :2])
    assert torch.allclose(per_group[0, 2:], act[0, 2:])
    assert torch.allclose(per_group[1, :2], act[1, :2])
    assert torch.allclose(per_group[1, 2:], kept[1, 2:])


@pytest.mark.parametrize("shape", [(3,), (2, 5), (4,)])
def test_reset_of_the_wrong_shape_is_rejected(shape):
    with pytest.raises(ValueError, match="reset has shape"):
        _layer(0.5)(torch.rand(2, 3), reset=torch.zeros(shape, dtype=torch.bool)
                    if shape != (4,) else torch.zeros(4, 4, dtype=torch.bool))


def test_no_gradient_reaches_the_previous_state():
    layer = _layer(0.5)
    h1 = layer(torch.rand(3))
    h1.retain_grad()
    layer(torch.rand(3), h1).sum().backward()
    assert h1.grad is None or torch.all(h1.grad == 0)


def test_full_gradient_flag_lets_gradient_through_time():
    layer = _layer(0.5, detach=False)
    h1 = layer(torch.rand(3))
    h1.retain_grad()
    layer(torch.rand(3), h1).sum().backward()
    assert h1.grad is not None and torch.allclose(h1.grad, torch.full((4,), 0.5))


def test_sequence_gradient_is_the_sum_of_per_step_gradients():
    """Detached memory: the gradient of a sequence loss is that of each step on its own."""
    layer = _layer(0.5)
    xs = torch.rand(4, 2, 3)
    outputs, _ = layer.sequence(xs)
    outputs.sum().backward()
    whole = layer.linear.weight.grad.clone()
    layer.zero_grad()
    h = None
    for x in xs:
        h_next = layer(x, h)
        h_next.sum().backward()
        h = h_next.detach()
    assert torch.allclose(whole, layer.linear.weight.grad)


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
    h = None
    for _ in range(3):
        x = torch.rand(3)
        h = layer(x, h)
        assert torch.allclose(h, torch.relu(layer.linear(x)))


def test_per_unit_leaks_act_per_unit():
    leak = [0.0, 0.3, 0.6, 0.9]
    layer = _layer(leak)
    h1 = layer(torch.rand(3))
    x = torch.rand(3)
    h2 = layer(x, h1)
    act = torch.relu(layer.linear(x))
    expected = torch.tensor(leak) * h1 + (1 - torch.tensor(leak)) * act
    assert torch.allclose(h2, expected)


def test_h_none_starts_from_zero_memory():
    layer = _layer(0.5)
    x = torch.rand(3)
    assert torch.allclose(layer(x), 0.5 * torch.relu(layer.linear(x)))


def _eq1_loop(layer: LeakyMemory, xs: np.ndarray, resets: np.ndarray) -> np.ndarray:
    """Eq. 1 by hand in float64: H = leak' H + (1 - leak') ReLU(W x + b), leak' = 0 on reset."""
    w = layer.linear.weight.detach().double().numpy()
    b = layer.linear.bias.detach().double().numpy()
    leak = layer.leak.double().numpy()
    units = leak.size
    group = unit_groups(units, resets.shape[-1])
    h = np.zeros((*xs.shape[1:-1], units))
    out = []
    for x, r in zip(xs, resets, strict=True):
        keep = np.where(r[..., group], 0.0, leak)
        h = keep * h + (1 - keep) * np.maximum(x @ w.T + b, 0)
        out.append(h)
    return np.stack(out)


def test_sequence_matches_a_hand_written_loop_of_eq1():
    layer = _layer([0.1, 0.5, 0.8, 0.95])
    rng = np.random.default_rng(0)
    xs = rng.random((6, 2, 3)).astype(np.float32)
    resets = rng.random((6, 2, 2)) < 0.3
    outputs, last = layer.sequence(torch.from_numpy(xs), reset=torch.from_numpy(resets))
    expected = _eq1_loop(layer, xs.astype(np.float64), resets)
    assert outputs.shape == (6, 2, 4)
    np.testing.assert_allclose(outputs.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(last, outputs[-1])


def test_sequence_batch_first_and_unbatched_agree():
    layer = _layer(0.6)
    xs = torch.rand(5, 2, 3)
    resets = torch.rand(5, 2) < 0.3
    outputs, last = layer.sequence(xs, reset=resets)
    first = LeakyMemory(3, 4, 0.6, batch_first=True)
    first.load_state_dict(layer.state_dict())
    out_bf, last_bf = first.sequence(xs.transpose(0, 1), reset=resets.transpose(0, 1))
    assert torch.equal(out_bf.transpose(0, 1), outputs) and torch.equal(last_bf, last)
    alone, _ = layer.sequence(xs[:, 1], reset=resets[:, 1])
    assert torch.allclose(alone, outputs[:, 1])


def test_sequence_in_chunks_equals_one_pass():
    layer = _layer(0.7)
    xs = torch.rand(6, 2, 3)
    whole, _ = layer.sequence(xs)
    first, h = layer.sequence(xs[:4])
    second, _ = layer.sequence(xs[4:], h)
    assert torch.equal(torch.cat([first, second]), whole)


def test_the_issue_example_follows_the_batch_size():
    """nn.Sequential(Flatten, LeakyMemory, Linear): no state leaks across calls or batches."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), LeakyMemory(6, 4), nn.Linear(4, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        loss = model(torch.rand(2, 2, 3)).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    one = torch.rand(1, 2, 3)
    assert model(one).shape == (1, 3)
    assert model(torch.rand(5, 2, 3)).shape == (5, 3)
    assert torch.equal(model(one), model(one))  # nothing carried from call to call
    model.eval()
    assert torch.equal(model(one), model(one))
    clone = copy.deepcopy(model)
    assert torch.equal(clone(one), model(one))


def test_one_reset_flag_applies_to_every_item():
    layer = _layer(0.5)
    x = torch.rand(2, 3)
    h = layer(x, layer(torch.rand(2, 3)), reset=torch.tensor(True))
    assert torch.allclose(h, torch.relu(layer.linear(x)))


def test_a_sequence_given_to_the_cell_is_rejected():
    with pytest.raises(ValueError, match=r"use \.sequence"):
        _layer(0.5)(torch.rand(2, 5, 3))


def test_a_memory_from_another_batch_size_is_rejected():
    layer = _layer(0.5)
    h = layer(torch.rand(2, 3))
    with pytest.raises(ValueError, match="h=None"):
        layer(torch.rand(1, 3), h)


def test_module_holds_only_parameters_and_the_leak():
    layer = _layer([0.1, 0.2, 0.3, 0.4])
    layer(torch.rand(2, 3))
    assert set(layer.state_dict()) == {"linear.weight", "linear.bias", "leak"}
    fresh = LeakyMemory(3, 4, 0.0)
    fresh.load_state_dict(layer.state_dict())
    x = torch.rand(2, 3)
    assert torch.equal(fresh(x), layer(x))
    assert torch.equal(copy.deepcopy(layer)(x), layer(x))


def test_torch_compile_traces_both_forms_without_graph_breaks():
    """``fullgraph=True`` fails on any graph break; the ``eager`` backend keeps it cheap."""
    layer = _layer(0.5)
    xs = torch.rand(3, 2, 3)
    resets = torch.tensor([[True, True], [False, True], [False, False]])
    step = torch.compile(layer, backend="eager", fullgraph=True)
    run = torch.compile(layer.sequence, backend="eager", fullgraph=True)
    assert torch.equal(step(xs[0], None, resets[0]), layer(xs[0], None, resets[0]))
    assert torch.equal(run(xs, None, resets)[0], layer.sequence(xs, reset=resets)[0])


@pytest.mark.parametrize(
    "leak", [-0.1, 1.0, [0.5, 1.2, 0, 0], float("nan"), float("inf"), [0.1, 0.2], [[0.1]]]
)
def test_bad_leaks_are_rejected(leak):
    with pytest.raises(ValueError, match="leak"):
        LeakyMemory(3, 4, leak)


def test_a_bool_leak_is_rejected():
    with pytest.raises(TypeError, match="leak"):
        LeakyMemory(3, 4, True)


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
    batch = np.stack([x, x[::-1]], axis=1)  # [T, B, d]: two streams side by side
    flags = reset_flags("label", batch, np.stack([labels, labels[::-1]], axis=1))
    assert flags.shape == (5, 2, 1)
    assert flags[:, 1, 0].tolist() == [True, False, False, True, False]
    with pytest.raises(ValueError, match="labels"):
        reset_flags("label", x)


@settings(max_examples=40, deadline=None)
@given(steps=st.integers(0, 40), groups=st.integers(1, 3), seed=st.integers(0, 99),
       aggregate=st.sampled_from(["sum", "any", "all"]), block=st.integers(1, 7))
def test_reset_flags_through_an_order_equal_the_gathered_stream(steps, groups, seed, aggregate,
                                                                block):
    """``order=`` reads step t as inputs[order[t]] in blocks; the flags are exactly those of
    the copied stream, whatever the block size."""
    rng = np.random.default_rng(seed)
    items = rng.random((12, 6)) * (rng.random((12, 6)) < 0.5)
    order = rng.integers(0, 12, steps)
    labels = rng.integers(0, 3, 12)
    for policy in ("never", "label", "every-3", "input-change"):
        g = groups if policy == "input-change" else 1
        want = reset_flags(policy, items[order], labels[order], g, aggregate)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(memory_module, "_CHANGE_BLOCK", block)
            got = reset_flags(policy, items, labels[order], g, aggregate, order=order)
        assert got.dtype == bool and np.array_equal(got, want)


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


def test_leaky_net_returns_logits_and_memory():
    net = LeakyNet(5, 3, 2, 0.5).load_params(init_params(5, 3, 2, 0))
    x1, x2 = torch.rand(5), torch.rand(5)
    logits, h = net(x1)
    logits2, h2 = net(x2, h)
    assert logits.shape == (2,) and torch.equal(h2, net.hidden(x2, h))
    assert torch.equal(logits2, net.out(h2))


def test_lstm_classifier_shapes():
    model = LSTMClassifier(4, 6, 3)
    logits, state = model(torch.rand(2, 5, 4))
    assert logits.shape == (2, 5, 3) and state[0].shape == (1, 2, 6)


def test_the_pytorch_guide_runs_and_learns(capsys):
    """docs/pytorch.md: its code blocks, run in order, train a net that beats chance."""
    guide = Path(__file__).parents[1] / "docs" / "pytorch.md"
    code = "\n".join(re.findall(r"```python\n(.*?)```", guide.read_text(), re.S))
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the guide's code must run without warnings
        exec(compile(code, str(guide), "exec"), namespace)
    assert namespace["accuracy"] > 0.6  # chance is 0.25
    assert "test accuracy" in capsys.readouterr().out


def test_lstm_init_is_xavier_with_zero_biases_and_round_trips():
    params = init_lstm_params(20, 6, 3, init_seed=4)
    bound = np.sqrt(6 / (20 + 24))  # Xavier-uniform over the stacked [4h, d_in] matrix
    assert params["W_ih"].shape == (24, 20) and np.abs(params["W_ih"]).max() <= bound
    assert np.abs(params["W_ih"]).max() > 0.9 * bound
    assert not any(params[k].any() for k in ("b_ih", "b_hh", "b_out"))
    assert np.array_equal(params["W_hh"], init_lstm_params(20, 6, 3, init_seed=4)["W_hh"])
    model = LSTMClassifier(20, 6, 3).load_params(params)
    assert all(np.array_equal(model.params()[k], v) for k, v in params.items())
