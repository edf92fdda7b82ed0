"""How long a reproduction will take on this machine, said before it starts.

Rates are measured here and now, in a few seconds: for each kind of run still to do (same
architecture, dataset, optimiser and sizes: :class:`Kind`), one of its configs is trained
for a few hundred or thousand steps with 2 and 6 evaluation points and for twice as many
steps, which gives seconds per run, per training step and per evaluation point
(:class:`Rate`); a short run is timed whole. A run's projected
time is its steps and evaluation points at its kind's rate (runs that share a training,
:meth:`~smoothlearn.experiments.RunConfig.training_key`, pay it once); the sweep spreads them
over its workers (:func:`estimate`), and a process pool pays the start-up of a fresh Python
importing the trainers (:func:`measure_startup`) and loading each kind's data and kernels
(``Rate.warmup_s``, the first probe's extra time): once for all sweeps when they share one
pool, as ``reproduce``'s do (:class:`SharedPool`), else once per sweep. A run that an earlier sweep
trains is not counted again. After training, ``reproduce`` retrains the autoencoders its
hidden-unit analysis reads, tests the claims and draws the figures (:class:`ReportWork`):
their cost comes from the same rates and from one figure drawn and saved here
(:func:`measure_drawing`). The probing itself is counted too: the actual time includes it.
At the end :meth:`Projection.versus` puts the projection beside the time taken.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from smoothlearn.experiments import RunConfig, make_config
from smoothlearn.machine import cpu_info

__all__ = ["Kind", "Rate", "PlannedRun", "Projection", "ReportWork", "Overheads", "estimate",
           "plan_runs", "measure_rates", "project", "sweep_seconds", "report_seconds",
           "SharedPool"]

#: What one more test set of a trained network costs per evaluation point, in evaluation
#: points of the network, by architecture, where its trainer scores all of a network's test
#: sets in one pass (the per-sample engine computes the first layer once per test item,
#: ``engine.kernels.eval_shared``): on MNIST 784-392-10, one memory-off test set took 28.6 ms,
#: two 37.6 ms and three 42.0 ms (the AMD EPYC, one core, quiet), so 0.31 for the second and
#: 0.15 for the third. The LSTM runs a network's test streams in one pass that takes each distinct
#: item's input product once and reads ``W_hh`` once for two streams (``engine.lstm._evaluate``):
#: on Fig A.8's 784-392-10, one stream took 445 ms and two 552 ms (quiet;
#: ``benchmarks/bench_lstm_eval.py``), so 0.25 for the second. Conv nets score each test set
#: on its own.
SHARED_TEST_COST = {"leaky": 0.3, "lstm": 0.25}
#: Training steps of a probe, by architecture (one probe takes ~0.1-0.5 s on one core).
PROBE_STEPS = {"lstm": 200, "conv": 100}
DEFAULT_PROBE_STEPS = 2000
#: Test items each probe scores (the point's cost is scaled to the run's test set).
PROBE_EVAL_ITEMS = 500
#: ... and again on this many times as many, for a point's cost per item (:func:`measure_rate`).
PROBE_EVAL_SCALE = 4
#: Measuring stops after this many seconds of probes, each kind's warm-up (loading its data
#: and compiled kernels, the first time a minute of compiling) not counted; kinds not measured
#: by then borrow a rate, except small ones (:data:`SMALL_HIDDEN`).
PROBE_BUDGET_S = 5.0
#: Kinds of at most this many hidden units are probed whatever the budget: their probes take
#: milliseconds. Borrowed from an MNIST network instead, the 750 small autoencoders the
#: hidden-unit analysis trains again were once projected at 19 minutes (they take seconds).
SMALL_HIDDEN = 32


@dataclass(frozen=True)
class Kind:
    """What sets a run's cost per step and per evaluation point."""

    arch: str
    dataset: str
    dataset_params: str
    optimizer: str
    hidden: int
    batch_size: int | None
    eval_items: int | None
    streamed_test: bool

    @classmethod
    def of(cls, config: RunConfig) -> Kind:
        spec = config.spec()
        return cls(spec.arch, config.dataset,
                   json.dumps(config.dataset_params, sort_keys=True), config.optimizer,
                   spec.hidden, config.batch_size, config.eval_items,
                   config.test_mode != "off")  # fmt: skip


@dataclass(frozen=True)
class Rate:
    """Seconds of one network on one core: per run (preparing it, starting the trainer), per
    training step and per evaluation point."""

    run_s: float
    step_s: float
    eval_s: float
    measured: bool = True  # False: borrowed from another kind
    #: What a fresh process pays once before its first run of this kind (loading the data
    #: and the compiled kernels): each sweep's pool pays it again.
    warmup_s: float = 0.0

    def seconds(self, run: PlannedRun) -> float:
        share = SHARED_TEST_COST.get(run.kind.arch, 1.0) if run.shared else 1.0
        return self.run_s + run.steps * self.step_s + run.points * self.eval_s * share


@dataclass(frozen=True)
class PlannedRun:
    """One run still to do: its kind, training steps (0 when another run trains its network:
    ``shared``) and evaluation points."""

    kind: Kind
    steps: int
    points: int
    shared: bool = False


@dataclass(frozen=True)
class ReportWork:
    """What ``reproduce`` does after its sweeps: retrain ``retrained`` in-process (the hidden-
    unit analysis needs their final weights), test ``claims`` claims and draw ``drawings``
    figures."""

    drawings: int = 0
    claims: int = 0
    retrained: tuple[RunConfig, ...] = ()

    def __post_init__(self) -> None:
        if self.drawings < 0 or self.claims < 0:
            raise ValueError(f"drawings={self.drawings}, claims={self.claims}: need >= 0")


#: One drawing of the report, in drawings of the probe figure (:func:`measure_drawing`; a
#: paper figure has more panels and curves). Fitted on ``reproduce --quick`` on the AMD EPYC
#: (2 cores, shared): 18 drawings in 13.0 s, 0.72 s each, against 0.34 s for the probe, and
#: about 2 s more of tables and pages.
DRAWING_IN_PROBES = 2.5
#: One claim's statistics (bootstraps and exact tests of its comparisons on the results
#: table), in report drawings. Fitted on the same run: 30 claims in 12.7 s.
CLAIM_IN_DRAWINGS = 0.6
#: Seconds of a sweep whose runs are all in the store already: it scans the store (measured
#: 1.8-3.3 s on the AMD EPYC while shared).
EMPTY_SWEEP_S = 2.0


@dataclass(frozen=True)
class Projection:
    """The projected wall time of the runs still to do, and what it rests on: ``seconds`` is
    the whole (``probe_seconds`` + ``training_s`` + ``report_s``)."""

    seconds: float
    runs: int
    already_done: int
    workers: int
    probe_seconds: float
    cpu: str
    borrowed: int = 0  # runs whose kind was not measured in the time allowed
    training_s: float = 0.0  # the sweeps, pool start-ups included
    report_s: float = 0.0  # analysis, claims, figures (ReportWork)

    def line(self) -> str:
        """What ``reproduce`` prints before it starts."""
        done = f" ({self.already_done} already in the store)" if self.already_done else ""
        borrowed = (f"; {self.borrowed} runs at a similar kind's rate" if self.borrowed
                    else "")
        parts = (f" ({_minutes(self.training_s)} training, {_minutes(self.report_s)} analysis "
                 "and report)" if self.report_s > 0 else " of training")
        return (f"Projected time: {_minutes(self.seconds)}{parts} for {self.runs} runs "
                f"still to do{done} on {self.workers} workers, from rates measured in "
                f"{self.probe_seconds:.1f} s on {self.cpu}{borrowed}.")

    def versus(self, actual_s: float) -> str:
        """What ``reproduce`` prints at the end: projected against actual."""
        change = (actual_s - self.seconds) / self.seconds if self.seconds > 0 else math.inf
        how = "" if not math.isfinite(change) else (
            f" ({abs(change):.0%} {'more' if change >= 0 else 'less'} than projected)")
        return (f"Projected {_minutes(self.seconds)}, actual {_minutes(actual_s)}{how}.")


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def estimate(planned: Sequence[PlannedRun], rates: dict[Kind, Rate], workers: int) -> float:
    """Wall seconds of ``planned`` on ``workers`` processes: the total spread evenly, but
    never less than the longest run (a run is not split between workers)."""
    if workers < 1:
        raise ValueError(f"workers={workers}: need at least 1")
    each = [rates[r.kind].seconds(r) for r in planned]
    return max(sum(each) / workers, max(each, default=0.0))


def eval_points(config: RunConfig, steps: int) -> int:
    """How many evaluation points a run of ``steps`` steps has (as ``runs.prepare`` sets them)."""
    if config.eval_steps is not None:
        inside = [s for s in config.eval_steps if 0 <= s < steps]
        return int(np.unique(np.r_[0, inside, steps]).size)
    return int(np.unique(np.r_[np.arange(0, steps, config.eval_every), steps]).size)


def _length_key(config: RunConfig) -> str:
    """Settings the length of a run's training order depends on (not its seed)."""
    fields = ("dataset", "dataset_params", "steps", "epochs", "class_balance")
    return json.dumps({k: getattr(config, k) for k in fields}, sort_keys=True, default=str)


def plan_runs(configs: Sequence[RunConfig],
              steps_of: Callable[[RunConfig], int] | None = None) -> list[PlannedRun]:
    """The runs of ``configs`` as work: steps from one prepared run per length (``steps_of``,
    default ``runs.prepare(config).order.size``), training paid once per training key."""
    if steps_of is None:
        from smoothlearn.runs import prepare

        def steps_of(config: RunConfig) -> int:
            return int(prepare(config).order.size)

    lengths: dict[str, int] = {}
    trained: set[str] = set()
    out = []
    for config in configs:
        key = _length_key(config)
        if key not in lengths:
            lengths[key] = steps_of(config)
        steps, training = lengths[key], config.training_key()
        shared = training in trained
        out.append(PlannedRun(Kind.of(config), 0 if shared else steps,
                              eval_points(config, steps), shared))
        trained.add(training)
    return out


def _probe(config: RunConfig, engine: str, steps: int | None = None,
           every: int | None = None, items: int | None = None) -> float:
    """Seconds to train ``config`` (shortened to ``steps``, evaluated every ``every`` on its
    first ``items`` test items)."""
    from smoothlearn.runs import run_many

    if steps is not None:
        config = make_config(**{**config.model_dump(), "steps": steps, "eval_every": every,
                                "eval_steps": None, "eval_items": items})  # fmt: skip
    start = time.perf_counter()
    run_many([config], engine=engine, threads=1)  # type: ignore[arg-type]
    return time.perf_counter() - start


def measure_rate(config: RunConfig, probe_steps: int, run_steps: int,
                 engine: str = "fast") -> Rate:
    """One kind's rate, after a warm-up that loads the data and the compiled kernels. A run
    of at most ``2 * probe_steps`` steps is timed whole (best of two); a longer one is
    shortened to ``probe_steps`` steps evaluated at 2 points and at 6, and to twice as many
    steps at 2 points, which separates the cost per run, per step and per point.

    The probes score :data:`PROBE_EVAL_ITEMS` test items, and a point's cost is scaled to the
    run's test set (every trainer scores item by item): evaluated on all 10,000 MNIST items,
    the LSTM's points (0.6 s each) drowned its 200 probe steps (0.2 s) in their noise, and its
    training was once projected at 0 s a step. The 6-point probe also runs on
    :data:`PROBE_EVAL_SCALE` times as many items, which separates a point's fixed cost from
    its cost per item: scaled whole from 500 items, an MNIST network's point (1.7 ms fixed,
    3.1 us an item) was projected at twice its cost, and Fig 2 at twice its time."""
    if run_steps <= 2 * probe_steps:
        first = _probe(config, engine)
        whole = min(_probe(config, engine), _probe(config, engine))
        return Rate(run_s=whole, step_s=0.0, eval_s=0.0, warmup_s=max(first - whole, 0.0))
    short = max(probe_steps - probe_steps % 5, 5)  # a multiple of 5: 6 points exactly
    items = test_items(config)
    few = min(items, PROBE_EVAL_ITEMS)
    many = min(items, PROBE_EVAL_SCALE * few)
    first = _probe(config, engine, short, short, few)
    two = _probe(config, engine, short, short, few)
    six = _probe(config, engine, short, short // 5, few)
    longer = _probe(config, engine, 2 * short, 2 * short, few)
    eval_few = max(six - two, 0.0) / 4
    step_s = max(longer - two, 0.0) / short
    eval_s = eval_few
    if many > few:  # a point = fixed cost + cost per item
        six_many = _probe(config, engine, short, short // 5, many)
        per_item = max(six_many - six, 0.0) / (6 * (many - few))
        eval_s = min(max(eval_few - per_item * few, 0.0) + per_item * items,
                     eval_few * items / few)  # fmt: skip
    return Rate(run_s=max(two - short * step_s - 2 * eval_few, 0.0), step_s=step_s,
                eval_s=eval_s, warmup_s=max(first - two, 0.0))


def test_items(config: RunConfig) -> int:
    """How many test items each evaluation point of ``config`` scores."""
    from smoothlearn.runs import dataset_for

    n = int(dataset_for(config).X_test.shape[0])
    return min(n, config.eval_items) if config.eval_items else n


def measure_rates(configs: Sequence[RunConfig], planned: Sequence[PlannedRun],
                  engine: str = "fast", budget_s: float = PROBE_BUDGET_S) -> dict[Kind, Rate]:
    """A rate for every kind in ``planned``: the kinds with most planned steps first, each
    probed with one of its configs, until ``budget_s`` is spent (warm-ups not counted; small
    kinds always probed, :data:`SMALL_HIDDEN`); a kind left over (or whose probe fails)
    borrows the slowest measured rate of its architecture, else of any."""
    work: dict[Kind, int] = {}
    for run in planned:
        work[run.kind] = work.get(run.kind, 0) + run.steps + 1
    example = {}
    for config, run in zip(configs, planned, strict=True):
        example.setdefault(run.kind, config)
    rates: dict[Kind, Rate] = {}
    spent = 0.0
    evaluated_only = []
    for kind in probe_order(work):
        if spent > budget_s and kind.hidden > SMALL_HIDDEN:
            continue
        longest = max(r.steps for r in planned if r.kind == kind)
        if longest == 0:  # every run of it shares another run's training: only evaluated
            evaluated_only.append(kind)
            continue
        start = time.perf_counter()
        try:
            rates[kind] = measure_rate(example[kind], PROBE_STEPS.get(kind.arch,
                                       DEFAULT_PROBE_STEPS), longest, engine)  # fmt: skip
        except Exception:  # noqa: BLE001 - a projection never stops a reproduction
            pass
        warmup = rates[kind].warmup_s if kind in rates else 0.0
        spent += time.perf_counter() - start - warmup
    for kind in evaluated_only:  # its evaluation costs what its trained twin's does
        rates[kind] = replace(_borrowed(kind, rates), measured=True)
    for kind in work:
        if kind not in rates:
            rates[kind] = _borrowed(kind, rates)
    return rates


def probe_order(work: Mapping[Kind, int]) -> list[Kind]:
    """The kinds in the order they are probed: each architecture's kind with the most planned
    steps first (so that a conv net, whose step costs ~50 MLP steps, is never priced at an
    MLP's borrowed rate because the MLPs' many cheap steps spent the budget), then the rest,
    most planned steps first."""
    by_work = sorted(work, key=work.__getitem__, reverse=True)
    leaders = list({kind.arch: kind for kind in reversed(by_work)}.values())
    leaders.sort(key=work.__getitem__, reverse=True)
    return leaders + [kind for kind in by_work if kind not in leaders]


def _borrowed(kind: Kind, measured: dict[Kind, Rate]) -> Rate:
    """The slowest measured rate of the most similar kinds: same architecture and dataset,
    else same architecture, else any."""
    found = [(k, r) for k, r in measured.items() if r.measured]
    pool = ([r for k, r in found if (k.arch, k.dataset) == (kind.arch, kind.dataset)]
            or [r for k, r in found if k.arch == kind.arch] or [r for _, r in found]
            or [Rate(1.0, 1e-3, 0.1)])
    return replace(max(pool, key=lambda r: (r.step_s, r.run_s)), measured=False)


def _finished(store: Path, wanted: set[str]) -> set[str]:
    """The ``wanted`` runs the store holds finished (the rest of the store is not read)."""
    if not store.is_dir():
        return set()
    from smoothlearn.results import Store

    return Store(store).open().scan(wanted)[0]


def measure_startup() -> float:
    """Seconds for a fresh Python to import what a pool worker imports (torch, numba, the
    trainers): what each sweep's process pool pays before its first run."""
    code = "import torch, numba, smoothlearn.runs, smoothlearn.engine, smoothlearn.sweep"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def measure_store(runs: int = 20) -> float:
    """Seconds per run of what a sweep does around training, in this process: writing its
    record and curve into the store, and loading it back into the experiment's table. Timed
    on ``runs`` tiny synthetic runs (their training, ~3 ms each, is included)."""
    import tempfile

    from smoothlearn.results import load
    from smoothlearn.sweep import Execution, run_sweep

    configs = [make_config(dataset="synthetic-categories", steps=50, eval_every=10, seed=s)
               for s in range(runs + 2)]
    with tempfile.TemporaryDirectory(prefix="smoothlearn-probe-") as tmp:
        run_sweep(configs[:2], Path(tmp) / "warm-up", Execution(workers=1, quiet=True))
        start = time.perf_counter()
        run_sweep(configs[2:], Path(tmp) / "timed", Execution(workers=1, quiet=True))
        load(Path(tmp) / "timed")
        return (time.perf_counter() - start) / runs


def measure_drawing() -> float:
    """Seconds to draw and save one figure as the report does (PNG at 130 dpi and SVG): two
    panels of 20 curves of 60 points."""
    import tempfile

    from smoothlearn.figures.plotting.style import new_figure
    from smoothlearn.report.draw import save_figure

    start = time.perf_counter()
    fig = new_figure(8.0, 3.2)
    rng = np.random.default_rng(0)
    for ax in fig.subplots(1, 2):
        for _ in range(20):
            ax.plot(np.arange(60), rng.random(60).cumsum())
        ax.set_xlabel("step")
        ax.legend([f"curve {i}" for i in range(4)], fontsize=6)
    with tempfile.TemporaryDirectory(prefix="smoothlearn-probe-") as tmp:
        save_figure(fig, Path(tmp), "probe")
    return time.perf_counter() - start


def _unique_per_sweep(groups: Sequence[tuple[Sequence[RunConfig], Path]]
                      ) -> tuple[list[list[RunConfig]], int]:
    """Each sweep's runs that are neither in its store nor trained into the same store by an
    earlier sweep (a sweep skips what its store holds by then), and how many the stores
    already hold."""
    seen: set[tuple[Path, str]] = set()
    sweeps, done = [], 0
    for configs, store in groups:
        unique = {c.run_id(): c for c in configs if (store, c.run_id()) not in seen}
        finished = _finished(store, set(unique))
        done += len(finished)
        seen |= {(store, i) for i in unique}
        sweeps.append([c for i, c in unique.items() if i not in finished])
    return sweeps, done


@dataclass
class SharedPool:
    """The worker processes that all sweeps of one reproduction share
    (:func:`smoothlearn.sweep.shared_workers`): started once, each kind warmed up once."""

    started: bool = False
    warm: set[Kind] = field(default_factory=set)

    def start_up(self, kinds: set[Kind], rates: dict[Kind, Rate], costs: Overheads) -> float:
        """What a pool sweep of ``kinds`` adds: the start the first time, new kinds' warm-up."""
        seconds = 0.0 if self.started else costs.pool_s
        self.started, new = True, kinds - self.warm
        self.warm |= new
        return seconds + sum(rates[k].warmup_s for k in new)


def sweep_seconds(sweep: Sequence[PlannedRun], rates: dict[Kind, Rate], workers: int,
                  costs: Overheads, shared: SharedPool | None = None) -> float:
    """Wall seconds of one sweep: its runs spread over the workers (:func:`estimate`), each
    run's store write and load, and, when it runs in a pool, the pool's start-up and each
    kind's warm-up: in fresh workers of its own, or what ``shared`` has not paid yet. A sweep
    with nothing to do only scans its store."""
    if not sweep:
        return EMPTY_SWEEP_S
    seconds = estimate(sweep, rates, workers) + len(sweep) * costs.store_s
    if workers > 1 and len(sweep) > 1:  # a pool: fresh processes import and warm up
        kinds = {r.kind for r in sweep}
        seconds += (shared.start_up(kinds, rates, costs) if shared is not None
                    else costs.pool_s + sum(rates[k].warmup_s for k in kinds))
    return seconds


def report_seconds(work: ReportWork, rates: dict[Kind, Rate], cores: int,
                   drawing_s: float, drawing_workers: int = 0) -> float:
    """Seconds after the sweeps: the retrained runs on ``cores`` threads (one network per
    core), the claims and the drawings (:data:`CLAIM_IN_DRAWINGS`, :data:`DRAWING_IN_PROBES`):
    one after the other, or, with ``drawing_workers`` (a shared pool's workers draw while the
    claims are tested, as in ``reproduce``), whichever of the two takes longer."""
    retrain = 0.0
    if work.retrained:
        planned = plan_runs(list(work.retrained))
        retrain = estimate(planned, {r.kind: rates.get(r.kind) or _borrowed(r.kind, rates)
                                     for r in planned}, cores)
    one = drawing_s * DRAWING_IN_PROBES
    drawings, claims = work.drawings * one, work.claims * CLAIM_IN_DRAWINGS * one
    if drawing_workers:
        return retrain + max(drawings / drawing_workers, claims)
    return retrain + drawings + claims


@dataclass(frozen=True)
class Overheads:
    """Measured costs beside the runs' own: a pool's start-up and each run's store work."""

    pool_s: float = 0.0
    store_s: float = 0.0


#: A pool sweep's fixed cost, in fresh-interpreter start-ups (:func:`measure_startup`):
#: spawning the workers, which import the trainers, load the compiled kernels and their data
#: while the main process opens the store, and shutting the pool down. Fitted on
#: ``reproduce --quick`` on the AMD EPYC (2 cores, shared): its 10 pool sweeps took 13 s each
#: beyond their runs' training and store work, against 3.3 s for a fresh interpreter's
#: imports (a pool sweep of 2 tiny synthetic runs alone: 5.6-5.9 s).
POOL_IN_STARTUPS = 4.0


def project(groups: Sequence[tuple[Sequence[RunConfig], Path]], workers: int,
            engine: str = "fast", report: ReportWork | None = None,
            shared_pool: bool = False) -> Projection:
    """The projected time of every run of ``groups`` that its store does not hold yet, trained
    by ``engine`` on ``workers`` processes, and of ``report`` after them. A group is one sweep
    (its configs and the store they go to); sweeps run one after another, each starting its
    own pool (or all sharing one, ``shared_pool``), and a run an earlier sweep trains is not
    trained again."""
    start = time.perf_counter()
    sweeps, done = _unique_per_sweep(groups)
    todo = [c for sweep in sweeps for c in sweep]
    planned = plan_runs(todo)
    # the runs the analysis trains again get measured rates too: a kind borrowed from the
    # slowest measured one (an LSTM's, say) once priced tiny autoencoders at its speed
    todo_ids = {c.run_id() for c in todo}
    retrained = [c for c in (report.retrained if report is not None else ())
                 if c.run_id() not in todo_ids]
    probed = todo + retrained
    rates = measure_rates(probed, plan_runs(probed), engine)
    pools = workers > 1 and any(len(sweep) > 1 for sweep in sweeps)
    costs = Overheads(pool_s=POOL_IN_STARTUPS * measure_startup() if pools else 0.0,
                      store_s=measure_store() if todo else 0.0)
    training, at, shared = 0.0, 0, SharedPool() if shared_pool else None
    for sweep in sweeps:
        training += sweep_seconds(planned[at:at + len(sweep)], rates, workers, costs, shared)
        at += len(sweep)
    drawing_workers = workers if shared_pool and workers > 1 else 0
    after = (report_seconds(report, rates, workers, measure_drawing(), drawing_workers)
             if report is not None else 0.0)
    probe = time.perf_counter() - start
    info = cpu_info()
    return Projection(
        seconds=probe + training + after, runs=len(todo), already_done=done, workers=workers,
        probe_seconds=probe, cpu=f"{info.model} ({info.features()})",
        borrowed=sum(not rates[r.kind].measured for r in planned), training_s=training,
        report_s=after,
    )


def robustness_runs(quick: bool) -> list[RunConfig]:
    """The runs of the robustness sweep that ``reproduce`` adds (its default cells)."""
    from smoothlearn import robustness

    return [c for configs in robustness.plan(quick).values() for c in configs]


def announce(groups: Sequence[tuple[Sequence[RunConfig], Path]], workers: int,
             engine: str = "fast", report: ReportWork | None = None,
             shared_pool: bool = False) -> Projection | None:
    """:func:`project`, printed; a projection that cannot be made says why in one line and
    never stops the reproduction."""
    try:
        projected = project(groups, workers, engine, report, shared_pool)
    except Exception as err:  # noqa: BLE001 - e.g. a dataset that cannot be loaded
        print(f"No projected time: {type(err).__name__}: {err}", flush=True)
        return None
    print(projected.line(), flush=True)
    return projected
