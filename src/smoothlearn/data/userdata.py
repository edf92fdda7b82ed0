"""Datasets from the user's own files and arrays, checked once and tied to their content.

A user dataset enters through :func:`register` (arrays), :func:`from_file` (``.npz``,
``.csv``, ``.parquet``, an image folder) or :func:`from_torch` (any map-style
``torch.utils.data.Dataset``). Every entry point checks the data up front, with one
:class:`~smoothlearn.data.registry.DataError` line per problem (a missing array, a wrong dtype
or shape, NaN or infinity, labels that are not 0..K-1, train and test widths that differ, an
empty split), and copies it, chunk by chunk, into the user cache as ``.npy`` files named by
the sha256 of the content. Runs name the dataset ``<stem>@<hash>``, so the hash is part of
every run id: a changed file gives new runs, never silently reused ones. Loading memory-maps
those files, so data larger than memory is paged in as the trainer reads it, never loaded
whole; and any process on the machine (a pool worker, a Dask worker) finds the data by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smoothlearn.data import registry
from smoothlearn.data.files import cache_dir
from smoothlearn.data.registry import DATASET_INFO, DataError, Dataset, DatasetInfo

__all__ = [
    "UserMeta",
    "is_user_name",
    "looks_like_path",
    "register",
    "from_file",
    "from_torch",
    "load_user",
    "user_info",
    "user_meta",
    "default_hidden",
    "check_condition",
    "resolve_dataset",
]

#: Separates a user dataset's stem from its content hash in its name (``digits@3fa2...``).
MARK = "@"
#: Hex digits of the sha256 kept in the name: 64 bits, no collision in practice.
HASH_CHARS = 16
#: File suffixes read as tables, one row per item.
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
#: Bytes per chunk when data are copied into the cache (bounded memory for any data size).
CHUNK_BYTES = 64 << 20
ARRAYS = ("X_train", "y_train", "X_test", "y_test", "episode_train", "episode_test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclass(frozen=True)
class UserMeta:
    """What a run needs to know about a user dataset without reading its arrays."""

    name: str
    digest: str
    source: str
    task: str
    n_features: int
    n_train: int
    n_test: int
    #: Items per class in the training split (empty for a set without labels).
    class_counts: tuple[int, ...]
    ordered: bool

    @property
    def n_classes(self) -> int | None:
        return len(self.class_counts) or None


# ----------------------------------------------------------------------------- names
def is_user_name(name: str) -> bool:
    """A registered user dataset's name: ``<stem>@<hash>``."""
    stem, mark, digest = str(name).rpartition(MARK)
    return bool(stem and mark and len(digest) == HASH_CHARS
                and all(c in "0123456789abcdef" for c in digest))


def looks_like_path(value: str, relative_to: Path) -> bool:
    """A dataset value meant as a file or folder (relative to ``relative_to``) rather than a
    name; built-in names always win (a folder called ``mnist`` stays the built-in set)."""
    text = str(value)
    if text in DATASET_INFO or is_user_name(text):
        return False
    return ("/" in text or os.sep in text or text.endswith((".npz", *TABLE_SUFFIXES))
            or (relative_to / text).is_dir())


def _store_root() -> Path:
    return cache_dir() / "datasets"


def _folder(name: str) -> Path:
    return _store_root() / name.rpartition(MARK)[2]


def user_meta(name: str) -> UserMeta:
    """The record of a registered dataset; a DataError saying how to register it if none."""
    path = _folder(name) / "meta.json"
    if not is_user_name(name) or not path.is_file():
        raise DataError(f"dataset {name!r} is not registered on this machine; give its file "
                        "(dataset = \"path/to/data.npz\") so that it is checked and cached")
    raw = json.loads(path.read_text())
    raw["class_counts"] = tuple(raw["class_counts"])
    meta = UserMeta(**raw)
    return meta if meta.name == name else UserMeta(**{**asdict(meta), "name": name})


def user_info(name: str) -> DatasetInfo:
    """The registry record of a user dataset (what configs and claims ask about)."""
    meta = user_meta(name)
    return DatasetInfo(meta.name, meta.task, meta.n_features, meta.n_classes,  # type: ignore[arg-type]
                       real=False, ordered=meta.ordered)


def default_hidden(name: str) -> int:
    """Hidden units when a config sets none: half the input width, the paper's MNIST ratio
    (784-392-10); set ``hidden`` for anything else."""
    return max(1, user_meta(name).n_features // 2)


def check_condition(name: str, condition: str, repeats: int | None, task: str) -> None:
    """The order a run asks for can be built from this data: a ``repeat-N`` order
    (``repeats=N``; None for other orders) needs N items of every class, and any order but
    ``random`` needs labels. The config layer parsed ``condition``; it is only named here."""
    meta = user_meta(name)
    if meta.ordered:
        return
    if task == "classify" and not meta.class_counts:
        raise DataError(f"dataset {meta.source!r} has no labels (y_train); set "
                        "task = \"reconstruct\" or add y_train and y_test")
    if repeats is not None and meta.class_counts:
        small = [(k, n) for k, n in enumerate(meta.class_counts) if n < repeats]
        if small:
            k, n = small[0]
            raise DataError(f"dataset {meta.source!r}: class {k} has {n} training item(s), too "
                            f"few for condition {condition!r}; use repeat-{n} or fewer, or "
                            "add items")
    if condition != "random" and not meta.class_counts:
        raise DataError(f"dataset {meta.source!r} has no labels, so condition {condition!r} "
                        "has no categories to repeat; use condition = \"random\"")


def load_user(name: str) -> Dataset:
    """A registered dataset as a :class:`Dataset` of read-only memory maps."""
    meta = user_meta(name)
    folder = _folder(name)

    def arr(key: str) -> np.ndarray:
        return np.load(folder / f"{key}.npy", mmap_mode="r")

    return Dataset(meta.name, arr("X_train"), arr("y_train"), arr("X_test"), arr("y_test"),
                   task=meta.task, ordered=meta.ordered,  # type: ignore[arg-type]
                   params={"source": meta.source, "sha256": meta.digest})


# ----------------------------------------------------------------------------- checks
def _stem(text: str) -> str:
    stem = Path(str(text)).name
    for suffix in (".npz", *TABLE_SUFFIXES):
        stem = stem.removesuffix(suffix)
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-")
    return cleaned or "data"


def _check_features(key: str, shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    if dtype.kind not in "fiu":
        raise DataError(f"{where}: {key} has dtype {dtype}; give numbers (float or integer)")
    if len(shape) < 2:
        raise DataError(f"{where}: {key} has shape {shape}; give [items, features] (2-d, or "
                        "images [items, height, width])")
    if shape[0] == 0:
        raise DataError(f"{where}: {key} is empty (0 items); every split needs items")
    if int(np.prod(shape[1:])) == 0:
        raise DataError(f"{where}: {key} has shape {shape}: no features")


def _check_finite(key: str, chunk: np.ndarray, start: int, where: str) -> None:
    bad = ~np.isfinite(chunk)
    if bad.any():
        row = start + int(np.argwhere(bad)[0][0])
        raise DataError(f"{where}: {key} has {int(bad.sum())} NaN or infinite value(s) (first "
                        f"in item {row}); clean or drop those items")


def _integers(key: str, values: np.ndarray, n_items: int, where: str, what: str) -> np.ndarray:
    """``values`` as int64: integer dtype, or floats that are whole numbers; one per item."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"{where}: {key} has shape {values.shape}; give one {what} per item")
    if values.shape[0] != n_items:
        raise DataError(f"{where}: {key} has {values.shape[0]} {what}s for {n_items} items")
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values % 1 == 0):
        return values.astype(np.int64)
    raise DataError(f"{where}: {key} must hold integers (got dtype {values.dtype}); number "
                    "the classes 0..K-1, e.g. with pandas.factorize")


def _check_labels(y_train: np.ndarray, y_test: np.ndarray, where: str) -> tuple[int, ...]:
    """Labels are 0..K-1, every class has a training item, test labels are known classes."""
    low, high = int(y_train.min()), int(y_train.max())
    counts = np.bincount(y_train - min(low, 0))
    if low < 0 or (counts == 0).any():
        why = f"found {low}" if low < 0 else f"class {int(np.argmin(counts))} has no item"
        raise DataError(f"{where}: labels must be integers 0..K-1 (y_train spans {low}..{high}; "
                        f"{why}); renumber them, e.g. with pandas.factorize")
    if int(y_test.min()) < 0 or int(y_test.max()) > high:
        raise DataError(f"{where}: y_test holds labels outside 0..{high} (the classes of "
                        f"y_train: {int(y_test.min())}..{int(y_test.max())})")
    return tuple(int(c) for c in counts)


def _check_episodes(key: str, episodes: np.ndarray, where: str) -> None:
    """Items of one episode are consecutive: an episode id never comes back later."""
    starts = np.r_[True, episodes[1:] != episodes[:-1]]
    if np.unique(episodes[starts]).size != int(starts.sum()):
        raise DataError(f"{where}: {key} is not consecutive (an episode's items must follow "
                        "each other in the stream)")


# ----------------------------------------------------------------------------- writing
class _Writer:
    """Copies arrays into a temporary folder as .npy, checking and hashing chunk by chunk."""

    def __init__(self, where: str) -> None:
        self.where = where
        _store_root().mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=".new-", dir=_store_root()))
        self.hash = hashlib.sha256()

    def features(self, key: str, shape: tuple[int, ...], dtype: np.dtype,
                 chunks: Callable[[int], Iterator[np.ndarray]]) -> tuple[int, int]:
        """Write ``key`` as float32 [items, features] from ``chunks(rows_per_chunk)``."""
        _check_features(key, shape, dtype, self.where)
        n, width = shape[0], int(np.prod(shape[1:]))
        out = np.lib.format.open_memmap(self.folder / f"{key}.npy", "w+", np.float32, (n, width))
        self.hash.update(f"{key}:float32:{n}x{width};".encode())
        rows = max(1, CHUNK_BYTES // max(width * 8, 1))
        start = 0
        for chunk in chunks(rows):
            block = np.asarray(chunk).reshape(-1, width).astype(np.float32)
            _check_finite(key, block, start, self.where)
            out[start:start + block.shape[0]] = block
            self.hash.update(np.ascontiguousarray(block).tobytes())
            start += block.shape[0]
        out.flush()
        del out
        return n, width

    def integers(self, key: str, values: np.ndarray) -> None:
        np.save(self.folder / f"{key}.npy", values)
        self.hash.update(f"{key}:int64:{values.size};".encode() + values.tobytes())

    def finish(self, stem: str, source: str, task: str, widths: tuple[int, int],
               sizes: tuple[int, int], counts: tuple[int, ...], ordered: bool) -> str:
        """Move the folder to its content hash (or drop it if that exists); the name."""
        digest = self.hash.hexdigest()
        name = f"{stem}{MARK}{digest[:HASH_CHARS]}"
        meta = UserMeta(name, digest, source, task, widths[0], sizes[0], sizes[1], counts,
                        ordered)
        (self.folder / "meta.json").write_text(json.dumps(asdict(meta), indent=1))
        final = _store_root() / digest[:HASH_CHARS]
        try:
            os.replace(self.folder, final)
        except OSError:  # already cached (same content): keep that copy
            self.discard()
        return name

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _chunks_of(array: np.ndarray) -> Callable[[int], Iterator[np.ndarray]]:
    def chunks(rows: int) -> Iterator[np.ndarray]:
        for start in range(0, array.shape[0], rows):
            yield array[start:start + rows]

    return chunks


@dataclass(frozen=True)
class _Source:
    """How to read one features array without loading it: shape, dtype, chunks."""

    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: Callable[[int], Iterator[np.ndarray]]

    @classmethod
    def of(cls, array: Any) -> _Source:
        array = np.asarray(array) if not isinstance(array, np.ndarray) else array
        return cls(tuple(array.shape), array.dtype, _chunks_of(array))


def _write(sources: Mapping[str, Any], stem: str, source: str, where: str) -> str:
    """Check everything, then write the cache entry; returns the dataset's name."""
    missing = [k for k in ("X_train", "X_test") if sources.get(k) is None]
    if missing:
        raise DataError(f"{where}: missing array {missing[0]} (need X_train, X_test; y_train "
                        "and y_test for classification)")
    X_train, X_test = sources["X_train"], sources["X_test"]
    for key, src in (("X_train", X_train), ("X_test", X_test)):
        _check_features(key, src.shape, src.dtype, where)
    widths = int(np.prod(X_train.shape[1:])), int(np.prod(X_test.shape[1:]))
    if widths[0] != widths[1]:
        raise DataError(f"{where}: X_train has {widths[0]} features per item, X_test "
                        f"{widths[1]}; both splits need the same width")
    sizes = X_train.shape[0], X_test.shape[0]
    has_y = [sources.get(k) is not None for k in ("y_train", "y_test")]
    if any(has_y) and not all(has_y):
        raise DataError(f"{where}: missing array {'y_test' if has_y[0] else 'y_train'} (labels "
                        "come for both splits or neither)")
    labels = {}
    counts: tuple[int, ...] = ()
    if all(has_y):
        for key, n in (("y_train", sizes[0]), ("y_test", sizes[1])):
            labels[key] = _integers(key, sources[key], n, where, "label")
        counts = _check_labels(labels["y_train"], labels["y_test"], where)
    else:
        labels = {"y_train": np.zeros(sizes[0], np.int64), "y_test": np.zeros(sizes[1], np.int64)}
    episodes = {}
    for key, n in (("episode_train", sizes[0]), ("episode_test", sizes[1])):
        if sources.get(key) is not None:
            episodes[key] = _integers(key, sources[key], n, where, "episode id")
            _check_episodes(key, episodes[key], where)
    writer = _Writer(where)
    try:
        for key, src in (("X_train", X_train), ("X_test", X_test)):
            writer.features(key, src.shape, src.dtype, src.chunks)
        for key, values in {**labels, **episodes}.items():
            writer.integers(key, values)
        task = "classify" if counts else "reconstruct"
        return writer.finish(stem, source, task, widths, sizes, counts, bool(episodes))
    except BaseException:
        writer.discard()
        raise


# ----------------------------------------------------------------------------- entry points
def register(X_train: Any, y_train: Any = None, X_test: Any = None, y_test: Any = None, *,
             name: str = "arrays", episode_train: Any = None,
             episode_test: Any = None) -> Dataset:
    """Check arrays and cache them under their content hash; the dataset, memory-mapped.

    ``y_*`` are class labels 0..K-1 (leave both out for a reconstruction set);
    ``episode_*`` mark a naturally ordered stream (runs then use ``condition="given"``).
    """
    sources = {"X_train": X_train, "X_test": X_test}
    sources = {k: None if v is None else _Source.of(v) for k, v in sources.items()}
    extra = {"y_train": y_train, "y_test": y_test, "episode_train": episode_train,
             "episode_test": episode_test}
    return load_user(_write({**sources, **extra}, _stem(name), name, f"dataset {name!r}"))


def _npy_header(handle: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of a .npy stream, leaving it at the first data byte."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    return np.lib.format.read_array_header_2_0(handle)


def _npz_member(archive: zipfile.ZipFile, key: str, where: str) -> _Source:
    """An array inside an .npz, read in row chunks from its zip member (never whole)."""
    with archive.open(f"{key}.npy") as handle:
        shape, fortran, dtype = _npy_header(handle)
    if dtype.hasobject:
        raise DataError(f"{where}: {key} has dtype object; give numbers (float or integer)")
    if fortran and len(shape) > 1:
        raise DataError(f"{where}: {key} is stored in Fortran order; save "
                        "np.ascontiguousarray(...) instead")

    def chunks(rows: int) -> Iterator[np.ndarray]:
        row_items = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        with archive.open(f"{key}.npy") as handle:
            _npy_header(handle)
            left = shape[0]
            while left:
                take = min(rows, left)
                raw = handle.read(take * row_items * dtype.itemsize)
                yield np.frombuffer(raw, dtype).reshape((take, *shape[1:]))
                left -= take

    return _Source(tuple(shape), dtype, chunks)


def _from_npz(path: Path) -> str:
    where = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{where}: not a readable .npz file ({err})") from None
    with archive:
        members = {n.removesuffix(".npy") for n in archive.namelist()}
        unknown = sorted(members - set(ARRAYS))
        if unknown:
            raise DataError(f"{where}: unknown array {unknown[0]}; allowed: {', '.join(ARRAYS)}")
        sources: dict[str, Any] = {}
        for key in ARRAYS:
            if key not in members:
                continue
            source = _npz_member(archive, key, where)
            if key.startswith("X_"):
                sources[key] = source
            else:
                parts = list(source.chunks(1 << 20))
                sources[key] = np.concatenate(parts) if parts else np.zeros(source.shape,
                                                                             source.dtype)
        return _write(sources, _stem(path.name), str(path), where)


def _from_table(path: Path, label: str | None, split: str) -> str:
    """One row per item: feature columns, a label column, and a ``split`` column (train or
    test) that says which split the row belongs to."""
    import pandas as pd

    where = str(path)
    try:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is the file's problem
        raise DataError(f"{where}: cannot read it as a table ({type(err).__name__}: "
                        f"{' '.join(str(err).split())[:200]})") from None
    label = "label" if label is None else label
    for column in (split, label) if label else (split,):
        if column not in frame.columns:
            raise DataError(f"{where}: no column {column!r} (columns: "
                            f"{', '.join(map(str, frame.columns[:12]))}); name the label "
                            "column with dataset_params.label and the split column with "
                            "dataset_params.split")
    parts = frame[split].astype(str).str.lower()
    odd = sorted(set(parts) - {"train", "test"})
    if odd:
        raise DataError(f"{where}: column {split!r} holds {odd[0]!r}; use 'train' or 'test'")
    features = frame.drop(columns=[c for c in (split, label) if c])
    text = [str(c) for c, t in features.dtypes.items() if t.kind not in "fiub"]
    if text:
        raise DataError(f"{where}: column {text[0]!r} is not numeric; drop it or encode it")
    sources: dict[str, Any] = {}
    for part in ("train", "test"):
        rows = (parts == part).to_numpy()
        sources[f"X_{part}"] = _Source.of(features[rows].to_numpy(np.float64))
        if label:
            sources[f"y_{part}"] = frame.loc[rows, label].to_numpy()
    return _write(sources, _stem(path.name), str(path), where)


def _from_images(folder: Path) -> str:
    """``train/<class>/*.png`` and ``test/<class>/*.png``: grey levels scaled to [0, 1],
    classes numbered in sorted order of their folder names."""
    from PIL import Image

    where = str(folder)
    for part in ("train", "test"):
        if not (folder / part).is_dir():
            raise DataError(f"{where}: no folder {part}/ (expected {part}/<class>/*.png)")
    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{where}: train/ has no class folders (expected train/<class>/*.png)")
    sources: dict[str, Any] = {}
    for part in ("train", "test"):
        images, labels = [], []
        extra = sorted(p.name for p in (folder / part).iterdir()
                       if p.is_dir() and p.name not in classes)
        if extra:
            raise DataError(f"{where}: {part}/{extra[0]} is not a class of train/")
        for k, cls in enumerate(classes):
            for file in sorted((folder / part / cls).glob("*")):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    with Image.open(file) as image:
                        images.append(np.asarray(image.convert("L"), np.float32) / 255.0)
                    labels.append(k)
        shapes = {a.shape for a in images}
        if len(shapes) > 1:
            raise DataError(f"{where}: {part}/ images differ in size ({sorted(shapes)[:2]}); "
                            "resize them to one size")
        empty = np.zeros((0, 1), np.float32)
        sources[f"X_{part}"] = _Source.of(np.stack(images) if images else empty)
        sources[f"y_{part}"] = np.asarray(labels, np.int64)
    return _write(sources, _stem(folder.name), where, where)


def from_file(path: str | os.PathLike[str], label: str | None = None,
              split: str = "split") -> Dataset:
    """A dataset from ``.npz``, ``.csv``/``.parquet`` or an image folder, checked and cached."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset file {str(path)!r} does not exist")
    if path.is_dir():
        name = _from_images(path)
    elif path.suffix == ".npz":
        name = _from_npz(path)
    elif path.suffix in TABLE_SUFFIXES:
        name = _from_table(path, label, split)
    else:
        raise DataError(f"dataset file {str(path)!r}: unknown kind; use .npz, .csv, "
                        ".parquet or a folder of train/<class>/ and test/<class>/ images")
    return load_user(name)


def from_torch(train: Any, test: Any, name: str = "torch") -> Dataset:
    """A dataset from two map-style ``torch.utils.data.Dataset`` objects yielding
    ``(input, label)`` (inputs are flattened; labels 0..K-1)."""
    parts = {}
    for part, dataset in (("train", train), ("test", test)):
        try:
            items = [dataset[i] for i in range(len(dataset))]
        except TypeError as err:
            raise DataError(f"dataset {name!r}: {part} is not a map-style dataset with "
                            f"len() and [i] ({err})") from None
        inputs = [np.asarray(item[0], np.float32).reshape(-1) for item in items]
        parts[f"X_{part}"] = np.stack(inputs) if inputs else np.zeros((0, 1), np.float32)
        parts[f"y_{part}"] = np.asarray([int(item[1]) for item in items], np.int64)
    return register(parts["X_train"], parts["y_train"], parts["X_test"], parts["y_test"],
                    name=name)


def resolve_dataset(value: str, relative_to: Path, params: Mapping[str, Any]) -> str:
    """A config's ``dataset``: built-in and registered names as they are; a path (relative
    to ``relative_to``, the TOML's folder) is checked, cached and replaced by its name."""
    if not looks_like_path(value, relative_to):
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else relative_to / path
    return from_file(path, params.get("label"), params.get("split", "split")).name


registry.use_user_data(sys.modules[__name__])
