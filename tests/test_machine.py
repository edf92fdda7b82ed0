"""smoothlearn.machine: the CPU's model, vector width and L2 as benchmarks print them and the
store records them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smoothlearn import machine
from smoothlearn.machine import CpuInfo, TrainedOn

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9454
flags\t\t: fpu avx2 avx512f

processor\t: 1
model name\t: another core
"""


def fake_cache(root: Path, l2_size: str, shared: str, siblings: str | None) -> Path:
    """A sysfs cpu0 folder with an L1 and an L2 entry."""
    for index, (level, size) in enumerate((("1", "48K"), ("2", l2_size))):
        folder = root / "cache" / f"index{index}"
        folder.mkdir(parents=True)
        (folder / "level").write_text(level + "\n")
        (folder / "size").write_text(size + "\n")
        (folder / "shared_cpu_list").write_text(shared + "\n")
    if siblings is not None:
        (root / "topology").mkdir()
        (root / "topology" / "thread_siblings_list").write_text(siblings + "\n")
    return root


def test_cpuinfo_fields_come_from_the_first_processor() -> None:
    fields = machine.parse_cpuinfo(CPUINFO)
    assert fields["model name"] == "AMD EPYC 9454" and fields["cpu family"] == "25"
    assert fields["model"] == "17"


@pytest.mark.parametrize("size,shared,siblings,expected", [
    ("1024K", "0", None, 1024),  # one L2 per core (AMD Zen, Intel Xeon)
    ("2048K", "0,64", "0,64", 2048),  # shared only by the core's two SMT threads
    ("2M", "0-3", "0", 512),  # one L2 for a cluster of four cores (some ARM chips)
])
def test_l2_per_core_divides_a_shared_cache_among_its_cores(
    tmp_path: Path, size: str, shared: str, siblings: str | None, expected: int
) -> None:
    assert machine.l2_per_core_kib(fake_cache(tmp_path, size, shared, siblings)) == expected


def test_l2_is_unknown_without_sysfs(tmp_path: Path) -> None:
    assert machine.l2_per_core_kib(tmp_path / "nowhere") is None


def test_the_line_names_model_vector_width_and_l2() -> None:
    info = CpuInfo("AMD EPYC", "x86_64", "znver3", "AuthenticAMD family 25 model 1", True,
                   False, 512, 2)
    line = info.line()
    assert line.startswith("CPU: AMD EPYC (AuthenticAMD family 25 model 1, LLVM znver3")
    assert "AVX2, L2 512 KiB per core" in line and "2 cores" in line
    wide = CpuInfo("Xeon", "x86_64", "sapphirerapids", "", True, True, None, 2)
    assert wide.features() == "AVX-512, L2 size unknown"


def test_this_machine_is_described() -> None:
    info = machine.cpu_info()
    assert info.model and info.llvm_name and info.cores >= 1
    assert info.line().startswith(f"CPU: {info.model}")


def test_a_run_record_names_the_cpu_and_the_device() -> None:
    here = TrainedOn.here()
    assert here.record() == {"cpu": f"{machine.cpu_info().model} ({machine.cpu_info().llvm_name})",
                             "cpu_features": machine.cpu_info().features(), "device": "cpu"}
    assert machine.device_name("cpu") == machine.device_name(None) == "cpu"


SCRIPTS = Path(__file__).parent.parent / "benchmarks"


@pytest.mark.parametrize("script", ["bench_conv.py", "bench_first_layer.py", "bench_moving.py",
                                    "bench_lstm_eval.py"])
def test_every_benchmark_script_starts_with_the_cpu(script: str) -> None:
    """Run with --help (nothing is timed): the CPU line comes before anything else."""
    done = subprocess.run([sys.executable, str(SCRIPTS / script), "--help"], check=True,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.splitlines()[0] == machine.cpu_info().line()


def test_the_shell_benchmark_and_the_module_print_the_same_line() -> None:
    assert "python -m smoothlearn.machine" in (SCRIPTS / "run_figA4.sh").read_text()
    done = subprocess.run([sys.executable, "-m", "smoothlearn.machine"], check=True,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == machine.cpu_info().line()
