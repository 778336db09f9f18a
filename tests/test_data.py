"""nnlib.data without a network: the IDX and CIFAR-10 binary parsers, MNIST and CIFAR-10 loaded
from a local HTTP server on 127.0.0.1 serving files the tests generate (downloading itself is
tested in test_download.py), the offline digits, DataLoader and progress."""

import gzip
import io
import socket
import sys
import tarfile
import urllib.error

import numpy as np
import pytest

from fresh_python import run_python
from local_server import Server, remote_for
from nnlib import data, download
from nnlib.backend import device_of, to_numpy


# --- writing the binary formats (the inverse of the parsers) --------------------------------------------
IDX_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B,
             np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def idx_bytes(array):
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def cifar_bytes(images, labels):
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
    return records.tobytes()


def cifar_archive(path, batches):
    """A cifar-10-binary.tar.gz look-alike: {member name: (images, labels)}."""
    with tarfile.open(path, "w:gz") as archive:
        for name in ["batches.meta.txt"] + list(batches):
            payload = b"airplane\n" if name.endswith(".txt") else cifar_bytes(*batches[name])
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


def random_cifar(rng, n):
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, size=n)


@pytest.mark.parametrize("array", [
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    np.array([7, 0, 9], dtype=np.uint8),
    np.array([-5, 1 << 20, 3], dtype=np.int32),
    np.linspace(-1, 1, 6).reshape(3, 2),
    np.array([1.5, -2.25], dtype=np.float32),
    np.array([-3, 4], dtype=np.int16),
], ids=lambda a: f"{a.dtype}{a.shape}")
def test_idx_round_trip(array):
    parsed = data.parse_idx(idx_bytes(array))
    assert parsed.shape == array.shape and parsed.dtype == array.dtype and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, array)
    parsed[...] = 0  # a writable copy, not a view of the bytes


def test_idx_rejects_bad_headers_and_lengths():
    good = idx_bytes(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="not an IDX file"):
        data.parse_idx(b"\x1f\x8b" + good[2:])  # e.g. still gzipped
    with pytest.raises(ValueError, match=r"needs 4 data bytes, got 3"):
        data.parse_idx(good[:-1])


def test_cifar_binary_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}.bin": random_cifar(rng, 3) for i in range(1, 6)}
    batches["test_batch.bin"] = random_cifar(rng, 2)
    path = tmp_path / "cifar-10-binary.tar.gz"
    cifar_archive(path, batches)
    images, labels = data.read_cifar10_archive(path, train=True)
    assert images.shape == (15, 3, 32, 32) and images.dtype == np.uint8 and labels.dtype == np.int64
    train = [batches[f"data_batch_{i}.bin"] for i in range(1, 6)]
    np.testing.assert_array_equal(images, np.concatenate([b[0] for b in train]))
    np.testing.assert_array_equal(labels, np.concatenate([b[1] for b in train]))
    images, labels = data.read_cifar10_archive(path, train=False)
    np.testing.assert_array_equal(images, batches["test_batch.bin"][0])
    np.testing.assert_array_equal(labels, batches["test_batch.bin"][1])
    # Channel planes: the first 1024 bytes after the label are the red 32×32 image, row by row.
    raw = np.frombuffer(cifar_bytes(*batches["test_batch.bin"]), dtype=np.uint8)
    np.testing.assert_array_equal(images[0, 0].ravel(), raw[1:1025])


def test_cifar_parser_rejects_partial_records_and_bad_labels():
    with pytest.raises(ValueError, match="whole number of 3073-byte records"):
        data.parse_cifar10_binary(b"\x00" * 3072)
    with pytest.raises(ValueError, match="labels are 0..9"):
        data.parse_cifar10_binary(b"\x0b" + b"\x00" * 3072)


# --- loading from a local server ----------------------------------------------------------------------
@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.mark.parametrize("load, remotes", [
    (data.load_mnist, [data.MNIST_FILES["train-images-idx3-ubyte.gz"]]),
    (data.load_cifar10, [data.CIFAR10_FILE]),
], ids=["mnist", "cifar10"])
def test_offline_loading_names_the_mirrors_and_the_offline_digits(monkeypatch, tmp_path, load, remotes):
    calls = []

    def no_dns(url, timeout):
        calls.append(url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(download, "_open_url", no_dns)
    with pytest.raises(download.DownloadError, match="seems to be offline") as info:
        load(root=tmp_path, progress_bar=False)
    assert calls == [url for remote in remotes for url in remote.urls]  # each mirror once, no waiting
    assert all(url in str(info.value) for url in calls)
    assert data.OFFLINE_HINT in str(info.value)


def test_load_mnist_and_cifar10_from_a_local_mirror(server, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5).astype(np.uint8)
    for name, array in [("t10k-images-idx3-ubyte.gz", images), ("t10k-labels-idx1-ubyte.gz", labels)]:
        monkeypatch.setitem(data.MNIST_FILES, name, remote_for(server, name, gzip.compress(idx_bytes(array))))
    monkeypatch.setenv(download.DATA_ENV, str(tmp_path / "cache"))
    x, y = data.load_mnist(train=False, progress_bar=False)
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0] * 255, images)
    np.testing.assert_array_equal(y, labels)
    cached = {p.name for p in (tmp_path / "cache").iterdir()}
    assert cached == {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    served = len(server.requests)
    x_cached, _ = data.load_mnist(train=False, download=False)  # offline, from the cache
    np.testing.assert_array_equal(x_cached, x)
    assert len(server.requests) == served

    archive = tmp_path / "cifar.tar.gz"
    batches = {f"data_batch_{i}.bin": random_cifar(rng, 2) for i in range(1, 6)}
    batches["test_batch.bin"] = random_cifar(rng, 3)
    cifar_archive(archive, batches)
    cifar = remote_for(server, "cifar-10-binary.tar.gz", archive.read_bytes())
    monkeypatch.setattr(data, "CIFAR10_FILE", cifar)
    x, y = data.load_cifar10(train=False, progress_bar=False)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.float32 and x.max() <= 1
    np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), batches["test_batch.bin"][0])
    np.testing.assert_array_equal(y, batches["test_batch.bin"][1])


@pytest.mark.parametrize("load", [data.load_mnist, data.load_cifar10], ids=["mnist", "cifar10"])
def test_download_false_reports_the_missing_file(tmp_path, load):
    with pytest.raises(FileNotFoundError, match="download=False") as info:
        load(root=tmp_path, download=False)
    assert data.OFFLINE_HINT in str(info.value)


def test_real_checksums_are_sha256_constants():
    for remote in list(data.MNIST_FILES.values()) + [data.CIFAR10_FILE]:
        assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0 and remote.size > 0
        assert remote.urls and all(u.endswith(remote.name) for u in remote.urls)
    assert data.CIFAR10_FILE.urls == ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",)


# --- offline digits ------------------------------------------------------------------------------------
def assert_same_as_sklearn(images, target):
    from sklearn.datasets import load_digits
    reference = load_digits()
    assert images.shape == (1797, 8, 8) and target.shape == (1797,)
    assert images.dtype == reference.images.dtype == np.float64 and target.dtype == np.int64
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(images.reshape(-1, 64), reference.data)
    np.testing.assert_array_equal(target, reference.target)


def test_digits_8x8_read_from_the_bundled_file_equal_sklearns_loader():
    assert data._bundled_digits_file().name == "digits.csv.gz"
    assert_same_as_sklearn(*data.load_digits_8x8())


def test_the_digits_loaders_do_not_import_sklearn():
    # A fresh interpreter: this test process may already have imported scikit-learn.
    out = run_python("import sys; from nnlib.data import load_digits, load_digits_8x8; "
                     "images, target = load_digits_8x8(); x, y = load_digits(); "
                     "print(images.shape, target.shape, x.shape, 'sklearn' in sys.modules)")
    assert out.strip() == "(1797, 8, 8) (1797,) (1438, 1, 28, 28) False"


def test_digits_8x8_fall_back_to_sklearns_loader_and_say_when_neither_exists(monkeypatch):
    monkeypatch.setattr(data, "_bundled_digits_file", lambda: None)
    assert_same_as_sklearn(*data.load_digits_8x8())
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # `import sklearn.datasets` now fails
    with pytest.raises(ImportError, match="scikit-learn, which is not installed"):
        data.load_digits_8x8()


def test_bundled_digits_file_is_none_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # find_spec reports a blocked module as absent
    assert data._bundled_digits_file() is None


def test_digits_8x8_reject_a_file_of_the_wrong_shape(monkeypatch, tmp_path):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(gzip.compress(b"0,1,2\n3,4,5\n"))
    monkeypatch.setattr(data, "_bundled_digits_file", lambda: path)
    with pytest.raises(ValueError, match=r"65 columns\), got an array of shape \(2, 3\)"):
        data.load_digits_8x8()


def test_offline_digits_fit_the_networks():
    from sklearn.datasets import load_digits
    x, y = data.load_digits()
    x_test, y_test = data.load_digits(train=False)
    assert x.shape == (1438, 1, 28, 28) and x_test.shape == (359, 1, 28, 28)
    assert x.dtype == np.float32 and y.dtype == np.int64 and 0 <= x.min() and x.max() == 1
    assert len(y) + len(y_test) == 1797 and set(np.unique(y)) == set(range(10))
    # Deterministic, and the two parts together are the whole data set.
    x2, y2 = data.load_digits()
    np.testing.assert_array_equal(x, x2)
    reference = load_digits()
    together = np.concatenate([x, x_test])[:, 0, 2:26:3, 2:26:3] * 16  # one pixel of each 3×3 block
    ours, theirs = together.astype(np.uint8), reference.images.astype(np.uint8)
    assert sorted(map(bytes, ours)) == sorted(map(bytes, theirs))
    # 3×32×32 for ConvNet: a 4-pixel zero border, the same digit in each channel.
    x32, _ = data.load_digits(size=32, channels=3)
    assert x32.shape == (1438, 3, 32, 32)
    np.testing.assert_array_equal(x32[:, :, 4:28, 4:28], np.repeat(x[:, :, 2:26, 2:26], 3, axis=1))
    assert x32[:, :, :4].max() == 0 and x32[:, :, 28:].max() == 0
    with pytest.raises(ValueError, match="at least 24"):
        data.load_digits(size=20)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        data.load_digits(channels=2)


# --- minibatches -------------------------------------------------------------------------------------------
def test_dataloader_visits_every_example_once_per_epoch_in_a_seeded_order():
    x, y = np.arange(10.0)[:, None], np.arange(10)
    loader = data.DataLoader(x, y, batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 3
    first = [yb for _, yb in loader]
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(np.concatenate(first)) == list(range(10))
    second = np.concatenate([yb for _, yb in loader])
    assert not np.array_equal(np.concatenate(first), second)  # a new order every epoch
    again = data.DataLoader(x, y, batch_size=4, shuffle=True, seed=0)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in again]), np.concatenate(first))
    for xb, yb in loader:
        np.testing.assert_array_equal(xb[:, 0], yb)  # pairs stay together


def test_dataloader_order_drop_last_and_single_arrays():
    x = np.arange(10)
    assert [b.tolist() for b in data.DataLoader(x, batch_size=4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    loader = data.DataLoader(x, batch_size=4, drop_last=True, shuffle=True, seed=np.random.default_rng(1))
    assert len(loader) == 2 and [len(b) for b in loader] == [4, 4]
    with pytest.raises(ValueError, match="same length"):
        data.DataLoader(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        data.DataLoader(x, batch_size=0)


def test_dataloader_puts_batches_on_the_device(device):
    x, y = np.ones((5, 2), dtype=np.float32), np.arange(5)
    xb, yb = next(iter(data.DataLoader(x, y, batch_size=2, device=device)))
    assert device_of(xb) == device == device_of(yb)
    np.testing.assert_array_equal(to_numpy(yb), [0, 1])


def test_progress_wraps_an_iterable():
    bar = data.progress(range(3), disable=True)
    assert list(bar) == [0, 1, 2]
    bar.set_postfix(loss=0.5)
    bar.close()
