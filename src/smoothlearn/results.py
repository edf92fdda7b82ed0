"""The results store of a sweep: one directory, durable under ``kill -9`` at any moment.

Layout of ``DIR`` (see ``docs/sweeps.md``)::

    manifest.json            the planned runs (config + run_id) and a status snapshot
    runs/<run_id>.json       one record per finished run: status, message, config  (truth)
    curves/<run_id>.parquet  the run's evaluation curve (done and diverged runs only)

Every file is written to a temporary name in its own folder, flushed, then ``os.replace``-d,
so a reader sees the old file or the new one, never half of one. A curve is written before
its record, and a run counts as finished only when its record says so *and* its curve exists,
so a crash between the two just means the run is computed again. ``manifest.json`` is only a
snapshot: :func:`status` and :func:`load` always reread ``runs/``.

Reading is here (:func:`load`, :func:`summary`, :func:`status`, :func:`runs`); the sweep
(:mod:`smoothlearn.sweep`) writes through :class:`Store`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Store",
    "config_columns",
    "load",
    "summary",
    "status",
    "runs",
    "FRAME_COLUMNS",
    "STATUSES",
]

FORMAT = "smoothlearn-sweep/1"
MANIFEST = "manifest.json"
RUNS = "runs"
CURVES = "curves"
#: A finished run is one of these; ``failed`` runs are computed again on the next sweep.
FINISHED = ("done", "diverged")
STATUSES = (*FINISHED, "failed", "missing")
_HOST = socket.gethostname().replace(".", "-") or "host"
#: Temporary files older than this are leftovers of a killed writer and are removed.
STALE_TMP_SECONDS = 600

CURVE_COLUMNS = ["step", "test_mse", "test_ce", "test_acc"]
#: Resolved settings kept as columns (the names of ``reproduce.config_table``).
CONFIG_COLUMNS = [
    "task", "lr", "optimizer", "loss", "reset", "test_reset", "class_balance", "order_seed",
    "init_seed", "data_seed", "epochs", "steps", "eval_every", "eval_items", "hidden",
    "batch_size", "output", "leak_grad", "reset_groups", "leak", "dataset_params",
]
FRAME_COLUMNS = [
    "run_id", "experiment", "dataset", "model", "condition", "test_mode", "seed", "step",
    "test_mse", "test_ce", "test_acc", "diverged", *CONFIG_COLUMNS,
]
_DTYPES: dict[str, str] = {
    "seed": "int64", "step": "int64", "test_mse": "float64", "test_ce": "float64",
    "test_acc": "float64", "diverged": "bool", "lr": "float64", "order_seed": "int64",
    "init_seed": "int64", "data_seed": "int64", "epochs": "int64", "steps": "Int64",
    "eval_every": "int64", "eval_items": "Int64", "hidden": "int64", "batch_size": "int64",
    "reset_groups": "int64",
}
#: Config columns never used to group a summary: they vary with the seed by design.
_SEED_LIKE = {"seed", "order_seed", "init_seed", "data_seed", "run_id", "step"}
SUMMARY_KEYS = ["experiment", "dataset", "model", "condition", "test_mode"]


# ----------------------------------------------------------------------------- writing
def _fsync_dir(folder: Path) -> None:
    """Make a rename durable across power loss too (a no-op where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary name starts with a dot and ends in ``.tmp``, so no reader mistakes it for
    a finished file; ``os.replace`` within one folder is atomic.
    """
    tmp = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _writer_gone(tmp: Path, cutoff: float) -> bool:
    """Whether a temporary file's writer is gone: its process on this host has exited, or
    the file is older than :data:`STALE_TMP_SECONDS` (a writer on another host)."""
    parts = tmp.name.split(".")  # "", name..., host, pid, "tmp"
    if len(parts) >= 5 and parts[-3] == _HOST and parts[-2].isdigit():
        try:
            os.kill(int(parts[-2]), 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
    return tmp.stat().st_mtime < cutoff


def strict_json(value: Any) -> Any:
    """``value`` with NaN and inf as None and numpy scalars as Python ones: any JSON reader
    accepts the output (``json.dumps(..., allow_nan=False)`` does)."""
    if isinstance(value, Mapping):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_json(path: Path, payload: Any) -> None:
    text = json.dumps(payload, indent=1, sort_keys=True, allow_nan=False, default=str)
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def clean_curve(
    steps: np.ndarray, mse: np.ndarray, ce: np.ndarray, acc: np.ndarray, classify: bool
) -> tuple[pd.DataFrame, bool]:
    """The curve as a frame cut before its first non-finite number; True if it was cut.

    A diverged run's rows stop where it diverged; NaN is kept only where a metric does not
    apply (CE and accuracy of a reconstruction task).
    """
    frame = pd.DataFrame({
        "step": np.asarray(steps, np.int64),
        "test_mse": np.asarray(mse, np.float64),
        "test_ce": np.asarray(ce, np.float64),
        "test_acc": np.asarray(acc, np.float64),
    })
    checked = frame[["test_mse", "test_ce", "test_acc"] if classify else ["test_mse"]]
    bad = ~np.isfinite(checked.to_numpy()).all(axis=1)
    if not bad.any():
        return frame, False
    return frame.iloc[: int(np.argmax(bad))].reset_index(drop=True), True


class Store:
    """Writer of one sweep directory; all writes are atomic (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.root = Path(directory)
        self.runs_dir = self.root / RUNS
        self.curves_dir = self.root / CURVES

    def open(self) -> Store:
        """Create the folders and remove temporary files that a killed writer left behind."""
        if self.root.exists() and not self.root.is_dir():
            raise FileExistsError(f"{self.root}: exists and is not a directory")
        for folder in (self.root, self.runs_dir, self.curves_dir):
            folder.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TMP_SECONDS
        for folder in (self.root, self.runs_dir, self.curves_dir):
            for tmp in folder.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    if _writer_gone(tmp, cutoff):
                        tmp.unlink()
        return self

    def record_path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    def curve_path(self, run_id: str) -> Path:
        return self.curves_dir / f"{run_id}.parquet"

    def finished_ids(self) -> set[str]:
        """Runs that are done or diverged with their curve on disk: never computed again."""
        return {r["run_id"] for r in read_records(self.root) if _is_finished(self.root, r)}

    def write_run(self, record: Mapping[str, Any], curve: pd.DataFrame | None) -> None:
        """Curve first, record last: a record saying 'done' implies its curve is complete."""
        run_id = str(record["run_id"])
        if record["status"] in FINISHED:
            if curve is None:
                raise ValueError(f"run {run_id}: a {record['status']} run needs its curve")
            atomic_write(self.curve_path(run_id),
                         lambda tmp: curve.to_parquet(tmp, index=False, engine="pyarrow"))
        else:
            self.curve_path(run_id).unlink(missing_ok=True)
        _write_json(self.record_path(run_id), {"format": FORMAT, "finished": _now(), **record})

    def write_manifest(self, planned: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Merge ``planned`` runs ({run_id, config}) into the manifest with current statuses."""
        plan = {r["run_id"]: dict(r) for r in _manifest_runs(self.root)}
        for entry in planned:
            plan[entry["run_id"]] = {"run_id": entry["run_id"], "config": entry["config"]}
        table = _status_table(self.root, plan)
        by_id = {row["run_id"]: row for row in table}
        entries = []
        for run_id, entry in plan.items():
            row = by_id[run_id]
            entries.append({**entry, "status": row["status"], "message": row["message"]})
        counts = _count(table)
        _write_json(self.root / MANIFEST, {
            "format": FORMAT, "updated": _now(), "counts": counts, "runs": entries,
        })
        return counts


# ----------------------------------------------------------------------------- reading
def _check_dir(directory: str | os.PathLike[str]) -> Path:
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such results directory")
    if not (root / MANIFEST).is_file() and not (root / RUNS).is_dir():
        raise FileNotFoundError(f"{root}: not a sweep directory (no {MANIFEST} or {RUNS}/)")
    return root


def read_records(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every run record, sorted by run_id; unreadable ones (never written by us) skipped."""
    folder = Path(directory) / RUNS
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("run_id") == path.stem:
            out.append(record)
    return out


def _manifest_runs(root: Path) -> list[dict[str, Any]]:
    path = root / MANIFEST
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("runs", []))
    except (OSError, ValueError) as err:
        raise FileNotFoundError(f"{path}: unreadable manifest ({err})") from None


def _is_finished(root: Path, record: Mapping[str, Any]) -> bool:
    return record.get("status") in FINISHED and (
        root / CURVES / f"{record['run_id']}.parquet"
    ).is_file()


def _status_table(root: Path, plan: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per planned or recorded run: run_id, status, message, config."""
    records = {r["run_id"]: r for r in read_records(root)}
    rows = []
    for run_id in sorted(set(plan) | set(records)):
        record = records.get(run_id)
        if record is None or (record.get("status") in FINISHED
                              and not _is_finished(root, record)):
            state, message = "missing", ""
        else:
            state, message = str(record["status"]), str(record.get("message", ""))
        config = (record or {}).get("config") or plan.get(run_id, {}).get("config", {})
        rows.append({"run_id": run_id, "status": state, "message": message, "config": config})
    return rows


def _count(table: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for row in table:
        counts[row["status"]] += 1
    counts["total"] = sum(counts[s] for s in STATUSES)
    return counts


def runs(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per run of the store (planned or recorded): run_id, experiment, dataset, model,
    condition, test_mode, seed, status, message. Failed runs' messages are here."""
    root = _check_dir(directory)
    plan = {r["run_id"]: r for r in _manifest_runs(root)}
    rows = []
    for row in _status_table(root, plan):
        config = row["config"]
        rows.append({
            "run_id": row["run_id"],
            **{k: config.get(k) for k in SUMMARY_KEYS},
            "seed": config.get("seed"),
            "status": row["status"],
            "message": row["message"],
        })
    columns = ["run_id", *SUMMARY_KEYS, "seed", "status", "message"]
    return pd.DataFrame(rows, columns=columns)


def status(directory: str | os.PathLike[str]) -> dict[str, int]:
    """Counts of done, diverged, failed and missing (planned, not finished) runs, and total."""
    root = _check_dir(directory)
    plan = {r["run_id"]: r for r in _manifest_runs(root)}
    return _count(_status_table(root, plan))


def config_columns(config: Any) -> dict[str, Any]:
    """Label and resolved-setting columns of a run (a RunConfig), as stored in its record.

    Kept in the record rather than recomputed on load, so a table shows what actually ran
    even if a model preset changes later, and loading needs no torch import.
    """
    resolved = config.resolved()
    values = {k: resolved[k] for k in (*SUMMARY_KEYS, "seed")}
    values.update({k: resolved[k] for k in CONFIG_COLUMNS if k in resolved})
    values["test_reset"] = config.test_reset or resolved["reset"]
    values["leak"] = json.dumps(resolved["leak"])
    values["dataset_params"] = json.dumps(resolved["dataset_params"], sort_keys=True)
    return values


def _record_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    if "columns" in record:
        return dict(record["columns"])
    from smoothlearn.experiments import RunConfig  # a record without columns: recompute

    return config_columns(RunConfig(**record["config"]))


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "object")) for c in FRAME_COLUMNS})
    return frame


def load(directory: str | os.PathLike[str],
         run_ids: Collection[str] | None = None) -> pd.DataFrame:
    """The tidy table of a store: one row per finished run and evaluation step.

    ``run_ids`` reads only those runs: a store shared by many experiments need not be read
    whole for each of them.

    Columns: :data:`FRAME_COLUMNS` (labels, curve, ``diverged``, resolved settings; ``leak``
    and ``dataset_params`` as JSON text). Sorted by run_id, then step. Failed and missing
    runs have no rows (see :func:`runs` and :func:`status`).
    """
    root = _check_dir(directory)
    frames = []
    wanted = None if run_ids is None else set(run_ids)
    for record in read_records(root):
        if wanted is not None and record["run_id"] not in wanted:
            continue
        if not _is_finished(root, record):
            continue
        curve = pd.read_parquet(root / CURVES / f"{record['run_id']}.parquet")
        if curve.empty:
            continue
        values = {"run_id": record["run_id"], **_record_columns(record)}
        values["diverged"] = record["status"] == "diverged"
        frames.append(curve.assign(**values))
    if not frames:
        return empty_frame()
    frame = pd.concat(frames, ignore_index=True)[FRAME_COLUMNS]
    return frame.astype({c: t for c, t in _DTYPES.items() if c in frame.columns})


# ----------------------------------------------------------------------------- summary
def _sem(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def _group_keys(frame: pd.DataFrame) -> list[str]:
    """The summary's five keys, plus any other setting that varies *within* their groups (e.g.
    an lr grid), so runs with different settings are never averaged together."""
    keys = [k for k in SUMMARY_KEYS if k in frame.columns]
    candidates = [c for c in CONFIG_COLUMNS if c in frame.columns and c not in _SEED_LIKE]
    if not keys or not candidates or frame.empty:
        return keys
    spread = frame.groupby(keys, dropna=False)[candidates].nunique(dropna=False).max()
    return keys + [c for c in candidates if spread[c] > 1]


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, dataset, model, condition, test_mode): seeds, diverged runs, final
    step, and mean and SEM over seeds of each run's final test_mse and test_acc.

    A run's final value is its last evaluation; diverged runs count in ``n_diverged`` but not
    in the means (their last numbers are from before they blew up).
    """
    keys = _group_keys(frame)
    columns = [*keys, "n_seeds", "n_diverged", "final_step", "test_mse_mean", "test_mse_sem",
               "test_acc_mean", "test_acc_sem"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    last = frame.sort_values(["run_id", "step"]).groupby("run_id", sort=False).tail(1)
    rows = []
    for key, group in last.groupby(keys, dropna=False, sort=True):
        ok = group[~group["diverged"].astype(bool)]
        rows.append({
            **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
            "n_seeds": int(group["seed"].nunique()),
            "n_diverged": int(group["diverged"].astype(bool).sum()),
            "final_step": int(group["step"].max()),
            "test_mse_mean": float(ok["test_mse"].mean()) if len(ok) else math.nan,
            "test_mse_sem": _sem(ok["test_mse"]),
            "test_acc_mean": float(ok["test_acc"].mean()) if len(ok) else math.nan,
            "test_acc_sem": _sem(ok["test_acc"]),
        })
    return pd.DataFrame(rows, columns=columns)
