"""Which machine ran this: the CPU's model, vector width and L2 cache, and the torch device.

Speed depends on the CPU (AVX-512 or AVX2, L2 per core), so every benchmark prints
:meth:`CpuInfo.line` at its top and every stored run records :class:`TrainedOn`. Vector
features come from LLVM's view of the host (the compiler numba uses, so they are the ones the
kernels can use), on any OS; the model name and cache sizes from Linux's ``/proc`` and
``/sys`` where present, else what :mod:`platform` knows.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["CpuInfo", "TrainedOn", "cpu_info", "device_name", "parse_cpuinfo", "l2_per_core_kib"]

CPUINFO = Path("/proc/cpuinfo")
CPU0 = Path("/sys/devices/system/cpu/cpu0")


@dataclass(frozen=True)
class CpuInfo:
    """The CPU as far as speed is concerned. ``l2_kib``: L2 per core, None where unknown."""

    model: str
    arch: str
    llvm_name: str
    family: str
    avx2: bool
    avx512: bool
    l2_kib: int | None
    cores: int

    def features(self) -> str:
        """The vector width and cache, e.g. ``AVX-512, L2 1024 KiB per core``."""
        vector = "AVX-512" if self.avx512 else "AVX2" if self.avx2 else "no AVX2"
        l2 = f"L2 {self.l2_kib} KiB per core" if self.l2_kib else "L2 size unknown"
        return f"{vector}, {l2}"

    def line(self) -> str:
        """One line for the top of a benchmark's output."""
        family = f"{self.family}, " if self.family else ""
        return (f"CPU: {self.model} ({family}LLVM {self.llvm_name}, {self.arch}); "
                f"{self.features()}; {self.cores} cores usable")


@dataclass(frozen=True)
class TrainedOn:
    """What trained a run, as its store record keeps it (``record["trained_on"]``)."""

    cpu: str
    cpu_features: str
    device: str

    @classmethod
    def here(cls, device: str | None = None) -> TrainedOn:
        info = cpu_info()
        return cls(cpu=f"{info.model} ({info.llvm_name})", cpu_features=info.features(),
                   device=device_name(device))

    def record(self) -> dict[str, str]:
        return asdict(self)


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The first processor's ``key: value`` fields of ``/proc/cpuinfo`` text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _cpu_list_size(text: str) -> int:
    """How many CPUs a sysfs list such as ``0-3,8`` names."""
    count = 0
    for part in text.strip().split(","):
        low, _, high = part.partition("-")
        if low:
            count += int(high or low) - int(low) + 1
    return count


def _kib(size: str) -> int:
    """A sysfs cache size (``1024K``, ``2M``) in KiB."""
    size = size.strip().upper()
    return int(size[:-1]) * 1024 if size.endswith("M") else int(size.rstrip("K"))


def l2_per_core_kib(cpu_dir: Path = CPU0) -> int | None:
    """cpu0's L2 in KiB, divided among the cores (not SMT siblings) that share it; None when
    sysfs does not say."""
    try:
        for index in sorted((cpu_dir / "cache").glob("index*")):
            if (index / "level").read_text().strip() != "2":
                continue
            kib = _kib((index / "size").read_text())
            sharing = _cpu_list_size((index / "shared_cpu_list").read_text())
            siblings_file = cpu_dir / "topology" / "thread_siblings_list"
            siblings = (_cpu_list_size(siblings_file.read_text())
                        if siblings_file.is_file() else 1)
            return kib * siblings // max(sharing, 1)
    except (OSError, ValueError):
        return None
    return None


def _llvm_host() -> tuple[str, set[str]]:
    """LLVM's name for this CPU and its enabled features (what numba compiles for)."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    return llvm.get_host_cpu_name(), {name for name in features if features[name]}


@functools.cache
def cpu_info() -> CpuInfo:
    """This machine's CPU (read once per process)."""
    try:
        fields = parse_cpuinfo(CPUINFO.read_text())
    except OSError:
        fields = {}
    name, features = _llvm_host()
    family = ""
    if "cpu family" in fields:
        family = (f"{fields.get('vendor_id', '')} family {fields['cpu family']} model "
                  f"{fields.get('model', '?')}").strip()
    return CpuInfo(
        model=fields.get("model name") or platform.processor() or platform.machine(),
        arch=platform.machine(), llvm_name=name, family=family,
        avx2="avx2" in features, avx512="avx512f" in features,
        l2_kib=l2_per_core_kib(), cores=len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
    )


def device_name(device: str | None) -> str:
    """``cpu`` for the compiled CPU engine or torch on the CPU; a CUDA device with its model,
    e.g. ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    if device is None or device == "cpu":
        return "cpu"
    import torch

    return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"


if __name__ == "__main__":  # ``python -m smoothlearn.machine``: the line benchmarks start with
    print(cpu_info().line())
