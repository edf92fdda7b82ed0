"""``report.md``: the report for GitHub, with the same tables as the HTML page and the
figures as relative PNG links (``figures/<id>.png``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from smoothlearn.report import words
from smoothlearn.report.inputs import ExperimentInfo
from smoothlearn.verdicts import ComparisonResult, summarise

if TYPE_CHECKING:
    from smoothlearn.report.draw import FigureResult


def claim_summary(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per claim (with its reason and counts) from the comparison records."""
    return [c.to_record() for c in summarise(map(ComparisonResult.from_record, records))]


def headline_markdown(rows: Sequence[Mapping[str, Any]], figure_dir: str) -> list[str]:
    """The headline section: the scorecard and one row per paper claim, the verdict that
    reads no test labels first."""
    if not rows:
        return []
    lines = ["## Headline", "", f"![Scorecard]({figure_dir}/scorecard.png)", "",
             "| claim | paper | no test labels read (headline) | streamed, label resets "
             "(paper's protocol) | seeds | depends on |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| " + " | ".join(md_escape(x) for x in (
            row["text"], row["source"], f"**{row['label_free']}**: {row['label_free_reason']}",
            row["streamed"] or "—", row["seeds"], row["depends_on"] or "—")) + " |")
    return lines + [""]


def md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


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
    lines += headline_markdown(meta.get("headline", []), "figures")
    summary = claim_summary(records)
    lines += ["## Claims", "", "| claim | statement | paper | verdict |", "|---|---|---|---|"]
    lines += [f"| {c['claim']} | {md_escape(c['text'])} | {md_escape(c['source'])} "
              f"| {c['verdict']} |" for c in summary]
    lines += ["", "### Every comparison", "", "| claim | comparison | step | test protocol "
              "| reads test labels | n | mean advantage | 95% CI | share | verdict |",
              "|" + "---|" * 10]
    verdicts = {c["claim"]: c["verdict"] for c in summary}
    for rec in records:
        lines.append("| " + " | ".join(md_escape(x) for x in (
            f"{rec['claim']} ({verdicts[rec['claim']]})", rec["comparison"],
            words.fmt(rec.get("step")), words.protocol_text(rec),
            "yes" if rec.get("reads_test_labels") else "no", rec.get("n", 0),
            words.fmt(rec.get("mean_diff")), words.ci(rec), words.fmt(rec.get("share"), 2),
            rec["verdict"])) + " |")
    lines += ["", "## Figures", ""]
    for fig in (f for f in figures if f.id != "scorecard"):  # the scorecard heads the page
        lines += [f"### {fig.title}", ""]
        if fig.png is not None:
            lines += [f"![{fig.title}](figures/{fig.png.name})", "", fig.caption, ""]
        if fig.note:
            lines += [f"*{fig.note}*", ""]
    lines += ["## Experiments", "", "| experiment | figure | status | runs | seconds |",
              "|---|---|---|---|---|"]
    for e in experiments:
        status = md_escape(e.status + (f": {e.message}" if e.message else ""))
        lines.append(f"| {e.name} | {e.figure} | {status} | {e.runs} | {e.seconds:.1f} |")
    lines += ["", "## Settings the paper left open", "", "| setting | the paper | chosen here |",
              "|---|---|---|"]
    lines += [f"| {md_escape(a)} | {md_escape(b)} | {md_escape(c)} |"
              for a, b, c in words.OPEN_SETTINGS]
    lines += ["", "## Environment", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in words.package_versions().items()]
    return "\n".join(lines) + "\n"
