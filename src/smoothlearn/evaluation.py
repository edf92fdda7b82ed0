"""The test protocol, once: a network's test MSE, cross-entropy and accuracy on its
evaluation stream, memory off (each item alone) or streamed (the leaky memory carried
through the items in order).

A net trained without memory can be tested streamed with memory switched on only at test
(``Prepared.test_memory``, the control that tells test-time averaging from learning): its
hidden states averaged by the leaky recursion (``leak`` is then the test leak), or its outputs
(:func:`average_outputs`), reset by the test stream's own reset flags.

The reference trainers (:mod:`smoothlearn.train`) and the conv net's fast path
(:mod:`smoothlearn.engine.conv`) evaluate with these functions, so both report the same
numbers for the same weights; the engine imports them from here rather than from the
reference trainer.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch.nn import functional as F

from smoothlearn.contract import Prepared
from smoothlearn.convnet import conv_features
from smoothlearn.memory import unit_groups
from smoothlearn.nn import leaky_update

__all__ = ["readonly_tensor", "output_of", "hidden_states", "average_outputs", "evaluate",
           "evaluate_conv"]


def readonly_tensor(array: np.ndarray) -> torch.Tensor:
    """Zero-copy view of a (possibly read-only, cached) array; the trainers never write to it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def output_of(logits: torch.Tensor, output: str) -> torch.Tensor:
    """The output layer's nonlinearity (``TrainSettings.output``) applied to ``logits``."""
    return torch.softmax(logits, -1) if output == "softmax" else torch.sigmoid(logits)


def hidden_states(
    params: dict[str, np.ndarray], leak: np.ndarray, X: np.ndarray, resets: np.ndarray | None
) -> np.ndarray:
    """Hidden activity ``[m, h]`` of a network run over items ``X`` in order.

    With ``resets=None`` memory is off (each item alone, H = ReLU(pre)); otherwise the leaky
    recursion (:func:`~smoothlearn.nn.leaky_update`, the layer's own equation) runs through
    the items from H = 0, resetting units per their group's flag.
    """
    act = np.maximum(X @ params["W1"].T + params["b1"], 0).astype(np.float32)
    if resets is None:
        return act
    flags = torch.from_numpy(resets[:, unit_groups(act.shape[1], resets.shape[1])])
    leak_t = torch.from_numpy(np.asarray(leak, np.float32))
    keep = torch.where(flags, 0.0, leak_t)
    out = torch.from_numpy(act).clone()
    state = torch.zeros(act.shape[1])
    for i in range(act.shape[0]):
        state = leaky_update(state, out[i], keep[i])
        out[i] = state
    return out.numpy()


def average_outputs(outputs: torch.Tensor, resets: np.ndarray, leak: float) -> torch.Tensor:
    """The outputs ``[m, o]`` averaged over the stream by the leaky recursion of the hidden
    layer, Y(n) = leak Y(n-1) + (1 - leak) y(n), from Y = 0, restarting (Y(n) = y(n)) where
    the stream resets (one reset group, ``resets[:, 0]``)."""
    keep = torch.where(torch.from_numpy(resets[:, 0]), 0.0, leak)
    out = outputs.clone()
    state = torch.zeros(outputs.shape[1], dtype=outputs.dtype)
    for i in range(outputs.shape[0]):
        state = leaky_update(state, outputs[i], keep[i])
        out[i] = state
    return out


def _averaged_metrics(
    outputs: torch.Tensor, targets_eval: np.ndarray, labels_eval: np.ndarray, task: str
) -> tuple[float, float, float]:
    """MSE, CE and accuracy of averaged outputs: CE is that of the outputs normalised to sum
    1 (softmax outputs already do), accuracy their argmax."""
    mse = float(F.mse_loss(outputs, readonly_tensor(targets_eval)))
    if task != "classify":
        return mse, math.nan, math.nan
    labels = readonly_tensor(labels_eval)
    picked = outputs.gather(1, labels[:, None])[:, 0]
    ce = float(torch.mean(torch.log(outputs.sum(1)) - torch.log(picked)))
    acc = float((outputs.argmax(-1) == labels).float().mean())
    return mse, ce, acc


def evaluate(
    params: dict[str, np.ndarray],
    leak: np.ndarray,
    X_eval: np.ndarray,
    targets_eval: np.ndarray,
    labels_eval: np.ndarray,
    eval_resets: np.ndarray | None,
    output: str,
    task: str,
    output_leak: float | None = None,
) -> tuple[float, float, float]:
    """Test MSE, CE and accuracy of one network on the evaluation stream (one batched pass).

    ``leak`` is the hidden layer's leak on the test stream (``Prepared.eval_leak``); with
    ``output_leak`` set and a streamed test, the scores are those of the outputs averaged by
    :func:`average_outputs`.
    """
    hidden = hidden_states(params, leak, X_eval, eval_resets)
    logits = torch.from_numpy(hidden @ params["W2"].T + params["b2"])
    if output_leak is not None and eval_resets is not None:
        averaged = average_outputs(output_of(logits, output), eval_resets, output_leak)
        return _averaged_metrics(averaged, targets_eval, labels_eval, task)
    mse = float(F.mse_loss(output_of(logits, output), readonly_tensor(targets_eval)))
    if task != "classify":
        return mse, math.nan, math.nan
    labels = readonly_tensor(labels_eval)
    ce = float(F.cross_entropy(logits, labels))
    acc = float((logits.argmax(-1) == labels).float().mean())
    return mse, ce, acc


def evaluate_conv(
    prep: Prepared, params: dict[str, np.ndarray], features: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Test MSE, CE and accuracy on the run's evaluation stream, memory off or streamed.

    The features of every test image are computed at once; the feature layer, its memory
    (when ``prep.eval_resets`` is set) and the read-out are the MLP's
    (:func:`evaluate`), so both kinds of net share one test protocol. ``features``: those
    of ``prep.X_eval`` under ``params``, already computed (:func:`conv_features`), for a
    network scored on several test protocols of the same images.
    """
    feats = conv_features(params, prep.X_eval) if features is None else features
    head = {name: params[name] for name in ("W1", "b1", "W2", "b2")}
    return evaluate(head, prep.eval_leak, feats, prep.targets_eval, prep.labels_eval,
                    prep.eval_resets, prep.settings.output, prep.task, prep.output_leak)
