"""The torch-side sampler yields the orders of :mod:`smoothlearn.streams`, epoch by epoch."""

from __future__ import annotations

import numpy as np
import pytest
from torch.utils.data import DataLoader

import smoothlearn
from smoothlearn import streams
from smoothlearn.sampler import StreamSampler


def test_sampler_drives_a_dataloader():
    labels = np.repeat(np.arange(4), 5)
    sampler = StreamSampler(labels, "repeat-2", seed=3)
    assert len(sampler) == 20
    loader = DataLoader(list(range(20)), sampler=sampler, batch_size=None)
    assert [int(i) for i in loader] == streams.order(labels, "repeat-2", 3).tolist()
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert list(sampler) == streams.order(labels, "repeat-2", 3, epochs=2)[20:].tolist()


def test_the_package_exports_the_sampler_and_bad_labels_fail_at_construction():
    assert smoothlearn.StreamSampler is StreamSampler
    with pytest.raises(ValueError, match="1-d"):
        StreamSampler(np.zeros((2, 2), dtype=int), "random")
    with pytest.raises(ValueError, match="condition"):
        StreamSampler(np.array([0, 1]), "repeat-0")
