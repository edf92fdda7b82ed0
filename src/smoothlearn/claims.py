"""The paper's claims as checks on raw curves: paired comparisons over seeds with bootstrap CIs.

A claim such as "feedforward nets: repeat-1 < random < repeat-3 < repeat-5 in test error" is a
:class:`Claim` holding one :class:`Comparison` per ``<``. A comparison names two *arms* (column
filters on a results frame, e.g. ``{"model": "leaky-reset", "test_mode": "same"}``), pairs their
runs by seed (same initial weights and category order), takes each pair's difference at one
evaluation step, and summarises and decides it with :mod:`smoothlearn.verdicts`: mean
difference, Student-t CI, exact sign-flip p, Holm across the comparisons of one claim, an
equivalence test within the claim's ``margin``, and the verdicts ``reproduced``, ``reversed``,
``equivalent``, ``inconclusive``, ``not testable`` (e.g. leaky + label reset in a repeat-1
order *is* the feedforward net) and ``no data``.

**Where to measure.** The paper measures at the end of epoch 1. On MNIST the repeat-N orders end
with ~480 items of one class once the other classes run out (exhausted categories are skipped,
``smoothlearn.streams``), which decides any end-of-epoch comparison by itself. The default
``step_policy="pre-exhaustion"`` therefore measures at the last evaluation step at or before the
first class runs out in any compared run (:func:`smoothlearn.streams.first_exhaustion_step`),
unless the runs used ``class_balance="balanced"`` or the classes are equally large. Every record
says which step was used and why.

**Learning efficiency.** The paper speaks of how *fast* nets learn, which the end step alone
hides. :func:`with_efficiency` adds to every end-of-epoch claim a twin at ``stage="auc"``: per
seed, the area under the test-error curve from the first evaluation to that end step, divided
by its span (:func:`curve_auc`: the curve's mean level, in the metric's units). It is its own
family (Holm within each stage), reported beside the end verdict, never pooled with it.

Each comparison is a :class:`~smoothlearn.verdicts.ComparisonResult`. Everything here
works on any frame with the columns of ``smoothlearn.results.load`` (or
``experiments.curves_frame``), so robustness sweeps can call :func:`evaluate_claims` on subsets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid

from smoothlearn.data import dataset_info
from smoothlearn.experiments import MODELS, make_config
from smoothlearn.runs import dataset_for
from smoothlearn.streams import first_exhaustion_step
from smoothlearn.verdicts import MARGIN, Arms, ComparisonResult, Paired, decide, paired

__all__ = [
    "Comparison",
    "Claim",
    "Measured",
    "paired_comparison",
    "choose_step",
    "evaluate_claims",
    "normalise_frame",
    "select_runs",
    "training_labels",
    "exhaustion_step",
    "EFFICIENCY_STAGE",
    "curve_auc",
    "with_efficiency",
    "label_tier",
    "strongest_tier",
    "TestLabels",
    "TIERS",
]

#: "Early in training" (Figs A.3, A.6) is this fraction of the late measurement step.
EARLY_FRACTION = 0.1
#: The declared learning-efficiency endpoint: the area under the test-error curve from the
#: first evaluation to the end of epoch 1 (the paper speaks of learning *efficiency*, which an
#: end-step comparison alone hides), judged beside the end step as its own family.
EFFICIENCY_STAGE = "auc"
#: Where a claim can be measured (:attr:`Claim.stage`).
STAGES = ("end", "early", EFFICIENCY_STAGE)
#: Metrics where larger is better; every other metric is an error.
HIGHER_IS_BETTER = {"test_acc", "test_acc_auc"}

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
    #: "end": end of epoch 1 (policy applies); "early": EARLY_FRACTION of it; "auc": the area
    #: under the curve up to that end (:data:`EFFICIENCY_STAGE`, :func:`with_efficiency`).
    stage: str = "end"
    source: str = ""
    where: Mapping[str, Any] = field(default_factory=dict)
    #: The id of the paper claim this one is a protocol variant of (one headline row for
    #: both, :mod:`smoothlearn.report.headline`); "" for a claim that is its own row.
    headline: str = ""
    #: The paper's statement without the test protocol, for the headline row that shows this
    #: claim and its protocol twins side by side ("" : ``text`` is used).
    statement: str = ""
    #: The smallest effect of interest, relative to the claimed-worse arm's mean: a
    #: comparison whose difference is shown to lie within it is ``equivalent``.
    margin: float = MARGIN

    def __post_init__(self) -> None:
        if not 0 < self.margin < 1:
            raise ValueError(f"claim {self.id!r}: margin={self.margin!r}; use a fraction of the "
                             "claimed-worse arm's mean in (0, 1), e.g. 0.01")


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


def with_efficiency(claims: Iterable[Claim]) -> tuple[Claim, ...]:
    """Each claim, and after every end-of-epoch claim its twin at the learning-efficiency
    endpoint (same id, ``stage="auc"``): a separate family, so Holm runs within each stage."""
    out: list[Claim] = []
    for claim in claims:
        out.append(claim)
        if claim.stage == "end":
            out.append(replace(claim, stage=EFFICIENCY_STAGE))
    return tuple(out)


# ----------------------------------------------------------------------------- frames
def _task_of(dataset: str) -> str:
    return dataset_info(str(dataset)).task


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill config columns a frame may lack with what the run used (model presets, defaults).

    ``reset`` is the *resolved* policy (a preset's ``None`` becomes e.g. ``"label"``), so arms
    can name it whether or not the store kept the raw value.
    """
    out = frame.copy()

    def fill(col: str, default: Callable[[pd.Series], Any]) -> None:
        if col not in out.columns:
            out[col] = None
        missing = out[col].isna()
        if missing.any():
            out.loc[missing, col] = out[missing].apply(default, axis=1)

    fill("test_mode", lambda r: "off")
    fill("test_memory", lambda r: "none")
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
    if dataset_info(str(dataset)).ordered:
        return None
    ds = dataset_for(make_config(dataset=dataset, condition="random", data_seed=data_seed,
                                 task=_task_of(dataset)))
    if ds.y_train.ndim != 1:
        return None
    return ds.y_train


_EXHAUSTION: dict[tuple, int] = {}


def exhaustion_step(labels: np.ndarray, dataset: str, data_seed: int, condition: str,
                     order_seed: int) -> int:
    """Cached :func:`~smoothlearn.streams.first_exhaustion_step` (it walks a whole epoch)."""
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
    :data:`EARLY_FRACTION` of that step; ``"auc"`` ends its area at the ``"end"`` step.
    """
    if stage not in STAGES:
        raise ValueError(f"stage={stage!r}; use one of {', '.join(STAGES)}")
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
#: Tiers of test-label use, least to most: memory off or a label-free order; a test stream
#: ordered by its labels; label resets at test.
TestLabels = Literal["none", "order", "resets"]
TIERS: tuple[TestLabels, ...] = ("none", "order", "resets")
_TIER_WORDS: dict[str, str] = {"none": "tier none: no test labels read",
                               "order": "tier order: order built from test labels",
                               "resets": "tier resets: label resets at test"}


def label_tier(row: Mapping[str, Any] | pd.Series) -> TestLabels:
    """How much of the test labels an arm's test protocol uses (one run's config row).

    ``"none"``: no memory at test, memory off, or a stream in an order that carries no label
    information (random order; a naturally ordered stream's own order). ``"order"``: streamed
    in an order built from test labels (repeat-N incl. repeat-1, sticky-P, a class-blocked
    moving stream), so memory averages same-class neighbours. ``"resets"``: label resets at
    test (classification only; an autoencoder's label is its input).
    """
    if str(row["test_mode"]) == "off" or not _memory_at_test(row):
        return "none"
    if _test_policy(row) == "label" and str(row["task"]) == "classify":
        return "resets"
    order = _test_order(row)
    if order == "given":  # the stream's own order: label-free unless built in class blocks
        return "order" if _class_blocked(row) else "none"
    return "none" if order == "random" else "order"


def config_tier(**settings: Any) -> TestLabels:
    """The tier of a run before it is trained, from its config settings: :func:`label_tier`
    on the row its record will carry, so planned arms (a robustness cell, a moving stream)
    and stored runs go through one rule."""
    from smoothlearn.results import config_columns

    return label_tier(config_columns(make_config(**settings)))


def strongest_tier(*tiers: TestLabels) -> TestLabels:
    """The most label-reading of ``tiers``: a comparison's tier is that of its two arms."""
    return max(tiers, key=TIERS.index)


def _memory_at_test(row: Mapping[str, Any] | pd.Series) -> bool:
    """Whether the tested net carries anything from one test item to the next: a leak, an
    LSTM, or memory switched on only at test (``test_memory``)."""
    test_memory = row.get("test_memory")
    if isinstance(test_memory, str) and test_memory != "none":
        return True
    preset = MODELS.get(str(row.get("model")))
    if preset is None or preset.get("arch") == "lstm":
        return True  # unknown model: assume memory (never understate label use)
    leak = row.get("leak")
    leak = preset["leak"] if leak is None or _missing(leak) else leak
    if isinstance(leak, str):
        leak = json.loads(leak) if leak.startswith("[") else float(leak)
    return bool(np.any(np.asarray(leak, dtype=np.float64) != 0))


def _missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _test_policy(row: Mapping[str, Any] | pd.Series) -> str:
    test_reset = row.get("test_reset")
    return str(row["reset"] if test_reset is None or _missing(test_reset) else test_reset)


def _test_order(row: Mapping[str, Any] | pd.Series) -> str:
    """The order of the test stream: its own mode, or with ``same`` the training condition,
    except that an ordered stream (trained as given or shuffled) is tested as given."""
    mode = str(row["test_mode"])
    if mode != "same":
        return mode
    ordered = _ordered(str(row.get("dataset", "")))
    return "given" if ordered else str(row["condition"])


def _protocol(arm: pd.DataFrame) -> tuple[str, TestLabels]:
    """How the arm was tested in words (the tier said plainly), and its tier of test-label
    use (:func:`label_tier`)."""
    row = arm.iloc[0]
    tier = label_tier(row)
    if str(row["test_mode"]) == "off":
        return f"memory off (each test item alone; {_TIER_WORDS[tier]})", tier
    if not _memory_at_test(row):
        return f"streamed, no memory to carry ({_TIER_WORDS[tier]})", tier
    policy, order = _test_policy(row), _test_order(row)
    if order == "given":
        blocks = "class-blocked " if _class_blocked(row) else ""
        return (f"streamed in the test stream's own {blocks}order, {policy} resets "
                f"({_TIER_WORDS[tier]})"), tier
    if str(row["test_mode"]) == "same":
        order = f"training order ({order})"
    return f"streamed as {order}, {policy} resets ({_TIER_WORDS[tier]})", tier


def _ordered(dataset: str) -> bool:
    from smoothlearn.data import DATASET_INFO

    info = DATASET_INFO.get(dataset)
    return bool(info is not None and info.ordered)


def _class_blocked(row: pd.Series) -> bool:
    """Whether a given stream's test order was built from its labels (a moving stream with
    ``class_repeats > 1``: consecutive episodes chosen to share a class)."""
    params = row.get("dataset_params")
    if not isinstance(params, str) or not params.startswith("{"):
        return False
    return int(json.loads(params).get("class_repeats", 1)) > 1


def _one_run_per_seed(rows: pd.DataFrame) -> None:
    """Pairing by seed needs one run per seed in an arm."""
    runs = rows[["seed", "run_id"]].drop_duplicates()
    if runs["seed"].duplicated().any():
        raise ValueError(
            f"arm matches {runs['run_id'].nunique()} runs for {runs['seed'].nunique()} seeds; "
            "add filters so each seed has one run"
        )


def _values_at(arm: pd.DataFrame, metric: str, step: int) -> pd.Series:
    at = arm[arm["step"] == step]
    _one_run_per_seed(at)
    return at.set_index("seed")[metric].astype(float)


def curve_auc(steps: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> float:
    """The area under a curve (trapezoid rule) divided by its span: its mean level over the
    span, in the metric's own units, so early and end endpoints read on one scale. A single
    point is its own value; no points is NaN."""
    x, y = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if x[-1] == x[0]:
        return float(y[0])
    return float(trapezoid(y, x) / (x[-1] - x[0]))


def _auc_values(arm: pd.DataFrame, metric: str, window: np.ndarray) -> pd.Series:
    """Per seed, :func:`curve_auc` over the ``window`` steps; NaN for a run that lacks one of
    them (it diverged and stopped), so the pair is dropped rather than judged on part of it."""
    inside = arm[arm["step"].isin(window)]
    _one_run_per_seed(inside)
    return inside.groupby("seed").apply(
        lambda run: curve_auc(run["step"], run[metric]) if len(run) == window.size
        else math.nan, include_groups=False).astype(float)


def _efficiency(runs: pd.DataFrame, a: pd.DataFrame, b: pd.DataFrame, metric: str,
                end_policy: str | int,
                labels_fn: LabelsFn | None) -> tuple[StepChoice, pd.Series, pd.Series]:
    """The learning-efficiency endpoint: each arm's area under ``metric`` from the first
    common evaluation step to the end step that ``end_policy`` chooses (end of epoch 1)."""
    end = choose_step(runs, end_policy, "end", labels_fn)
    grid = _common_grid(runs)
    window = grid[grid <= end.step]
    choice = StepChoice(end.step, f"area under the curve over eval steps {int(window[0])}-"
                                  f"{end.step} / span; end: {end.rule}")
    return choice, _auc_values(a, metric, window), _auc_values(b, metric, window)


@dataclass(frozen=True)
class Measured:
    """What :func:`paired_comparison` measured: the arms (and where), the paired statistics of
    the per-seed differences, and a note (seeds dropped, or why there is no data)."""

    arms: Arms
    stats: Paired = Paired()
    note: str = ""


def paired_comparison(
    frame: pd.DataFrame,
    better: Mapping[str, Any],
    worse: Mapping[str, Any],
    metric: str = "test_mse",
    step_policy: str | int = "pre-exhaustion",
    stage: str = "end",
    labels_fn: LabelsFn | None = None,
    efficiency_end: int | None = None,
) -> Measured:
    """One paired comparison on a (normalised) frame: what a :class:`ComparisonResult` holds
    beyond the claim's identity and the decision.

    ``mean_diff`` is the advantage of ``better`` over ``worse`` (positive = as claimed): the
    error of ``worse`` minus that of ``better``, or the reverse for accuracy. At
    ``stage="auc"`` each seed's value is its area under the curve up to the end step
    (``efficiency_end``: the last common step at or before it; None: ``step_policy``'s end).
    """
    a, b = select_runs(frame, better), select_runs(frame, worse)
    if a.empty or b.empty:
        missing = "better" if a.empty else "worse"
        return _no_data(better, worse, metric, f"no runs match the {missing} arm")
    runs = pd.concat([a, b])
    if stage == EFFICIENCY_STAGE:
        choice, va, vb = _efficiency(runs, a, b, metric, step_policy if efficiency_end is None
                                     else efficiency_end, labels_fn)
    else:
        choice = choose_step(runs, step_policy, stage, labels_fn)
        va, vb = _values_at(a, metric, choice.step), _values_at(b, metric, choice.step)
    both = pd.concat([va.rename("a"), vb.rename("b")], axis=1, join="inner")
    both = both[np.isfinite(both.to_numpy()).all(axis=1)]  # NaN and inf: diverged
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0
    diff = sign * (both["a"] - both["b"]).to_numpy()
    result = paired(diff, both.index.to_numpy())
    n = result.n
    prot_a, tier_a = _protocol(a)
    prot_b, tier_b = _protocol(b)
    dropped = len(set(va.index) | set(vb.index)) - n
    notes = []
    if dropped:
        notes.append(f"{dropped} seed(s) without a finite value in both arms (diverged)")
    same = _same_network(a.iloc[0], b.iloc[0])
    arms = Arms(
        better=_describe(better), worse=_describe(worse), metric=metric,
        dataset=str(a.iloc[0]["dataset"]), step=int(choice.step), step_rule=choice.rule,
        test_mode={"better": str(a.iloc[0]["test_mode"]), "worse": str(b.iloc[0]["test_mode"])},
        test_protocol={"better": prot_a, "worse": prot_b},
        test_labels=strongest_tier(tier_a, tier_b),
        mean_better=float(both["a"].mean()) if n else math.nan,
        mean_worse=float(both["b"].mean()) if n else math.nan,
        sd_better=_sd(both["a"]), sd_worse=_sd(both["b"]))
    return Measured(arms, replace(result, not_testable=same) if same else result,
                    "; ".join(notes))


def _sd(values: pd.Series) -> float:
    """An arm's SD over the paired seeds (NaN below two seeds)."""
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


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


def _no_data(better: Mapping[str, Any], worse: Mapping[str, Any], metric: str,
             note: str) -> Measured:
    """A comparison that could not be made, and why."""
    return Measured(Arms(_describe(better), _describe(worse), metric, mean_better=math.nan,
                         mean_worse=math.nan), note=note)


def evaluate_claims(
    frame: pd.DataFrame,
    claims: Iterable[Claim],
    step_policy: str | int = "pre-exhaustion",
    match_experiment: bool = True,
    labels_fn: LabelsFn | None = None,
    efficiency_end: int | None = None,
) -> list[ComparisonResult]:
    """Check ``claims`` (e.g. a figure unit's, :mod:`smoothlearn.figures`) on ``frame``: one
    result per comparison, failures included, each decided with the exact test and Holm over
    its claim's comparisons (:func:`decide`).

    With ``match_experiment=False`` the experiment column is ignored, so a robustness sweep
    can pass its own subset (e.g. fig2 rerun with RMSprop under another name).
    ``efficiency_end`` ends the area of ``stage="auc"`` claims (a figure unit's declared
    early step; None: the end of epoch 1 that ``step_policy`` chooses).
    """
    frame = normalise_frame(frame)
    results = []
    for claim in claims:
        sub = frame
        if match_experiment:
            sub = sub[sub["experiment"] == claim.experiment]
        sub = select_runs(sub, claim.where) if claim.where else sub
        family = []
        for comp in claim.comparisons:
            try:
                measured = paired_comparison(sub, comp.better, comp.worse, claim.metric,
                                             step_policy, claim.stage, labels_fn,
                                             efficiency_end)
            except Exception as err:  # a broken check is reported, never dropped
                measured = _no_data(comp.better, comp.worse, claim.metric,
                                    f"check failed: {err}")
            family.append(ComparisonResult(
                claim=claim.id, text=claim.text, comparison=comp.label,
                id=f"{claim.id}: {comp.label}"
                + (f" ({claim.stage})" if claim.stage == EFFICIENCY_STAGE else ""),
                experiment=claim.experiment, source=claim.source, stage=claim.stage,
                step_policy=str(step_policy), arms=measured.arms, stats=measured.stats,
                note=measured.note))
        results += decide(family, claim.margin)
    return results
