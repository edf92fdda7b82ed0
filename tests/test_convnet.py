"""The conv net with a leaky feature layer: the detached-memory rule, resets, init, errors, and
the batched fast path (``engine.conv``) against the readable reference trainer.

Tolerance: both paths compute the same float32 math, but the fast path runs K networks as one
grouped convolution and batched products and updates all weights with the engine's fused
optimiser kernel (other kernels, other rounding than one ``nn.Conv2d``/``nn.Linear`` per net
and ``torch.optim``), so curves and final weights are compared with ``atol = rtol = 1e-5``
over 150-step runs (the largest gaps seen: 5e-7 on curves, 3.4e-6 on RMSprop's weights, 2e-7
on SGD's). Steps and the ``diverged`` flag must match exactly. RMSprop divides by the root of
tiny squared-gradient averages, which turns rounding-sized gradient gaps into step-sized ones,
so the RMSprop runs use small learning rates: at lr 0.002 with momentum 0.9 the gaps grow
to 5e-2 in 150 steps between any two kernels (even torch's own on 1 vs 2 threads).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from smoothlearn import cli, sweep
from smoothlearn.contract import Curves, Prepared, TrainSettings
from smoothlearn.convnet import ConvLeakyNet, feature_size, image_side, init_conv_params
from smoothlearn.engine import conv as engine_conv
from smoothlearn.engine.conv import MAX_ENSEMBLE, train_conv_many
from smoothlearn.engine.runtime import torch_threads
from smoothlearn.experiments import ConfigError, make_config
from smoothlearn.families import CONV_HIDDEN
from smoothlearn.nn import reset_flags
from smoothlearn.runs import prepare, run_many
from smoothlearn.train import evaluate_conv, train_conv_reference

ATOL = RTOL = 1e-5
SIDE = 16  # the smallest image both unpadded 5x5 stages fit: quick to train
D = SIDE * SIDE


@pytest.fixture(autouse=True)
def one_thread():
    """Per-sample steps on two threads of a busy machine are ~15x slower than on one."""
    with torch_threads(1):
        yield


def _images(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.random((n, D), dtype=np.float32)
    return np.where(rng.random((n, D)) < 0.3, X, 0).astype(np.float32)


#: One training array for every run, so that the fast path stacks runs into one ensemble
#: (it groups runs by their training array).
X_TRAIN = _images(1234, 40)


def make_run(*, seed: int = 0, steps: int = 150, h: int = 12, o: int = 4, leak: float = 0.0,
             reset: str = "never", stream_eval: bool = False, eval_every: int = 60,
             **settings: object) -> Prepared:
    """A small conv run built like ``runs.prepare`` does (reset_flags, init_conv_params)."""
    rng = np.random.default_rng(seed)
    X = X_TRAIN
    labels = np.random.default_rng(99).integers(0, o, 40)
    order = np.repeat(rng.integers(0, 40, steps // 3 + 1), 3)[:steps]  # runs of equal labels
    X_eval, labels_eval = _images(seed + 7, 25), rng.integers(0, o, 25)
    return Prepared(
        X=X, targets=np.eye(o, dtype=np.float32)[labels], labels=labels, order=order,
        resets=reset_flags(reset, X[order], labels[order]),
        params=init_conv_params(D, h, o, seed),
        leak=np.full(h, leak, np.float32),
        eval_steps=np.unique(np.r_[np.arange(0, steps, eval_every), steps]).astype(np.int64),
        X_eval=X_eval, targets_eval=np.eye(o, dtype=np.float32)[labels_eval],
        labels_eval=labels_eval,
        eval_resets=reset_flags(reset, X_eval, labels_eval) if stream_eval else None,
        settings=TrainSettings(**settings),
    )


def assert_same(fast: Curves, ref: Curves) -> None:
    assert fast.diverged == ref.diverged
    np.testing.assert_array_equal(fast.steps, ref.steps)
    for name in ("test_mse", "test_ce", "test_acc"):
        np.testing.assert_allclose(getattr(fast, name), getattr(ref, name), RTOL, ATOL, True)
    assert fast.final_params.keys() == ref.final_params.keys()
    for name, value in ref.final_params.items():
        np.testing.assert_allclose(fast.final_params[name], value, RTOL, ATOL, err_msg=name)


def _net(leak: float = 0.5, detach: bool = True) -> ConvLeakyNet:
    net = ConvLeakyNet(D, 6, 3, leak).load_params(init_conv_params(D, 6, 3, 0))
    net.memory.detach = detach
    return net


# ----------------------------------------------------------------------------- the model
def test_shapes_follow_the_image_side():
    assert image_side(784) == 28 and feature_size(28) == 256
    assert image_side(1296) == 36 and feature_size(36) == 576
    params = init_conv_params(784, 128, 10, 0)
    assert {k: v.shape for k, v in params.items()} == {
        "C1": (8, 1, 5, 5), "c1": (8,), "C2": (16, 8, 5, 5), "c2": (16,),
        "W1": (128, 256), "b1": (128,), "W2": (10, 128), "b2": (10,),
    }
    logits, h = ConvLeakyNet(784, 128, 10).load_params(params)(torch.rand(3, 784))
    assert logits.shape == (3, 10) and h.shape == (3, 128)


def test_init_is_deterministic_xavier_with_zero_biases():
    a, b, c = (init_conv_params(D, 12, 4, s) for s in (3, 3, 4))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["C1"], c["C1"])
    assert all(not a[n].any() for n in ("c1", "c2", "b1", "b2"))
    bound = np.sqrt(6 / (8 * 25 + 16 * 25))  # Xavier: fans are channels x kernel area
    assert np.abs(a["C2"]).max() <= bound and np.abs(a["C2"]).max() > 0.9 * bound


def test_no_gradient_flows_into_the_previous_memory():
    """d loss(n) / d H(n-1) is nothing: H(n-1) came from the weights, yet only step n counts."""
    torch.manual_seed(0)
    x1, x2 = torch.rand(D), torch.rand(D)
    net = _net()
    _, h1 = net(x1)
    assert h1.requires_grad  # H(n-1) depends on the weights ...
    logits, _ = net(x2, h1)
    loss = F.cross_entropy(logits[None], torch.tensor([1]))
    (dh1,) = torch.autograd.grad(loss, h1, allow_unused=True, retain_graph=True)
    assert dh1 is None  # ... and the loss at step n does not reach back into it
    grads = torch.autograd.grad(loss, list(net.parameters()))
    logits_c, _ = net(x2, h1.detach().clone())  # H(n-1) as a constant
    loss_c = F.cross_entropy(logits_c[None], torch.tensor([1]))
    for g, g_c in zip(grads, torch.autograd.grad(loss_c, list(net.parameters())), strict=True):
        torch.testing.assert_close(g, g_c, rtol=0, atol=0)
    # the manual gradient of b1 (docs/model.md): dpre = W2^T g * (1 - leak) * [pre > 0]
    pre = net.memory.linear(net.features(x2)).detach()
    g = torch.softmax(logits.detach(), -1) - F.one_hot(torch.tensor(1), 3)
    manual = (net.out.weight.detach().T @ g) * 0.5 * (pre > 0)
    torch.testing.assert_close(grads[list(dict(net.named_parameters())).index("memory.linear.bias")],
                               manual)


def test_without_detach_the_gradient_would_differ():
    """The check above can fail: letting the gradient into H(n-1) changes the conv grads."""
    torch.manual_seed(0)
    x1, x2 = torch.rand(D), torch.rand(D)
    grads = []
    for detach in (True, False):
        net = _net(detach=detach)
        logits, _ = net(x2, net(x1)[1])
        loss = F.cross_entropy(logits[None], torch.tensor([1]))
        grads.append(torch.autograd.grad(loss, net.features.conv1.weight)[0])
    assert not torch.allclose(grads[0], grads[1])


def test_a_reset_forgets_the_memory():
    """A reset sets the step's leak to 0 (docs/model.md): H(n) = ReLU(W1 f + b1), nothing of
    H(n-1) is kept, as in a memoryless (leak 0) net; other items keep their memory."""
    torch.manual_seed(1)
    net = _net()
    h_prev = torch.rand(2, 6) + 1
    x = torch.rand(2, D)
    _, act = _net(leak=0.0)(x)
    _, kept = net(x, h_prev)
    _, reset = net(x, h_prev, reset=torch.tensor([True, False]))
    torch.testing.assert_close(reset[0], act[0])
    torch.testing.assert_close(reset[1], kept[1])
    torch.testing.assert_close(kept, 0.5 * h_prev + 0.5 * act)


# ----------------------------------------------------------------------------- fast == reference
@pytest.mark.parametrize("settings", [
    {"optimizer": "sgd", "loss": "mse", "lr": 0.05},
    {"optimizer": "sgd", "loss": "ce", "lr": 0.02},
    {"optimizer": "rmsprop", "loss": "ce", "lr": 0.002},
    {"optimizer": "rmsprop", "loss": "mse", "lr": 0.0002, "rmsprop_momentum": 0.9},
    {"optimizer": "sgd", "loss": "mse", "output": "sigmoid", "lr": 0.1, "leak_grad": "ignore"},
])
def test_fast_path_equals_reference(settings):
    runs = [
        make_run(seed=0, **settings),
        make_run(seed=1, leak=0.5, **settings),
        make_run(seed=2, leak=0.5, reset="label", stream_eval=True, **settings),
        make_run(seed=3, leak=0.3, reset="input-change", stream_eval=True, **settings),
    ]
    assert len({engine_conv._key(r) for r in runs}) == 1  # stacked: 3 + 1 networks
    for fast, run in zip(train_conv_many(runs, threads=2, max_ensemble=3), runs, strict=True):
        assert_same(fast, train_conv_reference(run))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # evaluating the net as it overflows
def test_divergence_stops_a_run_alone_at_the_same_step():
    runs = [make_run(seed=s, lr=0.05, loss="ce", eval_every=1) for s in (0, 1)]
    runs[1].params["W2"] *= 1e18  # huge logits: the weights overflow within a few steps
    assert engine_conv._key(runs[0]) == engine_conv._key(runs[1])
    fast = train_conv_many(runs, threads=1)  # one ensemble: the other run must carry on
    ref = [train_conv_reference(r) for r in runs]
    assert ref[1].diverged and not ref[0].diverged
    assert 0 < ref[1].steps[-1] < 150
    assert_same(fast[0], ref[0])
    # the diverged net's weights are ~1e13 by then: same steps, flag and curves, and weights
    # equal to float32 rounding of such values (a relative 1e-4)
    assert fast[1].diverged and np.array_equal(fast[1].steps, ref[1].steps)
    for name in ("test_mse", "test_ce", "test_acc"):
        np.testing.assert_allclose(getattr(fast[1], name), getattr(ref[1], name), 1e-4, ATOL,
                                   True)
    for name, value in ref[1].final_params.items():
        np.testing.assert_allclose(fast[1].final_params[name], value, 1e-4, ATOL, err_msg=name)


def test_streamed_evaluation_uses_the_memory():
    run = make_run(leak=0.9, reset="never", stream_eval=True)
    off = make_run(leak=0.9, reset="never")
    assert evaluate_conv(run, run.params) != evaluate_conv(off, off.params)


def test_extra_test_protocols_are_scored_as_separate_trainings_would(monkeypatch):
    """A run scored memory off and streamed through :class:`SharedTests` gets each protocol's
    numbers as if trained alone, and a point computes the conv features once per distinct
    test array (an equal copy counts as the same images; other images do not)."""
    from dataclasses import replace

    from smoothlearn.contract import SharedTests

    own = make_run(seed=4, leak=0.5, reset="label")
    streamed = make_run(seed=4, leak=0.5, reset="label", stream_eval=True)
    copied = replace(streamed, X_eval=streamed.X_eval.copy())
    other = make_run(seed=5, leak=0.5, reset="label")
    others = [streamed, copied, replace(own, X_eval=other.X_eval)]
    seen: list[tuple] = []
    tests = SharedTests({0: others}, lambda k, step, metrics: seen.append((step, *metrics)))
    calls: list[int] = []
    features = engine_conv.conv_features
    monkeypatch.setattr(engine_conv, "conv_features",
                        lambda params, X: calls.append(id(X)) or features(params, X))
    fast = train_conv_many([own], threads=1, shared_tests=tests)[0]
    points = len(fast.steps)
    assert [step for step, *_ in seen] == fast.steps.tolist()
    assert len(calls) == 2 * points  # the run's own images (shared twice), the other images
    for j, test in enumerate(others):
        alone = train_conv_many([test], threads=1)[0]
        np.testing.assert_array_equal([m[1 + j] for m in seen],
                                      np.stack([alone.test_mse, alone.test_ce, alone.test_acc],
                                               axis=1))  # fmt: skip
    assert seen[-1][1] != seen[-1][3]  # streamed and on other images: really other numbers


def test_features_do_not_depend_on_how_the_test_images_are_batched(monkeypatch):
    """``EVAL_CHUNK`` is a speed setting: any batching gives the same features. Bit for bit on
    the AMD EPYC (Zen 4) where it was measured; the convolution library may pick another
    kernel for another batch size on another CPU, so float32 rounding is allowed here."""
    from smoothlearn import convnet

    params, X = init_conv_params(D, 12, 4, 3), _images(11, 23)
    monkeypatch.setattr(convnet, "EVAL_CHUNK", 1000)
    whole = convnet.conv_features(params, X)
    for chunk in (1, 5, 10):
        monkeypatch.setattr(convnet, "EVAL_CHUNK", chunk)
        np.testing.assert_allclose(convnet.conv_features(params, X), whole, rtol=1e-6,
                                   atol=1e-7)


def test_the_stacked_layers_backward_gives_autograds_gradients():
    """:class:`engine.conv._StackedLinear` writes ``torch.baddbmm``'s backward out: the same
    output and gradients of ``W`` and ``b`` as autograd's, bit for bit (the same product; one
    multiplication per element; ``g`` itself), and of ``x`` within float32 rounding: that is
    a BLAS product in another layout, equal bit for bit on the AMD EPYC (Zen 4) where it was
    measured, but free to take another kernel on another CPU."""
    gen = torch.Generator().manual_seed(0)
    x, W, b = (torch.randn(*shape, generator=gen) for shape in ((8, 400), (8, 128, 400), (8, 128)))
    g = torch.randn(8, 128, generator=gen)
    grads = []
    for linear in (lambda x, W, b: torch.baddbmm(b.unsqueeze(2), W, x.unsqueeze(2)).squeeze(2),
                   engine_conv._StackedLinear.apply):
        leaves = [t.clone().requires_grad_() for t in (x, W, b)]
        y = linear(*leaves)
        y.backward(g)
        grads.append([y.detach(), *(t.grad for t in leaves)])
    (y, dx, dW, db), (y_, dx_, dW_, db_) = grads
    assert torch.equal(y, y_) and torch.equal(dW, dW_) and torch.equal(db, db_)
    torch.testing.assert_close(dx_, dx, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- configs and runs
CONV = {"dataset_params": {"n_features": D}, "steps": 90, "eval_every": 45}


def test_presets_resolve_and_fast_equals_reference_through_run_many():
    configs = [make_config(model=m, seed=s, test_mode="same", **CONV)
               for m in ("conv-feedforward", "conv-leaky", "conv-leaky-localreset")
               for s in (0, 1)]
    assert {c.spec().arch for c in configs} == {"conv"}
    assert configs[0].spec().hidden == CONV_HIDDEN
    assert prepare(configs[0]).params["C1"].shape == (8, 1, 5, 5)
    fast, ref = run_many(configs, "fast"), run_many(configs, "reference")
    for f, r in zip(fast, ref, strict=True):
        assert_same(f, r)
    again = run_many(configs, "fast")
    for a, b in zip(again, fast, strict=True):  # deterministic for a seed
        np.testing.assert_array_equal(a.test_mse, b.test_mse)
        np.testing.assert_array_equal(a.final_params["C1"], b.final_params["C1"])
    # alone, a run takes other conv kernels than in a stack of 6: equal to float32 rounding
    alone = run_many(configs[:1], "fast")[0]
    np.testing.assert_allclose(alone.test_mse, fast[0].test_mse, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("settings,named", [
    ({"dataset_params": {"n_features": 60}}, "n_features=60 is not a square"),
    ({}, "n_features=16 is a 4 x 4 image"),
    ({"dataset": "multiscale", "condition": "given"}, "classifier"),
    ({"dataset_params": {"n_features": D}, "batch_size": 4}, "batch_size"),
])
def test_bad_conv_configs_name_the_setting(settings, named):
    with pytest.raises(ConfigError, match=named):
        make_config(model="conv-leaky", **settings)


def test_the_net_rejects_inputs_of_the_wrong_size():
    with pytest.raises(ValueError, match="n_features=100"):
        ConvLeakyNet(100, 4, 2)
    with pytest.raises(ValueError, match="256 features"):
        ConvLeakyNet(784, 4, 2)(torch.rand(256))


def test_sweeps_batch_conv_runs_as_one_fast_ensemble():
    config = make_config(model="conv-leaky", **CONV)
    assert sweep.batch_cap(config, "fast") == MAX_ENSEMBLE
    assert sweep.batch_cap(config, "reference") < MAX_ENSEMBLE


def test_cli_runs_a_conv_toml(tmp_path, capsys):
    toml = tmp_path / "conv.toml"
    toml.write_text(
        'name = "conv-tiny"\nseeds = 1\n[base]\ndataset = "synthetic-categories"\n'
        f'dataset_params = {{n_features = {D}}}\nsteps = 40\neval_every = 20\n'
        'test_mode = "same"\n[[grids]]\nmodel = ["conv-feedforward", "conv-leaky-localreset"]\n'
    )
    code = cli.main(["run", str(toml), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0, capsys.readouterr()
    from smoothlearn import results

    frame = results.load(tmp_path / "out")
    assert set(frame["model"]) == {"conv-feedforward", "conv-leaky-localreset"}


def test_mnist_conv_run_fast_equals_reference(mnist_available):
    config = make_config(dataset="mnist", model="conv-leaky-localreset", condition="repeat-3",
                         test_mode="same", steps=40, eval_every=20, eval_items=200)
    assert prepare(config).params["W1"].shape == (CONV_HIDDEN, 256)
    assert_same(run_many([config], "fast")[0], run_many([config], "reference")[0])


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_each_weight_steps_from_its_own_gradient_as_one_flat_step_would(optimizer):
    """The stacked weights are leaves of the graph (no flat-vector-sized gradient per slice);
    stepping each from its own ``.grad`` gives the flat vector one element-wise step over
    the gradients laid out flat would give, bit for bit, and the device path's flat layout
    is that same vector."""
    from smoothlearn.engine.baselines import opt_update

    runs = [make_run(seed=s, leak=0.5, optimizer=optimizer, lr=0.01) for s in (0, 1, 2)]
    ensemble = engine_conv.ConvEnsemble(runs)
    ensemble.train(0, 5)
    weights = ensemble.weights()
    assert all(w.is_leaf and w.requires_grad for w in weights)
    assert sum(w.numel() for w in weights) == ensemble.flat.numel()
    items = ensemble.order[:, 5]
    z, _ = ensemble._logits(ensemble.X[items], ensemble.leak)
    ensemble._zero_grad()
    ensemble._losses(z, items).sum().backward()
    grad = ensemble._flat_grad().numpy()
    assert [w.grad.shape for w in weights] == [w.shape for w in weights]
    want = ensemble.flat.detach().numpy().copy()
    sq, buf = ensemble.sq.copy(), ensemble.buf.copy()
    opt_update(want, grad, sq, buf, *ensemble.hyper)
    ensemble._step()
    np.testing.assert_array_equal(ensemble.flat.detach().numpy(), want)
    np.testing.assert_array_equal(ensemble.sq, sq)
    for (a, b), w in zip(ensemble.spans, weights, strict=True):  # still views of the vector
        np.testing.assert_array_equal(w.detach().numpy().ravel(), want[a:b])
