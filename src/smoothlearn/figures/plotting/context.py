"""What a figure function needs besides its frame, in a module of its own so that the curve
helpers (:mod:`.plots`) and the captions (:mod:`.prose`) can both take it without importing
each other."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Context:
    """Smoothing and the exhaustion marker of one figure, as its caption reports them."""

    window: int = 0  # moving-average points; 0: the paper used none for this figure
    every: int = 0
    exhaustion: int | None = None
    notes: list[str] = field(default_factory=list)
