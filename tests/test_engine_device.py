"""The device paths (batched torch ensembles, for GPUs) on ``device="cpu"``, against the
reference trainers and the CPU engine, and the ``device`` setting from Execution to trainer.

No GPU is needed: ``"cpu"`` runs the very code a CUDA device runs. Tolerance as the other
engine tests: the same float32 math in another summation order (batched products and
autograd over K networks vs. one network's), ``atol = rtol = 1e-5`` on curves and weights
(RMSprop with momentum: weights within 1e-4, see ``tests/test_engine_lstm.py``); steps and
``diverged`` must match exactly. The device runs are ensembles of two networks, so each is
also checked not to depend on its batch-mate.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smoothlearn import cli, results, sweep, train
from smoothlearn.contract import Curves
from smoothlearn.engine import conv as engine_conv
from smoothlearn.engine import ensemble, lstm, minibatch
from smoothlearn.engine.runtime import torch_threads
from smoothlearn.engine.torch_minibatch import train_minibatch_device
from smoothlearn.experiments import ConfigError, make_config
from smoothlearn.runs import prepare, run_many

ATOL = RTOL = 1e-5
SMALL = {"dataset": "synthetic-categories", "steps": 96, "eval_every": 40}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny batched steps on two threads of a busy machine are slower than on one."""
    with torch_threads(1):
        yield


@pytest.fixture
def cpu_engines_removed(monkeypatch):
    """The compiled CPU trainers raise if called: a device run must not fall back to them."""
    def refuse(*args, **kwargs):
        raise AssertionError("a CPU trainer ran although a device was given")

    monkeypatch.setattr(ensemble, "Ensemble", refuse)
    monkeypatch.setattr(lstm, "train_lstm_many", refuse)
    monkeypatch.setattr(minibatch, "train_minibatch_many", refuse)
    monkeypatch.setattr(engine_conv, "opt_update", refuse)


def assert_same(got: Curves, want: Curves, params_atol: float = ATOL) -> None:
    np.testing.assert_array_equal(got.steps, want.steps)
    assert got.diverged == want.diverged
    for name in ("test_mse", "test_ce", "test_acc"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), RTOL, ATOL, True,
                                   err_msg=name)  # fmt: skip
    assert set(got.final_params) == set(want.final_params)
    for name, value in want.final_params.items():
        np.testing.assert_allclose(got.final_params[name], value, RTOL, params_atol,
                                   err_msg=name)  # fmt: skip


def _device_equals_reference(model: str, **settings) -> list[Curves]:
    """Two seeds (one ensemble) on device="cpu", each equal to its reference run."""
    configs = [make_config(**{**SMALL, **settings}, model=model, seed=s) for s in (0, 1)]
    got = run_many(configs, device="cpu")
    atol = 1e-4 if settings.get("rmsprop_momentum") else ATOL
    for curves, want in zip(got, run_many(configs, engine="reference"), strict=True):
        assert_same(curves, want, atol)
        assert not np.allclose(curves.test_mse[0], curves.test_mse[-1])  # it learned
    assert not np.allclose(got[0].test_mse, got[1].test_mse)  # each has its own numbers
    return got


@pytest.mark.parametrize("settings", [
    dict(lr=0.1),
    dict(lr=0.05, loss="ce", test_mode="same"),
    dict(lr=0.003, optimizer="rmsprop", test_mode="same", bptt=3),
    dict(lr=0.002, optimizer="rmsprop", loss="ce", rmsprop_momentum=0.9),
], ids=["sgd-mse-off", "sgd-ce-streamed", "rms-mse-streamed-bptt3", "rms-momentum-ce-off"])
def test_lstm_on_device_equals_the_reference(cpu_engines_removed, settings):
    _device_equals_reference("lstm", hidden=5, **settings)


@pytest.mark.parametrize("settings", [
    dict(lr=0.5),
    dict(lr=0.5, loss="ce", test_mode="same", batch_size=5),
    dict(lr=0.003, optimizer="rmsprop", batch_size=8),
    dict(lr=0.003, optimizer="rmsprop", loss="ce", rmsprop_momentum=0.9),
], ids=["sgd-mse-b16", "sgd-ce-streamed-b5-ragged", "rms-mse-b8", "rms-momentum-ce-b16"])
def test_minibatch_on_device_equals_the_reference(cpu_engines_removed, settings):
    _device_equals_reference("minibatch-feedforward", **settings)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # evaluating nets as they overflow
def test_a_diverging_lstm_stops_at_the_reference_step(cpu_engines_removed):
    configs = [make_config(**{**SMALL, "eval_every": 1}, model="lstm", hidden=5, loss="ce",
                           lr=1e25, seed=s) for s in (0, 1)]  # fmt: skip
    for got, want in zip(run_many(configs, device="cpu"), run_many(configs, engine="reference"),
                         strict=True):  # fmt: skip
        assert want.diverged and 1 < want.steps.size < SMALL["steps"]
        assert got.diverged
        np.testing.assert_array_equal(got.steps, want.steps)
        # the last point evaluates weights at float32's limit: only the ones before it
        np.testing.assert_allclose(got.test_mse[:-1], want.test_mse[:-1], RTOL, ATOL)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_network_is_frozen_and_its_batch_mate_carries_on():
    ok, bad = (prepare(make_config(**{**SMALL, "eval_every": 16}, model="minibatch-feedforward",
                                   lr=0.5, loss="ce", seed=s)) for s in (0, 1))  # fmt: skip
    bad.params = {**bad.params, "W2": bad.params["W2"] * 1e30}  # its logits overflow at once
    got = train_minibatch_device([ok, bad], [16, 16], "cpu")
    want = [train.train_minibatch(p, 16) for p in (ok, bad)]
    assert want[1].diverged and not want[0].diverged
    assert_same(got[0], want[0])
    assert got[1].diverged and np.array_equal(got[1].steps, want[1].steps)
    # The weights before the bad step, at ~1e27: batched products against the reference's
    # (another summation order; on some CPUs BLAS rounds them ~3 ulp apart), so relative.
    for name, value in want[1].final_params.items():
        np.testing.assert_allclose(got[1].final_params[name], value, RTOL, 0, err_msg=name)


def test_minibatch_points_are_recorded_once_each_at_the_next_batch_start():
    assert minibatch.boundaries(np.array([0, 5, 10, 16, 60]), 16, 60) == {0: 1, 16: 3, 60: 1}


@pytest.mark.parametrize("settings", [dict(loss="ce", lr=0.02), dict(optimizer="rmsprop",
                                                                      lr=0.002)],
                         ids=["sgd-ce", "rms-mse"])  # fmt: skip
def test_conv_on_device_equals_the_cpu_fast_path(monkeypatch, settings):
    """RMSprop's weights within 1e-4: its normalised steps turn the rounding of tiny gradients
    (torch's update here, the engine's fused kernel there) into step-sized gaps."""
    configs = [make_config(model=m, seed=s, test_mode="same", dataset_params={"n_features": 256},
                           steps=60, eval_every=30, **settings)
               for m, s in (("conv-leaky", 0), ("conv-leaky-localreset", 1))]  # fmt: skip
    cpu = run_many(configs)
    monkeypatch.setattr(engine_conv, "opt_update", None)  # the device path has its own step
    for got, want in zip(run_many(configs, device="cpu"), cpu, strict=True):
        assert_same(got, want, 1e-4 if settings.get("optimizer") == "rmsprop" else ATOL)


def test_run_many_on_a_device_routes_every_arch_off_the_cpu_trainers(monkeypatch):
    configs = [
        make_config(**SMALL, model="leaky-reset", test_mode="same"),
        make_config(**SMALL, model="feedforward"),
        make_config(**SMALL, model="lstm", hidden=4),
        make_config(**SMALL, model="minibatch-feedforward"),
        make_config(model="conv-leaky", dataset_params={"n_features": 256}, steps=40,
                    eval_every=20),
    ]
    reference = run_many(configs, engine="reference")
    for name in ("train_reference", "train_lstm", "train_minibatch", "train_conv_reference"):
        monkeypatch.setattr(train, name, None)  # nor to the reference trainers
    for name in ("Ensemble", "train_lstm_many", "train_minibatch_many", "opt_update"):
        module = {"Ensemble": ensemble, "train_lstm_many": lstm,
                  "train_minibatch_many": minibatch, "opt_update": engine_conv}[name]
        monkeypatch.setattr(module, name, None)
    for got, want in zip(run_many(configs, device="cpu"), reference, strict=True):
        assert_same(got, want)


@pytest.mark.parametrize("memory", ["hidden", "output"])
def test_memory_switched_on_only_at_test_on_device_equals_the_reference(cpu_engines_removed,
                                                                        memory):
    _device_equals_reference("feedforward", lr=0.1, condition="repeat-5", test_mode="same",
                             test_reset="label", test_memory=memory)


def test_run_many_refuses_a_device_for_the_reference_engine():
    with pytest.raises(ValueError, match="device='cpu' needs engine='fast'"):
        run_many([make_config(**SMALL)], engine="reference", device="cpu")


# ----------------------------------------------------------------------------- Execution
@pytest.mark.parametrize("settings,named", [
    ({"device": "tpu"}, "device='tpu'; allowed: cpu, cuda, cuda:N"),
    ({"device": "cuda:x"}, "device='cuda:x'; allowed"),
    ({"device": "CPU"}, "device='CPU'; allowed"),
    ({"device": "cpu", "engine": "reference"}, "device='cpu' needs engine='fast'"),
])
def test_execution_checks_the_device_when_built(settings, named):
    with pytest.raises(ConfigError, match=named):
        sweep.Execution(**settings)


def test_a_cuda_device_without_a_gpu_is_a_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"device='cuda': torch sees no CUDA GPU here"):
        sweep.Execution(device="cuda")


def test_a_cuda_device_must_exist(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert sweep.Execution(device="cuda:1").device == "cuda:1"
    with pytest.raises(ConfigError, match=r"device='cuda:2': only 2 CUDA device\(s\)"):
        sweep.Execution(device="cuda:2")


def test_the_device_is_not_part_of_the_run():
    assert sweep.Execution().device is None and sweep.Execution(device="cpu").device == "cpu"
    config = make_config(**SMALL)
    assert "device" not in config.model_dump()


def test_a_sweep_on_a_device_stores_the_same_results(tmp_path):
    configs = [make_config(**SMALL, model=m, seed=s)
               for m in ("leaky-reset", "lstm", "minibatch-feedforward") for s in (0, 1)]
    quiet = dict(workers=1, quiet=True)
    plain = sweep.run_sweep(configs, tmp_path / "cpu", sweep.Execution(**quiet))
    device = sweep.run_sweep(configs, tmp_path / "device", sweep.Execution(**quiet, device="cpu"))
    assert plain.done == device.done == len(configs)
    a, b = results.load(tmp_path / "cpu"), results.load(tmp_path / "device")
    assert a["run_id"].tolist() == b["run_id"].tolist()  # the same runs, the same ids
    assert a["step"].tolist() == b["step"].tolist()
    for column in ("test_mse", "test_ce", "test_acc"):
        np.testing.assert_allclose(b[column], a[column], RTOL, ATOL, err_msg=column)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_pool_workers_receive_the_device():
    """A worker told to use CUDA where there is none fails the run with torch's own error:
    the device travelled with the batch (a worker that dropped it would train on the CPU)."""
    config = make_config(**SMALL, model="lstm", hidden=4)
    payload = [{**config.model_dump(mode="json"), "_run_id": config.run_id()}]
    got: list[sweep.RunResult] = []
    sweep._run_pool([payload], "fast", 1, got.extend, device="cuda")
    assert [r.status for r in got] == ["failed"]
    assert "cuda" in got[0].message.lower() or "nvidia" in got[0].message.lower()


# ----------------------------------------------------------------------------- the CLI
def _call(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code if isinstance(stop.code, int) else 2
    return int(code or 0), capsys.readouterr().err


@pytest.mark.parametrize("command", [["run", "figA7"], ["reproduce", "--quick"],
                                     ["robustness", "--quick"], ["landscape", "--quick"]])
def test_cli_names_a_bad_device_in_one_line(command, tmp_path, capsys):
    code, err = _call([*command, "--device", "gpu0", "--out", str(tmp_path / "o")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert "device='gpu0'" in lines[0]


def test_cli_without_a_gpu_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = _call(["run", "figA7", "--device", "cuda", "--out", str(tmp_path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "device='cuda': torch sees no CUDA GPU here" in err
    assert not any(tmp_path.iterdir())  # nothing started


def test_cli_runs_on_a_device(tmp_path, capsys):
    out = tmp_path / "a7"
    code, _ = _call(["run", "figA7", "--seeds", "1", "--steps", "40", "--set", "eval_every=20",
                     "--out", str(out), "--quiet", "--workers", "1", "--device", "cpu"], capsys)
    assert code == 0 and results.status(out)["done"] == 11


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_progress_counts_every_step_of_every_run_even_a_diverged_one():
    configs = [make_config(**SMALL, model="lstm", hidden=4, seed=0),
               make_config(**SMALL, model="minibatch-feedforward", seed=0),
               make_config(**{**SMALL, "eval_every": 5}, model="minibatch-feedforward",
                           batch_size=5, loss="ce", lr=1e30)]  # diverges
    seen: list[int] = []
    curves = run_many(configs, device="cpu", progress=seen.append)
    assert curves[2].diverged and sum(seen) == 3 * SMALL["steps"]
