"""The command line: every subcommand is wired, and bad input ends in one line, exit 2."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from smoothlearn import cli


def test_every_subcommand_parses():
    parser = cli.build_parser()
    for argv in (["streams"], ["data", "info"], ["list"], ["run", "figA7"], ["results", "x"],
                 ["check", "x"], ["reproduce", "--quick"], ["bench", "--quick"]):
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


def _package_modules() -> dict[str, ast.Module]:
    root = Path(cli.__file__).parent
    return {p.relative_to(root.parent).as_posix(): ast.parse(p.read_text())
            for p in sorted(root.rglob("*.py"))}


def _imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_cli_imports_argparse():
    users = {name for name, tree in _package_modules().items() if "argparse" in _imports(tree)}
    assert users == {"smoothlearn/cli.py"}


def test_nothing_below_the_cli_reads_a_namespace():
    readers = {name for name, tree in _package_modules().items()
               if any(isinstance(n, ast.Attribute | ast.Name)
                      and "Namespace" in (getattr(n, "attr", None) or getattr(n, "id", ""))
                      for n in ast.walk(tree))}
    assert readers <= {"smoothlearn/cli.py"}


def _parsers(parser):
    yield parser
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_has_help():
    missing = [f"{p.prog} {'/'.join(a.option_strings) or a.dest}"
               for p in _parsers(cli.build_parser()) for a in p._actions
               if a.help in (None, "") and a.dest not in ("help", "command", "data_command")]
    assert not missing, f"options without help: {missing}"


def test_version(capsys):
    from smoothlearn import __version__

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"smoothlearn {__version__}"


def test_data_dir_flag_is_the_library_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SMOOTHLEARN_DATA", raising=False)
    code = cli.main(["streams", "--dataset", "synthetic-categories", "--data-dir",
                     str(tmp_path), "--show", "5"])
    assert code == 0 and "synthetic-categories: 1200 items" in capsys.readouterr().out
    import os

    assert os.environ["SMOOTHLEARN_DATA"] == str(tmp_path.resolve())


def test_streams_puts_label_runs_and_input_similarity_on_one_table(capsys):
    """Real inputs get the consecutive-input cosine; repeat orders raise it over random."""
    assert cli.main(["streams", "--dataset", "synthetic-categories", "--conditions", "random",
                     "repeat-5", "--show", "5"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("random", "repeat-5"))}
    assert float(rows["repeat-5"][3]) > float(rows["random"][3]) > 0
    assert cli.main(["streams", "--show", "5"]) == 0  # toy labels: no inputs, no cosine
    assert " nan " in capsys.readouterr().out


def test_dry_run_trains_nothing(tmp_path, capsys):
    code = cli.main(["run", "figA7", "--dry-run", "--out", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert code == 0 and "nothing trained" in out and not (tmp_path / "s").exists()


def test_publish_refuses_to_write_outside_a_checkout(tmp_path, monkeypatch, capsys):
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "claims.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    code = cli.main(["publish", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert code == 2 and "--docs" in err and not (tmp_path / "docs").exists()
