"""Float32 ``exp``, ``sigmoid`` and ``tanh`` in plain arithmetic, so a loop over them vectorises.

Why: numba calls the C library once per element for ``np.exp`` and ``np.tanh`` (here
``tanhf`` costs ~15 ns, a sigmoid through ``expf`` ~2.7 ns), and LLVM cannot vectorise the
call. The LSTM's evaluation takes five per hidden unit and test item, which made them a
third of its time. These are Cephes' float32 approximations (a range reduction and a short
polynomial): every step is arithmetic, a compare or a select, so a loop over them compiles
to AVX2/AVX-512 code at ~0.3-0.5 ns per element.

Accuracy against the correctly rounded value, checked in ``tests/test_engine_activations.py``:
``exp32`` within 1.5 ulp, ``tanh32`` within 2 ulp, ``sigmoid32`` within 3 ulp (the worst
seen: 1.01, 1.33 and 2.46; the library's ``1 / (1 + expf(-x))`` reaches 2.45 and its
``tanhf`` 2.11); NaN in gives NaN out; ``exp32`` overflows to inf
where float32 does and gives 0 below float32's normal range (``e**x < 1.2e-38``), as the
engine's flush-to-zero mode would.

The functions are compiled with FMA contraction only: reassociation would fold the range
reduction's two-constant subtraction into one and lose 3 ulp.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from smoothlearn.engine.codes import JIT

__all__ = ["exp32", "sigmoid32", "tanh32"]

#: FMA contraction only (see the module's docstring). LLVM inlines the functions into a
#: caller's loop and keeps these flags on their instructions, whatever the caller's own.
EXACT_ORDER = {**JIT, "fastmath": {"contract"}}

_F = np.float32
_ONE, _TWO, _HALF = _F(1.0), _F(2.0), _F(0.5)
_MAX_LOG = _F(88.72283)  # exp overflows float32 above this
_MIN_LOG = _F(-87.33654)  # ... and leaves the normal range below it (flushed to 0 here)
_LOG2E = _F(1.4426950408889634)
_LN2_HI, _LN2_LO = _F(0.693359375), _F(-2.12194440e-4)  # ln 2 in two parts (Cody-Waite)
_EXP_POLY = (_F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3),
             _F(4.1665795894e-2), _F(1.6666665459e-1), _F(5.0000001201e-1))  # fmt: skip
_TANH_POLY = (_F(-5.70498872745e-3), _F(2.06390887954e-2), _F(-5.37397155531e-2),
              _F(1.33314422036e-1), _F(-3.33332819422e-1))  # fmt: skip
_TANH_SMALL = _F(0.625)  # below this |x|, tanh's odd polynomial; above, through exp
_E0, _E1, _E2, _E3, _E4, _E5 = _EXP_POLY
_T0, _T1, _T2, _T3, _T4 = _TANH_POLY


@intrinsic
def _float_from_bits(typingctx, bits):  # noqa: ARG001 (numba's intrinsic signature)
    """The float32 whose bit pattern is the int32 ``bits`` (a register move, no memory)."""

    def codegen(context, builder, signature, args):  # noqa: ARG001
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(**EXACT_ORDER)
def _power_of_two(n):
    """``2.0**n`` for an int32 ``n`` in float32's normal range, from its exponent bits."""
    return _float_from_bits((n + np.int32(127)) << np.int32(23))


@njit(**EXACT_ORDER)
def exp32(x):
    """``e**x`` for a float32 ``x``: ``x = k ln 2 + r`` with ``|r| <= ln 2 / 2``, ``e**r`` by
    a degree-7 polynomial, times ``2**k`` built from its exponent bits."""
    v = min(max(x, _MIN_LOG), _MAX_LOG)
    k = np.floor(v * _LOG2E + _HALF)
    r = v - k * _LN2_HI
    r = r - k * _LN2_LO
    p = (((((_E0 * r + _E1) * r + _E2) * r + _E3) * r + _E4) * r + _E5) * (r * r) + r + _ONE
    n = np.int32(k)  # -126 ... 128: 2**n in two normal halves, so the ends need no case
    half = n >> np.int32(1)
    e = p * _power_of_two(half) * _power_of_two(n - half)
    if x > _MAX_LOG:
        e = np.float32(np.inf)
    if x < _MIN_LOG:
        e = _F(0.0)
    return e if x == x else x


@njit(**EXACT_ORDER)
def sigmoid32(x):
    """``1 / (1 + e**-x)``, as :func:`smoothlearn.engine.kernels.sigmoid` writes it."""
    return _ONE / (_ONE + exp32(-x))


@njit(**EXACT_ORDER)
def tanh32(x):
    """``tanh x``: an odd polynomial for ``|x| < 0.625``, else ``1 - 2 / (e**2|x| + 1)``."""
    a = abs(x)
    z = x * x
    small = ((((_T0 * z + _T1) * z + _T2) * z + _T3) * z + _T4) * z * x + x
    large = _ONE - _TWO / (exp32(a + a) + _ONE)
    if x < 0:
        large = -large
    return small if a < _TANH_SMALL else large
