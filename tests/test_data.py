"""Tests for smoothlearn.data: IDX files, real datasets, downloads, synthetic sets.

The real files are reached only through the ``data_dir`` fixture (SMOOTHLEARN_DATA). Every
download test talks to HTTP servers this file starts on 127.0.0.1; an autouse fixture points
the mirror list at a closed local port so no test can reach the internet by accident.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

from smoothlearn import data
from smoothlearn.data import DataError


# ---------------------------------------------------------------- helpers
def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """The IDX encoding of a uint8 array (magic from its number of dimensions by default)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_file(path: Path, content: bytes, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


def fake_files(n_train: int = 5, n_test: int = 3, seed: int = 0) -> dict[str, bytes]:
    """Tiny 28x28 stand-ins for the four files of a dataset, keyed by stem (unpacked)."""
    rng = np.random.default_rng(seed)
    counts = {"train": n_train, "test": n_test}
    files = {}
    for split, (images_stem, labels_stem) in data.SPLIT_FILES.items():
        n = counts[split]
        files[images_stem] = idx_bytes(rng.integers(0, 256, (n, 28, 28)))
        files[labels_stem] = idx_bytes(rng.integers(0, 10, n))
    return files


def write_dataset(root: Path, name: str, files: dict[str, bytes], gz: bool = True) -> Path:
    for stem, content in files.items():
        write_file(root / name / (f"{stem}.gz" if gz else stem), content, gz=gz)
    return root / name


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {stem: hashlib.sha256(content).hexdigest() for stem, content in files.items()}


def closed_port_url() -> str:
    """A local URL nobody listens on: a mirror that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Path], tuple[str, list[str]]]]:
    """Start a static HTTP server on 127.0.0.1 for a folder; returns (base URL, request log)."""
    servers = []

    def start(folder: Path) -> tuple[str, list[str]]:
        requests: list[str] = []

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

        handler = functools.partial(Handler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/", requests

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private cache, no reachable mirrors and a cold in-process cache for every test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SMOOTHLEARN_CACHE", str(cache))
    monkeypatch.setenv("SMOOTHLEARN_MIRRORS", closed_port_url())
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    data.clear_cache()
    yield cache
    data.clear_cache()


@pytest.fixture
def fake_mnist(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Tiny files whose digests replace MNIST's in the checksum table."""
    files = fake_files()
    monkeypatch.setitem(data.SHA256, "mnist", digests(files))
    monkeypatch.delenv("SMOOTHLEARN_DATA", raising=False)
    return files


# ---------------------------------------------------------------- real datasets
@pytest.fixture(scope="module")
def mnist(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {split: data.load("mnist", split, data_dir=data_dir) for split in ("train", "test")}


def test_mnist_counts_shapes_and_values(mnist: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    (X, y), (X_test, y_test) = mnist["train"], mnist["test"]
    assert X.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert y.shape == (60000,) and y_test.shape == (10000,)
    assert int((y == 1).sum()) == 6742
    assert set(np.unique(y)) == set(range(10))
    assert X.min() == 0.0 and X.max() == 1.0
    assert not X.flags.writeable and not y.flags.writeable
    with pytest.raises(ValueError):
        X[0, 0] = 0.5


def test_fashion_mnist_counts_shapes_and_values(data_dir: Path) -> None:
    X, y = data.load("fashion-mnist", data_dir=data_dir)
    X_test, y_test = data.load("fashion-mnist", "test", data_dir=data_dir)
    assert X.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert np.bincount(y).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_real_checksums_verified(data_dir: Path) -> None:
    report = {entry["name"]: entry for entry in data.info(data_dir=data_dir)}
    for name in ("mnist", "fashion-mnist"):
        assert report[name]["present"] and report[name]["verified"], report[name]
        assert report[name]["source"] == "data_dir"
        assert report[name]["problems"] == []
    assert data.fetch("mnist", data_dir=data_dir) == data_dir / "mnist"


def test_repeated_load_is_served_from_memory(data_dir: Path) -> None:
    first = data.load("mnist", "test", data_dir=data_dir)
    again = data.load("mnist", "test", data_dir=data_dir)
    assert first[0] is again[0] and first[1] is again[1]
    ds = data.load_dataset("mnist", data_dir=data_dir)
    assert ds.X_test is first[0] and ds.n_classes == 10 and ds.task == "classify"
    assert not ds.ordered and ds.n_features == 784


# ---------------------------------------------------------------- IDX files
@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_read_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    labels = np.array([7, 0, 255], dtype=np.uint8)
    images_path = write_file(tmp_path / "images", idx_bytes(images), gz=gz)
    labels_path = write_file(tmp_path / "labels", idx_bytes(labels), gz=gz)
    np.testing.assert_array_equal(data.read_idx(images_path), images)
    np.testing.assert_array_equal(data.read_idx(labels_path), labels)
    digest = hashlib.sha256(idx_bytes(labels)).hexdigest()
    np.testing.assert_array_equal(data.read_idx(labels_path, sha256=digest), labels)


@pytest.mark.parametrize("magic", [0x00000802, 0x00000D03, 0x08030000])
def test_read_idx_rejects_wrong_magic(tmp_path: Path, magic: int) -> None:
    path = write_file(tmp_path / "odd.gz", idx_bytes(np.zeros((2, 3, 3)), magic=magic))
    with pytest.raises(DataError, match=r"odd\.gz.*magic"):
        data.read_idx(path)


@pytest.mark.parametrize("cut", [1, 10, 27 * 28 + 5], ids=["data", "more-data", "header"])
@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_read_idx_rejects_truncated_file(tmp_path: Path, cut: int, gz: bool) -> None:
    content = idx_bytes(np.ones((1, 28, 28)))
    path = write_file(tmp_path / "short-images", content[:-cut], gz=gz)
    with pytest.raises(DataError, match=r"short-images.*truncated"):
        data.read_idx(path)


def test_read_idx_rejects_trailing_bytes(tmp_path: Path) -> None:
    path = write_file(tmp_path / "long", idx_bytes(np.ones(4)) + b"\0")
    with pytest.raises(DataError, match=r"long.*trailing"):
        data.read_idx(path)


def test_read_idx_rejects_broken_gzip_stream(tmp_path: Path) -> None:
    packed = gzip.compress(idx_bytes(np.ones((2, 28, 28))))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match=r"cut\.gz.*gzip"):
        data.read_idx(path)


def test_read_idx_missing_file_is_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nowhere"):
        data.read_idx(tmp_path / "nowhere.gz")


def test_count_mismatch_names_both_files(tmp_path: Path, fake_mnist: dict[str, bytes]) -> None:
    files = dict(fake_mnist)
    files["train-labels-idx1-ubyte"] = idx_bytes(np.zeros(4))  # 5 images, 4 labels
    data.SHA256["mnist"].update(digests(files))  # restored by monkeypatch.setitem
    write_dataset(tmp_path / "root", "mnist", files)
    with pytest.raises(DataError) as caught:
        data.load("mnist", data_dir=tmp_path / "root")
    message = str(caught.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "5 images" in message and "4 labels" in message


def test_wrong_checksum_names_file_and_both_digests(tmp_path: Path) -> None:
    files = fake_files()
    write_dataset(tmp_path / "root", "mnist", files, gz=False)
    with pytest.raises(DataError) as caught:
        data.load("mnist", "test", data_dir=tmp_path / "root")
    message = str(caught.value)
    stem = "t10k-images-idx3-ubyte"
    assert str(tmp_path / "root" / "mnist" / stem) in message
    assert data.SHA256["mnist"][stem] in message
    assert hashlib.sha256(files[stem]).hexdigest() in message
    assert "\n" not in message


def test_tiny_dataset_loads_as_float_in_unit_range(
    tmp_path: Path, fake_mnist: dict[str, bytes]
) -> None:
    write_dataset(tmp_path / "root", "mnist", fake_mnist, gz=False)
    X, y = data.load("mnist", data_dir=tmp_path / "root")
    raw = np.frombuffer(fake_mnist["train-images-idx3-ubyte"][16:], np.uint8).reshape(5, 784)
    np.testing.assert_allclose(X, raw / 255.0, rtol=1e-6)
    assert X.dtype == np.float32 and y.dtype == np.int64 and y.shape == (5,)


# ---------------------------------------------------------------- where files come from
def test_search_order_data_dir_then_env_then_cache(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variants = {where: fake_files(seed=i) for i, where in enumerate(["arg", "env", "cache"])}
    write_dataset(tmp_path / "arg", "mnist", variants["arg"])
    write_dataset(tmp_path / "env", "mnist", variants["env"])
    write_dataset(isolated, "mnist", variants["cache"])
    for where, files in variants.items():  # every copy is valid; only the order decides
        monkeypatch.setitem(data.SHA256, "mnist", digests(files))
        monkeypatch.setenv("SMOOTHLEARN_DATA", str(tmp_path / "env"))
        data_dir = tmp_path / "arg" if where == "arg" else None
        if where == "cache":
            monkeypatch.delenv("SMOOTHLEARN_DATA")
        _, y = data.load("mnist", "test", data_dir=data_dir)
        expected = np.frombuffer(files["t10k-labels-idx1-ubyte"][8:], np.uint8)
        np.testing.assert_array_equal(y, expected)


def test_incomplete_folder_is_skipped(
    tmp_path: Path, fake_mnist: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dataset(tmp_path / "arg", "mnist", {"train-images-idx3-ubyte": b"x"})
    write_dataset(tmp_path / "env", "mnist", fake_mnist)
    monkeypatch.setenv("SMOOTHLEARN_DATA", str(tmp_path / "env"))
    assert data.fetch("mnist", data_dir=tmp_path / "arg") == tmp_path / "env" / "mnist"


def test_cache_dir_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("SMOOTHLEARN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "smoothlearn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "smoothlearn"


def test_info_reports_missing_without_downloading(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    monkeypatch.delenv("SMOOTHLEARN_DATA", raising=False)
    report = {entry["name"]: entry for entry in data.info()}
    assert not report["mnist"]["present"] and report["mnist"]["dir"] is None
    assert report["mnist"]["missing"] == list(data.FILES)
    assert report["fashion-mnist"]["cache"] == str(isolated / "fashion-mnist")
    assert not isolated.exists()


# ---------------------------------------------------------------- downloads
@pytest.fixture
def mirrors(
    tmp_path: Path, fake_mnist: dict[str, bytes], serve: Callable
) -> dict[str, tuple[str, list[str]]]:
    """Three local mirrors of the tiny MNIST: down, wrong bytes, right bytes."""
    wrong = {stem: content[:-1] + b"\x01" for stem, content in fake_files(seed=9).items()}
    write_dataset(tmp_path / "wrong-site", "mnist", wrong)
    write_dataset(tmp_path / "good-site", "mnist", fake_mnist)
    sites = {key: serve(tmp_path / f"{key}-site") for key in ("wrong", "good")}
    sites["down"] = (closed_port_url(), [])  # after the servers, so it cannot be one of theirs
    return {key: (url + "mnist/", log) for key, (url, log) in sites.items()}


def test_download_skips_down_and_wrong_mirrors(
    mirrors: dict[str, tuple[str, list[str]]],
    fake_mnist: dict[str, bytes],
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order = ",".join(mirrors[key][0] for key in ("down", "wrong", "good"))
    monkeypatch.setenv("SMOOTHLEARN_MIRRORS", order)
    replaced: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        replaced.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    X, y = data.load("mnist")
    assert X.shape == (5, 784) and y.shape == (5,)
    folder = isolated / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{s}.gz" for s in data.FILES)
    for stem, content in fake_mnist.items():
        assert gzip.decompress((folder / f"{stem}.gz").read_bytes()) == content
    # each file arrived by renaming a hidden temp file from the same folder, never in place
    assert {dst for _, dst in replaced} == {folder / f"{s}.gz" for s in data.FILES}
    for src, dst in replaced:
        assert src.parent == dst.parent and src.name.startswith(".") and not src.exists()
    assert len(mirrors["wrong"][1]) == 4 and len(mirrors["good"][1]) == 4


def test_next_load_uses_cache_without_network(
    mirrors: dict[str, tuple[str, list[str]]],
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert data.fetch("mnist", mirrors=[mirrors["good"][0]]) == isolated / "mnist"
    first = data.load("mnist", "test")
    data.clear_cache()

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used although the cache holds the files")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    again = data.load("mnist", "test")
    np.testing.assert_array_equal(first[0], again[0])
    assert len(mirrors["good"][1]) == 4
    assert data.info()[0]["source"] == "cache" and data.info()[0]["verified"]


def test_only_missing_files_are_downloaded(
    mirrors: dict[str, tuple[str, list[str]]],
    fake_mnist: dict[str, bytes],
    isolated: Path,
) -> None:
    kept = {stem: fake_mnist[stem] for stem in data.SPLIT_FILES["train"]}
    write_dataset(isolated, "mnist", kept, gz=False)
    data.fetch("mnist", mirrors=[mirrors["good"][0]])
    assert sorted(mirrors["good"][1]) == sorted(
        f"/mnist/{stem}.gz" for stem in data.SPLIT_FILES["test"]
    )


def test_mirror_placeholder_for_dataset_name(
    tmp_path: Path, serve: Callable, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    files = fake_files(seed=5)
    monkeypatch.setitem(data.SHA256, "fashion-mnist", digests(files))
    monkeypatch.delenv("SMOOTHLEARN_DATA", raising=False)
    write_dataset(tmp_path / "site", "fashion-mnist", files)
    url, _ = serve(tmp_path / "site")
    monkeypatch.setenv("SMOOTHLEARN_MIRRORS", f" {url}{{name}} , ")
    assert data.fetch("fashion-mnist") == isolated / "fashion-mnist"


def test_all_mirrors_failing_gives_actionable_message(
    mirrors: dict[str, tuple[str, list[str]]], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOOTHLEARN_MIRRORS", f"{mirrors['down'][0]},{mirrors['wrong'][0]}")
    with pytest.raises(DataError) as caught:
        data.load("mnist", data_dir=isolated.parent / "nowhere")
    message = str(caught.value)
    for needed in data.FILES:
        assert f"{needed}.gz" in message
    for hint in ("SMOOTHLEARN_DATA=", "data_dir=", "smoothlearn data fetch mnist"):
        assert hint in message
    assert mirrors["down"][0] in message and mirrors["wrong"][0] in message
    assert "sha256" in message  # why the wrong mirror was refused
    assert str(isolated.parent / "nowhere" / "mnist") in message
    assert not list((isolated / "mnist").glob("*"))  # nothing half-written


def test_no_test_reaches_a_public_address() -> None:
    """The autouse guard (conftest): a connection off this machine fails at once, in the test
    process, whatever the mirrors say; loopback stays open for local mirrors and clusters."""
    with socket.socket() as sock, pytest.raises(OSError, match="may not reach the network"):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: routable-looking, never answered
    with pytest.raises(OSError, match="may not reach the network"):
        urllib.request.urlopen("http://192.0.2.1/", timeout=30)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass


def test_failed_write_leaves_no_temp_file(
    mirrors: dict[str, tuple[str, list[str]]], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(DataError, match="No space left"):
        data.fetch("mnist", mirrors=[mirrors["good"][0]])
    assert list((isolated / "mnist").iterdir()) == []


# ---------------------------------------------------------------- synthetic datasets
SYNTHETIC = ["synthetic-categories", "synthetic-no-shared", "multiscale", "multiscale-b"]


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_is_deterministic_per_seed(name: str) -> None:
    a, b, c = (data.load_dataset(name, seed=s) for s in (3, 3, 4))
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.X_train, c.X_train)
    assert a.params == b.params and a.params["seed"] == 3 and a.name == name
    assert 0.0 <= a.X_train.min() and a.X_train.max() <= 1.0
    assert 0.0 <= a.X_test.min() and a.X_test.max() <= 1.0
    assert a.X_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert not a.X_train.flags.writeable
    with pytest.raises(FrozenInstanceError):
        a.name = "other"  # type: ignore[misc]


def test_synthetic_categories_shapes_and_templates() -> None:
    ds = data.load_dataset("synthetic-categories")
    assert ds.X_train.shape == (1200, 16) and ds.X_test.shape == (400, 16)
    assert np.bincount(ds.y_train).tolist() == [300] * 4
    assert np.bincount(ds.y_test).tolist() == [100] * 4
    assert ds.n_classes == 4 and ds.task == "classify" and not ds.ordered
    assert len(set(ds.y_train[:8].tolist())) > 1  # stored shuffled, not sorted by category
    clean = data.load_dataset("synthetic-categories", noise=0.0, overlap=0.5)
    expected = np.zeros((4, 16))
    for c in range(4):
        expected[c, 4 * c : 4 * c + 4] = 1
        expected[c, 4 * ((c + 1) % 4) : 4 * ((c + 1) % 4) + 2] = 1
    np.testing.assert_array_equal(clean.X_train, expected[clean.y_train])


def test_synthetic_test_split_does_not_shift_training_draws() -> None:
    a = data.load_dataset("synthetic-categories", seed=1)
    b = data.load_dataset("synthetic-categories", seed=1, n_test_per_category=7)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert b.X_test.shape == (28, 16)


@pytest.mark.parametrize("repeats", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_no_shared_stream_has_no_feature_shared_by_neighbours(repeats: int, seed: int) -> None:
    ds = data.load_dataset("synthetic-no-shared", repeats=repeats, seed=seed)
    on = ds.X_train > 0
    assert not (on[1:] & on[:-1]).any()
    assert (on.sum(axis=1) == 2).all() and ((ds.X_test > 0).sum(axis=1) == 2).all()
    values = ds.X_train[on]
    assert values.min() >= 0.5 and values.max() <= 1.0
    blocks = ds.y_train.reshape(-1, repeats) if 1200 % repeats == 0 else None
    if blocks is not None:
        assert (blocks == blocks[:, :1]).all()  # one category per block
        assert (blocks[1:, 0] != blocks[:-1, 0]).all()
    assert ds.ordered and ds.task == "classify" and ds.n_classes == 4
    assert np.bincount(ds.y_test).tolist() == [100] * 4


def test_no_shared_features_partitioned_by_category() -> None:
    ds = data.load_dataset("synthetic-no-shared")
    owners = [set(ds.y_train[ds.X_train[:, f] > 0].tolist()) for f in range(16)]
    assert all(len(owner) == 1 for owner in owners)
    assert np.bincount(ds.y_train).tolist() == [300] * 4


@pytest.mark.parametrize("periods", [(1, 3, 5), (2, 4, 7)])
def test_multiscale_flip_switches_exactly_every_period(periods: tuple[int, ...]) -> None:
    ds = data.load_dataset("multiscale", periods=periods, seed=2)
    assert ds.latent_train is not None and ds.latent_test is not None
    assert ds.latent_train.dtype == np.int8 and ds.latent_train.shape == (3000, 3)
    assert ds.latent_test.shape == (500, 3) and ds.X_test.shape == (500, 6)
    for latent in (ds.latent_train, ds.latent_test):
        for row, period in enumerate(periods):
            switches = np.flatnonzero(np.diff(latent[:, row])) + 1
            np.testing.assert_array_equal(switches, np.arange(period, len(latent), period))
    np.testing.assert_array_equal(ds.y_train, ds.latent_train)
    assert ds.task == "reconstruct" and ds.ordered and ds.n_classes == 0


def test_multiscale_elements_carry_their_row_state() -> None:
    same = data.load_dataset("multiscale")
    expected = np.repeat(same.latent_train, 2, axis=1)
    np.testing.assert_array_equal(same.X_train > 0.5, expected.astype(bool))
    onehot = data.load_dataset("multiscale", encoding="onehot")
    state = onehot.latent_train
    np.testing.assert_array_equal(onehot.X_train[:, 1::2] > 0.5, state.astype(bool))
    np.testing.assert_array_equal(onehot.X_train[:, 0::2] > 0.5, ~state.astype(bool))
    assert same.X_train.min() >= 0.0 and same.X_train.max() <= 1.0


def test_multiscale_redraw_changes_only_at_period_boundaries() -> None:
    ds = data.load_dataset("multiscale", switch="redraw", seed=5)
    for row, period in enumerate((1, 3, 5)):
        switches = np.flatnonzero(np.diff(ds.latent_train[:, row])) + 1
        assert (switches % period == 0).all()
        assert 0.3 < switches.size / (3000 // period) < 0.7  # about half the boundaries


def test_multiscale_variant_and_load_shortcut() -> None:
    b = data.load_dataset("multiscale-b")
    assert b.params["periods"] == (1, 4, 8) and b.params["noise"] == 0.4
    assert data.load_dataset("multiscale-b", noise=0.1).params["noise"] == 0.1
    X, latent = data.load("multiscale", "test", seed=1, periods=[2, 2, 2])
    assert X.shape == (500, 6) and latent.shape == (500, 3)
    train = data.load_dataset("multiscale", seed=1)
    assert not np.array_equal(train.X_train[:500], data.load("multiscale", "test", seed=1)[0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: data.load_dataset("cifar"), "unknown dataset 'cifar'"),
        (lambda: data.load("mnist", "valid"), "unknown split"),
        (lambda: data.load_dataset("multiscale", period=3), "unknown parameter"),
        (lambda: data.load_dataset("mnist", seed=1), "takes no parameters"),
        (lambda: data.load_dataset("multiscale", switch="sometimes"), "switch"),
        (lambda: data.load_dataset("synthetic-categories", overlap=2), "overlap"),
        (lambda: data.load_dataset("synthetic-no-shared", n_features=15), "multiple"),
        (lambda: data.fetch("multiscale"), "unknown dataset"),
    ],
)
def test_bad_requests_are_data_errors(call: Callable[[], object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        call()


# ---------------------------------------------------------------- the registry
@pytest.mark.parametrize("name", data.DATASETS)
def test_registry_answers_for_every_dataset(name: str) -> None:
    info = data.dataset_info(name)
    assert info.name == name and info.task in ("classify", "reconstruct")
    assert info.real == (name not in data.SYNTHETIC_DATASETS)
    assert (info.real and info.source is None) == (name in data.SHA256)
    assert info.seeded == (name not in data.SHA256)
    assert (info.n_classes is None) == (info.task == "reconstruct")


@pytest.mark.parametrize("name", SYNTHETIC)
def test_registry_matches_what_the_generator_makes(name: str) -> None:
    info = data.dataset_info(name)
    ds = data.load_dataset(name, seed=0)
    assert ds.X_train.shape[1] == info.input_size == info.input_size_for({})
    assert ds.task == info.task and ds.ordered == info.ordered
    if info.task == "classify":
        assert np.unique(ds.y_train).size == info.n_classes


def test_registry_input_size_follows_generator_keywords() -> None:
    ds = data.load_dataset("synthetic-categories", n_features=24, seed=0)
    assert data.dataset_info("synthetic-categories").input_size_for({"n_features": 24}) == 24
    assert ds.X_train.shape[1] == 24
    periods = (1, 2, 4, 8)
    ds = data.load_dataset("multiscale", periods=periods, seed=0)
    assert data.dataset_info("multiscale").input_size_for({"periods": periods}) == 8
    assert ds.X_train.shape[1] == 8


def test_registry_real_datasets_match_the_files(mnist) -> None:
    X, y = mnist["train"]
    info = data.dataset_info("mnist")
    assert X.shape[1] == info.input_size and np.unique(y).size == info.n_classes


def test_unknown_dataset_in_registry_is_a_data_error() -> None:
    with pytest.raises(DataError, match="unknown dataset 'nope'; known: mnist"):
        data.dataset_info("nope")
