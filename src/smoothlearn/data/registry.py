"""The dataset registry and container: what a dataset *is*, stated once.

Other modules ask :func:`dataset_info` (task, input size, class count, real or synthetic,
ordered) instead of guessing from a name; a new dataset is one record here plus its loader or
generator (:mod:`smoothlearn.data.files`, :mod:`smoothlearn.data.synthetic` or
:mod:`smoothlearn.data.moving`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np


class DataError(ValueError):
    """A dataset problem, explained in a message a user can act on without a traceback."""


# ---------------------------------------------------------------- the registry
@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the package may know about a dataset without loading it.

    Other modules ask here (task, input size, real or synthetic) instead of guessing from the
    name, so that adding a dataset means adding one record.
    """

    name: str
    task: Literal["classify", "reconstruct"]
    #: Features per item at the generator's defaults (28 x 28 = 784 for the image sets).
    input_size: int
    #: Categories of a classification set at the defaults; None for reconstruction streams.
    n_classes: int | None
    #: Needs official files checked by sha256 (its own, or those of ``source``).
    real: bool
    #: The stream's order is the data itself (runs use ``condition="given"``).
    ordered: bool = False
    #: Generated from a seed (a run's ``data_seed`` is passed to the generator).
    seeded: bool = False
    #: The real set whose files it is built from (``moving-mnist``: ``mnist``); None for the
    #: real sets themselves and for the synthetic ones.
    source: str | None = None

    def input_size_for(self, params: Mapping[str, Any]) -> int:
        """Features per item under a generator's keywords (``n_features``, two elements per
        row of a multiscale stream's ``periods``, or a moving stream's ``canvas`` squared)."""
        if "canvas" in params:
            return int(params["canvas"]) ** 2
        if "n_features" in params:
            return int(params["n_features"])
        if "periods" in params:
            return 2 * len(params["periods"])
        return self.input_size


#: Every dataset: the real sets first, the streams built from them last (the order of
#: :data:`DATASETS`).
DATASET_INFO: dict[str, DatasetInfo] = {info.name: info for info in (
    DatasetInfo("mnist", "classify", 784, 10, real=True),
    DatasetInfo("fashion-mnist", "classify", 784, 10, real=True),
    DatasetInfo("synthetic-categories", "classify", 16, 4, real=False, seeded=True),
    DatasetInfo("synthetic-no-shared", "classify", 16, 4, real=False, ordered=True,
                seeded=True),
    DatasetInfo("multiscale", "reconstruct", 6, None, real=False, ordered=True, seeded=True),
    DatasetInfo("multiscale-b", "reconstruct", 6, None, real=False, ordered=True, seeded=True),
    DatasetInfo("moving-mnist", "classify", 36 * 36, 10, real=True, ordered=True, seeded=True,
                source="mnist"),
    DatasetInfo("moving-fashion", "classify", 36 * 36, 10, real=True, ordered=True,
                seeded=True, source="fashion-mnist"),
)}


#: The module that checks and caches user datasets (:mod:`smoothlearn.data.userdata`); it
#: plugs itself in when imported (``smoothlearn.data`` imports it), so this bottom layer names
#: it without importing it and the import graph keeps no cycle.
_user_data: Any = None


def use_user_data(module: Any) -> None:
    """Called once by :mod:`smoothlearn.data.userdata` at import."""
    global _user_data
    _user_data = module


def _user() -> Any:
    if _user_data is None:  # only if this module is loaded without its package
        raise DataError("user datasets need smoothlearn.data to be imported")
    return _user_data


def dataset_info(name: str) -> DatasetInfo:
    """The registry record of ``name``; a :class:`DataError` naming the known ones if none.
    A user dataset (``<stem>@<hash>``, :mod:`smoothlearn.data.userdata`) has its record in
    the cache it was checked into."""
    if name not in DATASET_INFO and _user_data is not None and _user_data.is_user_name(name):
        return _user_data.user_info(name)
    try:
        return DATASET_INFO[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}; known: {', '.join(DATASET_INFO)}"
        ) from None


#: The sets with official files of their own (what ``fetch`` downloads).
REAL_DATASETS: tuple[str, ...] = tuple(
    n for n, i in DATASET_INFO.items() if i.real and i.source is None
)
DATASETS: tuple[str, ...] = tuple(DATASET_INFO)


def _check_name(name: str, allowed: Sequence[str]) -> None:
    if name not in allowed:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(allowed)}")



# ---------------------------------------------------------------- the Dataset container
Task = Literal["classify", "reconstruct"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A fixed training set and test set, with what a run needs to know about them.

    Arrays are read-only (they may be shared with an in-process cache); copy to modify.
    ``ordered`` marks a training set whose order is part of the data (a stream that must be
    presented as given, never reordered). ``params`` records the generator's parameters,
    defaults included, so a result can say exactly which data it came from.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: Task = "classify"
    latent_train: np.ndarray | None = None
    latent_test: np.ndarray | None = None
    ordered: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in ("classify", "reconstruct"):
            raise DataError(f"{self.name}: task must be 'classify' or 'reconstruct'")
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.dtype != np.float32 or X.ndim != 2:
                raise DataError(f"{self.name}: X_{split} must be 2-d float32")
            if y.dtype != np.int64 or y.shape[0] != X.shape[0]:
                raise DataError(f"{self.name}: y_{split} must be int64 with one row per item")
        for array in (self.X_train, self.y_train, self.X_test, self.y_test,
                      self.latent_train, self.latent_test):
            if array is not None:
                array.flags.writeable = False

    @classmethod
    def from_arrays(cls, X_train: Any, y_train: Any = None, X_test: Any = None,
                    y_test: Any = None, *, name: str = "arrays", episode_train: Any = None,
                    episode_test: Any = None) -> Dataset:
        """Your own arrays, checked and cached under their content hash; runs use its
        ``name`` (``<name>@<hash>``). Leave the labels out for a reconstruction set."""
        return _user().register(X_train, y_train, X_test, y_test, name=name,
                                 episode_train=episode_train, episode_test=episode_test)

    @classmethod
    def from_file(cls, path: Any, label: str | None = None, split: str = "split") -> Dataset:
        """A ``.npz``, ``.csv``/``.parquet`` (``label`` and ``split`` columns) or image
        folder (``train/<class>/*.png``, ``test/<class>/*.png``), checked and cached."""
        return _user().from_file(path, label, split)

    @classmethod
    def from_torch(cls, train: Any, test: Any, name: str = "torch") -> Dataset:
        """Two map-style ``torch.utils.data.Dataset`` objects of ``(input, label)``."""
        return _user().from_torch(train, test, name)

    def save_npz(self, path: Any) -> Path:
        """Write the arrays as an ``.npz`` a TOML can name (``dataset = "data.npz"``)."""
        path = Path(path)
        arrays = {"X_train": self.X_train, "X_test": self.X_test}
        if self.task == "classify":
            arrays.update(y_train=self.y_train, y_test=self.y_test)
        np.savez(path, **arrays)
        return path

    @property
    def n_classes(self) -> int:
        """Number of categories (labels are 0..n-1); 0 for reconstruction datasets."""
        if self.task != "classify":
            return 0
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    @property
    def n_features(self) -> int:
        """Length of one input item."""
        return int(self.X_train.shape[1])

