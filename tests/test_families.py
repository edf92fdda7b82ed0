"""The trainer table: every run finds exactly one family, and the table's entries agree with
the trainers and the sweep planner that read them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smoothlearn import sweep
from smoothlearn.experiments import MODELS, make_config
from smoothlearn.families import CONV_HIDDEN, FAMILIES, LSTM_BPTT_RULE, family_of


@given(arch=st.sampled_from(["leaky", "lstm", "conv"]), batch_size=st.integers(1, 64))
def test_every_architecture_and_batch_size_has_one_family_of_that_architecture(
        arch, batch_size):
    family = family_of(arch, batch_size)
    assert family is FAMILIES[family.name] and family.arch == arch
    if arch == "leaky":
        assert (family.name == "minibatch") == (batch_size > 1)


def test_an_unknown_architecture_is_not_silently_trained_as_another():
    with pytest.raises(KeyError):
        family_of("transformer", 1)


@pytest.mark.parametrize("model,family", [
    ("feedforward", "per-sample"), ("leaky-reset", "per-sample"), ("lstm", "lstm"),
    ("minibatch-feedforward", "minibatch"), ("conv-leaky", "conv"),
])
def test_each_model_preset_resolves_to_its_family(model, family):
    dataset = "mnist" if MODELS[model].get("arch") == "conv" else "synthetic-categories"
    assert make_config(model=model, dataset=dataset).spec().family.name == family


def test_family_entries_reach_the_spec_the_run_id_and_the_sweep_planner():
    conv = make_config(model="conv-leaky", dataset="mnist").spec()
    assert conv.hidden == CONV_HIDDEN == FAMILIES["conv"].hidden
    lstm = make_config(model="lstm")
    assert lstm.spec().record()["bptt_rule"] == LSTM_BPTT_RULE
    assert "bptt_rule" not in make_config(model="leaky").spec().record()
    for name, family in FAMILIES.items():
        config = make_config(model={"per-sample": "leaky", "minibatch": "minibatch-feedforward",
                                    "lstm": "lstm", "conv": "conv-leaky"}[name],
                             dataset="mnist")
        fast = sweep.batch_cap(config, "fast")
        assert fast == (family.batch_cap or sweep.CAP_LARGE)  # mnist: a large input
        assert sweep.batch_cap(config, "reference") == sweep.CAP_REFERENCE


def test_only_the_mini_batch_family_never_shares_a_training():
    assert {n for n, f in FAMILIES.items() if not f.shares_training} == {"minibatch"}
