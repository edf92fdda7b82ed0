"""Per-kernel vector width: let one compiled function use 512-bit vectors, out of line.

Why: LLVM tunes the AVX-512 Intel cores (Skylake-X onwards) to prefer 256-bit vectors, so
numba's loops use ``ymm`` registers even where ``zmm`` exist. The evaluation's first layer
streams one row of ``W1`` from L2 per non-zero pixel and item; with 512-bit loads of 64-byte
aligned rows each load moves a whole cache line. Only that function is widened: a loop whose
sum is reassociated (``fastmath`` "reassoc", as in the output layer) would round differently
at another width, and the evaluation must not change its numbers.

The widened function is also kept out of line (``noinline``): inlined into a caller, its
loops would take the caller's width. On CPUs without AVX-512 the attribute is a no-op.

Edit with care: numba's on-disk cache does not see changes here, so clear
``engine/__pycache__`` after changing this file.
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic

__all__ = ["wide_vectors"]

#: The LLVM function attribute clang sets for ``-mprefer-vector-width=512``.
PREFER_512 = '"prefer-vector-width"="512"'


@intrinsic
def wide_vectors(typingctx):  # noqa: ARG001 (numba's intrinsic signature)
    """Mark the calling numba function: 512-bit vectors, never inlined. Emits no code."""

    def codegen(context, builder, signature, args):  # noqa: ARG001
        attributes = builder.function.attributes
        try:  # a string attribute, past llvmlite's list of known ones (its set's own add)
            set.add(attributes, PREFER_512)
        except TypeError:  # an llvmlite whose attributes are no set: keep the default width
            return context.get_dummy_value()
        attributes.add("noinline")
        return context.get_dummy_value()

    return types.none(), codegen
