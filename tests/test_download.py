"""nnlib.download without a network: a local HTTP server on 127.0.0.1 serves files the tests
generate (checksums, caching, retries, mirrors, atomic writes, offline errors); and the import
graph: nnlib.data and nnlib.text download through this module, which knows neither of them."""

import ast
import socket
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest

from local_server import Server, remote_for
from nnlib import data, download, text


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def fetch(remote, root, **kwargs):
    return download.fetch(remote, root, backoff=0, progress_bar=False, **kwargs)


def unused_port():
    with socket.socket() as s:  # bound, then closed: nobody listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- fetch ---------------------------------------------------------------------------------------------
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
    with pytest.raises(download.ChecksumError, match=f"does not match the expected {good.sha256}") as info:
        fetch(good, tmp_path, retries=1)
    assert f"copy f.bin (SHA-256 {good.sha256}) into {tmp_path} by hand" in str(info.value)
    assert len(server.requests) == 2
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


def test_unreachable_server_names_every_url_and_the_manual_way(tmp_path):
    port = unused_port()
    remote = download.RemoteFile("f.bin", "0" * 64, 1, (f"http://127.0.0.1:{port}/x/f.bin",
                                                        f"http://127.0.0.1:{port}/y/f.bin"))
    with pytest.raises(download.DownloadError) as info:
        fetch(remote, tmp_path, retries=1)
    message = str(info.value)
    assert not isinstance(info.value, download.ChecksumError)
    assert "/x/f.bin (2 attempts)" in message and "/y/f.bin (2 attempts)" in message
    assert f"copy f.bin (SHA-256 {'0' * 64}) into {tmp_path} by hand" in message
    assert list(tmp_path.iterdir()) == []


def test_the_callers_offline_hint_is_in_the_error(tmp_path):
    remote = download.RemoteFile("f.bin", "0" * 64, 1, (f"http://127.0.0.1:{unused_port()}/f.bin",))
    expected = r"(?s)/f\.bin.*use the small corpus instead\. .*by hand"
    with pytest.raises(download.DownloadError, match=expected):
        fetch(remote, tmp_path, retries=0, offline_hint="Offline? use the small corpus instead.")


def test_no_dns_means_offline_one_attempt_per_url(monkeypatch, tmp_path):
    calls = []

    def no_dns(url, timeout):
        calls.append(url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(download, "_open_url", no_dns)
    remote = download.RemoteFile("f.bin", "0" * 64, 1, ("https://one.invalid/f.bin", "https://two.invalid/f.bin"))
    with pytest.raises(download.DownloadError, match="seems to be offline"):
        fetch(remote, tmp_path, retries=3)
    assert calls == list(remote.urls)  # each URL once: retrying (and waiting) would not help


def test_cache_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(download.DATA_ENV, str(tmp_path))
    assert download.data_home() == tmp_path
    monkeypatch.delenv(download.DATA_ENV)
    assert download.data_home() == Path.home() / ".cache" / "nnlib"
    assert download.data_home("~/x") == Path.home() / "x"


def test_sha256_of_a_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")  # FIPS 180-2's example message, read in chunks smaller than the file
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert download.sha256_of(path, chunk=2) == expected


# --- the import graph ------------------------------------------------------------------------------------
def nnlib_imports(module):
    """The nnlib modules that ``module``'s source imports (``from . import x``, ``from .x import y``,
    ``import nnlib.x``), by their first name under nnlib."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nnlib"):
            parts = node.module.split(".")
            found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("nnlib."))
    return found


def defined_names(module):
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def test_data_and_text_download_through_the_download_module():
    assert "download" in nnlib_imports(data) and "download" in nnlib_imports(text)
    assert not nnlib_imports(download) & {"data", "text"}
    downloading = {"fetch", "RemoteFile", "DownloadError", "ChecksumError", "sha256_of", "data_home"}
    assert downloading <= defined_names(download)
    # One implementation: neither data nor text defines its own.
    assert not defined_names(data) & downloading and not defined_names(text) & downloading


def test_importing_the_download_module_loads_neither_data_nor_text():
    code = "import sys, nnlib.download; print(sorted(m for m in sys.modules if m.startswith('nnlib.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120)
    loaded = set(ast.literal_eval(out.stdout.strip()))
    assert "nnlib.download" in loaded and not loaded & {"nnlib.data", "nnlib.text"}
