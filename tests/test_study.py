"""Studies (smoothlearn.study): hypotheses in the TOML, judged by the paper's claim code,
end to end on small generated data; the CLI's `check` and the Python API agree."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smoothlearn
from smoothlearn.cli import main
from smoothlearn.experiments import ConfigError
from smoothlearn.study import judge
from smoothlearn.study.hypotheses import parse
from smoothlearn.verdicts import VERDICTS


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(folder))
    return folder


def write_data(folder: Path) -> None:
    rng = np.random.default_rng(1)
    centres = rng.random((3, 8))
    arrays = {}
    for part, n in (("train", 90), ("test", 45)):
        y = np.arange(n) % 3
        arrays[f"X_{part}"] = (centres[y] + 0.3 * rng.random((n, 8))).astype(np.float32)
        arrays[f"y_{part}"] = y
    np.savez(folder / "data.npz", **arrays)


STUDY = """
name = "small"
seeds = 6
[base]
dataset = "data.npz"
hidden = 4
eval_every = 15
lr = 0.2
[[grids]]
model = ["feedforward", "leaky-reset"]
condition = ["repeat-1", "random", "repeat-3"]

[[claims]]
id = "order"
text = "feedforward: repeat-1 < random < repeat-3"
chain = ["repeat-1", "random", "repeat-3"]
where = {{ model = "feedforward" }}

[[claims]]
id = "memory"
text = "leaky-reset beats feedforward on repeat-3, over the whole curve"
better = {{ model = "leaky-reset", condition = "repeat-3" }}
worse = {{ model = "feedforward", condition = "repeat-3" }}
step = "auc"
metric = "{metric}"
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small study run once through the CLI (36 runs of 90 steps)."""
    folder = tmp_path_factory.mktemp("study")
    old = os.environ.get("SMOOTHLEARN_CACHE")
    os.environ["SMOOTHLEARN_CACHE"] = str(folder / "cache")
    try:
        write_data(folder)
        (folder / "study.toml").write_text(STUDY.format(metric="test_acc"))
        assert main(["run", str(folder / "study.toml"), "--out", str(folder / "store"),
                     "--quiet", "--workers", "1"]) == 0
    finally:
        if old is None:
            os.environ.pop("SMOOTHLEARN_CACHE")
        else:
            os.environ["SMOOTHLEARN_CACHE"] = old
    return folder


def test_check_prints_verdicts_and_writes_claims_and_report(study, capsys, monkeypatch):
    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(study / "cache"))
    assert main(["check", str(study / "store")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["claim", "verdict", "comparisons"]
    assert "order" in out and "memory" in out and "warning" not in err
    data = json.loads((study / "store" / "claims.json").read_text())
    assert [c["claim"] for c in data["claims"]] == ["order", "memory"]
    assert all(c["verdict"] in VERDICTS + ("partly reproduced",)
               for c in data["claims"])
    comps = data["comparisons"]
    assert [c["comparison"] for c in comps][:2] == ["repeat-1 < random", "random < repeat-3"]
    assert all(c["n"] == 6 for c in comps)  # paired over the six seeds
    assert comps[2]["metric"] == "test_acc_auc" and comps[2]["step"] == 90
    assert data["declared_after_runs"] is False
    assert data["hypotheses"]["sha256"] == json.loads(
        (study / "store" / "hypotheses.json").read_text())["sha256"]
    html = (study / "store" / "report.html").read_text()
    assert "data:image/png;base64," in html and "order" in html and "hidden" in html


def test_the_verdicts_are_the_claim_codes_own(study, monkeypatch):
    """The same frame through smoothlearn.claims gives the same comparisons (p, Holm)."""
    from smoothlearn import results
    from smoothlearn.claims import evaluate_claims

    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(study / "cache"))
    got = smoothlearn.check(study / "store")
    hyps = got.hypotheses
    frame = results.load(study / "store")
    frame = frame[frame["test_mode"] == "off"]
    direct = evaluate_claims(frame, [hyps.items[0].claim()], match_experiment=False)
    assert [(c.stats.p, c.decision) for c in direct] == [
        (c.stats.p, c.decision) for c in got.comparisons[:2]]


def test_hypotheses_written_after_the_runs_are_flagged(study, capsys, monkeypatch):
    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(study / "cache"))
    later = study / "later.toml"
    later.write_text(STUDY.format(metric="test_mse").split("\n\n", 1)[1])
    future = time.time() + 3600
    os.utime(later, (future, future))
    assert main(["check", str(study / "store"), "--claims", str(later)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "not pre-registered" in err and len(err.splitlines()) == 1
    data = json.loads((study / "store" / "claims.json").read_text())
    assert data["declared_after_runs"] is True
    assert "not pre-registered" in (study / "store" / "report.html").read_text()


def test_the_python_api_returns_typed_results(tmp_path):
    write_data(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY.format(metric="test_mse"))
    from smoothlearn.sweep import Execution

    done = smoothlearn.run(tmp_path / "study.toml", out=tmp_path / "store", seeds=2,
                           overrides={"steps": 30},
                           execution=Execution(workers=1, quiet=True))
    assert isinstance(done, smoothlearn.study.StudyRun)
    assert done.summary.done == len(done.configs) == 12
    assert [h.id for h in done.hypotheses.items] == ["order", "memory"]
    got = smoothlearn.check(tmp_path / "store")
    assert isinstance(got, smoothlearn.study.StudyCheck)
    assert [c.claim for c in got.claims] == ["order", "memory"]
    assert got.json_path.is_file() and got.html_path.is_file()


def test_a_study_with_a_dataset_object(tmp_path):
    from smoothlearn.sweep import Execution

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 5), dtype=np.float32), np.arange(40) % 2
    ds = smoothlearn.Dataset.from_arrays(X[:30], y[:30], X[30:], y[30:], name="tiny")
    exp = smoothlearn.experiments.Experiment(
        name="tiny", seeds=2, base={"hidden": 2, "eval_every": 10},
        grids=[{"condition": ["random", "repeat-2"]}],
        claims=[{"id": "a", "text": "random < repeat-2", "chain": ["random", "repeat-2"]}])
    done = smoothlearn.run(exp, tmp_path / "store", overrides={"dataset": ds},
                           execution=Execution(workers=1, quiet=True))
    assert {c.dataset for c in done.configs} == {ds.name}
    assert smoothlearn.check(tmp_path / "store").comparisons[0].stats.n == 2


# ----------------------------------------------------------------------------- bad hypotheses
@pytest.mark.parametrize("entry, match", [
    ({"id": "x", "text": "t"}, "either chain"),
    ({"id": "x", "text": "t", "chain": ["a"]}, "at least two"),
    ({"id": "x", "text": "t", "chain": ["a", "b"], "better": {"model": "leaky"},
      "worse": {"model": "feedforward"}}, "either chain"),
    ({"id": "x", "text": "t", "better": {"model": "leaky"}}, "come together"),
    ({"id": "x", "text": "t", "chain": ["a", "b"], "by": "colour"}, "unknown key 'colour'"),
    ({"id": "x", "text": "t", "chain": ["a", "b"], "step": "middle"}, "step"),
    ({"id": "x", "text": "t", "chain": ["a", "b"], "test_labels": "some"}, "test_labels"),
    ({"id": "x", "text": "t", "chain": ["a", "b"], "metric": "loss"}, "metric"),
    ({"id": "x", "text": "t", "chain": ["a", "b"], "colour": 1}, "unknown key"),
])
def test_a_bad_hypothesis_is_one_line_naming_it(entry, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse([entry], "study.toml", "2026-01-01T00:00:00+00:00")
    assert "claims[x]" in str(err.value) and "\n" not in str(err.value)


def test_duplicate_ids_are_refused():
    entry = {"id": "x", "text": "t", "chain": ["a", "b"]}
    with pytest.raises(ConfigError, match="used twice"):
        parse([entry, entry], "s.toml", "2026-01-01T00:00:00+00:00")


def test_a_bad_hypothesis_stops_run_before_the_store(tmp_path, capsys):
    write_data(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY.format(metric="accuracy"))
    code = main(["run", str(tmp_path / "study.toml"), "--out", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "claims[memory]: metric" in err
    assert not (tmp_path / "store").exists()


def test_check_without_hypotheses_says_how(tmp_path, capsys):
    (tmp_path / "store").mkdir()
    assert main(["check", str(tmp_path / "store")]) == 2
    assert "give --claims FILE" in capsys.readouterr().err


# ----------------------------------------------------------------------------- measures
def test_auc_is_the_mean_of_the_curve_up_to_each_step():
    frame = pd.DataFrame({"run_id": ["a"] * 3, "step": [0, 10, 20],
                          "test_mse": [1.0, 0.5, 0.5], "test_ce": 0.0, "test_acc": 0.0})
    got = judge.add_auc(frame)["test_mse_auc"].tolist()
    assert got == pytest.approx([1.0, 0.75, 0.625])


def test_the_tier_says_what_a_test_reads_of_the_labels():
    rows = pd.DataFrame([
        {"test_mode": "off", "test_reset": "label", "task": "classify", "condition": "repeat-3"},
        {"test_mode": "same", "test_reset": "label", "task": "classify",
         "condition": "repeat-3"},
        {"test_mode": "same", "test_reset": "never", "task": "classify",
         "condition": "repeat-3"},
        {"test_mode": "random", "test_reset": "input-change", "task": "classify",
         "condition": "repeat-3"},
        {"test_mode": "same", "test_reset": "input-change", "task": "classify",
         "condition": "given"},
    ])
    assert judge.add_tier(rows)["test_labels"].tolist() == [
        "none", "resets", "order", "none", "none"]
