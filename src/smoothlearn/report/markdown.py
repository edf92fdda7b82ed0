"""``report.md``: the report for GitHub, with the same tables as the HTML page and the
figures as relative PNG links (``figures/<id>.png``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from smoothlearn.report import words
from smoothlearn.report.comparisons import comparison_table
from smoothlearn.report.inputs import ExperimentInfo
from smoothlearn.report.tables import frame_table, markdown_table, md_escape
from smoothlearn.verdicts import ComparisonResult, summarise

if TYPE_CHECKING:
    from smoothlearn.report.draw import FigureResult


#: What the columns of the comparison table mean (the report and docs/reproduction.md).
COMPARISONS_NOTE = (
    "Per comparison: the tier of test-label use (none: memory off or a label-free order; "
    "order: a test stream ordered by its labels; resets: label resets at test), each arm's "
    "mean ± SD over the paired seeds, the mean paired difference (positive = as claimed) with "
    "its 95% Student-t interval, that difference relative to the claimed-worse arm, the exact "
    "sign-flip p and its Holm adjustment within the claim, the effect size d_z (mean / SD of "
    "the paired differences), the smallest difference the seeds detect at 80% power (MDE), "
    "how many seeds point the claimed way, and the verdict. The same table, unformatted: "
    "`claims.csv`.")


def claim_summary(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per claim (with its printed label, reason and counts) from the comparison
    records."""
    return [c.to_record() for c in summarise(map(ComparisonResult.from_record, records))]


def headline_markdown(rows: Sequence[Mapping[str, Any]], figure_dir: str) -> list[str]:
    """The headline section: the scorecard and one row per paper claim, the verdict that
    reads no test labels first."""
    if not rows:
        return []
    head = ["claim", "paper", "no test labels read (tier none: the headline)",
            "paper's protocol (reads test labels; tier)", "seeds", "depends on"]
    table = markdown_table(head, ((
        row["text"], row["source"], f"**{row['label_free']}**: {row['label_free_reason']}"
        + (f" (early: {row['early']})" if row.get("early") else ""),
        paper_protocol(row), row["seeds"], row["depends_on"] or "—") for row in rows),
        md_escape)
    return ["## Headline", "", f"![Scorecard]({figure_dir}/scorecard.png)", "", table, ""]


def paper_protocol(row: Mapping[str, Any]) -> str:
    """A headline row's verdict under the label-reading protocol, labelled by its tier."""
    if not row.get("streamed"):
        return "—"
    tier = row.get("streamed_tier")
    return f"{row['streamed']} (tier {tier})" if tier else str(row["streamed"])


def report_title(meta: Mapping[str, Any]) -> str:
    """The paper's reproduction, or the experiment a page-of-its-own run was (``meta["page"]``:
    an extension unit run alone, e.g. moving objects)."""
    if meta.get("page_title"):
        return f"{meta['page_title']} — smoothlearn report"
    return "Learning representations from temporally smooth data — reproduction report"


def markdown_report(
    records: Sequence[Mapping[str, Any]],
    figures: Sequence[FigureResult],
    experiments: Sequence[ExperimentInfo],
    meta: Mapping[str, Any],
) -> str:
    """The report for GitHub: the same tables, figures as relative PNG links."""
    mode = "quick (indicative only)" if meta.get("quick") else "paper"
    lines = [f"# {report_title(meta)}", "",
             f"Mode: **{mode}**. {words.run_time(meta)} Finished {meta.get('finished', '')}; "
             f"step policy `{meta.get('step_policy', '')}`.", ""]
    lines += [f"> {n}" for n in meta.get("notes", [])] + [""]
    for text in meta.get("answers", []):  # a unit's own question, answered from this run
        lines += ["## The answer", "", text, ""]
    lines += headline_markdown(meta.get("headline", []), "figures")
    summary = claim_summary(records)
    lines += ["## Claims", "", markdown_table(
        ["claim", "statement", "paper", "verdict"],
        ((c["claim"], c["text"], c["source"], c["label"]) for c in summary), md_escape)]
    verdicts = {c["claim"]: c["label"] for c in summary}
    lines += ["", "### Every comparison", "", COMPARISONS_NOTE, "",
              frame_table(comparison_table(records, verdicts), md_escape)]
    lines += ["", "## Figures", ""]
    for fig in (f for f in figures if f.id != "scorecard"):  # the scorecard heads the page
        lines += [f"### {fig.title}", ""]
        if fig.png is not None:
            lines += [f"![{fig.title}](figures/{fig.png.name})", "", fig.caption, ""]
        if fig.note:
            lines += [f"*{fig.note}*", ""]
    lines += ["## Experiments", "", markdown_table(
        ["experiment", "figure", "status", "runs", "seconds"],
        ((e.name, e.figure, e.status + (f": {e.message}" if e.message else ""), e.runs,
          f"{e.seconds:.1f}") for e in experiments), md_escape)]
    lines += ["", "## Settings the paper left open", "", markdown_table(
        ["setting", "the paper", "chosen here"], words.OPEN_SETTINGS, md_escape)]
    lines += ["", "## Environment", "", markdown_table(
        ["package", "version"], words.package_versions().items())]
    return "\n".join(lines) + "\n"
