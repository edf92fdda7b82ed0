"""Engine benchmark; the code lives in :mod:`smoothlearn.bench` so ``smoothlearn bench`` works
from an installed package. Usage: ``python benchmarks/bench_engine.py [--quick] [--out DIR]``."""

import sys

from smoothlearn.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
