"""Every call the landscape makes into the rest of smoothlearn, in one place.

The package is being reorganised (issue 11: a ``stats`` module, a typed sweep summary, an
``Execution`` options object). Keeping these calls in a few small functions means re-pointing
the landscape after that change touches this file only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from smoothlearn.experiments import RunConfig


def make_run(**settings: Any) -> RunConfig:
    """One checked run configuration (its ``run_id`` hashes the settings)."""
    from smoothlearn.experiments import make_config

    return make_config(**settings)


#: Dataset parameters as hashable pairs (cached look-ups below take them as keys).
Params = tuple[tuple[str, Any], ...]


@lru_cache(maxsize=8)
def _dataset(dataset: str, params: Params = ()):
    from smoothlearn.runs import dataset_for

    return dataset_for(make_run(dataset=dataset, dataset_params=dict(params)))


def training_labels(dataset: str, params: Params = ()) -> np.ndarray:
    """The training labels of a dataset (data seed 0)."""
    return _dataset(dataset, params).y_train


def test_size(dataset: str, params: Params = ()) -> int:
    """Items in a dataset's test split."""
    return int(_dataset(dataset, params).X_test.shape[0])


@lru_cache(maxsize=512)
def exhaustion_step(dataset: str, condition: str, seed: int, params: Params = ()) -> int:
    """Steps of epoch 1 before the first class runs out, for this order."""
    from smoothlearn.streams import first_exhaustion_step

    return first_exhaustion_step(training_labels(dataset, params), condition, seed)


@lru_cache(maxsize=256)
def mean_run_length(dataset: str, condition: str, params: Params = ()) -> float:
    """Mean run length of one label in a training order (order seed 0): the smoothness axis
    in numbers."""
    from smoothlearn.streams import order, smoothness

    seed = 0
    labels = training_labels(dataset, params)
    return smoothness(labels[order(labels, condition, seed)])["mean_run_length"]


def finished_ids(store: Path) -> set[str]:
    """Run ids the store already holds (done or diverged): never trained again."""
    from smoothlearn.results import Store

    if not store.is_dir():
        return set()
    return Store(store).scan()[0]


def sweep(configs: Sequence[RunConfig], store: Path, *, engine: str, executor: str,
          workers: int | None, scheduler: str | None, quiet: bool) -> str:
    """Train what the store lacks; returns the sweep's one-line summary (for the record)."""
    from smoothlearn.sweep import Execution, run_sweep

    execution = Execution(engine=engine, executor=executor, workers=workers,
                          scheduler=scheduler, quiet=quiet)
    return run_sweep(list(configs), store, execution).line()


def load_curves(store: Path, run_ids: Collection[str]) -> pd.DataFrame:
    """The tidy curves of these runs: run_id, step, test_mse, test_acc, diverged, ..."""
    from smoothlearn import results

    return results.load(store, run_ids=run_ids)
