"""Per-run claims, so that several sweep processes share one results store without ever
computing a run twice (see ``docs/sweeps.md``).

Before training, a sweep claims its runs: one file ``<run_id>.claim`` per run naming the
claiming process, written under a store-wide lock (``filelock``). Another sweep skips a run
whose claim names a live process. A process proves it is alive by holding a lock on its own
``<owner>.owner`` file for as long as it runs; the operating system drops that lock when the
process dies, even by ``kill -9``, so a claim left by a dead process is recognised and taken
over. One lock file per process, not per run, keeps a sweep of many thousand runs within the
open-file limit.

This module knows nothing of records or curves: :class:`smoothlearn.results.Store` tells it
which runs are finished.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["Claims", "running"]

#: Seconds to wait for the store-wide lock (held only while claiming or writing the manifest).
LOCK_TIMEOUT = 120


def _owner_alive(folder: Path, owner: str) -> bool:
    """Whether the sweep process ``owner`` still runs (it holds its owner lock for life)."""
    lock_path = folder / f"{owner}.owner"
    if not lock_path.is_file():
        return False
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:  # a store we may only read: whether its owner lives is unknown
        return False
    lock.release()
    return False


def running(folder: Path) -> set[str]:
    """Runs claimed by a live sweep process (read only: nothing is cleaned up here)."""
    alive: dict[str, bool] = {}
    out = set()
    for path in folder.glob("*.claim") if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            owner = path.read_text().strip()
            if owner not in alive:
                alive[owner] = _owner_alive(folder, owner)
            if alive[owner]:
                out.add(path.stem)
    return out


class Claims:
    """This process's claims in one store's claims folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        host = socket.gethostname().replace(".", "-") or "host"
        self.owner = f"{host}-{os.getpid()}-{secrets.token_hex(4)}"
        self._owner_lock: FileLock | None = None
        self._held: set[str] = set()

    def _path(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.claim"

    def store_lock(self) -> FileLock:
        """The store-wide lock: claims (and the manifest) change under it, one at a time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return FileLock(self.folder / ".store.lock", timeout=LOCK_TIMEOUT)

    def take(self, run_ids: Iterable[str],
             finished: Callable[[str], bool]) -> tuple[list[str], list[str]]:
        """Claim the runs that are not ``finished``: ``(claimed, held by another live process)``.

        A run that finished meanwhile (another process wrote it and let go) is in neither
        list; claims of dead processes are taken over.
        """
        if self._owner_lock is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._owner_lock = FileLock(self.folder / f"{self.owner}.owner")
            self._owner_lock.acquire(timeout=0)
        mine, elsewhere = [], []
        alive: dict[str, bool] = {self.owner: True}
        with self.store_lock():
            for run_id in run_ids:
                owner = self._owner_of(run_id)
                if owner is not None and owner != self.owner:
                    if owner not in alive:
                        alive[owner] = _owner_alive(self.folder, owner)
                    if alive[owner]:
                        elsewhere.append(run_id)
                        continue
                if finished(run_id):
                    continue
                # read and written only under the store lock, so no fsync or temporary file:
                # a claim lost in a crash is stale anyway
                self._path(run_id).write_text(self.owner + "\n")
                self._held.add(run_id)
                mine.append(run_id)
            for owner, live in alive.items():
                if not live:
                    (self.folder / f"{owner}.owner").unlink(missing_ok=True)
        return mine, elsewhere

    def _owner_of(self, run_id: str) -> str | None:
        try:
            return self._path(run_id).read_text().strip() or None
        except OSError:
            return None

    def release(self, run_id: str) -> None:
        """Let go of this process's claim on a run (its record is written, or it is given up)."""
        if run_id in self._held:
            self._path(run_id).unlink(missing_ok=True)
            self._held.discard(run_id)

    def release_all(self) -> None:
        """Let go of every claim of this process, and of its owner lock."""
        for run_id in list(self._held):
            self.release(run_id)
        if self._owner_lock is not None:
            self._owner_lock.release()
            (self.folder / f"{self.owner}.owner").unlink(missing_ok=True)
            self._owner_lock = None
