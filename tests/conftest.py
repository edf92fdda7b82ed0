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
