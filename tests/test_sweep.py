"""Durable sweeps: config errors at the CLI, stable run ids, kill-and-resume, executors agree,
failures stay isolated. Tiny synthetic runs only (no MNIST), reference trainer unless noted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from smoothlearn import cli, results, sweep
from smoothlearn.experiments import ConfigError, load_experiment, make_config
from smoothlearn.machine import TrainedOn, cpu_info

TINY_TOML = """
name = "tiny"
seeds = 3
[base]
dataset = "synthetic-categories"
eval_every = 200
steps = 600
[[grids]]
model = ["feedforward", "leaky-reset"]
condition = ["random", "repeat-3"]
"""
SMALL = {"dataset": "synthetic-categories", "steps": 200, "eval_every": 50}
#: The reference trainer in this process, no progress bar: most tests' execution.
REF1 = sweep.Execution(engine="reference", workers=1, quiet=True)


def _counts(summary: sweep.SweepSummary) -> tuple[int, int, int, int]:
    return summary.done, summary.diverged, summary.failed, summary.skipped


def _frame(directory: Path) -> pd.DataFrame:
    return results.load(directory).sort_values(["run_id", "step"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny_toml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("exp") / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


@pytest.fixture(scope="module")
def baseline(tiny_toml, tmp_path_factory) -> pd.DataFrame:
    """The tiny grid, uninterrupted, in this process (workers=1)."""
    out = tmp_path_factory.mktemp("baseline")
    configs = load_experiment(tiny_toml).runs()
    summary = sweep.run_sweep(configs, out, REF1)
    assert (summary.total, *_counts(summary)) == (12, 12, 0, 0, 0)
    return _frame(out)


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize("setting,key", [
    ("lr=-1", "lr"), ("condition=repeat-0", "condition"), ("dataset=nope", "dataset"),
    ("bogus=1", "bogus"), ("lr", "KEY=VALUE"),
])
def test_cli_rejects_bad_settings_in_one_line(tiny_toml, tmp_path, capsys, setting, key):
    out = tmp_path / "out"
    code = cli.main(["run", str(tiny_toml), "--out", str(out), "--set", setting, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("smoothlearn run: error:") and key in err
    assert not out.exists()


def test_cli_rejects_bad_workers_and_engine(tiny_toml, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # argparse: counts must be >= 1
        cli.main(["run", str(tiny_toml), "--out", str(tmp_path), "--workers", "0"])
    assert stop.value.code == 2 and "must be at least 1" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="workers=0"):  # the Python API checks it too
        sweep.Execution(workers=0)


@pytest.mark.parametrize("settings,named", [
    ({"engine": "turbo"}, "engine='turbo'"), ({"executor": "slurm"}, "executor='slurm'"),
    ({"workers": 0}, "workers=0"), ({"workers": -2}, "workers=-2"),
])
def test_execution_is_checked_when_built_and_names_the_setting(settings, named):
    with pytest.raises(ConfigError, match=named) as err:
        sweep.Execution(**settings)
    assert "\n" not in str(err.value)


def test_execution_defaults_and_scheduler_implies_dask():
    default = sweep.Execution()
    assert (default.engine, default.executor, default.workers) == ("fast", "local", None)
    assert default.worker_count == len(os.sched_getaffinity(0))
    assert sweep.Execution(workers=3).worker_count == 3
    assert sweep.Execution(scheduler="tcp://h:8786").executor == "dask"


def test_summary_line_is_the_line_the_cli_prints():
    summary = sweep.SweepSummary(
        label="tiny", total=12, done=8, diverged=1, skipped=2, seconds=3.04,
        store=Path("runs/tiny"), failures=(sweep.FailedRun("abc", "RuntimeError: boom"),),
    )
    assert summary.failed == 1
    assert summary.line() == str(summary) == (
        "tiny: 12 runs (8 done, 1 diverged, 1 failed, 2 skipped as already done) in 3.0 s "
        "-> runs/tiny")


def test_summary_counts_a_tiny_sweep_with_one_forced_failure(tmp_path):
    good = [make_config(**SMALL, seed=s) for s in range(2)]
    bad = make_config(**SMALL, dataset_params={"n_categories": 1})  # the generator refuses it
    summary = sweep.run_sweep([*good, bad, good[0]], tmp_path, REF1)  # a duplicate counts once
    assert (summary.total, *_counts(summary)) == (3, 2, 0, 1, 0)
    assert summary.store == tmp_path and summary.seconds > 0
    (failure,) = summary.failures
    assert failure.run_id == bad.run_id()
    assert failure.message.startswith("DataError: synthetic-categories: n_categories")
    again = sweep.run_sweep([*good, bad], tmp_path, REF1)  # only the failed run is retried
    assert (again.total, *_counts(again)) == (3, 0, 0, 1, 2)


def test_missing_dask_is_a_one_line_config_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'smoothlearn\[dask\]'") as err:
        sweep.run_sweep([make_config(**SMALL)], tmp_path, sweep.Execution(executor="dask"))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "manifest.json").exists()


_IDS_SCRIPT = """
import json, sys
from smoothlearn.experiments import make_config
grid = json.loads(sys.argv[1])
print(json.dumps([make_config(**s).run_id() for s in grid]))
"""


def test_run_id_is_stable_across_processes():
    grid = [{**SMALL, "seed": s, "model": m, "dataset_params": {"noise": 0.5, "n_features": 16}}
            for s in range(2) for m in ("feedforward", "leaky-reset")]
    here = [make_config(**s).run_id() for s in grid]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # another str hash than this process's
    done = subprocess.run([sys.executable, "-c", _IDS_SCRIPT, json.dumps(grid)], env=env,
                          capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(done.stdout) == here
    assert len(set(here)) == len(here)


@pytest.mark.parametrize("key,value", [
    ("lr", 0.02), ("seed", 1), ("steps", 201), ("epochs", 2), ("eval_every", 51),
    ("hidden", 9), ("leak", 0.25), ("rmsprop_alpha", 0.9), ("rmsprop_momentum", 0.1),
    ("rmsprop_eps", 1e-7), ("reset_groups", 2), ("bptt", 11), ("order_seed", 5),
    ("init_seed", 5), ("data_seed", 5), ("eval_items", 10), ("batch_size", 2),
    ("eval_steps", [0, 100]), ("dataset_params", {"noise": 0.5}),
])
def test_run_id_changes_with_every_numeric_setting(key, value):
    assert make_config(**SMALL).run_id() != make_config(**{**SMALL, key: value}).run_id()


def test_run_id_ignores_the_experiment_label_and_survives_a_json_round_trip():
    config = make_config(**SMALL, model="leaky-reset", experiment="a")
    assert config.run_id() == make_config(**SMALL, model="leaky-reset", experiment="b").run_id()
    dumped = json.loads(json.dumps(config.model_dump(mode="json")))
    assert make_config(**dumped).run_id() == config.run_id()


# ----------------------------------------------------------------------------- batches
def test_batches_depend_on_configs_only_and_respect_caps():
    tiny = [make_config(**SMALL, seed=s, model=m) for s in range(100)
            for m in ("feedforward", "leaky")]
    batches = sweep.plan_batches(tiny, "fast")
    assert [len(b) for b in batches] == [100, 100]  # one ensemble, cut into 2 of <= 128
    assert sweep.plan_batches(tiny, "fast") == batches
    assert max(len(b) for b in sweep.plan_batches(tiny, "reference")) == sweep.CAP_REFERENCE
    mnist = [make_config(dataset="mnist", seed=s) for s in range(20)]
    assert [len(b) for b in sweep.plan_batches(mnist, "fast")] == [7, 7, 6]
    lstm = [make_config(dataset="mnist", model="lstm", seed=s) for s in range(5)]
    assert [len(b) for b in sweep.plan_batches(lstm, "fast")] == [1] * 5  # minutes a run
    assert [len(b) for b in sweep.plan_batches(lstm, "reference")] == [3, 2]
    mixed = [make_config(**SMALL, seed=s, lr=lr) for lr in (0.01, 0.1) for s in range(3)]
    assert [{c.lr for c in b} for b in sweep.plan_batches(mixed, "fast")] == [{0.01}, {0.1}]


# ----------------------------------------------------------------------------- resume
def _live_members(pgid: int) -> list[int]:
    """Processes of a process group that are not zombies (Linux /proc)."""
    live = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(entry.name))
    return live


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_kill_minus_9_then_rerun_gives_the_uninterrupted_numbers(
    tiny_toml, tmp_path, baseline, capsys
):
    """SIGKILL a CLI sweep (2 pool workers) once runs start landing; the same command then
    computes only what is missing, and the store equals the in-process (workers=1) sweep."""
    out = tmp_path / "killed"
    argv = ["run", str(tiny_toml), "--out", str(out), "--engine", "reference", "--workers", "2",
            "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "smoothlearn.cli", *argv],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list((out / "runs").glob("*.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        counts = results.status(out)
        assert 0 < counts["done"] and counts["missing"] > 0, counts
        deadline = time.monotonic() + 15  # pool workers notice that their parent died
        while _live_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _live_members(proc.pid)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert cli.main(argv) == 0  # the same command again: only the missing runs
    done, missing = counts["done"], counts["missing"]
    assert (f"tiny: 12 runs ({missing} done, 0 diverged, 0 failed, {done} skipped as already "
            "done)") in capsys.readouterr().out
    assert results.status(out) == {"done": 12, "diverged": 0, "failed": 0, "corrupt": 0,
                                   "running": 0, "missing": 0, "total": 12}
    pd.testing.assert_frame_equal(_frame(out), baseline, check_exact=True)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- executors
def test_dask_gives_bit_identical_numbers(tiny_toml, tmp_path, baseline):
    """Dask's own LocalCluster (2 workers), and an existing cluster through its address, agree
    with the in-process sweep (the kill test above compares the local pool with it)."""
    distributed = pytest.importorskip("distributed")
    configs = load_experiment(tiny_toml).runs()
    dask = sweep.Execution(engine="reference", executor="dask", workers=2, quiet=True)
    assert sweep.run_sweep(configs, tmp_path / "dask", dask).done == 12
    pd.testing.assert_frame_equal(_frame(tmp_path / "dask"), baseline, check_exact=True)

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        remote = sweep.Execution(engine="reference", scheduler=cluster.scheduler_address,
                                 quiet=True)
        assert remote.executor == "dask"  # a scheduler address implies Dask
        assert sweep.run_sweep(configs[:4], tmp_path / "remote", remote).done == 4
    remote = _frame(tmp_path / "remote")
    pd.testing.assert_frame_equal(
        remote, baseline[baseline["run_id"].isin(set(remote["run_id"]))].reset_index(drop=True),
        check_exact=True,
    )


def test_fast_engine_curves_are_bit_identical_through_the_pool_and_dask(tmp_path):
    """The compiled engine in 2 pool workers and in 2 Dask worker processes: the same run
    gives the same curves bit for bit, whichever process trains it (its sums no longer
    depend on where a process's allocator puts the kernels' scratch arrays)."""
    pytest.importorskip("distributed")
    pytest.importorskip("smoothlearn.engine")
    configs = [make_config(**SMALL, seed=s, model=m, condition=c, optimizer=o)
               for s in range(1) for m in ("feedforward", "leaky-reset")
               for c in ("random", "repeat-3") for o in ("sgd", "rmsprop")]
    for executor in ("local", "dask"):
        execution = sweep.Execution(executor=executor, workers=2, quiet=True)
        assert sweep.run_sweep(configs, tmp_path / executor, execution).done == len(configs)
    pd.testing.assert_frame_equal(_frame(tmp_path / "dask"), _frame(tmp_path / "local"),
                                  check_exact=True)


def test_the_local_dask_cluster_keeps_glibc_trimming_and_the_sweep_process_can_compile(
    monkeypatch,
):
    """Workers of the sweep's own LocalCluster run without Dask's 64 KiB heap trimming (which
    made them page-fault the evaluation's scratch afresh at every point) unless this process's
    environment sets it (as any cluster started with Dask's defaults in it leaves it: removed
    here); the nanny writes its variables into this process's environment too, so none may be
    a thread count that numba would see at its next compile here."""
    pytest.importorskip("distributed")
    from numba import njit

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)

    before = os.environ.get("NUMBA_NUM_THREADS")
    with sweep._dask_client(2, None) as client:
        trim = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
        blas = client.run(os.environ.get, "OPENBLAS_NUM_THREADS")
    assert len(trim) == 2 and set(trim.values()) == {None}
    assert set(blas.values()) == {"1"}  # Dask's own setting, kept: one math thread each
    assert os.environ.get("NUMBA_NUM_THREADS") == before

    @njit
    def fresh(x: int) -> int:  # a compile after the cluster: numba re-reads its settings
        return x + 1

    assert fresh(1) == 2


def test_fast_engine_numbers_do_not_depend_on_batching(tmp_path):
    pytest.importorskip("smoothlearn.engine")
    configs = [make_config(**SMALL, seed=s, model=m, condition=c) for s in range(3)
               for m in ("feedforward", "leaky-reset") for c in ("random", "repeat-3")]
    one = sweep.Execution(workers=1, quiet=True)
    sweep.run_sweep(configs, tmp_path / "one", one)
    sweep.run_sweep(configs[::2], tmp_path / "two", one,
                    max_batch=2)  # a resumed sweep cuts different batches
    two = sweep.Execution(workers=2, quiet=True)
    assert sweep.run_sweep(configs, tmp_path / "two", two, max_batch=5).skipped == 6
    pd.testing.assert_frame_equal(_frame(tmp_path / "two"), _frame(tmp_path / "one"),
                                  check_exact=True)


# ----------------------------------------------------------------------------- failures
def test_a_run_that_raises_fails_alone_and_is_retried_next_time(monkeypatch, tmp_path, capsys):
    from smoothlearn import runs

    real = runs._prepare

    def flaky(spec):
        if spec.seed == 1:
            raise RuntimeError("boom\nsecond line")
        return real(spec)

    configs = [make_config(**SMALL, seed=s) for s in range(4)]
    assert len(sweep.plan_batches(configs, "reference")) == 1  # the bad run has batch-mates
    monkeypatch.setattr(runs, "_prepare", flaky)
    summary = sweep.run_sweep(configs, tmp_path, REF1)
    assert _counts(summary) == (3, 0, 1, 0)
    assert summary.failures == (
        sweep.FailedRun(configs[1].run_id(), "RuntimeError: boom second line"),)
    assert "(3 done, 0 diverged, 1 failed, 0 skipped as already done) in " in summary.line()
    assert "failed: RuntimeError: boom second line" in capsys.readouterr().err
    table = results.status_table(tmp_path).set_index("seed")
    assert table.loc[1, "status"] == "failed"
    assert table.loc[1, "message"] == "RuntimeError: boom second line"
    assert set(results.load(tmp_path)["seed"]) == {0, 2, 3}

    monkeypatch.setattr(runs, "_prepare", real)
    assert _counts(sweep.run_sweep(configs, tmp_path, REF1)) == (1, 0, 0, 3)
    assert results.status(tmp_path)["done"] == 4


def test_a_failure_inside_a_worker_process_is_recorded(tmp_path):
    good = [make_config(**SMALL, seed=s) for s in range(3)]
    bad = make_config(**SMALL, dataset_params={"n_categories": 1})
    summary = sweep.run_sweep([*good, bad], tmp_path,
                              sweep.Execution(engine="reference", workers=2, quiet=True))
    assert _counts(summary) == (3, 0, 1, 0)
    assert [f.run_id for f in summary.failures] == [bad.run_id()]
    record = json.loads((tmp_path / "runs" / f"{bad.run_id()}.json").read_text())
    assert record["status"] == "failed"
    assert record["message"].startswith("DataError: synthetic-categories: n_categories")
    assert "Traceback" in record["traceback"]
    assert not (tmp_path / "curves" / f"{bad.run_id()}.parquet").exists()
    done = json.loads((tmp_path / "runs" / f"{good[0].run_id()}.json").read_text())
    assert done["trained_on"] == TrainedOn.here().record()  # as the worker process saw it


def test_each_record_names_the_cpu_and_device_that_trained_it(tmp_path):
    config = make_config(**SMALL)
    sweep.run_sweep([config], tmp_path, REF1)
    record = json.loads((tmp_path / "runs" / f"{config.run_id()}.json").read_text())
    info = cpu_info()
    assert record["trained_on"] == {"cpu": f"{info.model} ({info.llvm_name})",
                                    "cpu_features": info.features(), "device": "cpu"}
    assert results.status(tmp_path)["done"] == 1  # the store still reads it


class _KillsItsWorker:
    """Unpickling this in a worker ends that process at once, as an OOM kill would."""

    def __reduce__(self):
        return (os._exit, (3,))


def test_a_batch_that_kills_its_worker_fails_alone():
    good = [make_config(**{**SMALL, "steps": 100}, seed=s) for s in range(2)]
    payloads = [[{**c.model_dump(mode="json"), "_run_id": c.run_id()}] for c in good]
    killer = [{"_run_id": "killer", "boom": _KillsItsWorker()}]
    got: list[sweep.RunResult] = []
    sweep._run_pool([payloads[0], killer, payloads[1]], "reference", 2, got.extend)
    assert {r.run_id: r.status for r in got} == {
        good[0].run_id(): "trained", good[1].run_id(): "trained", "killer": "failed"}
    assert "worker process died" in next(r.message for r in got if r.run_id == "killer")


POOL2 = sweep.Execution(engine="reference", workers=2, quiet=True)


def test_sweeps_inside_shared_workers_start_one_pool_and_give_the_same_numbers(
        tiny_toml, baseline, tmp_path):
    """reproduce runs one sweep per experiment inside ``shared_workers``: the second sweep
    reuses the first one's workers, and every number equals the in-process baseline."""
    configs = load_experiment(tiny_toml).runs()
    with sweep.shared_workers(POOL2) as pool:
        first = sweep.run_sweep(configs[:6], tmp_path / "a", POOL2)
        second = sweep.run_sweep(configs[6:], tmp_path / "b", POOL2)
    assert (first.done, second.done, pool.started) == (6, 6, 1)
    both = pd.concat([_frame(tmp_path / "a"), _frame(tmp_path / "b")])
    pd.testing.assert_frame_equal(both.sort_values(["run_id", "step"]).reset_index(drop=True),
                                  baseline)


def test_shared_workers_only_for_a_local_pool():
    for execution in (REF1, sweep.Execution(executor="dask", workers=2)):
        with sweep.shared_workers(execution) as pool:
            assert pool is None


def test_a_shared_pool_whose_worker_died_between_sweeps_is_replaced(tmp_path):
    runs = [make_config(**SMALL, seed=s) for s in range(4)]
    with sweep.shared_workers(POOL2) as pool:
        assert _counts(sweep.run_sweep(runs[:2], tmp_path / "a", POOL2)) == (2, 0, 0, 0)
        os.kill(pool.executor().submit(os.getpid).result(), signal.SIGKILL)
        time.sleep(1.0)  # the executor sees the dead worker and marks itself broken
        assert _counts(sweep.run_sweep(runs[2:], tmp_path / "b", POOL2)) == (2, 0, 0, 0)
    assert pool.started == 2


def test_a_batch_that_kills_a_shared_worker_fails_alone():
    good = [make_config(**{**SMALL, "steps": 100}, seed=s) for s in range(2)]
    payloads = [[{**c.model_dump(mode="json"), "_run_id": c.run_id()}] for c in good]
    killer = [{"_run_id": "killer", "boom": _KillsItsWorker()}]
    got: list[sweep.RunResult] = []
    with sweep.shared_workers(POOL2) as pool:
        sweep._run_pool([payloads[0], killer, payloads[1]], "reference", 2, got.extend)
        broken = pool.started
        after: list[sweep.RunResult] = []
        sweep._run_pool(payloads, "reference", 2, after.extend)  # the pool works again
    assert {r.run_id: r.status for r in got} == {
        good[0].run_id(): "trained", good[1].run_id(): "trained", "killer": "failed"}
    assert broken >= 2 and [r.status for r in after] == ["trained", "trained"]


def test_cli_exit_status_reports_failures(tmp_path, capsys):
    exp = tmp_path / "bad.toml"
    exp.write_text('name = "bad"\nseeds = 1\n[base]\ndataset = "synthetic-categories"\n'
                   'steps = 100\n[[grids]]\ndataset_params = [{n_categories = 1}, {}]\n')
    argv = ["run", str(exp), "--out", str(tmp_path / "o"), "--engine", "reference",
            "--workers", "1", "--quiet"]
    assert cli.main(argv) == 1
    assert "bad: 2 runs (1 done, 0 diverged, 1 failed" in capsys.readouterr().out


def test_diverged_runs_are_done_and_stop_at_divergence(tmp_path):
    configs = [make_config(**SMALL, loss="ce", lr=lr) for lr in (0.01, 1e30)]
    assert _counts(sweep.run_sweep(configs, tmp_path, REF1)) == (1, 1, 0, 0)
    frame = results.load(tmp_path)
    blown = frame[frame["lr"] == 1e30]
    assert blown["diverged"].all() and blown["step"].max() < 200
    assert frame[["test_mse", "test_ce", "test_acc"]].notna().all().all()
    assert results.summary(frame)["n_diverged"].tolist() == [0, 1]
    summary = sweep.run_sweep(configs, tmp_path, REF1)
    assert _counts(summary) == (0, 0, 0, 2)  # diverged is final
    assert results.status(tmp_path)["diverged"] == 1


def test_progress_bar_goes_to_stderr_unless_quiet(tmp_path, capsys):
    configs = [make_config(**SMALL, seed=s) for s in range(2)]
    sweep.run_sweep(configs, tmp_path / "a", sweep.Execution(engine="reference", workers=1))
    err = capsys.readouterr().err
    assert "2/2" in err and "net-steps/s" in err
    sweep.run_sweep(configs, tmp_path / "b", REF1)
    assert capsys.readouterr().err == ""


def _worker_threads() -> tuple[str, int, int]:
    import numba
    import torch

    return os.environ["OMP_NUM_THREADS"], torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS


def test_pool_workers_use_one_math_thread():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=sweep._init_worker) as pool:
        assert pool.submit(_worker_threads).result(timeout=60) == ("1", 1, 1)
