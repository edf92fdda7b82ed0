"""``smoothlearn reproduce``: quick plans, no MNIST, failing experiments, resumable stores."""

from __future__ import annotations

import dataclasses
import json
import socket

import pandas as pd
import pytest

from smoothlearn import figures
from smoothlearn import reproduce as rp
from smoothlearn.experiments import builtin_names, load_experiment
from smoothlearn.figures.unit import LSTM_QUICK, MNIST_QUICK, SYNTHETIC_QUICK
from smoothlearn.results import strict_json
from smoothlearn.sweep import Execution, run_sweep

QUIET = Execution(quiet=True)


def closed_port() -> int:
    """A local port nobody listens on: downloads fail at once, with no network needed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    empty = tmp_path / "empty-data"
    empty.mkdir()
    monkeypatch.setenv("SMOOTHLEARN_DATA", str(empty))
    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SMOOTHLEARN_MIRRORS", f"http://127.0.0.1:{closed_port()}/{{name}}")


def _quick(name: str):
    return figures.get(name).quick.apply(load_experiment(name).seeds)


def test_quick_settings_shrink_mnist_lstm_and_seeds():
    seeds, over, per_model = _quick("fig2")
    assert seeds == MNIST_QUICK.seeds and over["steps"] == MNIST_QUICK.overrides["steps"]
    assert per_model == {}
    _, over, per_model = _quick("figA9")
    assert per_model["lstm"]["hidden"] < 392 and per_model["lstm"]["steps"] < over["steps"]
    _, over, _ = _quick("figA6")
    assert over["eval_every"] % 16 == 0  # mini-batch runs are evaluated at batch boundaries
    seeds, over, _ = _quick("figA1")
    assert seeds == SYNTHETIC_QUICK.seeds and over == {}


def test_quick_plan_covers_every_builtin_experiment():
    plans = rp.plan_experiments(quick=True)
    in_report = [n for n in builtin_names() if load_experiment(n).in_report]
    in_quick = [n for n in in_report if not figures.get(n).extension]
    assert sorted(info.name for info, _ in plans) == in_quick
    assert "moving" not in in_quick  # an extension: run when named, or in full runs
    assert "moving" in [info.name for info, _ in rp.plan_experiments(quick=False)]
    for info, configs in plans:
        assert info.status != "failed", info.message
        assert configs and info.toml.startswith("name")
        lstm = [c for c in configs if c.model == "lstm"]
        assert all(c.spec().hidden == LSTM_QUICK.per_model["lstm"]["hidden"] for c in lstm)


def test_full_plan_keeps_the_toml_settings():
    (info, configs), = rp.plan_experiments(quick=False, names=["figA1"])
    assert info.seeds == load_experiment("figA1").seeds and info.overrides == {}
    assert len(configs) == info.runs


def test_quick_without_mnist_prints_one_line_and_writes_the_report(tmp_path, no_mnist,
                                                                   capsys):
    from smoothlearn import cli

    code = cli.main(["reproduce", "--quick", "--out", str(tmp_path / "out"), "--workers", "1",
                     "--quiet"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    mnist = [line for line in out if "MNIST" in line]
    assert len(mnist) == 1 and mnist[0].startswith("MNIST unavailable (")
    assert out[-1].startswith("report: ")
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="claims-table"' in html and "MNIST unavailable" in html
    data = json.loads((tmp_path / "out" / "claims.json").read_text())
    status = {e["name"]: e["status"] for e in data["experiments"]}
    assert status["fig2"] == "skipped" and status["figA1"] == "ok" and status["fig3"] == "ok"
    fig2 = [r for r in data["records"] if r["experiment"] == "fig2"]
    assert fig2 and all(r["verdict"] == "no data" for r in fig2)
    assert all("MNIST unavailable" in r["note"] for r in fig2)
    a7 = [r for r in data["records"] if r["claim"] == "A7-classify-no-leaky-benefit"]
    assert a7 and all(r["n"] == SYNTHETIC_QUICK.seeds for r in a7)
    figures = {p.name for p in (tmp_path / "out" / "figures").iterdir()}
    assert {"figA1.png", "figA4.png", "figA7.png", "fig3d.png", "fig3e.png"} <= figures


def test_a_failing_experiment_is_reported_and_the_rest_goes_on(tmp_path, no_mnist,
                                                               monkeypatch):
    def flaky(configs, directory, execution):
        if configs[0].experiment == "figA1":
            raise RuntimeError("disk on fire")
        return run_sweep(configs, directory, execution)

    monkeypatch.setattr(rp, "run_sweep", flaky)
    done = rp.reproduce(rp.ReproduceOptions(tmp_path, quick=True,
                                            experiments=("figA1", "figA7")), QUIET)
    assert done.failed == ("figA1",)
    html = done.report.read_text()
    assert "disk on fire" in html and 'id="fig-figA7"' in html
    data = json.loads((tmp_path / "claims.json").read_text())
    status = {e["name"]: (e["status"], e["message"]) for e in data["experiments"]}
    assert status["figA1"] == ("failed", "RuntimeError: disk on fire")
    assert status["figA7"][0] == "ok"
    a1 = [r for r in data["records"] if r["experiment"] == "figA1"]
    assert a1 and all("disk on fire" in r["note"] for r in a1)


def test_reruns_reuse_the_store_and_ignore_foreign_runs(tmp_path):
    configs = load_experiment("figA7").runs(seeds=2, overrides={"steps": 60})
    one = Execution(workers=1, quiet=True)
    first = run_sweep(configs, tmp_path, one)
    assert first.failed == 0 and first.done == len(configs)
    other = load_experiment("figA7").runs(seeds=1, overrides={"steps": 40})
    run_sweep(other, tmp_path, one)
    frame = rp.load_frame(configs, tmp_path)
    assert set(frame["run_id"]) == {c.run_id() for c in configs}
    assert {"task", "reset", "lr", "class_balance"} <= set(frame.columns)


def test_nothing_to_run_still_writes_a_report(tmp_path, no_mnist, capsys):
    done = rp.reproduce(rp.ReproduceOptions(tmp_path, quick=True, experiments=("fig2",)), QUIET)
    path = done.report
    assert path.is_file() and done.failed == ()
    assert 'id="claims-table"' in path.read_text()
    assert len(capsys.readouterr().out.splitlines()) == 1
    data = json.loads((tmp_path / "claims.json").read_text())
    assert {r["verdict"] for r in data["records"]} == {"no data"}


def test_claims_json_is_strict_json():
    import math

    import numpy as np

    cleaned = strict_json({"a": [np.float64("nan"), 1.5, np.int64(2)], "b": math.inf})
    assert cleaned == {"a": [None, 1.5, 2], "b": None}
    json.dumps(cleaned, allow_nan=False)


def test_robustness_matrix_joins_the_report(tmp_path, monkeypatch, mnist_available):
    """Needs MNIST: reproduce leaves the robustness sweep out (with a note) without it."""
    from smoothlearn import robustness

    real = robustness.run

    def small(options, execution):
        options = dataclasses.replace(options, seeds=8, cells=("literal",), autoencoders=False,
                                      dataset="synthetic-categories")
        return real(options, dataclasses.replace(execution, workers=1))

    monkeypatch.setattr(robustness, "run", small)
    path = rp.reproduce(rp.ReproduceOptions(tmp_path, quick=True, experiments=("figA7",),
                                            robustness=True), QUIET).report
    html = path.read_text()
    assert 'id="fig-robustness"' in html and "under the literal protocol" in html
    assert (tmp_path / "figures" / "robustness.png").is_file()
    assert "figures/robustness.png" in (tmp_path / "report.md").read_text()


def _fake_moving_frame():
    """Results of the moving experiment's MLP arms only (3 seeds, two evaluation steps)."""
    import pandas as pd

    from smoothlearn.figures import moving

    return pd.DataFrame([
        {"run_id": f"{stream}-{model}-{mode}-{seed}", "experiment": "moving",
         "dataset": "moving-mnist", "model": model, "condition": "given", "test_mode": mode,
         "seed": seed, "dataset_params": moving.stream_key(stream), "step": step,
         "test_mse": 0.09 - step * 1e-5 + seed * 1e-4, "test_acc": 0.5, "test_ce": 1.0}
        for stream in moving.STREAMS for model, mode in moving.ARMS
        for seed in range(3) for step in (0, 1000)])


def test_a_run_of_one_extension_unit_is_published_as_its_own_page(tmp_path):
    """``reproduce --only moving`` then ``publish``: docs/moving.md and its figures, while the
    paper's reproduction page and the README stay untouched."""
    from smoothlearn import cli

    info = rp.ExperimentInfo(name="moving", title="", figure="", status="ok")
    assert rp._page([info]) == "moving"
    assert rp._page([dataclasses.replace(info, name="fig2")]) is None
    assert rp._page([info, dataclasses.replace(info, name="fig2")]) is None
    frame = _fake_moving_frame()
    listed = {r.experiment for r in rp._claims(frame, "end", [], [info], {})}
    assert listed == {"moving"}  # the paper's claims are not listed as "no data" there
    both = [info, dataclasses.replace(info, name="figA7")]
    assert {r.experiment for r in rp._claims(frame, "end", [], both, {})} > {"moving", "fig2"}
    out, docs = tmp_path / "out", tmp_path / "docs"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "moving-strip.png").write_bytes(b"png")
    (out / "report.md").write_text("# Report\n\n![strip](figures/moving-strip.png)\n")
    (out / "claims.json").write_text(json.dumps({"page": "moving", "quick": False}))
    readme = tmp_path / "README.md"
    readme.write_text("# project\n")
    assert cli.main(["publish", str(out), "--docs", str(docs), "--readme", str(readme)]) == 0
    assert "](figures/moving/moving-strip.png)" in (docs / "moving.md").read_text()
    assert (docs / "figures" / "moving" / "moving-strip.png").read_bytes() == b"png"
    assert readme.read_text() == "# project\n" and not (docs / "reproduction.md").exists()


def test_publish_copies_the_tool_output_into_docs_and_readme(tmp_path):
    from smoothlearn import cli

    out = tmp_path / "out"
    rp.reproduce(rp.ReproduceOptions(out, quick=True, experiments=("figA7",), robustness=False),
                 QUIET)
    readme = tmp_path / "README.md"
    readme.write_text("# project\n\nintro\n")
    docs = tmp_path / "docs"
    assert cli.main(["publish", str(out), "--docs", str(docs), "--readme", str(readme)]) == 0
    first = readme.read_text()
    assert first.startswith("# project\n\nintro\n") and "A7-classify" not in first
    assert "| A.7 stream (no shared features)" in first and "**reproduced**" in first
    assert (docs / "figures" / "figA7.png").is_file()
    assert "](figures/figA7.png)" in (docs / "reproduction.md").read_text()
    records = json.loads((out / "claims.json").read_text())["records"]
    table = pd.read_csv(docs / "data" / "claims.csv")
    assert table["id"].tolist() == [r["id"] for r in records]  # one row per comparison
    assert {"test_labels", "sd_better", "p_holm", "effect_sd", "mde", "seeds_claimed",
            "verdict"} <= set(table.columns)
    assert table["p"].to_numpy() == pytest.approx(  # JSON null (no data): an empty cell
        [float("nan") if r["p"] is None else r["p"] for r in records], nan_ok=True)
    cli.main(["publish", str(out), "--docs", str(docs), "--readme", str(readme)])
    assert readme.read_text() == first  # the block is replaced, never appended twice


def test_runs_of_later_experiments_that_share_a_training_join_the_earlier_sweep():
    from smoothlearn.experiments import make_config
    from smoothlearn.reproduce import later_siblings

    base = dict(dataset="synthetic-categories", model="leaky-reset", condition="repeat-3",
                steps=300, eval_every=100)
    first = [make_config(**base, experiment="a", test_mode="same", seed=s) for s in (0, 1)]
    later = [make_config(**base, experiment="b", test_mode="repeat-1", seed=0),  # sibling
             make_config(**base, experiment="b", test_mode="same", seed=1),  # first[1] itself
             make_config(**base, experiment="b", test_mode="off", seed=0, lr=0.02)]  # other net
    assert later_siblings(first, later) == [later[0]]


def test_depends_on_reads_the_sweep_and_never_repeats_the_headline(tmp_path):
    """A robustness table beside the report: the row's headline (label-free) verdict is the
    reference, a label-free cell agreeing with it is not a dependence, and a cell whose nets
    did not learn is named as such."""
    from smoothlearn.report.headline import HeadlineRow

    def row(cell, verdict, labels="none", learned=True, health="accuracy 0.86"):
        return {"claim": "reset-beats-ff", "cell": cell, "stage": "end",
                "literal": cell == "literal", "verdict": verdict, "test_labels": labels,
                "learned": learned, "health": health}

    table = [row("literal", "reproduced", "resets"), row("test: memory off", "reversed"),
             row("no factor, memory off", "partly reproduced (1 of 2)"),
             row("RMSprop", "reversed", "resets", False, "accuracy 0.10")]
    (tmp_path / "robustness").mkdir()
    (tmp_path / "robustness" / "robustness.json").write_text(json.dumps({"table": table}))
    rows = [HeadlineRow("reset-beats-ff", "", "", "fig2", label_free="reversed",
                        label_free_reason="")]
    assert rp._depends_on(tmp_path, rows) == {
        "reset-beats-ff": "no factor, memory off (partly reproduced (1 of 2)); RMSprop: nets "
                          "did not learn (accuracy 0.10)"}
    assert rp._depends_on(tmp_path / "nowhere", rows) == {}
