"""``smoothlearn check``: a store's runs judged against a study's hypotheses.

The hypotheses (:mod:`smoothlearn.study.hypotheses`) become claims and go through
:func:`smoothlearn.claims.evaluate_claims` and :func:`smoothlearn.verdicts.summarise`, the code
that judges the paper's claims. The result is typed (:class:`StudyCheck`); ``claims.json`` and
``report.html`` are written into the store. Pre-registration is made visible: the hypotheses'
hash and declaration time are recorded beside the time the last run finished, and a check of
hypotheses written after that says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoothlearn import results
from smoothlearn.claims import evaluate_claims, label_tier, normalise_frame
from smoothlearn.experiments import ConfigError
from smoothlearn.study.hypotheses import TIERS, Hypotheses, load_file, recorded
from smoothlearn.verdicts import ClaimResult, ComparisonResult, summarise

__all__ = ["StudyCheck", "assess", "add_auc", "add_tier", "last_finished", "verdict_table"]

CLAIMS_JSON = "claims.json"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class StudyCheck:
    """What ``check`` found: one verdict per hypothesis, every comparison, the hypotheses
    and whether they were declared after the runs finished, and the files written."""

    claims: tuple[ClaimResult, ...]
    comparisons: tuple[ComparisonResult, ...]
    hypotheses: Hypotheses
    runs_finished_at: str
    declared_late: bool
    json_path: Path
    html_path: Path

    @property
    def warning(self) -> str:
        """One line when the hypotheses were declared after the last run finished."""
        if not self.declared_late:
            return ""
        return (f"the hypotheses ({self.hypotheses.source}, declared {self.hypotheses.declared_at}"
                f") were written after the runs finished ({self.runs_finished_at}): they are "
                "not pre-registered")

    def to_record(self) -> dict[str, Any]:
        return {
            "hypotheses": self.hypotheses.to_record(),
            "runs_finished_at": self.runs_finished_at,
            "declared_after_runs": self.declared_late,
            "claims": [c.to_record() for c in self.claims],
            "comparisons": [c.to_record() for c in self.comparisons],
        }


def last_finished(directory: Path) -> str:
    """When the store's last finished run was written (ISO time, UTC)."""
    times = []
    for path in (directory / results.RUNS).glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("status") in results.FINISHED and record.get("finished"):
            times.append(str(record["finished"]))
    return max(times, default="")


def add_auc(frame: pd.DataFrame) -> pd.DataFrame:
    """``<metric>_auc`` columns: each run's metric averaged over training up to each step
    (trapezoids over the evaluation points, divided by the step), so that the value at the
    end step is the area under the learning curve per step."""
    frame = frame.sort_values(["run_id", "step"]).copy()
    for metric in ("test_mse", "test_ce", "test_acc"):
        values = np.full(len(frame), np.nan)
        for positions in frame.groupby("run_id").indices.values():
            steps = frame["step"].to_numpy()[positions].astype(float)
            ys = frame[metric].to_numpy()[positions].astype(float)
            area = np.r_[0.0, np.cumsum(np.diff(steps) * (ys[1:] + ys[:-1]) / 2)]
            with np.errstate(invalid="ignore", divide="ignore"):
                values[positions] = np.where(steps > 0, area / steps, ys)
        frame[f"{metric}_auc"] = values
    return frame


def add_tier(frame: pd.DataFrame) -> pd.DataFrame:
    """``test_labels``: what each run's test protocol reads of the test labels (the one
    definition, :func:`smoothlearn.claims.label_tier`)."""
    out = frame.copy()
    out["test_labels"] = out.apply(label_tier, axis=1) if len(out) else pd.Series(dtype=str)
    return out


def _hypotheses(directory: Path, claims_file: str | os.PathLike[str] | None) -> Hypotheses:
    if claims_file is None:
        found = recorded(directory)
        if found is None:
            raise ConfigError(f"{directory}: no hypotheses recorded (the study's TOML had no "
                              "[[claims]]); give --claims FILE")
        return found
    hyps = load_file(claims_file)
    before = recorded(directory)
    if before is not None and before.sha256 == hyps.sha256:  # the same, declared earlier
        return Hypotheses(hyps.items, hyps.sha256, before.declared_at, hyps.source)
    return hyps


def judge(frame: pd.DataFrame, hyps: Hypotheses) -> list[ComparisonResult]:
    """Every comparison of every hypothesis, each on the runs of its protocol tier."""
    frame = add_tier(add_auc(normalise_frame(frame)))
    out: list[ComparisonResult] = []
    for hyp in hyps.items:
        allowed = TIERS[: TIERS.index(hyp.test_labels) + 1]
        sub = frame[frame["test_labels"].isin(allowed)]
        out += evaluate_claims(sub, [hyp.claim()], match_experiment=False)
    return out


def assess(directory: str | os.PathLike[str],
           claims: str | os.PathLike[str] | None = None) -> tuple[StudyCheck, pd.DataFrame]:
    """Judge the runs of ``directory`` against its recorded hypotheses (or those of the TOML
    file ``claims``) and write ``claims.json`` there; the runs' frame comes back for the
    report (:func:`smoothlearn.study.check` writes both)."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such results directory; run a study into it first")
    hyps = _hypotheses(root, claims)
    frame = results.load(root)
    comparisons = judge(frame, hyps)
    finished = last_finished(root)
    late = bool(finished) and hyps.declared_at > finished
    result = StudyCheck(tuple(summarise(comparisons)), tuple(comparisons), hyps, finished, late,
                        root / CLAIMS_JSON, root / REPORT_HTML)
    text = json.dumps(results.strict_json(result.to_record()), indent=1)
    results.atomic_write(result.json_path, lambda tmp: tmp.write_text(text))
    return result, frame


def verdict_table(result: StudyCheck) -> str:
    """The verdicts as a plain-text table for the terminal."""
    rows = [("claim", "verdict", "comparisons")]
    for claim in result.claims:
        parts = [f"{c.comparison}: {c.decision.verdict} (diff {c.stats.mean_diff:+.3g}, "
                 f"p_holm {c.decision.p_holm:.3g}, n {c.stats.n})"
                 for c in result.comparisons if c.claim == claim.claim]
        rows.append((claim.claim, claim.label, "; ".join(parts)))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in rows)
