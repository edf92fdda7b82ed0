"""Shared fixtures: the real datasets are reached only through SMOOTHLEARN_DATA, and no test
reaches the network."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def closed_port_url() -> str:
    """A local URL nobody listens on: a download mirror that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def is_loopback(address: Any) -> bool:
    """True for a Unix socket path or a loopback host (127.x, ::1, localhost): what tests may
    connect to (local mirrors, a local Dask cluster)."""
    if not isinstance(address, tuple):
        return True  # AF_UNIX path
    host = str(address[0])
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


class NetworkBlocked(OSError):
    """A test tried to reach a non-loopback address."""


def _guarded(connect: Any) -> Any:
    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
            raise NetworkBlocked(f"tests may not reach the network (connect to {address!r})")
        return connect(self, address)

    return guarded


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the network: in this process (and forked children) a socket connection
    to a non-loopback address raises at once; downloads in any child process go to a closed
    local port, so a missing dataset fails fast. A test may set its own (local) mirrors."""
    monkeypatch.setattr(socket.socket, "connect", _guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(socket.socket.connect_ex))
    monkeypatch.setenv("SMOOTHLEARN_MIRRORS", closed_port_url())
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture(autouse=True)
def data_setting_restored() -> Iterator[None]:
    """``--data-dir`` sets SMOOTHLEARN_DATA for the whole process (the CLI's contract): put it
    back after each test, so that a test run without the data never sees a test's folder."""
    before = os.environ.get("SMOOTHLEARN_DATA")
    yield
    if before is None:
        os.environ.pop("SMOOTHLEARN_DATA", None)
    else:
        os.environ["SMOOTHLEARN_DATA"] = before


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
