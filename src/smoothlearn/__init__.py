"""smoothlearn: learning from temporally smooth data streams.

The main entry points are importable from here::

    import smoothlearn
    X, y = smoothlearn.load("mnist")                     # a dataset (smoothlearn.data.load)
    idx = smoothlearn.order(y, "repeat-3", seed=0)        # a stream order (smoothlearn.streams)
    layer = smoothlearn.LeakyMemory(784, 392, leak=0.5)   # the paper's layer (smoothlearn.nn)
    frame = smoothlearn.results.load("runs/fig2")         # a sweep's results
    smoothlearn.run("study.toml", out="runs/study")       # your data, your hypotheses
    verdicts = smoothlearn.check("runs/study")            # ... judged (docs/your-own-study.md)

``docs/pytorch.md`` shows them in a training loop of your own.

They are loaded on first use (PEP 562), so ``import smoothlearn`` stays cheap: torch and
pandas are imported only when something that needs them is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "order": "smoothlearn.streams",
    "StreamSampler": "smoothlearn.sampler",
    "parse_condition": "smoothlearn.streams",
    "LeakyMemory": "smoothlearn.nn",
    "LeakyNet": "smoothlearn.nn",
    "reset_flags": "smoothlearn.memory",
    "load": "smoothlearn.data",
    "load_dataset": "smoothlearn.data",
    "make_config": "smoothlearn.experiments",
    "RunConfig": "smoothlearn.experiments",
    "run_sweep": "smoothlearn.sweep",
    "Dataset": "smoothlearn.data",
    "run": "smoothlearn.study",
    "check": "smoothlearn.study",
}
_SUBMODULES = ("data", "streams", "sampler", "memory", "nn", "train", "engine", "experiments",
               "families", "runs", "sweep", "results", "analysis", "claims", "report",
               "reproduce", "robustness", "study")

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]

if TYPE_CHECKING:  # what static type checkers see; at run time __getattr__ does the work
    from smoothlearn import results  # noqa: F401
    from smoothlearn.data import Dataset, load, load_dataset  # noqa: F401
    from smoothlearn.experiments import RunConfig, make_config  # noqa: F401
    from smoothlearn.memory import reset_flags  # noqa: F401
    from smoothlearn.nn import LeakyMemory, LeakyNet  # noqa: F401
    from smoothlearn.sampler import StreamSampler  # noqa: F401
    from smoothlearn.streams import order, parse_condition  # noqa: F401
    from smoothlearn.study import check, run  # noqa: F401
    from smoothlearn.sweep import run_sweep  # noqa: F401


def __getattr__(name: str) -> Any:
    """Import an entry point or submodule the first time it is asked for."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"smoothlearn.{name}")
    else:
        raise AttributeError(f"module 'smoothlearn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
