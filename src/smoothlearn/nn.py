"""Layers and models of the paper, as ordinary ``torch.nn.Module``s (the reference path).

Read this next to the paper's Eq. (1) and ``docs/model.md``:

    H(n) = leak * H(n-1) + (1 - leak) * ReLU(W I(n) + b)

with ``H(n-1)`` detached (no gradient flows back in time) and ``leak`` set to 0 for a unit on
a step where its memory resets. The reset rules live in :func:`reset_flags`, which both the
layer (one step at a time) and the fast engine (a whole sequence at once) call.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

__all__ = [
    "RESET_POLICIES",
    "parse_reset",
    "input_change",
    "reset_flags",
    "unit_groups",
    "init_params",
    "init_lstm_params",
    "LeakyMemory",
    "LeakyNet",
    "LSTMClassifier",
]

RESET_POLICIES = ("never", "label", "every-K", "input-change")
AGGREGATES = ("sum", "any", "all")


def parse_reset(policy: str) -> tuple[str, int]:
    """Split a reset policy string into (kind, period); validate with a helpful message."""
    match = re.fullmatch(r"every-(\d+)", policy)
    if match:
        period = int(match.group(1))
        if period < 1:
            raise ValueError(f"reset={policy!r}: every-K needs K >= 1")
        return "every", period
    if policy in ("never", "label", "input-change"):
        return policy, 0
    raise ValueError(
        f"reset={policy!r} is not valid; use one of 'never', 'label', 'every-K', 'input-change'"
    )


def _group_slices(d_in: int, groups: int) -> list[slice]:
    if groups < 1 or groups > d_in:
        raise ValueError(f"reset_groups={groups!r} must be between 1 and the input size {d_in}")
    edges = np.linspace(0, d_in, groups + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def input_change(
    previous: np.ndarray, current: np.ndarray, groups: int = 1, aggregate: str = "sum"
) -> np.ndarray:
    """The A.11 rule: reset where ``|I_t - I_(t-1)| > |(I_t + I_(t-1)) / 2|``, per input group.

    ``previous``/``current`` are ``[..., d_in]``; the result is ``[..., groups]`` bool. The
    aggregation over a group's elements is open in the paper: ``sum`` compares the groups' L1
    norms of change and of mean; ``any``/``all`` apply the inequality element-wise.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"reset_aggregate={aggregate!r}; use one of {AGGREGATES}")
    change = np.abs(current - previous)
    level = np.abs((current + previous) / 2)
    out = []
    for part in _group_slices(current.shape[-1], groups):
        a, b = change[..., part], level[..., part]
        if aggregate == "sum":
            out.append(a.sum(-1) > b.sum(-1))
        elif aggregate == "any":
            out.append((a > b).any(-1))
        else:
            out.append((a > b).all(-1))
    return np.stack(out, axis=-1)


def reset_flags(
    policy: str,
    inputs: np.ndarray,
    labels: np.ndarray | None = None,
    groups: int = 1,
    aggregate: str = "sum",
) -> np.ndarray:
    """Reset flags ``[T, G]`` for a sequence of inputs ``[T, d_in]`` (and labels ``[T]``).

    Step 0 always resets: there is no previous item, and the memory starts empty.
    Only ``input-change`` uses more than one group; the others flag all groups alike.
    """
    kind, period = parse_reset(policy)
    steps = inputs.shape[0]
    n_groups = groups if kind == "input-change" else 1
    flags = np.zeros((steps, n_groups), dtype=bool)
    if kind == "label":
        if labels is None:
            raise ValueError("reset='label' needs labels (it resets at category boundaries)")
        flags[1:, 0] = labels[1:] != labels[:-1]
    elif kind == "every":
        flags[::period, 0] = True
    elif kind == "input-change" and steps > 1:
        flags[1:] = input_change(inputs[:-1], inputs[1:], groups, aggregate)
    if steps:
        flags[0] = True
    return flags


def unit_groups(d_hidden: int, groups: int) -> np.ndarray:
    """Reset group of each hidden unit: unit j listens to input group floor(j * G / d_hidden)."""
    return (np.arange(d_hidden) * groups) // d_hidden


def init_params(d_in: int, d_hidden: int, d_out: int, init_seed: int) -> dict[str, np.ndarray]:
    """Xavier-uniform weights (W1 then W2 from one seeded generator) and zero biases."""
    gen = torch.Generator().manual_seed(int(init_seed))
    w1 = torch.empty(d_hidden, d_in)
    w2 = torch.empty(d_out, d_hidden)
    nn.init.xavier_uniform_(w1, generator=gen)
    nn.init.xavier_uniform_(w2, generator=gen)
    return {
        "W1": w1.numpy(),
        "b1": np.zeros(d_hidden, np.float32),
        "W2": w2.numpy(),
        "b2": np.zeros(d_out, np.float32),
    }


class LeakyMemory(nn.Module):
    """A ReLU layer whose units keep a leaky memory of their past activity (paper Eq. 1).

    ``leak`` is a scalar or one value per unit (multi-scale memory). ``leak_grad`` says what the
    gradient sees: ``"exact"`` keeps the (1 - leak) factor of the current term, ``"ignore"``
    drops it (a plain feedforward layer's gradient). ``detach=False`` lets the gradient flow into
    ``H(n-1)`` (for comparison only; the paper's networks detach).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        leak: float | list[float] | np.ndarray = 0.5,
        leak_grad: str = "exact",
        detach: bool = True,
    ) -> None:
        super().__init__()
        if leak_grad not in ("exact", "ignore"):
            raise ValueError(f"leak_grad={leak_grad!r}; use 'exact' or 'ignore'")
        leak_t = torch.tensor(np.broadcast_to(np.asarray(leak, np.float32), (out_features,)).copy())
        if torch.any(leak_t < 0) or torch.any(leak_t >= 1):
            raise ValueError(f"leak={leak!r} must lie in [0, 1)")
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("leak", leak_t.clone())
        self.leak_grad = leak_grad
        self.detach = detach
        self.state: torch.Tensor | None = None

    def reset_state(self) -> None:
        """Forget the memory entirely (the next step starts from H = 0)."""
        self.state = None

    def forward(self, x: torch.Tensor, reset: torch.Tensor | bool | None = None) -> torch.Tensor:
        """One time step. ``reset`` (bool, or per-unit bool tensor) sets the leak to 0 now."""
        act = torch.relu(self.linear(x))
        leak = self.leak
        if reset is not None:
            leak = torch.where(torch.as_tensor(reset, device=leak.device), 0.0, leak)
        previous = self.state if self.state is not None else torch.zeros_like(act)
        if self.detach:
            previous = previous.detach()
        if self.leak_grad == "exact":
            current = (1 - leak) * act
        else:  # value (1 - leak) * act, but the gradient of act alone
            current = act + (-leak * act).detach()
        state = leak * previous + current
        self.state = state
        return state


class LeakyNet(nn.Module):
    """Input → leaky-memory hidden layer → output; feedforward when every leak is 0.

    Used for the paper's classifiers (784-392-10, 16-8-4) and autoencoders (6-3-6, 16-4-16).
    Returns the output *logits*; the output nonlinearity belongs to the loss/evaluation.
    """

    def __init__(
        self,
        d_in: int,
        d_hidden: int,
        d_out: int,
        leak: float | list[float] | np.ndarray = 0.0,
        leak_grad: str = "exact",
    ) -> None:
        super().__init__()
        self.hidden = LeakyMemory(d_in, d_hidden, leak, leak_grad)
        self.out = nn.Linear(d_hidden, d_out)

    def load_params(self, params: dict[str, np.ndarray]) -> LeakyNet:
        """Copy weights from :func:`init_params`-style arrays (shared with the fast engine)."""
        with torch.no_grad():
            self.hidden.linear.weight.copy_(torch.from_numpy(params["W1"]))
            self.hidden.linear.bias.copy_(torch.from_numpy(params["b1"]))
            self.out.weight.copy_(torch.from_numpy(params["W2"]))
            self.out.bias.copy_(torch.from_numpy(params["b2"]))
        return self

    def params(self) -> dict[str, np.ndarray]:
        """The weights as float32 numpy arrays, in the engine's naming."""
        return {
            "W1": self.hidden.linear.weight.detach().numpy().copy(),
            "b1": self.hidden.linear.bias.detach().numpy().copy(),
            "W2": self.out.weight.detach().numpy().copy(),
            "b2": self.out.bias.detach().numpy().copy(),
        }

    def forward(self, x: torch.Tensor, reset: torch.Tensor | bool | None = None) -> torch.Tensor:
        return self.out(self.hidden(x, reset))


def init_lstm_params(d_in: int, hidden: int, d_out: int, init_seed: int) -> dict[str, np.ndarray]:
    """The LSTM's start, built like :func:`init_params`: Xavier-uniform weights, zero biases.

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


class LSTMClassifier(nn.Module):
    """The BPTT baseline of Appendix A.8–A.10: one LSTM layer, then a linear read-out.

    ``hidden`` defaults to the leaky nets' hidden size (392 for MNIST), so the comparison keeps
    the layer width; training truncates backpropagation through time every ``bptt`` steps.
    """

    def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(d_in, hidden, batch_first=True)
        self.out = nn.Linear(hidden, d_out)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {
            "W_ih": self.lstm.weight_ih_l0,
            "W_hh": self.lstm.weight_hh_l0,
            "b_ih": self.lstm.bias_ih_l0,
            "b_hh": self.lstm.bias_hh_l0,
            "W_out": self.out.weight,
            "b_out": self.out.bias,
        }

    def load_params(self, params: dict[str, np.ndarray]) -> LSTMClassifier:
        """Copy weights from :func:`init_lstm_params`-style arrays (shared with the fast kernel)."""
        with torch.no_grad():
            for name, tensor in self._tensors().items():
                tensor.copy_(torch.from_numpy(params[name]))
        return self

    def params(self) -> dict[str, np.ndarray]:
        """The weights as float32 numpy arrays, named as in :func:`init_lstm_params`."""
        return {name: t.detach().numpy().copy() for name, t in self._tensors().items()}

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x`` is ``[batch, time, d_in]``; returns logits ``[batch, time, d_out]`` and state."""
        hidden, state = self.lstm(x, state)
        return self.out(hidden), state
