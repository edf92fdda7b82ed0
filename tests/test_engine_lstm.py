"""The compiled LSTM trainer against the PyTorch reference ``train_lstm``, config by config.

Tolerance: both compute the same float32 math (same initial weights from
``init_lstm_params``, same truncated-BPTT rule) in different summation orders (sparse numba
loops vs. MKL and autograd), so curves and final weights are compared with
``atol = rtol = 1e-5`` over 200-step runs; the largest curve gap seen is 5e-6. RMSprop with
momentum is the exception for weights: its normalised steps (``g / sqrt(v)``) turn the
rounding of near-zero gradients into full-size steps, so a few ``W_ih`` entries drift apart
by up to 3e-3 after 200 steps (2.5e-5 after 30); the float32 reference itself differs from a
float64 run of the same code by 1.6e-2 there. Its curves still agree to 1e-5, and its
weights are compared after 30 steps within 1e-4, 1% of one normalised step
(``lr / sqrt(1 - alpha)`` = 1e-2). Steps and the ``diverged`` flag must match exactly.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smoothlearn.contract import Curves, Prepared, TrainSettings
from smoothlearn.engine.lstm import LSTMRun, train_lstm_fast, train_lstm_many
from smoothlearn.train import train_lstm

ATOL = RTOL = 1e-5
STEPS = 200


def _data(rng: np.random.Generator, n: int, d: int, density: float = 0.3) -> np.ndarray:
    """Inputs in [0, 1] with many exact zeros, so the sparse path has work to skip."""
    X = rng.random((n, d), dtype=np.float32)
    return np.where(rng.random((n, d)) < density, X, 0).astype(np.float32)


def make_run(
    *, seed: int = 0, d: int = 12, o: int = 4, steps: int = STEPS, stream_eval: bool = False,
    eval_every: int = 50, n_items: int = 40, density: float = 0.3, **settings: object,
) -> Prepared:
    """A small classification run built like ``experiments.prepare`` does."""
    rng = np.random.default_rng(seed)
    X = _data(np.random.default_rng(1234), n_items, d, density)
    labels = np.random.default_rng(99).integers(0, o, n_items)
    order = np.repeat(rng.integers(0, n_items, steps // 3 + 1), 3)[:steps]  # smooth-ish
    X_eval = _data(rng, 30, d, density)
    labels_eval = rng.integers(0, o, 30)
    return Prepared(
        X=X,
        targets=np.eye(o, dtype=np.float32)[labels],
        labels=labels,
        order=order,
        resets=np.zeros((steps, 1), bool),
        params={},
        leak=np.zeros(6, np.float32),
        eval_steps=np.unique(np.r_[np.arange(0, steps, eval_every), steps]).astype(np.int64),
        X_eval=X_eval,
        targets_eval=np.eye(o, dtype=np.float32)[labels_eval],
        labels_eval=labels_eval,
        eval_resets=np.zeros((30, 1), bool) if stream_eval else None,
        settings=TrainSettings(**settings),
    )


def assert_same(fast: Curves, ref: Curves, params: bool = True, params_atol: float = ATOL) -> None:
    np.testing.assert_array_equal(fast.steps, ref.steps)
    assert fast.diverged == ref.diverged
    for name in ("test_mse", "test_ce", "test_acc"):
        np.testing.assert_allclose(getattr(fast, name), getattr(ref, name), RTOL, ATOL, True)
    assert set(fast.final_params) == set(ref.final_params)
    for name, value in ref.final_params.items() if params else ():
        np.testing.assert_allclose(fast.final_params[name], value, RTOL, params_atol,
                                   err_msg=name)  # fmt: skip


CONFIGS = {
    "sgd-mse-off": dict(lr=0.1),
    "sgd-mse-stream": dict(lr=0.1, stream_eval=True),
    "sgd-ce-off": dict(loss="ce", lr=0.05),
    "sgd-ce-stream-bptt1": dict(loss="ce", lr=0.05, stream_eval=True, bptt=1),
    "sgd-mse-sigmoid-long-window": dict(output="sigmoid", lr=0.5, bptt=12),
    "rms-mse-off": dict(optimizer="rmsprop", lr=0.003),
    "rms-mse-stream-alpha": dict(optimizer="rmsprop", lr=0.003, rmsprop_alpha=0.9,
                                 stream_eval=True),
    "rms-ce-off": dict(optimizer="rmsprop", loss="ce", lr=0.002),
    "rms-ce-stream": dict(optimizer="rmsprop", loss="ce", lr=0.002, stream_eval=True),
}
MOMENTUM = dict(optimizer="rmsprop", rmsprop_momentum=0.9, loss="ce", lr=0.001,
                stream_eval=True)  # fmt: skip


def _both(hidden: int = 6, bptt: int = 4, init_seed: int = 3, **kwargs) -> tuple[Curves, Curves]:
    prep = make_run(**kwargs)
    return (train_lstm_fast(prep, hidden, bptt, init_seed),
            train_lstm(prep, hidden, bptt, init_seed))  # fmt: skip


@functools.cache
def _pair(name: str) -> tuple[Curves, Curves]:
    kwargs = dict(CONFIGS[name])
    return _both(bptt=kwargs.pop("bptt", 4), **kwargs)


@pytest.mark.parametrize("name", CONFIGS)
def test_fast_lstm_equals_reference(name):
    fast, ref = _pair(name)
    assert_same(fast, ref)
    assert not np.allclose(fast.test_mse[0], fast.test_mse[-1])  # it did learn something


def test_rmsprop_momentum_curves_match_and_weights_match_early():
    fast, ref = _both(**MOMENTUM)
    assert_same(fast, ref, params=False)
    assert_same(*_both(steps=30, **MOMENTUM), params_atol=1e-4)


def test_mnist_shaped_input_matches():
    """784 inputs at MNIST's density, the A.8 window: the sparse projection at full width."""
    run = dict(d=784, o=10, steps=24, eval_every=8, density=0.19, lr=0.05, stream_eval=True)
    assert_same(*_both(hidden=32, bptt=10, **run))


def test_a_width_whose_gate_rows_are_not_a_multiple_of_eight_matches():
    """4 x 7 = 28 gate rows: the backward products' blocks of eight leave four rows over."""
    assert_same(*_both(hidden=7, bptt=6, lr=0.1, stream_eval=True))


def test_divergence_stops_and_marks_the_run():
    fast, ref = _both(loss="ce", lr=1e25, eval_every=1, steps=20)  # the logits overflow
    assert ref.diverged and 1 < ref.steps.size < 21
    np.testing.assert_array_equal(fast.steps, ref.steps)
    assert fast.diverged
    # the last point evaluates weights near float32's limit (its logits overflow in one
    # summation order and not in another), so only the points before it are compared
    np.testing.assert_allclose(fast.test_mse[:-1], ref.test_mse[:-1], RTOL, ATOL)
    np.testing.assert_allclose(fast.test_acc[:-1], ref.test_acc[:-1], RTOL, ATOL)


def test_ensemble_threads_give_each_run_its_own_result():
    runs = [LSTMRun(make_run(seed=s, lr=0.1, steps=60), 5, 3, s) for s in range(3)]
    together = train_lstm_many(runs, threads=2)
    for run, curves in zip(runs, together, strict=True):
        alone = train_lstm_fast(run.prep, run.hidden, run.bptt, run.init_seed)
        np.testing.assert_array_equal(curves.test_mse, alone.test_mse)
    assert not np.allclose(together[0].test_mse, together[1].test_mse)


def test_progress_counts_every_step():
    seen = []
    train_lstm_fast(make_run(steps=70), 4, 3, 0, progress=seen.append)
    assert sum(seen) == 70


def test_evaluation_of_initial_weights_matches_reference_first_point():
    """Step 0 is evaluated before any training: the initial weights, both test protocols."""
    for stream in (False, True):
        prep = make_run(stream_eval=stream, steps=3)
        fast, ref = train_lstm_fast(prep, 6, 4, 3), train_lstm(prep, 6, 4, 3)
        assert fast.steps[0] == ref.steps[0] == 0
        np.testing.assert_allclose([fast.test_mse[0], fast.test_ce[0], fast.test_acc[0]],
                                   [ref.test_mse[0], ref.test_ce[0], ref.test_acc[0]], 1e-6)


def test_training_runs_to_the_end_past_the_last_evaluation_point():
    """Final weights are those after every step, also when the last point comes earlier."""
    prep = make_run(steps=60, lr=0.1)
    early = make_run(steps=60, lr=0.1)
    early.eval_steps = np.array([0, 20], np.int64)
    full, cut = train_lstm_fast(prep, 5, 3, 1), train_lstm_fast(early, 5, 3, 1)
    assert cut.steps.tolist() == [0, 20]
    for name, value in full.final_params.items():
        np.testing.assert_array_equal(cut.final_params[name], value, err_msg=name)


def test_run_many_sends_lstm_and_minibatch_runs_to_the_compiled_trainers(monkeypatch):
    from smoothlearn import experiments, runs, train

    configs = [
        experiments.make_config(model="lstm", hidden=5, steps=60, eval_every=20, lr=0.1),
        experiments.make_config(model="minibatch-feedforward", steps=64, eval_every=20, lr=0.5),
    ]
    reference = runs.run_many(configs, engine="reference")
    for name in ("train_lstm", "train_minibatch"):  # the fast path must not fall back
        monkeypatch.setattr(train, name, None)
    fast = runs.run_many(configs, engine="fast", threads=1)
    for a, b in zip(fast, reference, strict=True):
        assert_same(a, b)


def _reordered(prep: Prepared, seed: int, streamed: bool) -> Prepared:
    """The same test items in another order, streamed or each item alone."""
    order = np.random.default_rng(seed).permutation(prep.X_eval.shape[0])
    return replace(prep, X_eval=prep.X_eval[order], targets_eval=prep.targets_eval[order],
                   labels_eval=prep.labels_eval[order], eval_base=prep.X_eval,
                   eval_items=order, eval_resets=prep.eval_resets if streamed else None)


@pytest.mark.parametrize("hidden", [13, 16])
def test_test_streams_scored_together_equal_each_scored_alone(hidden):
    """One pass over ``W_hh`` for several test streams (two at a time, an odd one alone, a
    memory-off one with no recurrence) gives each stream its numbers alone, bit for bit."""
    from smoothlearn.engine import lstm

    prep = make_run(stream_eval=True, d=20)
    schedule = lstm._LSTMSchedule(LSTMRun(prep, hidden, 4, 3), lstm.csr(prep.X))
    schedule.train(0, 120)
    tests = [prep, _reordered(prep, 1, True), _reordered(prep, 2, False),
             _reordered(prep, 3, True)]  # fmt: skip
    alone = [lstm._evaluate_kernel(t, schedule.P) for t in tests]
    assert lstm._TestStreams(tests).evaluate(schedule.P) == alone
    assert len(set(alone)) == len(alone)  # the orders really give different numbers


def test_a_shared_training_scores_its_extra_test_streams_as_separate_trainings_would():
    """Through :class:`SharedTests`: the extra streams of the same length join the run's own
    evaluation pass, one of another length is scored on its own, each as if trained alone."""
    from smoothlearn.contract import SharedTests

    prep = make_run(stream_eval=True, lr=0.1)
    shorter = replace(prep, X_eval=prep.X_eval[:17], targets_eval=prep.targets_eval[:17],
                      labels_eval=prep.labels_eval[:17], eval_resets=prep.eval_resets[:17])
    others = [_reordered(prep, 5, True), shorter]
    seen: dict[int, list] = {}
    tests = SharedTests({0: others}, lambda k, step, metrics: seen.setdefault(k, []).append(
        (step, *metrics)))  # fmt: skip
    own = train_lstm_many([LSTMRun(prep, 7, 4, 3)], 1, shared_tests=tests)[0]
    for j, other in enumerate(others):
        alone = train_lstm_fast(other, 7, 4, 3)
        assert [s for s, *_ in seen[0]] == own.steps.tolist()
        np.testing.assert_array_equal([m[1 + j] for m in seen[0]],
                                      np.stack([alone.test_mse, alone.test_ce,
                                                alone.test_acc], axis=1))  # fmt: skip


def _on_base(prep: Prepared, base: np.ndarray, items: np.ndarray) -> Prepared:
    """``prep`` tested on rows ``items`` of ``base`` (as ``runs.prepare`` builds them)."""
    labels = np.arange(base.shape[0]) % prep.targets_eval.shape[1]
    return replace(prep, X_eval=base[items], eval_base=base, eval_items=items,
                   targets_eval=np.eye(prep.targets_eval.shape[1], dtype=np.float32)[
                       labels[items]], labels_eval=labels[items],
                   eval_resets=np.zeros(items.shape[0], np.bool_))  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=3, max_size=3), min_size=1, max_size=4),
       st.lists(st.booleans(), min_size=4, max_size=4))
def test_distinct_items_index_each_streams_items(picks, own_base):
    """The evaluation takes each distinct test item's input product once: items of one base
    array are shared by row, items of another array are distinct, and ``X[index]`` gives
    every stream's items in order."""
    from smoothlearn.engine.lstm import _distinct_items

    prep = make_run(stream_eval=True, d=20)
    base = np.random.default_rng(0).random((6, prep.X_eval.shape[1])).astype(np.float32)
    preps = [_on_base(prep, base.copy() if alone else base, np.array(p))
             for p, alone in zip(picks, own_base, strict=False)]
    X, index = _distinct_items(preps)
    np.testing.assert_array_equal(X[index], np.concatenate([p.X_eval for p in preps]))
    shared = {int(i) for p, alone in zip(picks, own_base, strict=False) if not alone for i in p}
    apart = sum(len(set(p)) for p, alone in zip(picks, own_base, strict=False) if alone)
    assert X.shape[0] == len(shared) + apart


def test_streams_with_some_items_in_common_score_as_each_alone():
    """Streams whose items partly differ (and repeat within a stream) share the input
    products of the items they have in common and still score as each alone, bit for bit."""
    from smoothlearn.engine import lstm

    prep = make_run(stream_eval=True, d=20)
    schedule = lstm._LSTMSchedule(LSTMRun(prep, 9, 4, 3), lstm.csr(prep.X))
    schedule.train(0, 80)
    n = prep.X_eval.shape[0]
    rng = np.random.default_rng(4)
    base = np.concatenate([prep.X_eval, rng.random((n // 2, prep.X_eval.shape[1]),
                                                   dtype=np.float32)])  # fmt: skip
    tests = [_on_base(prep, base, rng.permutation(n)),
             _on_base(prep, base, rng.integers(0, base.shape[0], n))]
    streams = lstm._TestStreams(tests)
    assert n <= streams.csr[0].shape[0] - 1 < 2 * n  # some items shared, some not
    assert streams.evaluate(schedule.P) == [lstm._evaluate_kernel(t, schedule.P) for t in tests]
