"""The report's own input types: what the study that ran the experiments hands the renderings
(:mod:`~smoothlearn.report.html`, :mod:`~smoothlearn.report.markdown`). They live here, not in
:mod:`smoothlearn.reproduce`, so the report never imports the study above it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExperimentInfo"]


@dataclass
class ExperimentInfo:
    """One experiment as planned and run: its TOML, the overrides used, and how it went."""

    name: str
    figure: str = ""
    title: str = ""
    toml: str = ""
    seeds: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: int = 0
    status: str = "pending"  # ok, failed, skipped
    message: str = ""
    seconds: float = 0.0
