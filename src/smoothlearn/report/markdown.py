"""``report.md``: the report for GitHub, with the same tables as the HTML page and the
figures as relative PNG links (``figures/<id>.png``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from smoothlearn.report import words
from smoothlearn.report.inputs import ExperimentInfo
from smoothlearn.report.tables import markdown_table, md_escape
from smoothlearn.verdicts import ComparisonResult, summarise

if TYPE_CHECKING:
    from smoothlearn.report.draw import FigureResult


def claim_summary(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per claim (with its printed label, reason and counts) from the comparison
    records."""
    return [c.to_record() for c in summarise(map(ComparisonResult.from_record, records))]


def headline_markdown(rows: Sequence[Mapping[str, Any]], figure_dir: str) -> list[str]:
    """The headline section: the scorecard and one row per paper claim, the verdict that
    reads no test labels first."""
    if not rows:
        return []
    head = ["claim", "paper", "no test labels read (headline)",
            "streamed, label resets (paper's protocol)", "seeds", "depends on"]
    table = markdown_table(head, ((
        row["text"], row["source"], f"**{row['label_free']}**: {row['label_free_reason']}"
        + (f" (early: {row['early']})" if row.get("early") else ""),
        row["streamed"] or "—", row["seeds"], row["depends_on"] or "—") for row in rows),
        md_escape)
    return ["## Headline", "", f"![Scorecard]({figure_dir}/scorecard.png)", "", table, ""]


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
    lines += ["", "### Every comparison", "", markdown_table(
        ["claim", "comparison", "step", "test protocol", "reads test labels", "n",
         "mean advantage", "95% CI", "share", "verdict"],
        ((f"{rec['claim']} ({verdicts[rec['claim']]})", rec["comparison"],
          ("area to " if rec.get("stage") == "auc" else "") + words.fmt(rec.get("step")),
          words.protocol_text(rec),
          "yes" if rec.get("reads_test_labels") else "no", rec.get("n", 0),
          words.fmt(rec.get("mean_diff")), words.ci(rec), words.fmt(rec.get("share"), 2),
          rec["verdict"]) for rec in records), md_escape)]
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
