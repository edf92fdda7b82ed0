"""The bench's end-to-end rows: a user's command, timed in a fresh store, against its target.

Timings are never asserted (the machine is shared); what is tested is that the command really
runs (and a failing one is reported as failed), the target is judged from the measured time,
and the rows are left out, with a note, where MNIST is not found.
"""

from __future__ import annotations

import subprocess

import pytest

from smoothlearn.bench import endtoend


def test_a_real_command_runs_in_a_fresh_folder_hidden_from_the_row():
    row = endtoend.time_command("dry run", ("run", "fig2", "--dry-run", "--out", "{out}"), 1e6)
    assert row.met and row.seconds > 0 and row.note == "fresh store", row.note
    assert row.command == "smoothlearn run fig2 --dry-run --out DIR"


def _finished(returncode: int, stderr: str = ""):
    def run(argv, **kwargs):
        assert argv[1:3] == ["-m", "smoothlearn.cli"] and "{out}" not in " ".join(argv)
        return subprocess.CompletedProcess(argv, returncode, "", stderr)
    return run


def test_the_target_is_judged_from_the_measured_time(monkeypatch):
    monkeypatch.setattr(endtoend.subprocess, "run", _finished(0))
    assert endtoend.time_command("x", ("list",), target_s=1e6).met
    assert not endtoend.time_command("x", ("list",), target_s=0.0).met


def test_a_failing_command_is_reported_not_timed_as_a_success(monkeypatch):
    monkeypatch.setattr(endtoend.subprocess, "run",
                        _finished(2, "smoothlearn: error: unknown experiment 'x'\n"))
    row = endtoend.time_command("bad", ("run", "x"), target_s=1e6)
    assert not row.met
    assert row.note == "failed (exit 2): smoothlearn: error: unknown experiment 'x'"


def test_without_mnist_no_row_is_timed_and_the_table_says_so(monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("mnist")

    monkeypatch.setattr(endtoend.data, "load", missing)
    assert endtoend.end_to_end_cases() == []
    assert endtoend.end_to_end_table([])[0].startswith("End to end: not timed")


@pytest.mark.parametrize(("seconds", "status"), [(12.5, "met"), (120.0, "NOT met")])
def test_the_table_prints_time_target_and_status(seconds, status):
    row = endtoend.EndToEnd("Fig 2 grid", "smoothlearn run fig2", seconds, 90.0,
                            seconds <= 90.0, "fresh store")
    from dataclasses import asdict

    lines = endtoend.end_to_end_table([asdict(row)])
    assert lines[2] == (f"| Fig 2 grid | `smoothlearn run fig2` | {seconds:.1f} s "
                        f"| ≤90 s {status} | fresh store |")
