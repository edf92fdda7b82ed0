"""Typed results of the claims and how they are decided: one place for every verdict.

A comparison's evidence is a vector of per-seed paired differences (positive = as claimed).
:func:`paired` summarises it (:class:`Paired`: seeds, mean, Student-t 95% CI, share of seeds
in the claimed direction, effect size d_z = mean / SD of the differences, exact sign-flip p);
a :class:`ComparisonResult` (its :class:`Arms`, its :class:`Paired` statistics and its
:class:`Decision`) is one row of ``claims.json`` (serialised only by its ``to_record``);
:func:`decide` gives the comparisons of one claim their verdicts; :func:`summarise` gives
each claim a :class:`ClaimResult` with a verdict, a printed ``label`` and a reason. Curve
claims (:mod:`smoothlearn.claims`), the autoencoder claims (:mod:`smoothlearn.unmixing`) and
the robustness sweep all go through here. The rules are mechanical, in this order (also in
``docs/report.md``, "Decision rules"):

Comparison verdicts (every p Holm-adjusted over the testable comparisons of one claim):

* ``no data``: no seed has both arms. A claim with any ``no data`` comparison is ``no data``.
* ``not testable``: the arms are one network, so there is nothing to compare; its
  ``not_testable`` reason says how that is known: by construction (e.g. leaky memory with
  label resets in a repeat-1 order *is* the feedforward net), or observed, every paired
  difference being exactly 0 on every seed (:data:`IDENTICAL`). Left out of the Holm family.
* ``reversed``: the exact sign-flip p < 0.05, against the claim.
* ``present at initialisation``: p < 0.05 in the claimed direction, but the comparison
  carries ``init`` and ``gain`` effects (the autoencoder claims, e.g. Fig 3E) and the same
  difference is already significant at initialisation in the claimed direction (Holm within
  the claim) while training's paired change has a t interval that includes 0: the
  architecture, not learning, makes the difference the paper says the nets learn.
* ``reproduced``: p < 0.05 in the claimed direction, otherwise.
* ``equivalent``: no effect, and two one-sided exact sign-flip tests (TOST) show the mean
  difference within ±margin, margin = the claim's ``margin`` (default 1%) times the
  claimed-worse arm's mean (no equivalence test where that mean is missing or 0).
* ``inconclusive``: neither; ``mde`` says the smallest effect these seeds detect at 80% power
  (noncentral t at the Holm level alpha / m), inf when n seeds can never reach the level (5
  seeds never reach p < 0.05).

Claim verdicts, from the testable comparisons: all reproduced, ``reproduced``; all present at
initialisation, ``present at initialisation``; more than half reversed, ``reversed``; all
equivalent, ``equivalent``; at least one reproduced, ``partly reproduced``, printed with k of
n (``ClaimResult.label``, e.g. "partly reproduced (2 of 5)"); else ``inconclusive``. The
reason counts the other comparisons' verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal

import numpy as np

from smoothlearn import stats

__all__ = ["Verdict", "Effect", "Paired", "paired", "relative", "Arms", "Decision",
           "ComparisonResult", "ClaimResult", "decide", "claim_verdict", "claim_result",
           "claim_label", "aggregate", "absolute_margin", "summarise", "verdict_word",
           "VERDICTS", "IDENTICAL", "MARGIN"]


class Verdict(StrEnum):
    """Every verdict word, of a comparison (:func:`decide`) and of a claim
    (:func:`aggregate`). String-valued, so records and JSON hold the words themselves."""

    REPRODUCED = "reproduced"
    REVERSED = "reversed"
    #: Neither direction, and the difference is shown to lie within the claim's margin.
    EQUIVALENT = "equivalent"
    #: Neither an effect nor equivalence can be shown with these seeds (see ``mde``).
    INCONCLUSIVE = "inconclusive"
    #: The arms are one network: there is nothing to compare.
    NOT_TESTABLE = "not testable"
    NO_DATA = "no data"
    #: As claimed, but already so before training, and training does not change it.
    AT_INIT = "present at initialisation"
    #: Claim level only: some comparisons reproduced (the label says how many of how many).
    PARTLY = "partly reproduced"


#: Verdicts of one comparison (:func:`decide`), in the order counts are listed.
VERDICTS = (Verdict.REPRODUCED, Verdict.AT_INIT, Verdict.EQUIVALENT, Verdict.INCONCLUSIVE,
            Verdict.REVERSED, Verdict.NOT_TESTABLE, Verdict.NO_DATA)


def verdict_word(label: str) -> str:
    """The verdict word of a claim label ("partly reproduced (2 of 5)" -> "partly
    reproduced"), so colours and badges look labels up as words."""
    return str(label).split(" (", 1)[0]


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Effect:
    """A paired difference over seeds (positive = as claimed), its Student-t 95% CI and its
    exact sign-flip p: e.g. the same comparison at initialisation, or the gain from
    training."""

    mean_diff: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan


@dataclass(frozen=True)
class Paired:
    """The statistics of one paired comparison: the seeds used, the mean difference (positive
    = as claimed), its Student-t 95% CI, the share of seeds pointing the claimed way, the SD
    of the differences and the effect size d_z (mean / SD of the differences), the exact
    sign-flip p, why the arms are not testable (they are one network), and the per-seed
    differences themselves (for the equivalence test; not written to records)."""

    n: int = 0
    seeds: tuple[int, ...] | None = None
    mean_diff: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    share: float = math.nan
    sd_diff: float = math.nan
    effect_sd: float = math.nan
    p: float = math.nan
    not_testable: str = ""
    diffs: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def effect(self) -> Effect:
        return Effect(self.mean_diff, self.ci_low, self.ci_high, self.p)


IDENTICAL = ("paired differences all exactly 0 on every seed: the arms computed the same "
             "network")


def paired(diff: np.ndarray, seeds: Sequence[int] | None = None) -> Paired:
    """:class:`Paired` statistics of per-seed differences; non-finite seeds are dropped.

    Differences that are all exactly 0 (bit-identical arms on every seed) mark the arms not
    testable with :data:`IDENTICAL`: they computed the same network, whether or not the
    builder knew it by construction."""
    d = np.asarray(diff, np.float64)
    keep = np.isfinite(d)
    d = d[keep]
    used = None if seeds is None else tuple(int(s) for s in np.asarray(seeds)[keep])
    if d.size == 0:
        return Paired(seeds=used)
    low, high = stats.t_interval(d)
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    mean = float(d.mean())
    effect_sd = mean / sd if sd > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    return Paired(int(d.size), used, mean, low, high, float(np.mean(d > 0)), sd,
                  effect_sd if math.isfinite(sd) else math.nan, stats.signflip_p(d),
                  IDENTICAL if not d.any() else "", tuple(float(v) for v in d))


_EFFECT_KEYS = ("mean_diff", "ci_low", "ci_high", "p")


@dataclass(frozen=True)
class Arms:
    """What one comparison compares and where it was measured: the two arms in words, the
    metric, dataset and step, how each arm was tested and the comparison's tier of test-label
    use (``"none"``, ``"order"``, ``"resets"``: the more label-reading of its two arms,
    :func:`smoothlearn.claims.label_tier`), and each arm's mean and SD over the paired seeds
    (None where a kind of comparison has none)."""

    better: str
    worse: str
    metric: str
    dataset: str | None = None
    step: int | None = None
    step_rule: str = ""
    test_mode: Mapping[str, str] | str | None = None
    test_protocol: Mapping[str, str] | str | None = None
    test_labels: Literal["none", "order", "resets"] | None = None
    mean_better: float | None = None
    mean_worse: float | None = None
    sd_better: float | None = None
    sd_worse: float | None = None


@dataclass(frozen=True)
class Decision:
    """How :func:`decide` judged a comparison within its claim: the verdict, the
    Holm-adjusted p, the smallest mean difference these seeds detect at 80% power after
    Holm (inf: none), the equivalence margin (absolute, in the metric's units; NaN where the
    claimed-worse arm has no nonzero mean) and the Holm-adjusted equivalence (TOST) p."""

    verdict: Verdict = Verdict.NO_DATA
    p_holm: float = math.nan
    mde: float = math.nan
    margin: float = math.nan
    p_equivalent: float = math.nan

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", Verdict(self.verdict))


@dataclass(frozen=True, kw_only=True)
class ComparisonResult:
    """One checked comparison of one claim: a row of ``claims.json`` and of the report.

    Composed of the claim it belongs to (``claim``, ``text``, ``experiment``, ...), its
    :class:`Arms`, the :class:`Paired` statistics of its per-seed differences and the
    :class:`Decision` (set by :func:`decide`, over the comparisons of one claim). Built by
    :func:`evaluate_claims` (curve claims) and the autoencoder claim builders in
    :mod:`smoothlearn.unmixing`; :meth:`to_record` is its only serialisation and
    :meth:`from_record` reads one back. ``step_policy`` (curve claims), ``lr``/``optimizer``/
    ``model`` and ``init``/``gain`` (autoencoders) are None where a kind of comparison does
    not have them, and left out of the record.
    """

    claim: str
    text: str
    comparison: str
    experiment: str
    #: Default ``"<claim>: <comparison>"``; the per-model autoencoder claims name the model.
    id: str = ""
    source: str = ""
    stage: str = "end"
    step_policy: str | None = None
    lr: float | None = None
    optimizer: str | None = None
    model: str | None = None
    arms: Arms
    stats: Paired = Paired()
    decision: Decision = Decision()
    note: str = ""
    #: The same difference at initialisation, and the paired change owed to training.
    init: Effect | None = None
    gain: Effect | None = None

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", f"{self.claim}: {self.comparison}")

    @property
    def relative_diff(self) -> float:
        """``mean_diff`` relative to the claimed-worse arm's mean (NaN where that is 0 or
        missing)."""
        worse = self.arms.mean_worse
        return relative(self.stats.mean_diff, math.nan if worse is None else worse)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ComparisonResult:
        """The result a :meth:`to_record` record came from (other keys, e.g. a robustness
        cell's, are ignored): for code that reads ``claims.json`` or records back."""
        def picked(kind: type) -> dict[str, Any]:
            return {f.name: record[f.name] for f in fields(kind) if f.name in record}

        measured = picked(Paired)
        if measured.get("seeds") is not None:
            measured["seeds"] = tuple(measured["seeds"])
        identity = {k: v for k, v in picked(cls).items()
                    if k not in ("arms", "stats", "decision", "init", "gain")}
        effects = {name: Effect(*(record[f"{name}_{k}"] for k in _EFFECT_KEYS))
                   for name in ("init", "gain") if f"{name}_mean_diff" in record}
        return cls(**identity, arms=Arms(**picked(Arms)), stats=Paired(**measured),
                   decision=Decision(**picked(Decision)), **effects)

    def to_record(self) -> dict[str, Any]:
        """The JSON record (the per-seed differences left out), in its fixed key order:
        identity, arms, statistics, decision, note, then the effects flattened
        (``init_mean_diff``, ``gain_ci_low``, ...); ``step_policy``/``lr``/``optimizer``/
        ``model`` and the arm means and SDs only when set."""
        arms, measured, decision = self.arms, self.stats, self.decision
        out: dict[str, Any] = {"id": self.id, "claim": self.claim, "text": self.text,
                               "comparison": self.comparison, "experiment": self.experiment,
                               "source": self.source, "stage": self.stage}
        out |= _when_set(step_policy=self.step_policy, lr=self.lr, optimizer=self.optimizer,
                         model=self.model)
        out |= {"better": arms.better, "worse": arms.worse, "metric": arms.metric,
                "dataset": arms.dataset, "step": arms.step, "step_rule": arms.step_rule,
                "test_mode": arms.test_mode, "test_protocol": arms.test_protocol,
                "test_labels": arms.test_labels, "n": measured.n,
                "seeds": None if measured.seeds is None else list(measured.seeds)}
        out |= _when_set(mean_better=arms.mean_better, mean_worse=arms.mean_worse,
                         sd_better=arms.sd_better, sd_worse=arms.sd_worse)
        out |= {"mean_diff": measured.mean_diff, "ci_low": measured.ci_low,
                "ci_high": measured.ci_high, "share": measured.share,
                "relative_diff": self.relative_diff,
                "sd_diff": measured.sd_diff, "effect_sd": measured.effect_sd, "p": measured.p,
                "p_holm": decision.p_holm, "mde": decision.mde, "margin": decision.margin,
                "p_equivalent": decision.p_equivalent, "not_testable": measured.not_testable,
                "verdict": str(decision.verdict), "note": self.note}
        for name, effect in (("init", self.init), ("gain", self.gain)):
            if effect is not None:
                out |= {f"{name}_{k}": v for k, v in asdict(effect).items()}
        return out


def _when_set(**values: Any) -> dict[str, Any]:
    """The optional record fields that have a value."""
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class ClaimResult:
    """One claim's verdict from its comparisons, why, how many went which way, and how many
    of the testable comparisons reproduced (``label`` says it for a partly reproduced
    claim)."""

    claim: str
    text: str
    experiment: str
    source: str
    verdict: Verdict
    counts: Mapping[Verdict, int]
    reason: str = ""
    reproduced: int = 0
    tested: int = 0

    @property
    def label(self) -> str:
        """The verdict as printed: "partly reproduced (2 of 5)", else the word itself."""
        return claim_label(self.verdict, self.reproduced, self.tested)

    def to_record(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": str(self.verdict), "label": self.label,
                               "counts": {str(v): n for v, n in self.counts.items()}}


def claim_label(verdict: str, reproduced: int, tested: int) -> str:
    """A claim verdict as printed: a partly reproduced claim always says k of n."""
    if verdict == Verdict.PARTLY:
        return f"{verdict} ({reproduced} of {tested})"
    return str(verdict)


def relative(mean_diff: float, reference: float) -> float:
    """``mean_diff`` as a fraction of the reference arm's mean (NaN where that is 0)."""
    if not (math.isfinite(reference) and reference):
        return math.nan
    return mean_diff / abs(reference)


# ----------------------------------------------------------------------------- verdicts
#: The smallest effect of interest of a claim that states none: 1% of the claimed-worse
#: arm's mean (:attr:`smoothlearn.claims.Claim.margin`).
MARGIN = 0.01


def _testable(result: ComparisonResult) -> bool:
    return result.stats.n > 0 and not result.stats.not_testable


def absolute_margin(result: ComparisonResult, margin: float = MARGIN) -> float:
    """The equivalence margin of a comparison in its metric's units: ``margin`` times the
    claimed-worse arm's mean (NaN where that mean is missing or 0: no equivalence test)."""
    worse = result.arms.mean_worse
    if worse is None or not math.isfinite(worse) or worse == 0:
        return math.nan
    return margin * abs(worse)


def decide(family: Sequence[ComparisonResult],
           margin: float = MARGIN) -> list[ComparisonResult]:
    """Verdicts for the comparisons of one claim, each p Holm-adjusted within the claim (the
    rules of the module docstring, in that order). ``margin`` is the claim's smallest effect
    of interest relative to each comparison's claimed-worse arm mean."""
    testable = [_testable(r) for r in family]

    def holm(pvalues: Iterable[float]) -> list[float]:
        return [float(p) for p in stats.holm([p if ok else math.nan for p, ok
                                              in zip(pvalues, testable, strict=True)])]

    margins = [absolute_margin(r, margin) for r in family]
    p_effect = holm(r.stats.p for r in family)
    p_equal = holm(stats.equivalence_p(np.asarray(r.stats.diffs), m)
                   for r, m in zip(family, margins, strict=True))
    p_init = holm(math.nan if r.init is None else r.init.p for r in family)
    level = stats.ALPHA / max(sum(testable), 1)
    out = []
    for i, res in enumerate(family):
        verdict = _verdict(res, testable[i], p_effect[i], p_equal[i], p_init[i])
        mde = (stats.min_detectable_effect(res.stats.sd_diff, res.stats.n, level)
               if testable[i] else math.nan)
        out.append(replace(res, decision=Decision(verdict, p_effect[i], mde, margins[i],
                                                  p_equal[i])))
    return out


def _verdict(result: ComparisonResult, testable: bool, p_effect: float, p_equal: float,
             p_init: float) -> Verdict:
    """One comparison's verdict from its Holm-adjusted p of an effect, of equivalence and of
    the same difference at initialisation."""
    if result.stats.n == 0:
        return Verdict.NO_DATA
    if not testable:
        return Verdict.NOT_TESTABLE
    if p_effect < stats.ALPHA:
        if result.stats.mean_diff < 0:
            return Verdict.REVERSED
        return Verdict.AT_INIT if _built_in(result, p_init) else Verdict.REPRODUCED
    if p_equal < stats.ALPHA:
        return Verdict.EQUIVALENT
    return Verdict.INCONCLUSIVE


def _built_in(result: ComparisonResult, p_init: float) -> bool:
    """The claimed difference is already there at initialisation (Holm-adjusted p < alpha,
    in the claimed direction) and training's paired change has a CI that includes 0."""
    init, gain = result.init, result.gain
    if init is None or gain is None:
        return False
    return (p_init < stats.ALPHA and init.mean_diff > 0
            and gain.ci_low <= 0 <= gain.ci_high)


def claim_verdict(family: Sequence[ComparisonResult]) -> tuple[Verdict, str]:
    """One verdict for a claim from its decided comparisons, and the reason in words (see
    :func:`claim_result`, which also counts them)."""
    result = claim_result(family)
    return result.verdict, result.reason


def claim_result(family: Sequence[ComparisonResult]) -> ClaimResult:
    """A claim's :class:`ClaimResult` from its decided comparisons (the first one names it).

    Any comparison without data makes the claim ``no data`` (never a partial verdict); the
    comparisons that are not testable are left out, and a claim with nothing else is ``not
    testable``; the rest are aggregated by :func:`aggregate`.
    """
    first = family[0]
    verdicts = [r.decision.verdict for r in family]
    counts = {v: verdicts.count(v) for v in VERDICTS if v in verdicts}

    def result(verdict: Verdict, reason: str, reproduced: int = 0,
               tested: int = 0) -> ClaimResult:
        return ClaimResult(first.claim, first.text, first.experiment, first.source, verdict,
                           counts, reason, reproduced, tested)

    missing = [r for r in family if r.decision.verdict == Verdict.NO_DATA]
    if missing:
        return result(Verdict.NO_DATA, "no data for " + "; ".join(
            f"{r.comparison} ({r.note})" if r.note else r.comparison for r in missing))
    tested = [r for r in family if r.decision.verdict != Verdict.NOT_TESTABLE]
    untestable = [r for r in family if r.decision.verdict == Verdict.NOT_TESTABLE]
    if not tested:
        return result(Verdict.NOT_TESTABLE, f"not testable: {untestable[0].stats.not_testable}")
    tested_verdicts = [r.decision.verdict for r in tested]
    return result(aggregate(tested_verdicts), _reason(tested, untestable),
                  tested_verdicts.count(Verdict.REPRODUCED), len(tested))


def aggregate(verdicts: Sequence[str]) -> Verdict:
    """A claim's verdict from its comparisons' verdicts (the words of :class:`Verdict` are
    accepted as plain strings too), by the claim-level rules of the module docstring."""
    if not verdicts or Verdict.NO_DATA in verdicts:
        return Verdict.NO_DATA
    tested = [v for v in verdicts if v != Verdict.NOT_TESTABLE]
    if not tested:
        return Verdict.NOT_TESTABLE
    n, count = len(tested), tested.count
    if count(Verdict.REPRODUCED) == n:
        return Verdict.REPRODUCED
    if count(Verdict.AT_INIT) == n:
        return Verdict.AT_INIT
    if 2 * count(Verdict.REVERSED) > n:
        return Verdict.REVERSED
    if count(Verdict.EQUIVALENT) == n:
        return Verdict.EQUIVALENT
    return Verdict.PARTLY if count(Verdict.REPRODUCED) else Verdict.INCONCLUSIVE


def _reason(tested: Sequence[ComparisonResult], untestable: Sequence[ComparisonResult]) -> str:
    verdicts = [r.decision.verdict for r in tested]
    seeds = sorted({r.stats.n for r in tested})
    n_text = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    others = ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICTS
                       if v != Verdict.REPRODUCED and v in verdicts)
    parts = [f"{verdicts.count(Verdict.REPRODUCED)} of {len(tested)} comparisons reproduced"]
    parts += [f"the others: {others}"] if others else []
    parts.append(f"exact paired sign-flip test over {n_text} seeds, Holm within the claim, "
                 f"alpha {stats.ALPHA:g}")
    parts += _inconclusive_reason(tested) + _equivalent_reason(tested)
    if untestable:
        parts.append("not testable (" + untestable[0].stats.not_testable + "): "
                     + ", ".join(r.comparison for r in untestable))
    parts += _built_in_reason(tested)
    tiers = sorted({r.arms.test_labels for r in tested} - {None, "none"})
    if tiers:
        parts.append("the test protocol reads test labels (tier "
                     + " and ".join(map(str, tiers)) + ")")
    return "; ".join(parts) + "."


def _inconclusive_reason(tested: Sequence[ComparisonResult]) -> list[str]:
    """What effect the inconclusive comparisons could have found, or that none could."""
    quiet = [r for r in tested if r.decision.verdict == Verdict.INCONCLUSIVE
             and not math.isnan(r.decision.mde)]
    if not quiet:
        return []
    worst = max(quiet, key=lambda r: r.decision.mde)
    level = stats.ALPHA / len(tested)
    if math.isinf(worst.decision.mde):
        return [f"{worst.stats.n} seeds cannot reach p < {level:.2g} (the smallest possible p "
                f"is {stats.smallest_p(worst.stats.n):.3g}): underpowered"]
    return ["smallest effect detectable at 80% power: "
            f"{min(r.decision.mde for r in quiet):.3g}-{worst.decision.mde:.3g} "
            f"in {worst.arms.metric}"]


def _equivalent_reason(tested: Sequence[ComparisonResult]) -> list[str]:
    """The margins the equivalent comparisons were shown to lie within."""
    equal = [r for r in tested if r.decision.verdict == Verdict.EQUIVALENT]
    if not equal:
        return []
    widest = max(equal, key=lambda r: r.decision.margin)
    return [f"equivalent within ±{widest.decision.margin:.3g} in {widest.arms.metric} "
            "(the claim's margin relative to the claimed-worse arm; two one-sided exact "
            "sign-flip tests)"]


def _built_in_reason(tested: Sequence[ComparisonResult]) -> list[str]:
    """Where the claimed difference was there before training and training did not add it."""
    built_in = [(r, r.init, r.gain) for r in tested if r.decision.verdict == Verdict.AT_INIT]
    if not built_in:
        return []
    r, init, gain = built_in[0]
    if init is None or gain is None:  # a record read back without its effects
        return [f"the effect is already present at initialisation ({r.comparison})"]
    return [f"the effect is already present at initialisation ({r.comparison}: "
            f"{init.mean_diff:+.3g}, p = {init.p:.3g}; training changes it by "
            f"{gain.mean_diff:+.3g} [{gain.ci_low:+.3g}, {gain.ci_high:+.3g}], "
            "a t interval that includes 0): it comes from the architecture, not from "
            "learning"]


def summarise(results: Iterable[ComparisonResult]) -> list[ClaimResult]:
    """One result per claim (in first-seen order): its verdict, the reason, and how many
    comparisons went which way; from its end-step comparisons (the ``stage="auc"``
    learning-efficiency twins are a second endpoint, shown beside it by the headline)."""
    by_claim: dict[str, list[ComparisonResult]] = {}
    for res in results:
        if res.stage == "auc":  # the efficiency endpoint is reported beside, never pooled
            continue
        by_claim.setdefault(res.claim, []).append(res)
    return [claim_result(members) for members in by_claim.values()]
