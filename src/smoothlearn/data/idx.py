"""IDX files (the MNIST format): reading, unpacking and checking by sha256 of the content.

Checks use the sha256 of the *unpacked* content, because Debian's Fashion-MNIST is
recompressed (different .gz bytes, same data).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

from smoothlearn.data.registry import DataError

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



def unpack(raw: bytes, source: str) -> bytes:
    """Gunzip when the bytes are gzip (by magic, not by file name), else return them as is."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{source}: not a valid gzip file ({err})") from None


def read_unpacked(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    return unpack(raw, str(path))


def check_sha256(content: bytes, expected: str, source: str) -> None:
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
    content = read_unpacked(path)
    if sha256 is not None:
        check_sha256(content, sha256, str(path))
    return _parse_idx(content, str(path))

