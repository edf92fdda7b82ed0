"""Durable sweeps: run a grid of configs into a results store, resumably, on any executor.

:func:`run_sweep` skips every run the store already holds (done or diverged), cuts the rest
into *batches* of compatible runs and hands them to an executor:

* ``local`` (default): a process pool over all cores (``spawn`` context: torch and numba do
  not survive ``fork`` reliably), one math thread per worker; ``workers=1`` runs in-process.
  Sweeps inside :func:`shared_workers` (``reproduce`` runs all of its in one) share the
  pool, so its workers start, import and load their kernels once;
* ``dask``: a ``distributed.LocalCluster`` on this machine, or an existing cluster given by
  ``scheduler="tcp://HOST:PORT"`` (SLURM, Kubernetes, cloud: see ``docs/sweeps.md``).

These choices travel as one checked :class:`Execution`; the sweep answers with a
:class:`SweepSummary` (counts, failed runs, time, store) that callers read by field.

Workers only compute; the calling process writes every result to the store as it arrives
(:class:`smoothlearn.results.Store`, atomic files), so workers need no shared filesystem and
a ``kill -9`` at any moment loses at most the runs in flight.

Batches are formed from the config list alone, never from the worker count, and each network
of an ensemble is independent of its batch-mates, so the numbers are bit-identical across
executors, worker counts and interrupted-then-resumed sweeps.

This module imports only the standard library at load time: a pool worker must set its
thread limits before numpy, torch or numba are first imported.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smoothlearn.machine import TrainedOn

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from smoothlearn.experiments import RunConfig
    from smoothlearn.results import Problem, Store

__all__ = ["Execution", "SweepSummary", "FailedRun", "run_sweep", "run_batch", "plan_batches",
           "ensemble_key", "RunResult", "check_device", "WorkerPool", "shared_workers"]

EXECUTORS = ("local", "dask")
ENGINES = ("fast", "reference")
#: Thread-count variables of OpenMP, BLAS libraries and numba; read when they are imported.
THREAD_VARS = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
)
#: Changes to Dask's environment for the workers a sweep starts itself (a LocalCluster), set
#: before they are spawned (None removes a variable; Dask's one math thread each stays):
#: glibc's own heap trimming, unless the sweep process's environment sets a threshold. Dask's
#: default sets ``MALLOC_TRIM_THRESHOLD_`` to 64 KiB, which also switches off glibc's sliding
#: mmap threshold, so every large temporary array of the engine was mapped and page-faulted
#: afresh: on the bench's Fig 2 grid a Dask worker took 3.8 million page faults to a pool
#: worker's 0.12 million, and each batch 15-20% longer. Only removals belong here: Dask's
#: nanny also writes these variables into the sweep process's own environment (a
#: ``NUMBA_NUM_THREADS`` there breaks numba's next compile in it).
DASK_WORKER_ENV: dict[str, int | None] = {"MALLOC_TRIM_THRESHOLD_": None}
#: Networks per batch for the fast engine: large inputs (MNIST, d_in >= 100) and tiny nets.
LARGE_INPUT = 100
CAP_LARGE = 8
CAP_SMALL = 128
#: Runs per batch for the reference trainer (one run at a time anyway; a batch only
#: amortises task overhead).
CAP_REFERENCE = 4
#: Failed runs printed to stderr before the rest are only counted.
SHOW_FAILURES = 10


# ----------------------------------------------------------------------------- options
@dataclass(frozen=True)
class Execution:
    """Where and how runs are trained, checked once when built (a ConfigError names the bad
    setting), then passed whole to every layer that trains: sweep, reproduce, robustness.

    ``engine``: ``"fast"`` or ``"reference"``; ``executor``: ``"local"`` (a process pool) or
    ``"dask"``; ``workers``: processes (None: one per core); ``scheduler``:
    ``tcp://HOST:PORT`` of an existing Dask cluster (implies ``executor="dask"``); ``quiet``:
    no progress bars or progress lines; ``device``: None (the compiled CPU engine) or the
    torch device (:func:`check_device`) on which the fast engine trains batched ensembles;
    it is how runs are computed, not what they are (run ids do not depend on it).
    """

    engine: str = "fast"
    executor: str = "local"
    workers: int | None = None
    scheduler: str | None = None
    quiet: bool = False
    device: str | None = None

    def __post_init__(self) -> None:
        from smoothlearn.experiments import ConfigError

        if self.engine not in ENGINES:
            raise ConfigError(f"engine={self.engine!r}; allowed: {', '.join(ENGINES)}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor={self.executor!r}; allowed: {', '.join(EXECUTORS)}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers={self.workers}: need at least 1")
        if self.device is not None and self.engine != "fast":
            raise ConfigError(f"device={self.device!r} needs engine='fast'; the reference "
                              "trainer runs on the CPU only")
        check_device(self.device)
        if self.scheduler:
            object.__setattr__(self, "executor", "dask")

    @property
    def worker_count(self) -> int:
        """``workers``, or the cores this process may use."""
        return self.workers or len(os.sched_getaffinity(0))


def check_device(device: str | None) -> None:
    """``device`` is None, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` of a GPU torch can use; else
    a one-line ConfigError naming ``device``. torch is imported only for a CUDA device."""
    from smoothlearn.experiments import ConfigError

    if device is None or device == "cpu":
        return
    if not isinstance(device, str) or not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConfigError(f"device={device!r}; allowed: cpu, cuda, cuda:N (e.g. cuda:0)")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"device={device!r}: torch sees no CUDA GPU here (torch.cuda."
                          "is_available() is False); leave the device out to train on the CPU")
    if int(device.partition(":")[2] or 0) >= (count := torch.cuda.device_count()):
        raise ConfigError(f"device={device!r}: only {count} CUDA device(s) here")


# ----------------------------------------------------------------------------- batches
def ensemble_key(config: RunConfig) -> str:
    """Runs with equal keys share data, layer shapes, training settings and length
    (:meth:`~smoothlearn.experiments.RunSpec.ensemble_key`)."""
    return config.spec().ensemble_key()


def _input_size(config: RunConfig) -> int:
    from smoothlearn.data import dataset_info

    return dataset_info(config.dataset).input_size_for(config.dataset_params)


def batch_cap(config: RunConfig, engine: str) -> int:
    """Most runs per batch: small enough to spread a grid over many workers; the fast
    engine's cap is the run's family's (:data:`smoothlearn.families.FAMILIES`)."""
    if engine == "reference":
        return CAP_REFERENCE
    cap = config.spec().family.batch_cap
    if cap is not None:
        return cap
    return CAP_LARGE if _input_size(config) >= LARGE_INPUT else CAP_SMALL


def plan_batches(
    configs: Sequence[RunConfig], engine: str = "fast", max_batch: int | None = None
) -> list[list[RunConfig]]:
    """Compatible runs in config order, cut into near-equal batches of at most the cap.

    Runs that differ only in their test protocol (one training, :func:`runs.run_many`) stay
    in one batch, and the cap counts them once. Depends on the configs (and engine) only,
    so every executor gets the same batches.
    """
    groups: dict[str, dict[str, list[RunConfig]]] = {}
    for config in configs:
        trainings = groups.setdefault(ensemble_key(config), {})
        trainings.setdefault(config.training_key(), []).append(config)
    batches = []
    for trainings in groups.values():
        units = list(trainings.values())
        cap = max_batch or batch_cap(units[0][0], engine)
        count = math.ceil(len(units) / cap)
        size, extra = divmod(len(units), count)
        start = 0
        for i in range(count):
            stop = start + size + (i < extra)
            batches.append([c for unit in units[start:stop] for c in unit])
            start = stop
    return batches


# ----------------------------------------------------------------------------- worker side
@dataclass
class RunResult:
    """What a worker sends back for one run: plain data, no pandas or torch objects."""

    run_id: str
    status: str  # "trained" or "failed"; the store decides done/diverged from the curve
    message: str = ""
    trace: str = ""
    seconds: float = 0.0
    engine: str = ""
    diverged: bool = False
    classify: bool = True
    curve: dict[str, Any] = field(default_factory=dict)
    trained_on: TrainedOn | None = None  # the worker's CPU and device

    @property
    def steps(self) -> int:
        """Network-steps this run trained (up to its last evaluation), for the progress bar."""
        steps = self.curve.get("step")
        return int(steps[-1]) if steps is not None and len(steps) else 0


def limit_threads() -> None:
    """One math thread in this process: env vars for libraries not imported yet (torch and
    numba read them at import), and torch's setting if it is already loaded."""
    for var in THREAD_VARS:
        os.environ[var] = "1"
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _watch_parent() -> None:
    """Exit when the sweep process dies (even by SIGKILL), so no worker is left orphaned."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def wait() -> None:
        from multiprocessing.connection import wait as wait_for

        wait_for([parent.sentinel])
        os._exit(70)

    threading.Thread(target=wait, name="smoothlearn-parent-watch", daemon=True).start()


def _init_worker() -> None:
    """Pool initializer; runs before this worker imports numpy, torch or numba."""
    limit_threads()
    _watch_parent()


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or repr(err)
    return f"{type(err).__name__}: {text}"[:1000]


def _failed(run_id: str, err: BaseException, engine: str) -> RunResult:
    trace = "".join(traceback.format_exception(err))[-4000:]
    return RunResult(run_id, "failed", _one_line(err), trace=trace, engine=engine)


def _train(configs: Sequence[RunConfig], engine: str, device: str | None) -> list[RunResult]:
    from smoothlearn.runs import run_many

    start = time.perf_counter()
    curves = run_many(configs, engine=engine, threads=1, device=device)  # type: ignore[arg-type]
    seconds = (time.perf_counter() - start) / len(configs)
    here = TrainedOn.here(device)
    out = []
    for config, curve in zip(configs, curves, strict=True):
        out.append(RunResult(
            run_id=config.run_id(), status="trained", seconds=seconds, engine=engine,
            diverged=bool(curve.diverged), classify=config.spec().task == "classify",
            curve={"step": curve.steps, "test_mse": curve.test_mse, "test_ce": curve.test_ce,
                   "test_acc": curve.test_acc}, trained_on=here,
        ))
    return out


def _train_each(payload: Sequence[dict[str, Any]], engine: str,
                device: str | None) -> list[RunResult]:
    """One run at a time, so that a bad run fails alone."""
    from smoothlearn.experiments import RunConfig

    out = []
    for dump in payload:
        run_id = str(dump.get("_run_id", "?"))
        try:
            out.extend(_train([RunConfig(**_config_dump(dump))], engine, device))
        except Exception as err:
            out.append(_failed(run_id, err, engine))
    return out


def _config_dump(dump: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dump.items() if k != "_run_id"}


def run_batch(
    payload: Sequence[dict[str, Any]], engine: str, limit: bool = True,
    device: str | None = None,
) -> list[RunResult]:
    """Train one batch (config dumps, each with its ``_run_id``); never raises for a run.

    The batch is trained as one call (one ensemble where the engine allows; on ``device``
    when given, see :class:`Execution`); if that raises, its runs are retried one at a time
    and only the bad ones are reported failed.
    """
    if limit:
        limit_threads()
    try:
        from smoothlearn.experiments import RunConfig

        configs = [RunConfig(**_config_dump(d)) for d in payload]
        results = _train(configs, engine, device)
    except Exception as err:
        if len(payload) == 1:
            return [_failed(str(payload[0].get("_run_id", "?")), err, engine)]
        return _train_each(payload, engine, device)
    for dump, result in zip(payload, results, strict=True):
        if result.run_id != dump["_run_id"]:  # a worker with another smoothlearn version
            raise RuntimeError(f"run_id mismatch in worker: {result.run_id} != "
                               f"{dump['_run_id']}; install the same smoothlearn everywhere")
    return results


# ----------------------------------------------------------------------------- executors
Sink = Callable[[list[RunResult]], None]


def _failed_batch(payload: Sequence[dict[str, Any]], err: BaseException) -> list[RunResult]:
    return [_failed(str(d["_run_id"]), err, "") for d in payload]


def _run_in_process(payloads: list[list[dict]], engine: str, sink: Sink,
                    device: str | None = None) -> None:
    from smoothlearn.engine.runtime import torch_threads

    with torch_threads(1):  # one torch thread, as pool workers have
        for payload in payloads:
            sink(run_batch(payload, engine, limit=False, device=device))


@contextmanager
def _child_environment() -> Iterator[None]:
    """Thread limits in the environment while pool workers are spawned.

    A spawned worker imports the parent's main module (e.g. the CLI, which imports numpy)
    before its initializer runs, so the limits must already be in the environment it
    inherits; they are restored here afterwards.
    """
    saved = {var: os.environ.get(var) for var in THREAD_VARS}
    os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


class WorkerPool(Executor):
    """Spawned worker processes that several sweeps share (:func:`shared_workers`); other
    work can be sent to them too (:meth:`submit`: ``reproduce`` draws its figures there).

    Why: a pool sweep pays its workers' start (each imports torch and numba, then loads its
    compiled kernels and data on its first run) and their exit, about 5 s of wall time on the
    2-core AMD EPYC; ``reproduce --quick`` ran ten such sweeps, one per experiment. Shared,
    the workers start once and keep what they loaded. A pool that a dying worker broke is
    dropped, and the next round starts a fresh one.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.started = 0  # executors started so far (a broken one is replaced)
        self._executor: ProcessPoolExecutor | None = None

    def executor(self) -> ProcessPoolExecutor:
        """The running executor, started on first use or after :meth:`discard`."""
        if self._executor is None:
            self._executor = _new_executor(self.workers)
            self.started += 1
        return self._executor

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """``fn(*args, **kwargs)`` in a worker; a pool broken since its last use is replaced."""
        from concurrent.futures.process import BrokenProcessPool

        with _child_environment():  # workers are spawned by the submits
            try:
                return self.executor().submit(fn, *args, **kwargs)
            except BrokenProcessPool:
                self.discard()
                return self.executor().submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """As :meth:`close` (``wait``) or :meth:`discard`, for the Executor interface."""
        if wait and not cancel_futures:
            self.close()
        else:
            self.discard()

    def discard(self) -> None:
        """Drop the executor (broken, or left with work cancelled); pending work is cancelled."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        """Stop the workers after the work they were given."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


_SHARED_POOL: ContextVar[WorkerPool | None] = ContextVar("smoothlearn_shared_pool",
                                                         default=None)


@contextmanager
def shared_workers(execution: Execution) -> Iterator[WorkerPool | None]:
    """Let the local pool sweeps inside the block share one :class:`WorkerPool` of
    ``execution.worker_count`` processes (None, and nothing shared, for other executors or
    one worker). A sweep's numbers do not depend on it: batches are the same, and each run is
    computed from its config alone."""
    if execution.executor != "local" or execution.worker_count < 2:
        yield None
        return
    pool = WorkerPool(execution.worker_count)
    token = _SHARED_POOL.set(pool)
    try:
        yield pool
    except BaseException:
        pool.discard()
        raise
    finally:
        _SHARED_POOL.reset(token)
        pool.close()


def _new_executor(workers: int) -> ProcessPoolExecutor:
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)


def _submit(pool: ProcessPoolExecutor, payloads: list[list[dict]], engine: str,
            device: str | None) -> dict[Future, list[dict]]:
    with _child_environment():  # workers are spawned by the submits
        return {pool.submit(run_batch, p, engine, device=device): p for p in payloads}


def _pool_round(
    payloads: list[list[dict]], engine: str, workers: int, sink: Sink,
    device: str | None = None,
) -> list[list[dict]]:
    """Run batches in one spawn-context pool (the shared one when :func:`shared_workers` holds
    one of this size); return those lost to a worker that died."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    shared = _SHARED_POOL.get()
    if shared is not None and shared.workers != workers:
        shared = None
    pool = shared.executor() if shared else _new_executor(min(workers, len(payloads)))
    lost, clean = [], False
    try:
        try:
            futures = _submit(pool, payloads, engine, device)
        except BrokenProcessPool:  # a shared pool whose worker died since its last sweep
            if shared is None:
                raise
            shared.discard()
            pool = shared.executor()
            futures = _submit(pool, payloads, engine, device)
        for future in as_completed(futures):
            try:
                results = future.result()
            except BrokenProcessPool:
                lost.append(futures[future])
                continue
            except Exception as err:  # e.g. a result that cannot be unpickled
                results = _failed_batch(futures[future], err)
            sink(results)  # outside the try: a store that cannot be written stops the sweep
        clean = True
    finally:
        if shared is None:
            pool.shutdown(wait=clean, cancel_futures=True)
        elif lost or not clean:
            shared.discard()
    return lost


def _run_pool(payloads: list[list[dict]], engine: str, workers: int, sink: Sink,
              device: str | None = None) -> None:
    """All batches in a process pool. When a worker dies (killed, out of memory), every batch
    still pending is lost with it: those get one more shared pool, then a pool each, so that
    only a batch that kills its worker when alone is marked failed."""
    lost = _pool_round(payloads, engine, workers, sink, device)
    if lost:
        lost = _pool_round(lost, engine, workers, sink, device)
    for payload in lost:
        if _pool_round([payload], engine, 1, sink, device):
            why = RuntimeError("worker process died (killed, crashed or out of memory)")
            sink(_failed_batch(payload, why))


def _import_distributed() -> Any:
    from smoothlearn.experiments import ConfigError

    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "executor 'dask' needs Dask: pip install 'smoothlearn[dask]'"
        ) from None
    return distributed


@contextmanager
def _dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A client of an existing cluster (``scheduler``) or of a LocalCluster we own."""
    from smoothlearn.experiments import ConfigError

    distributed = _import_distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as err:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler}: {err}") from None
        with client:
            yield client
        return
    import dask

    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **DASK_WORKER_ENV}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
            distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        yield client


def _run_dask(payloads: list[list[dict]], execution: Execution, sink: Sink) -> None:
    distributed = _import_distributed()
    with _dask_client(execution.worker_count, execution.scheduler) as client:
        futures = [client.submit(run_batch, p, execution.engine, device=execution.device,
                                 pure=False) for p in payloads]  # fmt: skip
        by_key = {f.key: p for f, p in zip(futures, payloads, strict=True)}
        for future in distributed.as_completed(futures):
            try:
                results = future.result()
            except Exception as err:  # the worker died repeatedly, or the task was lost
                results = _failed_batch(by_key[future.key], err)
            future.release()
            sink(results)


# ----------------------------------------------------------------------------- the sweep
class _Tally:
    """Writes arriving results to the store and keeps the counts and the progress bar."""

    def __init__(self, store: Store, configs: dict[str, RunConfig], total: int, label: str,
                 quiet: bool) -> None:
        from tqdm import tqdm

        self.store, self.configs = store, configs
        self.counts = {"done": 0, "diverged": 0, "failed": 0}
        self.failures: list[FailedRun] = []
        self.net_steps, self.start = 0, time.perf_counter()
        self.bar = tqdm(total=total, desc=label, unit="run", file=sys.stderr,
                        disable=quiet or total == 0,
                        dynamic_ncols=True)

    def __call__(self, results: list[RunResult]) -> None:
        for result in results:
            state = self._write(result)
            self.counts[state] += 1
            if state == "failed":
                self.failures.append(FailedRun(result.run_id, result.message))
                self._report(result)
            self.net_steps += result.steps
        rate = self.net_steps / max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{_si(rate)} net-steps/s", refresh=False)
        self.bar.update(len(results))

    def _write(self, result: RunResult) -> str:
        from smoothlearn.results import clean_curve, config_columns

        config = self.configs[result.run_id]
        record: dict[str, Any] = {
            "run_id": result.run_id, "message": result.message, "engine": result.engine,
            "seconds": round(result.seconds, 6), "config": config.model_dump(mode="json"),
            "columns": config_columns(config),
        }
        if result.trained_on is not None:
            record["trained_on"] = result.trained_on.record()
        if result.status == "failed":
            self.store.write_run({**record, "status": "failed", "traceback": result.trace},
                                 None)
            return "failed"
        c = result.curve
        curve, cut = clean_curve(c["step"], c["test_mse"], c["test_ce"], c["test_acc"],
                                 result.classify)
        state = "diverged" if result.diverged or cut else "done"
        record.update(status=state, points=len(curve),
                      last_step=int(curve["step"].iloc[-1]) if len(curve) else None)
        self.store.write_run(record, curve)
        return state

    def _report(self, result: RunResult) -> None:
        shown = self.counts["failed"]
        if shown <= SHOW_FAILURES:
            config = self.configs[result.run_id]
            self.bar.write(f"run {result.run_id} ({config.model}, {config.condition}, seed "
                           f"{config.seed}) failed: {result.message}", file=sys.stderr)
        elif shown == SHOW_FAILURES + 1:
            self.bar.write("more runs failed; see smoothlearn.results.status_table(DIR)",
                           file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def _si(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.1f}{suffix}"
    return f"{value:.0f}"


def _label(configs: Sequence[RunConfig]) -> str:
    names = list(dict.fromkeys(c.experiment for c in configs))
    return ",".join(names) if 0 < len(names) <= 3 else "sweep"


@dataclass(frozen=True)
class FailedRun:
    """A run that raised, with the one-line error the store also keeps."""

    run_id: str
    message: str


@dataclass(frozen=True)
class SweepSummary:
    """What one :func:`run_sweep` did: counts by outcome, time and where the store is.

    ``total`` counts distinct runs; ``skipped`` of them were already in the store (done or
    diverged), ``elsewhere`` were being computed by another process on the same store, and
    ``done + diverged + failed`` were trained now.
    """

    label: str
    total: int
    done: int
    diverged: int
    skipped: int
    seconds: float
    store: Path
    failures: tuple[FailedRun, ...] = ()
    elsewhere: int = 0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def line(self) -> str:
        """The one human line the CLI prints."""
        return (
            f"{self.label}: {self.total} runs ({self.done} done, {self.diverged} diverged, "
            f"{self.failed} failed, {self.skipped} skipped as already done"
            f"{f', {self.elsewhere} left to another process' if self.elsewhere else ''}) in "
            f"{self.seconds:.1f} s -> {self.store}"
        )

    def __str__(self) -> str:
        return self.line()


def run_sweep(
    configs: Sequence[RunConfig],
    out: str | os.PathLike[str],
    execution: Execution = Execution(),
    max_batch: int | None = None,
) -> SweepSummary:
    """Compute every run of ``configs`` that ``out`` does not hold yet; return what was done.

    ``execution`` says which engine trains and where (:class:`Execution`); ``max_batch`` caps
    trainings per batch (default: :func:`batch_cap`; see :func:`plan_batches`). Failed runs
    are recorded and computed again by the next sweep; the sweep itself goes on.
    """
    from smoothlearn.results import Store

    start = time.perf_counter()
    if execution.executor == "dask":
        _import_distributed()
    engine, workers = execution.engine, execution.worker_count
    by_id: dict[str, RunConfig] = {}
    for config in configs:  # duplicates (e.g. the same run under two labels): first wins
        by_id.setdefault(config.run_id(), config)
    store = Store(out).open()
    store.write_manifest(
        ({"run_id": i, "config": c.model_dump(mode="json")} for i, c in by_id.items()),
        refresh=by_id,
    )
    finished, unusable = store.scan(by_id)
    _warn_unreadable(unusable, execution.quiet)  # the sweep's own runs: scan(by_id)
    mine, elsewhere = store.claim(i for i in by_id if i not in finished)
    todo = [by_id[i] for i in mine]
    label = _label(list(by_id.values()))
    tally = _Tally(store, by_id, len(todo), label, execution.quiet)
    try:
        payloads = [
            [{**c.model_dump(mode="json"), "_run_id": c.run_id()} for c in batch]
            for batch in plan_batches(todo, engine, max_batch)
        ]
        if not payloads:
            pass
        elif execution.executor == "dask":
            _run_dask(payloads, execution, tally)
        elif workers == 1 or len(todo) == 1:  # a pool would only add start-up time
            _run_in_process(payloads, engine, tally, execution.device)
        else:
            _run_pool(payloads, engine, workers, tally, execution.device)
    finally:
        tally.close()
        store.claims.release_all()
        store.write_manifest([], refresh=by_id)
    n = tally.counts
    return SweepSummary(
        label=label, total=len(by_id), done=n["done"], diverged=n["diverged"],
        skipped=len(by_id) - len(todo) - len(elsewhere), seconds=time.perf_counter() - start,
        store=Path(out), failures=tuple(tally.failures), elsewhere=len(elsewhere),
    )


def _warn_unreadable(found: list[Problem], quiet: bool) -> None:
    """Say which runs of the store cannot be used: they are computed again, not lost."""
    if found and not quiet:
        shown = "; ".join(str(p) for p in found[:SHOW_FAILURES])
        print(f"{len(found)} stored run(s) cannot be used and are computed again: {shown}",
              file=sys.stderr)
