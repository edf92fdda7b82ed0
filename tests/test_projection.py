"""smoothlearn.projection: the time a reproduction is projected to take, from measured rates.
The arithmetic is checked on fake plans and rates; one real projection on tiny synthetic runs
checks the wiring (timings are never asserted: the machine is shared)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smoothlearn import projection
from smoothlearn import reproduce as rp
from smoothlearn.experiments import make_config
from smoothlearn.projection import Kind, PlannedRun, Projection, Rate
from smoothlearn.sweep import Execution, run_sweep

SMALL = {"dataset": "synthetic-categories", "steps": 200, "eval_every": 50}
BIG = Kind("leaky", "mnist", "{}", "sgd", 392, None, 1000, False)
LSTM = Kind("lstm", "mnist", "{}", "sgd", 32, None, 1000, True)


def test_runs_are_spread_over_the_workers() -> None:
    rates = {BIG: Rate(run_s=1.0, step_s=1e-4, eval_s=0.5)}
    plan = [PlannedRun(BIG, 10_000, 4)] * 6  # 1 + 1 + 2 = 4 s each
    assert projection.estimate(plan, rates, workers=1) == pytest.approx(24.0)
    assert projection.estimate(plan, rates, workers=2) == pytest.approx(12.0)
    assert projection.estimate([], rates, workers=2) == 0.0


def test_the_longest_run_bounds_the_time_from_below() -> None:
    rates = {BIG: Rate(0.0, 1e-4, 0.0), LSTM: Rate(0.0, 1e-2, 0.0)}
    plan = [PlannedRun(LSTM, 10_000, 2), PlannedRun(BIG, 10_000, 2)]  # 100 s and 1 s
    assert projection.estimate(plan, rates, workers=4) == pytest.approx(100.0)


def test_workers_are_checked() -> None:
    with pytest.raises(ValueError, match="workers=0"):
        projection.estimate([], {}, workers=0)


def test_a_shared_training_is_paid_once_and_each_length_is_prepared_once() -> None:
    runs = [make_config(**SMALL, seed=s, test_mode=m) for s in (0, 1) for m in ("off", "same")]
    asked = []

    def steps_of(config):
        asked.append(config)
        return 200

    planned = projection.plan_runs(runs, steps_of)
    assert len(asked) == 1  # same dataset and length: one run is enough
    assert [r.steps for r in planned] == [200, 0, 200, 0]  # the "same" twins are only tested
    assert {r.points for r in planned} == {5}  # 0, 50, 100, 150, 200
    assert planned[0].kind != planned[1].kind  # a streamed test costs another rate
    assert [r.shared for r in planned] == [False, True, False, True]


def test_a_shared_test_costs_its_share_of_an_evaluation_where_the_trainer_shares_the_pass(
) -> None:
    """The per-sample engine scores a network's test sets in one pass (the first layer once
    per item), the LSTM its streams in one pass over ``W_hh``; an architecture without such a
    pass (the conv nets) pays a whole evaluation for a shared test."""
    rate = Rate(run_s=1.0, step_s=1e-4, eval_s=0.5)
    conv = replace(LSTM, arch="conv")
    for kind, share in ((BIG, projection.SHARED_TEST_COST["leaky"]),
                        (LSTM, projection.SHARED_TEST_COST["lstm"]), (conv, 1.0)):
        assert rate.seconds(PlannedRun(kind, 0, 10, shared=True)) == pytest.approx(
            1.0 + 10 * 0.5 * share)
        assert rate.seconds(PlannedRun(kind, 0, 10)) == pytest.approx(6.0)
    assert all(0 < share < 1 for share in projection.SHARED_TEST_COST.values())


def test_evaluation_points_follow_eval_steps_when_given() -> None:
    config = make_config(**{**SMALL, "eval_steps": [10, 20, 500]})
    assert projection.eval_points(config, 200) == 4  # 0, 10, 20 and the end


def test_kinds_are_measured_by_size_and_the_rest_borrow(monkeypatch) -> None:
    """Probes run for the kinds with the most work first; one that fails borrows its
    architecture's slowest rate; an only-evaluated kind takes its twin's rate as measured."""
    runs = [make_config(**{**SMALL, "steps": steps}, hidden=h, seed=s, test_mode=m)
            for h, steps in ((8, 200), (16, 300)) for s in (0, 1) for m in ("off", "same")]
    planned = projection.plan_runs(runs, lambda config: config.steps)
    probed = []

    def fake(config, probe_steps, run_steps, engine="fast"):
        probed.append(config.spec().hidden)
        if config.spec().hidden == 8:
            raise RuntimeError("no such kernel")
        return Rate(0.0, 1e-3, 0.0)

    monkeypatch.setattr(projection, "measure_rate", fake)
    rates = projection.measure_rates(runs, planned)
    assert probed == [16, 8]  # most planned steps first; tested-only twins not probed
    by_hidden = {(k.hidden, k.streamed_test): r for k, r in rates.items()}
    assert by_hidden[(16, False)] == Rate(0.0, 1e-3, 0.0)
    assert by_hidden[(8, False)] == Rate(0.0, 1e-3, 0.0, measured=False)
    assert by_hidden[(16, True)].measured and by_hidden[(8, True)].measured


def test_a_spent_budget_leaves_every_large_kind_borrowed_and_still_probes_small_ones(
        monkeypatch) -> None:
    """Small kinds' probes take milliseconds: borrowed from a large kind instead, the
    analysis's 750 small autoencoders were once projected at 19 minutes."""
    probed = []

    def fake(config, probe_steps, run_steps, engine="fast"):
        probed.append(config.spec().hidden)
        return Rate(0.0, 1e-6, 0.0)

    monkeypatch.setattr(projection, "measure_rate", fake)
    runs = [make_config(**SMALL, hidden=h) for h in (projection.SMALL_HIDDEN + 1, 8)]
    rates = projection.measure_rates(runs, projection.plan_runs(runs, lambda c: 200),
                                     budget_s=-1.0)  # fmt: skip
    assert probed == [8]
    assert {k.hidden: r.measured for k, r in rates.items()} == {
        projection.SMALL_HIDDEN + 1: False, 8: True}


def test_warm_ups_do_not_spend_the_budget(monkeypatch) -> None:
    """A cold start compiles kernels and loads data in the first probes: that time does not
    count against the budget, so the large kinds after them are still measured."""
    probed = []

    def fake(config, probe_steps, run_steps, engine="fast"):
        probed.append(config.spec().hidden)
        return Rate(0.0, 1e-6, 0.0, warmup_s=10.0)  # as if it had taken 10 s more

    monkeypatch.setattr(projection, "measure_rate", fake)
    monkeypatch.setattr(projection.time, "perf_counter",
                        iter(range(0, 1000, 10)).__next__)  # each probe "takes" 10 s
    runs = [make_config(**{**SMALL, "steps": s}, hidden=h) for h, s in ((64, 400), (48, 300))]
    rates = projection.measure_rates(runs, projection.plan_runs(runs, lambda c: c.steps),
                                     budget_s=5.0)  # fmt: skip
    assert probed == [64, 48] and all(r.measured for r in rates.values())


def test_lines_say_projected_and_actual() -> None:
    p = Projection(seconds=600.0, runs=412, already_done=38, workers=2, probe_seconds=3.2,
                   cpu="AMD EPYC (AVX2, L2 512 KiB per core)")
    assert p.line() == ("Projected time: 10.0 min of training for 412 runs still to do (38 "
                        "already in the store) on 2 workers, from rates measured in 3.2 s on "
                        "AMD EPYC (AVX2, L2 512 KiB per core).")
    assert p.versus(660.0) == "Projected 10.0 min, actual 11.0 min (10% more than projected)."
    assert p.versus(90.0) == "Projected 10.0 min, actual 90 s (85% less than projected)."


def test_a_real_projection_skips_what_the_store_holds(tmp_path) -> None:
    runs = [make_config(**SMALL, seed=s) for s in range(3)]
    run_sweep(runs[:1], tmp_path, Execution(workers=1, quiet=True))
    p = projection.project([(runs, tmp_path), (runs[:2], tmp_path / "other")], workers=1)
    assert (p.runs, p.already_done, p.borrowed) == (4, 1, 0)
    assert p.seconds > 0 and p.probe_seconds > 0


def _fixed_rates(monkeypatch, rate: Rate) -> None:
    monkeypatch.setattr(projection, "measure_rates",
                        lambda todo, planned, engine: {r.kind: rate for r in planned})


def test_each_sweep_with_a_pool_pays_its_start_up(tmp_path, monkeypatch) -> None:
    """Sweeps run one after another: their times add, and each that starts a pool (more than
    one worker, more than one run to do) pays a pool's start-up (POOL_IN_STARTUPS fresh
    interpreters) and each run its store work."""
    monkeypatch.setattr(projection, "measure_startup", lambda: 5.0)
    monkeypatch.setattr(projection, "measure_store", lambda: 0.25)
    _fixed_rates(monkeypatch, Rate(1.0, 0.0, 0.0))
    runs = [make_config(**SMALL, seed=s) for s in range(5)]
    groups = [(runs[:4], tmp_path / "a"), (runs[4:], tmp_path / "b")]
    pool = projection.POOL_IN_STARTUPS * 5.0
    p = projection.project(groups, workers=2)
    assert p.training_s == pytest.approx(pool + 2 + 1 + 5 * 0.25)
    assert p.seconds == pytest.approx(p.training_s + p.probe_seconds) and p.report_s == 0
    assert projection.project(groups, workers=1).training_s == pytest.approx(4 + 1 + 5 * 0.25)
    _fixed_rates(monkeypatch, Rate(1.0, 0.0, 0.0, warmup_s=3.0))
    assert projection.project(groups, workers=2).training_s == pytest.approx(
        pool + 3 + 2 + 1 + 5 * 0.25)


def test_sweeps_that_share_a_pool_pay_its_start_up_once(tmp_path, monkeypatch) -> None:
    """reproduce's sweeps share one pool (sweep.shared_workers): the start-up is paid by the
    first pool sweep, and each kind's warm-up by the first sweep that runs it."""
    monkeypatch.setattr(projection, "measure_startup", lambda: 5.0)
    monkeypatch.setattr(projection, "measure_store", lambda: 0.25)
    _fixed_rates(monkeypatch, Rate(1.0, 0.0, 0.0, warmup_s=3.0))
    runs = [make_config(**SMALL, seed=s) for s in range(6)]
    groups = [(runs[:4], tmp_path / "a"), (runs[4:], tmp_path / "b")]
    pool = projection.POOL_IN_STARTUPS * 5.0
    own = projection.project(groups, workers=2).training_s
    shared = projection.project(groups, workers=2, shared_pool=True).training_s
    assert own == pytest.approx((pool + 3 + 2) + (pool + 3 + 1) + 6 * 0.25)
    assert shared == pytest.approx((pool + 3 + 2) + 1 + 6 * 0.25)


def test_a_run_of_an_earlier_sweep_is_not_counted_again(tmp_path, monkeypatch) -> None:
    """reproduce trains a later experiment's runs with an earlier one's when they share a
    training; the later sweep then finds them in the store and only scans it."""
    monkeypatch.setattr(projection, "measure_store", lambda: 0.0)
    _fixed_rates(monkeypatch, Rate(1.0, 0.0, 0.0))
    runs = [make_config(**SMALL, seed=s) for s in range(3)]
    p = projection.project([(runs, tmp_path), (runs[1:], tmp_path)], workers=1)
    assert p.runs == 3
    assert p.training_s == pytest.approx(3 + projection.EMPTY_SWEEP_S)


def test_report_time_is_retraining_claims_and_drawings() -> None:
    kind = Kind.of(make_config(**SMALL))
    rates = {kind: Rate(0.5, 0.01, 0.1)}
    retrained = tuple(make_config(**SMALL, seed=s) for s in range(4))  # 200 steps, 5 points
    work = projection.ReportWork(drawings=3, claims=10, retrained=retrained)
    drawing = 0.2 * projection.DRAWING_IN_PROBES
    want = 4 * (0.5 + 200 * 0.01 + 5 * 0.1) / 2 + 3 * drawing + 10 * (
        projection.CLAIM_IN_DRAWINGS * drawing)
    assert projection.report_seconds(work, rates, 2, 0.2) == pytest.approx(want)
    retrain, drawings = 4 * (0.5 + 200 * 0.01 + 5 * 0.1) / 2, 3 * drawing
    claims_s = 10 * projection.CLAIM_IN_DRAWINGS * drawing
    assert projection.report_seconds(work, rates, 2, 0.2, drawing_workers=2) == pytest.approx(
        retrain + max(drawings / 2, claims_s))  # drawn on the pool while the claims run
    assert projection.report_seconds(projection.ReportWork(), rates, 2, 0.2) == 0


def test_report_work_is_checked() -> None:
    with pytest.raises(ValueError, match="drawings=-1"):
        projection.ReportWork(drawings=-1)


def test_the_line_splits_training_from_the_report_when_it_has_one() -> None:
    p = Projection(seconds=700.0, runs=10, already_done=0, workers=2, probe_seconds=4.0,
                   cpu="X", training_s=600.0, report_s=96.0)
    assert p.line().startswith("Projected time: 11.7 min (10.0 min training, 96 s analysis and "
                               "report) for 10 runs still to do on 2 workers")


def test_reproduce_counts_the_units_drawings_claims_and_retrained_runs() -> None:
    plans = [p for p in rp.plan_experiments(True, ("figA4", "fig3")) if p[1]]
    work = rp.report_work(plans)
    units = [rp.figures.find(name) for name in ("figA4", "fig3")]
    assert work.drawings == 1 + sum(len(u.drawings) for u in units)  # + the scorecard
    assert work.claims == sum(len(u.claims) for u in units)
    analysed = {c.run_id() for (info, cs) in plans if rp.figures.find(info.name).analysed
                for c in cs}
    assert {c.run_id() for c in work.retrained} == analysed and analysed


def test_reproduce_prints_the_projection_first_and_the_comparison_last(
    tmp_path, capsys, monkeypatch
) -> None:
    """(--quiet prints neither: test_reproduce.py's quiet runs print one line or none.)"""
    monkeypatch.setattr(rp, "_write_outputs", lambda *args: tmp_path / "report.html")  # fast
    rp.reproduce(rp.ReproduceOptions(tmp_path, quick=True, experiments=("figA7",)),
                 Execution(workers=1))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Projected time: ") and "runs still to do" in out[0]
    assert out[-1].startswith("Projected ") and ", actual " in out[-1]


def test_runs_the_analysis_trains_again_are_probed_not_borrowed(tmp_path, monkeypatch) -> None:
    """A resume with nothing left to train still retrains the analysed units' nets: their
    kind is probed, never priced at another (slower) kind's borrowed rate."""
    probed: list = []

    def rates(configs, planned, engine):
        probed.extend(configs)
        return {r.kind: Rate(1.0, 0.0, 0.0) for r in planned}

    monkeypatch.setattr(projection, "measure_rates", rates)
    monkeypatch.setattr(projection, "measure_drawing", lambda: 0.0)
    done = [make_config(**SMALL, seed=0)]
    run_sweep(done, tmp_path, Execution(workers=1, quiet=True))
    autoencoder = make_config(dataset="multiscale", model="ae-leaky", steps=200, seed=0)
    work = projection.ReportWork(drawings=0, claims=0, retrained=(autoencoder,))
    p = projection.project([(done, tmp_path)], workers=1, report=work)
    assert p.runs == 0 and [c.run_id() for c in probed] == [autoencoder.run_id()]
    assert p.report_s == pytest.approx(1.0)  # one run at its own (probed) rate


def test_each_architecture_is_probed_before_a_second_kind_of_another() -> None:
    """The MLPs' many cheap steps must not spend the probe budget before the conv nets (whose
    step costs ~50 of theirs) get a rate of their own."""
    def kind(arch: str, hidden: int) -> Kind:
        return Kind(arch, "moving-mnist", "{}", "sgd", hidden, None, 1000, False)

    mlp_a, mlp_b, conv = kind("leaky", 392), kind("leaky", 128), kind("conv", 128)
    order = projection.probe_order({mlp_a: 600_000, mlp_b: 500_000, conv: 100_000})
    assert order == [mlp_a, conv, mlp_b]
    assert projection.probe_order({mlp_a: 1, conv: 2}) == [conv, mlp_a]


def test_a_rate_separates_steps_from_points_and_scales_points_to_the_whole_test_set(
        monkeypatch) -> None:
    """The probes score a few test items (an LSTM's point on 10,000 items once drowned its
    probe steps); a point's cost is scaled to the run's test set."""
    seen = []

    def fake_probe(config, engine, steps=None, every=None, items=None):
        seen.append(items)
        points = steps // every + 1
        # per run, step, point and item
        return 0.25 + steps * 1e-3 + points * (3e-3 + items * 2e-5)

    monkeypatch.setattr(projection, "_probe", fake_probe)
    monkeypatch.setattr(projection, "test_items", lambda config: 10_000)
    rate = projection.measure_rate(make_config(**SMALL), probe_steps=200, run_steps=5000)
    few = projection.PROBE_EVAL_ITEMS
    assert set(seen) == {few, projection.PROBE_EVAL_SCALE * few} and 4 * few < 10_000
    assert rate.step_s == pytest.approx(1e-3)
    assert rate.eval_s == pytest.approx(3e-3 + 10_000 * 2e-5)  # not 20x the fixed cost
    assert rate.run_s == pytest.approx(0.25)


def test_the_test_items_of_a_run_are_its_test_set_or_its_eval_items() -> None:
    whole = projection.test_items(make_config(**SMALL))
    assert whole > 7 and projection.test_items(make_config(**SMALL, eval_items=7)) == 7
    assert projection.test_items(make_config(**SMALL, eval_items=10 * whole)) == whole
