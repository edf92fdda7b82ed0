"""The top-level package: cheap to import, main entry points reachable, typed."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import pytest

import smoothlearn


def test_import_is_cheap_and_entry_points_load_on_use():
    code = ("import sys, smoothlearn; heavy = {'torch', 'pandas', 'numba'} & set(sys.modules); "
            "assert not heavy, heavy; smoothlearn.LeakyMemory; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_config_layer_and_the_claims_load_no_torch():
    """Configs, orders, runs and claims are read by every command and by the store: they
    must not pay PyTorch's (or numba's) import, so a fresh interpreter checks."""
    code = ("import sys\n"
            "import smoothlearn.experiments, smoothlearn.streams, smoothlearn.claims\n"
            "import smoothlearn.verdicts, smoothlearn.runs, smoothlearn.families\n"
            "heavy = {'torch', 'numba'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name,module", [
    ("order", "smoothlearn.streams"), ("StreamSampler", "smoothlearn.sampler"),
    ("LeakyMemory", "smoothlearn.nn"), ("reset_flags", "smoothlearn.memory"),
    ("load", "smoothlearn.data"), ("make_config", "smoothlearn.experiments"),
    ("run_sweep", "smoothlearn.sweep"),
])
def test_main_entry_points_are_at_the_top_level(name, module):
    assert getattr(smoothlearn, name).__module__ == module
    assert name in dir(smoothlearn) and name in smoothlearn.__all__


def test_submodules_and_unknown_names():
    assert smoothlearn.results.load.__module__ == "smoothlearn.results"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        smoothlearn.nope  # noqa: B018


def test_the_package_declares_its_type_hints():
    assert resources.files("smoothlearn").joinpath("py.typed").is_file()
