"""Evaluation points: test MSE, CE and accuracy of many networks on their evaluation streams.

Networks whose evaluation items are one array share it; small distinct sets are stacked.
Sparse inputs or small layers are evaluated item by item in numba (:func:`.kernels.eval_items`
over the items' CSR form, skipping zero inputs, one network per worker thread; the first layer
in the form :mod:`smoothlearn.kernel_choice` picks for the CPU: 512-bit vectors on a copy of
``W1`` whose rows start on cache lines, :func:`.kernels.forward_w1_wide`, on AVX-512, else
:func:`.kernels.forward_w1_csr`, with the same sums); dense large layers use BLAS products
over the whole set, with the leaky memory run over the activations afterwards.

The leaks of the test stream belong to each evaluated run (its :class:`EvalGroup` row): the
trained net's leak, or memory switched on only at test (``Prepared.test_memory``, the
averaging control): the hidden states averaged by ``test_leak``, or the outputs, averaged
item by item in both paths (:func:`.kernels.average_outputs_step`, :func:`averaged_metrics`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from smoothlearn.contract import Prepared
from smoothlearn.engine.arrays import aligned_rows, csr, density, f32, ro
from smoothlearn.engine.codes import OUTPUTS
from smoothlearn.engine.kernels import eval_chunk, stream_memory
from smoothlearn.engine.runtime import PARALLEL_LOCK, pool
from smoothlearn.kernel_choice import EvalKernel, eval_kernel
from smoothlearn.memory import unit_groups

#: Evaluation skips zero inputs item by item (numba) up to this density, else uses BLAS.
EVAL_SPARSE_MAX_DENSITY = 0.3
#: Budget for the hidden activations of one evaluation batch (bytes).
EVAL_BATCH_BYTES = 64 * 2**20
#: Layers up to this many first-layer weights are evaluated item by item even when dense.
FUSED_EVAL_MAX_WEIGHTS = 16384
#: Distinct evaluation sets of one ensemble are stacked into one array below this size.
EVAL_STACK_BYTES = 256 * 2**20


@dataclass
class EvalGroup:
    """Networks whose evaluation items are one array ``X [u, m, d]``: shared (u = 1) or stacked.

    ``fused``: evaluate item by item in numba, skipping zero inputs (sparse or small layers);
    otherwise with BLAS products over the whole set (dense, large layers). ``train_many``'s
    ``sparse`` argument forces the choice, as for training. Fused groups also carry X in CSR
    form (``csr``: row pointers [u, m + 1] of each ``X[u]`` into one column-index and one
    value array).
    """

    nets: np.ndarray  # ensemble indices
    X: np.ndarray  # [u, m, d], read-only
    src: np.ndarray  # [k] which X[u] each network reads
    targets: np.ndarray  # [k, m, o]
    labels: np.ndarray  # [k, m]
    resets: np.ndarray  # [k, m, G] bool (zeros where not streamed)
    streamed: np.ndarray  # [k] bool
    leak: np.ndarray  # [k, h] float32: the hidden leak on the test stream (Prepared.eval_leak)
    averages: np.ndarray  # [k] bool: outputs averaged over the (streamed) test stream
    out_leak: np.ndarray  # [k] float32: their leak (0 where not averaged)
    fused: bool
    pos: dict[int, int] = field(default_factory=dict)  # ensemble index -> row in this group
    csr: tuple[np.ndarray, ...] = ()  # fused groups: (ptr [u, m + 1], idx, val)


def _csr_per_array(X: np.ndarray, dataset: np.ndarray) -> tuple[np.ndarray, ...]:
    """CSR of every ``X[u]``: row pointers [u, m + 1] into one idx/val.

    A single evaluation array is converted once while the dataset's read-only array lives
    (``cached``), so repeated evaluations of one test set do not pay for it again.
    """
    u, m, d = X.shape
    ptr, idx, val = csr(dataset) if u == 1 else csr(X.reshape(u * m, d))
    rows = np.stack([ptr[k * m : (k + 1) * m + 1] for k in range(u)])
    return ro(rows), ro(idx), ro(val)


def eval_groups(runs: Sequence[Prepared], sparse: bool | None = None) -> list[EvalGroup]:
    """Share one evaluation array per distinct X_eval; stack small distinct ones."""
    by_id: dict[int, list[int]] = {}
    for k, r in enumerate(runs):
        by_id.setdefault(id(r.X_eval), []).append(k)
    by_shape: dict[tuple, list[int]] = {}
    for k, r in enumerate(runs):
        by_shape.setdefault(r.X_eval.shape, []).append(k)
    parts: list[tuple[list[int], bool]] = []
    if len(by_id) == 1:
        parts.append((list(range(len(runs))), False))
    else:
        for shape, nets in by_shape.items():
            if len(nets) * int(np.prod(shape)) * 4 <= EVAL_STACK_BYTES:
                parts.append((nets, True))
            else:
                ids: dict[int, list[int]] = {}
                for k in nets:
                    ids.setdefault(id(runs[k].X_eval), []).append(k)
                parts.extend((v, False) for v in ids.values())
    h = runs[0].params["W1"].shape[0]
    groups = []
    for nets, stacked in parts:
        rs = [runs[k] for k in nets]
        m, d = rs[0].X_eval.shape
        G = rs[0].resets.shape[1]
        X = np.stack([f32(r.X_eval) for r in rs]) if stacked else f32(rs[0].X_eval)[None]
        resets = np.zeros((len(rs), m, G), dtype=np.bool_)
        for i, r in enumerate(rs):
            if r.eval_resets is not None:
                resets[i] = r.eval_resets
        small = d * h <= FUSED_EVAL_MAX_WEIGHTS
        fused = small or density(rs[0].X_eval) <= EVAL_SPARSE_MAX_DENSITY
        fused = fused if sparse is None else bool(sparse)
        groups.append(
            EvalGroup(
                nets=np.asarray(nets, dtype=np.int64),
                X=ro(X),
                src=np.arange(len(rs)) if stacked else np.zeros(len(rs), np.int64),
                targets=ro(np.stack([f32(r.targets_eval) for r in rs])),
                labels=ro(np.stack([np.asarray(r.labels_eval, dtype=np.int64) for r in rs])),
                resets=ro(resets),
                streamed=ro(np.array([r.eval_resets is not None for r in rs], dtype=np.bool_)),
                leak=ro(np.stack([f32(r.eval_leak) for r in rs])),
                averages=ro(np.array([r.output_leak is not None and r.eval_resets is not None
                                      for r in rs], dtype=np.bool_)),
                out_leak=ro(np.array([r.output_leak or 0.0 for r in rs], dtype=np.float32)),
                fused=fused,
                pos={int(k): i for i, k in enumerate(nets)},
                csr=_csr_per_array(X, f32(rs[0].X_eval)) if fused else (),
            )
        )
    return groups


def outputs_of(z: np.ndarray, output: str) -> np.ndarray:
    """The output layer's activations (softmax or sigmoid) of logits z [k, m, o] (float32)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        zmax = z.max(axis=-1, keepdims=True)
        ez = np.exp(z - zmax)
        return ez / ez.sum(axis=-1, keepdims=True) if output == "softmax" else 1 / (1 + np.exp(-z))


def averaged_metrics(
    y: np.ndarray, targets: np.ndarray, labels: np.ndarray, classify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """test_mse, test_ce, test_acc per network from averaged outputs y [k, m, o]: CE of y
    normalised to sum 1 (softmax outputs already do), accuracy of its argmax."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mse = np.mean(np.square(y - targets), axis=(1, 2), dtype=np.float64)
        if not classify:
            nan = np.full(y.shape[0], np.nan)
            return mse, nan, nan
        picked = np.take_along_axis(y, labels[..., None], axis=-1)[..., 0]
        ce = np.mean(np.log(y.sum(axis=-1)) - np.log(picked), axis=1, dtype=np.float64)
        acc = np.mean(y.argmax(axis=-1) == labels, axis=1, dtype=np.float64)
    return mse, ce, acc


def metrics(
    z: np.ndarray, targets: np.ndarray, labels: np.ndarray, output: str, classify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """test_mse, test_ce, test_acc per network from logits z [k, m, o] (float32 outputs)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        zmax = z.max(axis=-1, keepdims=True)
        ez = np.exp(z - zmax)
        s = ez.sum(axis=-1, keepdims=True)
        y = ez / s if output == "softmax" else 1 / (1 + np.exp(-z))
        mse = np.mean(np.square(y - targets), axis=(1, 2), dtype=np.float64)
        if not classify:
            nan = np.full(z.shape[0], np.nan)
            return mse, nan, nan
        zl = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
        ce = np.mean(np.log(s[..., 0]) - (zl - zmax[..., 0]), axis=1, dtype=np.float64)
        acc = np.mean(z.argmax(axis=-1) == labels, axis=1, dtype=np.float64)
    return mse, ce, acc


def _evaluate_blas(
    eg: EvalGroup,
    ks: np.ndarray,
    params: tuple[np.ndarray, ...],
    group: np.ndarray,
    output: str,
    classify: bool,
) -> np.ndarray:
    """Dense, large layers: BLAS products over the whole evaluation set, batched by memory."""
    W1T, b1, W2, b2 = params
    m, h = eg.targets.shape[1], W1T.shape[2]
    out = np.empty((ks.size, 3))
    batch = max(1, EVAL_BATCH_BYTES // max(1, m * h * 4))
    for start in range(0, ks.size, batch):
        part = ks[start : start + batch]
        rows = np.asarray([eg.pos[int(k)] for k in part], dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            Xe = eg.X[0] if eg.X.shape[0] == 1 else eg.X[eg.src[rows]]  # shared: no copies
            act = np.matmul(Xe, W1T[part])  # [k, m, h]
            act += b1[part][:, None, :]
            np.maximum(act, 0, out=act)
            streamed = eg.streamed[rows]
            if streamed.any():
                with PARALLEL_LOCK:
                    stream_memory(act, ro(eg.resets[rows]), ro(streamed), group,
                                  ro(eg.leak[rows]))
            z = np.matmul(act, W2[part].transpose(0, 2, 1))
            z += b2[part][:, None, :]
        mse, ce, acc = metrics(z, eg.targets[rows], eg.labels[rows], output, classify)
        out[start : start + part.size] = np.stack([mse, ce, acc], axis=1)
        averages = eg.averages[rows]
        if averages.any():
            sel = rows[averages]
            out[start : start + part.size][averages] = averaged_scores(
                z[averages], eg.resets[sel], eg.out_leak[sel], eg.targets[sel], eg.labels[sel],
                output, classify)  # fmt: skip
    return out


def averaged_scores(
    z: np.ndarray,
    resets: np.ndarray,
    out_leak: np.ndarray,
    targets: np.ndarray,
    labels: np.ndarray,
    output: str,
    classify: bool,
) -> np.ndarray:
    """[k, 3] scores of the outputs of logits z [k, m, o] averaged over each test stream
    (resets [k, m, G], leaks [k]): the hidden memory's recursion
    (:func:`.kernels.stream_memory`) with every output in the first reset group."""
    y = np.ascontiguousarray(outputs_of(z, output), dtype=np.float32)
    leak = np.repeat(np.asarray(out_leak, np.float32)[:, None], y.shape[2], axis=1)
    with PARALLEL_LOCK:
        stream_memory(y, ro(np.asarray(resets, np.bool_)), ro(np.ones(y.shape[0], np.bool_)),
                      ro(np.zeros(y.shape[2], np.int64)), ro(leak))
    mse, ce, acc = averaged_metrics(y, targets, labels, classify)
    return np.stack([mse, ce, acc], axis=1)


def _evaluate_fused(
    eg: EvalGroup,
    ks: np.ndarray,
    params: tuple[np.ndarray, ...],
    group: np.ndarray,
    output: str,
    classify: bool,
    kernel: EvalKernel,
) -> np.ndarray:
    """Sparse or small layers: one numba pass per network (called from worker threads),
    the first layer in ``kernel``'s form (:mod:`smoothlearn.kernel_choice`)."""
    W1T, b1, W2, b2 = params
    rows = np.asarray([eg.pos[int(k)] for k in ks], dtype=np.int64)
    out = np.empty((ks.size, 3))
    eval_chunk(
        *eg.csr, eg.src, ks, rows, W1T, b1, W2, b2, eg.leak, eg.resets, eg.streamed, group,
        eg.targets, eg.labels, OUTPUTS[output], classify, eg.averages, eg.out_leak,
        kernel.wide, aligned_rows(*W1T.shape[1:]), out,
    )  # fmt: skip
    return out


def evaluate(
    groups: Sequence[EvalGroup],
    nets: np.ndarray,
    params: tuple[np.ndarray, ...],
    output: str,
    classify: bool,
    threads: int,
    kernel: EvalKernel | None = None,
) -> dict[int, tuple[float, float, float]]:
    """Evaluate ensemble networks ``nets``; returns {net: (mse, ce, acc)}.

    ``params`` is (W1T, b1, W2, b2) stacked over the ensemble; the leaks of the test stream
    are each run's own (:class:`EvalGroup`). Fused groups are split into ``threads`` slices
    run by worker threads (the numba kernel releases the GIL), so evaluation uses every core
    even when each network has its own evaluation array. ``kernel``: their first layer's
    form, by default this CPU's (:func:`smoothlearn.kernel_choice.eval_kernel`).
    """
    kernel = eval_kernel() if kernel is None else kernel
    wanted = set(int(k) for k in nets)
    h = params[0].shape[2]
    jobs: list[tuple[Callable[..., np.ndarray], EvalGroup, np.ndarray]] = []
    for eg in groups:
        ks = np.asarray([k for k in eg.nets.tolist() if k in wanted], dtype=np.int64)
        if not ks.size:
            continue
        if eg.fused:
            fused_fn = functools.partial(_evaluate_fused, kernel=kernel)
            jobs.extend((fused_fn, eg, part) for part in np.array_split(ks, threads))
        else:
            jobs.append((_evaluate_blas, eg, ks))
    jobs = [job for job in jobs if job[2].size]

    def run(job: tuple[Callable[..., np.ndarray], EvalGroup, np.ndarray]) -> np.ndarray:
        fn, eg, ks = job
        return fn(eg, ks, params, ro(unit_groups(h, eg.resets.shape[2])), output, classify)

    fused = [job for job in jobs if job[1].fused]
    if threads > 1 and len(fused) > 1:  # BLAS jobs stay here: their kernel is parallel
        done = dict(zip(map(id, fused), pool(threads).map(run, fused), strict=True))
        results = [done[id(job)] if id(job) in done else run(job) for job in jobs]
    else:
        results = [run(job) for job in jobs]
    out: dict[int, tuple[float, float, float]] = {}
    for (_, _, ks), res in zip(jobs, results, strict=True):
        for k, row in zip(ks.tolist(), res.tolist(), strict=True):
            out[k] = (row[0], row[1], row[2])
    return out
