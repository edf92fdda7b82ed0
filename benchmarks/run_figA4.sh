#!/usr/bin/env bash
# Issue 3's timing check (a benchmark, never a timed test): the synthetic A.2 experiment of
# Fig A.4 with 20 seeds through `smoothlearn run`, then its summary table.
# Usage: bash benchmarks/run_figA4.sh   (after scripts/setup.sh; ~10 s on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
python -m smoothlearn.machine  # the CPU: model, AVX2/AVX-512, L2 per core
out="$(mktemp -d)"
time smoothlearn run figA4 --seeds 20 --out "$out" --quiet
smoothlearn results "$out"
rm -rf "$out"
