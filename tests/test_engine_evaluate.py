"""engine.evaluate: every first-layer kernel (smoothlearn.kernel_choice), forced whatever the
CPU, equals the reference evaluation, and the kernels give the same metrics bit for bit (the
same products added in the same order, at another vector width)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_engine import ATOL, PER_UNIT, RTOL, _data, make_run

from smoothlearn.contract import Prepared
from smoothlearn.engine import evaluate as engine_evaluate
from smoothlearn.engine import evaluate_many, train_many
from smoothlearn.kernel_choice import ENV, KERNELS
from smoothlearn.nn import reset_flags
from smoothlearn.train import evaluate


def _runs() -> list[Prepared]:
    """Memory off, streamed (shared and per-unit leaks), averaged outputs, an autoencoder,
    and hidden layers below, at and above one 512-bit vector (13, 16, 392 units), with items
    holding from none to 18 non-zero inputs (less than, exactly and more than eight)."""
    rng = np.random.default_rng(11)
    d, o = 50, 4
    X_eval = np.vstack([_data(rng, 30, d, density=0.15), np.zeros((1, d), np.float32)])
    labels = rng.integers(0, o, X_eval.shape[0])
    base = [
        make_run(seed=0, d=d, h=392, o=o),
        make_run(seed=1, d=d, h=392, o=o, leak=0.5, reset="label"),
        make_run(seed=2, d=d, h=16, o=o, leak=PER_UNIT[0], reset="label"),
        make_run(seed=3, d=d, h=13, o=o, leak=0.3, reset="label", output="sigmoid"),
    ]
    runs = []
    for k, run in enumerate(base):
        streamed = k > 0
        runs.append(dataclasses.replace(
            run, X_eval=X_eval, targets_eval=np.eye(o, dtype=np.float32)[labels],
            labels_eval=labels,
            eval_resets=reset_flags("label", X_eval, labels, 1) if streamed else None,
        ))  # fmt: skip
    runs[2] = dataclasses.replace(runs[2], test_memory="output", test_leak=0.4)
    runs.append(make_run(seed=4, d=d, h=24, task="reconstruct", output="sigmoid"))
    return runs


def _metrics(got: dict[str, float]) -> list[float]:
    return [got["test_mse"], got["test_ce"], got["test_acc"]]


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_kernel_forced_equals_the_reference_evaluation(
    kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the reference (torch, a dense product): float32 sums in another order, so the
    engine tests' tolerance (1e-5 relative and absolute)."""
    monkeypatch.setenv(ENV, kernel)
    runs = _runs()
    for run, got in zip(runs, evaluate_many(runs, sparse=True), strict=True):
        want = evaluate(run.params, run.eval_leak, run.X_eval, run.targets_eval, run.labels_eval,
                        run.eval_resets, run.settings.output, run.task,
                        output_leak=run.output_leak)  # fmt: skip
        np.testing.assert_allclose(_metrics(got), want, RTOL, ATOL, True)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_kernels_agree_bit_for_bit(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _runs()
    results = {}
    for kernel in KERNELS:
        monkeypatch.setenv(ENV, kernel)
        results[kernel] = [_metrics(g) for g in evaluate_many(runs, threads=threads,
                                                              sparse=True)]
    np.testing.assert_array_equal(results["wide"], results["narrow"])


def test_training_curves_do_not_depend_on_the_evaluation_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kernel is used at every evaluation point of ``train_many``."""
    runs = [make_run(seed=5, h=40, leak=0.5, reset="label", stream_eval=True),
            make_run(seed=6, h=40)]
    curves = {}
    for kernel in KERNELS:
        monkeypatch.setenv(ENV, kernel)
        curves[kernel] = train_many(runs, sparse=True)
    for wide, narrow in zip(curves["wide"], curves["narrow"], strict=True):
        for name in ("test_mse", "test_ce", "test_acc"):
            np.testing.assert_array_equal(getattr(wide, name), getattr(narrow, name))


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_chosen_kernel_reaches_the_compiled_loop(
    kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Equal metrics alone cannot tell the kernels apart: check the flag the loop receives."""
    seen: list[bool] = []
    compiled = engine_evaluate.eval_chunk

    def recording(*args: object) -> None:
        seen.append(bool(args[-4]))  # (..., out_leak, wide, W1pad, pre, out)
        compiled(*args)

    monkeypatch.setattr(engine_evaluate, "eval_chunk", recording)
    monkeypatch.setenv(ENV, kernel)
    evaluate_many(_runs()[:2], threads=1, sparse=True)
    assert seen and set(seen) == {kernel == "wide"}


def _shared_tests() -> tuple[list[Prepared], list[int]]:
    """One network's test sets as entries: its plain test, the same items streamed in another
    order with label resets, and hidden- and output-averaged streams; plus a second network
    with only its plain test. Every X_eval is a row selection of one base array."""
    rng = np.random.default_rng(5)
    d, o, n = 40, 3, 25
    base_X = _data(rng, n, d, density=0.2)
    base_X.flags.writeable = False
    labels_all = rng.integers(0, o, n)
    run = make_run(seed=7, d=d, h=20, o=o, leak=0.4, reset="label")
    entries = []
    for items, memory in ((np.arange(n), "none"), (rng.permutation(n), "none"),
                          (rng.permutation(n)[:n], "hidden"), (np.arange(n)[::-1], "output")):
        labels = labels_all[items]
        X_eval = base_X[items]
        entries.append(dataclasses.replace(
            run, X_eval=X_eval, targets_eval=np.eye(o, dtype=np.float32)[labels],
            labels_eval=labels, eval_base=base_X, eval_items=items,
            eval_resets=None if len(entries) == 0 else reset_flags("label", X_eval, labels, 1),
            test_memory=memory, test_leak=0.3 if memory != "none" else 0.0,
        ))  # fmt: skip
    other = make_run(seed=8, d=d, h=20, o=o)
    labels = labels_all
    entries.append(dataclasses.replace(
        other, X_eval=base_X, targets_eval=np.eye(o, dtype=np.float32)[labels],
        labels_eval=labels, eval_base=base_X, eval_items=np.arange(n)))  # fmt: skip
    return entries, [0, 0, 0, 0, 1]


def _stacked_params(*runs: Prepared) -> tuple[np.ndarray, ...]:
    """(W1T, b1, W2, b2) stacked over ``runs``, as an ensemble holds them."""
    return (np.stack([np.ascontiguousarray(r.params["W1"].T) for r in runs]),
            *(np.stack([r.params[n] for r in runs]) for n in ("b1", "W2", "b2")))


def test_a_networks_test_sets_share_one_first_layer_pass_and_keep_their_own_numbers() -> None:
    """The test sets of one network are one fused group whose distinct items are computed
    once; each set's metrics equal its evaluation alone (the same float32 math: the float64
    sums of the metrics may differ in their last bit, hence 1e-12)."""
    entries, nets = _shared_tests()
    (group,) = engine_evaluate.eval_groups(entries, sparse=True, nets=nets)
    assert group.fused and group.gnets.tolist() == [0, 1]
    assert group.units.size == 25  # network 0's four sets: 25 distinct items, computed once
    for g in range(2):
        r0, r1 = group.row_ptr[g], group.row_ptr[g + 1]
        assert set(group.nets[r0:r1].tolist()) == {g}
        if r1 - r0 > 1:
            units = group.units[group.unit_ptr[g]:group.unit_ptr[g + 1]]
            np.testing.assert_array_equal(units[group.slots[r0:r1]], group.items[r0:r1])
    params = _stacked_params(entries[0], entries[4])
    got = engine_evaluate.evaluate([group], np.array([0, 1]), params, "softmax", True, 2)
    assert sorted(got) == [0, 1, 2, 3, 4]
    alone = evaluate_many(entries, threads=1, sparse=True)
    for e, want in enumerate(alone):
        np.testing.assert_allclose(got[e], _metrics(want), rtol=1e-12, atol=0, err_msg=str(e))
    assert len({got[e][0] for e in range(4)}) == 4  # the orders and memories do differ


def test_only_the_wanted_networks_test_sets_are_scored() -> None:
    entries, nets = _shared_tests()
    groups = engine_evaluate.eval_groups(entries, sparse=True, nets=nets)
    params = _stacked_params(entries[0], entries[4])
    assert sorted(engine_evaluate.evaluate(groups, np.array([1]), params, "softmax", True,
                                           2)) == [4]  # fmt: skip
    assert sorted(engine_evaluate.evaluate(groups, np.array([0]), params, "softmax", True,
                                           1)) == [0, 1, 2, 3]  # fmt: skip
