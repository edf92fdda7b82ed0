"""The paper's figures as units: one module per figure (or figure family), one registry.

Each module of this package that defines ``UNIT`` (a :class:`~smoothlearn.figures.unit.
FigureUnit`) is found on first use; :func:`registry` lists the units in the paper's order and
:func:`get` finds one by id. Adding an experiment is one TOML in ``smoothlearn/configs/`` and
one module here (``docs/adding-an-experiment.md``); units defined elsewhere (a notebook, a
test) join with :func:`register`.
"""

from __future__ import annotations

import importlib
import pkgutil

from smoothlearn.figures.unit import FigureUnit

__all__ = ["FigureUnit", "registry", "get", "find", "register", "claim_units"]

_UNITS: dict[str, FigureUnit] = {}


def _discover() -> dict[str, FigureUnit]:
    if not _UNITS:
        for info in pkgutil.iter_modules(__path__):
            if info.name.startswith("_") or info.name in ("unit", "plotting"):
                continue
            unit = getattr(importlib.import_module(f"{__name__}.{info.name}"), "UNIT", None)
            if isinstance(unit, FigureUnit):
                _add(unit)
    return _UNITS


def _add(unit: FigureUnit) -> None:
    if unit.id in _UNITS and _UNITS[unit.id] is not unit:
        raise ValueError(f"two figure units are called {unit.id!r}")
    _UNITS[unit.id] = unit


def register(unit: FigureUnit) -> FigureUnit:
    """Add a unit defined outside this package; ``reproduce`` and ``report`` then use it."""
    _discover()
    _add(unit)
    return unit


def registry() -> tuple[FigureUnit, ...]:
    """Every unit, in the paper's order (Fig 2, Fig 3, A.1, ...; others last)."""
    return tuple(sorted(_discover().values(), key=lambda u: u.paper_position))


def claim_units() -> tuple[FigureUnit, ...]:
    """Every unit in the order its claims are checked and listed (``claim_order``)."""
    return tuple(sorted(registry(), key=lambda u: u.claim_order))


def find(unit_id: str) -> FigureUnit | None:
    return _discover().get(unit_id)


def get(unit_id: str) -> FigureUnit:
    unit = find(unit_id)
    if unit is None:
        raise KeyError(f"no figure unit {unit_id!r}; known: {', '.join(_discover())}")
    return unit
