"""The results store: tidy loading, summaries, status counts, crash leftovers, and the CLI."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
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
    assert results.status(store) == {"done": 8, "diverged": 1, "failed": 0, "corrupt": 0,
                                     "running": 0, "missing": 0, "total": 9}
    table = results.status_table(store)
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
    with pytest.warns(results.StoreWarning, match="curve is missing") as caught:
        frame = results.load(copy)
    assert _problem_ids(caught) == {lost}  # the unrecorded run left no file to report
    assert set(frame["run_id"]) == set(before["run_id"]) - {lost, unrecorded}
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


def _sweep(configs: list, out: Path, quiet: bool = True) -> str:
    """One in-process reference sweep; its summary line (the new tests' only sweep call)."""
    return str(sweep.run_sweep(configs, out, sweep.Execution(engine="reference", workers=1,
                                                             quiet=quiet)))


def _problem_ids(caught) -> set[str]:
    found = [w.message for w in caught if issubclass(w.category, results.StoreWarning)]
    assert len(found) == 1, "one warning line per load"
    return {p.run_id for p in found[0].problems}


@pytest.mark.parametrize("damage", ["record-garbage", "record-empty", "record-foreign",
                                    "curve-truncated", "curve-empty-file", "curve-not-a-curve"])
def test_unreadable_files_are_reported_and_recomputed(store, copy, damage):
    before = results.load(store)
    victim = _configs()[2].run_id()
    record, curve = copy / "runs" / f"{victim}.json", copy / "curves" / f"{victim}.parquet"
    if damage == "record-garbage":
        record.write_text('{"run_id": "' + victim + '", "status": "do')
    elif damage == "record-empty":
        record.write_bytes(b"")
    elif damage == "record-foreign":
        record.write_text(json.dumps({"run_id": "someone-else", "status": "done"}))
    elif damage == "curve-truncated":
        curve.write_bytes(curve.read_bytes()[:40])
    elif damage == "curve-empty-file":
        curve.write_bytes(b"")
    else:
        pd.DataFrame({"x": [1]}).to_parquet(curve)
    with pytest.warns(results.StoreWarning) as caught:
        frame = results.load(copy)
    assert _problem_ids(caught) == {victim}
    assert victim in str(caught[0].message) and "cannot be used" in str(caught[0].message)
    assert set(frame["run_id"]) == set(before["run_id"]) - {victim}
    row = results.status_table(copy).set_index("run_id").loc[victim]
    assert row["status"] == "corrupt" and victim in row["message"]
    assert results.status(copy)["corrupt"] == 1
    assert [p.run_id for p in results.problems(copy)] == [victim]
    line = _sweep(_configs(), copy)
    assert "(1 done, 0 diverged, 0 failed, 8 skipped" in line
    pd.testing.assert_frame_equal(results.load(copy), before, check_exact=True)
    assert results.status(copy)["corrupt"] == 0


def test_the_sweep_prints_the_runs_it_cannot_read(copy, capsys):
    victim = _configs()[0].run_id()
    (copy / "curves" / f"{victim}.parquet").write_bytes(b"PAR1")
    _sweep(_configs(), copy, quiet=False)
    err = capsys.readouterr().err
    assert "1 stored run(s) cannot be used and are computed again" in err and victim in err


def test_a_store_whose_runs_all_failed_is_not_an_empty_success(tmp_path):
    bad = [make_config(**SMALL, seed=s, dataset_params={"n_features": -1}) for s in range(2)]
    line = _sweep(bad, tmp_path)
    assert "2 failed" in line
    with pytest.raises(results.NoFinishedRuns, match=r"none of its 2 runs finished \(2 failed\)"):
        results.load(tmp_path)
    table = results.status_table(tmp_path)
    assert set(table["status"]) == {"failed"} and table["message"].str.len().min() > 0
    assert results.load(tmp_path, run_ids=[c.run_id() for c in bad]).empty  # asked-for subset


def test_summary_sorts_numbers_in_names_and_reports_test_ce(store):
    frame = results.load(store)
    frame = frame[(frame["model"] == "feedforward") & ~frame["diverged"]]
    renamed = frame.assign(condition=frame["condition"].map(
        {"random": "repeat-10", "repeat-3": "repeat-3"}))
    table = results.summary(renamed)
    assert table["condition"].tolist() == ["repeat-3", "repeat-10"]
    last = renamed.sort_values("step").groupby("run_id").tail(1)
    ten = last[last["condition"] == "repeat-10"]
    assert table["test_ce_mean"].iloc[1] == pytest.approx(ten["test_ce"].mean())
    assert {"test_ce_mean", "test_ce_sem"} <= set(table.columns)


# ----------------------------------------------------------------------------- two processes
_CHILD_SETUP = """
import sys, time
from pathlib import Path
from smoothlearn import results, sweep
from smoothlearn.experiments import make_config
SMALL = {small!r}
configs = [make_config(**SMALL, model=m, condition=c, seed=s)
           for m in ("feedforward", "leaky-reset") for c in ("random", "repeat-3")
           for s in range({seeds})]
out = Path({out!r})
"""

_SWEEP_AFTER_GO = """
go = out.parent / "go"
while not go.exists():
    time.sleep(0.01)
print(sweep.run_sweep(configs, out, sweep.Execution(engine="reference", workers=1, quiet=True)),
      flush=True)
"""

_CLAIM_AND_WAIT = """
store = results.Store(out).open()
mine, _ = store.claim(c.run_id() for c in configs[:{held}])
print(len(mine), flush=True)
sys.stdin.readline()  # hold the claims until the parent says, or until killed
"""


def _child(code: str, out: Path, seeds: int, **fields) -> subprocess.Popen:
    script = _CHILD_SETUP.format(small=SMALL, seeds=seeds, out=str(out)) + code.format(**fields)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE, text=True, env=env)


def _done(line: str) -> int:
    return int(re.search(r"\((\d+) done", line).group(1))


def test_two_sweeps_on_one_store_compute_each_run_exactly_once(tmp_path):
    out = tmp_path / "store"
    children = [_child(_SWEEP_AFTER_GO, out, seeds=3) for _ in range(2)]
    (tmp_path / "go").touch()
    lines = [child.communicate(timeout=600)[0].strip().splitlines()[-1] for child in children]
    assert all(child.returncode == 0 for child in children), lines
    assert sum(_done(line) for line in lines) == 12, lines  # no run computed twice
    assert results.status(out)["done"] == 12 and results.status(out)["total"] == 12
    assert len(list((out / "runs").glob("*.json"))) == 12
    assert not list((out / "claims").glob("*.claim"))  # every claim let go
    assert not list((out / "claims").glob("*.owner"))


def test_runs_claimed_by_a_live_process_are_skipped_and_a_dead_ones_recovered(tmp_path):
    out = tmp_path / "store"
    holder = _child(_CLAIM_AND_WAIT, out, seeds=2, held=2)
    try:
        assert holder.stdout.readline().strip() == "2"
        held = {c.run_id() for c in _configs()[:2]}
        configs = _configs()[:4]
        line = _sweep(configs, out)
        assert "(2 done" in line and "2 left to another process" in line
        assert {r for r, s in results.status_table(out)[["run_id", "status"]].values
                if s == "running"} == held
    finally:
        holder.kill()  # dies holding its claims, as after kill -9
        holder.wait()
    assert results.status(out)["running"] == 0 and results.status(out)["missing"] == 2
    line = _sweep(configs, out)
    assert "(2 done, 0 diverged, 0 failed, 2 skipped" in line and "another" not in line
    assert results.status(out)["done"] == 4
    assert not list((out / "claims").glob("*.claim"))


def test_claims_are_let_go_as_records_are_written(tmp_path):
    store = results.Store(tmp_path).open()
    config = _configs()[0]
    mine, elsewhere = store.claim([config.run_id()])
    assert mine == [config.run_id()] and elsewhere == []
    claim = tmp_path / "claims" / f"{config.run_id()}.claim"
    assert claim.read_text().strip() == store.claims.owner
    assert results.status_table(tmp_path)["status"].tolist() == ["running"]
    store.write_run({"run_id": config.run_id(), "status": "failed", "message": "x",
                     "config": config.model_dump(mode="json")}, None)
    assert not (tmp_path / "claims" / f"{config.run_id()}.claim").exists()
    store.claims.release_all()
    assert not list((tmp_path / "claims").glob("*.owner"))


def test_a_sweep_reads_only_its_own_runs_of_the_store(copy):
    """A sweep refreshes its runs' statuses and leaves the rest of a big store unread: a
    curve broken outside the sweep is found by a full reading, not by the sweep's."""
    configs = _configs()
    mine, other = configs[0].run_id(), configs[1].run_id()
    (copy / "curves" / f"{other}.parquet").write_bytes(b"not parquet")
    store = results.Store(copy).open()
    finished, problems = store.scan({mine})
    assert finished == {mine} and problems == []
    store.write_manifest([], refresh={mine})
    manifest = {r["run_id"]: r for r in json.loads((copy / "manifest.json").read_text())["runs"]}
    assert manifest[mine]["status"] == "done" and manifest[other]["status"] == "done"  # as known
    store.write_manifest([])  # a full reading finds it
    manifest = {r["run_id"]: r for r in json.loads((copy / "manifest.json").read_text())["runs"]}
    assert manifest[other]["status"] == "corrupt"
    assert results.status(copy)["corrupt"] == 1


def test_each_row_carries_its_own_runs_labels(tmp_path):
    """Runs of different lengths and settings (steps or epochs, SGD or RMSprop, a test subset
    or not) in one store: every row of a run holds that run's labels, none of a neighbour's."""
    base = {"dataset": "synthetic-categories", "experiment": "mixed"}
    configs = [make_config(**base, steps=100, eval_every=50, seed=0),
               make_config(**base, epochs=1, eval_every=400, eval_items=20, seed=1),
               make_config(**base, steps=120, eval_every=40, optimizer="rmsprop", lr=0.001,
                           model="leaky-reset", seed=2)]
    sweep.run_sweep(configs, tmp_path, REF1)
    frame = results.load(tmp_path)
    assert frame.groupby("run_id", sort=False).size().tolist() == [
        len(frame[frame["run_id"] == i]) for i in sorted(c.run_id() for c in configs)]
    for config in configs:
        rows = frame[frame["run_id"] == config.run_id()]
        assert rows["step"].iloc[0] == 0 and rows["step"].is_monotonic_increasing
        for column, value in results.config_columns(config).items():
            got = rows[column].tolist()
            if value is None:
                assert all(pd.isna(g) for g in got), column
            else:
                assert got == [value] * len(rows), column
    assert frame["steps"].isna().sum() == len(frame[frame["seed"] == 1])
