"""Shared fixtures: the real datasets are reached only through SMOOTHLEARN_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The directory holding mnist/ and fashion-mnist/, as the library's setting names it."""
    value = os.environ.get("SMOOTHLEARN_DATA")
    if not value or not Path(value).is_dir():
        pytest.skip("SMOOTHLEARN_DATA is not set to a data directory")
    return Path(value)


@pytest.fixture(scope="session")
def mnist_available(data_dir: Path) -> Path:
    """Skip (with the reason) unless MNIST's four files are under SMOOTHLEARN_DATA."""
    folder = data_dir / "mnist"
    if not folder.is_dir() or len(list(folder.glob("*idx*"))) < 4:
        pytest.skip(f"MNIST is not under SMOOTHLEARN_DATA ({data_dir}); set it to run this")
    return folder
