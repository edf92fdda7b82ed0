"""Datasets: MNIST, Fashion-MNIST and the paper's synthetic sets, as plain numpy arrays.

Data knows nothing of models or orders: it returns a fixed training set and a test set. How the
training items are *ordered* (the paper's smoothness manipulation) is :mod:`smoothlearn.streams`'
job, except for the two synthetic streams whose order *is* the data (``ordered=True``).

What a dataset *is* (task, input size, class count, real or synthetic, ordered) is stated once
in :data:`DATASET_INFO` (:func:`dataset_info`); other modules read it there, never from the
name. A new dataset is one registry record plus its loader or generator.

Real datasets
=============

``load("mnist")`` and ``load("fashion-mnist")`` read the official IDX files. Files are looked
for, in this order, under:

1. the ``data_dir`` argument,
2. the ``SMOOTHLEARN_DATA`` environment variable,
3. the user cache (``SMOOTHLEARN_CACHE``, else ``$XDG_CACHE_HOME/smoothlearn``, else
   ``~/.cache/smoothlearn``),

each laid out as ``<dir>/mnist/train-images-idx3-ubyte.gz`` (the un-gzipped name works too),
and likewise ``<dir>/fashion-mnist/``. The first directory holding all four files wins. When
none does, the missing files are downloaded into the cache from a list of public mirrors
(overridable with ``mirrors=`` or ``SMOOTHLEARN_MIRRORS``, comma-separated base URLs, where
``{name}`` stands for the dataset name). Every file is checked against the sha256 of its
*unpacked* content, because Debian's Fashion-MNIST is recompressed (different .gz bytes, same
data). Downloads are written atomically (temp file + ``os.replace``), so an interrupted
download never leaves a half file behind.

Synthetic datasets (every parameter is a keyword with a default; all draws come from ``seed``)
=============================================================================================

``synthetic-categories`` (paper A.2)
    4 categories x 300 training items of 16 features (test: 100 per category, fresh noise).
    Each category owns a block of 16/4 = 4 "diagnostic" features: its template is 1 there and
    0 elsewhere. ``overlap`` (default 0: the paper's "low between-category overlap", and its
    Figure A.2 shows disjoint templates) additionally switches on that fraction of the *next*
    category's block. An exemplar is ``(template + U(0, noise)) / (1 + noise)``, in [0, 1].
    Default ``noise=1.0``: a feature "on" lies in [0.5, 1] and "off" in [0, 0.5], so single
    features are unreliable while the blocks separate the categories. Measured with the
    paper's 16-8-4 net (ReLU, softmax output, Xavier init, lr 0.01, per-sample SGD, random
    order, 10 seeds): after one epoch (1200 steps) test accuracy is ~0.59 with MSE and 1.0 with
    cross-entropy, so MSE learning is still under way where the paper measures (end of epoch 1).
    Raise ``noise`` or ``overlap`` for a harder task. Training items are stored
    in a random order (never sorted by category), so a naive pass is i.i.d.

``multiscale`` (paper 5.2.1, A.12)
    A 6-d stream: 3 rows x 2 elements. Row ``r`` carries a binary latent state that may change
    only every ``periods[r]`` items (default ``(1, 3, 5)``: fast, medium, slow). With
    ``switch="flip"`` (default, the literal reading of "switch every 1, 3 or 5 iterations") the
    state flips at every multiple of the period; with ``"redraw"`` it is redrawn at random
    there (and so stays put half the time). Initial states are random from ``seed``. Each
    element is ``(value + U(0, noise)) / (1 + noise)`` with ``noise=0.25``, so the two states
    stay separable ("on" in [0.8, 1], "off" in [0, 0.2]) as in Figure 3B. With
    ``encoding="same"`` (default) both elements of a row carry the row's state, as the paper's
    "the individual features ... generated as the sum of an underlying binary state and noise"
    suggests; ``encoding="onehot"`` writes state 0 as [1, 0] and state 1 as [0, 1] instead,
    which keeps each row's total ink constant. 3000 training items, and a held-out test stream
    of 500 items from an independent seed (same generator, spawned from ``seed``). The task is
    ``"reconstruct"``, the stream is ``ordered``, and ``y`` holds the latent states ``[n, 3]``
    (also in ``latent_train``/``latent_test`` as int8).

``multiscale-b`` (paper A.12, "a different synthesized dataset")
    The same generator with ``periods=(1, 4, 8)`` and ``noise=0.4``: slower medium and slow
    rows and noisier elements ("on" in [0.71, 1], "off" in [0, 0.29]); the paper does not say
    how its second set differed, so this one changes both timescales and noise.

``synthetic-no-shared`` (paper A.7)
    A stream in which consecutive items share *no* non-zero feature, where leaky memory cannot
    help. 16 features, 4 categories; each category has 2 sub-templates on disjoint supports of
    2 features (4 x 2 x 2 = 16: the features are partitioned). The training stream is laid out
    in blocks of ``repeats`` (default 4) items of one category, categories cycling in a random
    order from ``seed``; within a block the two sub-templates alternate (random one first), so
    neither neighbours in a block nor neighbours across a block boundary (different
    categories) share a feature. An exemplar is ``U(0.5, 1.0)`` on its support and 0
    elsewhere. ``repeats=4`` gives each block both sub-templates twice, and 300 items per
    category (1200 items = 300 blocks of 4, 75 blocks per category). Test: 100 per category,
    i.i.d. (random sub-template). The stream is ``ordered`` and the task ``"classify"``.

Moving-object streams (built from the real files; every parameter has a default)
=================================================================================

``moving-mnist``, ``moving-fashion``
    Episodes of one MNIST (Fashion-MNIST) item moving over a 36 x 36 canvas for ``frames``
    frames (default 10), bouncing off the walls, with optional rotation, scale drift, a bar
    occluder and pixel noise; ``class_repeats`` consecutive episodes share a class. The
    training stream (``steps`` frames, default 60,000) comes from the training split, the test
    stream (``test_steps``, default 10,000) from the test split; both are ``ordered`` and
    drawn from ``seed``. Every knob and its default: :class:`MovingSpec`
    (:mod:`smoothlearn.data.moving`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from smoothlearn.data import userdata
from smoothlearn.data.files import MIRRORS, _load_real, cache_dir, clear_cache, fetch, info
from smoothlearn.data.idx import FILES, SHA256, SPLIT_FILES, read_idx
from smoothlearn.data.moving import MovingSpec, load_moving, moving_spec
from smoothlearn.data.registry import (
    DATASET_INFO,
    DATASETS,
    REAL_DATASETS,
    DataError,
    Dataset,
    DatasetInfo,
    _check_name,
    dataset_info,
)
from smoothlearn.data.synthetic import (
    SYNTHETIC_DATASETS,
    _make_synthetic,
    make_multiscale,
    make_no_shared_stream,
    make_synthetic_categories,
)

__all__ = [
    "DataError",
    "Dataset",
    "userdata",
    "DatasetInfo",
    "DATASET_INFO",
    "dataset_info",
    "DATASETS",
    "REAL_DATASETS",
    "SYNTHETIC_DATASETS",
    "MIRRORS",
    "SHA256",
    "read_idx",
    "load",
    "load_dataset",
    "fetch",
    "info",
    "cache_dir",
    "clear_cache",
    "make_synthetic_categories",
    "make_multiscale",
    "make_no_shared_stream",
    "MovingSpec",
    "moving_spec",
    "FILES",
    "SPLIT_FILES",
]



def load_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, **params: Any
) -> Dataset:
    """Both splits of a dataset; ``params`` are a generator's keywords (e.g. seed)."""
    if userdata.is_user_name(name):
        if params:
            raise DataError(f"{name}: a dataset from files takes no parameters, got "
                            f"{', '.join(sorted(params))}")
        return userdata.load_user(name)
    _check_name(name, DATASETS)
    if name in SYNTHETIC_DATASETS:
        return _make_synthetic(name, params)
    if dataset_info(name).source is not None:
        return load_moving(name, data_dir, params)
    if params:
        raise DataError(f"{name}: takes no parameters, got {', '.join(sorted(params))}")
    X_train, y_train = _load_real(name, "train", data_dir)
    X_test, y_test = _load_real(name, "test", data_dir)
    return Dataset(name, X_train, y_train, X_test, y_test, task="classify")


def load(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    **params: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """One split as (X float32 [n, d] in [0, 1], y int64), read-only.

    For MNIST and Fashion-MNIST ``d`` is 784 (flattened 28x28); for the multiscale streams
    ``y`` is the latent states ``[n, 3]``.
    """
    _check_name(name, DATASETS)
    if split not in SPLIT_FILES:
        raise DataError(f"unknown split {split!r}; use 'train' or 'test'")
    if name in SYNTHETIC_DATASETS or dataset_info(name).source is not None:
        ds = load_dataset(name, data_dir, **params)
        return (ds.X_train, ds.y_train) if split == "train" else (ds.X_test, ds.y_test)
    if params:
        raise DataError(f"{name}: takes no parameters, got {', '.join(sorted(params))}")
    return _load_real(name, split, data_dir)
