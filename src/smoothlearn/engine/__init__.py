"""Fast per-sample training: ensembles of independent networks, the whole loop in numba.

Per-sample SGD is the whole cost of the paper, and a Python autograd loop spends nearly all
of its ~400 us per step on interpreter, autograd and optimizer overhead. The math is exactly
``docs/model.md`` (float32 throughout); ``tests/test_engine.py`` holds it equal to the
readable reference trainer. The package, from the bottom up:

* :mod:`.codes`: the setting codes, float32 constants and compile options of every kernel;
* :mod:`.kernels`: the model's step, once (first layer dense/sparse, leaky memory with resets,
  output and loss gradient, SGD and RMSprop updates), as numba functions, and the compiled
  training and evaluation loops that compose them (one file: numba's cache sees only edits
  to the file that defines a cached kernel);
* :mod:`.arrays`, :mod:`.runtime`: input layouts (CSR, read-only views) and numba threads;
* :mod:`.evaluate`: evaluation points, item by item or with BLAS products;
* :mod:`.schedule`, :mod:`.ensemble`: chunks between evaluation points (every trainer's
  loop), stacked runs, and the public :func:`train_many` / :func:`evaluate_many`;
* :mod:`.lstm`, :mod:`.minibatch` (shared pieces in :mod:`.baselines`): the LSTM and
  mini-batch baselines compiled, one network per thread; :mod:`.conv`: stacked conv nets;
* :mod:`.torch_path`, :mod:`.torch_lstm`, :mod:`.torch_minibatch` (shared pieces in
  :mod:`.torch_ops`): the ensembles, the LSTM and mini-batch runs as batched torch tensors
  on a device (for GPUs; ``device="cpu"`` runs the same code in the tests).

The engine imports neither the reference trainer (``smoothlearn.train``) nor its model
(``smoothlearn.nn``), which it is tested against; what both need lives beside them
(:mod:`smoothlearn.memory`, :mod:`smoothlearn.lstmcell`, :mod:`smoothlearn.evaluation`).

Performance choices (``docs/performance.md``): W1 is stored transposed; with sparse inputs
only the rows of non-zero elements are touched and the SGD update of step n is fused with the
forward pass of step n + 1; divergence is detected from the training loss, so the kernels may
reassociate floating-point operations but never assume finite values. Importing the engine
selects numba's ``workqueue`` threading layer (:mod:`.runtime`).
"""

from smoothlearn.engine.arrays import choose_sparse
from smoothlearn.engine.ensemble import evaluate_many, train_many

__all__ = ["train_many", "evaluate_many", "choose_sparse"]
