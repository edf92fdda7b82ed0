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
from typing import Any

import numpy as np

from smoothlearn.contract import Prepared
from smoothlearn.engine.arrays import csr, density, f32, ro, rows_of_bases, scratch
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
    """Test sets (rows) scored together: each row is one network (``nets``) on one test set.

    A network may have several rows (a shared training's test sets, :class:`~smoothlearn.
    contract.SharedTests`); rows are ordered by network. ``fused``: evaluate item by item in
    numba, skipping zero inputs (sparse or small layers): the group then holds one *base*
    array in CSR form (``csr``: row pointers [n + 1], column indices, values), every row's
    test items as base rows (``items`` [rows, m], in test order), and, per network with
    several rows, the distinct items its first layer is computed for once (``units``,
    ``slots``). Otherwise BLAS products over the whole set (dense, large layers): ``X [u, m,
    d]`` holds the rows' test inputs, shared (u = 1) or stacked, ``src`` which one a row reads.
    ``train_many``'s ``sparse`` argument forces the choice, as for training.
    """

    entries: np.ndarray  # [rows] the evaluated entry (test set) of each row
    nets: np.ndarray  # [rows] the ensemble network each row scores
    targets: np.ndarray  # [rows, m, o]
    labels: np.ndarray  # [rows, m]
    resets: np.ndarray  # [rows, m, G] bool (zeros where not streamed)
    streamed: np.ndarray  # [rows] bool
    leak: np.ndarray  # [rows, h] float32: the hidden leak on the test stream (Prepared.eval_leak)
    averages: np.ndarray  # [rows] bool: outputs averaged over the (streamed) test stream
    out_leak: np.ndarray  # [rows] float32: their leak (0 where not averaged)
    fused: bool
    pos: dict[int, int] = field(default_factory=dict)  # entry -> row in this group
    X: np.ndarray | None = None  # BLAS groups: [u, m, d], read-only
    src: np.ndarray | None = None  # BLAS groups: [rows] which X[u] each row reads
    csr: tuple[np.ndarray, ...] = ()  # fused groups: (ptr [n + 1], idx, val) of the base
    items: np.ndarray | None = None  # fused: [rows, m] base rows of each test set
    gnets: np.ndarray | None = None  # fused: [g] the group's distinct networks, ascending
    row_ptr: np.ndarray | None = None  # fused: [g + 1] network g's rows
    unit_ptr: np.ndarray | None = None  # fused: [g + 1] network g's distinct items in units
    units: np.ndarray | None = None  # fused: distinct base rows (networks with several rows)
    slots: np.ndarray | None = None  # fused: [rows, m] index of items[r, i] in its units


def _parts(runs: Sequence[Prepared], members: list[int],
           by: Callable[[Prepared], np.ndarray]) -> list[tuple[list[int], bool]]:
    """Entries that share one array ``by(run)``, as (entries, stacked): everything in one
    part if they all share one; else per shape, distinct small arrays stacked into one."""
    by_id: dict[int, list[int]] = {}
    for e in members:
        by_id.setdefault(id(by(runs[e])), []).append(e)
    if len(by_id) == 1:
        return [(members, False)]
    by_shape: dict[tuple, list[list[int]]] = {}
    for es in by_id.values():
        by_shape.setdefault(by(runs[es[0]]).shape, []).append(es)
    parts: list[tuple[list[int], bool]] = []
    for shape, lists in by_shape.items():
        if len(lists) > 1 and len(lists) * int(np.prod(shape)) * 4 <= EVAL_STACK_BYTES:
            parts.append(([e for es in lists for e in es], True))
        else:
            parts.extend((es, False) for es in lists)
    return parts


def eval_groups(runs: Sequence[Prepared], sparse: bool | None = None,
                nets: Sequence[int] | None = None) -> list[EvalGroup]:
    """Group the test sets ``runs`` (entries) for :func:`evaluate`; entry ``e`` is scored
    with ensemble network ``nets[e]`` (default ``e``). Entries on one base array share it
    (and each network's first layer); small distinct sets are stacked."""
    owner = np.arange(len(runs)) if nets is None else np.asarray(nets, np.int64)
    h = runs[0].params["W1"].shape[0]
    by_m: dict[int, list[int]] = {}
    for e, r in enumerate(runs):
        by_m.setdefault(r.X_eval.shape[0], []).append(e)
    groups = []
    for members in by_m.values():
        for part, stacked in _parts(runs, members, lambda r: r.test_rows()[0]):
            first = runs[part[0]]
            fused = first.X_eval.shape[1] * h <= FUSED_EVAL_MAX_WEIGHTS
            fused = fused or density(first.X_eval) <= EVAL_SPARSE_MAX_DENSITY
            fused = fused if sparse is None else bool(sparse)
            if fused:
                groups.append(_fused_group(runs, part, owner, stacked))
            else:
                groups.extend(_blas_group(runs, es, owner, again)
                              for es, again in _parts(runs, part, lambda r: r.X_eval))
    return groups


def _rows(runs: Sequence[Prepared], entries: list[int], owner: np.ndarray) -> dict[str, Any]:
    """The per-row fields of :class:`EvalGroup` for ``entries`` (in row order)."""
    rs = [runs[e] for e in entries]
    m = rs[0].X_eval.shape[0]
    G = rs[0].resets.shape[1]
    resets = np.zeros((len(rs), m, G), dtype=np.bool_)
    for i, r in enumerate(rs):
        if r.eval_resets is not None:
            resets[i] = r.eval_resets
    rows = np.asarray(entries, np.int64)
    return dict(
        entries=rows,
        nets=owner[rows],
        targets=ro(np.stack([f32(r.targets_eval) for r in rs])),
        labels=ro(np.stack([np.asarray(r.labels_eval, dtype=np.int64) for r in rs])),
        resets=ro(resets),
        streamed=ro(np.array([r.eval_resets is not None for r in rs], dtype=np.bool_)),
        leak=ro(np.stack([f32(r.eval_leak) for r in rs])),
        averages=ro(np.array([r.output_leak is not None and r.eval_resets is not None
                              for r in rs], dtype=np.bool_)),
        out_leak=ro(np.array([r.output_leak or 0.0 for r in rs], dtype=np.float32)),
        pos={int(e): i for i, e in enumerate(entries)},
    )


def _blas_group(runs: Sequence[Prepared], entries: list[int], owner: np.ndarray,
                stacked: bool) -> EvalGroup:
    """Dense inputs, large layers: the test inputs as arrays for BLAS products."""
    rs = [runs[e] for e in entries]
    X = np.stack([f32(r.X_eval) for r in rs]) if stacked else f32(rs[0].X_eval)[None]
    src = np.arange(len(rs)) if stacked else np.zeros(len(rs), np.int64)
    return EvalGroup(**_rows(runs, entries, owner), fused=False, X=ro(X), src=src)


def _fused_group(runs: Sequence[Prepared], entries: list[int], owner: np.ndarray,
                 stacked: bool) -> EvalGroup:
    """Sparse inputs or small layers: one CSR base (stacked from several small ones), each
    row's items in it, rows by network, and each network's distinct items."""
    entries = sorted(entries, key=lambda e: (int(owner[e]), e))
    arrays, items = rows_of_bases([runs[e].test_rows() for e in entries])
    fields = _rows(runs, entries, owner)
    gnets, starts = np.unique(fields["nets"], return_index=True)
    row_ptr = np.r_[starts, len(entries)].astype(np.int64)
    items_arr = np.stack(items)
    slots = np.zeros_like(items_arr)
    unit_parts, unit_ptr = [], [0]
    for g in range(gnets.size):
        r0, r1 = row_ptr[g], row_ptr[g + 1]
        if r1 - r0 > 1:  # several test sets: the first layer once per distinct item
            units, inverse = np.unique(items_arr[r0:r1], return_inverse=True)
            slots[r0:r1] = inverse.reshape(r1 - r0, -1)
            unit_parts.append(units)
        unit_ptr.append(unit_ptr[-1] + (unit_parts[-1].size if r1 - r0 > 1 else 0))
    units = np.concatenate(unit_parts) if unit_parts else np.zeros(0, np.int64)
    return EvalGroup(
        **fields, fused=True, csr=_csr_of(arrays, stacked), items=ro(items_arr),
        gnets=ro(gnets.astype(np.int64)), row_ptr=ro(row_ptr),
        unit_ptr=ro(np.asarray(unit_ptr, np.int64)), units=ro(units.astype(np.int64)),
        slots=ro(slots),
    )


def _csr_of(arrays: list[np.ndarray], stacked: bool) -> tuple[np.ndarray, ...]:
    """CSR of the base: one dataset array is converted once while it lives (``csr`` caches
    read-only arrays), so repeated evaluations of one test set do not pay for it again."""
    X = np.concatenate([f32(b) for b in arrays]) if stacked else f32(arrays[0])
    return tuple(ro(a) for a in csr(X))


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
    assert eg.X is not None and eg.src is not None
    m, h = eg.targets.shape[1], W1T.shape[2]
    out = np.empty((ks.size, 3))
    batch = max(1, EVAL_BATCH_BYTES // max(1, m * h * 4))
    for start in range(0, ks.size, batch):
        rows = np.asarray([eg.pos[int(e)] for e in ks[start : start + batch]], dtype=np.int64)
        part = eg.nets[rows]
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
    gnets: np.ndarray,
    params: tuple[np.ndarray, ...],
    group: np.ndarray,
    output: str,
    classify: bool,
    kernel: EvalKernel,
) -> np.ndarray:
    """Sparse or small layers: one numba pass per network ``eg.gnets[gnets]`` (called from
    worker threads), the first layer in ``kernel``'s form (:mod:`smoothlearn.kernel_choice`);
    returns [rows, 3] for the group's rows (those of other networks left unset)."""
    W1T, b1, W2, b2 = params
    out = np.full((eg.entries.size, 3), np.nan)
    d, h = W1T.shape[1:]
    assert eg.unit_ptr is not None
    units = int(np.diff(eg.unit_ptr)[gnets].max()) if gnets.size else 0
    eval_chunk(
        *eg.csr, eg.items, gnets, eg.row_ptr, eg.unit_ptr, eg.units, eg.slots, eg.gnets, W1T,
        b1, W2, b2, eg.leak, eg.resets, eg.streamed, group, eg.targets, eg.labels,
        OUTPUTS[output], classify, eg.averages, eg.out_leak, kernel.wide,
        scratch("W1pad", d, h, aligned=True), scratch("first_layer", units, h), out,
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
    """Score ensemble networks ``nets`` on all their test sets; returns {entry: (mse, ce,
    acc)} (an entry is a test set given to :func:`eval_groups`).

    ``params`` is (W1T, b1, W2, b2) stacked over the ensemble; the leaks of the test stream
    are each entry's own (:class:`EvalGroup`). Fused groups are split by network into
    ``threads`` slices run by worker threads (the numba kernel releases the GIL), so
    evaluation uses every core even when each network has its own evaluation array.
    ``kernel``: their first layer's form, by default this CPU's
    (:func:`smoothlearn.kernel_choice.eval_kernel`).
    """
    kernel = eval_kernel() if kernel is None else kernel
    wanted = np.asarray(sorted(set(int(k) for k in nets)), np.int64)
    h = params[0].shape[2]
    fused_fn = functools.partial(_evaluate_fused, kernel=kernel)
    jobs: list[tuple[Callable[..., np.ndarray], EvalGroup, np.ndarray]] = []
    for eg in groups:
        if eg.fused:
            assert eg.gnets is not None
            mine = np.flatnonzero(np.isin(eg.gnets, wanted))
            jobs.extend((fused_fn, eg, part) for part in np.array_split(mine, threads))
        else:
            jobs.append((_evaluate_blas, eg, eg.entries[np.isin(eg.nets, wanted)]))
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
    for (_, eg, ks), res in zip(jobs, results, strict=True):
        if eg.fused:
            assert eg.row_ptr is not None
            rows = np.concatenate([np.arange(eg.row_ptr[g], eg.row_ptr[g + 1]) for g in ks])
            pairs = zip(eg.entries[rows].tolist(), res[rows].tolist(), strict=True)
        else:
            pairs = zip(ks.tolist(), res.tolist(), strict=True)
        for e, row in pairs:
            out[e] = (row[0], row[1], row[2])
    return out
