"""LSTM (A.8 shape) and mini-batch (A.5/A.6 shape) trainers: PyTorch reference vs. compiled,
side by side in one process, one core each. Rates are per second of CPU time, so that other
programs sharing the machine are not counted (wall-clock rates are printed too).

Usage: ``python benchmarks/bench_baselines.py [--lstm-steps N] [--minibatch-items N]``.
"""

from __future__ import annotations

import argparse

from smoothlearn.engine import lstm as fast_lstm
from smoothlearn.engine import minibatch as fast_minibatch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lstm-steps", type=int, default=300)
    parser.add_argument("--bptt", type=int, default=10)
    parser.add_argument("--minibatch-items", type=int, default=8000)
    args = parser.parse_args(argv)
    rows = [
        (f"LSTM 784-392-10, BPTT window {args.bptt} (steps/s)",
         fast_lstm.benchmark(args.lstm_steps, bptt=args.bptt)),
        ("mini-batch 16, 784-392-10 (items/s)",
         fast_minibatch.benchmark(args.minibatch_items)),
    ]  # fmt: skip
    print(f"{'case':48} {'reference':>10} {'fast':>10} {'speedup':>8}   (wall: ref / fast)")
    for name, r in rows:
        print(f"{name:48} {r['reference']:10.1f} {r['fast']:10.1f} {r['speedup']:7.1f}x"
              f"   ({r['reference_wall']:.1f} / {r['fast_wall']:.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
