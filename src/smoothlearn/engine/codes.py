"""The numbers every compiled kernel shares: setting codes, float32 constants, compile options.

Kernels take a run's settings as small integers (numba compiles one loop for all settings
instead of one per string), and float32 literals as typed constants (a bare ``1.0`` in a
float32 loop would promote the arithmetic to float64). Both are defined here once, for the
per-sample kernels (:mod:`.kernels`), the LSTM and mini-batch kernels (:mod:`.baselines`,
:mod:`.lstm`, :mod:`.minibatch`) and the conv path's optimiser step.

numba freezes these values into each compiled kernel, and its on-disk cache (``cache=True``)
does not notice an edit to this file: after changing a value, clear ``engine/__pycache__``.
"""

from __future__ import annotations

import numpy as np

from smoothlearn.contract import RMSPROP_V_FLOOR

__all__ = [
    "OUTPUTS", "LOSSES", "OPTIMIZERS", "LEAK_GRADS", "SOFTMAX", "SIGMOID", "MSE", "CE", "SGD",
    "RMSPROP", "F0", "F1", "F2", "RMSPROP_FLOOR", "FASTMATH", "JIT",
]

#: ``TrainSettings.output`` as a kernel argument.
OUTPUTS = {"softmax": 0, "sigmoid": 1}
#: ``TrainSettings.loss`` as a kernel argument.
LOSSES = {"mse": 0, "ce": 1}
#: ``TrainSettings.optimizer`` as a kernel argument.
OPTIMIZERS = {"sgd": 0, "rmsprop": 1}
#: ``TrainSettings.leak_grad``: whether the gradient goes through the leak's ``1 - a``.
LEAK_GRADS = {"exact": True, "ignore": False}

SOFTMAX, SIGMOID = OUTPUTS["softmax"], OUTPUTS["sigmoid"]
MSE, CE = LOSSES["mse"], LOSSES["ce"]
SGD, RMSPROP = OPTIMIZERS["sgd"], OPTIMIZERS["rmsprop"]

F0 = np.float32(0.0)
F1 = np.float32(1.0)
F2 = np.float32(2.0)
#: The reference's RMSprop floor (``contract.RMSPROP_V_FLOOR``) as a float32 constant.
RMSPROP_FLOOR = np.float32(RMSPROP_V_FLOOR)

#: Reassociation and FMA contraction only: NaN/inf must survive, they signal divergence.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
#: Options of the LSTM and mini-batch kernels: cached, GIL released (one network per
#: thread), and ``error_model="numpy"`` (a division by zero gives inf/NaN, which the
#: divergence check sees, instead of a Python exception).
JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
