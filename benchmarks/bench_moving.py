"""Rendering a moving-object stream: time and peak memory for a 60,000-frame stream.

Time is given as CPU seconds of this process (other programs sharing the machine are not
counted) and wall seconds; memory as the peak of numpy's traced allocations during the render
(the stream itself, 60,000 x 36 x 36 float32, is 311 MB of it) and the process's peak RSS.
MNIST's training images are used when SMOOTHLEARN_DATA (or the cache) has them, else random
28 x 28 images, which render at the same speed.

Usage: ``python benchmarks/bench_moving.py [--steps N]``.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from smoothlearn import data
from smoothlearn.data.moving import MovingSpec, render_stream
from smoothlearn.machine import cpu_info

CASES = {
    "translation (defaults)": {},
    "+ rotation, scale, noise, bar": dict(rotation=3.0, scale_drift=0.02, noise=0.1,
                                          occlusion=0.2),
}


def _images() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        X, y = data.load("mnist", "train")
        return X.reshape(-1, 28, 28), y, "MNIST"
    except data.DataError:
        rng = np.random.default_rng(0)
        return rng.random((60_000, 28, 28), dtype=np.float32), np.arange(60_000) % 10, "random"


def measure(images: np.ndarray, labels: np.ndarray, spec: MovingSpec, steps: int
            ) -> dict[str, float]:
    """CPU and wall seconds, and traced peak MB, of rendering one stream of ``steps``."""
    tracemalloc.start()
    cpu, wall = time.process_time(), time.perf_counter()
    stream = render_stream(images, labels, spec, steps, np.random.default_rng(0))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"cpu_s": cpu, "wall_s": wall, "peak_mb": peak / 2**20,
            "stream_mb": stream.X.nbytes / 2**20}


def main(argv: list[str] | None = None) -> int:
    print(cpu_info().line(), flush=True)  # speed depends on it: say which CPU ran
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60_000)
    args = parser.parse_args(argv)
    images, labels, source = _images()
    print(f"{args.steps} frames of 36 x 36 from {source} images")
    print(f"{'case':32} {'cpu s':>7} {'wall s':>7} {'peak MB':>8} {'stream MB':>10}")
    for name, knobs in CASES.items():
        r = measure(images, labels, MovingSpec(**knobs), args.steps)
        print(f"{name:32} {r['cpu_s']:7.2f} {r['wall_s']:7.2f} {r['peak_mb']:8.0f} "
              f"{r['stream_mb']:10.0f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS (imports and source images included): {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
