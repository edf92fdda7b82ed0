"""The device path against the compiled CPU engine: Fig 2's grid and Fig A.8's LSTM runs.

Usage, on a machine with a GPU (and MNIST under ``SMOOTHLEARN_DATA``)::

    python benchmarks/bench_device.py --device cuda --out DIR

Each experiment runs twice through ``smoothlearn run``, as a user types it, into fresh stores
under DIR: once on the compiled CPU engine (a process per core) and once with ``--device``
(batched torch ensembles). It prints the CPU and the device, both wall times and their ratio,
and how far the two sets of curves are apart: the device computes in float32 with its own
kernels, so the curves agree within a tolerance, not bit for bit. ``--steps`` shortens every
run (a wiring check, e.g. ``--device cpu --steps 2000 --seeds 1 --lstm-seeds 1``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from smoothlearn import results
from smoothlearn.machine import cpu_info

CLI = [sys.executable, "-c", "import sys; from smoothlearn.cli import main; sys.exit(main())"]
METRICS = ("test_mse", "test_acc")


def timed_run(experiment: str, out: Path, extra: list[str]) -> float:
    """Wall seconds of ``smoothlearn run EXPERIMENT --out OUT EXTRA`` (a fresh store)."""
    command = [*CLI, "run", experiment, "--out", str(out), "--quiet", *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def curve_gap(cpu_store: Path, device_store: Path) -> dict[str, float]:
    """Largest absolute difference of each metric over runs and steps both stores hold."""
    a, b = results.load(cpu_store), results.load(device_store)
    both = a.merge(b, on=["run_id", "step"], suffixes=("_cpu", "_device"))
    gap = {m: float(np.nanmax(np.abs(both[f"{m}_cpu"] - both[f"{m}_device"])))
           for m in METRICS}
    gap["points"] = float(len(both))
    return gap


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seeds", type=int, default=5, help="Fig 2 seeds (its grid: 5)")
    parser.add_argument("--lstm-seeds", type=int, default=10, help="Fig A.8 seeds (10)")
    parser.add_argument("--steps", type=int, default=None, help="shorten every run")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(cpu_info().line())
    print(f"device: {device_name(args.device)}")
    shorten = [] if args.steps is None else ["--steps", str(args.steps)]
    rows = []
    for experiment, seeds in (("fig2", args.seeds), ("figA8", args.lstm_seeds)):
        extra = ["--seeds", str(seeds), *shorten]
        cpu_s = timed_run(experiment, args.out / f"{experiment}-cpu", extra)
        dev_s = timed_run(experiment, args.out / f"{experiment}-device",
                          [*extra, "--device", args.device])
        gap = curve_gap(args.out / f"{experiment}-cpu", args.out / f"{experiment}-device")
        rows.append(f"| {experiment}, {seeds} seeds | {cpu_s:.1f} s | {dev_s:.1f} s | "
                    f"{cpu_s / dev_s:.2f}× | {gap['test_mse']:.1e} | {gap['test_acc']:.1e} | "
                    f"{int(gap['points'])} |")
    print("| experiment | CPU engine | device | speed-up | max Δ test MSE | max Δ accuracy "
          "| points |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
