"""The conv net's shapes, torch-free: configs check an input size and the compiled engine
sizes its buffers without loading PyTorch. The layers themselves are in
:mod:`smoothlearn.convnet`.
"""

from __future__ import annotations

import math

__all__ = [
    "CHANNELS",
    "KERNEL",
    "MIN_SIDE",
    "CONV_NAMES",
    "PARAM_NAMES",
    "image_side",
    "feature_size",
]

#: Output channels of the two convolution stages.
CHANNELS = (8, 16)
#: Side of the (square, unpadded) convolution kernels.
KERNEL = 5
#: The smallest image side both stages fit: (s - 4) // 2 - 4 must be at least 2 to pool.
MIN_SIDE = 16
#: Names of the weights: the convolutions', then the feature layer's and the read-out's
#: (the MLP's names), in the order the fast path stacks them.
CONV_NAMES = ("C1", "c1", "C2", "c2")
PARAM_NAMES = (*CONV_NAMES, "W1", "b1", "W2", "b2")


def image_side(n_features: int) -> int:
    """The side ``s`` of the square one-channel image of ``n_features = s * s`` inputs.

    The error names ``n_features`` (a synthetic set's ``dataset_params`` key, or the input
    size of a dataset) so a user knows what to change.
    """
    side = math.isqrt(int(n_features)) if n_features > 0 else 0
    if side * side != n_features:
        raise ValueError(
            f"n_features={n_features} is not a square image size: the conv net reads each item "
            f"as an s x s image (e.g. n_features=256 for 16 x 16, 784 for MNIST's 28 x 28)"
        )
    if side < MIN_SIDE:
        raise ValueError(
            f"n_features={n_features} is a {side} x {side} image; the conv net's two unpadded "
            f"{KERNEL}x{KERNEL} stages need a side of at least {MIN_SIDE} "
            f"(n_features >= {MIN_SIDE * MIN_SIDE})"
        )
    return side


def _pooled_side(side: int) -> int:
    """Side of the second stage's pooled map: each stage loses KERNEL - 1, then halves."""
    for _ in CHANNELS:
        side = (side - KERNEL + 1) // 2
    return side


def feature_size(side: int) -> int:
    """Length of the flattened pooled features ``f`` (256 for 28 x 28, 576 for 36 x 36)."""
    return CHANNELS[-1] * _pooled_side(side) ** 2
