"""Threads that share one network, kept in step by a spinning barrier (numba, ``nogil``).

Why: some weight matrices are a little larger than a core's L2 (the LSTM's ``W_hh`` is 2.4 MB
at h = 392; L2 is 2 MB here), so one core streams them from L3 on every pass. Split between
two cores, each half stays in its core's L2 and a pass runs ~4x faster. The split needs a
barrier per recurrent step (10-20 µs of work), so it spins on two cache lines rather than
sleeping: ~0.15-0.2 µs per barrier measured here, where an OS wait costs ~50 µs.

Spinning is only sensible where each thread has a core of its own; callers (the sweep)
give such kernels the whole machine. With one thread the barrier is a no-op, and kernels
are written so that the arithmetic is the same for any thread count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["new_sync", "barrier", "run_in_lockstep"]

_LINE = 8  # int64 slots per cache line: each thread's counter on a line of its own


@intrinsic
def _load_acquire(typingctx, arr, i):
    """``arr[i]`` as an atomic acquire load (later reads cannot move before it)."""
    sig = types.int64(arr, i)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], array, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def _store_release(typingctx, arr, i, value):
    """``arr[i] = value`` as an atomic release store (earlier writes are visible first)."""
    sig = types.void(arr, i, value)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], array, [args[1]])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


def new_sync(threads: int) -> np.ndarray:
    """Zeroed barrier counters for ``threads`` threads (one cache line each)."""
    return np.zeros(_LINE * max(threads, 1), np.int64)


@njit(cache=True, nogil=True)
def barrier(sync, me, threads):
    """Wait until each of ``threads`` threads has called this as often as thread ``me``.

    Writes made before the call are visible to every thread after it (release/acquire).
    """
    if threads == 1:
        return
    count = sync[_LINE * me] + 1  # only this thread writes its own counter
    _store_release(sync, _LINE * me, count)
    for t in range(threads):
        if t != me:
            while _load_acquire(sync, _LINE * t) < count:
                pass


def run_in_lockstep(kernel: Callable[..., Any], threads: int, *args: Any) -> Any:
    """``kernel(me, threads, sync, *args)`` on ``threads`` threads; returns thread 0's result.

    Thread 0 is the caller's thread. An exception in any thread is raised here (a kernel
    that stops early must stop in every thread at the same barrier, or the others spin).
    """
    sync = new_sync(threads)
    if threads == 1:
        return kernel(0, 1, sync, *args)
    errors: list[BaseException] = []

    def helper(me: int) -> None:
        try:
            kernel(me, threads, sync, *args)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller below
            errors.append(err)

    others = [threading.Thread(target=helper, args=(me,), daemon=True)
              for me in range(1, threads)]  # fmt: skip
    for t in others:
        t.start()
    try:
        result = kernel(0, threads, sync, *args)
    finally:
        for t in others:
            t.join()
    if errors:
        raise errors[0]
    return result
