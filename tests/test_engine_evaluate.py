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
        seen.append(bool(args[-3]))  # (..., out_leak, wide, W1pad, out)
        compiled(*args)

    monkeypatch.setattr(engine_evaluate, "eval_chunk", recording)
    monkeypatch.setenv(ENV, kernel)
    evaluate_many(_runs()[:2], threads=1, sparse=True)
    assert seen and set(seen) == {kernel == "wide"}
