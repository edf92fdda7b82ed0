"""Shared fixtures: the real datasets are reached only through SMOOTHLEARN_DATA, and no test
reaches the network."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest


def closed_port_url() -> str:
    """A local URL nobody listens on: a download mirror that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every download (here and in child processes) goes to a closed local port, so a missing
    dataset fails fast instead of reaching the internet; a test may set its own mirrors."""
    monkeypatch.setenv("SMOOTHLEARN_MIRRORS", closed_port_url())
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


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
