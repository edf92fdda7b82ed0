"""``report.html``: claims, figures, configs and environment in one self-contained page,
rendered from the jinja2 template ``templates/report.html.j2`` (autoescaped); images are
inlined as base64 PNGs and the stylesheet as a ``<style>`` block, so it opens with no network.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from smoothlearn.report import comparisons, markdown, words
from smoothlearn.report.draw import FigureResult
from smoothlearn.report.inputs import ExperimentInfo
from smoothlearn.report.tables import verdict_class


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("smoothlearn.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["verdict_class"] = verdict_class
    return env


def stylesheet() -> str:
    """The reports' one stylesheet (this report and a study's ``check`` report)."""
    return (Path(__file__).parent / "templates" / "report.css").read_text()


def png_data_uri(png: bytes) -> str:
    """PNG bytes as a complete ``data:`` URI: the one place the prefix is written, so a
    template puts it in ``src`` as it is (a second prefix is a broken image)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _step_sentence(recs: Sequence[Mapping[str, Any]]) -> str:
    """One line per claim saying where it was measured (the step rarely differs inside one)."""
    steps = {r.get("step") for r in recs if r.get("step_rule")}
    if len(steps) == 1:
        rule = next(r["step_rule"] for r in recs if r.get("step_rule"))
        (step,) = steps
        return f"Measured at step {words.fmt(step)}: {rule}." if step is not None else f"{rule}."
    return "Measurement steps differ between comparisons (see the step column's tooltips)."


#: The statistics columns of the comparison table (:func:`comparisons.formatted`), in order;
#: the verdict has its own badge column.
STAT_HEADERS = [h for h in comparisons.formatted({"comparison": "", "verdict": ""})
                if h not in ("verdict", "margin")]


def _row(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One comparison as the table shows it (formatted numbers, protocol in words)."""
    shown = comparisons.formatted(rec)
    return {"comparison": rec["comparison"], "note": rec.get("note") or "",
            "dataset": words.fmt(rec.get("dataset")), "metric": str(rec["metric"]),
            "step_rule": rec.get("step_rule") or "", "step": words.fmt(rec.get("step")),
            "stats": [shown[h] for h in STAT_HEADERS], "margin": shown["margin"],
            "verdict": rec["verdict"]}


def _claims(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for claim in markdown.claim_summary(records):
        recs = [r for r in records if r["claim"] == claim["claim"]]
        counts = ", ".join(f"{n} {v}" for v, n in claim["counts"].items())
        out.append({**claim, "counts": counts, "step_sentence": _step_sentence(recs),
                    "rows": [_row(r) for r in recs]})
    return out


def _figure(fig: FigureResult) -> dict[str, Any]:
    drawn = fig.png is not None and fig.png.exists()
    return {"id": fig.id, "title": fig.title, "caption": fig.caption, "note": fig.note,
            "data_uri": png_data_uri(fig.png.read_bytes()) if drawn else "",
            "svg": fig.svg.name if drawn and fig.svg else ""}


def _experiment(exp: ExperimentInfo) -> dict[str, Any]:
    over = json.dumps({"seeds": exp.seeds, "overrides": exp.overrides,
                       "per-model overrides": exp.model_overrides}, indent=2, default=str)
    return {**vars(exp), "overrides_json": over}


def render(records: Sequence[Mapping[str, Any]], figures: Sequence[FigureResult],
           experiments: Sequence[ExperimentInfo], meta: Mapping[str, Any]) -> str:
    """The page as text."""
    anchors: dict[str, str] = {}
    for fig in figures:
        anchors.setdefault(fig.experiment, f"fig-{fig.id}")
    mode = "quick (fewer seeds and steps: indicative only)" if meta.get("quick") else "paper"
    card = next((_figure(f) for f in figures if f.id == "scorecard"), None)
    return _environment().get_template("report.html.j2").render(
        css=stylesheet(), meta=meta, mode=mode, title=markdown.report_title(meta), anchors=anchors,
        claims=_claims(records), stat_headers=STAT_HEADERS,
        show_margin=any(r.get("margin") is not None for r in records),
        run_time=words.run_time(meta), scorecard=card if card and card["data_uri"] else None,
        figures=[_figure(f) for f in figures if f.id != "scorecard"],
        experiments=[_experiment(e) for e in experiments],
        experiment_rows=[(e.name, e.figure, e.status, e.runs, f"{e.seconds:.1f}", e.message)
                         for e in experiments],
        open_settings=words.OPEN_SETTINGS, versions=words.package_versions().items())


def write_report(out: Path, records: Sequence[Mapping[str, Any]],
                 figures: Sequence[FigureResult], experiments: Sequence[ExperimentInfo],
                 meta: Mapping[str, Any]) -> Path:
    """Write ``report.html`` (self-contained) and ``report.md``; returns the HTML path."""
    out = Path(out)
    html_path = out / "report.html"
    html_path.write_text(render(records, figures, experiments, meta), encoding="utf-8")
    (out / "report.md").write_text(
        markdown.markdown_report(records, figures, experiments, meta), encoding="utf-8")
    return html_path
