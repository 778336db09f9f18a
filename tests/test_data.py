"""nnlib.data without a network: downloads from a local HTTP server on 127.0.0.1 serving files
the tests generate (checksums, retries, mirrors, atomic writes, offline errors), the IDX and
CIFAR-10 binary parsers, the offline digits, DataLoader and progress."""

import gzip
import hashlib
import http.server
import io
import socket
import tarfile
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from nnlib import data
from nnlib.backend import device_of, to_numpy


# --- writing the binary formats (the inverse of the parsers) --------------------------------------------
IDX_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B, np.dtype("int32"): 0x0C,
             np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def idx_bytes(array):
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def cifar_bytes(images, labels):
    return np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1).tobytes()


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
    np.testing.assert_array_equal(images, np.concatenate([batches[f"data_batch_{i}.bin"][0] for i in range(1, 6)]))
    np.testing.assert_array_equal(labels, np.concatenate([batches[f"data_batch_{i}.bin"][1] for i in range(1, 6)]))
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


# --- a local server ------------------------------------------------------------------------------------------
class Server:
    """Serves ``files`` ({path: bytes}) on 127.0.0.1; ``fail[path] = k`` answers the next k requests
    for ``path`` with HTTP 500; ``stall[path]`` delays the next answer by 0.5 s; ``cut[path]`` sends
    only half of the next body and closes the connection."""

    def __init__(self):
        self.files, self.fail, self.stall, self.cut, self.requests = {}, {}, {}, {}, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                if owner.stall.pop(self.path, 0):
                    threading.Event().wait(0.5)
                if owner.fail.get(self.path, 0) > 0:
                    owner.fail[self.path] -= 1
                    self.send_error(500, "try again")
                    return
                if self.path not in owner.files:
                    self.send_error(404)
                    return
                body = owner.files[self.path]
                self.send_response(200)
                if owner.cut.pop(self.path, False):  # promise more than is sent, then hang up
                    self.send_header("Content-Length", str(len(body) + 100))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def remote_for(server, name, payload, mirrors=("/a/",)):
    for m in mirrors:
        server.files[m + name] = payload
    return data.RemoteFile(name, hashlib.sha256(payload).hexdigest(), len(payload),
                           tuple(server.url + m + name for m in mirrors))


def fetch(remote, root, **kwargs):
    return data.fetch(remote, root, backoff=0, progress_bar=False, **kwargs)


def test_download_is_verified_and_cached(server, tmp_path):
    remote = remote_for(server, "f.bin", b"hello" * 1000)
    path = fetch(remote, tmp_path)
    assert path == tmp_path / "f.bin" and path.read_bytes() == b"hello" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no temporary file left
    fetch(remote, tmp_path)
    assert len(server.requests) == 1  # the second call used the cache


def test_corrupted_download_is_a_checksum_error_and_leaves_no_file(server, tmp_path):
    good = remote_for(server, "f.bin", b"good bytes")
    server.files["/a/f.bin"] = b"evil bytes"
    with pytest.raises(data.ChecksumError, match=f"does not match the expected {good.sha256}") as info:
        fetch(good, tmp_path, retries=1)
    assert "load_digits" in str(info.value) and len(server.requests) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_failed_attempt_is_retried(server, tmp_path):
    remote = remote_for(server, "f.bin", b"payload")
    server.fail["/a/f.bin"] = 1
    assert fetch(remote, tmp_path, retries=1).read_bytes() == b"payload"
    assert server.requests == ["/a/f.bin", "/a/f.bin"]


def test_a_timeout_is_retried(server, tmp_path):
    remote = remote_for(server, "f.bin", b"payload")
    server.stall["/a/f.bin"] = True
    assert fetch(remote, tmp_path, retries=1, timeout=0.1).read_bytes() == b"payload"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_a_cut_off_response_is_retried(server, tmp_path):
    remote = remote_for(server, "f.bin", b"0123456789" * 100)
    server.cut["/a/f.bin"] = True
    assert fetch(remote, tmp_path, retries=1).read_bytes() == b"0123456789" * 100
    assert len(server.requests) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_the_next_mirror_is_tried(server, tmp_path):
    remote = remote_for(server, "f.bin", b"payload", mirrors=("/down/", "/up/"))
    del server.files["/down/f.bin"]
    assert fetch(remote, tmp_path, retries=0).read_bytes() == b"payload"
    assert server.requests == ["/down/f.bin", "/up/f.bin"]


def test_a_damaged_cached_file_is_replaced(server, tmp_path):
    remote = remote_for(server, "f.bin", b"payload")
    (tmp_path / "f.bin").write_bytes(b"payl")  # e.g. copied by hand and truncated
    assert fetch(remote, tmp_path).read_bytes() == b"payload"


def test_unreachable_server_names_every_url_and_the_offline_alternative(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = data.RemoteFile("f.bin", "0" * 64, 1, (f"http://127.0.0.1:{port}/x/f.bin", f"http://127.0.0.1:{port}/y/f.bin"))
    with pytest.raises(data.DownloadError) as info:
        fetch(remote, tmp_path, retries=1)
    message = str(info.value)
    assert not isinstance(info.value, data.ChecksumError)
    assert "/x/f.bin (2 attempts)" in message and "/y/f.bin (2 attempts)" in message
    assert "nnlib.data.load_digits()" in message and "by hand" in message
    assert list(tmp_path.iterdir()) == []


def test_the_offline_hint_can_be_replaced(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = data.RemoteFile("f.bin", "0" * 64, 1, (f"http://127.0.0.1:{port}/f.bin",))
    with pytest.raises(data.DownloadError, match="use the small corpus instead") as info:
        fetch(remote, tmp_path, retries=0, offline_hint="Offline? use the small corpus instead.")
    assert "load_digits" not in str(info.value)


def test_no_dns_means_offline_one_attempt_per_url(monkeypatch, tmp_path):
    calls = []

    def no_dns(url, timeout):
        calls.append(url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(data, "_open_url", no_dns)
    with pytest.raises(data.DownloadError, match="seems to be offline") as info:
        data.load_mnist(root=tmp_path, progress_bar=False)
    assert calls == list(data.MNIST_FILES["train-images-idx3-ubyte.gz"].urls)  # each mirror once, no waiting
    assert "yann.lecun.com" in str(info.value) and "load_digits" in str(info.value)


def test_load_mnist_and_cifar10_from_a_local_mirror(server, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=5).astype(np.uint8)
    for name, array in [("t10k-images-idx3-ubyte.gz", images), ("t10k-labels-idx1-ubyte.gz", labels)]:
        monkeypatch.setitem(data.MNIST_FILES, name, remote_for(server, name, gzip.compress(idx_bytes(array))))
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "cache"))
    x, y = data.load_mnist(train=False, progress_bar=False)
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0] * 255, images)
    np.testing.assert_array_equal(y, labels)
    assert {p.name for p in (tmp_path / "cache").iterdir()} == {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}

    archive = tmp_path / "cifar.tar.gz"
    batches = {f"data_batch_{i}.bin": random_cifar(rng, 2) for i in range(1, 6)}
    batches["test_batch.bin"] = random_cifar(rng, 3)
    cifar_archive(archive, batches)
    monkeypatch.setattr(data, "CIFAR10_FILE", remote_for(server, "cifar-10-binary.tar.gz", archive.read_bytes()))
    x, y = data.load_cifar10(train=False, progress_bar=False)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.float32 and x.max() <= 1
    np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), batches["test_batch.bin"][0])
    np.testing.assert_array_equal(y, batches["test_batch.bin"][1])


def test_download_false_reports_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        data.load_cifar10(root=tmp_path, download=False)


def test_real_checksums_are_sha256_constants():
    for remote in list(data.MNIST_FILES.values()) + [data.CIFAR10_FILE]:
        assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0 and remote.size > 0
        assert remote.urls and all(u.endswith(remote.name) for u in remote.urls)
    assert data.CIFAR10_FILE.urls == ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",)


def test_cache_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.data_home() == tmp_path
    monkeypatch.delenv(data.DATA_ENV)
    assert data.data_home() == Path.home() / ".cache" / "nnlib"
    assert data.data_home("~/x") == Path.home() / "x"


# --- offline digits --------------------------------------------------------------------------------------------
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
    assert sorted(map(bytes, together.astype(np.uint8))) == sorted(map(bytes, reference.images.astype(np.uint8)))
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
