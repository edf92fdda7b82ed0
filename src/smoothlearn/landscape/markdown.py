"""``landscape.md``: the findings in plain words, computed from the cell table, never by hand.

Headline numbers are read at the last checkpoint (the last step before any class runs out)
under the memory-off test protocol, where no test label and no test order reaches the net.
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
    return f"leak {row['leak']:g}, {row['smoothness']}, {RESET_NAMES[row['reset']]}, {rate}"


def _best_cell(group: pd.DataFrame) -> str:
    """The cell closest to (or furthest below) the same-order feedforward net."""
    if not group["diff_same"].notna().any():
        return ""
    best = group.loc[group["diff_same"].idxmin()]
    relative = 100 * best["diff_same"] / best["ff_mse_same"]
    return (f"leak {best['leak']:g}, {best['smoothness']} "
            f"({best['diff_same']:+.4f}, {relative:+.1f}%)")


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
    sd = f"{effect:+.2f} SD" if math.isfinite(effect) else "SD n/a (one seed)"
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
    """Whether any region with memory beats feedforward under the memory-off protocol."""
    part = _headline(table, dataset=dataset)
    leaky = part[part["leak"] > 0]
    if leaky.empty:
        return f"{_name(dataset)}: no nets with memory at the end checkpoint."
    parts = []
    for ref, words in (("same", "the feedforward net trained on the same order"),
                       ("random", "the feedforward net trained in random order")):
        better = leaky[leaky[f"significant_{ref}"] & (leaky[f"diff_{ref}"] < 0)]
        worse = leaky[leaky[f"significant_{ref}"] & (leaky[f"diff_{ref}"] > 0)]
        lower = int((leaky[f"diff_{ref}"] < 0).sum())
        line = (f"against {words}, {len(better)} of {len(leaky)} cells have significantly "
                f"lower test error and {len(worse)} significantly higher ({lower} lower on "
                "average over seeds)")
        if len(better):
            line += f"; the better cells: {_region(better)}"
        parts.append(line)
    return (f"**Does memory beat feedforward on {_name(dataset)} (memory-off test)?** "
            + "; ".join(parts) + ".")


def _shared(leaky: pd.DataFrame, axis: str, other: list[str]) -> pd.DataFrame:
    """Rows whose ``other`` settings occur with every value of ``axis``, so that the values of
    ``axis`` are compared on the same panels (a thinned grid varies one axis at a time)."""
    present = [set(group[other].itertuples(index=False, name=None))
               for _, group in leaky.groupby(axis)]
    common = set.intersection(*present) if present else set()
    return leaky[[key in common for key in leaky[other].itertuples(index=False, name=None)]]


def _by_axis(table: pd.DataFrame, dataset: str, axis: str, other: list[str], label) -> str:
    part = _headline(table, dataset=dataset)
    leaky = _shared(part[part["leak"] > 0], axis, other)
    groups = []
    for value, group in leaky.groupby(axis, sort=True):
        better = group[group["significant_same"] & (group["diff_same"] < 0)]
        worse = group[group["significant_same"] & (group["diff_same"] > 0)]
        text = f"{label(value)}: {len(better)} better / {len(worse)} worse of {len(group)}"
        best = _best_cell(group)
        groups.append(text + (f", best cell {best}" if best else ""))
    kept = sorted(set(leaky[other].itertuples(index=False, name=None)))
    where = ", ".join(RESET_NAMES[k[0]] if other == ["reset"] else rate_name(*k) for k in kept)
    return f"(on {where}) " + "; ".join(groups)


def moves_with(table: pd.DataFrame, dataset: str) -> list[str]:
    """How the region (against same-order feedforward) moves with lr and with the reset."""
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
    leaky = part[part["leak"] > 0]
    rel = leaky["diff_same"] / leaky["ff_mse_same"]
    return {"better": int((leaky["significant_same"] & (leaky["diff_same"] < 0)).sum()),
            "worse": int((leaky["significant_same"] & (leaky["diff_same"] > 0)).sum()),
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
                     f" cells, median change {100 * s['median']:+.1f}% against same-order "
                     f"feedforward (best feedforward MSE {s['ff']:.4f})")
    return ("**Fashion-MNIST against MNIST** (memory-off, end, on the panels both datasets "
            "share): " + "; ".join(parts) + ".")


def streamed(table: pd.DataFrame, dataset: str) -> str | None:
    part = table[(table["dataset"] == dataset) & (table["checkpoint"] == "end")
                 & (table["protocol"] == "streamed") & (table["leak"] > 0)]
    if part.empty:
        return None
    better = part[part["significant_same"] & (part["diff_same"] < 0)]
    worse = part[part["significant_same"] & (part["diff_same"] > 0)]
    text = (f"**Streamed test in the training order, input-change resets ({_name(dataset)}; "
            f"test-label tier order: every order but random is built from the test labels)**: "
            f"{len(better)} of {len(part)} cells beat same-order feedforward significantly, "
            f"{len(worse)} lose")
    if len(better):
        text += f"; the better cells: {_region(better)}"
    return text + "."


def main_finding(table: pd.DataFrame) -> str:
    """The landscape in one sentence (for the README): how many cells with memory beat or
    lose to the same-order feedforward net under the fair test, and where the lowest error is."""
    part = _headline(table)
    leaky = part[part["leak"] > 0]
    if leaky.empty:
        return "No cell with memory finished at the end checkpoint."
    better = int((leaky["significant_same"] & (leaky["diff_same"] < 0)).sum())
    worse = int((leaky["significant_same"] & (leaky["diff_same"] > 0)).sum())
    names = " and ".join(_name(d) for d in sorted(set(leaky["dataset"])))
    bests = []
    for dataset, group in part.dropna(subset=["test_mse"]).groupby("dataset", sort=True):
        best = group.loc[group["test_mse"].idxmin()]
        bests.append(f"{_cell(best)} on {_name(dataset)}")
    return (f"Tested with memory off (no test labels read), {better} of {len(leaky)} "
            f"leak x smoothness cells with memory on {names} have significantly lower test "
            f"error than the feedforward net trained on the same order and {worse} "
            f"significantly higher (paired exact tests, Holm within each panel); the lowest "
            f"mean test error is {'; '.join(bests)}.")


def findings(table: pd.DataFrame) -> list[str]:
    """Every finding, one string each, in the order of the page."""
    lines = []
    for dataset in sorted(set(table["dataset"])):
        lines += [best_setting(table, dataset), beats_feedforward(table, dataset),
                  *moves_with(table, dataset)]
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
        leaky = group[group["leak"] > 0]
        dataset, optimizer, lr, reset, protocol = key
        rows.append([_name(dataset), rate_name(optimizer, lr), RESET_NAMES[reset], protocol,
                     str(len(leaky)),
                     str(int((leaky["significant_same"] & (leaky["diff_same"] < 0)).sum())),
                     str(int((leaky["significant_same"] & (leaky["diff_same"] > 0)).sum())),
                     _best_cell(leaky),
                     _p(min_holm_p(int(leaky["n_pairs_same"].max() or 0), len(leaky)))])
    head = ["dataset", "rate", "reset", "test", "cells", "better", "worse",
            "best cell vs same-order FF", "smallest reachable Holm p"]
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
        "weights and order seed): the net's test MSE minus the feedforward net's, on the same "
        "order or in random order; exact sign-flip p-values, Holm-adjusted within each panel "
        "and checkpoint. *Better*/*worse* below means Holm p < 0.05.",
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
