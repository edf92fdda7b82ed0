"""Layers and models of the paper, as ordinary ``torch.nn.Module``s (the reference path).

Read this next to the paper's Eq. (1) and ``docs/model.md``:

    H(n) = leak * H(n-1) + (1 - leak) * ReLU(W I(n) + b)

with ``H(n-1)`` detached (no gradient flows back in time) and ``leak`` set to 0 for a unit on
a step where its memory resets. Nothing here keeps hidden state: :class:`LeakyMemory` takes and
returns the memory like ``nn.RNNCell``. The reset rules (:func:`reset_flags`) are pure numpy
functions of the inputs and labels, in :mod:`smoothlearn.memory` (re-exported here), used by the
reference trainer and the fast engine alike. So are the LSTM's initial weights and cell
(:mod:`smoothlearn.lstmcell`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from smoothlearn.lstmcell import init_lstm_params, lstm_cell
from smoothlearn.memory import (
    AGGREGATES,
    RESET_POLICIES,
    group_slices,
    input_change,
    parse_reset,
    reset_flags,
    unit_groups,
)

__all__ = [
    "RESET_POLICIES",
    "AGGREGATES",
    "parse_reset",
    "input_change",
    "reset_flags",
    "group_slices",
    "unit_groups",
    "init_params",
    "leaky_update",
    "init_lstm_params",
    "lstm_cell",
    "LeakyMemory",
    "LeakyNet",
    "LSTMClassifier",
]

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


def _leak_tensor(leak: float | list[float] | np.ndarray, units: int) -> torch.Tensor:
    """``leak`` as one float32 value per unit; a clear error for anything else."""
    if isinstance(leak, bool):
        raise TypeError(f"leak={leak!r}: give a number in [0, 1), not a bool")
    try:
        values = np.asarray(leak, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"leak={leak!r}: give a number or one number per unit") from None
    if values.ndim > 1 or (values.ndim == 1 and values.size not in (1, units)):
        raise ValueError(
            f"leak has shape {values.shape}; give one number or one per unit ({units} values)"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values >= 1):
        raise ValueError(f"leak={leak!r} must be finite and lie in [0, 1)")
    return torch.tensor(np.broadcast_to(values.reshape(-1), (units,)).copy())


def leaky_update(
    previous: torch.Tensor, act: torch.Tensor, leak: torch.Tensor, leak_grad: str = "exact"
) -> torch.Tensor:
    """Eq. (1) given the activation ``act = ReLU(W I(n) + b)``: ``leak * H(n-1) + (1 - leak) act``.

    ``leak`` is already 0 where the memory resets. With ``leak_grad="ignore"`` the value is
    the same but the gradient sees ``act`` alone (a plain feedforward layer's gradient).
    """
    if leak_grad == "exact":
        current = (1 - leak) * act
    else:
        current = act + (-leak * act).detach()
    return leak * previous + current


class LeakyMemory(nn.Module):
    """A ReLU layer whose units keep a leaky memory of their past activity (paper Eq. 1).

    Used like ``nn.RNNCell``: the module holds only parameters; the memory is passed in and
    returned, ``h = cell(x, h, reset=r)`` (``h=None`` starts from zeros), so batch size,
    ``copy.deepcopy``, ``state_dict`` and ``.eval()`` behave as for any stateless layer.
    :meth:`sequence` runs a whole ``[T, B, d]`` sequence (``batch_first=True``: ``[B, T, d]``)
    like ``nn.RNN`` and returns ``(outputs, h_last)``.

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
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        if leak_grad not in ("exact", "ignore"):
            raise ValueError(f"leak_grad={leak_grad!r}; use 'exact' or 'ignore'")
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("leak", _leak_tensor(leak, out_features))
        self.leak_grad = leak_grad
        self.detach = detach
        self.batch_first = batch_first

    def extra_repr(self) -> str:
        return (f"{self.linear.in_features}, {self.linear.out_features}, "
                f"leak_grad={self.leak_grad!r}, detach={self.detach}")

    def _step_leak(self, reset: torch.Tensor | None, act: torch.Tensor) -> torch.Tensor:
        """The leak of this step: 0 where ``reset`` is set, per item or per item and group.

        ``reset`` is one flag for all items, or has the input's batch shape (one flag per item)
        or that shape plus a group axis ``G``: unit ``j`` listens to group
        ``floor(j * G / units)``, as in :func:`unit_groups`.
        """
        if reset is None:
            return self.leak
        flags = torch.as_tensor(reset, device=act.device).to(torch.bool)
        batch, units = act.shape[:-1], act.shape[-1]
        grouped = flags.dim() == act.dim() and flags.shape[:-1] == batch
        if flags.dim() == 0 or flags.shape == batch:  # one flag for all items, or per item
            flags = flags.unsqueeze(-1)
        elif grouped and 1 <= flags.shape[-1] <= units:
            groups = flags.shape[-1]
            index = torch.div(torch.arange(units, device=act.device) * groups, units,
                              rounding_mode="floor")
            flags = flags.index_select(-1, index)
        else:
            raise ValueError(
                f"reset has shape {tuple(flags.shape)}; the input needs {tuple(batch)} (one flag "
                f"per item) or {tuple(batch)} + (groups,) with 1 <= groups <= {units}"
            )
        return torch.where(flags, 0.0, self.leak)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor | None = None, reset: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One time step: the new memory ``H(n)`` for input ``x`` (``[B, d]`` or ``[d]``).

        ``h`` is ``H(n-1)`` (``None``: zeros, a fresh sequence); ``reset`` (a bool tensor, see
        :meth:`_step_leak`) sets the leak to 0 now.
        """
        if x.dim() > 2:
            raise ValueError(
                f"LeakyMemory takes one step [B, d] or [d], got shape {tuple(x.shape)}; "
                "use .sequence(x) for a sequence [T, B, d] (or [B, T, d] with batch_first)"
            )
        act = torch.relu(self.linear(x))
        leak = self._step_leak(reset, act)
        if h is None:
            previous = torch.zeros_like(act)
        else:
            if h.shape != act.shape:
                raise ValueError(
                    f"h has shape {tuple(h.shape)} but this input needs {tuple(act.shape)}; "
                    "pass h=None to start a new sequence (e.g. after the batch size changed)"
                )
            previous = h.detach() if self.detach else h
        return leaky_update(previous, act, leak, self.leak_grad)

    def sequence(
        self, x: torch.Tensor, h: torch.Tensor | None = None, reset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the recursion over time: ``x`` is ``[T, B, d]`` (``[B, T, d]`` if batch_first,
        ``[T, d]`` unbatched); ``reset`` is ``[T, B]`` or ``[T, B, G]`` (time axis placed
        as in ``x``). Returns every step's memory (shaped like ``x`` with ``units`` features)
        and the last one, ready to be passed back in for the next chunk."""
        time_axis = 1 if self.batch_first and x.dim() == 3 else 0
        outputs = []
        for t in range(x.shape[time_axis]):
            flags = None if reset is None else reset.select(time_axis, t)
            h = self.forward(x.select(time_axis, t), h, flags)
            outputs.append(h)
        if h is None:
            raise ValueError("sequence: x has no time steps")
        return torch.stack(outputs, time_axis), h


class LeakyNet(nn.Module):
    """Input → leaky-memory hidden layer → output; feedforward when every leak is 0.

    Used for the paper's classifiers (784-392-10, 16-8-4) and autoencoders (6-3-6, 16-4-16).
    Returns the output *logits* and the hidden memory, ``logits, h = net(x, h, reset)``, the
    same convention as :class:`LeakyMemory`; the output nonlinearity belongs to the loss.
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

    def forward(
        self, x: torch.Tensor, h: torch.Tensor | None = None, reset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``(logits, h)``; see :meth:`LeakyMemory.forward`."""
        h = self.hidden(x, h, reset)
        return self.out(h), h


class LSTMClassifier(nn.Module):
    """The BPTT baseline of Appendix A.8–A.10: one LSTM layer, then a linear read-out.

    ``hidden`` defaults to the leaky nets' hidden size (392 for MNIST), so the comparison keeps
    the layer width; training backpropagates each step's loss through the last ``bptt`` steps
    (``smoothlearn.train.train_lstm``).
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
