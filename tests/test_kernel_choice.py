"""smoothlearn.kernel_choice: the evaluation kernel picked from the CPU's features, forced by
SMOOTHLEARN_EVAL_KERNEL, and a mistyped value refused up front."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smoothlearn import kernel_choice
from smoothlearn.cli import main
from smoothlearn.kernel_choice import (
    ENV,
    KERNELS,
    EvalKernelError,
    choose_eval_kernel,
    eval_kernel,
    forced_eval_kernel,
)
from smoothlearn.machine import CpuInfo

ZEN4 = CpuInfo(model="AMD EPYC", arch="x86_64", llvm_name="znver4", family="", avx2=True,
               avx512=True, l2_kib=1024, cores=2)
ZEN3 = dataclasses.replace(ZEN4, llvm_name="znver3", avx512=False, l2_kib=512)
XEON = dataclasses.replace(ZEN4, model="Intel Xeon", llvm_name="skylake-avx512", l2_kib=2048)
ARM = dataclasses.replace(ZEN4, arch="aarch64", llvm_name="neoverse-n1", avx2=False,
                          avx512=False, l2_kib=None)


@pytest.mark.parametrize(("cpu", "kernel"), [(ZEN4, "wide"), (XEON, "wide"), (ZEN3, "narrow"),
                                             (ARM, "narrow")], ids=["zen4", "xeon", "zen3", "arm"])
def test_avx512_cpus_get_the_wide_kernel_and_others_the_narrow_one(cpu: CpuInfo,
                                                                   kernel: str) -> None:
    chosen = choose_eval_kernel(cpu)
    assert chosen.name == kernel and chosen.wide == (kernel == "wide")
    assert cpu.features() in chosen.reason and kernel in chosen.line()


@given(l2=st.one_of(st.none(), st.integers(64, 65536)), avx512=st.booleans())
def test_the_l2_size_is_reported_but_does_not_change_the_choice(l2: int | None,
                                                                avx512: bool) -> None:
    """Measured: the pass is bound by L2-to-L1 traffic, not by whether W1 fits in L2."""
    cpu = dataclasses.replace(ZEN4, avx512=avx512, l2_kib=l2)
    chosen = choose_eval_kernel(cpu)
    assert chosen.name == choose_eval_kernel(dataclasses.replace(ZEN4, avx512=avx512)).name
    assert (f"L2 {l2} KiB" if l2 else "L2 size unknown") in chosen.reason


@pytest.mark.parametrize("forced", KERNELS)
@pytest.mark.parametrize("cpu", [ZEN4, ZEN3, ARM], ids=["zen4", "zen3", "arm"])
def test_a_forced_kernel_wins_on_any_cpu_and_says_so(cpu: CpuInfo, forced: str) -> None:
    chosen = choose_eval_kernel(cpu, forced)  # type: ignore[arg-type]
    assert chosen.name == forced and ENV in chosen.reason


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("  ", None), ("wide", "wide"), (" narrow\n", "narrow"),
])
def test_the_environment_forces_a_kernel_or_leaves_the_choice(value: str | None,
                                                              expected: str | None) -> None:
    environ = {} if value is None else {ENV: value}
    assert forced_eval_kernel(environ) == expected


@pytest.mark.parametrize("value", ["WIDE", "512", "avx2", "split"])
def test_an_unknown_kernel_is_refused_with_the_variable_named(value: str) -> None:
    with pytest.raises(EvalKernelError, match=f"{ENV}={value!r}.*wide, narrow"):
        forced_eval_kernel({ENV: value})


def test_eval_kernel_reads_the_environment_at_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_choice, "cpu_info", lambda: ZEN4)
    monkeypatch.delenv(ENV, raising=False)
    assert eval_kernel().name == "wide"
    monkeypatch.setenv(ENV, "narrow")
    assert eval_kernel().name == "narrow"


def test_cli_refuses_a_mistyped_kernel_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENV, "wid")
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ENV in err and "Traceback" not in err
