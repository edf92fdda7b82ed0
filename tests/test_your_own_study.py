"""docs/your-own-study.md runs as written: its Python and TOML blocks, then its `smoothlearn`
commands, on scikit-learn's digits (shipped with scikit-learn, no download)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from smoothlearn.cli import main

DOC = Path(__file__).parents[1] / "docs" / "your-own-study.md"


def blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    return re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(), re.S)


def test_the_digits_example_runs_end_to_end(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn", reason="the example needs scikit-learn (the test extra)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(tmp_path / "cache"))
    ran = []
    for language, body in blocks():
        if language == "python":
            exec(compile(body, str(DOC), "exec"), {})
            ran.append("python")
        elif language == "toml":
            Path("study.toml").write_text(body)
        elif language == "bash":
            for line in body.strip().splitlines():
                argv = shlex.split(line, comments=True)
                assert argv[0] == "smoothlearn", line
                assert main(argv[1:]) == 0, line
                ran.append(argv[1])
    assert ran == ["python", "run", "check", "python"]
    data = json.loads(Path("runs/digits/claims.json").read_text())
    assert [c["claim"] for c in data["claims"]] == ["ff-order", "memory-on-smooth"]
    assert all(c["n"] == 8 for c in data["comparisons"])
    assert data["declared_after_runs"] is False
    assert Path("runs/digits/report.html").stat().st_size > 10_000
    assert "ff-order" in capsys.readouterr().out
