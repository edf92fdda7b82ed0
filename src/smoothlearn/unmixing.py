"""Un-mixing claims and tables of the autoencoder experiments (Fig 3E, A.13, A.14).

The measures themselves (correlation, selectivity, per-feature error, dynamics, the A.11
reset rate, and the tidy table of trained and untrained runs from
:func:`smoothlearn.analysis.analyse_runs`) are in :mod:`smoothlearn.analysis`; this module
turns that table into the figures' tables and into :class:`~smoothlearn.verdicts.ComparisonResult`
claims decided like every other claim (exact paired test, Holm, effect at initialisation and
gain from training: a difference already there at initialisation that training does not
change is ``present at initialisation``, not ``reproduced``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from smoothlearn import stats
from smoothlearn.analysis import (
    BASELINE,
    FEATURE_NAMES,
    RESET_MODELS,
    UNIT_NAMES,
    feature_name,
    pearson,
)
from smoothlearn.verdicts import Arms, ComparisonResult, Paired, decide, paired, relative

__all__ = ["SETTING", "fig3e_table", "autoencoder_claims", "feature_error_claims", "a14_claims",
           "a13_table", "a14_relation"]

SETTING = ["experiment", "dataset", "lr", "optimizer", "test_mode"]


def _unit_level(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run and unit (the tidy frame repeats unit values once per feature)."""
    return frame[frame["feature"] == 0].drop(columns=["feature", "feature_name", "corr",
                                                      "corr_init", "matching"])


def fig3e_table(
    frame: pd.DataFrame, n_boot: int = stats.N_BOOT, seed: int = 0
) -> pd.DataFrame:
    """Fig 3E: per model and unit, bootstrap mean ± SD over seeds of the selectivity.

    Also the same at initialisation, and ``unit == "mean"``: each seed's mean over its units
    (the number the claims compare). Resamples are over seeds (10,000 × 50 with a fixed seed).
    """
    import pandas as pd

    units = _unit_level(frame)
    rows = []
    for key, part in units.groupby([*SETTING, "model"], sort=False):
        wide = part.pivot(index="seed", columns="unit", values="selectivity")
        wide_init = part.pivot(index="seed", columns="unit", values="selectivity_init")
        for label, trained, init in [
            *((u, wide[u], wide_init[u]) for u in wide.columns),
            ("mean", wide.mean(axis=1), wide_init.mean(axis=1)),
        ]:
            now = stats.bootstrap(trained.to_numpy(), n_boot=n_boot, seed=seed)
            before = stats.bootstrap(init.to_numpy(), n_boot=n_boot, seed=seed)
            rows.append({
                **dict(zip([*SETTING, "model"], key, strict=True)),
                "unit": label,
                "unit_name": feature_name(UNIT_NAMES, label) if label != "mean" else "mean",
                "n": int(np.isfinite(trained.to_numpy()).sum()),
                "selectivity": now.mean, "sd": now.sd,
                "selectivity_init": before.mean, "sd_init": before.sd,
            })
    return pd.DataFrame(rows)


def autoencoder_claims(
    frame: pd.DataFrame,
    curves_frame: pd.DataFrame | None = None,
) -> list[ComparisonResult]:
    """The paper's Fig 3 claims, one result per comparison and setting (experiment, dataset,
    lr, optimizer, test_mode), like :func:`smoothlearn.claims.evaluate_claims`'s
    (``mean_diff`` > 0 means as claimed), so ``verdicts.summarise`` applies.

    * ``ae-selectivity``: each memory+reset model's selectivity (each seed's mean over its
      units) exceeds the feedforward model's, paired over seeds (same init, same data).
      ``init_*`` fields give the same difference at initialisation and ``gain_*`` the paired
      trained-minus-init change: where the difference is there before training and the gain's
      CI includes 0, the verdict is ``present at initialisation``.
    * ``ae-selectivity-positive``: that selectivity is above 0 (with its value at
      initialisation and the gain from training, judged the same way).
    * ``ae-ff-lower-error``: the feedforward AE has lower final test MSE ("slightly lower").
      From ``curves_frame`` (last step of each run) when given, else the analysis' own
      recomputation of the same number.
    """
    units = _unit_level(frame)
    per_run = units.groupby([*SETTING, "model", "seed", "run_id"], as_index=False).agg(
        selectivity=("selectivity", "mean"),
        selectivity_init=("selectivity_init", "mean"),
        test_mse=("test_mse", "first"),
        test_mse_init=("test_mse_init", "first"),
    )
    step = None
    if curves_frame is not None and len(curves_frame):
        ordered = curves_frame.sort_values("step").groupby("run_id")
        per_run["test_mse"] = per_run["run_id"].map(ordered["test_mse"].last()).fillna(
            per_run["test_mse"])
        step = int(ordered["step"].last().max())
    results = []
    for key, part in per_run.groupby(SETTING, sort=False):
        setting = dict(zip(SETTING, key, strict=True))
        wide = {c: part.pivot(index="seed", columns="model", values=c)
                for c in ("selectivity", "selectivity_init", "test_mse", "test_mse_init")}
        for model in RESET_MODELS:
            if model not in wide["selectivity"]:
                continue
            args = (setting, model, wide)
            if BASELINE in wide["selectivity"]:
                results.append(_selectivity_claim(*args))
            results.append(_positive_claim(*args))
            if BASELINE in wide["selectivity"]:
                results.append(_error_claim(*args, step=step))
    return _decide_by_claim(results)


def _decide_by_claim(results: list[ComparisonResult]) -> list[ComparisonResult]:
    """Verdicts with Holm over each claim's comparisons in one setting (experiment, dataset,
    lr, optimizer, test_mode), in the input order."""
    families: dict[tuple, list[int]] = {}
    for i, res in enumerate(results):
        key = (res.claim, res.experiment, res.arms.dataset, res.lr, res.optimizer,
               res.arms.test_mode)
        families.setdefault(key, []).append(i)
    out = list(results)
    for members in families.values():
        for i, decided in zip(members, decide([results[i] for i in members]), strict=True):
            out[i] = decided
    return out


_PROTOCOL = {"same": "held-out stream in its own order, each model's own resets (input-change "
                     "rule for reset models: reads no labels)",
             "off": "memory off (each test item alone)"}
FINAL_WEIGHTS = "end of training (final weights)"


def _result(claim: str, comparison: str, text: str, source: str, setting: dict[str, Any],
            better: str, worse: str, metric: str, mean_better: float | None,
            mean_worse: float | None, measured: Paired, step: int | None = None,
            test_protocol: str | None = None, **extra: Any) -> ComparisonResult:
    """An autoencoder comparison: measured on final weights over the held-out stream, which
    these label-free protocols read no test labels of. ``setting``: the experiment, lr,
    optimizer (and model) it belongs to, and the dataset and test_mode its arms were
    measured on; ``extra``: id, note, init, gain."""
    identity = {k: v for k, v in setting.items() if k not in ("dataset", "test_mode")}
    arms = Arms(better=better, worse=worse, metric=metric, dataset=setting["dataset"],
                step=step, step_rule=FINAL_WEIGHTS, test_mode=setting["test_mode"],
                test_protocol=(_PROTOCOL.get(setting["test_mode"], "") if test_protocol is None
                               else test_protocol),
                test_labels="none", mean_better=mean_better, mean_worse=mean_worse)
    return ComparisonResult(claim=claim, comparison=comparison, text=text, source=source,
                            **identity, arms=arms, stats=measured, **extra)


def _selectivity_claim(setting, model, wide) -> ComparisonResult:
    sel, sel0 = wide["selectivity"], wide["selectivity_init"]
    diff = (sel[model] - sel[BASELINE]).to_numpy()
    diff0 = (sel0[model] - sel0[BASELINE]).to_numpy()
    init = paired(diff0)
    gain = paired(diff - diff0)
    return _result(
        "ae-selectivity", f"{model} > {BASELINE}",
        "Autoencoders with memory and reset un-mix the timescales: their timescale selectivity "
        "exceeds the feedforward AE's.", "§5.2.2, Fig 3E", setting, model, BASELINE,
        "selectivity (mean over units)", float(np.nanmean(sel[model])),
        float(np.nanmean(sel[BASELINE])), paired(diff, sel.index),
        init=init.effect, gain=gain.effect,
        note=f"at initialisation the difference is already {init.mean_diff:+.3f} "
             f"[{init.ci_low:+.3f}, {init.ci_high:+.3f}]; training changes it by "
             f"{gain.mean_diff:+.3f} [{gain.ci_low:+.3f}, {gain.ci_high:+.3f}]")


def _positive_claim(setting, model, wide) -> ComparisonResult:
    sel, sel0 = wide["selectivity"][model], wide["selectivity_init"][model]
    init = paired(sel0.to_numpy())
    gain = paired((sel - sel0).to_numpy())
    return _result(
        "ae-selectivity-positive", f"{model} > 0",
        "Autoencoders with memory and reset show positive timescale selectivity.",
        "§5.2.2, Fig 3E", setting, model, "0", "selectivity (mean over units)",
        float(np.nanmean(sel)), 0.0, paired(sel.to_numpy(), sel.index),
        init=init.effect, gain=gain.effect,
        note=f"at initialisation: {init.mean_diff:+.3f}; training changes it by "
             f"{gain.mean_diff:+.3f} [{gain.ci_low:+.3f}, {gain.ci_high:+.3f}]")


def _error_claim(setting, model, wide, step) -> ComparisonResult:
    mse, mse0 = wide["test_mse"], wide["test_mse_init"]
    worse = float(np.nanmean(mse[model]))
    measured = paired((mse[model] - mse[BASELINE]).to_numpy(), mse.index)
    init = paired((mse0[model] - mse0[BASELINE]).to_numpy())
    rel = relative(measured.mean_diff, worse)
    return _result(
        "ae-ff-lower-error", f"{BASELINE} < {model}",
        "The no-memory (feedforward) AE has slightly lower final reconstruction error than the "
        "memory+reset AEs.", "§5.2.3, Fig 3D", setting, BASELINE, model, "test_mse",
        float(np.nanmean(mse[BASELINE])), worse, measured, step=step, init=init.effect,
        note=f"relative difference {rel:+.1%} of the memory+reset AE's error; at "
             f"initialisation {init.mean_diff:+.3g}")


def feature_error_claims(
    table: pd.DataFrame, models: Sequence[str] = RESET_MODELS,
) -> list[ComparisonResult]:
    """A.13: in the memory+reset autoencoders the slow row is reconstructed better than the
    fast row (per seed: fast-row error minus slow-row error > 0), from an
    :func:`analyse_runs` table."""
    runs = table.drop_duplicates("run_id")
    results = []
    for key, part in runs.groupby([*SETTING, "model"], sort=False):
        setting = dict(zip([*SETTING, "model"], key, strict=True))
        if setting["model"] not in models:
            continue
        diff = (part["err_fast"] - part["err_slow"]).to_numpy()
        results.append(_result(
            "ae-slow-row-learned-better", f"{setting['model']}: slow-row error < fast-row "
            "error", "Memory+reset autoencoders reconstruct the slow-changing row better than "
            "the fast-changing one (A.13).", "A.13", setting, "slow row", "fast row",
            "per-row test MSE", float(part["err_slow"].mean()), float(part["err_fast"].mean()),
            paired(diff, part["seed"].to_numpy()),
            id=f"ae-slow-row-learned-better: {setting['model']}",
            test_protocol=f"held-out stream, test_mode={setting['test_mode']}"))
    return _decide_by_claim(results)


def a14_claims(
    table: pd.DataFrame, models: Sequence[str] = RESET_MODELS, n_boot: int = stats.N_BOOT,
    seed: int = 0,
) -> list[ComparisonResult]:
    """A.14 (i): across seeds, the more the slow (medium/long-memory) units correlate with the
    fast feature, the worse the fast row is reconstructed (Pearson r > 0, bootstrap CI)."""
    rel = a14_relation(table, n_boot=n_boot, seed=seed)
    rel = rel[rel["units"].str.startswith("slow") & rel["model"].isin(list(models))]
    results = []
    for row in rel.to_dict("records"):
        setting = {k: row[k] for k in [*SETTING, "model"]}
        measured = Paired(n=int(row["n"]), mean_diff=float(row["r"]), ci_low=float(row["r_lo"]),
                          ci_high=float(row["r_hi"]), p=float(row["p"]))
        results.append(_result(
            "ae-slow-units-hurt-fast-row", f"{row['model']}: r(slow units' r² with fast "
            "feature, fast-row error) > 0", "Across seeds, slow hidden units that track the "
            "fast feature go with a worse fast-row reconstruction (A.14).", "A.14", setting,
            "r", "0", "Pearson r across seeds", None, None, measured,
            id=f"ae-slow-units-hurt-fast-row: {row['model']}",
            test_protocol=f"held-out stream, test_mode={row['test_mode']}",
            note=f"least-squares slope {row['slope']:.3g}; p: permutation test of r"))
    return _decide_by_claim(results)


def a13_table(frame: pd.DataFrame, n_boot: int = stats.N_BOOT, seed: int = 0) -> pd.DataFrame:
    """A.13: per model, the fast, medium and slow rows' test error (bootstrap mean ± SD over
    seeds), and the paired slow-minus-fast difference with its 95% CI (the paper predicts < 0
    for the memory+reset models: the slow row is learned faster)."""
    import pandas as pd

    runs = _unit_level(frame).groupby([*SETTING, "model", "seed"], sort=False).first()
    rows = []
    for key, part in runs.groupby(level=[*range(len(SETTING) + 1)], sort=False):
        row = dict(zip([*SETTING, "model"], key, strict=True))
        for name in FEATURE_NAMES:
            err = stats.bootstrap(part[f"err_{name}"].to_numpy(), n_boot=n_boot, seed=seed)
            row[f"err_{name}"], row[f"sd_{name}"] = err.mean, err.sd
        diff = stats.bootstrap((part["err_slow"] - part["err_fast"]).to_numpy(), n_boot=n_boot,
                               seed=seed)
        row.update(slow_minus_fast=diff.mean, ci_low=diff.low, ci_high=diff.high, n=diff.n)
        rows.append(row)
    return pd.DataFrame(rows)


def a14_relation(
    frame: pd.DataFrame, feature: int = 0, n_boot: int = stats.N_BOOT, seed: int = 0
) -> pd.DataFrame:
    """A.14: across seeds, does a slow unit that tracks the fast feature reconstruct it worse?

    For each model, x = r² of the slow units (short- and long-memory, units 1 and 2, averaged)
    with the fast feature, or r² of the no-memory unit (unit 0), and y = the fast row's
    reconstruction error. The paper's hypotheses: (i) the slow units' r with the error is
    positive; (ii) the no-memory unit's is not. Returned: Pearson r across seeds with a
    bootstrap 95% CI (seeds resampled in pairs), and the least-squares slope.
    """
    import pandas as pd

    err = f"err_{feature_name(FEATURE_NAMES, feature)}"
    part = frame[frame["feature"] == feature].copy()
    part["r2"] = part["corr"] ** 2
    rows = []
    for key, group in part.groupby([*SETTING, "model"], sort=False):
        wide = group.pivot(index="seed", columns="unit", values="r2")
        y = group.groupby("seed")[err].first().reindex(wide.index).to_numpy()
        for units, x in (("slow (units 1, 2)", wide[[1, 2]].mean(axis=1)), ("no-memory (unit 0)",
                                                                       wide[0])):
            rows.append({**dict(zip([*SETTING, "model"], key, strict=True)), "units": units,
                         **_relation(x.to_numpy(), y, n_boot, seed)})
    return pd.DataFrame(rows)


def _relation(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> dict[str, float]:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    r = float(pearson(x[:, None], y[:, None])[0, 0])
    boot = stats.bootstrap((x, y), _pearson_r, n_boot=n_boot, seed=seed)
    slope = float(np.polyfit(x, y, 1)[0]) if np.ptp(x) > 0 else float("nan")
    return {"n": int(x.size), "r": r, "r_lo": boot.low, "r_hi": boot.high,
            "p": stats.correlation_p(x, y, seed=seed), "slope": slope}


def _pearson_r(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pearson r along ``axis`` (vectorised for the bootstrap); 0 where x or y is constant."""
    xc = x - x.mean(axis, keepdims=True)
    yc = y - y.mean(axis, keepdims=True)
    den = np.sqrt((xc**2).sum(axis) * (yc**2).sum(axis))
    return np.where(den > 0, (xc * yc).sum(axis) / np.where(den > 0, den, 1), 0.0)
