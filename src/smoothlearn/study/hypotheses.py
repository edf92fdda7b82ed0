"""Hypotheses declared in a study's TOML (``[[claims]]``), as the package's own claims.

A hypothesis is either a ``chain`` over one grid key (``by``, default ``condition``), best
first: ``chain = ["repeat-1", "random", "repeat-5"]`` claims repeat-1 < random < repeat-5 in
``metric``; or a pair of arm filters, ``better`` and ``worse``. ``where`` fixes columns for
every arm. ``step`` says where the curves are compared: ``"end"`` (end of epoch 1, before any
class runs out), ``"early"`` (a tenth of that) or ``"auc"`` (the metric averaged over training
up to that step). ``test_labels`` is the protocol tier the arms may use: ``"none"`` (the test
reads no test label: memory off, or a stream in its own or a random order with label-free
resets), ``"order"`` (a test stream ordered by its labels) or ``"resets"`` (label resets).
``margin`` (default 0.01) is the smallest effect of interest, relative to the worse arm's
mean: a difference shown to lie within it is ``equivalent``.

They become :class:`smoothlearn.claims.Claim` objects and are judged by the same code as the
paper's claims (exact paired tests, Holm within a claim, MDE, the same verdict words).
:class:`Hypotheses` also keeps their hash and when they were first declared, so a check can
say whether they were written before the runs finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smoothlearn.claims import TIERS, Claim, Comparison, beats, chain
from smoothlearn.experiments import ConfigError
from smoothlearn.verdicts import MARGIN

__all__ = ["Hypothesis", "Hypotheses", "parse", "load_file", "recorded", "record", "TIERS",
           "ARM_KEYS", "METRICS", "RECORD"]

METRICS = ("test_mse", "test_ce", "test_acc")
#: Columns an arm may filter on (those of ``smoothlearn.results.load``, curves excepted).
ARM_KEYS = (
    "experiment", "dataset", "model", "condition", "test_mode", "seed", "task", "lr",
    "optimizer", "loss", "reset", "test_reset", "class_balance", "epochs", "steps", "hidden",
    "batch_size", "output", "leak", "reset_groups", "dataset_params", "test_memory",
)
#: Settings whose store column is JSON text: filter values are compared in that form.
JSON_COLUMNS = ("leak", "dataset_params")
#: The file in a store where ``run`` records the hypotheses it was given.
RECORD = "hypotheses.json"


class Hypothesis(BaseModel):
    """One ``[[claims]]`` entry, checked where it is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    chain: list[Any] | None = None
    by: str = "condition"
    better: dict[str, Any] | None = None
    worse: dict[str, Any] | None = None
    where: dict[str, Any] = Field(default_factory=dict)
    metric: Literal["test_mse", "test_ce", "test_acc"] = "test_mse"
    step: Literal["end", "early", "auc"] = "end"
    test_labels: Literal["none", "order", "resets"] = "none"
    #: The smallest effect of interest relative to the worse arm's mean (equivalence test).
    margin: float = Field(default=MARGIN, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_form(self) -> Hypothesis:
        pair = self.better is not None or self.worse is not None
        if (self.chain is None) == (not pair):
            raise ValueError("give either chain = [...] or both better = {...} and "
                             "worse = {...}")
        if pair and (self.better is None or self.worse is None):
            raise ValueError("better and worse come together")
        if self.chain is not None and len(self.chain) < 2:
            raise ValueError("chain needs at least two values, best first")
        keys = [self.by] if self.chain is not None else []
        for arm in (self.where, self.better or {}, self.worse or {}):
            keys += list(arm)
        unknown = [k for k in keys if k not in ARM_KEYS]
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}; allowed: {', '.join(ARM_KEYS)}")
        return self

    def claim(self, experiment: str = "") -> Claim:
        """The package's :class:`Claim`; ``step="auc"`` compares the ``<metric>_auc`` column
        at the end step (:func:`smoothlearn.study.judge.add_auc`)."""
        where = _json_values(self.where)
        if self.chain is not None:
            comparisons: tuple[Comparison, ...] = chain(self.by, self.chain)
        else:
            better, worse = _json_values(self.better or {}), _json_values(self.worse or {})
            comparisons = (beats(better, worse, f"{_describe(better)} beats "
                                                f"{_describe(worse)}"),)
        metric = f"{self.metric}_auc" if self.step == "auc" else self.metric
        stage = "early" if self.step == "early" else "end"
        return Claim(id=self.id, text=self.text, experiment=experiment,
                     comparisons=tuple(_with_json(c) for c in comparisons), metric=metric,
                     stage=stage, source="your hypothesis", where=where, margin=self.margin)


def _describe(arm: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in arm.items()) or "all runs"


def _json_values(arm: Mapping[str, Any]) -> dict[str, Any]:
    """Filter values of JSON-text columns written as the store writes them."""
    return {k: json.dumps(v, sort_keys=True) if k in JSON_COLUMNS else v for k, v in arm.items()}


def _with_json(comp: Comparison) -> Comparison:
    return Comparison(_json_values(comp.better), _json_values(comp.worse), comp.label)


@dataclass(frozen=True)
class Hypotheses:
    """A study's hypotheses, their content hash, when first declared, and where from."""

    items: tuple[Hypothesis, ...]
    sha256: str
    declared_at: str
    source: str

    def claims(self, experiment: str = "") -> list[Claim]:
        return [h.claim(experiment) for h in self.items]

    def to_record(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "declared_at": self.declared_at, "source": self.source,
                "claims": [h.model_dump(exclude_none=True) for h in self.items]}


def parse(entries: Sequence[Mapping[str, Any]], source: str, declared_at: str) -> Hypotheses:
    """``[[claims]]`` entries as :class:`Hypotheses`; a ConfigError naming the claim and key."""
    items = []
    for index, entry in enumerate(entries):
        label = str(entry.get("id", f"#{index + 1}")) if isinstance(entry, Mapping) else "?"
        try:
            items.append(Hypothesis(**entry))
        except (ValidationError, TypeError) as err:
            raise ConfigError(f"{source}: claims[{label}]: {_first_error(err)}") from None
    ids = [h.id for h in items]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(f"{source}: claims: id {twice[0]!r} is used twice; ids are unique")
    if not items:
        raise ConfigError(f"{source}: no [[claims]]; declare at least one hypothesis")
    dump = json.dumps([h.model_dump() for h in items], sort_keys=True, default=str)
    return Hypotheses(tuple(items), hashlib.sha256(dump.encode()).hexdigest(), declared_at,
                      source)


def _first_error(err: Exception) -> str:
    if not isinstance(err, ValidationError):
        return str(err)
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = f"unknown key; allowed: {', '.join(Hypothesis.model_fields)}"
    return f"{key}: {msg}" if key else msg


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(os.path.getmtime(path), UTC).isoformat(timespec="seconds")


def load_file(path: str | os.PathLike[str]) -> Hypotheses:
    """The ``[[claims]]`` of a TOML file (a study's own, or one of claims alone); declared
    when the file was last written."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"claims file {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    entries = raw.get("claims", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: claims must be an array of tables ([[claims]])")
    return parse(entries, str(path), _mtime(path))


def recorded(directory: str | os.PathLike[str]) -> Hypotheses | None:
    """The hypotheses ``run`` recorded in a store, or None."""
    path = Path(directory) / RECORD
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    hyps = parse(raw["claims"], raw["source"], raw["declared_at"])
    return Hypotheses(hyps.items, raw["sha256"], raw["declared_at"], raw["source"])


def record(directory: str | os.PathLike[str], hyps: Hypotheses) -> Hypotheses:
    """Write ``hyps`` into a store before its runs start, keeping the first declaration time
    of the same hypotheses (a rerun of ``run`` does not move it); returns what is recorded."""
    from smoothlearn.results import atomic_write

    before = recorded(directory)
    if before is not None and before.sha256 == hyps.sha256:
        return before
    now = datetime.now(UTC).isoformat(timespec="seconds")
    declared = Hypotheses(hyps.items, hyps.sha256, min(now, hyps.declared_at), hyps.source)
    text = json.dumps(declared.to_record(), indent=1)
    atomic_write(Path(directory) / RECORD, lambda tmp: tmp.write_text(text))
    return declared
