"""Which evaluation kernel this CPU runs, and why: chosen from its vector width and L2 size.

The item-by-item evaluation (``engine.evaluate``) adds, for every test item, one row of
``W1`` per non-zero input into the item's pre-activations (``kernels.w1_csr_rows``). Two
compiled forms of that first layer give the same sums bit for bit, so the choice changes
speed, never a metric:

* ``wide``: 512-bit vectors on a copy of ``W1`` whose rows start on 64-byte lines
  (``kernels.forward_w1_wide``): each load is one whole cache line. Needs AVX-512.
* ``narrow``: the compiler's preferred width (256-bit on AVX2 and on the AVX-512 cores LLVM
  tunes to prefer it; ``kernels.forward_w1_csr``, the training path's first layer).

The L2 size is read and reported with the choice, but does not change it: on the 2-core
AMD EPYC (Zen 4, 1 MiB L2 per core) the pass took the same time with ``W1``'s rows confined
to half the L2 as with all 1.2 MB of them (24.8 against 25.1 ms of one core's time for the
first layer, ``benchmarks/bench_first_layer.py``), so no L2-sized tiling pays there
(docs/performance.md, "Choosing the evaluation kernel"). ``SMOOTHLEARN_EVAL_KERNEL`` forces a
kernel (tests exercise every one on any machine); this module imports no compiler, so the CLI
checks the variable up front.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from smoothlearn.machine import CpuInfo, cpu_info

__all__ = ["ENV", "EvalKernel", "EvalKernelError", "KernelName", "choose_eval_kernel",
           "eval_kernel", "forced_eval_kernel"]

#: The environment variable that forces the evaluation kernel.
ENV = "SMOOTHLEARN_EVAL_KERNEL"
KernelName = Literal["wide", "narrow"]
KERNELS: tuple[KernelName, ...] = get_args(KernelName)


class EvalKernelError(ValueError):
    """``SMOOTHLEARN_EVAL_KERNEL`` names no kernel (a user mistake: the CLI exits 2)."""


@dataclass(frozen=True)
class EvalKernel:
    """The evaluation's first-layer kernel and the reason it was chosen (benchmarks print it)."""

    name: KernelName
    reason: str

    @property
    def wide(self) -> bool:
        """512-bit vectors on aligned rows (``kernels.forward_w1_wide``)."""
        return self.name == "wide"

    def line(self) -> str:
        """E.g. ``evaluation kernel: wide (AVX-512, L2 1024 KiB per core: ...)``."""
        return f"evaluation kernel: {self.name} ({self.reason})"


def forced_eval_kernel(environ: Mapping[str, str] | None = None) -> KernelName | None:
    """The kernel ``SMOOTHLEARN_EVAL_KERNEL`` forces, None when unset or empty."""
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not value:
        return None
    if value not in KERNELS:
        raise EvalKernelError(f"{ENV}={value!r} names no evaluation kernel; use one of "
                              f"{', '.join(KERNELS)}, or unset it to let the CPU choose")
    return value  # type: ignore[return-value]  # checked against KERNELS just above


def choose_eval_kernel(cpu: CpuInfo, forced: KernelName | None = None) -> EvalKernel:
    """``wide`` on AVX-512 CPUs, ``narrow`` elsewhere; ``forced`` wins, and says so."""
    features = cpu.features()
    if forced is not None:
        return EvalKernel(forced, f"forced by {ENV}; the CPU has {features}")
    if cpu.avx512:
        return EvalKernel("wide", f"{features}: 512-bit loads of W1's 64-byte-aligned rows, "
                                  "one cache line each; the L2 size does not change the choice")
    return EvalKernel("narrow", f"{features}: no 512-bit vectors, the compiler's own width")


def eval_kernel() -> EvalKernel:
    """This machine's evaluation kernel (the environment read at every call: tests force it)."""
    return choose_eval_kernel(cpu_info(), forced_eval_kernel())
