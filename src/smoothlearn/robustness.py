"""Which of the paper's unstated choices each claim depends on (``smoothlearn robustness``).

The paper reports orderings, not numbers, and leaves open the test-time memory protocol, the
(1 - leak) gradient factor, the optimiser mapping, the loss, the learning rate, the policy for
exhausted categories and when to measure. This module re-checks the MNIST classification claims
of Fig 2 in a grid of *cells*: the paper's literal protocol, and one choice changed at a time
around it, plus the interaction that matters most (test memory x gradient factor). Every cell
trains the same arms (feedforward, leaky, leaky+reset; random, repeat-1/3/5/10; >= 10 seeds),
so every claim is a paired comparison over seeds (``smoothlearn.claims``) at three stages:
early (5k steps), mid (20k) and end (the last evaluation before any class runs out, or the end
of the balanced epoch), and at the learning-efficiency endpoint ``auc`` (the area under the
curve up to that end step, :data:`smoothlearn.claims.EFFICIENCY_STAGE`), so the gradient-rule
cells show early learning too.

Each comparison is decided as in the claims table (``verdicts.decide``): an exact paired
sign-flip p-value, Holm-adjusted within its family (the comparisons of one claim in one cell at
one stage: "does this claim hold here?"), in the one vocabulary of every table
(:mod:`smoothlearn.verdicts`): ``reproduced`` (adjusted p < 0.05, in the claimed direction),
``reversed`` (against it), ``equivalent``, ``inconclusive``, ``not testable`` (the arms are
one network) or ``no data``. The unadjusted t interval is kept beside it. With
~10 seeds an exact test cannot survive a correction over the whole sweep (hundreds of
comparisons); the number of families is printed beside the matrix instead, so a reader can
discount isolated verdicts.

The autoencoder part reports Fig 3E selectivity trained and at initialisation, the A.11 reset
rate against each row's true switch rate, and both again after ten times more training.

Runs go through the resumable sweep store (``OUT/store``); arms shared by several cells (e.g.
the feedforward runs of every test-memory cell) have one run id and train once. The autoencoder
part (50 seeds of its own; tiny nets) is retrained in-process on every call, because the
store keeps curves, not the weights its analysis needs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoothlearn import claims as claims_mod
from smoothlearn.claims import Claim, TestLabels
from smoothlearn.experiments import RunConfig, make_config
from smoothlearn.figures import fig2
from smoothlearn.report.tables import VERDICT_COLORS, frame_table, verdict_color
from smoothlearn.sweep import Execution, SweepSummary, run_sweep
from smoothlearn.verdicts import Verdict, aggregate, claim_label, verdict_word

__all__ = ["Cell", "CELLS", "CONDITIONS", "plan", "cell_claims", "judge", "verdict_of",
           "evaluate", "autoencoder_robustness", "matrix_figure", "claims_markdown", "run",
           "RobustnessOptions", "RobustnessResult", "DEFAULT_OUT", "CellHealth", "Dependence",
           "Differs", "depends_on", "claim_test_labels"]

DEFAULT_OUT = Path("runs") / "robustness"
CONDITIONS = ("random", "repeat-1", "repeat-3", "repeat-5", "repeat-10")
#: Paper-scale settings and the quick (CI-sized) ones.
FULL = {"seeds": 10, "steps": None, "eval_items": None, "stages": (5000, 20000, 54000)}
#: Quick mode keeps 8 seeds: with fewer, an exact paired test cannot reach p < 0.05 after
#: a Holm correction over a family of 6 comparisons (8 seeds all one way: 6 x 2/256 = 0.047).
#: 8,000 steps: the MNIST nets reach ~80% accuracy (at 2,000 they are still below 50%).
QUICK = {"seeds": 8, "steps": 8000, "eval_items": 500, "stages": (1000, 4000, 8000)}
AE_FULL = {"seeds": 50, "lengths": (3000, 30000)}
AE_QUICK = {"seeds": 8, "lengths": (3000, 6000)}


@dataclass(frozen=True)
class Cell:
    """One reading of the paper: training settings plus how the memory models are tested."""

    name: str
    axis: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    test_mode: str = "same"
    test_reset: str | None = None  # None: the model's own policy (label resets)
    note: str = ""

    @property
    def literal(self) -> bool:
        return self.axis == "literal"

    @property
    def test_labels(self) -> TestLabels:
        """The most label-reading tier of this cell's test protocol over its arms and
        training orders (:func:`smoothlearn.claims.label_tier`, via ``config_tier``)."""
        return claims_mod.strongest_tier(*(
            arm_test_labels(self, {**arm, "condition": cond})
            for arm in _arms(self) for cond in CONDITIONS))


LABEL_NOTE = "streamed in the training structure with label resets"
CELLS: tuple[Cell, ...] = (
    Cell("literal", "literal", note=f"SGD, lr 0.01, MSE, exact gradient factor; {LABEL_NOTE}"),
    Cell("test: memory off", "test memory", test_mode="off", note="each test item alone"),
    Cell("test: A.11 resets", "test memory", test_reset="input-change",
         note="streamed in the training structure, label-free input-change resets"),
    Cell("test: as repeat-1", "test memory", test_mode="repeat-1",
         note="streamed as repeat-1 (label resets: a reset every item)"),
    Cell("test: as random", "test memory", test_mode="random",
         note="streamed in random order, label resets"),
    Cell("no (1-leak) factor", "gradient", {"leak_grad": "ignore"},
         note="gradient of the leaky units without the (1 - leak) factor"),
    Cell("no factor, memory off", "gradient x test", {"leak_grad": "ignore"}, test_mode="off",
         note="the interaction: no factor, each test item alone"),
    Cell("RMSprop", "optimizer", {"optimizer": "rmsprop"},
         note="RMSprop at the paper's lr 0.01, alpha = beta2 = 0.99, momentum 0 (beta1 unused)"),
    Cell("RMSprop, lr 0.001", "optimizer", {"optimizer": "rmsprop", "lr": 0.001},
         note="RMSprop at a tenth of the rate (lr 0.01 per sample stalls the MNIST nets)"),
    Cell("cross-entropy", "loss", {"loss": "ce"}, note="CE loss; claims on test CE"),
    Cell("lr 0.05", "learning rate", {"lr": 0.05}, note="five times the paper's rate"),
    Cell("balanced classes", "classes", {"class_balance": "balanced"},
         note="every class cut to the smallest (5,421): no exhausted-category tail"),
)


# ----------------------------------------------------------------------------- planning
def _arms(cell: Cell) -> list[dict[str, Any]]:
    """Model and test protocol of each trained arm of a cell (shared arms share run ids)."""
    memory = {"test_mode": cell.test_mode}
    arms = [{"model": "feedforward", "test_mode": "off"},
            {"model": "leaky", **memory},
            {"model": "leaky-reset", **memory,
             **({"test_reset": cell.test_reset} if cell.test_reset else {})}]
    if cell.test_mode != "off":
        arms.append({"model": "leaky-reset", "test_mode": "off"})
    return arms


def plan(quick: bool = False, seeds: int | None = None, steps: int | None = None,
         cells: Sequence[Cell] = CELLS, dataset: str = "mnist") -> dict[str, list[RunConfig]]:
    """The runs of every cell; ``seeds``/``steps`` override the mode's defaults."""
    for name, value in (("seeds", seeds), ("steps", steps)):
        if value is not None and value < 1:
            raise ValueError(f"{name}={value}: must be at least 1")
    mode = QUICK if quick else FULL
    seeds = seeds or mode["seeds"]
    steps = steps or mode["steps"]
    stages = [s for s in mode["stages"] if steps is None or s <= steps]
    common: dict[str, Any] = {"experiment": "robustness", "dataset": dataset,
                              "eval_steps": stages}
    if steps:
        common["steps"] = steps
    if mode["eval_items"]:
        common["eval_items"] = mode["eval_items"]
    out = {}
    for cell in cells:
        out[cell.name] = [
            make_config(**common, **_settings_for(cell, arm), **arm, condition=cond, seed=seed)
            for arm in _arms(cell) for cond in CONDITIONS for seed in range(seeds)
        ]
    return out


def _settings_for(cell: Cell, arm: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's training settings for one arm. The (1 - leak) factor is 1 without memory, so
    the feedforward arm ignores ``leak_grad`` and shares the literal cell's runs."""
    settings = dict(cell.settings)
    if arm["model"] == "feedforward":
        settings.pop("leak_grad", None)
    return settings


def arm_test_labels(cell: Cell, arm: Mapping[str, Any]) -> TestLabels:
    """The tier of one arm in ``cell``: the project's one rule (``claims.label_tier``) on the
    config the arm's runs are built from. An arm that does not name its training order is as
    label-reading as its most label-reading order."""
    if "condition" not in arm:
        return claims_mod.strongest_tier(*(arm_test_labels(cell, {**arm, "condition": c})
                                           for c in CONDITIONS))
    settings = {**_settings_for(cell, arm), **arm}
    if cell.test_reset and arm.get("model") == "leaky-reset" and "test_reset" not in arm:
        settings["test_reset"] = cell.test_reset
    return claims_mod.config_tier(dataset="mnist", **settings)


def claim_test_labels(cell: Cell, claim: Claim) -> TestLabels:
    """The claim's tier in this cell: the most label-reading tier of any arm it compares (the
    rule of ``claims.label_tier``, applied to a robustness cell's test protocol)."""
    tiers = [arm_test_labels(cell, arm) for comp in claim.comparisons
             for arm in (comp.better, comp.worse)]
    return claims_mod.strongest_tier(*tiers) if tiers else "none"


def cell_claims(cell: Cell) -> tuple[Claim, ...]:
    """The Fig 2 claims as they read in this cell (its memory test protocol, its loss), built
    by the Fig 2 unit's own claim builders, so ids and comparisons are declared once."""
    reading = fig2.Reading(leaky={"model": "leaky", "test_mode": cell.test_mode},
                           reset={"model": "leaky-reset", "test_mode": cell.test_mode},
                           metric="test_ce" if cell.settings.get("loss") == "ce" else "test_mse",
                           experiment="robustness")
    return tuple(build(reading) for build in fig2.ROBUSTNESS_CLAIMS)


# ----------------------------------------------------------------------------- statistics
def judge(verdict: str) -> str:
    """A verdict of :func:`smoothlearn.verdicts.decide` as the sweep writes it: the claims'
    own word (one vocabulary in every table)."""
    return str(verdict)


def verdict_of(word: str) -> str:
    """The verdict a sweep word stands for (to colour it as the report does): the word itself,
    without a label's "(k of n)"."""
    return verdict_word(word)


def claim_level(verdicts: Sequence[str]) -> str:
    """One verdict per claim and cell from its comparisons' verdicts, by the rules of
    :func:`smoothlearn.verdicts.aggregate`, printed as every claim verdict is (a partly
    reproduced one says k of n)."""
    tested = [v for v in verdicts if v != Verdict.NOT_TESTABLE]
    return claim_label(aggregate(list(verdicts)), list(tested).count(Verdict.REPRODUCED),
                       len(tested))


def _stage_steps(quick: bool, steps: int | None) -> dict[str, str | int]:
    """Where each stage is measured; stages past a shortened run (``steps``) are dropped."""
    early, mid, _ = (QUICK if quick else FULL)["stages"]
    stages: dict[str, str | int] = {"early": early, "mid": mid, "end": "pre-exhaustion",
                                    claims_mod.EFFICIENCY_STAGE: "pre-exhaustion"}
    last = steps or (QUICK if quick else FULL)["steps"]
    if last is not None:
        stages = {k: v for k, v in stages.items() if not isinstance(v, int) or v < last}
    return stages


def stage_text(quick: bool, steps: int | None) -> str:
    """The stages in words, as measured (for the generated markdown)."""
    words = {"end": "end = the last evaluation before any class runs out (MNIST; the balanced "
                    "cell: the end of its epoch; a shorter run: its last step)",
             "auc": "auc = learning efficiency, the area under the curve from the first "
                    "evaluation to the end step, divided by its span"}
    parts = [f"{k} = {v:,} steps" if isinstance(v, int) else words[k]
             for k, v in _stage_steps(quick, steps).items()]
    return "Stages: " + "; ".join(parts) + "."


def evaluate(frames: Mapping[str, pd.DataFrame], quick: bool = False,
             cells: Sequence[Cell] = CELLS, steps: int | None = None) -> list[dict[str, Any]]:
    """Every claim of every cell at every stage; Holm within each family (claim, cell,
    stage): one :func:`smoothlearn.claims.evaluate_claims` call decides one cell and stage."""
    records = []
    by_name = {c.name: c for c in cells}
    for name, frame in frames.items():
        cell = by_name[name]
        claims = cell_claims(cell)
        tiers = {c.id: claim_test_labels(cell, c) for c in claims}
        cell_tier = cell.test_labels  # built from the cell's configs: once, not per record
        for stage, policy in _stage_steps(quick, steps).items():
            judged = [replace(c, stage=claims_mod.EFFICIENCY_STAGE) for c in claims
                      ] if stage == claims_mod.EFFICIENCY_STAGE else claims
            for res in claims_mod.evaluate_claims(frame, step_policy=policy, claims=judged,
                                                  match_experiment=False):
                records.append({**res.to_record(), "cell": name, "axis": cell.axis,
                                "stage": stage, "literal": cell.literal,
                                "cell_note": cell.note,
                                "cell_test_labels": cell_tier,
                                "claim_test_labels": tiers[res.claim],
                                "robust_verdict": judge(res.decision.verdict)})
    return records


#: The floor below which a cell's nets "did not learn": its feedforward nets' mean final test
#: accuracy (chance is 10% on MNIST). Where a task has no accuracy, the floor is the
#: chance-level MSE instead (:func:`chance_mse`). Verdicts of such a cell compare untrained
#: nets and say nothing about the claims: they are never listed as a dependence.
LEARNED_ACCURACY = 0.5


@dataclass(frozen=True)
class CellHealth:
    """Did a cell's feedforward nets learn? Their mean final test accuracy (NaN when the task
    has none or the cell has no finished runs), test MSE, and the MSE of guessing the class
    frequencies (NaN unless needed: only without accuracy)."""

    accuracy: float
    mse: float = math.nan
    chance_mse: float = math.nan

    @property
    def learned(self) -> bool:
        if math.isfinite(self.accuracy):
            return self.accuracy >= LEARNED_ACCURACY
        return math.isfinite(self.mse) and self.mse < self.chance_mse

    def describe(self) -> str:
        """The number that decided :attr:`learned`, in words (``accuracy 0.10``)."""
        if math.isfinite(self.accuracy):
            return f"accuracy {self.accuracy:.2f}"
        if math.isfinite(self.mse):
            return f"MSE {self.mse:.4g}, chance level {self.chance_mse:.4g}"
        return "no finished runs"


def chance_mse(labels: np.ndarray) -> float:
    """Test MSE (mean over items and outputs) of a net that always outputs the class
    frequencies of one-hot ``labels``: ``(1 - sum p_k^2) / K``; any net that learned is
    below it."""
    counts = np.bincount(np.asarray(labels, dtype=int))
    share = counts / counts.sum()
    return float((1.0 - np.sum(share**2)) / counts.size)


def _dataset_chance_mse(dataset: str) -> float:
    from smoothlearn.runs import dataset_for

    return chance_mse(dataset_for(make_config(dataset=dataset)).y_test)


def cell_health(frames: Mapping[str, pd.DataFrame]) -> dict[str, CellHealth]:
    """How well each cell's feedforward nets did at their last evaluation: did it learn?"""
    health = {}
    for name, frame in frames.items():
        ff = frame[(frame["model"] == "feedforward") & ~frame["diverged"]]
        last = ff[ff["step"] == ff.groupby("run_id")["step"].transform("max")]
        accuracy = float(last["test_acc"].mean()) if len(last) else math.nan
        mse = float(last["test_mse"].mean()) if len(last) else math.nan
        chance = (_dataset_chance_mse(str(last["dataset"].iloc[0]))
                  if len(last) and not math.isfinite(accuracy) else math.nan)
        health[name] = CellHealth(accuracy, mse, chance)
    return health


def claim_table(records: Sequence[Mapping[str, Any]],
                health: Mapping[str, CellHealth] | None = None) -> pd.DataFrame:
    """One row per claim, cell and stage: verdict, comparisons reproduced, median effect, the
    claim's test-label tier in the cell, and whether the cell's nets learned at all."""
    health = health or {}
    unknown = CellHealth(math.nan)
    frame = pd.DataFrame(records)
    rows = []
    for (claim, cell, stage), part in frame.groupby(["claim", "cell", "stage"], sort=False):
        verdicts = part["robust_verdict"].tolist()
        state = health.get(cell, unknown)
        rows.append({"claim": claim, "cell": cell, "stage": stage,
                     "axis": part["axis"].iloc[0], "literal": bool(part["literal"].iloc[0]),
                     "verdict": claim_level(part["verdict"].tolist()),
                     "reproduced": verdicts.count(Verdict.REPRODUCED),
                     "reversed": verdicts.count("reversed"), "comparisons": len(verdicts),
                     "median_relative": float(np.nanmedian(part["relative_diff"]))
                     if part["relative_diff"].notna().any() else math.nan,
                     "seeds": int(part["n"].max()),
                     "test_labels": part["claim_test_labels"].iloc[0]
                     if "claim_test_labels" in part else "none",
                     "ff_accuracy": state.accuracy, "learned": state.learned,
                     "health": state.describe()})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- depends on
#: The label-free reading of the literal training settings: the reference of every label-free
#: cell where no headline verdict is given (early in training, or the sweep on its own).
LABEL_FREE_REFERENCE = "test: memory off"
#: Headline verdicts that decide nothing: the sweep's own label-free reading is the reference.
_UNDECIDED = (None, "", Verdict.NO_DATA, Verdict.NOT_TESTABLE)
#: The stages "depends on" looks at: the end (the headline's endpoint) and early training
#: (learning efficiency: the gradient rule changes verdicts there).
DEPENDS_STAGES = ("end", "early")


@dataclass(frozen=True)
class Differs:
    """One cell whose verdict at ``stage`` differs from the ``reference`` verdict."""

    cell: str
    stage: str
    verdict: str
    reference: str

    def text(self) -> str:
        if self.stage == "end":
            return f"{self.cell} ({self.verdict})"
        return f"{self.cell} ({self.stage}: {self.verdict}, against {judge(self.reference)})"


@dataclass(frozen=True)
class Dependence:
    """What one claim's verdict depends on, among the cells where its nets learned.

    ``label_free``: cells whose test for this claim reads no test labels and whose verdict
    differs from the label-free reference (the headline verdict at the end of training).
    ``label_reading``: cells whose test reads labels (tier ``order``/``resets``), compared
    with the literal cell (the paper's protocol) instead, never with the label-free headline:
    their protocol, not the choice they change, would make that difference.
    ``did_not_learn``: cells below the floor (:data:`LEARNED_ACCURACY`), never a dependence.
    """

    claim: str
    label_free: tuple[Differs, ...] = ()
    label_reading: tuple[Differs, ...] = ()
    did_not_learn: tuple[tuple[str, str], ...] = ()  # (cell, its health in words)

    def text(self) -> str:
        """One line for the headline's "depends on" column ("" when nothing differs)."""
        parts = [d.text() for d in self.label_free]
        if self.label_reading:
            parts.append("reading test labels, against the paper's protocol: "
                         + ", ".join(d.text() for d in self.label_reading))
        parts += [f"{cell}: nets did not learn ({why})" for cell, why in self.did_not_learn]
        return "; ".join(parts)


def _differs(rows: pd.DataFrame, reference: str | None, stage: str) -> list[Differs]:
    """The cells of ``rows`` whose verdict differs from ``reference`` (either vocabulary)."""
    if reference is None:
        return []
    return [Differs(r.cell, stage, r.verdict, reference) for r in rows.itertuples()
            if verdict_of(r.verdict) != verdict_of(reference)]


def _reference(part: pd.DataFrame, cell: str, stage: str) -> str | None:
    row = part[(part["cell"] == cell) & (part["stage"] == stage)]
    return str(row["verdict"].iloc[0]) if len(row) and bool(row["learned"].iloc[0]) else None


def _claim_dependence(claim: str, part: pd.DataFrame, headline: str | None) -> Dependence:
    learned = part[part["learned"]]
    free, reading = [], []
    for stage in DEPENDS_STAGES:
        rows = learned[learned["stage"] == stage]
        reference = _reference(part, LABEL_FREE_REFERENCE, stage)
        if stage == "end" and headline not in _UNDECIDED:
            reference = headline
        is_free = rows["test_labels"] == "none"
        free += _differs(rows[is_free & (rows["cell"] != LABEL_FREE_REFERENCE)], reference,
                         stage)
        if stage == "end":
            literal = part[part["literal"] & (part["stage"] == stage)]
            paper = (str(literal["verdict"].iloc[0])
                     if len(literal) and bool(literal["learned"].iloc[0]) else None)
            reading += _differs(rows[~is_free & ~rows["literal"]], paper, stage)
    stalled = part[~part["learned"] & (part["stage"] == "end")]
    return Dependence(claim, tuple(free), tuple(reading),
                      tuple((r.cell, r.health) for r in stalled.itertuples()))


def depends_on(table: pd.DataFrame,
               headline: Mapping[str, str] | None = None) -> dict[str, Dependence]:
    """Per claim, the cells its verdict depends on (:class:`Dependence`). ``headline`` maps a
    claim id to its headline (label-free) verdict in the claims' words; without it (or where
    it is *no data* or *not testable*), the sweep's own label-free reading of the literal
    settings is the reference."""
    headline = headline or {}
    if table.empty:
        return {}
    return {claim: _claim_dependence(claim, part, headline.get(claim))
            for claim, part in table.groupby("claim", sort=False)}


# ----------------------------------------------------------------------------- autoencoders
def _ae_configs(seeds: int, length: int) -> list[RunConfig]:
    from smoothlearn.experiments import load_experiment

    params = {} if length == 3000 else {"dataset_params": {"n_train": length}}
    every = max(length // 20, 1)
    return load_experiment("fig3").runs(seeds=seeds, overrides={**params, "eval_every": every})


def autoencoder_robustness(quick: bool = False, seeds: int | None = None,
                           engine: str = "fast") -> dict[str, Any]:
    """Fig 3E selectivity trained vs at initialisation, after 3k and 10x more items, and the
    A.11 reset rate against each row's true switch rate."""
    from smoothlearn import analysis, unmixing
    from smoothlearn.runs import dataset_for, run_many

    mode = AE_QUICK if quick else AE_FULL
    seeds = seeds or mode["seeds"]
    selectivity, ae_claims = [], []
    for length in mode["lengths"]:
        configs = _ae_configs(seeds, length)
        table = analysis.analyse_runs(configs, run_many(configs, engine=engine))
        fig3e = unmixing.fig3e_table(table)
        selectivity.append(fig3e.assign(items=length))
        for res in unmixing.autoencoder_claims(table):
            ae_claims.append({**res.to_record(), "items": length})
    ds = dataset_for(_ae_configs(1, mode["lengths"][0])[0])
    rate = analysis.reset_rate(ds.X_train, ds.latent_train)
    return {"selectivity": pd.concat(selectivity, ignore_index=True), "claims": ae_claims,
            "reset_rate": rate, "seeds": seeds, "lengths": list(mode["lengths"])}


# ----------------------------------------------------------------------------- figure
STAGES = ("early", "mid", "end", claims_mod.EFFICIENCY_STAGE)
STAGE_TITLES = {
    "early": "Early in training ({} steps; quick: {})".format(
        *(f"{stages['stages'][0]:,}" for stages in (FULL, QUICK))),
    "mid": "Mid-training ({} steps; quick: {})".format(
        *(f"{stages['stages'][1]:,}" for stages in (FULL, QUICK))),
    "end": "End: last evaluation before any class runs out (at most {}; quick: {})".format(
        *(f"{stages['stages'][2]:,}" for stages in (FULL, QUICK))),
    "auc": "Learning efficiency: area under the curve up to the end step, per step",
}


def matrix_figure(table: pd.DataFrame):
    """Claims x cells, one panel per stage, coloured by verdict; literal column outlined."""
    import matplotlib
    from matplotlib.patches import Patch, Rectangle

    from smoothlearn.figures.plotting.style import RC, new_figure

    claims = list(dict.fromkeys(table["claim"]))
    cells = [c.name for c in CELLS if c.name in set(table["cell"])]
    reads = {c.name: c.test_labels != "none" for c in CELLS}
    stalled = set(table.loc[~table["learned"], "cell"])

    def label(cell: str) -> str:
        return cell + (" ⚠" if reads[cell] else "") + (" ✗" if cell in stalled else "")
    with matplotlib.rc_context({**RC, "axes.grid": False}):
        fig = new_figure(0.78 * len(cells) + 3.2, 1.75 * len(STAGES) * len(claims) / 5 + 2.6)
        axes = np.atleast_1d(fig.subplots(len(STAGES), 1, sharex=True))
        for ax, stage in zip(axes, STAGES, strict=True):
            part = table[table["stage"] == stage].set_index(["claim", "cell"])
            for i, claim in enumerate(claims):
                for j, cell in enumerate(cells):
                    if (claim, cell) not in part.index:
                        continue
                    row = part.loc[(claim, cell)]
                    colour = verdict_color(verdict_of(row["verdict"]))
                    ax.add_patch(Rectangle((j, i), 1, 1, color=colour, ec="white", lw=1.5))
                    effect = row["median_relative"]
                    text = f"{row['reproduced']}/{row['comparisons']}"
                    if math.isfinite(effect):
                        text += f"\n{100 * effect:+.0f}%"
                    ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=6.5)
            if "literal" in cells:
                k = cells.index("literal")
                ax.add_patch(Rectangle((k, 0), 1, len(claims), fill=False, ec="black", lw=2.2))
            ax.set_xlim(0, len(cells))
            ax.set_ylim(len(claims), 0)
            ax.set_yticks(np.arange(len(claims)) + 0.5, claims, fontsize=8)
            ax.set_title(STAGE_TITLES[stage], loc="left")
            ax.tick_params(length=0)
            for side in ("left", "bottom"):
                ax.spines[side].set_visible(False)
        axes[-1].set_xticks(np.arange(len(cells)) + 0.5, [label(c) for c in cells],
                            rotation=40, ha="right", fontsize=8)
        handles = [Patch(color=c, label=judge(v)) for v, c in VERDICT_COLORS.items()
                   if v != Verdict.NO_DATA]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                   fontsize=8)
        fig.suptitle("Which claims hold under which reading of the paper\n"
                     "cell: comparisons reproduced / total, median error reduction "
                     "(+ = as claimed); outlined: literal protocol; "
                     "⚠ test protocol reads test labels (tier order or resets); "
                     "✗ nets did not learn (verdicts void)", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- text
def summary_lines(table: pd.DataFrame) -> list[str]:
    """Plain-language findings: the literal verdict per claim, its label-free reading, and the
    cells it depends on (:func:`depends_on`; cells whose nets did not learn are listed once,
    at the end, never as a dependence)."""
    lines = []
    end = table[table["stage"] == "end"]
    found = depends_on(table)
    for claim, part in end.groupby("claim", sort=False):
        literal = part[part["literal"]]
        if literal.empty:
            continue
        if not literal["learned"].iloc[0]:
            lines.append(f"**{claim}**: no verdict under the literal protocol: its nets did not "
                         "learn (train longer) or have no finished runs.")
            continue
        line = (f"**{claim}**: {literal['verdict'].iloc[0]} under the literal protocol at the "
                f"end of training (test labels: {literal['test_labels'].iloc[0]})")
        free = _reference(part, LABEL_FREE_REFERENCE, "end")
        if free is not None and literal["test_labels"].iloc[0] != "none":
            line += f", {free} read with no test labels ({LABEL_FREE_REFERENCE})"
        learned_only = replace(found[claim], did_not_learn=())
        text = learned_only.text()
        lines.append(line + (f"; depends on {text}." if text else
                             "; no other cell where the nets learned changes it."))
    void = table[~table["learned"]].drop_duplicates("cell")
    if len(void):
        lines.append("Left out above, because the nets did not learn there (feedforward "
                     f"accuracy < {LEARNED_ACCURACY:.0%}, or MSE above chance level where "
                     "there is no accuracy, or no finished runs): "
                     + ", ".join(f"{r.cell} ({r.health})" for r in void.itertuples()) + ".")
    return lines


def _md_table(frame: pd.DataFrame) -> str:
    return frame_table(frame, _fmt)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def claims_markdown(records: Sequence[Mapping[str, Any]], ae: Mapping[str, Any] | None,
                    meta: Mapping[str, Any]) -> str:
    """``docs/claims.md``: generated from the sweep's output, never written by hand."""
    table = claim_table(records, {name: CellHealth(**h)
                                  for name, h in meta.get("health", {}).items()})
    accuracy = table.groupby("cell")["ff_accuracy"].first()
    lines = [
        "# Which claims hold, and under which choices",
        "",
        f"Generated by `{meta.get('command', 'smoothlearn robustness')}` "
        f"({meta.get('mode', '')}; {meta.get('seeds', '?')} seeds per cell on "
        f"{meta.get('dataset', 'mnist')}; {meta.get('runs', '?')} runs). The runs took "
        f"{meta.get('compute_seconds', 0) / 60:.1f} min of worker time to compute (their own "
        f"timings, whenever they were trained); this invocation took "
        f"{meta.get('seconds', 0) / 60:.1f} min on {meta.get('cores', '?')} cores; its sweep: "
        f"`{meta.get('sweep', '')}` (runs already in the store are not trained again). "
        "Do not edit by hand: rerun the command.",
        "",
        *([f"Cells left out of this invocation (`--cells`): {', '.join(meta['left_out'])}; "
           "the matrix and the tables below have no column for them.", ""]
          if meta.get("left_out") else []),
        "Each comparison pairs runs by seed (same initial weights and category order). Its "
        "p-value is an exact sign-flip test over seeds, Holm-adjusted within its family (the "
        "3-6 comparisons of one claim in one cell at one stage): *reproduced* / *reversed* "
        "(adjusted p < 0.05, for or against the claim), else *equivalent* (within the claim's "
        "margin) or *inconclusive*. A claim is *reproduced* in a cell when all its comparisons "
        "are (the rules: docs/report.md, \"Decision rules\"). There are "
        f"{len({(r['claim'], r['cell'], r['stage']) for r in records})} families and "
        f"{len(records)} comparisons: expect a few isolated verdicts by chance. "
        + stage_text(meta.get("quick", False), meta.get("steps")),
        "",
        "![robustness matrix](robustness.png)",
        "",
        "## Summary",
        "",
        *[f"- {line}" for line in [*meta.get("warnings", []), *summary_lines(table)]],
        "",
        "## The cells",
        "",
        _md_table(pd.DataFrame([{"cell": c.name, "axis": c.axis, "what changes": c.note,
                                 "test labels (tier)": c.test_labels,
                                 "FF accuracy at end": accuracy.get(c.name, math.nan)}
                                for c in CELLS if c.name in set(table["cell"])])),
        "",
        "## Claims by cell and stage",
        "",
    ]
    for claim, part in table.groupby("claim", sort=False):
        lines += [f"### {claim}", ""]
        wide = part.pivot(index="cell", columns="stage", values="verdict")
        wide = wide.reindex([c.name for c in CELLS if c.name in wide.index])
        wide = wide[[s for s in STAGES if s in wide.columns]].reset_index()
        lines += [_md_table(wide), ""]
    frame = pd.DataFrame(records)
    cols = ["cell", "stage", "claim", "comparison", "step", "n", "mean_diff", "ci_low",
            "ci_high", "share", "p_holm", "robust_verdict"]
    lines += ["## Every comparison", "",
              "`mean_diff` is the error of the claimed-worse arm minus that of the claimed-better "
              "arm (positive = as claimed); CI: 95% t interval, unadjusted.", "",
              _md_table(frame[cols]), ""]
    if ae:
        lines += _ae_markdown(ae)
    return "\n".join(lines) + "\n"


def _ae_markdown(ae: Mapping[str, Any]) -> list[str]:
    sel = ae["selectivity"]
    mean = sel[sel["unit"].astype(str) == "mean"]
    keep = [c for c in ("items", "model", "n", "selectivity", "sd", "selectivity_init",
                        "sd_init") if c in mean]
    claims = pd.DataFrame(ae["claims"])
    ccols = [c for c in ("items", "claim", "comparison", "n", "mean_diff", "ci_low", "ci_high",
                         "init_mean_diff", "gain_mean_diff", "verdict") if c in claims]
    return [
        "## Autoencoders (Fig 3E)", "",
        f"{ae['seeds']} seeds; selectivity = each seed's mean over its hidden units, trained "
        "and at initialisation, after "
        + " and ".join(f"{n:,}" for n in ae["lengths"]) + " training items.", "",
        _md_table(mean[keep]), "",
        _md_table(claims[ccols]) if ccols else "", "",
        "A.11 reset rule on the training stream: how often it fires on each row against the "
        "row's true switch rate (`false_alarm`: fires while the state holds).", "",
        _md_table(ae["reset_rate"]), "",
    ]


# ----------------------------------------------------------------------------- running
@dataclass(frozen=True)
class RobustnessOptions:
    """What the robustness sweep covers, checked when built (how to train: an
    :class:`~smoothlearn.sweep.Execution`). ``seeds``/``steps`` override the mode's defaults;
    ``cells`` picks cells by name (None: all)."""

    out: Path = DEFAULT_OUT
    quick: bool = False
    seeds: int | None = None
    steps: int | None = None
    cells: tuple[str, ...] | None = None
    autoencoders: bool = True
    dataset: str = "mnist"

    def __post_init__(self) -> None:
        from smoothlearn.experiments import ConfigError

        unknown = sorted(set(self.cells or ()) - {c.name for c in CELLS})
        if unknown:
            raise ConfigError(f"--cells: unknown cell(s) {', '.join(unknown)}; choose from "
                              + ", ".join(repr(c.name) for c in CELLS))


@dataclass(frozen=True)
class RobustnessResult:
    """What :func:`run` wrote and found: the matrix figure and ``claims.md``, the claim x cell
    x stage table, every comparison record, the page's metadata, the sweep's summary and the
    plain-language findings (warnings first)."""

    png: Path
    svg: Path
    markdown: Path
    table: pd.DataFrame
    records: list[dict[str, Any]]
    meta: dict[str, Any]
    sweep: SweepSummary
    summary: list[str]


def run(options: RobustnessOptions, execution: Execution) -> RobustnessResult:
    """Train what the store lacks, judge every claim, write ``robustness.json``,
    ``claims.md`` and ``robustness.png``/``.svg`` into ``options.out``."""
    import os

    from smoothlearn import results
    from smoothlearn.report.draw import save_figure

    quick, seeds, steps, cells = options.quick, options.seeds, options.steps, options.cells
    dataset, engine = options.dataset, execution.engine
    started = time.perf_counter()
    out = Path(options.out)
    chosen = [c for c in CELLS if cells is None or c.name in cells]
    plans = plan(quick, seeds, steps, chosen, dataset)
    unique = {c.run_id(): c for configs in plans.values() for c in configs}
    summary = run_sweep(list(unique.values()), out / "store", execution)
    every = results.load(out / "store", run_ids=unique)  # once: cells share arms
    frames = {name: every[every["run_id"].isin({c.run_id() for c in configs})]
              .reset_index(drop=True) for name, configs in plans.items()}
    records = evaluate(frames, quick, chosen, steps=steps)
    health = cell_health(frames)
    ae = autoencoder_robustness(quick, engine=engine) if options.autoencoders else None
    seconds = time.perf_counter() - started
    meta = {"command": "smoothlearn robustness" + (" --quick" if quick else ""),
            "mode": "quick (indicative only)" if quick else "full",
            "seeds": seeds or (QUICK if quick else FULL)["seeds"], "dataset": dataset,
            "runs": len(unique), "seconds": seconds, "cores": os.cpu_count(),
            "compute_seconds": results.training_seconds(out / "store", unique),
            "left_out": [c.name for c in CELLS if c not in chosen],
            "sweep": summary.line(),
            "health": {name: asdict(h) for name, h in health.items()},
            "quick": quick, "steps": steps,
            "warnings": _failures(summary, out / "store")}
    table = claim_table(records, health)
    fig = matrix_figure(table)
    png, svg = save_figure(fig, out, "robustness")
    text = claims_markdown(records, ae, meta)
    (out / "claims.md").write_text(text)
    payload = {"meta": meta, "records": records, "table": table.to_dict("records"),
               "autoencoders": None if ae is None else {
                   "selectivity": ae["selectivity"].to_dict("records"),
                   "claims": ae["claims"], "reset_rate": ae["reset_rate"].to_dict("records")}}
    (out / "robustness.json").write_text(
        json.dumps(results.strict_json(payload), indent=2, default=str))
    return RobustnessResult(png=png, svg=svg, markdown=out / "claims.md", table=table,
                            records=records, meta=meta, sweep=summary,
                            summary=meta["warnings"] + summary_lines(table))


def _failures(summary: SweepSummary, store: Path) -> list[str]:
    """A warning line when runs of the sweep failed: their cells have fewer seeds or none."""
    failed = summary.failed
    if not failed:
        return []
    return [f"**Warning**: {failed} runs failed (their messages: "
            f"`smoothlearn results {store}` or `{store}/runs/`); cells missing them have "
            "fewer seeds or no data. Rerun the same command to retry them."]
