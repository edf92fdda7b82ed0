"""Typed results of the claims and how they are decided: one place for every verdict.

A comparison's evidence is a vector of per-seed paired differences (positive = as claimed).
:func:`paired` summarises it (:class:`Paired`: seeds, mean, bootstrap CI, share, SD units,
exact sign-flip p); a :class:`ComparisonResult` (its :class:`Arms`, its :class:`Paired`
statistics and its :class:`Decision`) is one row of ``claims.json`` (serialised only by its
``to_record``); :func:`decide` gives the comparisons of one claim their verdicts, with
Holm across them; :func:`summarise` gives each claim a :class:`ClaimResult` with a verdict and
a reason. Curve claims (:mod:`smoothlearn.claims`), the autoencoder claims
(:mod:`smoothlearn.analysis`) and the robustness sweep all go through here.

Comparison verdicts:

* ``reproduced`` / ``reversed``: Holm-adjusted p < 0.05, for / against the claim;
* ``no detectable effect``: otherwise; ``mde`` is the smallest effect these seeds detect at
  80% power (inf when n seeds cannot reach the level at all: 5 seeds never reach p < 0.05);
* ``not testable``: the arms are one network by construction, or every paired difference is
  exactly 0;
* ``no data``: an arm has no runs. A claim with any ``no data`` comparison is ``no data``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any, Literal

import numpy as np

from smoothlearn import stats

__all__ = ["Verdict", "Effect", "Paired", "paired", "relative", "Arms", "Decision",
           "ComparisonResult", "ClaimResult", "decide", "claim_verdict", "aggregate",
           "summarise", "VERDICTS", "IDENTICAL"]


class Verdict(StrEnum):
    """Every verdict word, of a comparison (:func:`decide`) and of a claim
    (:func:`aggregate`). String-valued, so records and JSON hold the same words as before."""

    REPRODUCED = "reproduced"
    REVERSED = "reversed"
    NO_EFFECT = "no detectable effect"
    NOT_TESTABLE = "not testable"
    NO_DATA = "no data"
    #: Claim level only: some comparisons reproduced and none reversed.
    PARTLY = "partly reproduced"
    #: Claim level only: some comparisons reproduced and some reversed.
    MIXED = "mixed"


#: Verdicts of one comparison (:func:`decide`), in the order counts are listed.
VERDICTS = (Verdict.REPRODUCED, Verdict.REVERSED, Verdict.NO_EFFECT, Verdict.NOT_TESTABLE,
            Verdict.NO_DATA)


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Effect:
    """A paired difference over seeds (positive = as claimed), its 95% bootstrap CI and its
    exact sign-flip p: e.g. the same comparison at initialisation, or the gain from
    training."""

    mean_diff: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan


@dataclass(frozen=True)
class Paired:
    """The statistics of one paired comparison: the seeds used, the mean difference (positive
    = as claimed), its percentile-bootstrap 95% CI, the share of seeds pointing the claimed
    way, the SD of the differences and the mean in those units, the exact sign-flip p, and,
    when every difference is exactly 0, why the arms are not testable."""

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

    @property
    def effect(self) -> Effect:
        return Effect(self.mean_diff, self.ci_low, self.ci_high, self.p)


IDENTICAL = "paired differences all exactly 0: the arms compute the same network"


def paired(diff: np.ndarray, seeds: Sequence[int] | None = None, n_boot: int = stats.N_BOOT,
           seed: int = 0) -> Paired:
    """:class:`Paired` statistics of per-seed differences; non-finite seeds are dropped."""
    d = np.asarray(diff, np.float64)
    keep = np.isfinite(d)
    d = d[keep]
    used = None if seeds is None else tuple(int(s) for s in np.asarray(seeds)[keep])
    if d.size == 0:
        return Paired(seeds=used)
    boot = stats.bootstrap(d, n_boot=n_boot, seed=seed)
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    mean = float(d.mean())
    effect_sd = mean / sd if sd > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    return Paired(int(d.size), used, mean, boot.low, boot.high, float(np.mean(d > 0)), sd,
                  effect_sd if math.isfinite(sd) else math.nan, stats.signflip_p(d),
                  IDENTICAL if not d.any() else "")


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
    Holm-adjusted p, and the smallest mean difference these seeds detect at 80% power after
    Holm (inf: none)."""

    verdict: Verdict = Verdict.NO_DATA
    p_holm: float = math.nan
    mde: float = math.nan

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
        """The JSON record, in its fixed key order: identity, arms, statistics, decision,
        note, then the effects flattened (``init_mean_diff``, ``gain_ci_low``, ...);
        ``step_policy``/``lr``/``optimizer``/``model`` and the arm means and SDs only when set."""
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
                "p_holm": decision.p_holm, "mde": decision.mde,
                "not_testable": measured.not_testable, "verdict": str(decision.verdict),
                "note": self.note}
        for name, effect in (("init", self.init), ("gain", self.gain)):
            if effect is not None:
                out |= {f"{name}_{k}": v for k, v in asdict(effect).items()}
        return out


def _when_set(**values: Any) -> dict[str, Any]:
    """The optional record fields that have a value."""
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class ClaimResult:
    """One claim's verdict from its comparisons, why, and how many went which way."""

    claim: str
    text: str
    experiment: str
    source: str
    verdict: Verdict
    counts: Mapping[Verdict, int]
    reason: str = ""

    def to_record(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": str(self.verdict),
                               "counts": {str(v): n for v, n in self.counts.items()}}


def relative(mean_diff: float, reference: float) -> float:
    """``mean_diff`` as a fraction of the reference arm's mean (NaN where that is 0)."""
    if not (math.isfinite(reference) and reference):
        return math.nan
    return mean_diff / abs(reference)


# ----------------------------------------------------------------------------- verdicts
def decide(family: Sequence[ComparisonResult]) -> list[ComparisonResult]:
    """Verdicts for the comparisons of one claim: exact p Holm-adjusted within the claim.

    * ``no data``: no seed with both arms;
    * ``not testable``: the arms are the same network (by construction, or every paired
      difference is exactly 0); left out of the Holm family;
    * ``reproduced`` / ``reversed``: Holm-adjusted p < :data:`~smoothlearn.stats.ALPHA`,
      in / against the claimed direction;
    * ``no detectable effect``: otherwise; ``mde`` says what effect these seeds could have
      found (80% power at the Holm level of the family's first step, alpha / m).
    """
    testable = [r.stats.n > 0 and not r.stats.not_testable for r in family]
    adjusted = stats.holm([r.stats.p if t else math.nan for r, t in zip(family, testable,
                                                                        strict=True)])
    level = stats.ALPHA / max(sum(testable), 1)
    out = []
    for res, ok, p_holm in zip(family, testable, adjusted, strict=True):
        measured = res.stats
        if measured.n == 0:
            verdict = Verdict.NO_DATA
        elif not ok:
            verdict = Verdict.NOT_TESTABLE
        elif p_holm < stats.ALPHA:
            verdict = Verdict.REPRODUCED if measured.mean_diff > 0 else Verdict.REVERSED
        else:
            verdict = Verdict.NO_EFFECT
        mde = (stats.min_detectable_effect(measured.sd_diff, measured.n, level) if ok
               else math.nan)
        out.append(replace(res, decision=Decision(verdict, float(p_holm), mde)))
    return out


def claim_verdict(family: Sequence[ComparisonResult]) -> tuple[Verdict, str]:
    """One verdict for a claim from its decided comparisons, and the reason in words.

    Any comparison without data makes the claim ``no data`` (never a partial verdict); the
    comparisons that are not testable are left out, and a claim with nothing else is ``not
    testable``. Of the rest: all reproduced, ``reproduced``; some reproduced and none
    reversed, ``partly reproduced``; reproduced and reversed, ``mixed``; reversed and none
    reproduced, ``reversed``; else ``no detectable effect``.
    """
    missing = [r for r in family if r.decision.verdict == Verdict.NO_DATA]
    if missing:
        return Verdict.NO_DATA, "no data for " + "; ".join(
            f"{r.comparison} ({r.note})" if r.note else r.comparison for r in missing)
    tested = [r for r in family if r.decision.verdict != Verdict.NOT_TESTABLE]
    untestable = [r for r in family if r.decision.verdict == Verdict.NOT_TESTABLE]
    if not tested:
        return Verdict.NOT_TESTABLE, f"not testable: {untestable[0].stats.not_testable}"
    verdicts = [r.decision.verdict for r in tested]
    ups, downs = verdicts.count(Verdict.REPRODUCED), verdicts.count(Verdict.REVERSED)
    return aggregate(verdicts), _reason(tested, untestable, ups, downs)


def aggregate(verdicts: Sequence[str]) -> Verdict:
    """A claim's verdict from its comparisons' verdicts (the rules of :func:`claim_verdict`);
    the words of :class:`Verdict` are accepted as plain strings too."""
    if not verdicts or Verdict.NO_DATA in verdicts:
        return Verdict.NO_DATA
    tested = [v for v in verdicts if v != Verdict.NOT_TESTABLE]
    if not tested:
        return Verdict.NOT_TESTABLE
    ups, downs = tested.count(Verdict.REPRODUCED), tested.count(Verdict.REVERSED)
    if ups == len(tested):
        return Verdict.REPRODUCED
    if ups and downs:
        return Verdict.MIXED
    if downs:
        return Verdict.REVERSED
    return Verdict.PARTLY if ups else Verdict.NO_EFFECT


def _reason(tested: Sequence[ComparisonResult], untestable: Sequence[ComparisonResult],
            ups: int, downs: int) -> str:
    seeds = sorted({r.stats.n for r in tested})
    n_text = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    parts = [f"{ups} of {len(tested)} comparisons reproduced, {downs} reversed (paired "
             f"permutation test over {n_text} seeds, Holm within the claim, alpha "
             f"{stats.ALPHA:g})"]
    quiet = [r for r in tested if r.decision.verdict == Verdict.NO_EFFECT
             and not math.isnan(r.decision.mde)]
    if quiet:
        worst = max(quiet, key=lambda r: r.decision.mde)
        level = stats.ALPHA / len(tested)
        if math.isinf(worst.decision.mde):
            parts.append(f"{worst.stats.n} seeds cannot reach p < {level:.2g} (the smallest "
                         f"possible p is {stats.smallest_p(worst.stats.n):.3g}): underpowered")
        else:
            parts.append("smallest effect detectable at 80% power: "
                         f"{min(r.decision.mde for r in quiet):.3g}-{worst.decision.mde:.3g} "
                         f"in {worst.arms.metric}")
    if untestable:
        parts.append("not testable (" + untestable[0].stats.not_testable + "): "
                     + ", ".join(r.comparison for r in untestable))
    built_in = [r for r in tested if r.init is not None and r.init.p < stats.ALPHA
                and r.init.mean_diff > 0]
    if built_in:
        r = built_in[0]
        gain = "" if r.gain is None else (
            f"; training changes it by {r.gain.mean_diff:+.3g} "
            f"[{r.gain.ci_low:+.3g}, {r.gain.ci_high:+.3g}], p = {r.gain.p:.3g}")
        parts.append(f"the effect is already present at initialisation ({r.comparison}: "
                     f"{r.init.mean_diff:+.3g}, p = {r.init.p:.3g}{gain}): it comes from "
                     "the architecture, not from learning")
    tiers = sorted({r.arms.test_labels for r in tested} - {None, "none"})
    if tiers:
        parts.append("the test protocol reads test labels (tier "
                     + " and ".join(map(str, tiers)) + ")")
    return "; ".join(parts) + "."


def summarise(results: Iterable[ComparisonResult]) -> list[ClaimResult]:
    """One result per claim (in first-seen order): its verdict, the reason, and how many
    comparisons went which way."""
    by_claim: dict[str, list[ComparisonResult]] = {}
    for res in results:
        by_claim.setdefault(res.claim, []).append(res)
    out = []
    for claim, members in by_claim.items():
        verdicts = [m.decision.verdict for m in members]
        first = members[0]
        verdict, reason = claim_verdict(members)
        out.append(ClaimResult(
            claim, first.text, first.experiment, first.source, verdict,
            {v: verdicts.count(v) for v in VERDICTS if v in verdicts}, reason))
    return out
