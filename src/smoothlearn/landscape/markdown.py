"""``landscape.md``: the findings in plain words, computed from the cell table, never by hand.

Headline numbers are read at the last checkpoint (the last step before any class runs out)
under the memory-off test protocol, where no test label and no test order reaches the net.
The primary reference is the feedforward net trained in random order at the same rate; the
same-order feedforward net is the secondary one. Cells that are the feedforward net by
construction (``feedforward_by_construction``) leave every "memory wins/loses" count and are
named instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smoothlearn.landscape.analysis import PANEL
from smoothlearn.landscape.figures import DATASET_NAMES, rate_name
from smoothlearn.landscape.grid import RESET_NAMES, min_holm_p
from smoothlearn.report.tables import markdown_table

HEADLINE = {"checkpoint": "end", "protocol": "memory-off"}
#: The references in the order the page speaks of them: random order first (the usual way of
#: training), then the same order (what memory adds to a net trained on that order).
PRIMARY, SECONDARY = "random", "same"
REFERENCE_WORDS = {"random": "the feedforward net trained in random order at that rate",
                   "same": "the feedforward net trained on the same order"}
#: A same-order reference this much worse than random order (relative test MSE) is named in
#: a finding: beating it can mean beating a handicapped net.
WEAK_REFERENCE = 0.10
TIER_WORDS = {"none": "none read", "order": "order (the test stream is ordered by its labels)",
              "resets": "resets (label resets at test)"}


@dataclass(frozen=True)
class Meta:
    """How the table was made, for the header of the page."""

    mode: str
    command: str
    indicative: bool
    seeds: int
    planned: int
    trained: int
    failed: int
    seconds: float
    cores: int
    checkpoints: dict[str, dict[str, int]]
    figures: list[str] = field(default_factory=list)
    worker_seconds: float = 0.0  # measured, summed over the runs' records in the store
    projected_seconds: float = 0.0  # the cost projection for all planned runs


def _name(dataset: str) -> str:
    return DATASET_NAMES.get(dataset, dataset)


def _cell(row: pd.Series) -> str:
    """A cell in words: leak, smoothness, reset rule, rate."""
    rate = rate_name(row["optimizer"], row["lr"])
    if row["leak"] == 0:
        return f"the feedforward net on {row['smoothness']} order, {rate}"
    text = f"leak {row['leak']:g}, {row['smoothness']}, {RESET_NAMES[row['reset']]}, {rate}"
    if bool(row.get("feedforward_by_construction", False)):
        text += " (the feedforward net by construction)"
    return text


def _memory(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells that count as nets with memory: leak > 0 and not the feedforward net by
    construction."""
    by_construction = cells.get("feedforward_by_construction",
                                pd.Series(False, index=cells.index)).astype(bool)
    return cells[(cells["leak"] > 0) & ~by_construction]


def _by_construction(cells: pd.DataFrame) -> pd.DataFrame:
    """The leak > 0 cells that are the feedforward net by construction."""
    if "feedforward_by_construction" not in cells:
        return cells.iloc[:0]
    return cells[(cells["leak"] > 0) & cells["feedforward_by_construction"].astype(bool)]


def _counts(cells: pd.DataFrame, ref: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells significantly better and significantly worse than reference ``ref``."""
    significant = cells[f"significant_{ref}"].fillna(False).astype(bool)
    return (cells[significant & (cells[f"diff_{ref}"] < 0)],
            cells[significant & (cells[f"diff_{ref}"] > 0)])


def _excluded_note(cells: pd.DataFrame) -> str:
    """The sentence naming the cells left out of the counts ("" when none)."""
    left = _by_construction(cells)
    if left.empty:
        return ""
    return (f"{len(left)} cells are the feedforward net by construction (label resets at "
            "every step of a repeat-1 order, tested with memory off) and are left out of "
            f"these counts: {_region(left)}")


def _best_cell(group: pd.DataFrame, ref: str = PRIMARY) -> str:
    """The cell closest to (or furthest below) the reference feedforward net."""
    if not group[f"diff_{ref}"].notna().any():
        return ""
    best = group.loc[group[f"diff_{ref}"].idxmin()]
    relative = 100 * best[f"diff_{ref}"] / best[f"ff_mse_{ref}"]
    return (f"leak {best['leak']:g}, {best['smoothness']} "
            f"({best[f'diff_{ref}']:+.4f}, {relative:+.1f}%)")


def _p(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.3g}"


def _effect(row: pd.Series, ref: str) -> str:
    """A comparison in numbers: difference, relative to the reference, p, seeds agreeing."""
    diff, base = row[f"diff_{ref}"], row[f"ff_mse_{ref}"]
    if not math.isfinite(diff):
        return "no paired seeds"
    share = row[f"share_{ref}"]
    agree = round(share * row[f"n_pairs_{ref}"]) if math.isfinite(share) else 0
    effect = row[f"effect_sd_{ref}"]
    sd = f"d_z {effect:+.2f}" if math.isfinite(effect) else "d_z n/a (one seed)"
    return (f"{diff:+.4f} MSE ({100 * diff / base:+.1f}% of {base:.4f}), "
            f"{sd}, Holm p {_p(row[f'p_holm_{ref}'])}, "
            f"{agree}/{int(row[f'n_pairs_{ref}'])} seeds that way")


def _region(cells: pd.DataFrame) -> str:
    """Where a set of cells lies: leaks, smoothness levels, and panels."""
    leaks = ", ".join(f"{x:g}" for x in sorted(set(cells["leak"])))
    smooth = ", ".join(sorted(set(cells["smoothness"]), key=lambda c: (len(c), c)))
    panels = "; ".join(sorted({f"{RESET_NAMES[r.reset]} at {rate_name(r.optimizer, r.lr)}"
                               for r in cells.itertuples()}))
    return f"leak {leaks}; {smooth} ({panels})"


def _headline(table: pd.DataFrame, **where) -> pd.DataFrame:
    part = table
    for key, value in {**HEADLINE, **where}.items():
        part = part[part[key] == value]
    return part


def best_setting(table: pd.DataFrame, dataset: str) -> str:
    """Where the lowest test error is, and how it compares with both references."""
    part = _headline(table, dataset=dataset).dropna(subset=["test_mse"])
    if part.empty:
        return f"{_name(dataset)}: no finished runs at the end checkpoint."
    best = part.loc[part["test_mse"].idxmin()]
    text = (f"**Best setting on {_name(dataset)}**: {_cell(best)}, test MSE "
            f"{best['test_mse']:.4f} (accuracy {100 * best['test_acc']:.1f}%)")
    if best["leak"] == 0 and best["smoothness"] == "random":
        return text + (": no cell of the map has a lower mean test error than the usual way "
                       "of training.")
    text += (". Against the feedforward net in random order at that rate: "
             f"{_effect(best, 'random')}")
    if best["leak"] > 0:
        text += f"; against the feedforward net on the same order: {_effect(best, 'same')}"
    return text + "."


def beats_feedforward(table: pd.DataFrame, dataset: str) -> str:
    """Whether any region with memory beats feedforward under the memory-off protocol:
    against random order first (primary), then against the same order."""
    part = _headline(table, dataset=dataset)
    leaky = _memory(part)
    if leaky.empty and _by_construction(part).empty:
        return f"{_name(dataset)}: no nets with memory at the end checkpoint."
    parts = []
    for ref in (PRIMARY, SECONDARY):
        better, worse = _counts(leaky, ref)
        lower = int((leaky[f"diff_{ref}"] < 0).sum())
        line = (f"against {REFERENCE_WORDS[ref]}, {len(better)} of {len(leaky)} cells have "
                f"significantly lower test error and {len(worse)} significantly higher "
                f"({lower} lower on average over seeds)")
        if len(better):
            line += f"; the better cells: {_region(better)}"
        parts.append(line)
    note = _excluded_note(part)
    return (f"**Does memory beat feedforward on {_name(dataset)} (memory-off test)?** "
            + "; ".join(parts) + (f". {note}" if note else "") + ".")


def weak_references(table: pd.DataFrame, dataset: str) -> str | None:
    """The orders whose feedforward net (the same-order reference) is itself much worse than
    the feedforward net in random order: there, "better than same-order feedforward" can mean
    beating a handicapped net."""
    part = _headline(table, dataset=dataset)
    ff = part[(part["leak"] == 0) & (part["smoothness"] != "random")]
    ff = ff.drop_duplicates(["optimizer", "lr", "smoothness"])
    relative = ff["diff_random"] / ff["ff_mse_random"]
    weak = ff[(relative > WEAK_REFERENCE) & ff["significant_random"].fillna(False).astype(bool)]
    if weak.empty:
        return None
    items = "; ".join(f"{r.smoothness} at {rate_name(r.optimizer, r.lr)}: "
                      f"{100 * r.diff_random / r.ff_mse_random:+.0f}% test MSE "
                      f"({r.test_mse:.4f} against {r.ff_mse_random:.4f})"
                      for r in weak.itertuples())
    return (f"**The same-order reference is itself much worse than random order on "
            f"{_name(dataset)}** (feedforward net on that order against random order, more "
            f"than {WEAK_REFERENCE:.0%} higher test MSE, Holm p < 0.05): {items}. A net with "
            "memory that beats the same-order feedforward net there may only be less "
            "handicapped by the order; the random-order reference is the fair one.")


def _shared(leaky: pd.DataFrame, axis: str, other: list[str]) -> pd.DataFrame:
    """Rows whose ``other`` settings occur with every value of ``axis``, so that the values of
    ``axis`` are compared on the same panels (a thinned grid varies one axis at a time)."""
    present = [set(group[other].itertuples(index=False, name=None))
               for _, group in leaky.groupby(axis)]
    common = set.intersection(*present) if present else set()
    return leaky[[key in common for key in leaky[other].itertuples(index=False, name=None)]]


def _by_axis(table: pd.DataFrame, dataset: str, axis: str, other: list[str], label) -> str:
    part = _headline(table, dataset=dataset)
    leaky = _shared(_memory(part), axis, other)
    groups = []
    for value, group in leaky.groupby(axis, sort=True):
        better, worse = _counts(group, PRIMARY)
        text = f"{label(value)}: {len(better)} better / {len(worse)} worse of {len(group)}"
        best = _best_cell(group)
        groups.append(text + (f", best cell {best}" if best else ""))
    kept = sorted(set(leaky[other].itertuples(index=False, name=None)))
    where = ", ".join(RESET_NAMES[k[0]] if other == ["reset"] else rate_name(*k) for k in kept)
    return f"(on {where}) " + "; ".join(groups)


def moves_with(table: pd.DataFrame, dataset: str) -> list[str]:
    """How the region (against random-order feedforward at each rate) moves with lr and with
    the reset rule."""
    table = table[table["dataset"] == dataset]  # a thinned grid maps some axes on one dataset
    sgd = table[table["optimizer"] == "sgd"]
    lines = []
    if sgd["lr"].nunique() > 1:
        lines.append(f"**With the learning rate ({_name(dataset)}, SGD)** "
                     + _by_axis(sgd, dataset, "lr", ["reset"], lambda v: f"lr {v:g}") + ".")
    if table["reset"].nunique() > 1:
        lines.append(f"**With the reset rule ({_name(dataset)})** "
                     + _by_axis(table, dataset, "reset", ["optimizer", "lr"],
                                lambda v: RESET_NAMES[v]) + ".")
    other = table[table["optimizer"] != "sgd"]
    if not other.empty:
        lines.append(f"**RMSprop ({_name(dataset)})** "
                     + _by_axis(other, dataset, "lr", ["reset"], lambda v: f"lr {v:g}") + ".")
    return lines


def _summary(table: pd.DataFrame, dataset: str) -> dict[str, float]:
    part = _headline(table, dataset=dataset)
    leaky = _memory(part)
    rel = leaky[f"diff_{PRIMARY}"] / leaky[f"ff_mse_{PRIMARY}"]
    better, worse = _counts(leaky, PRIMARY)
    return {"better": len(better), "worse": len(worse),
            "cells": len(leaky), "median": float(rel.median()) if len(rel) else math.nan,
            "ff": float(part.loc[part["leak"] == 0, "test_mse"].min())}


def datasets_compared(table: pd.DataFrame) -> str:
    """Both datasets on the panels they share (a thinned grid maps some only on one)."""
    names = sorted(set(table["dataset"]))
    if len(names) < 2:
        return f"**Datasets**: only {', '.join(_name(n) for n in names)} was run."
    memory = _shared(table[table["leak"] > 0], "dataset", ["optimizer", "lr", "reset",
                                                            "protocol"])
    rates = set(memory[["optimizer", "lr"]].itertuples(index=False, name=None))
    at_rate = np.array([key in rates for key in table[["optimizer", "lr"]].itertuples(
        index=False, name=None)], dtype=bool)
    feedforward = table[(table["leak"] == 0).to_numpy() & at_rate]
    shared = pd.concat([feedforward, memory])
    parts = []
    for name in names:
        s = _summary(shared, name)
        parts.append(f"{_name(name)}: {s['better']} better / {s['worse']} worse of {s['cells']}"
                     f" cells, median change {100 * s['median']:+.1f}% against random-order "
                     f"feedforward (best feedforward MSE {s['ff']:.4f})")
    return ("**Fashion-MNIST against MNIST** (memory-off, end, on the panels both datasets "
            "share): " + "; ".join(parts) + ".")


def streamed(table: pd.DataFrame, dataset: str) -> str | None:
    """The streamed panels, with the test-label tier their test stream has."""
    part = _memory(table[(table["dataset"] == dataset) & (table["checkpoint"] == "end")
                         & (table["protocol"] == "streamed")])
    if part.empty:
        return None
    tiers = sorted(set(part.get("test_labels", pd.Series(["order"]))),
                   key=["none", "order", "resets"].index)
    counts = []
    for ref in (PRIMARY, SECONDARY):
        better, worse = _counts(part, ref)
        counts.append(f"against {REFERENCE_WORDS[ref]}, {len(better)} of {len(part)} cells "
                      f"significantly better, {len(worse)} worse"
                      + (f" (the better cells: {_region(better)})" if len(better) else ""))
    return (f"**Streamed test with label-free resets ({_name(dataset)}; test labels: "
            + ", ".join(TIER_WORDS[t] for t in tiers) + ")**: the test stream follows the "
            "training structure, so outside random order its order is built from the test "
            "labels and memory can average same-class neighbours; "
            + "; ".join(counts) + ".")


def main_finding(table: pd.DataFrame) -> str:
    """The landscape in one sentence (for the README): how many cells with memory beat or
    lose to the feedforward net in random order (primary) and on the same order (secondary)
    under the fair test, which cells were left out as the feedforward net by construction,
    where the same-order reference is itself handicapped, and where the lowest error is."""
    part = _headline(table)
    leaky = _memory(part)
    if leaky.empty:
        return "No cell with memory finished at the end checkpoint."
    names = " and ".join(_name(d) for d in sorted(set(part["dataset"])))
    counts = {}
    for ref in (PRIMARY, SECONDARY):
        better, worse = _counts(leaky, ref)
        counts[ref] = (len(better), len(worse))
    text = (f"Tested with memory off (no test labels read), {counts[PRIMARY][0]} of "
            f"{len(leaky)} leak x smoothness cells with memory on {names} have significantly "
            f"lower test error than the feedforward net trained in random order at the same "
            f"rate and {counts[PRIMARY][1]} significantly higher; against the feedforward net "
            f"trained on the same order, {counts[SECONDARY][0]} lower and "
            f"{counts[SECONDARY][1]} higher (paired exact tests, Holm within each panel)")
    left = _by_construction(part)
    if len(left):
        text += (f"; {len(left)} further cells (label resets at every step of a repeat-1 "
                 "order) are the feedforward net by construction and are not counted")
    weak = _weak_summary(part)
    if weak:
        text += f"; the same-order reference is itself worse than random order at {weak}"
    bests = []
    for dataset, group in part.dropna(subset=["test_mse"]).groupby("dataset", sort=True):
        best = group.loc[group["test_mse"].idxmin()]
        bests.append(f"{_cell(best)} on {_name(dataset)}")
    return text + f"; the lowest mean test error is {'; '.join(bests)}."


def _weak_summary(part: pd.DataFrame) -> str:
    """The handicapped same-order references in a few words (for :func:`main_finding`)."""
    ff = part[(part["leak"] == 0) & (part["smoothness"] != "random")]
    ff = ff.drop_duplicates(["dataset", "optimizer", "lr", "smoothness"])
    relative = ff["diff_random"] / ff["ff_mse_random"]
    keep = (relative > WEAK_REFERENCE) & ff["significant_random"].fillna(False).astype(bool)
    return ", ".join(f"{r.smoothness} on {_name(r.dataset)} ({100 * rel:+.0f}%)"
                     for r, rel in zip(ff[keep].itertuples(), relative[keep], strict=True))


def findings(table: pd.DataFrame) -> list[str]:
    """Every finding, one string each, in the order of the page."""
    lines = []
    for dataset in sorted(set(table["dataset"])):
        lines += [best_setting(table, dataset), beats_feedforward(table, dataset)]
        weak = weak_references(table, dataset)
        if weak:
            lines.append(weak)
        lines += moves_with(table, dataset)
        extra = streamed(table, dataset)
        if extra:
            lines.append(extra)
    lines.append(datasets_compared(table))
    end = table[table["checkpoint"] == "end"]
    missing = end[end["n_missing"] > 0]
    if len(missing):
        lines.append(f"**Missing values** at the end checkpoint in {len(missing)} of {len(end)} "
                     "cells (runs that diverged before it, or failed); their pairs are left "
                     "out of the comparisons (columns `n_missing`, `n_pairs_*`), which flatters "
                     "a cell whose nets diverge.")
    return lines


def _panel_table(table: pd.DataFrame) -> str:
    rows = []
    for key, group in table[table["checkpoint"] == "end"].groupby(PANEL, sort=True):
        leaky = _memory(group)
        dataset, optimizer, lr, reset, protocol = key
        tiers = sorted(set(leaky.get("test_labels", pd.Series(dtype=str))))
        counts = [str(len(c)) for ref in (PRIMARY, SECONDARY) for c in _counts(leaky, ref)]
        rows.append([_name(dataset), rate_name(optimizer, lr), RESET_NAMES[reset], protocol,
                     ", ".join(tiers), str(len(leaky)), str(len(_by_construction(group))),
                     *counts, _best_cell(leaky),
                     _p(min_holm_p(int(leaky["n_pairs_random"].max() or 0)
                                   if len(leaky) else 0, len(leaky)))])
    head = ["dataset", "rate", "reset", "test", "test labels", "cells", "FF by construction",
            "better vs random-order FF", "worse vs random-order FF", "better vs same-order FF",
            "worse vs same-order FF", "best cell vs random-order FF",
            "smallest reachable Holm p"]
    return markdown_table(head, rows)


def _header(meta: Meta) -> list[str]:
    steps = "; ".join(f"{_name(d)}: " + ", ".join(f"{k} {v:,}" for k, v in points.items())
                      for d, points in meta.checkpoints.items())
    lines = ["# Landscape: where does smooth training help, and for which memory?", ""]
    if meta.indicative:
        lines += [f"> **Indicative only (quick mode)**: {meta.seeds} seeds and short training. "
                  f"With {meta.seeds} seeds an exact paired test cannot reach p < 0.05 (the "
                  f"smallest two-sided p is {2 / 2 ** meta.seeds:.3g}), so no cell is marked "
                  "significant; read the colours as a first look.", ""]
    lines += [
        f"Generated by `{meta.command}` ({meta.mode}; {meta.seeds} seeds per cell; "
        f"{meta.planned:,} runs, "
        f"{meta.trained:,} trained by this call, {meta.failed} failed). This call took "
        f"{meta.seconds / 60:.1f} min on {meta.cores} cores; training all its runs took "
        f"{meta.worker_seconds / 60:.1f} worker-minutes (wall time in the workers, as recorded "
        f"in the store; projected at quiet-machine rates: {meta.projected_seconds / 60:.1f} "
        "core-minutes). Do not edit by hand: rerun the command. "
        "Method: `docs/landscape-method.md`.",
        "",
        f"Checkpoints (steps): {steps}. Every comparison is paired by seed (same initial "
        "weights and order seed): the net's test MSE minus the feedforward net's, in random "
        "order at the same rate (the primary reference) or on the same order (secondary); "
        "exact sign-flip p-values, Holm-adjusted within each panel and checkpoint; effect "
        "size d_z = mean paired difference / SD of the paired differences. *Better*/*worse* "
        "below means Holm p < 0.05. Cells that are the feedforward net by construction "
        "(leaky memory with label resets trained at repeat-1: a reset at every step, tested "
        "with memory off) are not counted as nets with memory. Column `test_labels`: what "
        "a cell's test stream knows of the test labels (none, order, resets).",
        "",
    ]
    if meta.failed:
        lines += [f"> **Warning**: {meta.failed} runs failed or are missing; their cells have "
                  "fewer seeds. Rerun the same command to retry them.", ""]
    return lines


def render(table: pd.DataFrame, meta: Meta) -> tuple[str, list[str]]:
    """The page and its findings (also returned for the CLI to print)."""
    found = findings(table) if not table.empty else ["No finished runs."]
    lines = [*_header(meta), "## Findings", "", *[f"- {line}" for line in found], ""]
    end = [f for f in meta.figures if f.endswith("-end.png")]
    lines += ["## Heatmaps at the end checkpoint", ""]
    lines += [f"![{f.removesuffix('.png')}]({f})" for f in end] + [""]
    others = [f for f in meta.figures if f not in end]
    if others:
        lines += ["Earlier checkpoints: " + ", ".join(f"[{f.removesuffix('.png')}]({f})"
                                                      for f in others) + ".", ""]
    if not table.empty:
        lines += ["## Panels at the end checkpoint", "", _panel_table(table), ""]
    lines += ["The full table (every cell, checkpoint and statistic) is `landscape.csv` / "
              "`landscape.parquet` beside this page.", ""]
    return "\n".join(lines), found
