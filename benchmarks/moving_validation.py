"""The moving experiment's tuning table: validation accuracy per setting, from a store.

Reads every run of a store trained by ``benchmarks/moving_validation.toml`` (or any run on a
``validation = true`` moving stream) and prints one markdown row per setting: the stream's
knobs, the optimiser, the training length and the final validation accuracy over the seeds
found (mean, then each seed). ``docs/moving-method.md`` copies its output unchanged.

Usage::

    smoothlearn run benchmarks/moving_validation.toml --out runs/moving-validation
    python benchmarks/moving_validation.py runs/moving-validation
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from smoothlearn import results

#: Settings that tell one row from another (the seed is what varies within a row).
ROW = ["family", "canvas", "speed", "frames", "stream", "optimizer", "lr", "steps"]


def _alpha(store: Path, run_id: str) -> float:
    """RMSprop's square-average decay, which the tidy table does not carry."""
    config = json.loads((store / results.RUNS / f"{run_id}.json").read_text())["config"]
    return float(config.get("rmsprop_alpha") or 0.99)


def table(store: Path) -> pd.DataFrame:
    """One row per setting: final validation accuracy, mean and per seed."""
    frame = results.load(store)
    params = frame["dataset_params"].map(json.loads)
    frame = frame[params.map(lambda p: bool(p.get("validation")))].copy()
    params = params[frame.index]
    final = frame[frame["step"] == frame.groupby("run_id")["step"].transform("max")].copy()
    p = params[final.index]
    final["family"] = final["model"].map(lambda m: "conv" if m.startswith("conv") else "MLP")
    final["canvas"] = p.map(lambda d: d.get("canvas", 36))
    final["speed"] = p.map(lambda d: d.get("speed", 1.0))
    final["frames"] = p.map(lambda d: d.get("frames", 10))
    final["stream"] = p.map(lambda d: d.get("steps", 60_000))
    final["optimizer"] = [
        f"RMSprop (alpha {_alpha(store, r)})" if o == "rmsprop" else "SGD"
        for r, o in zip(final["run_id"], final["optimizer"], strict=True)]
    final["steps"] = final["step"]
    final = final.sort_values("seed")
    rows = final.groupby(ROW).agg(
        seeds=("seed", "size"), accuracy=("test_acc", "mean"),
        each=("test_acc", lambda a: ", ".join(f"{v:.3f}" for v in a)))
    return rows.reset_index().sort_values(["family", "frames", "speed", "optimizer", "lr",
                                           "steps"], ascending=[False, False, False, True,
                                                                True, True])


def chosen() -> set[tuple]:
    """The experiment's own settings of the frame-level feedforward nets, as table rows."""
    from smoothlearn.experiments import load_experiment
    from smoothlearn.figures import moving

    key = json.loads(moving.stream_key("frame-level"))
    out = set()
    for r in load_experiment("moving").runs(seeds=1):
        if r.dataset_params == key and r.model.endswith("feedforward") and (
                str(r.condition) == "given"):
            optimizer = (f"RMSprop (alpha {float(r.rmsprop_alpha)})"
                         if r.optimizer == "rmsprop" else "SGD")
            out.add(("conv" if r.model.startswith("conv") else "MLP", key["canvas"],
                     key["speed"], key["frames"], key["steps"], optimizer, r.lr,
                     r.steps or key["steps"]))
    return out


def markdown(rows: pd.DataFrame) -> str:
    """The table, the experiment's chosen settings in bold."""
    head = ["family", "canvas", "px/frame", "frames/episode", "stream frames", "optimizer",
            "lr", "training steps", "seeds", "validation accuracy (each seed)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    picked = chosen()
    for r in rows.itertuples():
        mark = "**" if tuple(getattr(r, c) for c in ROW) in picked else ""
        lines.append(f"| {mark}{r.family}{mark} | {r.canvas} | {r.speed:g} | {r.frames} "
                     f"| {r.stream:,} | {r.optimizer} | {r.lr:g} | {r.steps:,} | {r.seeds} "
                     f"| {mark}{r.accuracy:.3f}{mark} ({r.each}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="the store the validation runs went to")
    print(markdown(table(parser.parse_args().store)))


if __name__ == "__main__":
    main()
