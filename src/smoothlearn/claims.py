"""The paper's claims as checks on raw curves: paired comparisons over seeds with bootstrap CIs.

A claim such as "feedforward nets: repeat-1 < random < repeat-3 < repeat-5 in test error" is a
:class:`Claim` holding one :class:`Comparison` per ``<``. A comparison names two *arms* (column
filters on a results frame, e.g. ``{"model": "leaky-reset", "test_mode": "same"}``), pairs their
runs by seed (same initial weights and category order), takes each pair's difference at one
evaluation step, and summarises and decides it with :mod:`smoothlearn.verdicts`: mean
difference, bootstrap CI, exact sign-flip p, Holm across the comparisons of one claim, and the
verdicts ``reproduced``, ``reversed``, ``no detectable effect``, ``not testable`` (e.g. leaky +
label reset in a repeat-1 order *is* the feedforward net) and ``no data``.

**Where to measure.** The paper measures at the end of epoch 1. On MNIST the repeat-N orders end
with ~480 items of one class once the other classes run out (:mod:`smoothlearn.streams`: exhausted
categories are skipped), which decides any end-of-epoch comparison by itself. The default
``step_policy="pre-exhaustion"`` therefore measures at the last evaluation step at or before the
first class runs out in any compared run (:func:`smoothlearn.streams.first_exhaustion_step`),
unless the runs used ``class_balance="balanced"`` or the classes are equally large. Every record
says which step was used and why.

Each comparison is a :class:`~smoothlearn.verdicts.ComparisonResult`. Everything here
works on any frame with the columns of ``smoothlearn.results.load`` (or
``experiments.curves_frame``), so robustness sweeps can call :func:`evaluate_claims` on subsets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from smoothlearn import stats
from smoothlearn.verdicts import ComparisonResult, decide, paired, relative

__all__ = [
    "Comparison",
    "Claim",
    "CLAIMS",
    "paired_comparison",
    "choose_step",
    "evaluate_claims",
    "normalise_frame",
    "select_runs",
    "training_labels",
    "exhaustion_step",
]

#: "Early in training" (Figs A.3, A.6) is this fraction of the late measurement step.
EARLY_FRACTION = 0.1
#: Metrics where larger is better; every other metric is an error.
HIGHER_IS_BETTER = {"test_acc"}

LabelsFn = Callable[[str, int], "np.ndarray | None"]


# ----------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class Comparison:
    """``better`` is claimed to beat ``worse`` (lower error, or higher accuracy)."""

    better: Mapping[str, Any]
    worse: Mapping[str, Any]
    label: str


@dataclass(frozen=True)
class Claim:
    """One statement of the paper, checked as one or more paired comparisons."""

    id: str
    text: str
    experiment: str
    comparisons: tuple[Comparison, ...]
    metric: str = "test_mse"
    stage: str = "end"  # "end": end of epoch 1 (policy applies); "early": EARLY_FRACTION of it
    source: str = ""
    where: Mapping[str, Any] = field(default_factory=dict)


def _describe(arm: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in arm.items())


def chain(key: str, best_to_worst: Sequence[Any], **fixed: Any) -> tuple[Comparison, ...]:
    """``a < b < c`` on one column as the comparisons (a, b) and (b, c)."""
    pairs = zip(best_to_worst[:-1], best_to_worst[1:], strict=True)
    return tuple(
        Comparison({**fixed, key: a}, {**fixed, key: b}, f"{a} < {b}") for a, b in pairs
    )


def beats(better: Mapping[str, Any], worse: Mapping[str, Any], label: str) -> Comparison:
    return Comparison(dict(better), dict(worse), label)


# ----------------------------------------------------------------------------- the paper
FF_ORDER = ["repeat-1", "random", "repeat-3", "repeat-5"]
SMOOTH = ["repeat-3", "repeat-5", "repeat-10"]
LEVELS = ["random", "repeat-1", "repeat-3", "repeat-5", "repeat-10"]


def _reset_vs_levels(test_mode: str) -> tuple[Comparison, ...]:
    lr = {"model": "leaky-reset", "test_mode": test_mode}
    out = []
    for n in SMOOTH:
        for ref in ("random", "repeat-1"):
            out.append(beats({**lr, "condition": n}, {**lr, "condition": ref}, f"{n} < {ref}"))
    return tuple(out)


def _paper_claims() -> tuple[Claim, ...]:
    ff = {"model": "feedforward", "test_mode": "off"}
    lr_same = {"model": "leaky-reset", "test_mode": "same"}
    lr_off = {"model": "leaky-reset", "test_mode": "off"}
    lstm_same = {"model": "lstm", "test_mode": "same"}
    mb = {"model": "minibatch-feedforward"}
    claims = [
        Claim("ff-order", "Feedforward nets: smoothness slows learning and minimum smoothness is "
              "best; test error repeat-1 < random < repeat-3 < repeat-5.", "fig2",
              chain("condition", FF_ORDER, **ff), source="§4.2, Fig 2A"),
        Claim("leaky-more-repeats", "Leaky memory: more repeats help (test error falls with "
              "smoothness).", "fig2",
              chain("condition", ["repeat-10", "repeat-5", "repeat-3", "repeat-1"],
                    model="leaky"), source="§5.1.2, Fig 2B"),
        Claim("reset-beats-random-1rep", "Leaky memory + reset: every N-repeat order (N ≥ 3) "
              "beats random and repeat-1; tested streamed in the training order with label "
              "resets (reads test labels).", "fig2", _reset_vs_levels("same"),
              source="§5.1.2, Fig 2C"),
        Claim("reset-beats-random-1rep-memory-off", "As above, but tested with memory off "
              "(each test item alone; no test labels read).", "fig2", _reset_vs_levels("off"),
              source="§5.1.2, Fig 2C (honest protocol)"),
        Claim("reset-beats-ff", "Leaky memory + reset beats the feedforward net at every "
              "smoothness level (streamed test, label resets: reads test labels).", "fig2",
              tuple(beats({**lr_same, "condition": c}, {**ff, "condition": c}, f"{c}")
                    for c in LEVELS), source="§5.1.3, Fig 2A vs 2C"),
        Claim("reset-smooth-beats-ff-memory-off", "Leaky memory + reset trained on smooth data "
              "and tested with memory off beats feedforward nets (trained on the same order, "
              "and trained in random order).", "fig2",
              tuple(beats({**lr_off, "condition": n}, {**ff, "condition": ref},
                          f"LR {n} < FF {ref}")
                    for n in SMOOTH for ref in (n, "random")), source="§5.1.3"),
        Claim("ce-ff-order", "Cross-entropy loss gives the same feedforward ordering: repeat-1 "
              "< random < repeat-3 < repeat-5 (test CE).", "figA3",
              chain("condition", FF_ORDER, **ff), metric="test_ce", source="A.3"),
        Claim("A1-classify-order", "Synthetic classification (16-8-4): repeat-1 < random < "
              "repeat-3 < repeat-5.", "figA1",
              chain("condition", FF_ORDER, task="classify"), source="A.1 left"),
        Claim("A1-reconstruct-order", "Synthetic reconstruction (16-4-16): repeat-1 < random < "
              "repeat-3 < repeat-5.", "figA1",
              chain("condition", FF_ORDER, task="reconstruct"), source="A.1 right"),
        Claim("A4-leaky-more-repeats", "Synthetic data, leaky memory: higher smoothness gives "
              "lower error.", "figA4",
              chain("condition", ["repeat-10", "repeat-5", "repeat-3", "repeat-1"],
                    model="leaky"), source="A.4 left"),
        Claim("A4-reset-beats-1rep", "Synthetic data, leaky memory + reset: every smoothness "
              "level beats repeat-1 (memory off, and streamed with label resets).", "figA4",
              tuple(beats({"model": "leaky-reset", "test_mode": tm, "condition": n},
                          {"model": "leaky-reset", "test_mode": tm, "condition": "repeat-1"},
                          f"{n} < repeat-1 ({tm})")
                    for tm in ("off", "same") for n in SMOOTH), source="A.4 right"),
        Claim("minibatch-early", "Mini-batches of 16, early in training: repeat-1 learns "
              "fastest.", "figA6",
              tuple(beats({**mb, "condition": "repeat-1"}, {**mb, "condition": c},
                          f"repeat-1 < {c}")
                    for c in ("random", "repeat-5", "repeat-10", "repeat-16", "repeat-24")),
              stage="early", source="A.6 left"),
        Claim("minibatch-late", "Mini-batches of 16, late in training: repeat-16 (= batch "
              "size) beats repeat-10 and repeat-24.", "figA6",
              (beats({**mb, "condition": "repeat-16"}, {**mb, "condition": "repeat-10"},
                     "repeat-16 < repeat-10"),
               beats({**mb, "condition": "repeat-16"}, {**mb, "condition": "repeat-24"},
                     "repeat-16 < repeat-24")), source="A.6 right"),
        Claim("A7-classify-no-leaky-benefit", "A.7 stream (no shared features): leaky memory, "
              "with or without reset, is worse than no memory (classification).", "figA7",
              tuple(beats({"model": "feedforward"}, {"model": m, "reset": r}, f"FF < {m} {r}")
                    for m, r in (("leaky", "never"), ("leaky-reset", "label"),
                                 ("leaky", "every-2"), ("leaky", "every-3"))),
              where={"task": "classify"}, source="A.7 right"),
        Claim("A7-reconstruct-no-leaky-benefit", "A.7 stream: leaky memory, with or without "
              "reset, is worse than no memory (reconstruction).", "figA7",
              tuple(beats({"model": "feedforward", "reset": "never"},
                          {"model": "leaky", "reset": r}, f"FF < leaky {r}")
                    for r in ("never", "every-2", "every-3")),
              where={"task": "reconstruct"}, source="A.7 left"),
        Claim("lstm-smoothness-helps", "LSTM (BPTT): smoother training data gives lower error "
              "(tested streamed in its training order).", "figA8",
              chain("condition", ["repeat-10", "repeat-5", "repeat-3", "repeat-1"],
                    **lstm_same), source="A.8"),
        Claim("lstm-best-in-training-order", "Tested in their training order, the LSTM is best "
              "and leaky + reset second, ahead of the feedforward net.", "figA9",
              tuple(c for n in ("repeat-5", "repeat-10") for c in (
                  beats({**lstm_same, "condition": n}, {**lr_same, "condition": n},
                        f"LSTM < LR ({n})"),
                  beats({**lr_same, "condition": n}, {**ff, "condition": n},
                        f"LR < FF ({n})"))), source="A.9"),
        Claim("reset-generalises-to-1rep", "Trained on repeat-5 and tested as repeat-1, leaky + "
              "reset beats the LSTM (which is better when tested as trained).", "figA10",
              (beats({"model": "leaky-reset", "test_mode": "repeat-1"},
                     {"model": "lstm", "test_mode": "repeat-1"}, "LR < LSTM (repeat-1 test)"),
               beats({"model": "lstm", "test_mode": "same"},
                     {"model": "leaky-reset", "test_mode": "same"},
                     "LSTM < LR (same-order test)")), source="A.10"),
        Claim("ae-reset-helps", "Autoencoders: adding input-change resets to leaky memory lowers "
              "reconstruction error (the efficient models are memory+reset and no memory).",
              "fig3",
              (beats({"model": "ae-leaky-reset"}, {"model": "ae-leaky"}, "leaky+reset < leaky"),
               beats({"model": "ae-multiscale-reset"}, {"model": "ae-multiscale"},
                     "multiscale+reset < multiscale")), source="§5.2.2, Fig 3D"),
    ]
    return tuple(claims)


CLAIMS: tuple[Claim, ...] = _paper_claims()


# ----------------------------------------------------------------------------- frames
def _task_of(dataset: str) -> str:
    return "reconstruct" if str(dataset).startswith("multiscale") else "classify"


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill config columns a frame may lack with what the run used (model presets, defaults).

    ``reset`` is the *resolved* policy (a preset's ``None`` becomes e.g. ``"label"``), so arms
    can name it whether or not the store kept the raw value.
    """
    from smoothlearn.experiments import MODELS

    out = frame.copy()

    def fill(col: str, default: Callable[[pd.Series], Any]) -> None:
        if col not in out.columns:
            out[col] = None
        missing = out[col].isna()
        if missing.any():
            out.loc[missing, col] = out[missing].apply(default, axis=1)

    fill("test_mode", lambda r: "off")
    fill("task", lambda r: _task_of(r["dataset"]))
    fill("reset", lambda r: MODELS.get(r["model"], {}).get("reset", "never"))
    fill("test_reset", lambda r: r["reset"])
    fill("class_balance", lambda r: "none")
    fill("order_seed", lambda r: r["seed"])
    fill("data_seed", lambda r: 0)
    fill("epochs", lambda r: 1)
    if "diverged" not in out.columns:
        out["diverged"] = False
    out["diverged"] = out["diverged"].fillna(False).astype(bool)
    return out


def select_runs(frame: pd.DataFrame, filters: Mapping[str, Any]) -> pd.DataFrame:
    """Rows matching every filter: a value, a list of values, or None for missing."""
    mask = np.ones(len(frame), dtype=bool)
    for key, value in filters.items():
        if key not in frame.columns:
            return frame.iloc[0:0]
        col = frame[key]
        if value is None:
            mask &= col.isna().to_numpy()
        elif isinstance(value, list | tuple | set):
            mask &= col.isin(list(value)).to_numpy()
        else:
            mask &= (col == value).to_numpy()
    return frame[mask]


# ----------------------------------------------------------------------------- steps
@lru_cache(maxsize=16)
def training_labels(dataset: str, data_seed: int) -> np.ndarray | None:
    """Training labels of a dataset, or None for ordered streams (no exhaustion there)."""
    from smoothlearn.experiments import dataset_for, make_config

    ds = dataset_for(make_config(dataset=dataset, condition="random", data_seed=data_seed,
                                 task=_task_of(dataset)))
    if ds.ordered or ds.y_train.ndim != 1:
        return None
    return ds.y_train


_EXHAUSTION: dict[tuple, int] = {}


def exhaustion_step(labels: np.ndarray, dataset: str, data_seed: int, condition: str,
                     order_seed: int) -> int:
    """Cached :func:`~smoothlearn.streams.first_exhaustion_step` (it walks a whole epoch)."""
    from smoothlearn.streams import first_exhaustion_step

    key = (dataset, data_seed, labels.size, int(labels.sum()), condition, order_seed)
    if key not in _EXHAUSTION:
        _EXHAUSTION[key] = first_exhaustion_step(labels, condition, order_seed)
    return _EXHAUSTION[key]


@dataclass(frozen=True)
class StepChoice:
    step: int
    rule: str


def _common_grid(runs: pd.DataFrame) -> np.ndarray:
    """Evaluation steps every (non-diverged) run has; diverged runs stop early."""
    alive = runs[~runs["diverged"]]
    source = alive if len(alive) else runs
    sets = [set(g["step"].tolist()) for _, g in source.groupby("run_id")]
    if not sets:
        return np.zeros(0, dtype=np.int64)
    return np.array(sorted(set.intersection(*sets)), dtype=np.int64)


def _at_or_before(grid: np.ndarray, target: float) -> int | None:
    ok = grid[grid <= target]
    return int(ok.max()) if ok.size else None


def _equal_classes(labels: np.ndarray) -> bool:
    counts = np.unique(labels, return_counts=True)[1]
    return bool(counts.min() == counts.max())


def choose_step(
    runs: pd.DataFrame,
    step_policy: str | int = "pre-exhaustion",
    stage: str = "end",
    labels_fn: LabelsFn | None = None,
) -> StepChoice:
    """The evaluation step at which the compared ``runs`` are measured, and why.

    ``step_policy``: ``"pre-exhaustion"`` (end of epoch 1, but not after the first class runs
    out in any compared run), ``"end"`` (end of epoch 1), ``"last"`` (last common step), or an
    int (the last common step at or before it). ``stage="early"`` takes
    :data:`EARLY_FRACTION` of that step.
    """
    grid = _common_grid(runs)
    if grid.size == 0:
        raise ValueError("the compared runs share no evaluation step")
    labels_fn = labels_fn or training_labels
    first = runs.iloc[0]
    labels, why = _safe_labels(labels_fn, str(first["dataset"]), int(first["data_seed"]))
    length = _epoch_length(runs, labels, int(grid.max()))
    epoch = min(int(grid.max()), length)
    if isinstance(step_policy, int | np.integer):
        choice = StepChoice(_last_at(grid, int(step_policy)),
                            f"last eval step ≤ {int(step_policy)} (fixed)")
    elif step_policy == "last":
        choice = StepChoice(int(grid.max()), "last common eval step")
    elif step_policy in ("end", "pre-exhaustion"):
        what = f"end of epoch 1 ({epoch})" if epoch == length else f"end of the run ({epoch})"
        choice = StepChoice(_last_at(grid, epoch), what)
        if step_policy == "pre-exhaustion":
            choice = _pre_exhaustion(runs, grid, choice, labels, why)
    else:
        raise ValueError(
            f"step_policy={step_policy!r}; use 'pre-exhaustion', 'end', 'last' or an int"
        )
    if stage == "early":
        positive = grid[grid > 0] if (grid > 0).any() else grid
        step = _last_at(positive, choice.step * EARLY_FRACTION)
        return StepChoice(step, f"early: last eval step ≤ {EARLY_FRACTION:g} × {choice.step}")
    return choice


def _last_at(grid: np.ndarray, target: float) -> int:
    """The last grid step at or before ``target`` (the first step if none is)."""
    step = _at_or_before(grid, target)
    return int(grid.min()) if step is None else step


def _epoch_length(runs: pd.DataFrame, labels: np.ndarray | None, last: int) -> int:
    """Steps in one epoch: the training set (or its balanced cut); else the run / epochs."""
    if labels is None:
        return last // max(int(runs["epochs"].astype(int).max()), 1)
    if runs["class_balance"].eq("balanced").all():
        counts = np.unique(labels, return_counts=True)[1]
        return int(counts.min() * counts.size)
    return int(labels.size)


def _safe_labels(labels_fn: LabelsFn, dataset: str,
                 data_seed: int) -> tuple[np.ndarray | None, str]:
    """Training labels, or None and why (an ordered stream, or labels that cannot be had)."""
    try:
        labels = labels_fn(dataset, data_seed)
    except Exception as err:  # e.g. MNIST gone: fall back to the run's own end
        why = f"training labels unavailable ({type(err).__name__}): exhaustion not checked"
        return None, why
    return labels, "no class-exhaustion tail (ordered stream)"


def _pre_exhaustion(runs: pd.DataFrame, grid: np.ndarray, end: StepChoice,
                    labels: np.ndarray | None, why: str) -> StepChoice:
    if labels is None:
        return StepChoice(end.step, f"{end.rule}; {why}")
    if runs["class_balance"].eq("balanced").all():
        return StepChoice(end.step, end.rule + "; class_balance=balanced")
    if _equal_classes(labels):
        return StepChoice(end.step, end.rule + "; classes equally large (no exhaustion tail)")
    pairs = runs[["dataset", "data_seed", "condition", "order_seed"]].drop_duplicates()
    first_out = min(
        (exhaustion_step(labels, str(r.dataset), int(r.data_seed), str(r.condition),
                          int(r.order_seed)), str(r.condition))
        for r in pairs.itertuples()
    )
    if first_out[0] >= end.step:
        return StepChoice(end.step, end.rule + f"; before any class runs out ({first_out[0]})")
    step = _last_at(grid, first_out[0])
    return StepChoice(step, f"last eval step ≤ first class exhaustion ({first_out[0]}, "
                            f"{first_out[1]}); end of epoch 1 would be {end.step}")


# ----------------------------------------------------------------------------- comparisons
def _protocol(arm: pd.DataFrame) -> tuple[str, bool]:
    """How the arm was tested, and whether that reads test labels."""
    row = arm.iloc[0]
    mode = str(row["test_mode"])
    if mode == "off":
        return "memory off (each test item alone)", False
    policy = str(row["test_reset"] if pd.notna(row["test_reset"]) else row["reset"])
    order = "training order" if mode == "same" else mode
    reads = policy == "label" and str(row["task"]) == "classify"
    if reads:
        return f"streamed as {order}, label resets (reads test labels)", True
    return f"streamed as {order}, {policy} resets (order built from test labels)", False


def _values_at(arm: pd.DataFrame, metric: str, step: int) -> pd.Series:
    at = arm[arm["step"] == step]
    dup = at["seed"].duplicated()
    if dup.any():
        raise ValueError(
            f"arm matches {at['run_id'].nunique()} runs for {at['seed'].nunique()} seeds; "
            "add filters so each seed has one run"
        )
    return at.set_index("seed")[metric].astype(float)


def paired_comparison(
    frame: pd.DataFrame,
    better: Mapping[str, Any],
    worse: Mapping[str, Any],
    metric: str = "test_mse",
    step_policy: str | int = "pre-exhaustion",
    stage: str = "end",
    labels_fn: LabelsFn | None = None,
    n_boot: int = stats.N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """One paired comparison on a (normalised) frame: the measured fields of a
    :class:`ComparisonResult` (its keyword arguments beyond the claim's identity).

    ``mean_diff`` is the advantage of ``better`` over ``worse`` (positive = as claimed): the
    error of ``worse`` minus that of ``better``, or the reverse for accuracy.
    """
    a, b = select_runs(frame, better), select_runs(frame, worse)
    arms = {"better": _describe(better), "worse": _describe(worse), "metric": metric}
    if a.empty or b.empty:
        missing = "better" if a.empty else "worse"
        return {**arms, **_no_data(f"no runs match the {missing} arm")}
    choice = choose_step(pd.concat([a, b]), step_policy, stage, labels_fn)
    va, vb = _values_at(a, metric, choice.step), _values_at(b, metric, choice.step)
    both = pd.concat([va.rename("a"), vb.rename("b")], axis=1, join="inner")
    both = both[np.isfinite(both.to_numpy()).all(axis=1)]  # NaN and inf: diverged
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0
    diff = sign * (both["a"] - both["b"]).to_numpy()
    result = paired(diff, both.index.to_numpy(), n_boot, seed)
    n = result.n
    prot_a, reads_a = _protocol(a)
    prot_b, reads_b = _protocol(b)
    dropped = len(set(va.index) | set(vb.index)) - n
    notes = []
    if dropped:
        notes.append(f"{dropped} seed(s) without a finite value in both arms (diverged)")
    mean_worse = float(both["b"].mean()) if n else math.nan
    same = _same_network(a.iloc[0], b.iloc[0])
    return {
        **arms,
        "dataset": str(a.iloc[0]["dataset"]),
        "step": int(choice.step),
        "step_rule": choice.rule,
        "test_mode": {"better": str(a.iloc[0]["test_mode"]),
                      "worse": str(b.iloc[0]["test_mode"])},
        "test_protocol": {"better": prot_a, "worse": prot_b},
        "reads_test_labels": bool(reads_a or reads_b),
        "mean_better": float(both["a"].mean()) if n else math.nan,
        "mean_worse": mean_worse,
        **asdict(result),
        "relative_diff": relative(result.mean_diff, mean_worse),
        **({"not_testable": same} if same else {}),
        "note": "; ".join(notes),
    }


def _same_network(better: pd.Series, worse: pd.Series) -> str:
    """Why two arms are the same network by construction ("" when they are not).

    Leaky memory with label resets trained in a repeat-1 order resets at every step (each
    item's class differs from the last), so it trains the feedforward net's weights; tested
    with memory off, or streamed as repeat-1 with label resets, it is that net again. Any
    difference comes only from the class-exhaustion tails (runs of one class at the end of
    the training or test stream), not from memory.
    """
    rows = {str(better["model"]): better, str(worse["model"]): worse}
    if set(rows) != {"leaky-reset", "feedforward"}:
        return ""
    reset = rows["leaky-reset"]
    if not (str(reset["reset"]) == "label" and str(reset["task"]) == "classify"
            and better["condition"] == worse["condition"] == "repeat-1"
            and str(reset["test_mode"]) in ("off", "same", "repeat-1")):
        return ""
    return ("leaky + label reset in a repeat-1 order resets at every step: the feedforward "
            "net by construction (differences come only from class-exhaustion tails)")


def _no_data(note: str) -> dict[str, Any]:
    """The measured fields of a comparison that could not be made, and why."""
    return {"mean_better": math.nan, "mean_worse": math.nan, "note": note}


def evaluate_claims(
    frame: pd.DataFrame,
    step_policy: str | int = "pre-exhaustion",
    claims: Iterable[Claim] | None = None,
    match_experiment: bool = True,
    labels_fn: LabelsFn | None = None,
    n_boot: int = stats.N_BOOT,
    seed: int = 0,
) -> list[ComparisonResult]:
    """Check every claim on ``frame``: one result per comparison, failures included, each
    decided with the exact test and Holm over its claim's comparisons (:func:`decide`).

    With ``match_experiment=False`` the experiment column is ignored, so a robustness sweep
    can pass its own subset (e.g. fig2 rerun with RMSprop under another name).
    """
    frame = normalise_frame(frame)
    results = []
    for claim in CLAIMS if claims is None else claims:
        sub = frame
        if match_experiment:
            sub = sub[sub["experiment"] == claim.experiment]
        sub = select_runs(sub, claim.where) if claim.where else sub
        family = []
        for comp in claim.comparisons:
            try:
                measured = paired_comparison(sub, comp.better, comp.worse, claim.metric,
                                             step_policy, claim.stage, labels_fn, n_boot, seed)
            except Exception as err:  # a broken check is reported, never dropped
                measured = {"better": _describe(comp.better), "worse": _describe(comp.worse),
                            "metric": claim.metric, **_no_data(f"check failed: {err}")}
            family.append(ComparisonResult(
                claim=claim.id, text=claim.text, comparison=comp.label,
                experiment=claim.experiment, source=claim.source, stage=claim.stage,
                step_policy=str(step_policy), **measured))
        results += decide(family)
    return results
