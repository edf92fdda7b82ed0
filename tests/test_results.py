"""The results store: tidy loading, summaries, status counts, crash leftovers, and the CLI."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smoothlearn import cli, results, sweep
from smoothlearn.experiments import make_config

REF1 = sweep.Execution(engine="reference", workers=1, quiet=True)

SMALL = {"dataset": "synthetic-categories", "steps": 200, "eval_every": 50,
         "experiment": "small"}


def _configs() -> list:
    good = [make_config(**SMALL, model=m, condition=c, seed=s)
            for m in ("feedforward", "leaky-reset") for c in ("random", "repeat-3")
            for s in range(2)]
    return [*good, make_config(**SMALL, loss="ce", lr=1e30)]  # diverges at once


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store")
    summary = sweep.run_sweep(_configs(), out, REF1)
    assert (summary.total, summary.done, summary.diverged, summary.failed) == (9, 8, 1, 0)
    return out


@pytest.fixture
def copy(store, tmp_path) -> Path:
    """A private copy of the store, for tests that damage it."""
    return Path(shutil.copytree(store, tmp_path / "copy"))


def test_load_is_tidy_with_stable_columns_and_dtypes(store):
    frame = results.load(store)
    assert list(frame.columns) == results.FRAME_COLUMNS
    assert {"run_id", "experiment", "dataset", "model", "condition", "test_mode", "seed", "step",
            "test_mse", "test_ce", "test_acc", "diverged", "lr", "optimizer", "loss",
            "leak_grad", "test_reset", "class_balance", "task", "reset"} <= set(frame.columns)
    for column, kind in [("seed", "i"), ("step", "i"), ("test_mse", "f"), ("test_ce", "f"),
                         ("test_acc", "f"), ("diverged", "b"), ("lr", "f"), ("hidden", "i")]:
        assert frame[column].dtype.kind == kind, column
    assert str(frame["steps"].dtype) == "Int64"
    assert frame.equals(frame.sort_values(["run_id", "step"]).reset_index(drop=True))
    ok = frame[~frame["diverged"]]
    assert ok.groupby("run_id")["step"].apply(list).map(tuple).unique().tolist() == [
        (0, 50, 100, 150, 200)]
    assert frame["run_id"].nunique() == 9 and set(frame["experiment"]) == {"small"}
    assert set(frame["reset"]) == {"never", "label"}  # resolved from the model presets
    assert json.loads(frame["leak"].iloc[0]) in (0.0, 0.5)


def test_diverged_run_rows_stop_before_any_non_finite_number(store):
    frame = results.load(store)
    blown = frame[frame["diverged"]]
    assert blown["run_id"].nunique() == 1 and blown["step"].tolist() == [0]
    assert np.isfinite(frame[["test_mse", "test_ce", "test_acc"]].to_numpy()).all()


def test_summary_means_and_sems_over_seeds(store):
    frame = results.load(store)
    table = results.summary(frame)
    keys = ["experiment", "dataset", "model", "condition", "test_mode"]
    assert list(table.columns[:5]) == keys and {"lr", "loss"} <= set(table.columns)
    row = table[(table["model"] == "leaky-reset") & (table["condition"] == "repeat-3")].iloc[0]
    last = frame[(frame["model"] == "leaky-reset") & (frame["condition"] == "repeat-3")
                 & (frame["step"] == 200)]
    assert row["n_seeds"] == 2 and row["final_step"] == 200 and row["n_diverged"] == 0
    assert row["test_mse_mean"] == pytest.approx(last["test_mse"].mean())
    assert row["test_acc_sem"] == pytest.approx(last["test_acc"].std() / math.sqrt(2))
    blown = table[table["lr"] == 1e30].iloc[0]
    assert blown["n_diverged"] == 1 and math.isnan(blown["test_mse_mean"])
    assert results.summary(results.empty_frame()).empty


def test_summary_keeps_only_settings_that_vary_within_groups(store):
    frame = results.load(store)
    same_lr = frame[frame["lr"] == 0.01]
    assert list(results.summary(same_lr).columns[:5]) == [
        "experiment", "dataset", "model", "condition", "test_mode"]
    assert "n_seeds" == results.summary(same_lr).columns[5]  # reset varies only with model


def test_status_and_runs_tables(store):
    assert results.status(store) == {"done": 8, "diverged": 1, "failed": 0, "missing": 0,
                                     "total": 9}
    table = results.runs(store)
    assert len(table) == 9 and set(table["status"]) == {"done", "diverged"}
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["counts"]["total"] == 9 and len(manifest["runs"]) == 9
    assert {"run_id", "config", "status", "message"} <= set(manifest["runs"][0])


def test_missing_curves_and_unrecorded_runs_count_as_missing_and_are_recomputed(copy):
    configs = _configs()
    before = results.load(copy)
    lost, unrecorded = configs[0].run_id(), configs[1].run_id()
    (copy / "curves" / f"{lost}.parquet").unlink()  # record says done, but no curve
    (copy / "runs" / f"{unrecorded}.json").unlink()  # killed between curve and record
    assert results.status(copy)["missing"] == 2
    assert set(results.load(copy)["run_id"]) == set(before["run_id"]) - {lost, unrecorded}
    summary = sweep.run_sweep(configs, copy, REF1)
    assert (summary.done, summary.failed, summary.skipped) == (2, 0, 7)
    pd.testing.assert_frame_equal(results.load(copy), before, check_exact=True)


def test_half_written_temporary_files_are_never_read(store, copy):
    garbage = copy / "curves" / f".{_configs()[0].run_id()}.parquet.{results._HOST}.999999.tmp"
    garbage.write_bytes(b"PAR1 truncated")
    (copy / "runs" / ".x.json.otherhost.1.tmp").write_text("{")
    pd.testing.assert_frame_equal(results.load(copy), results.load(store), check_exact=True)
    assert results.status(copy) == results.status(store)
    results.Store(copy).open()  # the dead local writer's file goes; a recent remote one stays
    assert not garbage.exists() and (copy / "runs" / ".x.json.otherhost.1.tmp").exists()


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        results.atomic_write(target, broken)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["a.json"]


def test_clean_curve_cuts_at_the_first_non_finite_metric():
    steps = np.array([0, 10, 20])
    nan = np.full(3, np.nan)
    curve, cut = results.clean_curve(steps, np.array([0.1, np.inf, 0.2]), np.ones(3),
                                     np.ones(3), True)
    assert cut and curve["step"].tolist() == [0]
    curve, cut = results.clean_curve(steps, np.array([0.1, 0.1, 0.1]), nan, nan, False)
    assert not cut and len(curve) == 3  # reconstruction: CE and accuracy do not apply


def test_load_reads_only_the_runs_asked_for(store):
    every = results.load(store)
    some = sorted(every["run_id"].unique())[:3]
    frame = results.load(store, run_ids=some)
    expected = every[every["run_id"].isin(some)].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected)
    assert results.load(store, run_ids=[]).empty


def test_load_errors_and_empty_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such results directory"):
        results.load(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="not a sweep directory"):
        results.load(tmp_path)
    sweep.run_sweep([], tmp_path / "empty", sweep.Execution(quiet=True))
    empty = results.load(tmp_path / "empty")
    assert empty.empty and list(empty.columns) == results.FRAME_COLUMNS
    assert results.status(tmp_path / "empty")["total"] == 0


def test_cli_results_prints_the_summary_and_exports_csv(store, tmp_path, capsys):
    assert cli.main(["results", str(store)]) == 0
    out = capsys.readouterr().out
    assert "leaky-reset" in out and "test_mse_mean" in out and "n_seeds" in out
    target = tmp_path / "all.csv"
    assert cli.main(["results", str(store), "--csv", str(target)]) == 0
    assert f"wrote {len(results.load(store))} rows" in capsys.readouterr().out
    exported = pd.read_csv(target)
    assert list(exported.columns) == results.FRAME_COLUMNS
    assert len(exported) == len(results.load(store))
    assert cli.main(["results", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such results directory" in err
