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
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import inspect
import math
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "DataError",
    "Dataset",
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
]


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
    #: Official files checked by sha256 (True) or generated from a seed (False).
    real: bool
    #: The stream's order is the data itself (runs use ``condition="given"``).
    ordered: bool = False

    def input_size_for(self, params: Mapping[str, Any]) -> int:
        """Features per item under a synthetic generator's keywords (``n_features``, or two
        elements per row of a multiscale stream's ``periods``)."""
        if "n_features" in params:
            return int(params["n_features"])
        if "periods" in params:
            return 2 * len(params["periods"])
        return self.input_size


#: Every dataset, real ones first (the order of :data:`DATASETS`).
DATASET_INFO: dict[str, DatasetInfo] = {info.name: info for info in (
    DatasetInfo("mnist", "classify", 784, 10, real=True),
    DatasetInfo("fashion-mnist", "classify", 784, 10, real=True),
    DatasetInfo("synthetic-categories", "classify", 16, 4, real=False),
    DatasetInfo("synthetic-no-shared", "classify", 16, 4, real=False, ordered=True),
    DatasetInfo("multiscale", "reconstruct", 6, None, real=False, ordered=True),
    DatasetInfo("multiscale-b", "reconstruct", 6, None, real=False, ordered=True),
)}


def dataset_info(name: str) -> DatasetInfo:
    """The registry record of ``name``; a :class:`DataError` naming the known ones if none."""
    try:
        return DATASET_INFO[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}; known: {', '.join(DATASET_INFO)}"
        ) from None


# ---------------------------------------------------------------- real datasets: constants
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)

#: The four files of a dataset, per split: (images, labels), without ``.gz``.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FILES: tuple[str, ...] = (*SPLIT_FILES["train"], *SPLIT_FILES["test"])

#: sha256 of each file's *unpacked* content (the .gz bytes differ between distributors).
SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "train-labels-idx1-ubyte": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "t10k-images-idx3-ubyte": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "t10k-labels-idx1-ubyte": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "train-labels-idx1-ubyte": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "t10k-images-idx3-ubyte": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "t10k-labels-idx1-ubyte": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
    },
}

#: Public mirrors, tried in turn; each serves ``<base><file>.gz``.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

REAL_DATASETS: tuple[str, ...] = tuple(n for n, i in DATASET_INFO.items() if i.real)
DOWNLOAD_TIMEOUT_S = 30.0
#: Refuse larger downloads: the biggest file (MNIST train images) unpacks to 47 MB.
MAX_DOWNLOAD_BYTES = 64 * 2**20


# ---------------------------------------------------------------- IDX files
def _unpack(raw: bytes, source: str) -> bytes:
    """Gunzip when the bytes are gzip (by magic, not by file name), else return them as is."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{source}: not a valid gzip file ({err})") from None


def _read_unpacked(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    return _unpack(raw, str(path))


def _check_sha256(content: bytes, expected: str, source: str) -> None:
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise DataError(
            f"{source}: sha256 of the unpacked content is {actual}, expected {expected} "
            "(corrupt or not the official file; delete it to fetch it again)"
        )


def _parse_idx(content: bytes, source: str) -> np.ndarray:
    """Decode an IDX image or label file, refusing anything whose header and size disagree."""
    if len(content) < 4:
        raise DataError(f"{source}: too short for an IDX header ({len(content)} bytes)")
    magic = int.from_bytes(content[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise DataError(
            f"{source}: bad magic number 0x{magic:08x}, expected 0x{IMAGES_MAGIC:08x} (images) "
            f"or 0x{LABELS_MAGIC:08x} (labels) with unsigned-byte data"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{source}: truncated header ({len(content)} of {header} bytes)")
    shape = tuple(
        int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    expected = math.prod(shape)  # Python ints: a corrupt header cannot overflow
    actual = len(content) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{source}: {what}: header says {'x'.join(map(str, shape))} = {expected} bytes "
            f"of data, file holds {actual}"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike[str], sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzip or raw) into a read-only uint8 array.

    With ``sha256``, the unpacked content must have that digest: it is checked before parsing,
    so a corrupt file is reported as such rather than as a confusing header error.
    """
    path = Path(path)
    content = _read_unpacked(path)
    if sha256 is not None:
        _check_sha256(content, sha256, str(path))
    return _parse_idx(content, str(path))


# ---------------------------------------------------------------- where the files are
def cache_dir() -> Path:
    """The user cache root, where downloads go (``SMOOTHLEARN_CACHE`` > XDG > ~/.cache)."""
    if os.environ.get("SMOOTHLEARN_CACHE"):
        return Path(os.environ["SMOOTHLEARN_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "smoothlearn"
    return Path.home() / ".cache" / "smoothlearn"


def _search_roots(data_dir: str | os.PathLike[str] | None) -> list[tuple[str, Path]]:
    """Directories to look in, in priority order, each with the setting that named it."""
    roots: list[tuple[str, Path]] = []
    if data_dir is not None:
        roots.append(("data_dir", Path(data_dir).expanduser()))
    if os.environ.get("SMOOTHLEARN_DATA"):
        roots.append(("SMOOTHLEARN_DATA", Path(os.environ["SMOOTHLEARN_DATA"]).expanduser()))
    roots.append(("cache", cache_dir()))
    return roots


def _find_file(folder: Path, stem: str) -> Path | None:
    """The file ``stem.gz`` or ``stem`` in ``folder``, preferring the gzip one."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _locate(name: str, data_dir: str | os.PathLike[str] | None) -> tuple[str, Path] | None:
    """The first (setting, dataset folder) that holds all four files, or None."""
    for source, root in _search_roots(data_dir):
        folder = root / name
        if all(_find_file(folder, stem) for stem in FILES):
            return source, folder
    return None


def _check_name(name: str, allowed: Sequence[str]) -> None:
    if name not in allowed:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(allowed)}")


# ---------------------------------------------------------------- downloading
def _mirrors_for(name: str, mirrors: Sequence[str] | None) -> list[str]:
    """Base URLs to try: the argument, else ``SMOOTHLEARN_MIRRORS``, else the built-in list."""
    if mirrors is None and os.environ.get("SMOOTHLEARN_MIRRORS"):
        mirrors = os.environ["SMOOTHLEARN_MIRRORS"].split(",")
    if mirrors is None:
        mirrors = MIRRORS[name]
    return [m.strip().replace("{name}", name) for m in mirrors if m.strip()]


def _http_get(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        payload = response.read(MAX_DOWNLOAD_BYTES + 1)
    if len(payload) > MAX_DOWNLOAD_BYTES:
        raise DataError(f"{url}: larger than {MAX_DOWNLOAD_BYTES} bytes")
    return payload


def _reason(err: Exception) -> str:
    """A short reason for a failed download (URLError hides it in ``.reason``)."""
    if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
        return str(err.reason)
    return str(err) or type(err).__name__


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write via a temp file in the same folder + ``os.replace``: readers never see half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as err:
        raise DataError(f"{path}: cannot write ({err.strerror or err})") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise DataError(f"{path}: cannot write ({err.strerror or err})") from None
        raise


class _DownloadFailed(Exception):
    """No mirror served one file; ``failures`` holds one "url: reason" line per mirror."""

    def __init__(self, stem: str, failures: list[str]) -> None:
        super().__init__(stem)
        self.stem = stem
        self.failures = failures


def _download(name: str, stem: str, folder: Path, mirrors: list[str], timeout: float) -> None:
    """Fetch one file from the first mirror that serves the right bytes, into ``folder``."""
    failures: list[str] = []
    for base in mirrors:
        url = f"{base.rstrip('/')}/{stem}.gz"
        try:
            payload = _http_get(url, timeout)
            _check_sha256(_unpack(payload, url), SHA256[name][stem], url)
        except (OSError, http.client.HTTPException, ValueError) as err:
            failures.append(f"{url}: {_reason(err)}")
            continue
        is_gzip = payload[:2] == b"\x1f\x8b"
        _write_atomic(folder / (f"{stem}.gz" if is_gzip else stem), payload)
        return
    raise _DownloadFailed(stem, failures)


def _unavailable_message(
    name: str, roots: list[tuple[str, Path]], missing: list[str], failed: _DownloadFailed
) -> str:
    tried = "\n".join(f"  {line}" for line in failed.failures) or "  (no mirrors configured)"
    looked = ", ".join(f"{root / name} ({source})" for source, root in roots)
    return (
        f"{name}: the dataset files are not available locally and could not be downloaded.\n"
        f"Needed: {', '.join(f'{stem}.gz' for stem in missing)} (gzip or unpacked).\n"
        f"Looked in: {looked}.\n"
        f"Download of {failed.stem}.gz failed from every mirror:\n{tried}\n"
        f"To use local copies, put the files in DIR/{name}/ and set SMOOTHLEARN_DATA=DIR "
        f"(or pass data_dir=DIR); when online, run `smoothlearn data fetch {name}`."
    )


def _ensure_files(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    mirrors: Sequence[str] | None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """The folder holding all four files of ``name``, downloading what the cache lacks."""
    found = _locate(name, data_dir)
    if found is not None:
        return found[1]
    folder = cache_dir() / name
    missing = [stem for stem in FILES if _find_file(folder, stem) is None]
    urls = _mirrors_for(name, mirrors)
    for stem in missing:
        try:
            _download(name, stem, folder, urls, timeout)
        except _DownloadFailed as failed:
            still = [s for s in FILES if _find_file(folder, s) is None]
            raise DataError(
                _unavailable_message(name, _search_roots(data_dir), still, failed)
            ) from None
    return folder


# ---------------------------------------------------------------- loading real data
@functools.lru_cache(maxsize=8)
def _load_split(name: str, split: str, folder: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse, verify and convert one split; cached because MNIST takes ~1 s to unpack."""
    images_stem, labels_stem = SPLIT_FILES[split]
    images_path = _find_file(Path(folder), images_stem)
    labels_path = _find_file(Path(folder), labels_stem)
    if images_path is None or labels_path is None:
        raise DataError(f"{folder}: {images_stem} or {labels_stem} disappeared")
    images = read_idx(images_path, SHA256[name][images_stem])
    labels = read_idx(labels_path, SHA256[name][labels_stem])
    if images.ndim != 3:
        raise DataError(f"{images_path}: holds labels, expected images")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: holds images, expected labels")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels"
        )
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    X /= 255.0
    y = labels.astype(np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def clear_cache() -> None:
    """Forget the in-process parsed arrays (tests, or after replacing files on disk)."""
    _load_split.cache_clear()


def _load_real(
    name: str, split: str, data_dir: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    folder = _ensure_files(name, data_dir, mirrors=None)
    return _load_split(name, split, str(folder.resolve()))


def fetch(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Make sure the four files of ``name`` are present and verified; return their folder.

    Found files are used where they are (see the module docstring for the search order);
    missing ones are downloaded into the cache.
    """
    _check_name(name, REAL_DATASETS)
    folder = _ensure_files(name, data_dir, mirrors, timeout)
    for stem in FILES:
        path = _find_file(folder, stem)
        assert path is not None  # _ensure_files guarantees all four
        _check_sha256(_read_unpacked(path), SHA256[name][stem], str(path))
    return folder


def info(data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Per real dataset: where it would be loaded from, what is missing, whether it verifies.

    Keys: ``name``; ``dir`` (folder used, or None); ``source`` ("data_dir",
    "SMOOTHLEARN_DATA", "cache" or None); ``present`` (all four files in one folder);
    ``missing`` (files absent from the cache when not present); ``verified`` (all checksums
    match); ``problems`` (one message per bad file); ``searched`` (folders looked in); and
    ``cache`` (where ``fetch`` downloads to). Nothing is downloaded.
    """
    report = []
    for name in REAL_DATASETS:
        found = _locate(name, data_dir)
        cache_folder = cache_dir() / name
        entry: dict[str, Any] = {
            "name": name,
            "dir": str(found[1]) if found else None,
            "source": found[0] if found else None,
            "present": found is not None,
            "missing": [] if found else [
                stem for stem in FILES if _find_file(cache_folder, stem) is None
            ],
            "verified": False,
            "problems": [],
            "searched": [str(root / name) for _, root in _search_roots(data_dir)],
            "cache": str(cache_folder),
        }
        if found:
            for stem in FILES:
                path = _find_file(found[1], stem)
                assert path is not None
                try:
                    _check_sha256(_read_unpacked(path), SHA256[name][stem], str(path))
                except DataError as err:
                    entry["problems"].append(str(err))
            entry["verified"] = not entry["problems"]
        report.append(entry)
    return report


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
DATASETS: tuple[str, ...] = tuple(DATASET_INFO)


def _make_synthetic(name: str, params: dict[str, Any]) -> Dataset:
    maker = SYNTHETIC_DATASETS[name]
    known = list(inspect.signature(maker).parameters)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise DataError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return replace(maker(**params), name=name)


def load_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, **params: Any
) -> Dataset:
    """Both splits of a dataset; ``params`` are a synthetic generator's keywords (e.g. seed)."""
    _check_name(name, DATASETS)
    if name in SYNTHETIC_DATASETS:
        return _make_synthetic(name, params)
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
    if name in SYNTHETIC_DATASETS:
        ds = _make_synthetic(name, params)
        return (ds.X_train, ds.y_train) if split == "train" else (ds.X_test, ds.y_test)
    if params:
        raise DataError(f"{name}: takes no parameters, got {', '.join(sorted(params))}")
    return _load_real(name, split, data_dir)
