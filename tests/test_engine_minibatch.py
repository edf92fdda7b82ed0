"""The compiled mini-batch trainer against the reference ``train_minibatch``, config by config.

Tolerance: the same float32 math in a different summation order (sparse numba loops vs.
MKL and autograd), compared with ``atol = rtol = 1e-5`` on 300-item runs, as the per-sample
engine is; steps (the batch-boundary evaluation schedule) and ``diverged`` must match
exactly. RMSprop with momentum amplifies the rounding of near-zero gradients (see
``tests/test_engine_lstm.py``), so its weights are compared within 1e-4.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from smoothlearn.contract import Curves, Prepared, TrainSettings
from smoothlearn.engine.minibatch import train_minibatch_fast, train_minibatch_many
from smoothlearn.nn import init_params
from smoothlearn.train import train_minibatch

ATOL = RTOL = 1e-5


def make_run(
    *, seed: int = 0, d: int = 12, h: int = 8, o: int = 4, steps: int = 300,
    eval_every: int = 70, density: float = 0.3, stream_eval: bool = False,
    task: str = "classify", **settings: object,
) -> Prepared:
    """A small memoryless run built like ``experiments.prepare`` does."""
    rng = np.random.default_rng(seed)
    X = rng.random((40, d), dtype=np.float32)
    X = np.where(rng.random((40, d)) < density, X, 0).astype(np.float32)
    labels = rng.integers(0, o, 40)
    targets = np.eye(o, dtype=np.float32)[labels]
    X_eval = np.where(rng.random((30, d)) < density, rng.random((30, d)), 0).astype(np.float32)
    labels_eval = rng.integers(0, o, 30)
    targets_eval = np.eye(o, dtype=np.float32)[labels_eval]
    if task == "reconstruct":
        o, targets, targets_eval = d, X, X_eval
        labels, labels_eval = np.full(40, -1), np.full(30, -1)
    return Prepared(
        X=X,
        targets=targets,
        labels=labels,
        order=np.repeat(rng.integers(0, 40, steps // 3 + 1), 3)[:steps],
        resets=np.zeros((steps, 1), bool),
        params=init_params(d, h, o, seed),
        leak=np.zeros(h, np.float32),
        eval_steps=np.unique(np.r_[np.arange(0, steps, eval_every), steps]).astype(np.int64),
        X_eval=X_eval,
        targets_eval=targets_eval,
        labels_eval=labels_eval,
        eval_resets=np.ones((30, 1), bool) if stream_eval else None,
        settings=TrainSettings(**settings),
        task=task,
    )


def assert_same(fast: Curves, ref: Curves, params_atol: float = ATOL) -> None:
    np.testing.assert_array_equal(fast.steps, ref.steps)
    assert fast.diverged == ref.diverged
    for name in ("test_mse", "test_ce", "test_acc"):
        np.testing.assert_allclose(getattr(fast, name), getattr(ref, name), RTOL, ATOL, True)
    for name, value in ref.final_params.items():
        np.testing.assert_allclose(fast.final_params[name], value, RTOL, params_atol,
                                   err_msg=name)  # fmt: skip


CONFIGS = {
    "sgd-mse-b16": dict(lr=0.5),
    "sgd-ce-b16-stream": dict(loss="ce", lr=0.5, stream_eval=True),
    "sgd-mse-sigmoid-b5-ragged-tail": dict(output="sigmoid", lr=1.0, batch=5, steps=298),
    "rms-mse-b16": dict(optimizer="rmsprop", lr=0.003),
    "rms-ce-b4": dict(optimizer="rmsprop", loss="ce", lr=0.003, batch=4),
    "sgd-reconstruct-b8": dict(task="reconstruct", output="sigmoid", lr=1.0, batch=8),
    "sgd-mse-b1": dict(lr=0.1, batch=1),
}


@functools.cache
def _pair(name: str) -> tuple[Curves, Curves]:
    kwargs = dict(CONFIGS[name])
    batch = kwargs.pop("batch", 16)
    prep = make_run(**kwargs)
    return train_minibatch_fast(prep, batch), train_minibatch(prep, batch)


@pytest.mark.parametrize("name", CONFIGS)
def test_fast_minibatch_equals_reference(name):
    fast, ref = _pair(name)
    assert_same(fast, ref)
    assert not np.allclose(fast.test_mse[0], fast.test_mse[-1])  # it did learn something


def test_evaluation_points_fall_on_batch_boundaries():
    fast, _ = _pair("sgd-mse-b16")
    assert fast.steps.tolist() == [0, 80, 144, 224, 288, 300]


def test_rmsprop_momentum_matches():
    prep = make_run(optimizer="rmsprop", rmsprop_momentum=0.9, lr=0.001, loss="ce")
    assert_same(train_minibatch_fast(prep, 16), train_minibatch(prep, 16), params_atol=1e-4)


def test_mnist_shaped_input_matches():
    prep = make_run(d=784, h=64, o=10, steps=160, eval_every=48, density=0.19, lr=0.1)
    assert_same(train_minibatch_fast(prep, 16), train_minibatch(prep, 16))


def test_divergence_stops_and_marks_the_run():
    prep = make_run(loss="ce", lr=1e30, eval_every=16, steps=160)
    fast, ref = train_minibatch_fast(prep, 16), train_minibatch(prep, 16)
    assert ref.diverged and ref.steps.size < 11
    np.testing.assert_array_equal(fast.steps, ref.steps)
    assert fast.diverged


def test_rejects_memory():
    prep = make_run(steps=20)
    prep.leak = np.full(8, 0.5, np.float32)
    with pytest.raises(ValueError, match="memoryless"):
        train_minibatch_fast(prep)


def test_runs_in_threads_match_runs_alone_and_progress_counts_items():
    preps = [make_run(seed=s, lr=0.5, steps=100) for s in range(3)]
    seen = []
    together = train_minibatch_many(preps, [16, 8, 16], threads=2, progress=seen.append)
    assert sum(seen) == 300
    for prep, batch, curves in zip(preps, [16, 8, 16], together, strict=True):
        alone = train_minibatch_fast(prep, batch)
        np.testing.assert_array_equal(curves.test_mse, alone.test_mse)
