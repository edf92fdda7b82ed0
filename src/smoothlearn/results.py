"""The results store of a sweep: one directory, durable under ``kill -9`` at any moment.

Layout of ``DIR`` (see ``docs/sweeps.md``)::

    manifest.json            the planned runs (config + run_id) and a status snapshot
    runs/<run_id>.json       one record per finished run: status, message, config  (truth)
    curves/<run_id>.parquet  the run's evaluation curve (done and diverged runs only)
    claims/<run_id>.claim    the sweep process computing the run right now (see Store.claim)

Every file is written to a temporary name in its own folder, flushed, then ``os.replace``-d,
so a reader sees the old file or the new one, never half of one. A curve is written before
its record, and a run counts as finished only when its record says so *and* its curve exists,
so a crash between the two just means the run is computed again. ``manifest.json`` is only a
snapshot: :func:`status` and :func:`load` always reread ``runs/``.

Nothing is dropped silently: a record or curve that cannot be read is a :class:`Problem`,
listed by :func:`problems` and :func:`status_table` (status ``corrupt``), warned about by
:func:`load` (:class:`StoreWarning`), and computed again by the next sweep.

Reading is here (:func:`load`, :func:`summary`, :func:`status`, :func:`status_table`); the sweep
(:mod:`smoothlearn.sweep`) writes through :class:`Store`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from smoothlearn import runclaims
from smoothlearn.experiments import RunConfig

__all__ = [
    "Store",
    "Problem",
    "StoreWarning",
    "NoFinishedRuns",
    "config_columns",
    "load",
    "problems",
    "summary",
    "status",
    "status_table",
    "FRAME_COLUMNS",
    "STATUSES",
]

FORMAT = "smoothlearn-sweep/1"
MANIFEST = "manifest.json"
RUNS = "runs"
CURVES = "curves"
CLAIMS = "claims"
#: A finished run is one of these; every other run is computed again on the next sweep:
#: ``failed`` (its error recorded), ``corrupt`` (its record or curve cannot be read),
#: ``running`` (claimed by a live sweep process right now) and ``missing`` (not recorded).
FINISHED = ("done", "diverged")
STATUSES = (*FINISHED, "failed", "corrupt", "running", "missing")
_HOST = socket.gethostname().replace(".", "-") or "host"
#: Temporary files older than this are leftovers of a killed writer and are removed.
STALE_TMP_SECONDS = 600

CURVE_COLUMNS = ["step", "test_mse", "test_ce", "test_acc"]
#: Resolved settings kept as columns (the names of ``reproduce.config_table``).
CONFIG_COLUMNS = [
    "task", "lr", "optimizer", "loss", "reset", "test_reset", "class_balance", "order_seed",
    "init_seed", "data_seed", "epochs", "steps", "eval_every", "eval_items", "hidden",
    "batch_size", "output", "leak_grad", "reset_groups", "leak", "dataset_params",
    "test_memory", "test_leak",
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
    "reset_groups": "int64", "test_leak": "float64",
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
    """Writer of one sweep directory; all writes are atomic (see the module docstring).

    Several sweep processes may share a store: each :meth:`claim`-s the runs it will compute
    and the others skip them (:mod:`smoothlearn.runclaims`).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.root = Path(directory)
        self.runs_dir = self.root / RUNS
        self.curves_dir = self.root / CURVES
        self.claims = runclaims.Claims(self.root / CLAIMS)

    def open(self) -> Store:
        """Create the folders and remove temporary files that a killed writer left behind."""
        if self.root.exists() and not self.root.is_dir():
            raise FileExistsError(f"{self.root}: exists and is not a directory")
        for folder in (self.root, self.runs_dir, self.curves_dir, self.claims.folder):
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

    def scan(self, wanted: Collection[str] | None = None) -> tuple[set[str], list[Problem]]:
        """Runs that are done or diverged with a readable curve (never computed again), and
        the runs whose files cannot be used (computed again; see :func:`problems`); of
        ``wanted`` runs only, when given (a sweep need not read a big store's other runs)."""
        survey = _survey(self.root, wanted)
        return survey.finished, sorted(survey.problems.values(), key=lambda p: p.run_id)

    def claim(self, run_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Claim unfinished runs for this process: ``(claimed, held by another live process)``.

        :meth:`write_run` lets go of a run's claim once its record is on disk; call
        ``claims.release_all()`` when the sweep ends.
        """
        return self.claims.take(run_ids, self._is_finished)

    def _is_finished(self, run_id: str) -> bool:
        try:
            record = _read_record(self.record_path(run_id))
            if record["status"] not in FINISHED:
                return False
            _read_curve(self.curve_path(run_id), record["status"])
        except ValueError:
            return False
        return True

    def write_run(self, record: Mapping[str, Any], curve: pd.DataFrame | None) -> None:
        """Curve first, record last: a record saying 'done' implies its curve is complete.
        The run's claim (if this process holds one) goes once the record is on disk."""
        run_id = str(record["run_id"])
        if record["status"] in FINISHED:
            if curve is None:
                raise ValueError(f"run {run_id}: a {record['status']} run needs its curve")
            atomic_write(self.curve_path(run_id),
                         lambda tmp: curve.to_parquet(tmp, index=False, engine="pyarrow"))
        else:
            self.curve_path(run_id).unlink(missing_ok=True)
        _write_json(self.record_path(run_id), {"format": FORMAT, "finished": _now(), **record})
        self.claims.release(run_id)

    def write_manifest(self, planned: Iterable[Mapping[str, Any]],
                       refresh: Collection[str] | None = None) -> dict[str, int]:
        """Merge ``planned`` runs ({run_id, config}) into the manifest with current statuses.

        ``refresh`` names the runs whose status is read from their files; the others keep the
        status the manifest holds. A sweep refreshes its own runs only, so that a store of
        thousands of runs is not read whole before and after every experiment (``None``: read
        every run)."""
        with self.claims.store_lock():
            known = {r["run_id"]: dict(r) for r in _manifest_runs(self.root)}
            plan = {run_id: {"run_id": run_id, "config": r.get("config", {})}
                    for run_id, r in known.items()}
            for entry in planned:
                plan[entry["run_id"]] = {"run_id": entry["run_id"], "config": entry["config"]}
            table = self._statuses(plan, known, refresh)
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

    def _statuses(self, plan: Mapping[str, Mapping[str, Any]],
                  known: Mapping[str, Mapping[str, Any]],
                  refresh: Collection[str] | None) -> list[dict[str, Any]]:
        """Status rows: read from the files for ``refresh`` (all when None), else as known."""
        if refresh is None:
            return _status_table(self.root, plan)
        wanted = set(refresh)
        fresh = _status_table(self.root, {k: v for k, v in plan.items() if k in wanted},
                              _survey(self.root, wanted))
        seen = {row["run_id"] for row in fresh}
        kept = [{"run_id": k, "status": known.get(k, {}).get("status", "missing"),
                 "message": known.get(k, {}).get("message", ""), "config": v.get("config", {})}
                for k, v in plan.items() if k not in seen]
        return fresh + kept


# ----------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Problem:
    """A run whose record or curve cannot be used; left out of tables and recomputed."""

    run_id: str
    path: Path
    status: str  # "corrupt" (unreadable file) or "missing" (a finished record lost its curve)
    error: str

    def __str__(self) -> str:
        return f"{self.path}: {self.error}"


class StoreWarning(UserWarning):
    """Some runs of a store were left out of a table; ``problems`` says which and why."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.problems = problems


class NoFinishedRuns(ValueError):
    """A store holds runs but none of them finished: not an empty success."""


def _check_dir(directory: str | os.PathLike[str]) -> Path:
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such results directory")
    if not (root / MANIFEST).is_file() and not (root / RUNS).is_dir():
        raise FileNotFoundError(f"{root}: not a sweep directory (no {MANIFEST} or {RUNS}/)")
    return root


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]


def _read_record(path: Path) -> dict[str, Any]:
    """One run record; raises ValueError (with the reason) if it is not one of ours."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(_error_text(err)) from None
    if not isinstance(record, dict) or record.get("run_id") != path.stem:
        raise ValueError("not a run record (its run_id does not match the file name)")
    if record.get("status") not in (*FINISHED, "failed"):
        raise ValueError(f"unknown status {record.get('status')!r}")
    return record


def _read_curve(path: Path, status: str) -> pa.Table:
    """A finished run's curve, read whole (pyarrow: ten times faster than pandas, and every
    sweep checks every curve); raises ValueError (with the reason) if it cannot be used."""
    try:
        with pq.ParquetFile(path) as handle:
            curve = handle.read()
    except Exception as err:  # pyarrow raises its own types for truncated or foreign files
        raise ValueError(_error_text(err)) from None
    if curve.column_names != CURVE_COLUMNS:
        raise ValueError(f"not a curve (columns {curve.column_names})")
    if curve.num_rows == 0 and status == "done":  # only a run diverged at once has no points
        raise ValueError("the curve of a done run has no rows")
    return curve


@dataclass
class _Survey:
    """What the store's files say: readable records, usable curves, and every problem."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    curves: dict[str, pa.Table] = field(default_factory=dict)
    problems: dict[str, Problem] = field(default_factory=dict)

    @property
    def finished(self) -> set[str]:
        return set(self.curves)


def _survey(root: Path, wanted: Collection[str] | None = None) -> _Survey:
    """Read every record (of ``wanted`` runs) and every finished run's curve, once."""
    survey = _Survey()
    folder = root / RUNS
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        run_id = path.stem
        if wanted is not None and run_id not in wanted:
            continue
        try:
            record = _read_record(path)
        except ValueError as err:
            survey.problems[run_id] = Problem(run_id, path, "corrupt", str(err))
            continue
        survey.records[run_id] = record
        if record["status"] not in FINISHED:
            continue
        curve_path = root / CURVES / f"{run_id}.parquet"
        if not curve_path.is_file():
            survey.problems[run_id] = Problem(run_id, curve_path, "missing",
                                              f"the {record['status']} run's curve is missing")
            continue
        try:
            survey.curves[run_id] = _read_curve(curve_path, record["status"])
        except ValueError as err:
            survey.problems[run_id] = Problem(run_id, curve_path, "corrupt", str(err))
    return survey


def _manifest_runs(root: Path) -> list[dict[str, Any]]:
    path = root / MANIFEST
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("runs", []))
    except (OSError, ValueError) as err:
        raise FileNotFoundError(f"{path}: unreadable manifest ({err})") from None


def _status_table(root: Path, plan: Mapping[str, Mapping[str, Any]],
                  survey: _Survey | None = None) -> list[dict[str, Any]]:
    """One row per planned or recorded run: run_id, status, message, config."""
    survey = survey or _survey(root)
    running = runclaims.running(root / CLAIMS)
    rows = []
    for run_id in sorted(set(plan) | set(survey.records) | set(survey.problems) | running):
        record = survey.records.get(run_id)
        problem = survey.problems.get(run_id)
        if problem is not None:
            state, message = problem.status, str(problem)
        elif record is None:
            state, message = "missing", ""
        else:
            state, message = str(record["status"]), str(record.get("message", ""))
        if state in ("missing", "corrupt", "failed") and run_id in running:
            state = "running"
        config = (record or {}).get("config") or plan.get(run_id, {}).get("config", {})
        rows.append({"run_id": run_id, "status": state, "message": message, "config": config})
    return rows


def _count(table: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for row in table:
        counts[row["status"]] += 1
    counts["total"] = sum(counts[s] for s in STATUSES)
    return counts


def status_table(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per run of the store (planned or recorded): run_id, experiment, dataset, model,
    condition, test_mode, seed, status (one of :data:`STATUSES`) and message (a failed run's
    error, or the unreadable file and why)."""
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
    """Counts of runs per status (:data:`STATUSES`) and their total."""
    root = _check_dir(directory)
    plan = {r["run_id"]: r for r in _manifest_runs(root)}
    return _count(_status_table(root, plan))


def training_seconds(directory: str | os.PathLike[str], run_ids: Collection[str]) -> float:
    """Worker seconds the store's records say these runs took (each run's share of its
    batch's wall time): what the results cost to compute, whenever they were computed, as
    opposed to how long a (resumed) invocation took."""
    store = Store(directory)
    total = 0.0
    for run_id in run_ids:
        path = store.record_path(run_id)
        if path.is_file():
            try:
                total += float(_read_record(path).get("seconds") or 0.0)
            except (OSError, ValueError):  # unreadable records are reported elsewhere
                continue
    return total


def problems(directory: str | os.PathLike[str],
             run_ids: Collection[str] | None = None) -> list[Problem]:
    """Every run (of ``run_ids``) whose record or curve cannot be used, with the reason."""
    wanted = None if run_ids is None else set(run_ids)
    return sorted(_survey(_check_dir(directory), wanted).problems.values(),
                  key=lambda p: p.run_id)


def config_columns(config: RunConfig) -> dict[str, Any]:
    """Label and resolved-setting columns of a run (a RunConfig), as stored in its record.

    Kept in the record rather than recomputed on load, so a table shows what actually ran
    even if a model preset changes later.
    """
    spec = config.spec()
    resolved = spec.record()
    values = {k: resolved[k] for k in (*SUMMARY_KEYS, "seed")}
    values.update({k: resolved[k] for k in CONFIG_COLUMNS if k in resolved})
    values["test_reset"] = str(spec.eval_reset)
    values["leak"] = json.dumps(resolved["leak"])
    values["dataset_params"] = json.dumps(resolved["dataset_params"], sort_keys=True)
    values["test_memory"], values["test_leak"] = spec.test_memory, spec.test_leak
    return values


def _record_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    if "columns" in record:
        return dict(record["columns"])
    return config_columns(RunConfig(**record["config"]))


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "object")) for c in FRAME_COLUMNS})
    return frame


def _warn_problems(root: Path, found: list[Problem]) -> None:
    shown = "; ".join(str(p) for p in found[:3]) + ("; ..." if len(found) > 3 else "")
    warnings.warn(StoreWarning(
        f"{root}: {len(found)} run(s) left out, their files cannot be used (the next sweep "
        f"computes them again; results.status_table lists them): {shown}", found,
    ), stacklevel=3)


def load(directory: str | os.PathLike[str],
         run_ids: Collection[str] | None = None) -> pd.DataFrame:
    """The tidy table of a store: one row per finished run and evaluation step.

    ``run_ids`` reads only those runs: a store shared by many experiments need not be read
    whole for each of them.

    Columns: :data:`FRAME_COLUMNS` (labels, curve, ``diverged``, resolved settings; ``leak``
    and ``dataset_params`` as JSON text). Sorted by run_id, then step. Failed and missing
    runs have no rows (see :func:`status_table`); runs whose files cannot be read have none
    either, and a :class:`StoreWarning` lists them. A whole store (no ``run_ids``) that holds
    runs of which none finished raises :class:`NoFinishedRuns` rather than look empty.
    """
    root = _check_dir(directory)
    survey = _survey(root, None if run_ids is None else set(run_ids))
    if survey.problems:
        _warn_problems(root, sorted(survey.problems.values(), key=lambda p: p.run_id))
    curves, labels = [], []
    for run_id, curve in sorted(survey.curves.items()):
        if curve.num_rows == 0:
            continue
        record = survey.records[run_id]
        labels.append({"run_id": run_id, **_record_columns(record),
                       "diverged": record["status"] == "diverged"})
        curves.append(curve)
    if not curves:
        if run_ids is None:
            _check_some_finished(root, survey)
        return empty_frame()
    frame = _curves_with_labels(curves, labels).reindex(columns=FRAME_COLUMNS)
    # records written before memory could be switched on only at test had none
    frame["test_memory"] = frame["test_memory"].fillna("none")
    return frame.astype({c: t for c, t in _DTYPES.items() if c in frame.columns})


def _curves_with_labels(curves: list[pa.Table], labels: list[dict[str, Any]]) -> pd.DataFrame:
    """The curves one under another, each row with its run's labels and settings.

    Why not one ``assign`` per run: that wrote every label column of every run on its own,
    about 30 columns x the store's runs, 9 of the 30 seconds after the training in
    ``reproduce --quick``. Here each label is written once per run and repeated down the
    run's rows.
    """
    rows = pd.DataFrame.from_records(labels)
    rows = rows.iloc[np.repeat(np.arange(len(labels)), [c.num_rows for c in curves])]
    points = pa.concat_tables(curves, promote_options="default").to_pandas()
    return pd.concat([points, rows.reset_index(drop=True)], axis=1)


def _check_some_finished(root: Path, survey: _Survey) -> None:
    if survey.finished:
        return
    counts = _count(_status_table(root, {r["run_id"]: r for r in _manifest_runs(root)}, survey))
    if counts["total"]:
        listed = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        raise NoFinishedRuns(f"{root}: none of its {counts['total']} runs finished ({listed}); "
                             "results.status_table lists them with their errors")


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


def _natural(value: Any) -> tuple:
    """Sort key reading digit runs in names as numbers: ``repeat-3`` before ``repeat-10``;
    numbers sort by value, missing values last."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return (2,) if math.isnan(value) else (0, float(value))
    if value is None:
        return (2,)
    parts = re.split(r"(\d+)", str(value))
    return (1, tuple(int(p) if i % 2 else p for i, p in enumerate(parts)))


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, dataset, model, condition, test_mode): seeds, diverged runs, final
    step, and mean and SEM over seeds of each run's final test_mse, test_ce and test_acc.

    A run's final value is its last evaluation; diverged runs count in ``n_diverged`` but not
    in the means (their last numbers are from before they blew up). Rows are sorted with
    numbers inside names read as numbers (``repeat-3`` before ``repeat-10``).
    """
    keys = _group_keys(frame)
    metrics = ["test_mse", "test_ce", "test_acc"]
    columns = [*keys, "n_seeds", "n_diverged", "final_step",
               *[f"{m}_{s}" for m in metrics for s in ("mean", "sem")]]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    last = frame.sort_values(["run_id", "step"]).groupby("run_id", sort=False).tail(1)
    rows = []
    for key, group in last.groupby(keys, dropna=False, sort=False):
        ok = group[~group["diverged"].astype(bool)]
        row = {
            **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
            "n_seeds": int(group["seed"].nunique()),
            "n_diverged": int(group["diverged"].astype(bool).sum()),
            "final_step": int(group["step"].max()),
        }
        for metric in metrics:
            row[f"{metric}_mean"] = float(ok[metric].mean()) if len(ok) else math.nan
            row[f"{metric}_sem"] = _sem(ok[metric])
        rows.append(row)
    rows.sort(key=lambda row: tuple(_natural(row[k]) for k in keys))
    return pd.DataFrame(rows, columns=columns)
