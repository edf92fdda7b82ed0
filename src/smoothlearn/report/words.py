"""The report's fixed words: the settings the paper left open, number formatting for the
tables, a comparison's test protocol in words, and the package versions of the environment."""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

#: Settings the paper leaves open, and what this reproduction chose (docs/model.md, data).
OPEN_SETTINGS: list[tuple[str, str, str]] = [
    ("Bias initialisation", "Xavier initialisation only", "Xavier-uniform weights (W1 then W2 "
     "from one seeded generator); biases zero"),
    ("Gradient through the leak", "“did not account for the fact that the neurons were leaky”",
     "H(n−1) detached; the current term keeps its (1−α) factor (leak_grad=\"exact\"); "
     "\"ignore\" drops it"),
    ("RMSprop β1, β2 = 0.9, 0.99", "two betas for a one-beta optimiser", "alpha = 0.99; "
     "momentum 0 by default (rmsprop_momentum offers 0.9); eps 1e-8; the paper's figures use "
     "SGD (the moving experiment's conv nets: RMSprop)"),
    ("MSE definition", "MSE loss", "mean over the output units (torch.nn.MSELoss)"),
    ("Exhausted categories", "unequal class sizes not discussed", "an exhausted class is "
     "skipped and the others keep cycling; claims are measured before the first class runs "
     "out (or class_balance=\"balanced\" cuts every class to the smallest)"),
    ("Test protocol of memory nets", "not stated", "test_mode: \"off\" (each item alone; "
     "default) or streamed (\"same\", \"repeat-1\", \"random\") with the run's resets on the "
     "test stream; label resets there read test labels, and every record says so"),
    ("Evaluation schedule", "curves vs training step", "the whole test set (or eval_items of "
     "it) at step 0, every eval_every steps and at the end"),
    ("Moving average", "100 iterations", "a trailing 100-step window, only where points are "
     "closer than 100 steps"),
    ("Mini-batches", "batches of 16", "16 consecutive items of the order per update; step "
     "counts items"),
    ("LSTM training", "LSTM with BPTT, same data and lr", "392 hidden units, per-sample "
     "updates, truncated BPTT over the last 10 items, MSE on softmax output"),
    ("A.11 reset aggregation", "element-wise inequality", "compared as L1 norms over each "
     "input group (reset_aggregate=\"sum\"); \"any\"/\"all\" available"),
    ("Synthetic A.2 data", "4 categories × 300 items of 16 features, low overlap",
     "disjoint 4-feature templates; exemplar = (template + U(0, 1)) / 2; test 100 per class"),
    ("Multi-timescale stream", "rows switch every 1, 3, 5 items; binary state + noise",
     "state flips at each multiple of the period; element = (state + U(0, 0.25)) / 1.25, both "
     "elements of a row equal; 3000 training and 500 test items"),
    ("Second multi-timescale set (A.12)", "“a different synthesized dataset”",
     "periods (1, 4, 8) and noise 0.4"),
    ("A.7 stream", "consecutive items share no features", "2 disjoint 2-feature "
     "sub-templates per class, alternating inside blocks of 4; U(0.5, 1) on the support"),
]


def package_versions() -> dict[str, str]:
    names = ["smoothlearn", "numpy", "torch", "numba", "pandas", "matplotlib", "pydantic",
             "pyarrow"]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def ci(rec: Mapping[str, Any]) -> str:
    lo, hi = rec.get("ci_low"), rec.get("ci_high")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{fmt(lo)}, {fmt(hi)}]"


def protocol_text(rec: Mapping[str, Any]) -> str:
    prot = rec.get("test_protocol")
    if not prot:
        return "—"
    if isinstance(prot, str):
        return prot
    if prot["better"] == prot["worse"]:
        return prot["better"]
    return f"{prot['better']} vs {prot['worse']}"


def run_time(meta: Mapping[str, Any]) -> str:
    """How long the results took to compute (the runs' own worker time, whenever they were
    trained) and, separately, how long this invocation took (short when it resumed)."""
    compute = meta.get("compute_seconds")
    spent = f"This invocation took {meta.get('seconds', 0):.0f} s."
    if compute is None:
        return spent
    return (f"The results took {compute / 60:.1f} min of worker time to compute (the runs' "
            f"own timings, whenever they were trained). {spent}")
