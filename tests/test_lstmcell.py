"""The LSTM's initial weights and cell, shared by the reference and the engine."""

from __future__ import annotations

import numpy as np
import torch

from smoothlearn import lstmcell, nn


def test_cell_is_torchs_lstm_cell() -> None:
    """Gates stacked (i, f, g, o) as in ``torch.nn.LSTMCell``; float32, same ops: 1e-6."""
    torch.manual_seed(0)
    ref = torch.nn.LSTMCell(5, 3)
    x, h, c = torch.randn(4, 5), torch.randn(4, 3), torch.randn(4, 3)
    gates = x @ ref.weight_ih.T + ref.bias_ih + h @ ref.weight_hh.T + ref.bias_hh
    got_h, got_c = lstmcell.lstm_cell(gates, c)
    want_h, want_c = ref(x, (h, c))
    torch.testing.assert_close(got_h, want_h, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got_c, want_c, rtol=1e-6, atol=1e-6)


def test_initial_weights_follow_the_seed_with_zero_biases() -> None:
    a, b = lstmcell.init_lstm_params(7, 3, 2, 1), lstmcell.init_lstm_params(7, 3, 2, 1)
    other = lstmcell.init_lstm_params(7, 3, 2, 2)
    assert {k: v.shape for k, v in a.items()} == {
        "W_ih": (12, 7), "W_hh": (12, 3), "W_out": (2, 3), "b_ih": (12,), "b_hh": (12,),
        "b_out": (2,)}
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert a[name].dtype == np.float32
    assert not np.array_equal(a["W_ih"], other["W_ih"])
    assert not any(a[k].any() for k in ("b_ih", "b_hh", "b_out"))


def test_the_reference_model_uses_the_same_functions() -> None:
    assert nn.init_lstm_params is lstmcell.init_lstm_params
    assert nn.lstm_cell is lstmcell.lstm_cell
