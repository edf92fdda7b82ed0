"""Moving-object streams (data.moving) and the consecutive-input similarity (streams).

Most tests render small synthetic images, so they run without MNIST; the ones that load
``moving-mnist`` skip (saying why) unless SMOOTHLEARN_DATA holds MNIST.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from smoothlearn import data, streams
from smoothlearn.data.moving import MovingSpec, MovingStream, make_moving, render_stream
from smoothlearn.experiments import ConfigError, make_config

N_CLASSES = 4


def _images(n: int = 40, ink: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28 x 28 images: a filled rectangle of random size around the middle, and
    ``N_CLASSES`` labels cycling (so every class has items)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        h, w = rng.integers(6, 20, 2)
        top, left = rng.integers(4, 24 - h + 1), rng.integers(4, 24 - w + 1)
        images[i, top : top + h, left : left + w] = ink
    return images, np.arange(n) % N_CLASSES


def _stream(steps: int = 300, seed: int = 0, **knobs) -> MovingStream:
    images, labels = _images()
    return render_stream(images, labels, MovingSpec(**knobs), steps, np.random.default_rng(seed))


# ---------------------------------------------------------------- determinism
def test_same_seed_same_frames_other_seed_other_frames():
    knobs = dict(rotation=4.0, scale_drift=0.02, noise=0.1, occlusion=0.2)
    a, b, c = _stream(seed=1, **knobs), _stream(seed=1, **knobs), _stream(seed=2, **knobs)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_dataset_is_deterministic_from_its_seed_and_records_its_spec():
    images, labels = _images()
    spec = MovingSpec(steps=120, test_steps=50, seed=3)
    one = make_moving("moving-test", (images, images), (labels, labels), spec)
    two = make_moving("moving-test", (images, images), (labels, labels), spec)
    other = make_moving("moving-test", (images, images), (labels, labels),
                        dataclasses.replace(spec, seed=4))
    np.testing.assert_array_equal(one.X_train, two.X_train)
    np.testing.assert_array_equal(one.X_test, two.X_test)
    assert not np.array_equal(one.X_train, other.X_train)
    assert one.ordered and one.task == "classify"
    assert one.params == dataclasses.asdict(spec)
    assert one.X_train.shape == (120, 36 * 36) and one.X_test.shape == (50, 36 * 36)


@pytest.mark.parametrize("knobs", [{}, {"frames": 1, "class_repeats": 3},
                                   {"rotation": 5.0, "scale_drift": 0.02, "noise": 0.1,
                                    "occlusion": 0.2}])
def test_a_shorter_stream_is_the_start_of_a_longer_one(knobs):
    short, long = _stream(steps=57, **knobs), _stream(steps=2500, **knobs)
    np.testing.assert_array_equal(short.X, long.X[:57])
    np.testing.assert_array_equal(short.y, long.y[:57])


def test_test_length_does_not_change_the_training_stream():
    images, labels = _images()
    pair = (images, images), (labels, labels)
    short = make_moving("m", *pair, MovingSpec(steps=80, test_steps=10))
    long = make_moving("m", *pair, MovingSpec(steps=80, test_steps=90))
    np.testing.assert_array_equal(short.X_train, long.X_train)


# ---------------------------------------------------------------- bounds
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), speed=st.floats(0, 6), rotation=st.floats(-20, 20),
       scale_drift=st.floats(0, 0.02), canvas=st.integers(36, 48))  # every object fits
def test_the_ink_box_stays_on_the_canvas_in_every_frame(seed, speed, rotation, scale_drift,
                                                        canvas):
    stream = _stream(steps=60, seed=seed, speed=speed, rotation=rotation,
                     scale_drift=scale_drift, canvas=canvas)
    images, _ = _images()
    corners = data.moving._ink_corners(images[stream.item])[stream.episode]  # [T, 4, 2]
    cos, sin = np.cos(stream.angle)[:, None], np.sin(stream.angle)[:, None]
    qy, qx = corners[..., 0], corners[..., 1]
    rows = stream.centre[:, :1] + stream.scale[:, None] * (cos * qy - sin * qx)
    cols = stream.centre[:, 1:] + stream.scale[:, None] * (sin * qy + cos * qx)
    assert rows.min() >= -1e-9 and rows.max() <= canvas - 1 + 1e-9
    assert cols.min() >= -1e-9 and cols.max() <= canvas - 1 + 1e-9
    assert stream.X.min() >= 0.0 and stream.X.max() <= 1.0
    assert stream.X.dtype == np.float32 and stream.X.shape == (60, canvas * canvas)


def test_an_object_too_large_for_the_canvas_stays_in_the_middle():
    white = np.ones((2, 28, 28), np.float32)
    spec = MovingSpec(canvas=30, frames=5, speed=3.0, scale_drift=0.1)
    stream = render_stream(white, np.arange(2), spec, 100, np.random.default_rng(0))
    grows = stream.scale.reshape(-1, 5)[:, -1] > 1  # to 41 pixels, or shrinks to 19
    assert grows.any() and not grows.all()
    centre = stream.centre.reshape(-1, 5, 2)
    np.testing.assert_allclose(centre[grows], 14.5)  # centred (and clipped)
    assert np.ptp(centre[~grows], axis=1).max() > 1  # the others move


def test_a_moving_object_keeps_all_its_ink():
    """Bilinear translation conserves the sum of pixels unless part of the object is cut off."""
    stream = _stream(steps=200, speed=1.7)
    images, _ = _images()
    ink = images[stream.item].sum(axis=(1, 2))[stream.episode]
    np.testing.assert_allclose(stream.X.sum(1), ink, rtol=1e-4)


def test_objects_move_by_speed_and_bounce_off_the_walls():
    stream = _stream(steps=400, speed=2.5)
    moved = np.linalg.norm(np.diff(stream.centre, axis=0), axis=1)
    same_episode = stream.episode[1:] == stream.episode[:-1]
    assert np.all(moved[same_episode] <= 2.5 + 1e-9)
    assert np.isclose(np.median(moved[same_episode]), 2.5)  # only bounces shorten a step


def test_a_still_centred_object_is_the_item_on_a_larger_canvas():
    images, labels = _images()
    spec = MovingSpec(canvas=36, frames=1, speed=0.0, spread=0.0)
    stream = render_stream(images, labels, spec, 30, np.random.default_rng(0))
    frames = stream.X.reshape(-1, 36, 36)
    np.testing.assert_allclose(frames[:, 4:32, 4:32], images[stream.item], atol=1e-6)


# ---------------------------------------------------------------- episode structure
@pytest.mark.parametrize("frames", [1, 3, 10])
def test_each_episode_shows_one_item_for_its_frames(frames):
    stream = _stream(steps=95, frames=frames)
    assert np.array_equal(stream.episode, np.arange(95) // frames)
    _, labels = _images()
    np.testing.assert_array_equal(stream.y, labels[stream.item][stream.episode])


@pytest.mark.parametrize("repeats", [1, 2, 5])
def test_class_repeats_episodes_of_one_class_follow_each_other(repeats):
    stream = _stream(steps=600, frames=3, class_repeats=repeats)
    episode_class = stream.y[::3]
    blocks = episode_class[: episode_class.size // repeats * repeats].reshape(-1, repeats)
    assert np.all(blocks == blocks[:, :1])
    assert np.unique(blocks[:, 0]).size == N_CLASSES  # block classes vary


def test_items_of_a_class_are_shown_once_before_any_repeats():
    images, labels = _images(n=40)  # 10 items per class
    stream = render_stream(images, labels, MovingSpec(frames=1), 40, np.random.default_rng(0))
    for c in range(N_CLASSES):
        shown = stream.item[labels[stream.item] == c]
        first = shown[: 10]
        assert np.unique(first).size == first.size


def test_test_episodes_come_from_the_test_items():
    train, labels = _images(ink=0.25, seed=0)
    test, _ = _images(ink=0.75, seed=1)
    ds = make_moving("m", (train, test), (labels, labels), MovingSpec(steps=100, test_steps=100))
    assert ds.X_train.max() <= 0.25 + 1e-6
    assert ds.X_test.max() > 0.25


def test_an_occluding_bar_blacks_out_its_band():
    white = np.ones((3, 28, 28), np.float32)
    spec = MovingSpec(canvas=28, frames=4, occlusion=0.25)
    stream = render_stream(white, np.arange(3), spec, 40, np.random.default_rng(0))
    assert np.all((stream.X == 0).sum(1) == 7 * 28)  # a 7-pixel bar across a white canvas


def test_noise_is_fresh_in_every_frame_and_stays_in_range():
    stream = _stream(steps=20, speed=0.0, noise=0.2)
    assert not np.array_equal(stream.X[0], stream.X[1])  # same place, other noise
    assert stream.X.min() >= 0.0 and stream.X.max() <= 1.0


# ---------------------------------------------------------------- the similarity metric
def test_identical_consecutive_inputs_have_similarity_one():
    x = np.tile(np.array([[0.2, 0.5, 0.0, 1.0]]), (10, 1))
    assert streams.consecutive_similarity(x) == pytest.approx(1.0)
    assert streams.consecutive_similarity(x, centred=True) == pytest.approx(1.0)


def test_orthogonal_and_opposite_inputs():
    alternating = np.array([[1.0, 0.0], [0.0, 1.0]] * 5)
    assert streams.consecutive_similarity(alternating) == pytest.approx(0.0)
    opposite = np.array([[1.0, -2.0], [-1.0, 2.0]] * 5)
    assert streams.consecutive_similarity(opposite) == pytest.approx(-1.0)


def test_mean_over_pairs_and_zero_inputs_left_out():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 3.0]])
    # pairs: 1, 0, (zero: left out), (zero: left out)
    assert streams.consecutive_similarity(x) == pytest.approx(0.5)
    assert np.isnan(streams.consecutive_similarity(np.zeros((4, 3))))
    assert np.isnan(streams.consecutive_similarity(np.ones((1, 3))))


vectors = arrays(np.float64, (12, 5), elements=st.floats(-10, 10).map(lambda v: round(v, 4)))


@settings(max_examples=60, deadline=None)
@given(x=vectors, scale=st.floats(0.01, 100), chunk=st.integers(1, 13))
def test_similarity_ignores_scale_and_chunking(x, scale, chunk):
    whole = streams.consecutive_similarity(x)
    assert streams.consecutive_similarity(x * scale, chunk=chunk) == pytest.approx(
        whole, abs=1e-9, nan_ok=True)
    assert np.isnan(whole) or -1 - 1e-9 <= whole <= 1 + 1e-9


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float64, 6, elements=st.floats(-5, 5)), a=st.floats(0.1, 10),
       b=st.floats(-5, 5))
def test_correlation_ignores_offset_and_gain(x, a, b):
    if np.ptp(x) < 1e-3:
        return  # a constant input has no correlation
    pair = np.stack([x, a * x + b])
    assert streams.consecutive_similarity(pair, centred=True) == pytest.approx(1.0)


def test_smoothness_of_labels_alone_is_unchanged():
    labels = np.array([0, 0, 1, 1, 1, 2])
    assert streams.smoothness(labels) == {
        "mean_run_length": 2.0, "same_label_fraction": pytest.approx(0.6)}


def test_smoothness_with_inputs_puts_both_kinds_on_one_axis():
    labels = np.array([0, 0, 1, 1])
    inputs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    out = streams.smoothness(labels, inputs)
    assert out["input_cosine"] == pytest.approx(2 / 3)
    assert out["input_correlation"] == pytest.approx(1 / 3)  # [1,0] vs [0,1] correlate -1
    with pytest.raises(ValueError, match="rows"):
        streams.smoothness(labels, inputs[:3])


def test_moving_frames_are_more_similar_than_independent_items():
    moving = _stream(steps=400, frames=10, speed=1.0)
    independent = _stream(steps=400, frames=1)
    assert (streams.consecutive_similarity(moving.X)
            > streams.consecutive_similarity(independent.X) + 0.3)


# ---------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("name, value", [
    ("canvas", 4), ("canvas", 36.0), ("frames", 0), ("speed", -1.0), ("speed", float("nan")),
    ("spread", 1.5), ("rotation", 200.0), ("scale_drift", 1.0), ("noise", -0.1),
    ("occlusion", 1.0), ("class_repeats", 0), ("steps", 0), ("test_steps", True),
    ("seed", -1),
])
def test_a_bad_knob_is_named_in_the_error(name, value):
    with pytest.raises(data.DataError, match=f"{name}="):
        MovingSpec(**{name: value})


def test_unknown_knobs_and_bad_images_are_data_errors():
    with pytest.raises(data.DataError, match="unknown parameter.*wobble"):
        data.moving_spec("moving-mnist", {"wobble": 1})
    with pytest.raises(data.DataError, match="side"):
        render_stream(np.zeros((3, 28, 20)), np.arange(3), MovingSpec(), 5,
                      np.random.default_rng(0))


def test_a_config_with_a_bad_knob_fails_before_any_file_is_read():
    with pytest.raises(ConfigError, match="dataset_params.*speed="):
        make_config(dataset="moving-mnist", condition="given", dataset_params={"speed": -2})
    with pytest.raises(ConfigError, match="ordered stream"):
        make_config(dataset="moving-mnist", condition="sticky-0.5")


def test_the_registry_records_the_moving_sets():
    for name, source in (("moving-mnist", "mnist"), ("moving-fashion", "fashion-mnist")):
        info = data.dataset_info(name)
        assert info.source == source and info.ordered and info.seeded and info.real
        assert info.input_size == 36 * 36 == info.input_size_for({})
        assert info.input_size_for({"canvas": 40}) == 1600
        assert name not in data.REAL_DATASETS  # nothing of its own to fetch


# ---------------------------------------------------------------- on MNIST
SHORT = {"steps": 300, "test_steps": 100, "frames": 10}


def test_moving_mnist_loads_a_seeded_stream(mnist_available):
    ds = data.load_dataset("moving-mnist", seed=1, **SHORT)
    again = data.load_dataset("moving-mnist", seed=1, **SHORT)
    other = data.load_dataset("moving-mnist", seed=2, **SHORT)
    assert ds.X_train.shape == (300, 1296) and ds.X_test.shape == (100, 1296)
    assert ds.ordered and ds.params["seed"] == 1 and ds.params["frames"] == 10
    np.testing.assert_array_equal(ds.X_train, again.X_train)
    assert not np.array_equal(ds.X_train, other.X_train)
    X, y = data.load("moving-mnist", "test", seed=1, **SHORT)
    np.testing.assert_array_equal(X, ds.X_test)


def test_mlp_models_train_on_a_moving_stream(mnist_available):
    from smoothlearn.runs import dataset_for, run_many

    models = ["feedforward", "leaky", "leaky-localreset", "lstm"]
    configs = [make_config(dataset="moving-mnist", condition="given", model=m,
                           dataset_params=SHORT, data_seed=5, test_mode=mode, eval_every=150)
               for m in models for mode in ("off", "same")]
    assert dataset_for(configs[0]).params["seed"] == 5  # data_seed reaches the generator
    curves = run_many(configs)
    for curve in curves:
        assert curve.steps.tolist() == [0, 150, 300]
        assert np.all(np.isfinite(curve.test_mse)) and not curve.diverged
    by = dict(zip([(c.model, c.test_mode) for c in configs], curves, strict=True))
    # the feedforward net has no memory: the streamed test cannot differ from memory-off
    np.testing.assert_allclose(by["feedforward", "off"].test_mse,
                               by["feedforward", "same"].test_mse)
    assert not np.allclose(by["leaky", "off"].test_mse, by["leaky", "same"].test_mse)


# ---------------------------------------------------------------- the moving experiment
def test_the_experiment_runs_the_streams_its_claims_name():
    from smoothlearn.experiments import load_experiment
    from smoothlearn.figures import moving

    runs = load_experiment("moving").runs(seeds=1)
    assert {r.dataset for r in runs} == {"moving-mnist"}
    ran = {(json.dumps(r.dataset_params, sort_keys=True), str(r.condition)) for r in runs}
    assert ran == {(moving.stream_key(s), moving.condition(s)) for s in moving.STREAMS}
    arms = {(r.model, r.test_mode) for r in runs}
    assert {(p + m, t) for _, p in moving.FAMILIES for m, t in moving.ARMS} == arms
    conv = [r for r in runs if r.spec().arch == "conv"]
    assert conv and {(r.optimizer, r.lr, r.rmsprop_alpha, r.steps) for r in conv} == {
        ("rmsprop", moving.CONV_LR, moving.CONV_RMSPROP_ALPHA, moving.CONV_STEPS)}
    assert {r.lr for r in runs if r.spec().arch != "conv"} == {moving.MLP_LR}
    assert moving.UNIT.extension


def test_every_claim_names_arms_the_experiment_runs():
    from smoothlearn.experiments import load_experiment
    from smoothlearn.figures import moving

    runs = load_experiment("moving").runs(seeds=1)
    ran = {(json.dumps(r.dataset_params, sort_keys=True), str(r.condition), r.model, r.test_mode)
           for r in runs}
    for claim in moving.CLAIMS:
        for comparison in claim.comparisons:
            for arm in (comparison.better, comparison.worse):
                assert (arm["dataset_params"], arm["condition"], arm["model"],
                        arm["test_mode"]) in ran, (claim.id, arm)


def test_claims_never_mix_tiers_of_test_label_use():
    """The class-blocked streamed test reads labels through its order: it sits in an
    ``-order`` twin claim, never beside label-free comparisons."""
    from smoothlearn.figures import moving

    assert moving.label_tier("category-level", "same") == "order"
    assert moving.label_tier("category-level", "off") == "none"
    assert moving.label_tier("frame-level", "same") == "none"
    for claim in moving.CLAIMS:
        tiers = {max(moving.label_tier(_stream_of(moving, arm), arm["test_mode"])
                     for arm in (c.better, c.worse)) for c in claim.comparisons}
        assert tiers == ({"order"} if claim.id.endswith("-order") else {"none"}), claim.id
        if claim.id.endswith("-order"):
            assert claim.headline == claim.id.removesuffix("-order")


def _stream_of(moving, arm) -> str:
    return next(s for s in moving.STREAMS if moving.stream_key(s) == arm["dataset_params"]
                and moving.condition(s) == arm["condition"])


def _fake_results(better: str, seeds: int = 10) -> pd.DataFrame:
    """A results frame of the moving experiment in which the ``better`` arms' error is 0.01
    lower than feedforward's on every stream, at every step."""
    from smoothlearn.figures import moving

    rows = []
    for stream in moving.STREAMS:
        for model, test_mode in moving.ARMS:
            for seed in range(seeds):
                for step in (0, 1000, 2000):
                    gain = 0.01 if model == better and step else 0.0
                    rows.append({
                        "run_id": f"{stream}-{model}-{test_mode}-{seed}",
                        "experiment": "moving", "dataset": "moving-mnist", "model": model,
                        "condition": moving.condition(stream), "test_mode": test_mode,
                        "seed": seed, "dataset_params": moving.stream_key(stream),
                        "step": step, "test_mse": 0.09 - step * 1e-5 - gain + seed * 1e-4,
                        "test_acc": 0.5, "test_ce": 1.0})
    return pd.DataFrame(rows)


def test_the_summary_table_reports_paired_gains_and_verdicts():
    from smoothlearn.figures import moving

    table = moving.summary_table(_fake_results("leaky-localreset"), metrics=None)
    assert len(table) == len(moving.FAMILIES) * len(moving.STREAMS) * len(moving.ARMS)
    assert (table.loc[table["family"] == "conv", "seeds"] == 0).all()  # no conv runs here
    table = table[table["family"] == "MLP"]
    local = table[table["arm"] == "leaky-localreset, memory off"].set_index("stream")
    assert local.loc["frame-level", "verdict"] == "reproduced"
    assert local.loc["frame-level", "vs FF (MSE gain)"].startswith("+0.0100")
    assert local.loc["i.i.d.", "verdict"] == "reversed"  # the control claims FF is better
    assert local.loc["i.i.d.", "vs FF (MSE gain)"].startswith("+0.0100")
    assert local.loc["frame-level, shuffled", "verdict"] == "reversed"  # a control too
    # the same gain on the smooth and the shuffled frames: no difference between orders
    assert local.loc["frame-level", "verdict vs shuffled"] == "not testable"
    streamed = table[table["arm"] == "leaky-localreset, streamed"].set_index("stream")
    assert streamed.loc["category-level", "test labels"] == "order"
    assert streamed.loc["frame-level", "test labels"] == "none"
    leaky = table[table["arm"] == "leaky, memory off"]
    assert set(leaky["verdict"]) == {"not testable"}  # no difference at all


def test_the_curves_draw_every_stream():
    from smoothlearn.figures import moving
    from smoothlearn.figures.plotting import Context

    fig, caption = moving.draw_curves(_fake_results("leaky"), Context())
    assert len(fig.axes) == len(moving.FAMILIES) * len(moving.STREAMS)
    assert "shuffled" in caption
    assert "streamed" in caption


def test_the_strip_shows_the_start_of_each_stream(mnist_available):
    from smoothlearn.figures import moving
    from smoothlearn.figures.plotting import Context

    fig, caption = moving.draw_strip(_fake_results("leaky").head(1), Context())
    assert len(fig.axes) == len(moving.NATURAL) * moving.STRIP_FRAMES
    assert "first" in caption


# ---------------------------------------------------------------- configs on rendered streams
@pytest.mark.parametrize(("settings", "message"), [
    ({"dataset_params": {"seed": 3}}, "give data_seed instead"),
    ({"dataset_params": {"steps": 500}, "steps": 600}, "longer than the moving-mnist stream"),
    ({"test_mode": "random"}, "test_mode must be 'off' or 'same'"),
    ({"test_mode": "repeat-1"}, "test_mode must be 'off' or 'same'"),
])
def test_configs_a_rendered_stream_cannot_honour_are_refused(settings, message):
    from smoothlearn.experiments import ConfigError, make_config

    with pytest.raises(ConfigError, match=message):
        make_config(dataset="moving-mnist", condition="given", **settings)


def test_each_seed_renders_its_own_stream_unless_data_seed_is_given():
    from smoothlearn.experiments import make_config

    seeds = [make_config(dataset="moving-mnist", condition="given", seed=s).spec()
             for s in (0, 4)]
    assert [r.data_seed for r in seeds] == [0, 4]
    fixed = make_config(dataset="moving-mnist", condition="given", seed=4, data_seed=1)
    assert fixed.spec().data_seed == 1
    synthetic = make_config(dataset="synthetic-categories", seed=4)
    assert synthetic.spec().data_seed == 0  # generated sets keep one data seed


def test_an_evaluation_subset_of_a_stream_is_its_start(mnist_available):
    """A streamed test needs consecutive frames: eval_items takes the stream's first frames."""
    from smoothlearn.experiments import make_config
    from smoothlearn.runs import dataset_for, prepare

    config = make_config(dataset="moving-mnist", condition="given", dataset_params=SHORT,
                         eval_items=40, test_mode="same", test_reset="input-change")
    prep = prepare(config)
    np.testing.assert_array_equal(prep.X_eval, dataset_for(config).X_test[:40])


def test_quick_mode_shortens_the_conv_runs_too():
    from smoothlearn import reproduce as rp

    (info, quick), = rp.plan_experiments(quick=True, names=["moving"])
    (_, full), = rp.plan_experiments(quick=False, names=["moving"])
    longest = {}
    for configs, key in ((quick, "quick"), (full, "full")):
        for c in configs:
            family = "conv" if c.spec().arch == "conv" else "mlp"
            longest[key, family] = max(longest.get((key, family), 0), c.steps or 60_000)
    assert longest["quick", "conv"] < longest["full", "conv"]
    assert longest["quick", "mlp"] < longest["full", "mlp"]


# ---------------------------------------------------------------- the shuffled control
def test_the_shuffled_control_trains_on_the_same_frames_in_another_order(mnist_available):
    from smoothlearn.runs import prepare

    params = {"steps": 200, "test_steps": 20, "frames": 10}
    given_, shuffled = (prepare(make_config(dataset="moving-mnist", condition=c,
                                            dataset_params=params, steps=150, seed=2))
                        for c in ("given", "random"))
    assert sorted(shuffled.order.tolist()) == given_.order.tolist() == list(range(150))
    assert not np.array_equal(shuffled.order, given_.order)
    np.testing.assert_array_equal(shuffled.X_eval, given_.X_eval)  # one test stream
    again = prepare(make_config(dataset="moving-mnist", condition="random",
                                dataset_params=params, steps=150, seed=2))
    np.testing.assert_array_equal(again.order, shuffled.order)


def test_an_ordered_stream_takes_only_its_own_order_or_a_shuffle():
    with pytest.raises(ConfigError, match="'random': the same frames shuffled"):
        make_config(dataset="moving-mnist", condition="repeat-3")


# ---------------------------------------------------------------- validation split
def test_the_validation_split_never_reads_the_test_split(monkeypatch):
    """Training items up to VALIDATION_START make the training stream, the rest the
    validation stream; the test split (here: all of class 3) is not used."""
    from smoothlearn.data import moving as moving_data

    images, _ = _images(n=60)
    train_labels = np.arange(60) % 3  # classes 0-2; the test split holds class 3 only
    split = {"train": (images.reshape(60, -1), train_labels),
             "test": (images[:20].reshape(20, -1), np.full(20, 3))}
    monkeypatch.setattr(moving_data, "_load_real", lambda source, which, folder: split[which])
    monkeypatch.setattr(moving_data, "VALIDATION_START", 45)
    ds = moving_data.load_moving("moving-mnist", None, {"steps": 90, "test_steps": 30,
                                                         "validation": True, "canvas": 28})
    assert set(ds.y_test.tolist()) <= {0, 1, 2}
    plain = moving_data.load_moving("moving-mnist", None, {"steps": 90, "test_steps": 30,
                                                            "canvas": 28})
    assert set(plain.y_test.tolist()) == {3}


# ---------------------------------------------------------------- resets against boundaries
def _episode_stream(n_episodes: int, frames: int | None = None, seed: int = 0) -> np.ndarray:
    """Frames of rectangles drifting 1 px per frame, a new rectangle every ``frames`` (by
    default the frame-level stream's episode length, which ``episode_starts`` assumes)."""
    from smoothlearn.figures import moving

    frames = frames or moving.NATURAL["frame-level"]["frames"]
    return _stream(steps=n_episodes * frames, seed=seed, frames=frames, speed=1.0,
                   canvas=32).X


def test_detection_rates_on_a_stream_with_known_boundaries():
    from smoothlearn.figures import moving

    train, test = _episode_stream(60, seed=1), _episode_stream(30, seed=2)
    drive = np.maximum(test @ np.random.default_rng(0).normal(size=(test.shape[1], 64)), 0)
    found = {d.rule: d for d in moving.detections("frame-level", train, test, drive, 0.5)}
    assert set(found) == set(moving.RULES)
    assert found["A.11"].threshold == 1.0
    calibrated = found["calibrated"]
    assert calibrated.hit_rate - calibrated.false_alarm_rate >= 0.5
    truth = moving.episode_starts("frame-level", test.shape[0])
    assert truth.sum() == 30 and truth[::moving.NATURAL["frame-level"]["frames"]].all()


def test_the_calibrated_threshold_comes_from_the_training_stream_only():
    from smoothlearn.figures import moving

    train, other_train = _episode_stream(60, seed=1), _episode_stream(60, seed=5, frames=10)
    test, other_test = _episode_stream(30, seed=2), _episode_stream(30, seed=3)
    drive = np.ones((test.shape[0], 4))

    def threshold(train_frames, test_frames):
        rows = moving.detections("frame-level", train_frames, test_frames, drive, 0.5)
        return next(d.threshold for d in rows if d.rule == "calibrated")

    assert threshold(train, test) == threshold(train, other_test)  # the test never moves it
    shaky = np.clip(other_train + 0.3 * np.random.default_rng(0).uniform(
        size=other_train.shape).astype(np.float32), 0, 1)
    assert threshold(shaky, test) != threshold(train, test)  # the training stream does


def test_the_settings_table_in_the_docs_is_the_configs():
    from pathlib import Path

    from smoothlearn.figures import moving

    doc = (Path(__file__).parents[1] / "docs" / "moving-method.md").read_text()
    assert moving.settings_table() in doc, "regenerate it: moving.settings_table()"
    assert "| conv |" in moving.settings_table() and "rmsprop" in moving.settings_table()


def test_claims_json_gets_the_reset_detection_list(monkeypatch):
    from smoothlearn import reproduce as rp
    from smoothlearn.figures import moving

    fake = (moving.Detection("frame-level", "A.11", 0.9, 0.1, 1.0),)
    monkeypatch.setattr(moving, "reset_detection", lambda data_seed=0: fake)
    info = rp.ExperimentInfo(name="moving", title="", figure="", status="ok")
    notes: list[str] = []
    tables = rp._unit_tables(_fake_results("leaky").head(3), [info], notes)
    assert tables == {"reset_detection": [{"stream": "frame-level", "rule": "A.11",
                                           "hit_rate": 0.9, "false_alarm_rate": 0.1,
                                           "threshold": 1.0}]}
    assert not notes
    failed = rp.ExperimentInfo(name="moving", title="", figure="", status="failed")
    assert rp._unit_tables(_fake_results("leaky").head(3), [failed], notes) == {}


def test_the_roc_figure_shows_every_rule_on_every_natural_stream(mnist_available, monkeypatch):
    from smoothlearn.figures import moving
    from smoothlearn.figures.plotting import Context

    fake = tuple(moving.Detection(s, r, 0.9, 0.05, 1.0) for s in moving.NATURAL
                 for r in moving.RULES)
    monkeypatch.setattr(moving, "reset_detection", lambda data_seed=0: fake)
    fig, caption = moving.draw_roc(_fake_results("leaky").head(1), Context())
    assert len(fig.axes) == len(moving.NATURAL)
    assert all(f"{s}, {r}: hit 0.90" in caption for s in moving.NATURAL for r in moving.RULES)


def _decided(claim: str, verdict: str):
    """A decided comparison of ``claim`` with one verdict (the answer reads only verdicts)."""
    from smoothlearn.verdicts import Arms, ComparisonResult, Decision, Paired

    return ComparisonResult(claim=claim, text="t", comparison="c", experiment="moving",
                            arms=Arms("a", "b", "test_mse"), stats=Paired(n=10),
                            decision=Decision(verdict))


def _answer_inputs(verdict: str, shuffled: str, accuracy: float):
    from smoothlearn.figures import moving

    results = [_decided(moving._claim_id("frame-level", p, suffix), v)
               for _, p in moving.FAMILIES
               for suffix, v in (("", verdict), ("-vs-shuffled", shuffled))]
    rows = [{**moving._arm("frame-level", p, "feedforward", "off"), "step": 100, "seed": 0,
             "test_acc": accuracy, "experiment": "moving"} for _, p in moving.FAMILIES]
    detection = [{"stream": "frame-level", "rule": "calibrated", "hit_rate": 0.9,
                  "false_alarm_rate": 0.1}]
    return pd.DataFrame(rows), results, {"reset_detection": detection}


@pytest.mark.parametrize(("verdict", "shuffled", "lead"), [
    ("reproduced", "reproduced", "Yes"),
    ("reproduced", "reversed", "Partly"),
    ("reversed", "reversed", "No"),
])
def test_the_answer_follows_the_frame_level_verdicts(verdict, shuffled, lead):
    from smoothlearn.figures import moving

    text = moving.answer(*_answer_inputs(verdict, shuffled, 0.9))
    assert text.startswith(lead)
    assert f"*{verdict}*" in text and f"*{shuffled}*" in text
    assert "90.0% test accuracy" in text and "below" not in text
    assert "calibrated +0.80" in text and "reaches" in text


def test_the_answer_says_when_the_nets_did_not_learn():
    from smoothlearn.figures import moving

    text = moving.answer(*_answer_inputs("reproduced", "reproduced", 0.6))
    assert "60.0% test accuracy (below the 85%" in text


def test_the_report_opens_with_the_units_answer_and_a_failure_is_a_note(monkeypatch):
    from smoothlearn import reproduce as rp
    from smoothlearn.figures import moving
    from smoothlearn.report.markdown import markdown_report

    frame, results, tables = _answer_inputs("reproduced", "reproduced", 0.9)
    info = rp.ExperimentInfo(name="moving", title="", figure="", status="ok")
    notes: list[str] = []
    answers = rp._answers(frame, results, tables, [info], notes)
    assert answers == [moving.answer(frame, results, tables)] and not notes
    page = markdown_report([], [], [], {"answers": answers})
    assert "## The answer\n\n" + answers[0] in page

    def broken(*_args):
        raise KeyError("claim")

    monkeypatch.setattr(rp.figures, "find", lambda name: dataclasses.replace(
        moving.UNIT, answer=broken))
    assert rp._answers(frame, results, tables, [info], notes) == []
    assert notes == ["moving: the answer failed: KeyError: 'claim'"]


def test_the_moving_tiers_agree_with_the_one_label_tier_of_the_claims():
    """Every run of the experiment, read as a results row, gets from
    :func:`smoothlearn.claims.label_tier` the tier its stream and test mode have here."""
    from smoothlearn.claims import label_tier, normalise_frame
    from smoothlearn.experiments import load_experiment
    from smoothlearn.figures import moving

    runs = load_experiment("moving").runs(seeds=1)
    rows = normalise_frame(pd.DataFrame([
        {"model": r.model, "dataset": r.dataset, "condition": str(r.condition),
         "test_mode": r.test_mode, "test_reset": r.test_reset, "reset": r.reset,
         "dataset_params": json.dumps(r.dataset_params, sort_keys=True), "seed": 0}
        for r in runs]))
    streams_of = {(moving.stream_key(s), moving.condition(s)): s for s in moving.STREAMS}
    for row in rows.to_dict("records"):
        stream = streams_of[(row["dataset_params"], row["condition"])]
        assert label_tier(row) == moving.label_tier(stream, row["test_mode"]), row


def test_the_extension_claims_say_they_go_beyond_the_paper():
    from smoothlearn.figures import moving

    assert {claim.source for claim in moving.CLAIMS} == {"beyond the paper"}
