"""Un-mixing measures for the multi-timescale autoencoders (paper 5.2, A.11–A.15).

The paper asks whether hidden units with short and long memory *track* the fast and slow
latent sources of the multiscale stream. The measures are small functions on arrays, so each
can be checked by hand (``tests/test_analysis.py``) before it is trusted on 250 runs; error
bars and confidence intervals come from :mod:`smoothlearn.stats` (10,000 resamples of the
seeds, as in the paper):

* :func:`pearson`, :func:`selectivity` — the Fig 3E "timescale-selectivity";
* :func:`per_feature_error` (A.13), :func:`a14_relation` (A.14), :func:`unit_dynamics` (A.15);
* :func:`reset_rate` — how often the A.11 local reset fires against each row's true switch
  rate (``docs/autoencoders.md``: it also fires inside runs of the 0 state);
* :func:`autoencoder_analysis`, :func:`analyse_runs`, :func:`fig3e_table` — the same measures
  on trained runs, *and at initialisation*, as tidy tables for the report;
* :func:`autoencoder_claims`, :func:`feature_error_claims`, :func:`a14_claims` — the Fig 3,
  A.13 and A.14 claims as :class:`~smoothlearn.verdicts.ComparisonResult` s.

The array measures need only numpy and the reset rule (:mod:`smoothlearn.memory`); the
trained-run functions import the PyTorch reference trainer (``train.hidden_states``) lazily.

Hidden units are named by position, as the paper compares "units in the corresponding
position" across models: unit 0 is the no-memory unit of the multi-scale models (leak 0),
unit 1 the short-memory unit (leak 0.3), unit 2 the long-memory unit (leak 0.6); with
``reset_groups=3`` unit k also resets on input row k. Features are the latent binary states
of the fast, medium and slow rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from smoothlearn.memory import group_slices, input_change
from smoothlearn.runs import dataset_for, prepare

if TYPE_CHECKING:  # pragma: no cover - annotations only; the trainer is imported lazily
    import pandas as pd

    from smoothlearn.contract import Curves, Prepared
    from smoothlearn.experiments import RunConfig

__all__ = [
    "UNIT_NAMES",
    "FEATURE_NAMES",
    "RESET_MODELS",
    "BASELINE",
    "feature_name",
    "pearson",
    "selectivity",
    "per_feature_error",
    "reconstruction",
    "unit_dynamics",
    "dynamics_for",
    "reset_rate",
    "autoencoder_analysis",
    "analyse_runs",
]

#: Hidden units by position (paper 5.2.1 "Un-mixing measures" and Figure A.15).
UNIT_NAMES = ("no-memory", "short-memory", "long-memory")
#: Latent features by input row: rows switch every 1, 3, 5 items in ``multiscale``.
FEATURE_NAMES = ("fast", "medium", "slow")
#: Models whose claims the paper makes (memory + reset) and their baseline.
RESET_MODELS = ("ae-leaky-reset", "ae-multiscale-reset")
BASELINE = "ae-feedforward"


# ---------------------------------------------------------------- correlation and selectivity
def pearson(hidden: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Pearson correlation ``[h, f]`` of every hidden unit with every feature over ``m`` items.

    A constant column (a dead ReLU unit, or a feature that never changes) has no defined
    correlation; it gets 0, not NaN. Why: a unit that never varies tracks no source, so 0 is
    the honest value for "un-mixing", and a NaN would silently drop that seed from the
    bootstrap and bias the mean toward networks whose units all survived.
    """
    h = np.asarray(hidden, np.float64)
    f = np.asarray(features, np.float64)
    if h.ndim != 2 or f.ndim != 2 or h.shape[0] != f.shape[0]:
        raise ValueError(f"need hidden [m, h] and features [m, f]; got {h.shape}, {f.shape}")
    if not (np.isfinite(h).all() and np.isfinite(f).all()):
        return np.full((h.shape[1], f.shape[1]), np.nan)  # a diverged network: no correlation
    hc = h - h.mean(0)
    fc = f - f.mean(0)
    hn = np.sqrt((hc**2).sum(0))
    fn = np.sqrt((fc**2).sum(0))
    # a column is constant when its spread is at rounding level relative to its size
    h_live = hn > 1e-9 * np.maximum(np.abs(h).max(0) * np.sqrt(h.shape[0]), 1e-30)
    f_live = fn > 1e-9 * np.maximum(np.abs(f).max(0) * np.sqrt(f.shape[0]), 1e-30)
    denom = np.outer(np.where(h_live, hn, 1.0), np.where(f_live, fn, 1.0))
    corr = (hc.T @ fc) / denom
    corr[~h_live, :] = 0.0
    corr[:, ~f_live] = 0.0
    return np.clip(corr, -1.0, 1.0)


def selectivity(
    corr: np.ndarray, matching: Sequence[int] | None = None, over: str = "features"
) -> np.ndarray:
    """Timescale selectivity of each unit: r² with its matching feature minus the MEAN r² with
    the non-matching features (paper Fig 3E).

    The caption reads "correlation of long-memory with slow features minus correlation of
    long-memory with fast and medium features". We take the *mean* over the non-matching
    features: it keeps the scale of one squared correlation (range [-1, 1]) and gives 0 to a
    unit that follows every feature alike. The *sum* would subtract twice as much with three
    features (range [-2, 1]), so a unit equally correlated with all three features would score
    -r² instead of 0, and the scale would change with the number of features.

    ``matching[k]`` is unit k's feature (default k: no-memory ↔ fast, short ↔ medium,
    long ↔ slow). Models without multi-scale memory are scored on the units in the same
    positions, as the paper does. ``over="units"`` instead scores each matching pair against
    the other *units* for the same feature (the 5.2.1 text: "the slow-changing feature was
    more correlated with long-memory node than other nodes"); the caption's reading is the
    default.
    """
    r2 = np.asarray(corr, np.float64) ** 2
    if over == "units":
        r2 = r2.T
        if matching is not None:  # invert: feature j -> its unit
            inverse = np.full(r2.shape[0], -1)
            inverse[np.asarray(matching)] = np.arange(len(matching))
            matching = inverse.tolist()
    elif over != "features":
        raise ValueError(f"over={over!r}; use 'features' or 'units'")
    n_rows, n_cols = r2.shape
    match = np.arange(n_rows) if matching is None else np.asarray(matching, int)
    if match.shape != (n_rows,) or np.any(match < 0) or np.any(match >= n_cols):
        raise ValueError(f"matching must give one column in [0, {n_cols}) per row")
    if n_cols < 2:
        raise ValueError("selectivity needs at least two features to compare")
    rows = np.arange(n_rows)
    matched = r2[rows, match]
    others = (r2.sum(1) - matched) / (n_cols - 1)
    return matched - others


# ---------------------------------------------------------------- errors and dynamics
def per_feature_error(recon: np.ndarray, target: np.ndarray, groups: int = 3) -> np.ndarray:
    """MSE of each input row (fast, medium, slow) over items and the row's elements (A.13).

    The mean of the result is the overall test MSE when the rows are of equal width, so the
    per-row errors decompose the Fig 3D number.
    """
    r = np.asarray(recon, np.float64)
    t = np.asarray(target, np.float64)
    if r.shape != t.shape or r.ndim != 2:
        raise ValueError(f"recon and target must be equal 2-d shapes; got {r.shape}, {t.shape}")
    sq = (r - t) ** 2
    return np.array([sq[:, part].mean() for part in group_slices(r.shape[1], groups)])


def reconstruction(
    params: dict[str, np.ndarray], hidden: np.ndarray, output: str = "sigmoid"
) -> np.ndarray:
    """The network's output for given hidden activity (the autoencoders' sigmoid read-out)."""
    z = np.asarray(hidden, np.float64) @ params["W2"].T.astype(np.float64) + params["b2"]
    if output == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def unit_dynamics(
    params: dict[str, np.ndarray],
    leak: np.ndarray,
    X: np.ndarray,
    resets: np.ndarray | None,
    latent: np.ndarray,
    start: int = 0,
    length: int = 30,
) -> dict[str, np.ndarray]:
    """Hidden activity over a window of a held-out stream, beside its latent states (A.15).

    The memory runs from the start of the stream, not the window, so the window shows the
    same activity the evaluation saw. Returns ``step``, ``hidden [length, h]``,
    ``latent [length, f]``, ``input``, ``recon`` and the per-group ``resets`` (None = off).
    """
    from smoothlearn.train import hidden_states

    stop = min(start + length, X.shape[0])
    hidden = hidden_states(params, leak, X[:stop], None if resets is None else resets[:stop])
    window = slice(start, stop)
    return {
        "step": np.arange(start, stop),
        "hidden": hidden[window],
        "latent": np.asarray(latent)[window],
        "input": np.asarray(X)[window],
        "recon": reconstruction(params, hidden[window]),
        "resets": None if resets is None else resets[window],
    }


# ---------------------------------------------------------------- A.11 reset rule
def reset_rate(
    X: np.ndarray, latent: np.ndarray, groups: int = 3, aggregate: str = "sum"
) -> pd.DataFrame:
    """How often the A.11 rule fires on each row, against the row's true switch rate.

    A reset should mark a switch of the row's latent state. With inputs near 0 the rule
    ``|I_t - I_t-1| > |(I_t + I_t-1)/2|`` also fires *inside* runs of the 0 state (two small
    noisy values easily differ by more than their mean), so the medium and slow units reset
    more often than their rows switch (``docs/autoencoders.md``). One row per input row: ``fire``
    (rate over transitions), ``switch`` (true rate), ``hit`` (fires | switch), ``false_alarm``
    (fires | no switch), and the false alarms split by the state held (``fire_in_0``,
    ``fire_in_1``).
    """
    import pandas as pd

    X = np.asarray(X)
    lat = np.asarray(latent)
    fired = input_change(X[:-1], X[1:], groups, aggregate)
    switched = lat[1:] != lat[:-1]
    held = lat[1:]

    def rate(mask: np.ndarray) -> float:
        return float(fired_r[mask].mean()) if mask.any() else float("nan")

    rows = []
    for r in range(groups):
        fired_r, sw = fired[:, r], switched[:, r]
        rows.append({
            "row": r,
            "feature": FEATURE_NAMES[r] if groups == len(FEATURE_NAMES) else str(r),
            "fire": float(fired_r.mean()),
            "switch": float(sw.mean()),
            "hit": rate(sw),
            "false_alarm": rate(~sw),
            "fire_in_0": rate(~sw & (held[:, r] == 0)),
            "fire_in_1": rate(~sw & (held[:, r] == 1)),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- trained runs
def _latent_eval(config: RunConfig, X_eval: np.ndarray) -> np.ndarray:
    """Latent states of the evaluation stream; the analysis needs the whole ordered stream."""
    ds = dataset_for(config)
    if ds.latent_test is None:
        raise ValueError(f"dataset {config.dataset!r} has no latent states to correlate with")
    if X_eval.shape != ds.X_test.shape or not np.array_equal(X_eval, ds.X_test):
        raise ValueError("the un-mixing analysis needs the whole held-out stream in its order; "
                         "unset eval_items")
    return np.asarray(ds.latent_test)


def _measures(
    params: dict[str, np.ndarray], prep: Prepared, latent: np.ndarray, groups: int
) -> dict[str, Any]:
    """Correlations, selectivity and errors of one weight set on the evaluation stream."""
    from smoothlearn.train import hidden_states

    hidden = hidden_states(params, prep.leak, prep.X_eval, prep.eval_resets)
    corr = pearson(hidden, latent)
    recon = reconstruction(params, hidden, prep.settings.output)
    return {
        "corr": corr,
        "selectivity": selectivity(corr),
        "feature_error": per_feature_error(recon, prep.targets_eval, groups),
        "mse": float(np.mean((recon - prep.targets_eval) ** 2)),
        "active": hidden.std(0) > 0,
    }


def autoencoder_analysis(
    config: RunConfig, curves: Curves | dict[str, np.ndarray]
) -> dict[str, Any]:
    """Un-mixing measures of one trained autoencoder, and of the same net at initialisation.

    Hidden activity is taken on the held-out stream exactly as the run's evaluation saw it
    (``runs.prepare``: its ``test_mode`` memory and its reset policy), so the error here
    equals the curve's last point. The same measures on ``prep.params`` (the untrained
    weights) sit beside the trained ones under ``*_init`` keys: with per-row resets, part of
    the selectivity exists before any learning (``docs/autoencoders.md``), and only the change is
    owed to training.
    """
    params = curves if isinstance(curves, dict) else curves.final_params
    if not params:
        raise ValueError("no final parameters to analyse (LSTM runs keep none)")
    prep = prepare(config)
    latent = _latent_eval(config, prep.X_eval)
    groups = latent.shape[1]
    trained = _measures(params, prep, latent, groups)
    init = _measures(prep.params, prep, latent, groups)
    out = dict(trained)
    out.update({f"{k}_init": v for k, v in init.items()})
    out["leak"] = prep.leak.copy()
    return out


def dynamics_for(
    config: RunConfig, curves: Curves | dict[str, np.ndarray], start: int = 0, length: int = 30
) -> dict[str, np.ndarray]:
    """:func:`unit_dynamics` of a trained run on its held-out stream, as its evaluation saw it."""
    params = curves if isinstance(curves, dict) else curves.final_params
    prep = prepare(config)
    latent = _latent_eval(config, prep.X_eval)
    return unit_dynamics(params, prep.leak, prep.X_eval, prep.eval_resets, latent, start, length)


def analyse_runs(configs: Sequence[RunConfig], curves: Sequence[Curves]) -> pd.DataFrame:
    """Tidy table: one row per run, hidden unit and feature, with unit- and run-level measures.

    Columns: run ids and settings, ``unit``/``unit_name``/``leak``, ``feature``/
    ``feature_name``/``matching``, ``corr`` and ``corr_init``, the unit's ``selectivity`` and
    ``selectivity_init``, ``active`` (unit not constant), the run's ``err_fast``, ``err_medium``,
    ``err_slow`` (and ``*_init``), ``test_mse`` and ``diverged``.
    """
    import pandas as pd

    frames = []
    for config, curve in zip(configs, curves, strict=True):
        res = autoencoder_analysis(config, curve)
        h, f = res["corr"].shape
        unit, feature = np.divmod(np.arange(h * f), f)
        row = {
            "run_id": config.run_id(),
            "experiment": config.experiment,
            "dataset": config.dataset,
            "lr": config.lr,
            "optimizer": config.optimizer,
            "test_mode": config.test_mode,
            "model": config.model,
            "seed": config.seed,
            "unit": unit,
            "unit_name": [feature_name(UNIT_NAMES, u) for u in unit],
            "leak": res["leak"][unit],
            "feature": feature,
            "feature_name": [feature_name(FEATURE_NAMES, j) for j in feature],
            "matching": unit == feature,
            "corr": res["corr"].ravel(),
            "corr_init": res["corr_init"].ravel(),
            "selectivity": res["selectivity"][unit],
            "selectivity_init": res["selectivity_init"][unit],
            "active": res["active"][unit],
            "test_mse": res["mse"],
            "test_mse_init": res["mse_init"],
            "diverged": bool(getattr(curve, "diverged", False)),
        }
        for j in range(f):
            name = feature_name(FEATURE_NAMES, j)
            row[f"err_{name}"] = res["feature_error"][j]
            row[f"err_{name}_init"] = res["feature_error_init"][j]
        frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True)


def feature_name(names: Sequence[str], i: int) -> str:
    """``names[i]``, or the index as text past the named ones."""
    return names[i] if i < len(names) else str(i)
