"""The SSE float mode (MXCSR) from inside numba kernels: flush subnormals to zero.

RMSprop's small gradients square into float32 subnormals (g ~ 1e-20 gives g * g ~ 1e-40);
many x86 CPUs take a microcode assist of ~100 cycles on each operation that reads or makes
one, which made the MNIST RMSprop kernel spend half its time there. Flushing them (FTZ, DAZ)
changes a result by less than float32's smallest normal number, 1.2e-38, far inside the
engine's tolerance against the reference trainer. The mode is per thread: a kernel sets it
on entry and restores it before every return (:func:`kernels.train_net`).

Off 64-bit x86 (ARM, POWER, ...) there is no MXCSR: the intrinsics compile to nothing
(``float_mode`` is 0) and RMSprop falls back to the subnormal floor alone
(:data:`~smoothlearn.contract.RMSPROP_V_FLOOR`, applied on every CPU), which keeps the stored
square averages normal; results still equal the reference trainer's. The choice is made
when a kernel is compiled, from :data:`X86`. numba's cache does not see edits to this file in
the kernels that inline these intrinsics: clear ``engine/__pycache__`` after changing it.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


def has_mxcsr(machine: str) -> bool:
    """Whether ``machine`` (as :func:`platform.machine` names it) is 64-bit x86, whose SSE
    control register the intrinsics below read and write."""
    return machine.lower() in ("x86_64", "amd64")


#: Read by the intrinsics when a kernel is compiled: False compiles them to nothing.
X86 = has_mxcsr(platform.machine())

#: MXCSR bits 15 (flush-to-zero: subnormal results become 0) and 6 (denormals-are-zero:
#: subnormal inputs read as 0).
FLUSH_SUBNORMALS = 0x8040


def _mxcsr(builder: ir.IRBuilder, op: str, slot: ir.Value) -> None:
    """Call ``llvm.x86.sse.stmxcsr`` or ``ldmxcsr`` on a 4-byte stack slot."""
    i8p = ir.IntType(8).as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [i8p])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.x86.sse.{op}")
    builder.call(fn, [builder.bitcast(slot, i8p)])


@intrinsic
def float_mode(typingctx):
    """This thread's float mode (MXCSR), to restore later; 0 off x86."""

    def codegen(context, builder, signature, args):
        if not X86:
            return context.get_constant(types.int32, 0)
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr(builder, "stmxcsr", slot)
        return builder.load(slot)

    return types.int32(), codegen


@intrinsic
def set_float_mode(typingctx, mode):
    """Load ``mode`` (from :func:`float_mode`, optionally | FLUSH_SUBNORMALS); no-op off x86."""

    def codegen(context, builder, signature, args):
        if X86:
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(builder.trunc(args[0], ir.IntType(32)), slot)  # intp (64-bit on x86)
            _mxcsr(builder, "ldmxcsr", slot)
        return context.get_dummy_value()

    return types.none(types.intp), codegen
