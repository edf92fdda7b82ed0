"""Where the real datasets' files are, how missing ones are downloaded, and loading them.

Files are looked for under the ``data_dir`` argument, ``SMOOTHLEARN_DATA``, then the user
cache; missing ones are downloaded from public mirrors into the cache, checked by sha256 and
written atomically (see :mod:`smoothlearn.data`).
"""

from __future__ import annotations

import functools
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smoothlearn.data.idx import (
    FILES,
    SHA256,
    SPLIT_FILES,
    check_sha256,
    read_idx,
    read_unpacked,
    unpack,
)
from smoothlearn.data.registry import REAL_DATASETS, DataError, _check_name

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

DOWNLOAD_TIMEOUT_S = 30.0
#: Refuse larger downloads: the biggest file (MNIST train images) unpacks to 47 MB.
MAX_DOWNLOAD_BYTES = 64 * 2**20


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
            check_sha256(unpack(payload, url), SHA256[name][stem], url)
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
        check_sha256(read_unpacked(path), SHA256[name][stem], str(path))
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
                    check_sha256(read_unpacked(path), SHA256[name][stem], str(path))
                except DataError as err:
                    entry["problems"].append(str(err))
            entry["verified"] = not entry["problems"]
        report.append(entry)
    return report

