"""Fuzzing the command line: every subcommand fed bad arguments, values, files and paths.

Each case asserts the contract of ``docs/sweeps.md``: no traceback, exit status 2, exactly one
line on stderr that names the culprit, and no finished result in an existing store lost or
changed. Cases that would train run against a tiny finished store (``store`` fixture) whose
files are hashed before and compared after.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smoothlearn import cli


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A finished two-run store of the smallest built-in experiment."""
    out = tmp_path_factory.mktemp("store") / "figA7"
    code = cli.main(["run", "figA7", "--seeds", "1", "--steps", "50", "--set", "eval_every=25",
                     "--set", "model=feedforward", "--out", str(out), "--quiet",
                     "--workers", "1"])
    assert code == 0
    return out


def _call(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code if isinstance(stop.code, int) else 2
    captured = capsys.readouterr()
    return int(code or 0), captured.out, captured.err


def _expect_one_line(code: int, err: str, culprit: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}, stderr: {err!r}"
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert culprit.lower() in lines[0].lower(), f"{culprit!r} not named in {lines[0]!r}"


# Each case: (id, setup(tmp, store) -> argv, culprit named in the message).
Setup = Callable[[Path, Path], list[str]]


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


CASES: list[tuple[str, Setup, str]] = [
    # run: bad --set values (validated where the config is built, before anything trains)
    ("set-nan-leak", lambda t, s: ["run", "figA7", "--set", "leak=nan", "--out", str(s)], "leak"),
    ("set-inf-lr", lambda t, s: ["run", "figA7", "--set", "lr=inf", "--out", str(s)], "lr"),
    ("set-bool-lr", lambda t, s: ["run", "figA7", "--set", "lr=true", "--out", str(s)], "lr"),
    ("set-text-lr", lambda t, s: ["run", "figA7", "--set", "lr=fast", "--out", str(s)], "lr"),
    ("set-unknown-key", lambda t, s: ["run", "figA7", "--set", "learning_rate=0.1"],
     "learning_rate"),
    ("set-no-equals", lambda t, s: ["run", "figA7", "--set", "lr"], "lr"),
    ("set-bad-condition", lambda t, s: ["run", "figA7", "--set", "condition=repeat-0"],
     "repeat-0"),
    ("set-bad-model", lambda t, s: ["run", "figA7", "--set", "model=gru"], "gru"),
    ("set-leak-out-of-range", lambda t, s: ["run", "figA7", "--set", "leak=1.5"], "leak"),
    # run: bad experiments, files and combinations
    ("run-unknown-experiment", lambda t, s: ["run", "fig99"], "fig99"),
    ("run-missing-toml", lambda t, s: ["run", str(t / "nope.toml")], "nope.toml"),
    ("run-broken-toml", lambda t, s: ["run", str(_write(t / "broken.toml", "name = [\n"))],
     "broken.toml"),
    ("run-unknown-toml-key", lambda t, s: ["run", str(_write(t / "odd.toml",
                                                             'name = "odd"\ncolour = 3\n'))],
     "colour"),
    ("run-dataset-task-mismatch", lambda t, s: ["run", "figA4", "--dataset", "multiscale"],
     "multiscale"),
    ("run-unknown-dataset", lambda t, s: ["run", "figA4", "--dataset", "cifar"], "cifar"),
    ("run-zero-seeds", lambda t, s: ["run", "figA7", "--seeds", "0"], "--seeds"),
    ("run-negative-steps", lambda t, s: ["run", "figA7", "--steps", "-5"], "--steps"),
    ("run-text-seeds", lambda t, s: ["run", "figA7", "--seeds", "two"], "--seeds"),
    ("run-zero-workers", lambda t, s: ["run", "figA7", "--workers", "0"], "--workers"),
    ("run-bad-engine", lambda t, s: ["run", "figA7", "--engine", "warp"], "--engine"),
    ("run-out-is-a-file", lambda t, s: ["run", "figA7", "--seeds", "1", "--steps", "5", "--out",
                                        str(_write(t / "a-file", "x"))], "a-file"),
    ("run-out-under-a-file", lambda t, s: ["run", "figA7", "--seeds", "1", "--steps", "5",
                                           "--out", str(_write(t / "f2", "x") / "sub")], "f2"),
    ("run-out-unwritable", lambda t, s: ["run", "figA7", "--seeds", "1", "--steps", "5",
                                         "--out", "/proc/smoothlearn-out"],
     "/proc/smoothlearn-out"),
    ("run-unreachable-scheduler", lambda t, s: ["run", "figA7", "--scheduler",
                                                          "tcp://127.0.0.1:1"], "--scheduler"),
    # results
    ("results-missing-dir", lambda t, s: ["results", str(t / "no-such-store")], "no-such-store"),
    ("results-not-a-store", lambda t, s: ["results", str(_write(t / "plain" / "x.txt", "x")
                                                         .parent)], "plain"),
    ("results-csv-in-missing-dir", lambda t, s: ["results", str(s), "--csv",
                                                 str(t / "missing" / "dir" / "x.csv")],
     "x.csv"),
    ("results-csv-is-a-dir", lambda t, s: ["results", str(s), "--csv",
                                           str((t / "csvdir").mkdir() or t / "csvdir")], "csvdir"),
    # check
    ("check-missing-dir", lambda t, s: ["check", str(t / "no-such-store")], "no-such-store"),
    ("check-no-hypotheses", lambda t, s: ["check", str(s)], "--claims"),
    ("check-missing-claims-file", lambda t, s: ["check", str(s), "--claims",
                                                str(t / "nope.toml")], "nope.toml"),
    ("check-bad-claim", lambda t, s: ["check", str(s), "--claims", str(_write(
        t / "c.toml", '[[claims]]\nid = "x"\ntext = "t"\nchain = ["a"]\n'))], "claims[x]"),
    # streams
    ("streams-bad-condition", lambda t, s: ["streams", "--conditions", "repeat-0"], "repeat-0"),
    ("streams-unknown-dataset", lambda t, s: ["streams", "--dataset", "cifar"], "cifar"),
    ("streams-negative-show", lambda t, s: ["streams", "--show", "-3"], "--show"),
    # data
    ("data-unknown-name", lambda t, s: ["data", "fetch", "cifar"], "cifar"),
    # reproduce
    ("reproduce-unknown-experiment", lambda t, s: ["reproduce", "--only", "fig99", "--out",
                                                   str(t / "r")], "fig99"),
    ("reproduce-unknown-model", lambda t, s: ["reproduce", "--skip-models", "gru", "--out",
                                              str(t / "r")], "gru"),
    ("reproduce-out-is-a-file", lambda t, s: ["reproduce", "--quick", "--only", "figA7",
                                              "--out", str(_write(t / "rf", "x"))], "rf"),
    # robustness
    ("robustness-unknown-cell", lambda t, s: ["robustness", "--cells", "nonsense", "--out",
                                              str(t / "rb")], "nonsense"),
    ("robustness-zero-seeds", lambda t, s: ["robustness", "--seeds", "0"], "--seeds"),
    # landscape
    ("landscape-unknown-dataset", lambda t, s: ["landscape", "--quick", "--dataset", "cifar",
                                                "--out", str(t / "l")], "cifar"),
    ("landscape-quick-and-full", lambda t, s: ["landscape", "--quick", "--full"], "--full"),
    ("landscape-out-is-a-file", lambda t, s: ["landscape", "--quick", "--out",
                                              str(_write(t / "lf", "x"))], "lf"),
    # publish
    ("publish-not-a-reproduction", lambda t, s: ["publish", str(t), "--docs", str(t / "d"),
                                                 "--readme", ""], "claims.json"),
    ("publish-missing-dir", lambda t, s: ["publish", str(t / "gone"), "--docs", str(t / "d"),
                                          "--readme", ""], "gone"),
    # bench
    ("bench-out-under-a-file", lambda t, s: ["bench", "--quick", "--out",
                                             str(_write(t / "bf", "x") / "sub")], "bf"),
    # list
    ("list-unknown-flag", lambda t, s: ["list", "--colour"], "--colour"),
    # no subcommand, unknown subcommand
    ("no-subcommand", lambda t, s: [], "command"),
    ("unknown-subcommand", lambda t, s: ["train"], "train"),
]


@pytest.mark.parametrize("setup,culprit", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(setup, culprit, tmp_path, store, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _hashes(store)
    code, _, err = _call(setup(tmp_path, store), capsys)
    _expect_one_line(code, err, culprit)
    assert _hashes(store) == before, "a finished result in the store was changed or lost"


def test_every_subcommand_is_fuzzed():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    prefix = {"set": "run"}
    covered = {prefix.get(case[0].split("-")[0], case[0].split("-")[0]) for case in CASES}
    assert set(sub.choices) <= covered, f"not fuzzed: {set(sub.choices) - covered}"


def _corrupt(store: Path, tmp_path: Path, part: str, payload: bytes) -> Path:
    """A copy of the store with its first ``part`` file (runs or curves) overwritten."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    victim = sorted((copy / part).iterdir())[0]
    victim.write_bytes(payload)
    return victim


@pytest.mark.parametrize("part,payload", [("runs", b"{not json"), ("runs", b""),
                                          ("curves", b"PAR1garbage"), ("curves", b"")])
def test_results_names_an_unreadable_file(part, payload, store, tmp_path, capsys):
    victim = _corrupt(store, tmp_path, part, payload)
    code, out, err = _call(["results", str(tmp_path / "copy")], capsys)
    _expect_one_line(code, err, victim.name)


def test_results_status_lists_corrupt_runs(store, tmp_path, capsys):
    victim = _corrupt(store, tmp_path, "runs", b"{not json")
    code, out, err = _call(["results", str(tmp_path / "copy"), "--status"], capsys)
    assert code == 0 and "Traceback" not in err
    assert "corrupt" in out and victim.stem in out


def test_broken_pipe_is_quiet(store):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        f"{sys.executable} -m smoothlearn.cli results {store} | head -c 10 > /dev/null",
        shell=True, capture_output=True, text=True, env=env, check=False)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


_KEYS = ["lr", "leak", "seed", "steps", "eval_every", "hidden", "condition", "model",
         "optimizer", "loss", "reset", "test_mode", "rmsprop_alpha", "batch_size", "epochs"]
_VALUES = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e309", "true", "[]", "[1, 2]", '"x"',
                     "repeat-0", "sticky-2", "{}", "0.5", "1"]),
    st.text(alphabet="abc-_.0123456789[]{}\"'=", max_size=12),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(_KEYS), value=_VALUES)
def test_any_set_value_is_accepted_or_named(key, value, capsys):
    """``--dry-run`` validates the whole plan without training: 0, or 2 naming the key."""
    code, out, err = _call(["run", "figA7", "--dry-run", "--set", f"{key}={value}"], capsys)
    assert "Traceback" not in err
    if code != 0:
        _expect_one_line(code, err, key)


def test_missing_mnist_is_one_check_before_any_run(tmp_path, monkeypatch, capsys):
    """Without MNIST (and with the mirrors unreachable), ``run fig2`` stops at one line naming
    the dataset and the fix, and no store is written."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("SMOOTHLEARN_DATA", str(empty))
    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(tmp_path / "cache"))
    from smoothlearn import data

    data.clear_cache()
    code, _, err = _call(["run", "fig2", "--seeds", "1", "--out", str(tmp_path / "s")], capsys)
    _expect_one_line(code, err, "mnist")
    assert "SMOOTHLEARN_DATA" in err
    assert not (tmp_path / "s" / "runs").exists()
