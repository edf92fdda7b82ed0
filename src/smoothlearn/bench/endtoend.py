"""End-to-end rows: the wall time of the commands a user types, each into a fresh store.

The kernel cases say how fast a step is; these say how long a user waits. Each command runs
as its own process (``python -m smoothlearn.cli ...``), as a user would start it: start-up,
data loading, numba's compiled-code cache, training, evaluation, claims and drawing are all
in the time. Each writes into a temporary folder, so nothing is resumed from an earlier run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from smoothlearn import data

#: The end-to-end targets of ``docs/performance.md``: (label, CLI arguments, target seconds).
#: ``{out}`` is replaced by a fresh folder.
COMMANDS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("Fig 2 grid, 5 seeds (150 runs)",
     ("run", "fig2", "--dataset", "mnist", "--seeds", "5", "--quiet", "--out", "{out}"), 90.0),
    ("reproduce --quick", ("reproduce", "--quick", "--out", "{out}"), 90.0),
)


@dataclass(frozen=True)
class EndToEnd:
    """One command's wall time against its target."""

    case: str
    command: str
    seconds: float
    target_s: float
    met: bool
    note: str


def _mnist_found() -> bool:
    """Both commands train on MNIST: without it there is nothing to time."""
    try:
        data.load("mnist", "test")
    except Exception:  # noqa: BLE001 - any failure to find the files means: not found
        return False
    return True


def time_command(label: str, args: tuple[str, ...], target_s: float) -> EndToEnd:
    """Run one CLI command in a fresh folder and time it (wall clock, process included)."""
    with tempfile.TemporaryDirectory(prefix="smoothlearn-bench-") as tmp:
        argv = [a.replace("{out}", str(Path(tmp) / "out")) for a in args]
        shown = "smoothlearn " + " ".join(a if "{out}" not in a else "DIR" for a in args)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "smoothlearn.cli", *argv],
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return EndToEnd(label, shown, seconds, target_s, False,
                        f"failed (exit {done.returncode}): {last}")
    return EndToEnd(label, shown, seconds, target_s, seconds <= target_s, "fresh store")


def end_to_end_cases() -> list[dict[str, Any]]:
    """Every end-to-end row (none when MNIST is not found: the table says so)."""
    if not _mnist_found():
        return []
    return [asdict(time_command(*command)) for command in COMMANDS]


def end_to_end_table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as Markdown lines (a note when they were not run)."""
    if not rows:
        return ["End to end: not timed (MNIST not found, or `--quick`)."]
    lines = ["| end to end | command | wall time | target | note |", "|---|---|---|---|---|"]
    for r in rows:
        status = "met" if r["met"] else "NOT met"
        lines.append(f"| {r['case']} | `{r['command']}` | {r['seconds']:.1f} s "
                     f"| ≤{r['target_s']:.0f} s {status} | {r['note']} |")
    return lines
