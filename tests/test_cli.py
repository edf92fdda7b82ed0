"""The command line: every subcommand is wired, and bad input ends in one line, exit 2."""

from __future__ import annotations

import json

import pytest

from smoothlearn import cli


def test_every_subcommand_parses():
    parser = cli.build_parser()
    for argv in (["streams"], ["data", "info"], ["list"], ["run", "figA7"], ["results", "x"],
                 ["reproduce", "--quick"], ["bench", "--quick"]):
        assert callable(parser.parse_args(argv).func)


def test_bench_command_calls_the_typed_entry_point(monkeypatch, tmp_path, capsys):
    from smoothlearn import bench

    calls = []

    def fake(quick, out):
        calls.append((quick, out))
        return bench.BenchResult({}, "| table |", out / "a.json", out / "a.md")

    monkeypatch.setattr(bench, "run_benchmarks", fake)
    assert cli.main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    assert calls == [(True, tmp_path)]
    assert "| table |" in capsys.readouterr().out


def test_reproduce_rejects_an_unknown_experiment(tmp_path, capsys):
    code = cli.main(["reproduce", "--only", "fig99", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "fig99" in err[0] and "figA7" in err[0]


def test_reproduce_one_experiment_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "rep"
    code = cli.main(["reproduce", "--quick", "--only", "figA7", "--out", str(out), "--quiet",
                     "--workers", "1"])
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {out / 'report.html'}"
    data = json.loads((out / "claims.json").read_text())
    assert [e["name"] for e in data["experiments"]] == ["figA7"]
    assert {r["verdict"] for r in data["records"] if r["experiment"] == "figA7"} - {"no data"}


def test_reproduce_rejects_an_unknown_model(tmp_path, capsys):
    code = cli.main(["reproduce", "--skip-models", "gru", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "gru" in err[0] and "lstm" in err[0]


def test_skipping_a_model_drops_its_runs_and_says_so():
    from smoothlearn.reproduce import plan_experiments

    plans = dict((i.name, (i, c)) for i, c in plan_experiments(True, ["figA8", "figA9"],
                                                              skip_models=("lstm",)))
    assert plans["figA8"][0].status == "skipped" and plans["figA8"][1] == []
    assert {c.model for c in plans["figA9"][1]} == {"leaky-reset", "feedforward"}


@pytest.mark.parametrize("argv", [
    ["run", "figA4", "--seeds", "0"], ["run", "figA4", "--steps", "-5"],
    ["robustness", "--seeds", "0"], ["reproduce", "--workers", "0"],
    ["run", "figA4", "--seeds", "two"]])
def test_counts_must_be_positive(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "must be at least 1" in err or "not a whole number" in err
