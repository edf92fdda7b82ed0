"""smoothlearn bench: every case is a row of one table, timed against its baseline.

Timings are never asserted (the machine is shared); structure, positive rates and the
engine's numbers against the reference are.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from smoothlearn import bench, machine
from smoothlearn.bench import cases, executors
from smoothlearn.bench.workloads import Workload
from smoothlearn.contract import TrainSettings
from smoothlearn.kernel_choice import ENV, KERNELS, eval_kernel

ROW_KEYS = {"case", "shape", "networks", "steps", "threads", "unit", "engine_rate",
            "engine_min", "engine_max", "naive_rate", "ratio", "target", "met", "note"}


def tiny_mnist(quick: bool = True, test_items: int = 40) -> Workload:
    """MNIST's workload at a toy size: 20 sparse inputs, 8 hidden units, 4 classes."""
    rng = np.random.default_rng(0)

    def sparse(n: int) -> np.ndarray:
        return np.where(rng.random((n, 20)) < 0.3, rng.random((n, 20)), 0).astype(np.float32)

    X, Xt = sparse(64), sparse(test_items)
    y, yt = np.arange(64) % 4, np.arange(test_items) % 4
    for a in (X, Xt, y, yt):
        a.flags.writeable = False
    return Workload("mnist", X, y, Xt, yt, 8, 0.5, "label", 1, "repeat-3", "classify",
                    TrainSettings(output="softmax", loss="mse", optimizer="sgd", lr=0.01),
                    "tiny random")  # fmt: skip


def check_row(row: dict, unit: str) -> None:
    assert ROW_KEYS <= row.keys()
    assert row["unit"] == unit
    assert row["engine_rate"] > 0 and row["naive_rate"] > 0
    assert row["engine_min"] <= row["engine_rate"] <= row["engine_max"]
    assert row["ratio"] == pytest.approx(row["engine_rate"] / row["naive_rate"])


def test_lstm_and_minibatch_rows_time_the_compiled_trainers_against_the_reference():
    wl = tiny_mnist()
    lstm = cases.lstm_case(wl, ref_steps=20, fast_steps=40, repeats=2)
    check_row(lstm, "steps/s")
    assert lstm["target"] == "≥10×" and lstm["met"] == (lstm["ratio"] >= 10)
    assert lstm["case"] == "LSTM, BPTT window 10" and lstm["steps"] == 40
    mini = cases.minibatch_case(wl, ref_items=64, fast_items=128, repeats=1)
    check_row(mini, "items/s")
    assert mini["case"] == "mini-batch 16" and mini["target"] == ""


def before_kernel():
    """The frozen kernel of ``benchmarks/before.py`` (these tests run from a source checkout)."""
    module = cases.load_before()
    assert module is not None, "benchmarks/before.py not found beside src/"
    return module


def test_evaluation_row_gives_ms_per_network_and_matches_the_reference():
    wl = tiny_mnist(test_items=50)
    row = cases.evaluation_case(wl, threads=2, repeats=1, before=before_kernel())
    check_row(row, "evals/s")
    assert row["networks"] == 2 and row["steps"] == 50
    assert row["ms_per_eval"] == pytest.approx(1e3 / row["engine_rate"])
    assert row["max_abs_diff"] < 1e-5  # the engine's numbers are the reference's
    nnz = np.count_nonzero(wl.X_test)
    assert row["gmac_per_eval"] == pytest.approx((nnz * 8 + 50 * 8 * 4) / 1e9)
    # timed against the kernel from before issue 13, which gave the same numbers
    assert row["max_abs_diff_before"] == 0 and row["before_ms_per_eval"] > 0
    assert row["max_rel_diff_before"] <= cases.METRICS_RTOL
    assert row["before_fresh_ms_per_eval"] > 0  # and at a fresh array's alignment
    kernel = eval_kernel()  # the row names the kernel that ran and why
    assert row["target"] == f"≤½ before, {kernel.name} kernel" and row["kernel"] == kernel.name
    assert kernel.line() in row["note"] and row["kernel_reason"] == kernel.reason
    assert row["met"] == (row["ms_per_eval"] <= row["before_ms_per_eval"] / 2)
    assert row["before_available"] and "benchmarks/before.py" in row["note"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_evaluation_row_names_a_forced_kernel(kernel: str, monkeypatch) -> None:
    monkeypatch.setenv(ENV, kernel)
    row = cases.evaluation_case(tiny_mnist(test_items=20), threads=1, repeats=1,
                                before=before_kernel())
    assert row["target"] == f"≤½ before, {kernel} kernel" and row["kernel"] == kernel
    assert f"evaluation kernel: {kernel} (forced by {ENV}" in row["note"]


def test_the_metrics_may_move_by_the_allowed_relative_difference_only() -> None:
    want = [(0.5, 2.0, 0.25)]
    assert cases._max_diff([dict(test_mse=0.5, test_ce=2.0 + 2e-6, test_acc=0.25)], want,
                           relative=True) == pytest.approx(1e-6)
    assert cases._max_diff([dict(test_mse=0.5, test_ce=2.0, test_acc=0.0)], want) == 0.25


def test_without_a_source_checkout_the_evaluation_row_says_the_old_kernel_is_not_timed(
    tmp_path,
):
    assert cases.load_before(tmp_path / "benchmarks" / "before.py") is None
    row = cases.evaluation_case(tiny_mnist(test_items=20), threads=1, repeats=1, before=None)
    check_row(row, "evals/s")
    assert not row["before_available"] and "before_ms_per_eval" not in row
    assert row["target"] == "" and row["met"]
    assert "not timed: benchmarks/before.py comes with a source checkout" in row["note"]
    assert "| — | " in bench.case_table([row])[2]  # no target to meet


@pytest.mark.parametrize("offset", [0, 16, 32, 48])
def test_the_old_kernels_weights_start_where_asked(offset: int) -> None:
    a = np.arange(784 * 13, dtype=np.float32).reshape(784, 13)
    got = before_kernel().at_offset(a.T, offset)
    assert got.ctypes.data % 64 == offset and got.flags.c_contiguous
    np.testing.assert_array_equal(got, a.T)


def test_the_old_kernels_offset_is_checked() -> None:
    with pytest.raises(ValueError, match="offset"):
        before_kernel().evaluate_before([], offset=8)


def test_case_table_prints_each_row_in_its_unit():
    row = cases.case_row("x", "1-2-3", 2, 10, 1, {"rate": 250.0, "rate_min": 200.0,
                                                   "rate_max": 300.0}, 5.0, 40, "n", "items/s")
    table = bench.case_table([row])
    assert len(table) == 3 and table[2].startswith("| x | 1-2-3 | 2 × 10 | 1 |")
    assert "250 [200–300] items/s | 5 items/s | 50× | ≥40× met | n |" in table[2]


def test_the_executor_row_times_dask_and_the_local_pool_on_one_grid():
    pytest.importorskip("distributed")
    row = executors.executor_case(executors.ExecutorGrid("figA4", 1), workers=1)  # small
    assert row["networks"] == 20 and row["threads"] == 1
    assert row["identical"] and row["max_abs_diff"] == 0
    assert row["ratio"] == pytest.approx(row["local_s"] / row["dask_s"])
    assert row["met"] == (row["ratio"] >= executors.DASK_TARGET)
    assert f"Dask throughput {row['ratio']:.0%} of local" in row["note"]
    assert "curves bit-identical" in row["note"]
    # the short-work warning follows the measured time, whatever the machine's load
    assert ("start-up weighs" in row["note"]) == (row["local_s"] < executors.MIN_WORK_S)


def test_differing_stores_are_not_called_identical(tmp_path):
    from smoothlearn import sweep
    from smoothlearn.experiments import make_config

    small = {"dataset": "synthetic-categories", "steps": 100, "eval_every": 50}
    one = sweep.Execution(engine="reference", workers=1, quiet=True)
    for name, lr in (("a", 0.1), ("b", 0.1), ("c", 0.2)):
        sweep.run_sweep([make_config(**small, lr=lr)], tmp_path / name, one)
    assert executors.same_curves(tmp_path / "a", tmp_path / "b") == (True, 0.0)
    assert executors.same_curves(tmp_path / "a", tmp_path / "c") == (False, float("inf"))


def test_the_full_grid_is_a_minute_of_work_and_quick_is_small():
    assert executors.executor_grid(False, mnist=True) == executors.ExecutorGrid("fig2", 3)
    assert len(executors.executor_grid(False, mnist=True).configs()) == 90
    assert len(executors.executor_grid(False, mnist=False).configs()) == 2000
    assert len(executors.executor_grid(True, mnist=True).configs()) <= 100


def test_quick_benchmark_writes_every_case(monkeypatch, tmp_path):
    """Run as an installed copy would (no benchmarks/ folder): one line says what is missing."""
    monkeypatch.setattr(bench, "mnist_workload", tiny_mnist)
    dask_row = cases.case_row("Dask LocalCluster vs local pool", "20 runs", 20, 1, 2,
                              {"rate": 9.0, "rate_min": 9.0, "rate_max": 9.0}, 10.0, 0.9, "n",
                              "runs/s")  # fmt: skip
    monkeypatch.setattr(bench, "executor_case", lambda grid: dask_row)  # tested above
    monkeypatch.setattr(bench, "load_before", lambda: None)
    res = bench.run_benchmarks(quick=True, out=tmp_path)
    assert res.table.startswith(machine.cpu_info().line())
    assert res.results["machine"]["cpu"]["model"] == machine.cpu_info().model
    assert f"\n\n{cases.BEFORE_MISSING}\n" in res.table
    names = [c["case"] for c in res.results["cases"]]
    for wanted in ("MNIST leaky+reset, sparse", "MNIST, RMSprop (momentum 0)",
                   "LSTM, BPTT window 10", "mini-batch 16", "evaluation, memory off",
                   "dense inputs (CIFAR-shaped)", "Dask LocalCluster vs local pool"):
        assert wanted in names
        assert f"| {wanted} |" in res.table
    for row in res.results["cases"]:
        assert row["engine_rate"] > 0 and row["naive_rate"] > 0, row["case"]
    assert json.loads(res.json_path.read_text())["cases"] == res.results["cases"]
    assert res.markdown_path.read_text() == res.table
