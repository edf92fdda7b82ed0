"""The benchmark's workloads: datasets, network shapes and settings, built into ``Prepared`` runs.

MNIST uses the real images when ``smoothlearn.data.load("mnist")`` finds them
(``SMOOTHLEARN_DATA``), else random [0, 1] inputs with 19% non-zeros, so that the benchmark
runs anywhere (the table names the data source).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from smoothlearn import data, streams
from smoothlearn.contract import Prepared, TrainSettings
from smoothlearn.nn import init_params, reset_flags


@dataclass
class Workload:
    """One benchmark case: a dataset, a network shape and settings, built into runs."""

    name: str
    X: np.ndarray
    labels: np.ndarray
    X_test: np.ndarray
    labels_test: np.ndarray
    hidden: int
    leak: np.ndarray | float
    reset: str
    reset_groups: int
    condition: str
    task: str
    settings: TrainSettings
    source: str

    @property
    def shape(self) -> str:
        d_out = self.X.shape[1] if self.task == "reconstruct" else int(self.labels.max()) + 1
        return f"{self.X.shape[1]}-{self.hidden}-{d_out}"

    def runs(
        self, seeds: int, steps: int, eval_every: int | None = None, stream_every: int = 0
    ) -> list[Prepared]:
        """``seeds`` runs of ``steps`` steps; every ``stream_every``-th run evaluates streamed."""
        classify = self.task == "classify"
        d, n_out = self.X.shape[1], (int(self.labels.max()) + 1 if classify else self.X.shape[1])
        eye = np.eye(n_out, dtype=np.float32)
        targets = eye[self.labels] if classify else self.X
        targets_test = eye[self.labels_test] if classify else self.X_test
        no_labels = np.full(self.X.shape[0], -1)
        out = []
        for seed in range(seeds):
            order = streams.order(self.labels, self.condition, seed)
            order = np.resize(order, steps)  # repeat the epoch if more steps are asked for
            every = eval_every or steps
            streamed = stream_every > 0 and seed % stream_every == stream_every - 1
            out.append(
                Prepared(
                    X=self.X,
                    targets=targets,
                    labels=self.labels if classify else no_labels,
                    order=order,
                    resets=reset_flags(
                        self.reset, self.X[order], self.labels[order], self.reset_groups
                    ),
                    params=init_params(d, self.hidden, n_out, seed),
                    leak=np.broadcast_to(np.asarray(self.leak, np.float32), (self.hidden,)).copy(),
                    eval_steps=np.unique(np.r_[np.arange(0, steps, every), steps]),
                    X_eval=self.X_test,
                    targets_eval=targets_test,
                    labels_eval=self.labels_test if classify else np.full(len(self.X_test), -1),
                    eval_resets=(
                        reset_flags(self.reset, self.X_test, self.labels_test, self.reset_groups)
                        if streamed
                        else None
                    ),
                    settings=self.settings,
                    task=self.task,
                )
            )
        return out


def _read_only(*arrays: np.ndarray) -> None:
    """Like the library's datasets: read-only, so the engine may cache their sparse form."""
    for a in arrays:
        a.flags.writeable = False


def mnist_workload(quick: bool, test_items: int) -> Workload:
    """784-392-10, leak 0.5 with label resets (Fig 2's leaky+reset), MSE, SGD lr 0.01."""
    try:
        X, y = data.load("mnist")
        Xt, yt = data.load("mnist", "test")
        source = "MNIST"
    except Exception:  # noqa: BLE001 - any failure to find the files means: use random data
        rng = np.random.default_rng(0)
        n = 10_000 if quick else 60_000
        X = np.where(rng.random((n, 784)) < 0.19, rng.random((n, 784)), 0).astype(np.float32)
        y = rng.integers(0, 10, n)
        Xt = np.where(rng.random((10_000, 784)) < 0.19, rng.random((10_000, 784)), 0)
        Xt, yt = Xt.astype(np.float32), rng.integers(0, 10, 10_000)
        _read_only(X, y, Xt, yt)
        source = "random, 19% non-zero"
    return Workload(
        "mnist", X, y, Xt[:test_items], yt[:test_items], 392, 0.5, "label", 1, "repeat-3",
        "classify", TrainSettings(output="softmax", loss="mse", optimizer="sgd", lr=0.01), source,
    )  # fmt: skip


def synthetic_workload() -> Workload:
    """16-8-4 on the synthetic categories, leak 0.5 with label resets."""
    ds = data.load_dataset("synthetic-categories")
    return Workload(
        "synthetic", ds.X_train, ds.y_train, ds.X_test, ds.y_test, 8, 0.5, "label", 1,
        "repeat-3", "classify", TrainSettings(output="softmax", loss="mse", lr=0.01),
        "synthetic-categories",
    )  # fmt: skip


def autoencoder_workload() -> Workload:
    """6-3-6 autoencoder on the multiscale stream: leaks 0/0.3/0.6, input-change resets (G=3)."""
    ds = data.load_dataset("multiscale")
    no = np.zeros(len(ds.X_train), np.int64)
    return Workload(
        "autoencoder", ds.X_train, no, ds.X_test, np.zeros(len(ds.X_test), np.int64), 3,
        np.array([0.0, 0.3, 0.6]), "input-change", 3, "given", "reconstruct",
        TrainSettings(output="sigmoid", loss="mse", lr=0.01), "multiscale",
    )  # fmt: skip


def training_only(run: Prepared, steps: int) -> Prepared:
    """``run`` cut to ``steps`` steps and evaluated once, at step 0 on 10 items: the trainer
    cases time training (evaluation has a case of its own)."""
    return replace(
        run, order=run.order[:steps], resets=run.resets[:steps], eval_steps=np.array([0]),
        X_eval=run.X_eval[:10], targets_eval=run.targets_eval[:10],
        labels_eval=run.labels_eval[:10], eval_resets=None,
    )  # fmt: skip


#: CIFAR-10's shape: 32 x 32 x 3 inputs, 10 classes; the dense row's hidden layer.
DENSE_INPUTS, DENSE_HIDDEN, DENSE_CLASSES = 3072, 1000, 10


def dense_workload(quick: bool) -> Workload:
    """3,072-1,000-10 on random CIFAR-shaped inputs (uniform [0, 1], no zeros: the dense
    path), leak 0.5 with label resets: a user's own wide data on the fast engine."""
    rng = np.random.default_rng(0)
    n, n_test = (1000, 100) if quick else (3000, 300)
    X = rng.random((n, DENSE_INPUTS), dtype=np.float32)
    Xt = rng.random((n_test, DENSE_INPUTS), dtype=np.float32)
    y, yt = rng.integers(0, DENSE_CLASSES, n), rng.integers(0, DENSE_CLASSES, n_test)
    _read_only(X, y, Xt, yt)
    return Workload(
        "dense", X, y, Xt, yt, DENSE_HIDDEN, 0.5, "label", 1, "repeat-3", "classify",
        TrainSettings(output="softmax", loss="mse", optimizer="sgd", lr=0.01),
        "random CIFAR-shaped, dense",
    )  # fmt: skip
