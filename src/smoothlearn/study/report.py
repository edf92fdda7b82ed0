"""``report.html`` of a checked study: the verdicts, the curves of every compared arm and
the configs, in one self-contained page (jinja2, autoescaped; images inlined as base64)."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from smoothlearn.claims import normalise_frame, select_runs
from smoothlearn.report.html import png_data_uri, stylesheet
from smoothlearn.report.tables import verdict_class
from smoothlearn.study.hypotheses import TIERS
from smoothlearn.study.judge import StudyCheck, add_tier

#: Columns shown in the config table when they vary (labels first, then settings).
CONFIG_KEYS = ("dataset", "model", "condition", "test_mode", "task", "hidden", "leak", "reset",
               "test_reset", "optimizer", "lr", "loss", "epochs", "steps", "eval_every",
               "batch_size", "class_balance", "dataset_params")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("smoothlearn.study", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["verdict_class"] = verdict_class
    return env


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "inf" if math.isinf(value) else f"{value:.3g}"


def _rows(result: StudyCheck, claim: str) -> list[dict[str, Any]]:
    out = []
    for c in result.comparisons:
        if c.claim != claim:
            continue
        st, arms, dec = c.stats, c.arms, c.decision
        diff = (f"{_num(st.mean_diff)} [{_num(st.ci_low)}, {_num(st.ci_high)}]" if st.n
                else "—")
        out.append({"comparison": c.comparison, "note": c.note, "metric": arms.metric,
                    "step": "—" if arms.step is None else str(arms.step),
                    "step_rule": arms.step_rule, "n": st.n, "diff": diff,
                    "p_holm": _num(dec.p_holm), "mde": _num(dec.mde),
                    "verdict": str(dec.verdict)})
    return out


def _curve_figure(frame: pd.DataFrame, result: StudyCheck, claim: str) -> dict[str, str]:
    """Mean curve (± SEM over seeds) of every arm of one hypothesis, in its metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = [c for c in result.comparisons if c.claim == claim]
    hyp = next(h for h in result.hypotheses.items if h.id == claim)
    spec = hyp.claim()
    metric = hyp.metric
    arms: dict[str, dict[str, Any]] = {}
    for comp in spec.comparisons:
        for arm in (comp.better, comp.worse):
            arms.setdefault(", ".join(f"{k}={v}" for k, v in arm.items()), dict(arm))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    frame = frame[frame["test_labels"].isin(TIERS[: TIERS.index(hyp.test_labels) + 1])]
    base = select_runs(frame, spec.where) if spec.where else frame
    for label, arm in arms.items():
        runs = select_runs(base, arm)
        if runs.empty:
            continue
        curve = runs.groupby("step")[metric].agg(["mean", "sem"]).reset_index()
        ax.plot(curve["step"], curve["mean"], label=label)
        ax.fill_between(curve["step"], curve["mean"] - curve["sem"].fillna(0),
                        curve["mean"] + curve["sem"].fillna(0), alpha=0.2)
    steps = {c.arms.step for c in comps if c.arms.step is not None}
    for step in steps:
        ax.axvline(step, color="#999", lw=0.8, ls="--")
    ax.set_xlabel("training step")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    image = png_data_uri(buffer.getvalue())
    caption = (f"{claim}: {metric} of each arm (mean ± SEM over seeds); dashed: the step "
               f"compared ({hyp.step}).")
    return {"image": image, "caption": caption}


def _configs(frame: pd.DataFrame) -> tuple[str, list[str], list[list[str]]]:
    runs = frame.drop_duplicates("run_id")
    keys = [k for k in CONFIG_KEYS if k in runs.columns]
    shared = {k: runs[k].iloc[0] for k in keys if runs[k].astype(str).nunique() == 1}
    varying = [k for k in keys if k not in shared]
    rows = []
    if varying:
        counts = runs.astype({k: str for k in varying}).groupby(varying).size()
        for values, n in counts.items():
            values = values if isinstance(values, tuple) else (values,)
            rows.append([str(v) for v in values] + [str(n)])
    text = json.dumps({k: str(v) for k, v in shared.items()}, indent=1)
    return text, varying, rows


def write_report(result: StudyCheck, frame: pd.DataFrame, out: Path) -> Path:
    """Write ``out/report.html``; returns its path."""
    frame = add_tier(normalise_frame(frame))
    shared, varying, rows = _configs(frame)
    claims = [{"claim": c.claim, "text": c.text, "reason": c.reason, "verdict": c.label,
               "rows": _rows(result, c.claim)} for c in result.claims]
    html = _environment().get_template("study.html.j2").render(
        title=f"Study check: {out.name}", css=stylesheet(), store=str(out),
        n_runs=int(frame["run_id"].nunique()), finished=result.runs_finished_at,
        checked=datetime.now(UTC).isoformat(timespec="seconds"),
        hyps=result.hypotheses, warning=result.warning, claims=claims,
        figures=[_curve_figure(frame, result, c.claim) for c in result.claims],
        shared=shared, varying_columns=varying, varying_rows=rows)
    result.html_path.write_text(html, encoding="utf-8")
    return result.html_path
