"""The reference trainer: plain PyTorch, one sample per update, mirroring ``docs/model.md``.

Everything a run needs is first materialised as arrays in a
:class:`~smoothlearn.contract.Prepared` (orders, reset flags, initial weights, the evaluation
stream; built by :func:`smoothlearn.runs.prepare`), so that this readable loop and the fast
engine (``smoothlearn.engine``) consume exactly the same inputs and can be tested equal. The LSTM
(BPTT) and mini-batch baselines here have compiled twins (``smoothlearn.engine.lstm``,
``smoothlearn.engine.minibatch``), tested equal to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from smoothlearn.contract import RMSPROP_V_FLOOR, Curves, Prepared, TrainSettings
from smoothlearn.convnet import ConvLeakyNet
from smoothlearn.evaluation import (
    evaluate,
    evaluate_conv,
    hidden_states,
    output_of,
    readonly_tensor,
)
from smoothlearn.nn import (
    LeakyNet,
    LSTMClassifier,
    init_lstm_params,
    lstm_cell,
)

__all__ = [
    "train_reference",
    "train_per_sample",
    "train_conv_reference",
    "evaluate_conv",
    "train_minibatch",
    "train_lstm",
    "evaluate",
    "hidden_states",
    "make_optimizer",
]

Progress = Callable[[int], None] | None


class _Recorder:
    """Collects evaluation points; keeps curve bookkeeping out of the training loops."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float, float]] = []

    def add(self, step: int, metrics: tuple[float, float, float]) -> None:
        self.rows.append((step, *metrics))

    def curves(self, diverged: bool, params: dict[str, np.ndarray]) -> Curves:
        arr = np.array(self.rows, dtype=np.float64).reshape(-1, 4)
        return Curves(
            steps=arr[:, 0].astype(np.int64),
            test_mse=arr[:, 1],
            test_ce=arr[:, 2],
            test_acc=arr[:, 3],
            diverged=diverged,
            final_params=params,
        )


def _step_loss(logits: torch.Tensor, target: torch.Tensor, label: int, s: TrainSettings):
    if s.loss == "ce":
        return F.cross_entropy(logits.unsqueeze(0), torch.tensor([label]))
    return F.mse_loss(output_of(logits, s.output), target)


class FlooredRMSprop(torch.optim.RMSprop):
    """``torch.optim.RMSprop``, with each stored square average floored after its step.

    The step itself uses the average as computed, so only values below
    :data:`RMSPROP_V_FLOOR` (far below ``eps``) change, and only for later steps.
    """

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                v = self.state.get(p, {}).get("square_avg")
                if v is not None:
                    v.masked_fill_(v < RMSPROP_V_FLOOR, 0.0)
        return loss


def make_optimizer(params, s: TrainSettings) -> torch.optim.Optimizer:
    """SGD, or RMSprop with the paper's betas mapped as documented in ``docs/model.md``."""
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.lr)
    return FlooredRMSprop(
        params, lr=s.lr, alpha=s.rmsprop_alpha, eps=s.rmsprop_eps, momentum=s.rmsprop_momentum
    )


def _evaluate_prepared(prep: Prepared, params: dict[str, np.ndarray]) -> tuple[float, ...]:
    return evaluate(
        params, prep.eval_leak, prep.X_eval, prep.targets_eval, prep.labels_eval,
        prep.eval_resets, prep.settings.output, prep.task, prep.output_leak,
    )


def train_reference(prep: Prepared, progress: Progress = None) -> Curves:
    """Per-sample training of a feedforward/leaky net with autograd; the readable baseline."""
    s = prep.settings
    net = LeakyNet(
        prep.X.shape[1], prep.leak.size, prep.targets.shape[1], prep.leak, s.leak_grad
    ).load_params(prep.params)
    return train_per_sample(prep, net, lambda: _evaluate_prepared(prep, net.params()), progress)


def train_per_sample(prep: Prepared, net: torch.nn.Module,
                     evaluate_now: Callable[[], tuple[float, ...]],
                     progress: Progress = None) -> Curves:
    """The per-sample loop of any net called as ``logits, h = net(x, h, reset)``.

    One item per step, memory carried from step to step, ``evaluate_now()`` before each step
    in ``prep.eval_steps`` (and after the last), and a stop at the first non-finite loss.
    ``net.params()`` gives the final weights. Shared by the MLP and the conv net
    (:mod:`smoothlearn.convnet`), so both follow one protocol.
    """
    s = prep.settings
    opt = make_optimizer(net.parameters(), s)
    X, targets = readonly_tensor(prep.X), readonly_tensor(prep.targets)
    resets = torch.from_numpy(prep.resets)  # [steps, groups]: the layer maps groups to units
    record, eval_at = _Recorder(), set(prep.eval_steps.tolist())
    h = None
    for step in range(prep.steps + 1):
        if step in eval_at:
            record.add(step, evaluate_now())
        if step == prep.steps:
            break
        item = int(prep.order[step])
        logits, h = net(X[item], h, resets[step])
        loss = _step_loss(logits, targets[item], int(prep.labels[item]), s)
        if not torch.isfinite(loss):
            return record.curves(True, net.params())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress and (step + 1) % 1000 == 0:
            progress(1000)
    return record.curves(False, net.params())


def train_conv_reference(prep: Prepared, progress: Progress = None) -> Curves:
    """Per-sample training of the conv net with autograd (the readable baseline).

    The loop is the MLP's (:func:`train_per_sample`): one image per step,
    memory carried between steps and reset per ``prep.resets``, evaluation before the steps
    in ``prep.eval_steps``, and a stop at the first non-finite loss (``diverged=True``).
    """
    if prep.task != "classify":
        raise ValueError("the conv net is a classifier; task must be 'classify'")
    net = ConvLeakyNet(prep.X.shape[1], prep.leak.size, prep.targets.shape[1], prep.leak,
                       prep.settings.leak_grad).load_params(prep.params)
    return train_per_sample(prep, net, lambda: evaluate_conv(prep, net.params()), progress)


def train_minibatch(prep: Prepared, batch_size: int = 16, progress: Progress = None) -> Curves:
    """Mini-batch SGD over consecutive items of the order (Appendix A.5/A.6); no memory.

    ``step`` counts training items seen, so curves share an x-axis with per-sample runs; an
    evaluation step is taken at the first batch boundary at or after it.
    """
    if np.any(prep.leak != 0):
        raise ValueError("mini-batch training is defined for memoryless nets (leak 0)")
    s = prep.settings
    net = LeakyNet(prep.X.shape[1], prep.leak.size, prep.targets.shape[1]).load_params(
        prep.params
    )
    opt = make_optimizer(net.parameters(), s)
    X, targets = readonly_tensor(prep.X), readonly_tensor(prep.targets)
    labels = readonly_tensor(prep.labels)
    record, pending = _Recorder(), list(prep.eval_steps.tolist())
    for start in range(0, prep.steps + batch_size, batch_size):
        seen = min(start, prep.steps)
        while pending and pending[0] <= seen:
            pending.pop(0)
            record.add(seen, _evaluate_prepared(prep, net.params()))
        if start >= prep.steps:
            break
        idx = torch.from_numpy(prep.order[start : start + batch_size])
        logits, _ = net(X[idx])  # a fresh memory (h = 0) per batch; leak is 0 anyway
        if s.loss == "ce":
            loss = F.cross_entropy(logits, labels[idx])
        else:
            loss = F.mse_loss(output_of(logits, s.output), targets[idx])
        if not torch.isfinite(loss):
            return record.curves(True, net.params())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress:
            progress(int(idx.numel()))
    return record.curves(False, net.params())


def _lstm_evaluate(model: LSTMClassifier, prep: Prepared) -> tuple[float, float, float]:
    """Memory off: each test item alone from a zero state; streamed: one pass, state carried."""
    with torch.no_grad():
        x = readonly_tensor(prep.X_eval)
        if prep.eval_resets is None:
            logits, _ = model(x.unsqueeze(1))
            logits = logits[:, 0]
        else:
            logits, _ = model(x.unsqueeze(0))
            logits = logits[0]
    labels = readonly_tensor(prep.labels_eval)
    out = output_of(logits, prep.settings.output)
    mse = float(F.mse_loss(out, readonly_tensor(prep.targets_eval)))
    ce = float(F.cross_entropy(logits, labels))
    return mse, ce, float((logits.argmax(-1) == labels).float().mean())


def _lstm_window_output(
    model: LSTMClassifier, X: torch.Tensor, history: list[_LSTMStep]
) -> torch.Tensor:
    """The newest output of the window, built so that autograd gives truncated BPTT(h; 1).

    Values are the stored ones (each step's gates as computed at its own time, its input
    state as it was); gradients flow through the current weights, from each cell into the
    cell before it. ``a + (b - b.detach())`` has the value of ``a`` exactly and the gradient
    of ``b``: that is how stored values and live gradients meet.
    """
    lstm = model.lstm
    w_hh = lstm.weight_hh_l0
    h_in = torch.stack([step.h_in for step in history])
    # every cell's products with the current weights at once (values unused: gradients only)
    live = F.linear(X[[step.item for step in history]], lstm.weight_ih_l0, lstm.bias_ih_l0)
    live = live + F.linear(h_in, w_hh, lstm.bias_hh_l0)
    h = c = None
    for t, step in enumerate(history):
        gates, c_in = live[t], step.c_in
        if h is not None:  # the first cell's input state is a constant: no gradient past it
            gates = gates + F.linear(h - h.detach(), w_hh)  # adds zero; passes dh back
            c_in = c_in + (c - c.detach())
        h, c = lstm_cell(step.gates + (gates - gates.detach()), c_in)
    return model.out(h)


@dataclass(frozen=True)
class _LSTMStep:
    """What truncated BPTT keeps of one step: the item, the state it started from, its gates."""

    item: int
    h_in: torch.Tensor
    c_in: torch.Tensor
    gates: torch.Tensor


def train_lstm(
    prep: Prepared, hidden: int, bptt: int = 10, init_seed: int = 0, progress: Progress = None
) -> Curves:
    """Per-sample LSTM training with truncated BPTT over the last ``bptt`` steps.

    The network runs forward once over the stream (its state is carried, never recomputed),
    and every step's loss is backpropagated through the stored history of the last ``bptt``
    steps with the current weights: Williams & Peng's BPTT(h; 1), the rule ``docs/model.md``
    gives with its reasons. The weights start from :func:`smoothlearn.nn.init_lstm_params`
    (Xavier, zero biases).
    """
    s = prep.settings
    d_in, d_out = prep.X.shape[1], prep.targets.shape[1]
    model = LSTMClassifier(d_in, hidden, d_out).load_params(
        init_lstm_params(d_in, hidden, d_out, init_seed)
    )
    opt = make_optimizer(model.parameters(), s)
    X, targets = readonly_tensor(prep.X), readonly_tensor(prep.targets)
    record, eval_at = _Recorder(), set(prep.eval_steps.tolist())
    history: list[_LSTMStep] = []
    h, c = torch.zeros(hidden), torch.zeros(hidden)
    lstm = model.lstm
    for step in range(prep.steps + 1):
        if step in eval_at:
            record.add(step, _lstm_evaluate(model, prep))
        if step == prep.steps:
            break
        item = int(prep.order[step])
        with torch.no_grad():  # this step's gates with the current weights, kept as history
            gates = F.linear(X[item], lstm.weight_ih_l0, lstm.bias_ih_l0) + F.linear(
                h, lstm.weight_hh_l0, lstm.bias_hh_l0
            )
        history = [*history, _LSTMStep(item, h, c, gates)][-bptt:]
        logits = _lstm_window_output(model, X, history)
        loss = _step_loss(logits, targets[item], int(prep.labels[item]), s)
        if not torch.isfinite(loss):
            return record.curves(True, model.params())
        with torch.no_grad():  # the carried state: this step's cell, from the stored values
            h, c = lstm_cell(gates, c)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress and (step + 1) % 1000 == 0:
            progress(1000)
    return record.curves(False, model.params())
