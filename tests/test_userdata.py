"""User datasets (smoothlearn.data.userdata): every bad input is one line and exit 2 with
nothing written to the store; good data is cached by content, memory-mapped, and its hash is
part of every run id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smoothlearn.cli import main
from smoothlearn.data import DataError, Dataset, dataset_info, load_dataset, userdata
from smoothlearn.experiments import make_config


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache for each test (user datasets are copied there)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(folder))
    return folder


def blobs(n_train: int = 60, n_test: int = 30, width: int = 6, classes: int = 3,
          seed: int = 0) -> dict[str, np.ndarray]:
    """Small separable data: one prototype per class plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.random((classes, width))
    out = {}
    for part, n in (("train", n_train), ("test", n_test)):
        y = np.arange(n) % classes
        out[f"X_{part}"] = (centres[y] + 0.3 * rng.random((n, width))).astype(np.float32)
        out[f"y_{part}"] = y
    return out


STUDY = """
name = "blobs"
seeds = 2
[base]
dataset = "{data}"
hidden = 4
eval_every = 20
[[grids]]
condition = ["{condition}"]
"""


def run_cli(folder: Path, capsys: pytest.CaptureFixture[str], data: str = "data.npz",
            condition: str = "random") -> tuple[int, str]:
    (folder / "study.toml").write_text(STUDY.format(data=data, condition=condition))
    out = folder / "store"
    code = main(["run", str(folder / "study.toml"), "--out", str(out), "--quiet",
                 "--workers", "1"])
    return code, capsys.readouterr().err


def assert_rejected(folder: Path, capsys: pytest.CaptureFixture[str], match: str,
                    **kwargs: str) -> None:
    """One line on stderr naming the problem, exit 2, no store, no half-written cache."""
    code, err = run_cli(folder, capsys, **kwargs)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert match in err, err
    assert not (folder / "store").exists()
    assert not list((folder / "cache" / "datasets").glob(".new-*"))


def save(folder: Path, **arrays: np.ndarray) -> None:
    np.savez(folder / "data.npz", **arrays)


# ----------------------------------------------------------------------------- bad inputs
def test_a_missing_file_is_one_line(tmp_path, capsys):
    assert_rejected(tmp_path, capsys, "does not exist", data="nothere.npz")


def test_a_missing_array_is_named(tmp_path, capsys):
    data = blobs()
    del data["X_test"]
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "missing array X_test")


def test_missing_test_labels_are_named(tmp_path, capsys):
    data = blobs()
    del data["y_test"]
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "missing array y_test")


def test_a_wrong_dtype_is_named(tmp_path, capsys):
    data = blobs()
    data["X_train"] = data["X_train"].astype(str)
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "X_train has dtype <U")


def test_a_wrong_shape_is_named(tmp_path, capsys):
    data = blobs()
    data["X_train"] = data["X_train"][:, 0]
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "X_train has shape (60,)")


def test_labels_of_the_wrong_length_are_named(tmp_path, capsys):
    data = blobs()
    data["y_train"] = data["y_train"][:-1]
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "y_train has 59 labels for 60 items")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_is_named_with_its_item(tmp_path, capsys, bad):
    data = blobs()
    data["X_test"][7, 2] = bad
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "X_test has 1 NaN or infinite value(s) (first in item 7)")


@pytest.mark.parametrize("labels, match", [
    (lambda y: y + 1, "class 0 has no item"),
    (lambda y: y - 1, "found -1"),
    (lambda y: y + 0.5, "must hold integers"),
    (lambda y: np.where(y == 1, 3, y), "class 1 has no item"),
])
def test_labels_that_are_not_0_to_k_minus_1_are_refused(tmp_path, capsys, labels, match):
    data = blobs()
    data["y_train"] = labels(data["y_train"])
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, match)


def test_test_labels_outside_the_training_classes_are_refused(tmp_path, capsys):
    data = blobs()
    data["y_test"] = data["y_test"] + 1
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "y_test holds labels outside 0..2")


def test_a_width_mismatch_is_named(tmp_path, capsys):
    data = blobs()
    data["X_test"] = data["X_test"][:, :5]
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "X_train has 6 features per item, X_test 5")


@pytest.mark.parametrize("split", ["train", "test"])
def test_an_empty_split_is_named(tmp_path, capsys, split):
    data = blobs()
    data[f"X_{split}"] = data[f"X_{split}"][:0]
    data[f"y_{split}"] = data[f"y_{split}"][:0]
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, f"X_{split} is empty")


def test_a_class_too_small_for_repeat_n_is_named(tmp_path, capsys):
    data = blobs(n_train=12)  # 4 items per class
    save(tmp_path, **data)
    assert_rejected(tmp_path, capsys, "class 0 has 4 training item(s), too few for condition "
                    "'repeat-5'", condition="repeat-5")


def test_an_unknown_array_is_named(tmp_path, capsys):
    save(tmp_path, **blobs(), weights=np.zeros(3))
    assert_rejected(tmp_path, capsys, "unknown array weights")


def test_a_file_that_is_not_an_npz_is_named(tmp_path, capsys):
    (tmp_path / "data.npz").write_text("hello")
    assert_rejected(tmp_path, capsys, "not a readable .npz")


# ----------------------------------------------------------------------------- good inputs
def test_a_good_file_runs_and_its_hash_is_in_the_run_id(tmp_path, capsys):
    data = blobs()
    save(tmp_path, **data)
    code, err = run_cli(tmp_path, capsys)
    assert code == 0, err
    first = sorted(p.name for p in (tmp_path / "store" / "runs").glob("*.json"))
    assert len(first) == 2
    data["X_train"][0, 0] += 0.25  # one value changed: new runs, none reused
    save(tmp_path, **data)
    assert run_cli(tmp_path, capsys)[0] == 0
    both = sorted(p.name for p in (tmp_path / "store" / "runs").glob("*.json"))
    assert len(both) == 4 and set(first) < set(both)


def test_data_larger_than_memory_is_memory_mapped(tmp_path, monkeypatch):
    """The copy into the cache goes chunk by chunk (here 3 rows at a time, as if memory held
    no more) and the loaded arrays are memory maps, read by the engine as it goes."""
    monkeypatch.setattr(userdata, "CHUNK_BYTES", 3 * 6 * 8)
    data = blobs()
    save(tmp_path, **data)
    ds = Dataset.from_file(tmp_path / "data.npz")
    assert isinstance(ds.X_train, np.memmap) and isinstance(ds.X_test, np.memmap)
    np.testing.assert_array_equal(ds.X_train, data["X_train"])
    from smoothlearn.runs import run_many

    config = make_config(dataset=ds.name, condition="repeat-2", hidden=4, eval_every=30)
    (curves,) = run_many([config])
    assert np.isfinite(curves.test_mse).all() and curves.steps[-1] == 60


def test_the_same_content_gives_the_same_name_from_any_source(tmp_path):
    data = blobs()
    save(tmp_path, **data)
    from_npz = Dataset.from_file(tmp_path / "data.npz")
    from_arrays = Dataset.from_arrays(data["X_train"].astype(np.float64), data["y_train"],
                                      data["X_test"], data["y_test"], name="data")
    assert from_npz.name == from_arrays.name
    assert userdata.is_user_name(from_npz.name) and from_npz.name.startswith("data@")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 59), st.integers(0, 5), st.floats(0.01, 10))
def test_any_change_of_a_value_changes_the_name(row, col, delta):
    data = blobs()
    before = Dataset.from_arrays(data["X_train"], data["y_train"], data["X_test"],
                                 data["y_test"]).name
    data["X_train"][row, col] += np.float32(delta)
    after = Dataset.from_arrays(data["X_train"], data["y_train"], data["X_test"],
                                data["y_test"]).name
    assert before != after


def test_the_registry_and_configs_know_a_user_dataset(tmp_path):
    ds = Dataset.from_arrays(**blobs(width=10), name="mine")
    info = dataset_info(ds.name)
    assert (info.task, info.input_size, info.n_classes, info.real) == ("classify", 10, 3, False)
    config = make_config(dataset=ds.name, condition="repeat-3")
    assert config.spec().hidden == 5  # half the input width, as 784-392
    assert load_dataset(ds.name).X_train.shape == (60, 10)


def test_a_config_naming_an_unregistered_hash_says_how_to_register(tmp_path):
    from smoothlearn.experiments import ConfigError

    with pytest.raises(ConfigError, match="not registered on this machine"):
        make_config(dataset="data@0123456789abcdef")


def test_reconstruction_needs_no_labels(tmp_path):
    data = blobs()
    ds = Dataset.from_arrays(data["X_train"], None, data["X_test"], None, name="ae")
    assert dataset_info(ds.name).task == "reconstruct"
    from smoothlearn.runs import run_many

    (curves,) = run_many([make_config(dataset=ds.name, hidden=3, eval_every=30)])
    assert np.isfinite(curves.test_mse).all()
    with pytest.raises(Exception, match="no labels"):
        make_config(dataset=ds.name, condition="repeat-2")


def test_episodes_mark_an_ordered_stream(tmp_path):
    data = blobs()
    episodes = {"episode_train": np.arange(60) // 5, "episode_test": np.arange(30) // 5}
    ds = Dataset.from_arrays(**data, **episodes, name="stream")
    assert dataset_info(ds.name).ordered
    make_config(dataset=ds.name, condition="given")
    make_config(dataset=ds.name, condition="random")  # the same items shuffled: the control
    with pytest.raises(Exception, match="ordered stream"):
        make_config(dataset=ds.name, condition="repeat-2")
    with pytest.raises(DataError, match="episode_train is not consecutive"):
        Dataset.from_arrays(**data, episode_train=np.arange(60) % 5,
                            episode_test=episodes["episode_test"])


def test_a_csv_and_a_parquet_file_are_read_by_their_columns(tmp_path):
    data = blobs()
    frames = []
    for part in ("train", "test"):
        frame = pd.DataFrame(data[f"X_{part}"], columns=[f"f{i}" for i in range(6)])
        frame["species"] = data[f"y_{part}"]
        frame["split"] = part
        frames.append(frame)
    table = pd.concat(frames)
    table.to_csv(tmp_path / "data.csv", index=False)
    table.to_parquet(tmp_path / "data.parquet")
    csv = Dataset.from_file(tmp_path / "data.csv", label="species")
    parquet = Dataset.from_file(tmp_path / "data.parquet", label="species")
    np.testing.assert_allclose(csv.X_train, data["X_train"], rtol=1e-6)
    np.testing.assert_array_equal(parquet.y_test, data["y_test"])
    with pytest.raises(DataError, match="no column 'label'"):
        Dataset.from_file(tmp_path / "data.csv")


def test_an_image_folder_is_read_as_grey_levels(tmp_path):
    from PIL import Image

    for part, n in (("train", 3), ("test", 2)):
        for cls, level in (("cat", 0), ("dog", 255)):
            folder = tmp_path / "pets" / part / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("L", (4, 3), color=level).save(folder / f"{i}.png")
    ds = Dataset.from_file(tmp_path / "pets")
    assert ds.X_train.shape == (6, 12) and ds.n_classes == 2
    assert ds.X_train[:3].max() == 0 and ds.X_train[3:].min() == 1.0
    np.testing.assert_array_equal(ds.y_test, [0, 0, 1, 1])


def test_a_torch_dataset_is_read_item_by_item(tmp_path):
    import torch
    from torch.utils.data import TensorDataset

    data = blobs()
    train = TensorDataset(torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"]))
    test = TensorDataset(torch.from_numpy(data["X_test"]), torch.from_numpy(data["y_test"]))
    ds = Dataset.from_torch(train, test, name="t")
    np.testing.assert_array_equal(ds.X_train, data["X_train"])
    assert ds.name == Dataset.from_arrays(**data, name="t").name


def test_save_npz_round_trips_to_the_same_dataset(tmp_path):
    ds = Dataset.from_arrays(**blobs(), name="round")
    again = Dataset.from_file(ds.save_npz(tmp_path / "round.npz"))
    assert again.name == ds.name


def test_a_folder_named_like_a_built_in_dataset_stays_the_built_in(tmp_path):
    (tmp_path / "mnist").mkdir()
    assert userdata.resolve_dataset("mnist", tmp_path, {}) == "mnist"
    assert not userdata.looks_like_path("synthetic-categories", tmp_path)


def test_a_toml_names_a_csv_relative_to_itself_with_its_label_column(tmp_path):
    from smoothlearn.experiments import load_experiment

    data = blobs()
    rows = []
    for part in ("train", "test"):
        frame = pd.DataFrame(data[f"X_{part}"], columns=[f"f{i}" for i in range(6)])
        rows.append(frame.assign(kind=data[f"y_{part}"], split=part))
    (tmp_path / "sub").mkdir()
    pd.concat(rows).to_csv(tmp_path / "sub" / "items.csv", index=False)
    (tmp_path / "sub" / "study.toml").write_text(
        'name = "items"\n[base]\ndataset = "items.csv"\ndataset_params = { label = "kind" }\n')
    (config,) = load_experiment(tmp_path / "sub" / "study.toml").runs(seeds=1)
    assert config.dataset.startswith("items@") and config.dataset_params == {}
    assert dataset_info(config.dataset).n_classes == 3
