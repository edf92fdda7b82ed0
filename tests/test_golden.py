"""Golden outputs: a fixed small ``reproduce`` gives the same claims and curves across refactors.

The fixtures in ``tests/golden/`` were written by the code *before* a refactor (issue 11) and
must only be rewritten on purpose, when a change is meant to alter numbers or verdicts; the
commit that does so says why. Regenerate with::

    SMOOTHLEARN_DATA=... python tests/test_golden.py --write

What is compared: every claim record of ``claims.json`` (ids, verdicts, effect sizes, CIs, p),
the claim summary, each experiment's plan (seeds, overrides, run count, status), and every
curve point of every run in the store, keyed by run id (so run ids must not change either).
Timings, paths and progress messages are left out.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GOLDEN = Path(__file__).parent / "golden"
#: Synthetic classification, reconstruction, A.7 and the autoencoder family: no MNIST needed.
SYNTHETIC = ("figA1", "figA4", "figA7", "fig3", "figA13", "figA14")
#: A short MNIST run (quick mode: 3 seeds, 6,000 steps, 1,000 test items).
MNIST = ("fig2",)
CURVE_KEYS = ["run_id", "experiment", "model", "condition", "test_mode", "seed", "step"]
METRICS = ["test_mse", "test_ce", "test_acc"]
RUN_FIELDS = ("name", "figure", "title", "seeds", "overrides", "model_overrides", "runs",
              "status")


def _reproduce(out: Path, names: tuple[str, ...]) -> None:
    from smoothlearn.cli import main

    code = main(["reproduce", "--quick", "--quiet", "--no-robustness", "--workers", "2",
                 "--out", str(out), "--only", *names])
    assert code == 0


def snapshot(out: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The comparable part of a reproduce output folder: claims (no timings) and curves."""
    from smoothlearn import results

    data = json.loads((out / "claims.json").read_text())
    claims = {
        "records": data["records"],
        "summary": data["summary"],
        "experiments": [{k: e.get(k) for k in RUN_FIELDS} for e in data["experiments"]],
    }
    frame = results.load(out / "store")
    curves = (frame[CURVE_KEYS + METRICS].sort_values(["run_id", "step"])
              .reset_index(drop=True))
    return claims, curves


def _paths(name: str) -> tuple[Path, Path]:
    return GOLDEN / f"{name}-claims.json", GOLDEN / f"{name}-curves.csv.gz"


def write(name: str, out: Path) -> None:
    claims, curves = snapshot(out)
    GOLDEN.mkdir(exist_ok=True)
    claims_path, curves_path = _paths(name)
    claims_path.write_text(json.dumps(claims, indent=1, sort_keys=True) + "\n")
    text = curves.to_csv(index=False, float_format="%.9g")
    with gzip.GzipFile(curves_path, "wb", mtime=0) as fh:
        fh.write(text.encode())


def _same(expected: Any, actual: Any, where: str) -> None:
    """Recursive equality; floats to 1e-7 relative (JSON round trip), NaN equals NaN."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert sorted(expected) == sorted(actual), f"{where}: keys differ"
        for key in expected:
            _same(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{where}: length"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _same(e, a, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool) and isinstance(
            actual, (int, float)):
        if math.isnan(expected):
            assert math.isnan(actual), f"{where}: {actual} != nan"
        else:
            assert math.isclose(expected, actual, rel_tol=1e-7, abs_tol=1e-12), (
                f"{where}: {actual} != {expected}")
    else:
        assert expected == actual, f"{where}: {actual!r} != {expected!r}"


def check(name: str, out: Path) -> None:
    claims_path, curves_path = _paths(name)
    expected_claims = json.loads(claims_path.read_text())
    claims, curves = snapshot(out)
    _same(expected_claims, json.loads(json.dumps(claims, sort_keys=True)), name)
    expected = pd.read_csv(io.BytesIO(gzip.decompress(curves_path.read_bytes())),
                           dtype={"run_id": str})
    assert len(curves) == len(expected), f"{name}: {len(curves)} curve points, not {len(expected)}"
    for key in CURVE_KEYS:
        got, want = curves[key].astype(str).to_numpy(), expected[key].astype(str).to_numpy()
        assert (got == want).all(), f"{name}: curve column {key} differs"
    for metric in METRICS:
        np.testing.assert_allclose(curves[metric].to_numpy(float),
                                   expected[metric].to_numpy(float), rtol=1e-6, atol=1e-9,
                                   err_msg=f"{name}: {metric}")


def test_synthetic_reproduce_matches_the_golden_output(tmp_path):
    _reproduce(tmp_path / "out", SYNTHETIC)
    check("synthetic", tmp_path / "out")


def test_mnist_reproduce_matches_the_golden_output(tmp_path, mnist_available):
    _reproduce(tmp_path / "out", MNIST)
    check("mnist", tmp_path / "out")


if __name__ == "__main__":  # regenerate the fixtures: only on purpose, see the docstring
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/test_golden.py --write")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for label, names in (("synthetic", SYNTHETIC), ("mnist", MNIST)):
            _reproduce(Path(tmp) / label, names)
            write(label, Path(tmp) / label)
            print(f"wrote {label}")
