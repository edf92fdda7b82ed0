"""The LSTM baseline's initial weights and its cell, in torch: one definition for all trainers.

The reference (:class:`smoothlearn.nn.LSTMClassifier`, :func:`smoothlearn.train.train_lstm`),
the compiled trainer (:mod:`smoothlearn.engine.lstm`) and the device path
(:mod:`smoothlearn.engine.torch_lstm`) start from the same arrays and apply the same cell, so
they can be tested equal; the engine imports them from here rather than from the reference's
model module.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["init_lstm_params", "lstm_cell"]


def init_lstm_params(d_in: int, hidden: int, d_out: int, init_seed: int) -> dict[str, np.ndarray]:
    """The LSTM's start, built like :func:`smoothlearn.nn.init_params`: Xavier-uniform
    weights, zero biases.

    The paper initialises the LSTM as its other nets (Xavier), so ``W_ih [4h, d_in]``, then
    ``W_hh [4h, h]``, then ``W_out [d_out, h]`` are drawn (each as one matrix, gates i, f, g, o
    stacked as in ``torch.nn.LSTM``) from one generator seeded with ``init_seed``; the two gate
    biases and the read-out bias start at zero. Both trainers start from these arrays.
    """
    gen = torch.Generator().manual_seed(int(init_seed))
    shapes = {"W_ih": (4 * hidden, d_in), "W_hh": (4 * hidden, hidden), "W_out": (d_out, hidden)}
    out = {}
    for name, shape in shapes.items():
        weight = torch.empty(shape)
        nn.init.xavier_uniform_(weight, generator=gen)
        out[name] = weight.numpy()
    out["b_ih"] = np.zeros(4 * hidden, np.float32)
    out["b_hh"] = np.zeros(4 * hidden, np.float32)
    out["b_out"] = np.zeros(d_out, np.float32)
    return out


def lstm_cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.nn.LSTM``'s cell: pre-activations (i, f, g, o) stacked on the last axis and the
    previous ``c`` -> ``h, c``. The trainers that keep a step's gates apply it themselves."""
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c
