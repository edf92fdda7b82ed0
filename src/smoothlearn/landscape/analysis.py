"""Statistics per landscape cell: how far each net is from the feedforward references.

A *cell* is one leak x smoothness point of one *panel* (dataset, optimiser and rate, reset
rule, test protocol) at one checkpoint. Its runs are compared, seed by seed, with

* (b) the feedforward net trained in random order at the same rate (``_random``), the
  **primary** reference: what memory *and* smooth order add together, against the usual
  way of training, and
* (a) the feedforward net trained on the same order (``_same``), the secondary one: what
  memory adds. At long runs of one class that reference is itself much worse than random
  order, so beating it can mean beating a handicapped net.

Some cells are the feedforward net **by construction** (``feedforward_by_construction``):
leaky memory with label resets trained at repeat-1 (or sticky-0) resets at every step and
tested with memory off is that net again (``claims._same_network``'s rule), and so is
leak 0. They stay in the table but leave every "memory wins/loses" count.

Each cell states its test-label tier (``test_labels``, issue 25): ``none`` with memory off
or a streamed test in random order, ``order`` for a streamed test whose order is built from
the test labels (the training structure), ``resets`` with label resets at test.

Runs with the same seed share initial weights and order seed, so each comparison is a paired
difference per seed (net minus reference; negative = the net has lower test error). Each gets
an exact two-sided sign-flip p-value (all 2^n sign patterns), Holm-adjusted within its panel
and checkpoint (one family per reference), the effect size d_z (mean paired difference over
the SD of the paired differences: the project's one definition, as in the claims table) and
the share of seeds that differ in the direction of the mean. The feedforward row (leak 0) of
every panel is the same runs: its ``_same`` comparison is empty by construction.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict

import numpy as np
import pandas as pd

from smoothlearn import stats
from smoothlearn.claims import config_tier
from smoothlearn.landscape.grid import PROTOCOLS, Plan, mean_run_length

PANEL = ["dataset", "optimizer", "lr", "reset", "protocol"]
CELL = [*PANEL, "checkpoint", "step", "leak", "smoothness"]
REFERENCES = ("same", "random")
#: Training orders in which label resets fire at every step (each item's class differs from
#: the last): leaky+label reset trained on them is the feedforward net by construction.
RESET_EVERY_STEP = ("repeat-1", "sticky-0")
COLUMNS = [
    *CELL, "mean_run_length", "test_labels", "feedforward_by_construction", "n_seeds",
    "n_missing", "test_mse", "test_mse_sd", "test_acc",
    *(f"{name}_{ref}" for ref in REFERENCES
      for name in ("ff_mse", "diff", "acc_diff", "p", "p_holm", "significant", "effect_sd",
                   "share", "n_pairs")),
]


def scores(plan: Plan, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per planned run and checkpoint: test MSE and accuracy there (NaN when the run
    is missing, failed, or diverged before that checkpoint)."""
    arms = pd.DataFrame([asdict(a) for a in plan.arms])
    points = pd.DataFrame([{"dataset": d, "checkpoint": name, "step": step}
                           for d, steps in plan.checkpoints.items()
                           for name, step in steps.items()])
    rows = arms.merge(points, on="dataset")
    measured = curves[["run_id", "step", "test_mse", "test_acc"]]
    out = rows.merge(measured, on=["run_id", "step"], how="left")
    return out.rename(columns={"condition": "smoothness"})


def _panel_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Every net placed in its panel: leaky rows as they are, and the feedforward rows copied
    into each panel of their dataset and rate (one training run, shown in every panel)."""
    leaky = table[table["leak"] > 0]
    feedforward = table[table["leak"] == 0].drop(columns=["reset", "protocol"])
    panels = leaky[PANEL].drop_duplicates()
    ff_in_panels = feedforward.merge(panels, on=["dataset", "optimizer", "lr"])
    # a panel shows the feedforward row only in its own smoothness columns
    shown = leaky[["dataset", "optimizer", "lr", "reset", "protocol", "smoothness"]]
    ff_in_panels = ff_in_panels.merge(shown.drop_duplicates(), how="inner")
    return pd.concat([leaky, ff_in_panels[leaky.columns]], ignore_index=True)


def _with_references(rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Attach each row's references, by seed: (a) same order, (b) random order."""
    ff = table[table["leak"] == 0]
    key = ["dataset", "optimizer", "lr", "seed", "checkpoint"]
    same = ff[[*key, "smoothness", "test_mse", "test_acc"]].rename(
        columns={"test_mse": "ref_mse_same", "test_acc": "ref_acc_same"})
    random = ff[ff["smoothness"] == "random"][[*key, "test_mse", "test_acc"]].rename(
        columns={"test_mse": "ref_mse_random", "test_acc": "ref_acc_random"})
    out = rows.merge(same, on=[*key, "smoothness"], how="left").merge(random, on=key,
                                                                      how="left")
    itself = out["leak"] == 0
    out.loc[itself, ["ref_mse_same", "ref_acc_same"]] = np.nan
    out.loc[itself & (out["smoothness"] == "random"), ["ref_mse_random", "ref_acc_random"]] = (
        np.nan)
    return out


def compare(values: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Paired comparison over seeds (arrays aligned by seed; pairs with a NaN dropped)."""
    values, reference = np.asarray(values, float), np.asarray(reference, float)
    keep = np.isfinite(values) & np.isfinite(reference)
    diffs = values[keep] - reference[keep]
    n = int(diffs.size)
    if n == 0:
        return {"diff": math.nan, "p": math.nan, "effect_sd": math.nan, "share": math.nan,
                "n_pairs": 0}
    mean = float(diffs.mean())
    spread = float(np.std(diffs, ddof=1)) if n > 1 else math.nan
    direction = np.sign(mean)
    return {
        "diff": mean,
        "p": float(stats.signflip_p(diffs)),
        "effect_sd": mean / spread if spread and math.isfinite(spread) else math.nan,
        "share": float(np.mean(np.sign(diffs) == direction)) if direction else math.nan,
        "n_pairs": n,
    }


@functools.cache  # a few (protocol, order) pairs, asked once per cell
def test_labels(protocol: str | None, smoothness: str) -> str:
    """A cell's test-label tier: what its test stream knows of the test labels. The project's
    one rule (``claims.label_tier``) on a memory net's config with the cell's test protocol
    and training order: memory off or random order reads none; a stream in the training
    structure is ordered by the labels; label resets at test read them outright."""
    settings = PROTOCOLS.get(protocol or "memory-off", {"test_mode": "off"})
    return config_tier(dataset="mnist", model="leaky", condition=smoothness, **settings)


def feedforward_by_construction(leak: float, reset: str | None, smoothness: str,
                                protocol: str | None) -> bool:
    """The cell is the feedforward net by construction: no memory (leak 0), or label resets
    at every training step tested with memory off."""
    memory_off = PROTOCOLS.get(protocol or "", {}).get("test_mode") == "off"
    return leak == 0 or (reset == "label" and smoothness in RESET_EVERY_STEP and memory_off)


def _cell_record(group: pd.DataFrame) -> dict[str, float]:
    group = group.sort_values("seed")
    mse = group["test_mse"].to_numpy(float)
    record: dict[str, float] = {
        "n_seeds": int(np.isfinite(mse).sum()),
        "n_missing": int((~np.isfinite(mse)).sum()),
        "test_mse": float(np.nanmean(mse)) if np.isfinite(mse).any() else math.nan,
        "test_mse_sd": float(np.nanstd(mse, ddof=1)) if np.isfinite(mse).sum() > 1 else math.nan,
        "test_acc": float(group["test_acc"].mean()),
    }
    for ref in REFERENCES:
        reference = group[f"ref_mse_{ref}"].to_numpy(float)
        stats = compare(mse, reference)
        record.update({f"{k}_{ref}": v for k, v in stats.items()})
        record[f"ff_mse_{ref}"] = float(np.nanmean(reference)) if np.isfinite(
            reference).any() else math.nan
        record[f"acc_diff_{ref}"] = float((group["test_acc"] - group[f"ref_acc_{ref}"]).mean())
    return record


def _adjust(cells: pd.DataFrame) -> pd.DataFrame:
    """Holm within each panel and checkpoint, separately for each reference."""
    cells = cells.copy()
    for ref in REFERENCES:
        adjusted = pd.Series(np.nan, index=cells.index)
        for _, family in cells.groupby([*PANEL, "checkpoint"], sort=False):
            adjusted[family.index] = stats.holm(family[f"p_{ref}"].to_numpy())
        cells[f"p_holm_{ref}"] = adjusted
        cells[f"significant_{ref}"] = adjusted < stats.ALPHA
    return cells


def cell_table(plan: Plan, curves: pd.DataFrame) -> pd.DataFrame:
    """The tidy landscape table: one row per panel, checkpoint, leak and smoothness."""
    table = scores(plan, curves)
    rows = _with_references(_panel_rows(table), table)
    records = []
    for key, group in rows.groupby(CELL, sort=True, dropna=False):
        records.append({**dict(zip(CELL, key, strict=True)), **_cell_record(group)})
    cells = pd.DataFrame(records)
    if cells.empty:
        return pd.DataFrame(columns=COLUMNS)
    params = plan.grid.dataset_params
    cells["mean_run_length"] = [mean_run_length(d, s, params)
                                for d, s in zip(cells["dataset"], cells["smoothness"],
                                                strict=True)]
    cells["test_labels"] = [test_labels(p, s) if leak > 0 else "none" for p, s, leak in
                            zip(cells["protocol"], cells["smoothness"], cells["leak"],
                                strict=True)]
    cells["feedforward_by_construction"] = [
        feedforward_by_construction(r.leak, r.reset, r.smoothness, r.protocol)
        for r in cells.itertuples()]
    return _adjust(cells)[COLUMNS]
