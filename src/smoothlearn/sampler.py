"""The torch side of :mod:`smoothlearn.streams`: a ``Sampler`` yielding a smooth order.

Kept apart from ``streams`` so that configs, claims and the store read orders without loading
PyTorch; ``smoothlearn.StreamSampler`` is this class.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from smoothlearn.streams import Condition, as_labels, epoch_order, parse_condition

__all__ = ["StreamSampler"]


class StreamSampler(Sampler[int]):
    """A ``torch.utils.data.Sampler`` yielding one epoch of :func:`smoothlearn.streams.order`
    per iteration.

    Call :meth:`set_epoch` between epochs for a fresh within-category order, as with
    ``DistributedSampler``.
    """

    def __init__(self, labels: np.ndarray, condition: str | Condition, seed: int = 0) -> None:
        self.labels = as_labels(labels)
        self.condition = parse_condition(condition)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        yield from epoch_order(self.labels, self.condition, self.seed, self.epoch).tolist()

    def __len__(self) -> int:
        return int(self.labels.size)
