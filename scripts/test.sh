#!/usr/bin/env bash
# Run the test suite (expects scripts/setup.sh to have run).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export SMOOTHLEARN_DATA="${SMOOTHLEARN_DATA:-$(cd .. && pwd)/shared/data}"
python -m pytest -q "$@"
