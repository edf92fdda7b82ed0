"""The model families and their trainers, declared once: the table runs and sweeps look up.

A *family* is a kind of network that one set of trainers handles: the per-sample leaky or
feedforward net, the mini-batch net, the LSTM and the conv net. Its entry says how many of
its runs a sweep batch holds, whether runs that differ only in their test protocol share one
training, and which trainer runs it on the CPU (the compiled engine), on a torch device and
as the readable reference. A run's family follows from its preset's architecture
(:func:`family_of`); ``docs/architecture.md`` shows how to add one.

The trainers load numba or PyTorch, so each adapter below imports its trainer when first
called: configs and the sweep planner read this table without loading either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from smoothlearn.contract import Curves, Prepared, SharedTests

__all__ = ["Arch", "Job", "TrainOptions", "Family", "FAMILIES", "family_of", "CONV_HIDDEN"]

#: The network a model preset builds (``MODELS[name]["arch"]``; part of the run id).
Arch = Literal["leaky", "lstm", "conv"]
#: Units of the conv net's leaky feature layer, on every dataset (docs/convnet.md): between
#: the pooled features (256 for 28 x 28 images, 576 for 36 x 36) and the 10 classes.
CONV_HIDDEN = 128
#: The LSTM's truncated-BPTT rule (``docs/model.md``). Part of an LSTM run's id, so a store
#: never mixes results of the earlier rule (the window recomputed from its start state) with
#: results of this one (the stored history, Williams & Peng's BPTT(h; 1)).
LSTM_BPTT_RULE = "stored-history"

Progress = Callable[[int], None] | None


@dataclass(frozen=True)
class Job:
    """One run for a trainer: its arrays and the settings of the net that are not in them."""

    prep: Prepared
    hidden: int
    batch_size: int
    bptt: int
    init_seed: int


@dataclass(frozen=True)
class TrainOptions:
    """How a fast trainer runs: ``device`` None (the compiled CPU engine) or a torch device;
    ``shared_tests`` scores runs that share a training on its weights (CPU only)."""

    threads: int | None = None
    progress: Progress = None
    device: str | None = None
    shared_tests: SharedTests | None = None


FastTrainer = Callable[[Sequence[Job], TrainOptions], list[Curves]]
ReferenceTrainer = Callable[[Job, Progress], Curves]
Init = Callable[[int, int, int, int], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Family:
    """One model family: how a sweep batches its runs and which trainer trains them where."""

    name: str
    arch: Arch
    #: Runs per sweep batch on the fast engine; None: by input size (``sweep.batch_cap``).
    batch_cap: int | None
    #: Runs that differ only in their test protocol train one network (``runs.run_many``).
    shares_training: bool
    #: ``init(d_in, hidden, d_out, init_seed)``: the starting weights of both trainers.
    init: Init
    cpu: FastTrainer
    device: FastTrainer
    reference: ReferenceTrainer
    #: Hidden units when the config gives none; None: the dataset's (``experiments.HIDDEN``).
    hidden: int | None = None
    #: Extra entries of the run id (a training rule that once changed).
    identity: Mapping[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------- starting weights
def _mlp_init(d_in: int, hidden: int, d_out: int, init_seed: int) -> dict[str, np.ndarray]:
    from smoothlearn.nn import init_params

    return init_params(d_in, hidden, d_out, init_seed)


def _conv_init(d_in: int, hidden: int, d_out: int, init_seed: int) -> dict[str, np.ndarray]:
    from smoothlearn.convnet import init_conv_params

    return init_conv_params(d_in, hidden, d_out, init_seed)


# ----------------------------------------------------------------- per-sample leaky net
def _per_sample_fast(jobs: Sequence[Job], options: TrainOptions) -> list[Curves]:
    from smoothlearn.engine import train_many

    return train_many([j.prep for j in jobs], threads=options.threads,
                      progress=options.progress, device=options.device,
                      shared_tests=options.shared_tests)


def _per_sample_reference(job: Job, progress: Progress) -> Curves:
    from smoothlearn.train import train_reference

    return train_reference(job.prep, progress)


# ----------------------------------------------------------------- mini-batch net
def _minibatch_cpu(jobs: Sequence[Job], options: TrainOptions) -> list[Curves]:
    from smoothlearn.engine.minibatch import train_minibatch_many

    return train_minibatch_many([j.prep for j in jobs], [j.batch_size for j in jobs],
                                options.threads, options.progress)


def _minibatch_device(jobs: Sequence[Job], options: TrainOptions) -> list[Curves]:
    from smoothlearn.engine.torch_minibatch import train_minibatch_device

    return train_minibatch_device([j.prep for j in jobs], [j.batch_size for j in jobs],
                                  str(options.device), options.progress)


def _minibatch_reference(job: Job, progress: Progress) -> Curves:
    from smoothlearn.train import train_minibatch

    return train_minibatch(job.prep, job.batch_size, progress)


# ----------------------------------------------------------------- LSTM
def _lstm_runs(jobs: Sequence[Job]) -> list:
    from smoothlearn.engine.lstm import LSTMRun

    return [LSTMRun(j.prep, j.hidden, j.bptt, j.init_seed) for j in jobs]


def _lstm_cpu(jobs: Sequence[Job], options: TrainOptions) -> list[Curves]:
    from smoothlearn.engine.lstm import train_lstm_many

    return train_lstm_many(_lstm_runs(jobs), options.threads, options.progress,
                           options.shared_tests)


def _lstm_device(jobs: Sequence[Job], options: TrainOptions) -> list[Curves]:
    from smoothlearn.engine.torch_lstm import train_lstm_device

    return train_lstm_device(_lstm_runs(jobs), str(options.device), options.progress)


def _lstm_reference(job: Job, progress: Progress) -> Curves:
    from smoothlearn.train import train_lstm

    return train_lstm(job.prep, job.hidden, job.bptt, job.init_seed, progress)


# ----------------------------------------------------------------- conv net
def _conv_fast(jobs: Sequence[Job], options: TrainOptions) -> list[Curves]:
    from smoothlearn.engine.conv import train_conv_many

    return train_conv_many([j.prep for j in jobs], options.threads, options.progress,
                           device=options.device, shared_tests=options.shared_tests)


def _conv_reference(job: Job, progress: Progress) -> Curves:
    from smoothlearn.train import train_conv_reference

    return train_conv_reference(job.prep, progress)


# ----------------------------------------------------------------- the table
FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("per-sample", "leaky", batch_cap=None, shares_training=True, init=_mlp_init,
           cpu=_per_sample_fast, device=_per_sample_fast, reference=_per_sample_reference),
    # one batch is one mini-batch ensemble; few runs, so a grid spreads over the workers
    Family("minibatch", "leaky", batch_cap=4, shares_training=False, init=_mlp_init,
           cpu=_minibatch_cpu, device=_minibatch_device, reference=_minibatch_reference),
    # compiled LSTM runs take minutes each and train one after another in a worker: one per
    # batch spreads them evenly over the workers and stores each as soon as it is done
    Family("lstm", "lstm", batch_cap=1, shares_training=True, init=_mlp_init,
           cpu=_lstm_cpu, device=_lstm_device, reference=_lstm_reference,
           identity={"bptt_rule": LSTM_BPTT_RULE}),
    # one batch is one stacked ensemble (engine.conv.MAX_ENSEMBLE networks)
    Family("conv", "conv", batch_cap=8, shares_training=True, init=_conv_init,
           cpu=_conv_fast, device=_conv_fast, reference=_conv_reference,
           hidden=CONV_HIDDEN),
)}


def family_of(arch: str, batch_size: int) -> Family:
    """The family that trains a run: its architecture's, and for the MLP per sample or in
    mini-batches. The one place that tells the families apart."""
    if arch == "leaky":
        return FAMILIES["minibatch" if batch_size > 1 else "per-sample"]
    return FAMILIES[arch]
