"""The headline: one row per paper claim, and a one-screen scorecard of them.

A reader should not have to know which protocol reads test labels to quote a verdict. Each
row's headline verdict uses only the comparisons of tier ``"none"`` (``test_labels`` of each
comparison: memory off, or a stream in a label-free order), and next to it, labelled by its
tier, the verdict under the paper's streamed protocol: a test stream ordered by its labels
(tier ``"order"``) or with label resets (tier ``"resets"``), both of which let memory average
same-class test items. A claim without a tier-none comparison says "no label-free test"
rather than borrowing a label-reading verdict.
Claims that the paper states once but that are checked as two claims (one per protocol, e.g.
``reset-beats-random-1rep`` and its ``-memory-off`` twin) share a row through
:attr:`~smoothlearn.claims.Claim.headline`. The "depends on" column names the robustness
cells (unstated choices) under which the claim's verdict differs from the literal reading,
when the robustness sweep ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from smoothlearn.figures.plotting.style import new_figure
from smoothlearn.report.tables import verdict_color
from smoothlearn.verdicts import ComparisonResult, Verdict, claim_result, verdict_word

__all__ = ["HeadlineRow", "headline_rows", "scorecard_figure", "tier", "NO_LABEL_FREE_TEST"]

#: Verdicts whose effect dots are drawn grey: they carry no direction.
_UNDIRECTED = (Verdict.INCONCLUSIVE, Verdict.EQUIVALENT, Verdict.NOT_TESTABLE, Verdict.NO_DATA)
#: The headline column of a claim whose every comparison reads test labels.
NO_LABEL_FREE_TEST = "no label-free test"


@dataclass(frozen=True)
class HeadlineRow:
    """One paper claim: its label-free verdict (the headline: tier-none comparisons only, or
    :data:`NO_LABEL_FREE_TEST`), its verdict under the label-reading protocols ("" when the
    claim has no such comparison) and their tiers (``"order"``, ``"resets"`` or
    ``"order, resets"``), the seeds they used, and every comparison's effect in SD units of
    its paired differences, with a 95% CI."""

    claim: str
    text: str
    source: str
    experiment: str
    label_free: str
    label_free_reason: str
    streamed: str = ""
    streamed_reason: str = ""
    streamed_tier: str = ""
    seeds: str = ""
    depends_on: str = ""
    effects: list[dict[str, Any]] = field(default_factory=list)
    #: The label-free verdict at the learning-efficiency endpoint (area under the test-error
    #: curve over epoch 1, ``stage="auc"``) when it differs from the headline; "" otherwise.
    early: str = ""

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


def tier(result: ComparisonResult) -> str:
    """The comparison's tier of test-label use (a no-data row, which has none: judged from
    its arms, where only a streamed leaky+reset arm is known to read labels)."""
    if result.arms.test_labels is not None:
        return str(result.arms.test_labels)
    arms = f"{result.arms.better} {result.arms.worse}"
    streamed = "test_mode=" in arms and "test_mode=off" not in arms
    return "resets" if "leaky-reset" in arms and streamed else "none"


def _tiers(results: Sequence[ComparisonResult]) -> str:
    """The label-reading tiers of ``results`` in words ("order", "resets", "order, resets")."""
    found = {tier(r) for r in results}
    return ", ".join(t for t in ("order", "resets") if t in found)


def _effect(result: ComparisonResult) -> dict[str, Any]:
    measured = result.stats
    sd = measured.sd_diff if measured.sd_diff and math.isfinite(measured.sd_diff) else math.nan
    scale = (lambda v: v / sd) if sd > 0 else (lambda v: math.nan)
    return {"comparison": result.comparison, "verdict": str(result.decision.verdict),
            "test_labels": tier(result), "effect_sd": measured.effect_sd,
            "ci_low_sd": scale(measured.ci_low), "ci_high_sd": scale(measured.ci_high),
            "n": measured.n}


def _verdict(results: Sequence[ComparisonResult]) -> tuple[str, str]:
    """The claim-level verdict as printed (its label: "partly reproduced (2 of 5)") and its
    reason ("" for a row without such results)."""
    if not results:
        return "", ""
    result = claim_result(list(results))
    return result.label, result.reason


def _seeds(results: Sequence[ComparisonResult]) -> str:
    counts = sorted({r.stats.n for r in results if r.stats.n})
    return "/".join(str(n) for n in counts) or "0"


def headline_rows(results: Sequence[ComparisonResult], headline_of: Mapping[str, str],
                  depends_on: Mapping[str, str] | None = None,
                  statements: Mapping[str, str] | None = None) -> list[HeadlineRow]:
    """Group comparison results into paper claims (``headline_of`` maps a claim id to its
    row's id; ids not in it are rows of their own), in the order the claims come. A row's
    text is ``statements[row id]`` (the claim without its test protocol) when given."""
    groups: dict[str, list[ComparisonResult]] = {}
    for result in results:
        groups.setdefault(headline_of.get(result.claim, result.claim), []).append(result)
    rows = []
    for key, everything in groups.items():
        members = [r for r in everything if r.stage != "auc"] or everything
        lead = next((r for r in members if r.claim == key), members[0])
        free = [r for r in members if tier(r) == "none"]
        streamed = [r for r in members if tier(r) != "none"]
        early, _ = _verdict([r for r in everything if r.stage == "auc" and tier(r) == "none"])
        verdict, reason = _verdict(free)
        if not free:
            # never borrow a label-reading verdict: the paper's protocol has its own column
            verdict = NO_LABEL_FREE_TEST
            reason = (f"every comparison of this claim reads test labels (tier "
                      f"{_tiers(streamed)}); its verdict is in the paper's-protocol column")
        s_verdict, s_reason = _verdict(streamed)
        rows.append(HeadlineRow(
            claim=key, text=(statements or {}).get(key) or lead.text, source=lead.source,
            experiment=lead.experiment,
            label_free=verdict, label_free_reason=reason, streamed=s_verdict,
            streamed_reason=s_reason, streamed_tier=_tiers(streamed),
            seeds=_seeds(members),
            depends_on=(depends_on or {}).get(key, ""),
            effects=[_effect(r) for r in members],
            early=early if free and early != verdict else ""))
    return rows


def _num(value: Any) -> float:
    """A float, NaN for None (rows read back from JSON, where NaN is written as null)."""
    return math.nan if value is None else float(value)


def _wrap(text: str, width: int = 62) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines[:2]) + (" …" if len(lines) > 2 else "")


def _cell(ax, x: float, y: float, verdict: str, tier_name: str = "") -> None:
    colour = verdict_color(verdict)
    ax.add_patch(_rect(x, y, colour))
    text = (verdict.replace("present at ", "present at\n")
            .replace("partly reproduced", "partly\nreproduced")
            .replace(NO_LABEL_FREE_TEST, "no label-free\ntest") or "—")
    if verdict and tier_name:
        text += f"\n(tier {tier_name})"
    ax.text(x + 0.5, y, text, ha="center", va="center", fontsize=7 if "\n" not in text else 6.5,
            linespacing=0.9,
            color="white" if verdict_word(verdict) in ("reproduced", "reversed",
                                                       "present at initialisation") else "#222")


def _rect(x: float, y: float, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x + 0.03, y - 0.42), 0.94, 0.84, facecolor=colour, edgecolor="#999999",
                     lw=0.5)


def scorecard_figure(rows: Sequence[HeadlineRow]) -> Figure:
    """One row per paper claim: the label-free verdict (tier none), the verdict under the
    paper's label-reading protocol with its tier, and every comparison's effect (mean paired
    difference / SD of the differences, 95% CI; filled dots are tier none, open ones read
    test labels; positive = as the paper claims)."""
    n = max(len(rows), 1)
    fig = new_figure(12.5, 0.42 * n + 1.5)
    grid = fig.add_gridspec(1, 3, width_ratios=[5.2, 2.0, 3.6], wspace=0.04)
    text_ax, verdict_ax, effect_ax = (fig.add_subplot(grid[0, i]) for i in range(3))
    for ax in (text_ax, verdict_ax, effect_ax):
        ax.set_ylim(n - 0.5, -0.5)
    for ax in (text_ax, verdict_ax):
        ax.set_axis_off()
    verdict_ax.set_xlim(0, 2)
    for i, row in enumerate(rows):
        text_ax.text(0, i, f"{row.source}  ", ha="left", va="center", fontsize=7.5,
                     color="#555555", transform=text_ax.get_yaxis_transform())
        text_ax.text(0.2, i, _wrap(row.text), ha="left", va="center", fontsize=7.5,
                     transform=text_ax.get_yaxis_transform())
        _cell(verdict_ax, 0, i, row.label_free)
        _cell(verdict_ax, 1, i, row.streamed, row.streamed_tier)
        _effects(effect_ax, i, row.effects)
    verdict_ax.text(0.5, -0.75, "no test labels\n(tier none: headline)", ha="center",
                    va="bottom", fontsize=8, fontweight="bold")
    verdict_ax.text(1.5, -0.75, "paper's protocol\n(reads test labels)", ha="center",
                    va="bottom", fontsize=8)
    effect_ax.axvline(0, color="#333333", lw=0.8)
    effect_ax.set_xscale("symlog", linthresh=1.0)
    reach = max([abs(_num(v)) for row in rows for e in row.effects
                 for v in (e["effect_sd"], e["ci_low_sd"], e["ci_high_sd"])
                 if math.isfinite(_num(v))] + [3.0])
    ticks = [t for t in (1, 3, 10, 30, 100, 300, 1000) if t <= reach * 1.05]
    effect_ax.set_xlim(-reach * 1.3, reach * 1.3)
    effect_ax.set_xticks([-t for t in reversed(ticks)] + [0] + ticks,
                         [f"−{t}" for t in reversed(ticks)] + ["0"] + [str(t) for t in ticks],
                         fontsize=7)
    effect_ax.grid(axis="x", color="#EEEEEE", lw=0.6)
    effect_ax.set_yticks([])
    effect_ax.set_xlabel("effect: mean paired difference / SD of differences (95% CI)",
                         fontsize=8)
    effect_ax.set_title("each comparison (filled: tier none, no test labels read)",
                        fontsize=8)
    fig.suptitle("Scorecard: which of the paper's claims hold", fontsize=11, x=0.01, ha="left")
    return fig


def _effects(ax, y: float, effects: Sequence[Mapping[str, Any]]) -> None:
    shown = [e for e in effects if math.isfinite(_num(e["effect_sd"]))]
    offsets = np.linspace(-0.25, 0.25, len(shown)) if len(shown) > 1 else [0.0]
    for dy, e in zip(offsets, shown, strict=False):
        colour = "#777777" if e["verdict"] in _UNDIRECTED else verdict_color(e["verdict"],
                                                                             "#999999")
        low, high = _num(e["ci_low_sd"]), _num(e["ci_high_sd"])
        if math.isfinite(low) and math.isfinite(high):
            ax.plot([low, high], [y + dy] * 2, color=colour, lw=1)
        ax.plot([_num(e["effect_sd"])], [y + dy], "o", ms=3.5, color=colour,
                mfc=colour if e.get("test_labels", "none") == "none" else "white")
