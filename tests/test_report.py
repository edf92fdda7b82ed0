"""Figures and the HTML report: a tiny synthetic end-to-end run, every figure, a real browser."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg

from smoothlearn import claims, figures
from smoothlearn import reproduce as rp
from smoothlearn import robustness as rb
from smoothlearn.experiments import curves_frame, load_experiment
from smoothlearn.figures.plotting import plots, style
from smoothlearn.report import headline
from smoothlearn.report.draw import FigureResult, draw_figures, save_figure, start_drawing
from smoothlearn.report.html import write_report
from smoothlearn.report.inputs import ExperimentInfo
from smoothlearn.reproduce import config_table
from smoothlearn.runs import run_many

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")  # Debian's chromium-driver, the same version
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


ROBUSTNESS_NOTE = ("The robustness matrix (which claims depend on which unstated choice) is "
                   "not part of this run: `smoothlearn robustness`.")


def robustness_figure(fig_dir: Path) -> FigureResult:
    """The robustness matrix drawn from a made-up claim table (the real sweep needs MNIST)."""
    cells = [cell.name for cell in rb.CELLS[:4]]
    verdicts = list(rb.VERDICT_COLORS)
    table = pd.DataFrame([
        {"claim": claim, "cell": cell, "stage": stage, "literal": cell == "literal",
         "verdict": verdicts[(i + j) % len(verdicts)], "reproduced": 1, "comparisons": 2,
         "median_relative": 0.1 * (j - i), "learned": True}
        for i, claim in enumerate(["claim-a", "claim-b"]) for j, cell in enumerate(cells)
        for stage in rb.STAGES])
    png, svg = save_figure(rb.matrix_figure(table), fig_dir, "robustness")
    return FigureResult("robustness", "robustness", "Robustness: which claims hold where",
                        caption="Made-up cells.", png=png, svg=svg)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A report with every kind of element a real one has: the scorecard and headline table,
    curve and hidden-unit analysis figures, a figure that could not be drawn (its note), the
    robustness matrix, a run note, the claims tables."""
    out = tmp_path_factory.mktemp("report")
    frame, inputs = tiny_run(SYNTHETIC)
    every_claim = [c for unit in figures.claim_units() for c in unit.claims]
    results = claims.evaluate_claims(frame, every_claim)
    rows = headline.headline_rows(
        results, {c.id: c.headline for c in every_claim if c.headline},
        statements={c.id: c.statement for c in every_claim if c.statement})
    drawn = [rp._scorecard(rows, out / "figures")]  # as `smoothlearn reproduce` makes it
    drawn += draw_figures(frame, out / "figures", inputs)
    drawn.append(robustness_figure(out / "figures"))
    infos = [ExperimentInfo(name=n, toml=f"name = '{n}'", status="ok") for n in SYNTHETIC]
    meta = {"quick": True, "seconds": 1.0, "notes": [ROBUSTNESS_NOTE], "step_policy": "end",
            "finished": "2026-12-07 04:00 UTC", "headline": [r.to_record() for r in rows]}
    write_report(out, [r.to_record() for r in results], drawn, infos, meta)
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
    prefix = "data:image/png;base64,"
    assert sources and all(s.startswith(prefix) for s in sources)
    for source in sources:  # one prefix, then a PNG (a doubled prefix is a broken image)
        payload = source.removeprefix(prefix)
        assert re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", payload), f"not base64: {source[:60]}"
        assert base64.b64decode(payload).startswith(b"\x89PNG"), source[:60]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text
    for element in ("fig-scorecard", "headline-table", "claims-table", "fig-figA4", "fig-fig3e",
                    "fig-robustness"):
        assert f'id="{element}"' in text, element
    assert len(sources) == len(re.findall(r"<img\b", text))
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


def _figure_record(results: list[FigureResult], root: Path) -> list[tuple]:
    return [(f.id, f.experiment, f.caption, f.note, f.png and f.png.relative_to(root),
             f.png and f.png.read_bytes()) for f in results]


def test_figures_drawn_in_worker_processes_equal_those_drawn_here(tmp_path):
    """reproduce draws its figures on its pool's workers while it tests the claims: the same
    figures, captions and notes in the same order, the PNG files byte for byte."""
    from smoothlearn.sweep import Execution, shared_workers

    frame = pd.concat([fake(exp, arms) for exp, arms in FAKES.items()], ignore_index=True)
    frame["lr"] = frame["lr"].fillna(0.01)
    here = draw_figures(frame, tmp_path / "here")
    with shared_workers(Execution(workers=2, quiet=True)) as pool:
        pending = start_drawing(frame, tmp_path / "pool", executor=pool)
        there = pending.results()
    assert pool.started == 1
    assert _figure_record(there, tmp_path / "pool") == _figure_record(here, tmp_path / "here")


def test_only_the_packages_own_units_are_drawn_in_workers():
    """A worker imports a unit's drawing functions by name; one registered from a script or a
    test is drawn in the calling process instead (``reproduce`` of a user's own unit)."""
    from dataclasses import replace

    from smoothlearn.figures.unit import Drawing
    from smoothlearn.report import draw

    builtin = figures.get("figA1")
    assert draw._portable(builtin)
    mine = replace(builtin, drawings=(Drawing("mine", "Mine", _draw_nothing),))
    assert not draw._portable(mine)


def _draw_nothing(frame, ctx):
    raise AssertionError("never drawn")


class _FailingExecutor(Executor):
    """Every task fails, as a worker that died would."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_exception(RuntimeError("worker died"))
        return future


def test_figures_a_failed_worker_did_not_draw_are_drawn_here(tmp_path):
    frame = pd.concat([fake(exp, arms) for exp, arms in FAKES.items()], ignore_index=True)
    frame["lr"] = frame["lr"].fillna(0.01)
    here = draw_figures(frame, tmp_path / "here")
    again = start_drawing(frame, tmp_path / "again", executor=_FailingExecutor()).results()
    assert _figure_record(again, tmp_path / "again") == _figure_record(here, tmp_path / "here")


# ----------------------------------------------------------------------------- browser
def _no_browser() -> str:
    """Why the browser test cannot run here ("" when it can)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return (f"headless Chromium is not installed ({', '.join(missing)} missing): "
                "apt-get install -y chromium chromium-driver")
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed: pip install -e '.[test]'"
    return ""


NO_BROWSER = _no_browser()
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync")
DESKTOP, PHONE = (1280, 900), (390, 844)

#: What the page holds once loaded: every image, where the headline elements sit, the widths.
PROBE = """
const box = selector => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return {left: r.left, right: r.right, width: r.width, height: r.height};
};
return {
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete,
                                          width: i.naturalWidth})),
  figures: [...document.querySelectorAll('figure[id]')]
    .filter(f => f.querySelector('img')).map(f => f.id),
  notes: [...document.querySelectorAll('p.note')].map(p => p.textContent),
  claimRows: document.querySelectorAll('#claims-table tr').length,
  scorecard: box('#fig-scorecard img'), headline: box('#headline-table'),
  innerWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
};
"""


@pytest.fixture
def browser(tmp_path) -> Iterator[Any]:
    """Headless Chromium through Debian's chromedriver (never a downloaded one), a fresh
    profile, its console kept for the test to read."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path / "profile"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)  # tens of MB, of no use afterwards


def _viewport(driver: Any, size: tuple[int, int], mobile: bool) -> None:
    """The page's CSS viewport, at one device pixel per CSS pixel."""
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def _fits(box: dict[str, float] | None, width: float) -> bool:
    """Shown, and inside the viewport's width (no horizontal scrolling needed to see it)."""
    return (box is not None and box["width"] > 0 and box["height"] > 0
            and box["left"] >= 0 and box["right"] <= width)


def _screenshot(driver: Any, path: Path) -> tuple[int, int]:
    """Save a screenshot of the viewport; its size in pixels (width, height)."""
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    height, width = mpimg.imread(io.BytesIO(png), format="png").shape[:2]
    return width, height


@pytest.mark.skipif(bool(NO_BROWSER), reason=NO_BROWSER or "-")
def test_report_renders_in_headless_chromium(built, browser, tmp_path):
    _viewport(browser, DESKTOP, mobile=False)
    browser.get((built / "report.html").as_uri())
    page = browser.execute_script(PROBE)
    broken = [i["alt"] for i in page["images"] if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not decode: {broken}"
    for figure in ("fig-scorecard", "fig-figA4", "fig-fig3e", "fig-robustness"):
        assert figure in page["figures"], (figure, page["figures"])
    assert len(page["images"]) >= 10 and page["claimRows"] > 10
    assert any("robustness" in note for note in page["notes"]), page["notes"]
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    # desktop: the headline is seen whole, with no horizontal scrolling
    assert page["innerWidth"] == DESKTOP[0]
    assert page["scrollWidth"] <= page["innerWidth"], page
    assert _fits(page["scorecard"], DESKTOP[0]), page["scorecard"]
    assert _fits(page["headline"], DESKTOP[0]), page["headline"]
    assert _screenshot(browser, tmp_path / "desktop.png") == DESKTOP
    # phone: the scorecard shrinks to the screen; wide tables scroll inside themselves, so
    # the page as a whole never scrolls sideways
    _viewport(browser, PHONE, mobile=True)
    narrow = browser.execute_script(PROBE)
    assert _fits(narrow["scorecard"], PHONE[0]), narrow["scorecard"]
    assert narrow["scrollWidth"] <= narrow["innerWidth"], narrow
    assert _screenshot(browser, tmp_path / "phone.png") == PHONE


def test_the_headline_table_notes_an_early_verdict_that_differs():
    from smoothlearn.report.headline import HeadlineRow
    from smoothlearn.report.markdown import headline_markdown

    row = HeadlineRow("c", "text", "§1", "exp", "reversed", "why",
                      early="reproduced").to_record()
    assert "**reversed**: why (early: reproduced)" in "\n".join(headline_markdown([row], "f"))
    quiet = "\n".join(headline_markdown([{**row, "early": ""}], "f"))
    assert "**reversed**: why" in quiet and "(early:" not in quiet
