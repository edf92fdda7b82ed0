"""numba's threads: the threading layer, one launch at a time, thread counts, the eval pool.

numba's OpenMP layer and torch's OpenMP pool fight once both have run in one process: on
this machine every 2-thread torch op then took ~1 ms instead of ~2 us (the reference
trainer ran 500x slower after the engine). The workqueue layer has no such interaction; it
must not run two parallel kernels at once, so launches are serialised by
:data:`PARALLEL_LOCK`. Importing the engine selects it; an explicit NUMBA_THREADING_LAYER is
respected.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba

if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

#: Held while a parallel kernel runs (the workqueue layer is not re-entrant).
PARALLEL_LOCK = threading.Lock()


@contextmanager
def numba_threads(threads: int | None) -> Iterator[int]:
    """Run numba kernels on ``threads`` threads (default: all cores), restoring the old count."""
    wanted = (os.cpu_count() or 1) if threads is None else int(threads)
    if wanted < 1:
        raise ValueError(f"threads={threads!r} must be >= 1")
    wanted = min(wanted, numba.config.NUMBA_NUM_THREADS)
    old = numba.get_num_threads()
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(old)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run torch ops on ``threads`` threads inside the block, restoring the old count.

    Per-sample steps are far too small to split across threads (on a busy 2-core machine a
    2-thread reference step took 32 ms against 2 ms on one thread), so trainers, pool workers
    and the benchmark's naive loops run torch on one thread and use the cores side by side.
    """
    import torch  # only the torch paths need it; the numba engine does not

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


_POOL: dict[int, ThreadPoolExecutor] = {}


def pool(threads: int) -> ThreadPoolExecutor:
    """A persistent worker pool for evaluation: starting threads per evaluation costs ms."""
    if threads not in _POOL:
        _POOL[threads] = ThreadPoolExecutor(threads, thread_name_prefix="smoothlearn-eval")
    return _POOL[threads]


# a forked child (e.g. a process-pool worker) inherits the pool objects but not their threads
os.register_at_fork(after_in_child=_POOL.clear)
