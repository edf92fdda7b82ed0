"""Figures and the HTML report: a tiny synthetic end-to-end run, every figure, a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smoothlearn import claims, figures
from smoothlearn.experiments import curves_frame, load_experiment
from smoothlearn.figures.plotting import plots, style
from smoothlearn.report.draw import draw_figures
from smoothlearn.report.html import write_report
from smoothlearn.report.inputs import ExperimentInfo
from smoothlearn.reproduce import config_table
from smoothlearn.runs import run_many

CHROMIUM = Path("/usr/bin/chromium")
SYNTHETIC = ["figA1", "figA4", "figA7", "fig3", "figA13", "figA14", "figA15"]


def tiny_run(names: list[str]):
    """2 seeds, 120 steps of the synthetic experiments (fast engine: numba, cached)."""
    frames, inputs = [], {}
    for name in names:
        configs = load_experiment(name).runs(seeds=2, overrides={"steps": 120, "eval_every": 40})
        curves = run_many(configs, engine="fast")
        frame = curves_frame(configs, curves)
        frames.append(frame.merge(config_table(configs), on="run_id"))
        if configs[0].dataset.startswith("multiscale"):
            from smoothlearn.analysis import analyse_runs

            inputs[name] = {"configs": configs, "curves": curves,
                            "table": analyse_runs(configs, curves)}
    return pd.concat(frames, ignore_index=True), inputs


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    frame, inputs = tiny_run(SYNTHETIC)
    every_claim = [c for unit in figures.claim_units() for c in unit.claims]
    records = [r.to_record() for r in claims.evaluate_claims(frame, every_claim)]
    drawn = draw_figures(frame, out / "figures", inputs)
    infos = [ExperimentInfo(name=n, toml=f"name = '{n}'", status="ok") for n in SYNTHETIC]
    write_report(out, records, drawn, infos, {"quick": True, "seconds": 1.0})
    return out


def test_tiny_run_draws_its_figures(built):
    for fig_id in ("figA1", "figA4", "figA7", "fig3d", "fig3e", "figA13", "figA14", "figA15"):
        for ext in ("png", "svg"):
            path = built / "figures" / f"{fig_id}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path
    assert not (built / "figures" / "fig2.png").exists()  # no MNIST results, no figure


def test_report_is_self_contained(built):
    text = (built / "report.html").read_text()
    sources = re.findall(r'\bsrc\s*=\s*"([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text
    assert 'id="claims-table"' in text and 'id="fig-figA4"' in text
    assert 'href="#fig-figA4"' in text  # claims link to their figure
    assert "Settings the paper left open" in text and "numpy" in text
    assert "not drawn: no results for experiment &#39;fig2&#39;" in text


def test_markdown_twin_links_pngs(built):
    text = (built / "report.md").read_text()
    assert "](figures/figA1.png)" in text and "| claim |" in text
    assert "http" not in text


def test_curves_average_seeds_with_sem():
    frame = pd.DataFrame({"model": "m", "seed": [0, 1, 0, 1], "step": [0, 0, 10, 10],
                          "test_mse": [1.0, 3.0, 2.0, 2.0]})
    out = plots.seed_curves(frame, ["model"], "test_mse")
    assert out["mean"].tolist() == [2.0, 2.0]
    assert out["sem"].tolist() == pytest.approx([1.0, 0.0])


def test_moving_average_only_below_100_steps():
    assert plots.moving_average_points(20) == 5
    assert plots.moving_average_points(100) == 1
    assert plots.moving_average_points(1000) == 1


def test_condition_colours_are_fixed():
    assert style.condition_color("repeat-1") == style.CONDITION_COLORS["repeat-1"]
    assert len(set(style.CONDITION_COLORS.values())) == len(style.CONDITION_COLORS)
    assert style.condition_color("sticky-0.5") == style.condition_color("sticky-0.5")


# ----------------------------------------------------------------------------- every figure
def fake(experiment: str, arms: list[dict], seeds: int = 3, steps: int = 2000,
         every: int = 50, dataset: str = "synthetic-categories") -> pd.DataFrame:
    """Made-up decaying curves shaped like a results frame, for figures without MNIST."""
    rows = []
    for k, arm in enumerate(arms):
        for seed in range(seeds):
            rng = np.random.default_rng([k, seed])
            for step in range(0, steps + 1, every):
                mse = 0.09 * np.exp(-step / (1500 + 200 * k)) + rng.normal(0, 1e-3)
                arm_full = {"model": "feedforward", "condition": "random", "test_mode": "off",
                            **arm}
                run = "-".join(str(v) for v in arm_full.values())
                rows.append({"run_id": f"{run}-{seed}", "experiment": experiment,
                             "dataset": dataset, "seed": seed, "step": step,
                             "test_mse": mse, "test_ce": 20 * mse, "test_acc": 1 - 9 * mse,
                             "diverged": False, **arm_full})
    return pd.DataFrame(rows)


LEVELS = ["random", "repeat-1", "repeat-3", "repeat-5", "repeat-10"]


def grid(**axes) -> list[dict]:
    import itertools

    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


FAKES = {
    "fig2": grid(model=["feedforward", "leaky"], condition=LEVELS)
    + grid(model=["leaky-reset"], condition=LEVELS, test_mode=["off", "same"]),
    "figA3": grid(condition=LEVELS),
    "figA5": grid(model=["minibatch-feedforward", "leaky-reset"], condition=LEVELS),
    "figA6": grid(model=["minibatch-feedforward"],
                  condition=["random", "repeat-1", "repeat-5", "repeat-16", "repeat-24"]),
    "figA8": grid(model=["lstm"], condition=LEVELS, test_mode=["same"]),
    "figA9": grid(model=["lstm", "leaky-reset"], condition=["repeat-1", "repeat-5", "repeat-10"],
                  test_mode=["same"]) + grid(condition=["repeat-1", "repeat-5", "repeat-10"]),
    "figA10": grid(model=["lstm", "leaky-reset"], condition=["repeat-5"],
                   test_mode=["same", "repeat-1"]) + grid(condition=["repeat-5"]),
    "figA12": grid(model=style.AE_MODELS, condition=["given"], dataset=["multiscale"],
                   lr=[0.003]),
}


def test_every_curve_figure_draws(tmp_path):
    frame = pd.concat([fake(exp, arms) for exp, arms in FAKES.items()], ignore_index=True)
    frame["lr"] = frame["lr"].fillna(0.01)
    figures = draw_figures(frame, tmp_path)
    drawn = {f.id for f in figures if f.png is not None}
    assert set(FAKES) <= drawn, [(f.id, f.note) for f in figures if f.experiment in FAKES]
    fig2 = next(f for f in figures if f.id == "fig2")
    assert "100-step moving average (2 points" in fig2.caption
    assert "moving average" not in next(f for f in figures if f.id == "figA3").caption


def test_a_broken_figure_becomes_a_note(tmp_path):
    frame = fake("figA1", grid(condition=["random", "repeat-1"]))  # no "task" to split on
    frame = frame.drop(columns=["test_mse"])
    (fig,) = [f for f in draw_figures(frame, tmp_path) if f.id == "figA1"]
    assert fig.png is None and fig.note.startswith("figure failed")


# ----------------------------------------------------------------------------- browser
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const rows = document.querySelectorAll('#claims-table tr').length;
  document.title = `probe loaded=${ok} total=${imgs.length} rows=${rows}`;
});
</script></body>"""


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="headless Chromium (/usr/bin/chromium) is not installed; "
                           "apt-get install -y chromium")
def test_report_renders_in_headless_chromium(built, tmp_path):
    page = tmp_path / "page.html"
    page.write_text((built / "report.html").read_text().replace("</body>", PROBE))
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    try:
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    finally:
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    match = re.search(r"probe loaded=(\d+) total=(\d+) rows=(\d+)", dom)
    assert match, dom[:500]
    loaded, total, rows = map(int, match.groups())
    assert total >= 8 and loaded == total
    assert rows > 10
