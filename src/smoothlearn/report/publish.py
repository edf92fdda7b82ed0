"""``smoothlearn publish``: copy a finished reproduction's claims, headline figures and
robustness notes (or a finished landscape's page and heatmaps) into ``docs/`` and the README's
results blocks, so the numbers in the repository are the tool's own."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smoothlearn.report import words
from smoothlearn.report.comparisons import comparison_frame
from smoothlearn.report.markdown import paper_protocol
from smoothlearn.report.tables import markdown_table, md_escape

README_START = "<!-- results:start (written by `smoothlearn publish`; do not edit) -->"
README_END = "<!-- results:end -->"
LANDSCAPE_START = "<!-- landscape:start (written by `smoothlearn publish`; do not edit) -->"
LANDSCAPE_END = "<!-- landscape:end -->"
#: The README shows the first of these figures that the run drew (docs/ gets all of them).
PUBLISHED_FIGURES = ("scorecard", "fig2", "fig3e", "robustness")


def publish(out: Path, docs: Path, readme: Path | None = None) -> list[Path]:
    """Copy a finished reproduction's claims table and headline figures into ``docs`` (and
    the README's results block), so the numbers in the repository are the tool's own.

    Writes ``docs/reproduction.md`` (the report's Markdown, figure links rewritten),
    ``docs/data/claims.csv`` (every comparison's full statistics, one row each),
    ``docs/figures/*.png`` and, when the run had one, ``docs/claims.md`` from the robustness
    sweep. Returns the files written.
    """
    out, docs = Path(out), Path(docs)
    if (out / "landscape.json").is_file():
        return publish_landscape(out, docs, readme)
    data = json.loads((out / "claims.json").read_text())
    if data.get("page"):
        return publish_page(out, docs, data["page"])
    written = []
    figures = docs / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    pngs = sorted((out / "figures").glob("*.png"))
    pngs += [p for p in [out / "robustness" / "robustness.png"] if p.is_file()]
    for png in pngs:
        written.append(Path(shutil.copy2(png, figures / png.name)))
    text = _provenance((out / "report.md").read_text(), out / "report.md", out,
                       f"the self-contained HTML version is `{out / 'report.html'}`.")
    (docs / "reproduction.md").write_text(text)
    written.append(docs / "reproduction.md")
    written.append(write_claims_csv(data.get("records", []), docs / "data" / "claims.csv"))
    robust = out / "robustness" / "claims.md"
    if robust.is_file():
        claims_md = _provenance(
            robust.read_text().replace("](robustness.png)", "](figures/robustness.png)"),
            robust, out, f"to regenerate: `smoothlearn reproduce --out {out}` (or only the "
            f"sweep: `smoothlearn robustness --out {out / 'robustness'}`), then "
            f"`smoothlearn publish {out}`.")
        (docs / "claims.md").write_text(claims_md)
        written.append(docs / "claims.md")
    if readme is not None:
        readme = Path(readme)
        _replace_block(readme, README_START, README_END,
                       _readme_block(data, docs, readme.parent))
        written.append(readme)
    return written


def write_claims_csv(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """The comparison table (:func:`~smoothlearn.report.comparisons.comparison_frame`) as a
    CSV, so every number behind a verdict can be read by a program, not only from Markdown."""
    path.parent.mkdir(parents=True, exist_ok=True)
    comparison_frame(records).to_csv(path, index=False)
    return path


def publish_page(out: Path, docs: Path, page: str) -> list[Path]:
    """Copy the report of a run of one extension unit (``reproduce --only moving``) into
    ``docs/<page>.md`` and its figures into ``docs/figures/<page>/``; the paper's reproduction
    page and the README are left alone."""
    figures = docs / "figures" / page
    figures.mkdir(parents=True, exist_ok=True)
    written = [Path(shutil.copy2(png, figures / png.name))
               for png in sorted((out / "figures").glob("*.png"))]
    text = _provenance(
        (out / "report.md").read_text().replace("](figures/", f"](figures/{page}/"),
        out / "report.md", out, f"to regenerate: `smoothlearn reproduce --only {page} --out "
        f"{out}`, then `smoothlearn publish {out}`.")
    (docs / f"{page}.md").write_text(text)
    return [*written, docs / f"{page}.md"]


def publish_landscape(out: Path, docs: Path, readme: Path | None = None) -> list[Path]:
    """Copy a finished landscape (``smoothlearn landscape --out OUT``) into ``docs``: its page
    as ``docs/landscape.md``, its heatmaps under ``docs/figures/landscape/``, and one sentence
    on the main finding with a link into the README's landscape block."""
    record = json.loads((out / "landscape.json").read_text())
    figures = docs / "figures" / "landscape"
    figures.mkdir(parents=True, exist_ok=True)
    written = [Path(shutil.copy2(out / name, figures / name)) for name in record["figures"]]
    text = (out / "landscape.md").read_text()
    for name in record["figures"]:
        text = text.replace(f"]({name})", f"](figures/landscape/{name})")
    text = _provenance(text, out / "landscape.md", out,
                       f"the cell table is `{out / 'landscape.csv'}`; to regenerate: "
                       f"`{record['command']} --out {out}`, then `smoothlearn publish {out}`.")
    (docs / "landscape.md").write_text(text)
    written.append(docs / "landscape.md")
    if readme is not None:
        readme = Path(readme)
        rel = _relative(docs, readme.parent)
        mode = "indicative, quick mode" if record["indicative"] else record["mode"]
        block = "\n".join([
            LANDSCAPE_START, "",
            f"**Beyond the paper: the landscape** ({mode}, {record['seeds']} seeds per cell). "
            f"{md_escape(record['main_finding'])} Heatmaps and every panel: "
            f"[{rel}/landscape.md]({rel}/landscape.md).", "", LANDSCAPE_END])
        _replace_block(readme, LANDSCAPE_START, LANDSCAPE_END, block)
        written.append(readme)
    return written


def _relative(docs: Path, root: Path) -> str:
    """``docs`` as a link from a README in ``root`` (posix separators, as Markdown wants)."""
    return Path(os.path.relpath(docs.resolve(), root.resolve())).as_posix()


def _provenance(text: str, source: Path, out: Path, how: str) -> str:
    """``text`` with a note under its title: which file it was copied from, and ``how`` to
    regenerate it (so a reader of docs/ can trace every number back to a command)."""
    head, _, rest = text.partition("\n")
    return f"{head}\n\n> Copied from `{source}` by `smoothlearn publish {out}`; {how}\n{rest}"


def _replace_block(readme: Path, start: str, end: str, block: str) -> None:
    """Put ``block`` between the ``start``/``end`` markers (appended when they are missing)."""
    current = readme.read_text()
    if start in current and end in current:
        head, rest = current.split(start, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(current)


def _readme_block(data: Mapping[str, Any], docs: Path, root: Path) -> str:
    rel = _relative(docs, root)
    mode = "quick" if data.get("quick") else "paper settings"
    lines = [README_START, "", f"## What reproduces ({mode})", "",
             f"From `smoothlearn reproduce` ({mode}); every comparison, figure and config is in "
             f"[{rel}/reproduction.md]({rel}/reproduction.md), and which claims depend on which "
             f"unstated choice in [{rel}/claims.md]({rel}/claims.md).", ""]
    left_out = [f"{e['name']} ({e['status']}: {e.get('message', '')})"
                for e in data.get("experiments", []) if e.get("status") != "ok"]
    if left_out:
        lines += ["Not run in this reproduction, so their claims read *no data*: "
                  + "; ".join(left_out) + ".", ""]
    lines += [f"> {md_escape(note)}" for note in data.get("notes", [])
              if "skipped" in note or "unavailable" in note]
    if lines[-1].startswith(">"):
        lines.append("")
    for fig in PUBLISHED_FIGURES:
        if (docs / "figures" / f"{fig}.png").is_file():
            lines += [f"![{fig}]({rel}/figures/{fig}.png)", ""]
            break
    lines += [words.run_time(data), ""]
    if data.get("headline"):
        lines.append(markdown_table(
            ["claim", "paper", "verdict, no test labels read (tier none)",
             "the paper's protocol (reads test labels; tier)", "seeds",
             "differs under (robustness)"],
            [(md_escape(row["text"]), md_escape(row["source"]), f"**{row['label_free']}**"
              + (f" (early: {row['early']})" if row.get("early") else ""),
              paper_protocol(row), row["seeds"], md_escape(row["depends_on"] or "—"))
             for row in data["headline"]]))
    else:
        lines.append(markdown_table(
            ["claim", "paper", "verdict"],
            [(md_escape(row["text"]), md_escape(row.get("source", "")),
              f"**{row['verdict']}**") for row in data.get("summary", [])]))
    lines += ["", README_END]
    return "\n".join(lines)
