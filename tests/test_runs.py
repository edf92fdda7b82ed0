"""From configs to runs: ``prepare`` materialises the run contract, ``run_many`` trains it."""

from __future__ import annotations

import numpy as np
import pytest

from smoothlearn import data, streams
from smoothlearn.experiments import MODELS, ConfigError, make_config
from smoothlearn.runs import dataset_for, prepare, run_many

SMALL = {"dataset": "synthetic-categories", "eval_every": 300}


def test_prepare_materialises_a_run():
    config = make_config(**SMALL, model="leaky-reset", condition="repeat-3", seed=4)
    prep = prepare(config)
    labels = prep.labels[prep.order]
    assert prep.steps == 1200 and streams.mean_run_length(labels) == pytest.approx(3, rel=0.05)
    assert np.array_equal(prep.resets[:, 0], streams.boundaries(labels))
    assert prep.eval_steps.tolist() == [0, 300, 600, 900, 1200]
    assert prep.eval_resets is None and prep.leak.tolist() == [0.5] * 8
    assert np.array_equal(prep.targets.argmax(1), prep.labels)


def test_same_seed_same_init_and_within_category_order_across_models():
    a = prepare(make_config(**SMALL, model="feedforward", condition="random", seed=2))
    b = prepare(make_config(**SMALL, model="leaky-reset", condition="repeat-5", seed=2))
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    for c in range(4):
        assert np.array_equal(a.order[a.labels[a.order] == c], b.order[b.labels[b.order] == c])


def test_test_modes_build_evaluation_streams():
    base = {**SMALL, "model": "leaky-reset", "condition": "repeat-5"}
    same = prepare(make_config(**base, test_mode="same"))
    assert streams.mean_run_length(same.labels_eval) == pytest.approx(5, rel=0.05)
    assert np.array_equal(same.eval_resets[:, 0], streams.boundaries(same.labels_eval))
    one = prepare(make_config(**base, test_mode="repeat-1"))
    assert streams.same_label_fraction(one.labels_eval) == 0
    local = prepare(make_config(**base, test_mode="same", test_reset="input-change"))
    assert not np.array_equal(local.eval_resets, same.eval_resets)


def test_runs_tested_on_the_same_items_share_one_test_array():
    """The engine evaluates a shared test set once per network instead of stacking copies."""
    a = prepare(make_config(**SMALL, model="feedforward", seed=1))
    b = prepare(make_config(**SMALL, model="leaky", condition="repeat-3", seed=2))
    assert a.X_eval is b.X_eval and not a.X_eval.flags.writeable
    c = prepare(make_config(**SMALL, eval_items=40, seed=1))
    d = prepare(make_config(**SMALL, eval_items=40, seed=3))
    assert c.X_eval is d.X_eval and c.X_eval.shape[0] == 40
    config = make_config(**SMALL, model="leaky", condition="repeat-3", test_mode="same")
    streamed, test = prepare(config), dataset_for(config)
    rows = [int(np.flatnonzero((test.X_test == x).all(1))[0]) for x in streamed.X_eval]
    assert sorted(rows) == list(range(test.X_test.shape[0]))  # every item once, in stream order
    assert np.array_equal(test.y_test[rows], streamed.labels_eval)
    # which rows: the engine computes a network's first layer once per base item from these
    assert streamed.eval_base is test.X_test and streamed.eval_items.tolist() == rows
    for prep in (a, c, streamed):
        np.testing.assert_array_equal(prep.eval_base[prep.eval_items], prep.X_eval)


def test_steps_eval_items_and_balance():
    prep = prepare(make_config(**SMALL, steps=250, eval_items=40))
    assert prep.steps == 250 and prep.eval_steps[-1] == 250 and prep.X_eval.shape[0] == 40
    unbalanced = make_config(**SMALL, class_balance="balanced", dataset_params={
        "n_train_per_category": 30})
    assert prepare(unbalanced).steps == 120


def test_ordered_streams_require_given():
    with pytest.raises(ConfigError, match="given"):
        prepare(make_config(dataset="synthetic-no-shared", condition="repeat-3"))
    prep = prepare(make_config(dataset="synthetic-no-shared", condition="given"))
    assert np.array_equal(prep.order, np.arange(prep.steps))


def test_every_model_preset_prepares():
    for model in MODELS:
        dataset = "multiscale" if model.startswith("ae-") else "synthetic-categories"
        condition = "given" if model.startswith("ae-") else "random"
        params = {"n_features": 256} if model.startswith("conv-") else {}  # 16 x 16 images
        prep = prepare(make_config(dataset=dataset, model=model, condition=condition, steps=20,
                                   dataset_params=params))
        assert prep.steps == 20


def test_explicit_eval_steps_replace_eval_every():
    prep = prepare(make_config(**SMALL, eval_steps=[100, 500, 5000]))
    assert prep.eval_steps.tolist() == [0, 100, 500, 1200]


@pytest.mark.parametrize("name", sorted(data.SYNTHETIC_DATASETS))
def test_prepared_shapes_follow_the_dataset_registry(name):
    info = data.dataset_info(name)
    condition = "given" if info.ordered else "random"
    config = make_config(dataset=name, condition=condition, steps=10)
    prep = prepare(config)
    assert prep.X.shape[1] == info.input_size and prep.task == info.task
    assert dataset_for(config).ordered == info.ordered
    if info.task == "classify":
        assert prep.targets.shape[1] == info.n_classes


def test_run_many_gives_one_curve_per_config_on_both_engines():
    configs = [make_config(**{**SMALL, "eval_every": 30}, steps=60, seed=s) for s in range(2)]
    fast, ref = run_many(configs, engine="fast"), run_many(configs, engine="reference")
    assert [c.steps.tolist() for c in fast] == [[0, 30, 60]] * 2
    for a, b in zip(fast, ref, strict=True):
        np.testing.assert_allclose(a.test_mse, b.test_mse, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- one training
# Runs that differ only in their test protocol train one network (``run_many``); each must
# get exactly the numbers of its own training, on every trainer that shares.
SHARED = {
    "leaky": dict(SMALL, model="leaky-reset", condition="repeat-3", steps=600),
    "lstm": dict(SMALL, model="lstm", hidden=6, condition="repeat-3", steps=300),
    "conv": dict(dataset="synthetic-categories", dataset_params={"n_features": 256},
                 model="conv-leaky", condition="repeat-3", steps=90, eval_every=45),
}


#: How far a shared training's metrics may be from a separate training's (relative): 0 where
#: one code scores them; the per-sample engine's shared pass is other code (see below).
METRIC_SUM_RTOL = {arch: 1e-12 if arch == "leaky" else 0.0 for arch in SHARED}


@pytest.mark.parametrize("arch", SHARED)
def test_runs_differing_only_in_test_protocol_train_once_with_their_own_numbers(
        arch, monkeypatch):
    from smoothlearn import runs

    tests = [dict(test_mode="off"), dict(test_mode="same"), dict(test_mode="repeat-1"),
             dict(test_mode="same", test_reset="never")]
    configs = [make_config(**SHARED[arch], seed=s, **t) for s in (0, 1) for t in tests]
    shared = runs._shared_training([c.spec() for c in configs],
                                  [prepare(c) for c in configs])
    assert {len(v) for v in shared.values()} == {3} and len(shared) == 2  # one per seed
    followed = []
    real_follower = runs._follower_curves
    monkeypatch.setattr(runs, "_follower_curves",
                        lambda *a: followed.append(1) or real_follower(*a))  # fmt: skip
    together = run_many(configs)
    assert len(followed) == 6  # six runs took their leader's training
    for config, curves in zip(configs, together, strict=True):
        alone = run_many([config])[0]
        np.testing.assert_array_equal(curves.steps, alone.steps)
        for name in ("test_mse", "test_ce", "test_acc"):
            # the per-sample engine scores a network's test sets in one pass, its first layer
            # once per item (engine.kernels.eval_shared): the float32 math is the same, the
            # float64 sums of the metrics may round their last bit differently (1.5e-16 seen)
            np.testing.assert_allclose(getattr(curves, name), getattr(alone, name),
                                       rtol=METRIC_SUM_RTOL[arch], atol=0,
                                       err_msg=f"{config.test_mode} {name}")
        assert curves.diverged == alone.diverged
        for name, value in alone.final_params.items():
            np.testing.assert_array_equal(curves.final_params[name], value, err_msg=name)
    assert not np.array_equal(together[0].test_mse, together[1].test_mse)  # tests do differ


@pytest.mark.parametrize("sparse", [True, False], ids=["item-by-item", "blas"])
def test_the_averaging_control_trains_with_the_feedforward_net_and_equals_the_reference(
        sparse, monkeypatch):
    """Memory switched on only at test is evaluated on the feedforward net's one training,
    on both evaluation paths of the engine, with the numbers of the readable reference."""
    from smoothlearn.engine import ensemble

    base = dict(SMALL, model="feedforward", condition="repeat-5", steps=600, lr=0.05)
    streamed = dict(test_mode="same", test_reset="label")
    configs = [make_config(**base), make_config(**base, **streamed),
               *(make_config(**base, **streamed, test_memory=m) for m in ("hidden", "output"))]
    real_groups = ensemble.eval_groups
    monkeypatch.setattr(ensemble, "eval_groups",
                        lambda runs, _sparse=None, nets=None: real_groups(runs, sparse, nets))
    together = run_many(configs)
    reference = run_many(configs, engine="reference")
    for config, got, want in zip(configs, together, reference, strict=True):
        for name in ("test_mse", "test_ce", "test_acc"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-5,
                                       atol=1e-6, err_msg=f"{config.test_memory} {name}")
    plain, hidden, output = (c.test_mse for c in together[1:])
    assert not np.allclose(hidden, plain) and not np.allclose(output, plain)
    assert not np.allclose(hidden, output)


def test_runs_share_a_training_only_when_every_training_setting_agrees():
    from smoothlearn import runs

    base = SHARED["leaky"]
    configs = [make_config(**base, test_mode="same"), make_config(**base, test_mode="off"),
               make_config(**base, test_mode="off", lr=0.02),
               make_config(**base, test_mode="off", init_seed=5)]
    shared = runs._shared_training([c.spec() for c in configs],
                                  [prepare(c) for c in configs])
    assert shared == {0: [1]}
