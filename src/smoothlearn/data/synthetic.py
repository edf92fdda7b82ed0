"""The paper's synthetic sets, generated from a seed (every parameter has a default).

What each one is, and why its defaults, is in :mod:`smoothlearn.data`'s docstring.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from smoothlearn.data.registry import DataError, Dataset


def _split_seeds(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent train and test generators, so changing n_test never changes training."""
    train, test = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(train), np.random.default_rng(test)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise DataError(message)


# ---------------------------------------------------------------- synthetic: A.2 categories
def _category_templates(n_categories: int, n_features: int, overlap: float) -> np.ndarray:
    """One 0/1 template per category: its own block, plus part of the next category's."""
    block = n_features // n_categories
    shared = int(round(overlap * block))
    templates = np.zeros((n_categories, n_features))
    for c in range(n_categories):
        templates[c, c * block : (c + 1) * block] = 1.0
        neighbour = (c + 1) % n_categories
        templates[c, neighbour * block : neighbour * block + shared] = 1.0
    return templates


def _noisy_exemplars(
    templates: np.ndarray, labels: np.ndarray, noise: float, rng: np.random.Generator
) -> np.ndarray:
    values = templates[labels] + rng.uniform(0.0, noise, (labels.size, templates.shape[1]))
    return (values / (1.0 + noise)).astype(np.float32)


def make_synthetic_categories(
    *,
    n_categories: int = 4,
    n_features: int = 16,
    n_train_per_category: int = 300,
    n_test_per_category: int = 100,
    noise: float = 1.0,
    overlap: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """The A.2 category-learning set (see the module docstring for the defaults' reasons)."""
    params = dict(locals())
    _require(n_categories >= 2, "synthetic-categories: n_categories must be >= 2")
    _require(n_features >= n_categories, "synthetic-categories: need n_features >= n_categories")
    _require(n_train_per_category >= 1 and n_test_per_category >= 1,
             "synthetic-categories: need at least one item per category in each split")
    _require(noise >= 0, "synthetic-categories: noise must be >= 0")
    _require(0 <= overlap <= 1, "synthetic-categories: overlap must be in [0, 1]")
    templates = _category_templates(n_categories, n_features, overlap)
    train_rng, test_rng = _split_seeds(seed)
    splits = []
    for rng, per_category in ((train_rng, n_train_per_category), (test_rng, n_test_per_category)):
        labels = rng.permutation(np.repeat(np.arange(n_categories), per_category))
        splits += [_noisy_exemplars(templates, labels, noise, rng), labels.astype(np.int64)]
    return Dataset("synthetic-categories", *splits, task="classify", params=params)


# ---------------------------------------------------------------- synthetic: 5.2.1 multiscale
def _latent_states(
    periods: tuple[int, ...], length: int, switch: str, rng: np.random.Generator
) -> np.ndarray:
    """Binary state per row and step; row r may change only at multiples of periods[r]."""
    states = np.empty((length, len(periods)), dtype=np.int8)
    step = np.arange(length)
    initial = rng.integers(0, 2, size=len(periods))
    for row, period in enumerate(periods):
        segment = step // period
        if switch == "flip":
            states[:, row] = (initial[row] + segment) % 2
        else:
            draws = rng.integers(0, 2, size=int(segment[-1]) + 1)
            draws[:1] = initial[row]
            states[:, row] = draws[segment]
    return states


def _multiscale_items(
    states: np.ndarray, noise: float, encoding: str, rng: np.random.Generator
) -> np.ndarray:
    """Two elements per row: (state, state) or one-hot, plus noise, scaled into [0, 1]."""
    s = states.astype(np.float64)
    first = s if encoding == "same" else 1.0 - s
    clean = np.stack([first, s], axis=2).reshape(states.shape[0], -1)
    noisy = clean + rng.uniform(0.0, noise, clean.shape)
    return (noisy / (1.0 + noise)).astype(np.float32)


def make_multiscale(
    *,
    periods: Sequence[int] = (1, 3, 5),
    n_train: int = 3000,
    n_test: int = 500,
    noise: float = 0.25,
    switch: Literal["flip", "redraw"] = "flip",
    encoding: Literal["same", "onehot"] = "same",
    seed: int = 0,
) -> Dataset:
    """The 5.2.1 multi-timescale stream: rows whose latent states change at different rates."""
    periods = tuple(int(p) for p in periods)
    params = dict(locals())
    _require(len(periods) >= 1 and min(periods) >= 1, "multiscale: periods must be >= 1")
    _require(n_train >= 1 and n_test >= 1, "multiscale: n_train and n_test must be >= 1")
    _require(noise >= 0, "multiscale: noise must be >= 0")
    _require(switch in ("flip", "redraw"), "multiscale: switch must be 'flip' or 'redraw'")
    _require(encoding in ("same", "onehot"), "multiscale: encoding must be 'same' or 'onehot'")
    splits = []
    latents = []
    for rng, length in zip(_split_seeds(seed), (n_train, n_test), strict=True):
        states = _latent_states(periods, length, switch, rng)
        splits += [_multiscale_items(states, noise, encoding, rng), states.astype(np.int64)]
        latents.append(states)
    return Dataset(
        "multiscale", *splits, task="reconstruct", latent_train=latents[0],
        latent_test=latents[1], ordered=True, params=params,
    )


# ---------------------------------------------------------------- synthetic: A.7 no shared
def make_no_shared_stream(
    *,
    n_categories: int = 4,
    n_features: int = 16,
    n_train_per_category: int = 300,
    n_test_per_category: int = 100,
    repeats: int = 4,
    low: float = 0.5,
    high: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """The A.7 stream in which consecutive items never share a non-zero feature."""
    params = dict(locals())
    _require(n_categories >= 2, "synthetic-no-shared: n_categories must be >= 2")
    _require(n_features % (2 * n_categories) == 0,
             "synthetic-no-shared: n_features must be a multiple of 2 * n_categories")
    _require(n_train_per_category >= 1 and n_test_per_category >= 1,
             "synthetic-no-shared: need at least one item per category in each split")
    _require(repeats >= 1, "synthetic-no-shared: repeats must be >= 1")
    _require(0 < low <= high <= 1, "synthetic-no-shared: need 0 < low <= high <= 1")
    width = n_features // (2 * n_categories)
    # supports[c, k] = feature indices of category c's sub-template k (a partition of features)
    supports = np.arange(n_features).reshape(n_categories, 2, width)
    train_rng, test_rng = _split_seeds(seed)

    n_train = n_categories * n_train_per_category
    block = np.arange(n_train) // repeats
    category_order = train_rng.permutation(n_categories)
    y_train = category_order[block % n_categories]
    first_sub = train_rng.integers(0, 2, size=int(block[-1]) + 1)
    sub_train = (first_sub[block] + np.arange(n_train) % repeats) % 2
    X_train = _support_items(supports, y_train, sub_train, n_features, low, high, train_rng)

    y_test = test_rng.permutation(np.repeat(np.arange(n_categories), n_test_per_category))
    sub_test = test_rng.integers(0, 2, size=y_test.size)
    X_test = _support_items(supports, y_test, sub_test, n_features, low, high, test_rng)
    return Dataset(
        "synthetic-no-shared", X_train, y_train.astype(np.int64), X_test,
        y_test.astype(np.int64), task="classify", ordered=True, params=params,
    )


def _support_items(
    supports: np.ndarray,
    labels: np.ndarray,
    subs: np.ndarray,
    n_features: int,
    low: float,
    high: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Items that are U(low, high) on their sub-template's support and exactly 0 elsewhere."""
    items = np.zeros((labels.size, n_features), dtype=np.float32)
    columns = supports[labels, subs]  # [n, width]
    rows = np.arange(labels.size)[:, None]
    items[rows, columns] = rng.uniform(low, high, columns.shape)
    return items


# ---------------------------------------------------------------- entry points
SYNTHETIC_DATASETS: dict[str, Callable[..., Dataset]] = {
    "synthetic-categories": make_synthetic_categories,
    "synthetic-no-shared": make_no_shared_stream,
    "multiscale": make_multiscale,
    "multiscale-b": functools.partial(make_multiscale, periods=(1, 4, 8), noise=0.4),
}


def _make_synthetic(name: str, params: dict[str, Any]) -> Dataset:
    maker = SYNTHETIC_DATASETS[name]
    known = list(inspect.signature(maker).parameters)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise DataError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return replace(maker(**params), name=name)

