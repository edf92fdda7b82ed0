"""Benchmark the fast trainers against their naive baselines, side by side in one process.

Usage: ``smoothlearn bench [--quick] [--out DIR]`` (or ``python benchmarks/bench_engine.py``),
or :func:`run_benchmarks` from Python. Writes ``bench_engine.json`` and ``bench_engine.md`` to
DIR (default ``runs/bench``); ``docs/performance.md`` explains every case and its roofline.

Cases (:mod:`.cases`), each timed against its baseline in the same run:
- the per-sample engine (``train_many``, SGD and RMSprop, MNIST and the small datasets)
  against the loop a newcomer writes with the reference modules (``nn.LeakyNet`` +
  ``torch.optim``, one thread), in network-steps/s;
- the LSTM (A.8) and mini-batch (A.5/A.6) kernels against ``train.train_lstm`` and
  ``train.train_minibatch``, one core each;
- memory-off evaluation on the 10,000 MNIST test items against ``train.evaluate``;
- dense inputs of a user's width (3,072-1,000-10, random CIFAR-shaped data) on the engine
  against the naive loop;
- a real local Dask cluster against the local process pool on one grid (:mod:`.executors`);
- end to end (:mod:`.endtoend`, full mode only): the wall time of ``smoothlearn run fig2
  --dataset mnist --seeds 5`` and ``smoothlearn reproduce --quick``, each into a fresh store.

The output starts with the CPU (:mod:`smoothlearn.machine`): model, AVX2/AVX-512, L2 per core.

The workloads (:mod:`.workloads`) use MNIST when ``SMOOTHLEARN_DATA`` holds it, else random
inputs of its shape. Timings on a shared machine are noisy (:mod:`.timing`): every figure is
the median of ``repeats`` runs, the spread is reported, and so is how many cores were free.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch

from smoothlearn.bench.cases import (
    BEFORE_MISSING,
    FIG2_EVAL_ITEMS,
    case_row,
    dense_case,
    evaluation_case,
    fig2_projection,
    load_before,
    lstm_case,
    minibatch_case,
)
from smoothlearn.bench.endtoend import end_to_end_cases, end_to_end_table
from smoothlearn.bench.executors import executor_case, executor_grid
from smoothlearn.bench.timing import engine_rate, naive_rate, parallel_check, roofline
from smoothlearn.bench.workloads import (
    Workload,
    autoencoder_workload,
    dense_workload,
    mnist_workload,
    synthetic_workload,
)
from smoothlearn.machine import CpuInfo, cpu_info

DEFAULT_OUT = Path("runs") / "bench"


def per_sample_cases(mnist: Workload, threads: int, repeats: int, quick: bool) -> list[dict]:
    """The per-sample engine against the naive autograd loop (SGD first: the reference rate)."""
    T = 4000 if quick else 20_000  # RMSprop's steady state needs >= 20k steps
    runs = mnist.runs(2, T)
    naive = naive_rate(runs[0], 300 if quick else 2000)
    sgd = engine_rate(runs, threads, repeats)
    one = engine_rate(runs[:1], 1, repeats)
    dense = engine_rate(runs, threads, repeats, sparse=False)
    rms = replace(mnist, settings=replace(mnist.settings, optimizer="rmsprop", lr=0.001))
    rms_runs = rms.runs(2, T)
    rms_naive = naive_rate(rms_runs[0], 300 if quick else 1000)
    rms_eng = engine_rate(rms_runs, threads, repeats)
    share = rms_eng["rate"] / sgd["rate"]
    cases = [
        case_row("MNIST leaky+reset, sparse", mnist.shape, 2, T, threads, sgd, naive, 40,
                 f"data: {mnist.source}"),
        case_row("MNIST, 1 network, 1 core", mnist.shape, 1, T, 1, one, naive, 0, "sparse path"),
        case_row("MNIST, dense path forced", mnist.shape, 2, T, threads, dense, naive, 0,
                 "sparse=False"),
        case_row("MNIST, RMSprop (momentum 0)", mnist.shape, 2, T, threads, rms_eng, rms_naive,
                 0, f"naive: torch.optim.RMSprop; {share:.0%} of the SGD rate of the first row"),
    ]  # fmt: skip
    cases[-1].update(target="≥40% of SGD", met=share >= 0.4)
    for wl, K, steps, naive_steps in (
        (synthetic_workload(), 100, 1200, 1200),
        (autoencoder_workload(), 50, 3000, 1000),
    ):
        runs_s = wl.runs(K, steps)
        nv = naive_rate(runs_s[0], 300 if quick else naive_steps)
        eng_s = engine_rate(runs_s, threads, repeats)
        cases.append(case_row(f"{wl.name} x{K} seeds, 1 epoch", wl.shape, K, steps, threads,
                              eng_s, nv, 1000, f"data: {wl.source}"))  # fmt: skip
    return cases


def measure(quick: bool) -> dict[str, Any]:
    """Every case; returns a JSON-ready dict (see :func:`markdown` for the table)."""
    threads = min(2, os.cpu_count() or 1)
    repeats = 1 if quick else 3
    cores_before = parallel_check(threads)
    mnist = mnist_workload(quick, test_items=1000)
    full_test = mnist_workload(quick, test_items=FIG2_EVAL_ITEMS)
    cases = per_sample_cases(mnist, threads, repeats, quick)
    cases.append(dense_case(dense_workload(quick), threads, repeats, quick))
    cases.append(lstm_case(mnist, *((50, 500) if quick else (500, 5000)), repeats))
    cases.append(minibatch_case(mnist, *((800, 8000) if quick else (8000, 80_000)), repeats))
    cases.append(evaluation_case(full_test, threads, repeats, load_before()))
    cases.append(executor_case(executor_grid(quick, mnist.source == "MNIST")))
    fig2 = fig2_projection(full_test, threads, cases[0]["engine_rate"], quick)
    roof = roofline(mnist.X, mnist.runs(1, 2001)[0].order)
    end_to_end = [] if quick else end_to_end_cases()
    return {
        "machine": {
            "python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "processor": _cpu_name(), "cpu": asdict(cpu_info()),
            "torch": torch.__version__,
            "numpy": np.__version__, "numba": numba.__version__, "quick": quick,
            "repeats": repeats, "threads": threads,
            "effective_cores": [cores_before, parallel_check(threads)],
        },
        "cases": cases,
        "roofline": roof,
        "fig2_projection": fig2,
        "end_to_end": end_to_end,
    }  # fmt: skip


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ----------------------------------------------------------------------------- report


def _num(x: float) -> str:
    """Thousands separators for large figures, three significant digits for small ones."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def case_table(cases: list[dict[str, Any]]) -> list[str]:
    """The cases as the lines of one Markdown table, each rate in its own unit."""
    lines = [
        "| case | shape | networks × steps (items) | threads | engine | naive | engine/naive "
        "| target | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        target = f"{c['target']} {'met' if c['met'] else 'NOT met'}" if c["target"] else "—"
        lines.append(
            f"| {c['case']} | {c['shape']} | {c['networks']} × {c['steps']:,} | {c['threads']} "
            f"| {_num(c['engine_rate'])} [{_num(c['engine_min'])}–{_num(c['engine_max'])}] "
            f"{c['unit']} | {_num(c['naive_rate'])} {c['unit']} | {_num(c['ratio'])}× "
            f"| {target} | {c['note']} |"
        )
    return lines


def markdown(res: dict[str, Any]) -> str:
    """The results as Markdown tables (what docs/performance.md quotes)."""
    m = res["machine"]
    lines = [
        CpuInfo(**m["cpu"]).line() + "\n",
        f"Machine: {m['processor']}, {m['cpu_count']} cores; torch {m['torch']}, "
        f"numpy {m['numpy']}, numba {m['numba']}; median of {m['repeats']} "
        f"(range in brackets){' — quick mode' if m['quick'] else ''}. Effective cores "
        f"(speed-up of {m['threads']} busy threads) before/after: "
        f"{m['effective_cores'][0]:.2f} / {m['effective_cores'][1]:.2f}.",
    ]
    if min(m["effective_cores"]) < 0.9 * m["threads"]:
        lines.append(
            f"\n**Warning:** other jobs shared the CPU during this run (effective cores "
            f"{min(m['effective_cores']):.2f} of {m['threads']}); multi-thread figures are low."
        )
    lines += ["", *case_table(res["cases"])]
    if not all(c.get("before_available", True) for c in res["cases"]):
        lines += ["", BEFORE_MISSING]
    r = res["roofline"]
    share = 100 * res["cases"][0]["engine_rate"] / r["sparse_roofline_steps_per_s_2cores"]
    lines += [
        "",
        "| roofline (1 thread, 392×784 W1) | µs |",
        "|---|---|",
        f"| matvec W1·x (torch / numba) "
        f"| {r['matvec_us_torch']:.1f} / {r['matvec_us_numba']:.1f} |",
        f"| rank-1 update W1 -= lr·u⊗x (torch / numba) "
        f"| {r['rank1_us_torch']:.1f} / {r['rank1_us_numba']:.1f} |",
        f"| engine dense step, update fused with next forward | {r['fused_dense_step_us']:.1f} |",
        f"| sparse bound: density {r['density']:.3f} × (matvec + rank-1) "
        f"| {r['sparse_bound_us_per_step']:.1f} |",
        f"| engine sparse W1 work per step (union density "
        f"{r['union_density_of_consecutive_items']:.3f}) | {r['sparse_fused_w1_us']:.1f} |",
        "",
        f"Sparse roofline: {r['sparse_roofline_steps_per_s_1core']:,.0f} steps/s on one core, "
        f"{r['sparse_roofline_steps_per_s_2cores']:,.0f} on two; the 2-network MNIST ensemble "
        f"reached {res['cases'][0]['engine_rate']:,.0f} "
        f"({share:.0f}% of the 2-core roofline).",
    ]
    f = res["fig2_projection"]
    lines += [
        "",
        f"Fig 2 projection ({f['runs']} trainings × {f['steps']:,} steps and "
        f"{f.get('shared_tests', 0)} shared tests, evaluation every "
        f"{f['eval_every']:,} steps on {f['eval_items']:,} items): training {f['train_s']:.0f} s "
        f"+ evaluation {f['eval_s']:.0f} s ({1e3 * f['eval_s_per_network_eval_wall']:.1f} ms "
        f"wall per network-evaluation) = **{f['total_s'] / 60:.1f} min**.",
        "",
        *end_to_end_table(res.get("end_to_end", [])),
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BenchResult:
    """What one benchmark run measured and where it was written."""

    results: dict[str, Any]  # JSON-ready: machine, cases, roofline, fig2_projection, end_to_end
    table: str  # the results as Markdown (what docs/performance.md quotes)
    json_path: Path
    markdown_path: Path


def run_benchmarks(quick: bool = False, out: Path = DEFAULT_OUT) -> BenchResult:
    """Run every case and write ``bench_engine.json`` and ``bench_engine.md`` to ``out``."""
    res = measure(quick)
    out.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = out / "bench_engine.json", out / "bench_engine.md"
    json_path.write_text(json.dumps(res, indent=2) + "\n")
    table = markdown(res)
    markdown_path.write_text(table)
    return BenchResult(res, table, json_path, markdown_path)
