"""A small convolutional classifier whose pooled feature layer has leaky memory.

Architecture (LeNet-like, one input channel, ``docs/convnet.md``)::

    image [1, s, s]   (s = int(sqrt(n_features)): 28 for MNIST, 36 for the moving sets)
    conv 1 -> 8, 5x5, ReLU, 2x2 max-pool
    conv 8 -> 16, 5x5, ReLU, 2x2 max-pool, flatten        (the pooled features, f)
    H(n) = leak * H(n-1) + (1 - leak) * ReLU(W1 f(n) + b1)  (nn.LeakyMemory, H(n-1) detached)
    z(n) = W2 H(n) + b2                                     (logits; softmax/MSE or CE)

The memory lives only in the feature layer, with the same detached-memory rule and resets as
the MLP's hidden layer (:class:`~smoothlearn.nn.LeakyMemory`): the convolutions are a pure
function of the current image, so the feature layer is exactly the MLP's hidden layer applied
to the pooled features. That is why evaluation reuses :func:`smoothlearn.evaluation.evaluate` on
the features, and why the weights keep the MLP's names (``W1 b1 W2 b2``) next to the
convolutions' (``C1 c1 C2 c2``).

This module is model math (the geometry, the modules, the initialisation), next to
:mod:`smoothlearn.nn`; the readable per-sample trainer is
:func:`smoothlearn.train.train_conv_reference` and the batched fast path
:mod:`smoothlearn.engine.conv`, tested equal to it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from smoothlearn.convshape import (
    CHANNELS,
    CONV_NAMES,
    KERNEL,
    MIN_SIDE,
    PARAM_NAMES,
    feature_size,
    image_side,
)
from smoothlearn.nn import LeakyMemory

__all__ = [
    "CHANNELS",
    "CONV_NAMES",
    "KERNEL",
    "MIN_SIDE",
    "PARAM_NAMES",
    "image_side",
    "feature_size",
    "init_conv_params",
    "ConvFeatures",
    "ConvLeakyNet",
    "conv_features",
]


def init_conv_params(
    n_features: int, d_hidden: int, d_out: int, init_seed: int
) -> dict[str, np.ndarray]:
    """Starting weights, built like :func:`smoothlearn.nn.init_params`: Xavier-uniform weights
    drawn in the order C1, C2, W1, W2 from one generator seeded with ``init_seed``, zero biases.

    For a convolution, Xavier's fans are ``channels x kernel area`` (PyTorch's
    ``xavier_uniform_`` on the 4-d weight). Both trainers start from these arrays.
    """
    side = image_side(n_features)
    gen = torch.Generator().manual_seed(int(init_seed))
    shapes = {
        "C1": (CHANNELS[0], 1, KERNEL, KERNEL),
        "C2": (CHANNELS[1], CHANNELS[0], KERNEL, KERNEL),
        "W1": (d_hidden, feature_size(side)),
        "W2": (d_out, d_hidden),
    }
    bias_of = {"C1": "c1", "C2": "c2", "W1": "b1", "W2": "b2"}
    out: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        weight = torch.empty(shape)
        nn.init.xavier_uniform_(weight, generator=gen)
        out[name] = weight.numpy()
        out[bias_of[name]] = np.zeros(shape[0], np.float32)
    return {name: out[name] for name in PARAM_NAMES}


class ConvFeatures(nn.Module):
    """The two convolution stages: ``[..., s*s]`` flat images to ``[..., F]`` pooled features.

    Stateless: the features of an image depend on that image alone (no memory here).
    """

    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side
        self.conv1 = nn.Conv2d(1, CHANNELS[0], KERNEL)
        self.conv2 = nn.Conv2d(CHANNELS[0], CHANNELS[1], KERNEL)

    def load_params(self, params: dict[str, np.ndarray]) -> ConvFeatures:
        """Copy the convolutions' weights ``C1 c1 C2 c2`` from :func:`init_conv_params` arrays."""
        tensors = (self.conv1.weight, self.conv1.bias, self.conv2.weight, self.conv2.bias)
        with torch.no_grad():
            for name, tensor in zip(CONV_NAMES, tensors, strict=True):
                tensor.copy_(torch.from_numpy(np.asarray(params[name], np.float32)))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[:-1]
        if x.shape[-1] != self.side * self.side:
            raise ValueError(f"input has {x.shape[-1]} features; this net takes "
                             f"{self.side} x {self.side} = {self.side ** 2}")
        a = x.reshape(-1, 1, self.side, self.side)
        a = F.max_pool2d(torch.relu(self.conv1(a)), 2)
        a = F.max_pool2d(torch.relu(self.conv2(a)), 2)
        return a.reshape(*batch, -1)


class ConvLeakyNet(nn.Module):
    """Conv features → leaky-memory feature layer → linear read-out; feedforward at leak 0.

    Used like :class:`smoothlearn.nn.LeakyNet` (and ``nn.RNNCell``): the module holds only
    parameters, ``logits, h = net(x, h, reset)`` takes ``H(n-1)`` (``None``: zeros) and
    returns ``H(n)``; ``x`` is one flat image ``[s*s]`` or a batch ``[B, s*s]``.
    """

    def __init__(
        self,
        n_features: int,
        d_hidden: int,
        d_out: int,
        leak: float | list[float] | np.ndarray = 0.0,
        leak_grad: str = "exact",
    ) -> None:
        super().__init__()
        side = image_side(n_features)
        self.features = ConvFeatures(side)
        self.memory = LeakyMemory(feature_size(side), d_hidden, leak, leak_grad)
        self.out = nn.Linear(d_hidden, d_out)

    def _tensors(self) -> dict[str, torch.Tensor]:
        f, m = self.features, self.memory.linear
        return {
            "C1": f.conv1.weight, "c1": f.conv1.bias, "C2": f.conv2.weight, "c2": f.conv2.bias,
            "W1": m.weight, "b1": m.bias, "W2": self.out.weight, "b2": self.out.bias,
        }

    def load_params(self, params: dict[str, np.ndarray]) -> ConvLeakyNet:
        """Copy weights from :func:`init_conv_params`-style arrays (shared with the fast path)."""
        with torch.no_grad():
            for name, tensor in self._tensors().items():
                tensor.copy_(torch.from_numpy(np.asarray(params[name], np.float32)))
        return self

    def params(self) -> dict[str, np.ndarray]:
        """The weights as float32 numpy arrays, named as in :func:`init_conv_params`."""
        return {name: t.detach().numpy().copy() for name, t in self._tensors().items()}

    def forward(
        self, x: torch.Tensor, h: torch.Tensor | None = None, reset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``(logits, h)``; see :meth:`smoothlearn.nn.LeakyMemory.forward`."""
        h = self.memory(self.features(x), h, reset)
        return self.out(h), h


#: Test items per batch when computing features for evaluation. Small enough that a batch's
#: temporaries (8 maps of 28 x 28 per image after the first convolution: 2.5 MB for 100
#: images) are reused from the heap: at 1,000 images (25 MB) glibc mapped and page-faulted
#: them afresh in every call, and a feature pass over the moving study's 2,000 test images took
#: 218-236 ms with ~26,000-50,000 page faults, against 120-123 ms and none at 100, the same
#: features bit for bit (one thread, AMD EPYC Zen 4).
EVAL_CHUNK = 100


def conv_features(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Pooled features ``[m, F]`` of images ``X [m, s*s]`` (float32, no gradient)."""
    net = ConvFeatures(image_side(X.shape[1])).load_params(params)
    x = torch.tensor(np.asarray(X, np.float32))  # a copy: X may be a read-only dataset array
    with torch.no_grad():
        parts = [net(x[i : i + EVAL_CHUNK]) for i in range(0, x.shape[0], EVAL_CHUNK)]
    return torch.cat(parts).numpy()
