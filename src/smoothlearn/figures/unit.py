"""What one paper figure is: its experiment, its claims, how it is drawn, its quick settings.

A :class:`FigureUnit` is declared once, in its own module of :mod:`smoothlearn.figures`, and
``reproduce`` (planning, quick mode, which claims and analyses run) and ``report`` (which
figures are drawn, how, in which order) read everything from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from matplotlib.figure import Figure

from smoothlearn.claims import Claim, with_efficiency
from smoothlearn.figures.plotting.context import Context

#: Draws one figure from the experiment's results frame: (figure, caption).
CurveDraw = Callable[[pd.DataFrame, Context], tuple[Figure, str]]
#: Draws one figure from the hidden-unit analysis inputs (``{"configs", "curves", "table"}``).
AnalysisDraw = Callable[[Mapping[str, Any]], tuple[Figure, str]]
#: Claims checked on an analysis table (``analysis.analyse_runs``) and the unit's curves.
AnalysisClaims = Callable[[pd.DataFrame, pd.DataFrame], list[dict[str, Any]]]
#: Tables a unit adds to ``claims.json`` (name -> rows), from its results frame.
UnitTables = Callable[[pd.DataFrame], Mapping[str, list[dict[str, Any]]]]
#: A unit's one-paragraph answer to its question, from its results frame, its decided
#: comparisons and its tables (e.g. the moving experiment's), written into its report.
UnitAnswer = Callable[[pd.DataFrame, Sequence[Any], Mapping[str, Sequence[Mapping[str, Any]]]],
                      str]


@dataclass(frozen=True)
class QuickSettings:
    """How ``reproduce --quick`` shrinks an experiment: at most ``seeds`` seeds, config
    ``overrides`` for every run and ``per_model`` overrides on top (e.g. a smaller LSTM)."""

    seeds: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    per_model: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def apply(self, seeds: int) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
        """Seeds, overrides and per-model overrides for an experiment of ``seeds`` seeds."""
        return (seeds if self.seeds is None else min(seeds, self.seeds), dict(self.overrides),
                {m: dict(o) for m, o in self.per_model.items()})


#: MNIST nets in quick mode: a few thousand steps on a 1,000-item test subset, 3 seeds.
MNIST_QUICK = QuickSettings(seeds=3, overrides={"steps": 6000, "eval_every": 200,
                                                "eval_items": 1000})
#: Mini-batch runs are evaluated at batch boundaries: their schedule stays a multiple of 16.
MINIBATCH_QUICK = QuickSettings(seeds=3, overrides={**MNIST_QUICK.overrides, "eval_every": 320})
#: The LSTM (reference trainer, BPTT: ~1k steps/s) is shrunk and stopped early; its evaluation
#: grid stays a subset of the other models', so comparisons remain paired.
LSTM_QUICK = QuickSettings(seeds=3, overrides=MNIST_QUICK.overrides,
                           per_model={"lstm": {"hidden": 32, "steps": 1000}})
#: Synthetic sets are small enough to keep whole epochs: only fewer seeds.
SYNTHETIC_QUICK = QuickSettings(seeds=20)
AUTOENCODER_QUICK = QuickSettings(seeds=10)


@dataclass(frozen=True)
class Drawing:
    """One image of a unit. ``source="curves"`` draws from the results frame (``draw`` is a
    :data:`CurveDraw`); ``"analysis"`` from the hidden-unit analysis (an :data:`AnalysisDraw`).
    ``smoothed``: the paper's caption states a 100-step moving average. ``exhaustion``: mark
    where the first class of a repeat-N order runs out (MNIST's unequal classes)."""

    id: str
    title: str
    draw: Callable[..., tuple[Figure, str]]
    source: Literal["curves", "analysis"] = "curves"
    smoothed: bool = False
    exhaustion: bool = False


@dataclass(frozen=True)
class FigureUnit:
    """One paper figure (or figure family) declared once.

    ``id`` names the experiment in results and reports; ``experiment`` is the TOML to run: a
    built-in name (``smoothlearn/configs/<name>.toml``) or a path. ``paper_ref`` ("Fig 2",
    "A.13") orders the report like the paper. ``claim_order`` orders the claims table (the
    built-in units keep the order the claims were first published in; new units go last).
    ``extension=True``: an experiment beyond the paper. ``reproduce --quick`` leaves it out
    unless it is named (``--only``), its claims are listed only in reports that ran it, and a
    run of it alone is published as its own docs page (``docs/<id>.md``).
    """

    id: str
    paper_ref: str
    drawings: tuple[Drawing, ...]
    claims: tuple[Claim, ...] = ()
    analysis_claims: AnalysisClaims | None = None
    quick: QuickSettings = QuickSettings()
    experiment: str | Path = ""
    claim_order: float = float("inf")
    extension: bool = False
    #: Named tables the unit adds to ``claims.json`` beyond its claims (e.g. the moving
    #: experiment's ``reset_detection``), from its results frame.
    tables: UnitTables | None = None
    #: The one-paragraph answer the unit's page opens with (None: the unit has none).
    answer: UnitAnswer | None = None
    #: Where the learning-efficiency endpoint (``stage="auc"``) ends its area: None for the
    #: end of epoch 1 chosen by the step policy, or a declared early step.
    efficiency_end: int | None = None

    def __post_init__(self) -> None:
        if self.efficiency_end is not None and self.efficiency_end <= 0:
            raise ValueError(f"efficiency_end={self.efficiency_end}: a positive step, or None "
                             "for the end of epoch 1")

    @property
    def judged_claims(self) -> tuple[Claim, ...]:
        """The claims as reports judge them: each end-of-epoch claim also at the
        learning-efficiency endpoint (:func:`smoothlearn.claims.with_efficiency`)."""
        return with_efficiency(self.claims)

    @property
    def toml_source(self) -> str | Path:
        """What ``experiments.load_experiment`` loads: ``experiment``, else the built-in id."""
        return self.experiment or self.id

    @property
    def analysed(self) -> bool:
        """Whether the unit needs the hidden-unit analysis (final weights of its runs)."""
        return self.analysis_claims is not None or any(
            d.source == "analysis" for d in self.drawings)

    @property
    def paper_position(self) -> tuple[int, int, str]:
        """Main-text figures, then the appendix (A.n), then anything else, by number."""
        main = re.fullmatch(r"Fig (\d+)\w*", self.paper_ref)
        if main:
            return (0, int(main.group(1)), self.paper_ref)
        appendix = re.fullmatch(r"A\.(\d+)", self.paper_ref)
        if appendix:
            return (1, int(appendix.group(1)), self.paper_ref)
        return (2, 0, self.id)
