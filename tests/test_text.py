"""nnlib.text: the shipped corpus, vocabulary, BPTT streams, and the PTB download through
nnlib.download (offline: generated files served from 127.0.0.1)."""

import functools
import hashlib
import http.server
import re
import socket
import threading

import numpy as np
import pytest

import nnlib
from nnlib import download, text
from nnlib.errors import ShapeError


# --- shipped corpus -------------------------------------------------------------------------------
def test_shipped_corpus_is_there_small_and_documented():
    path = text.corpus_path()
    assert path.is_file() and path.stat().st_size <= 2 * 1024 * 1024
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    assert "MIT" in readme and "chinese-poetry" in readme
    digest = re.search(r"SHA-256 of `songci.txt` \| `([0-9a-f]{64})`", readme).group(1)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # README describes this very file
    corpus = text.load_corpus()
    lines = corpus.splitlines()
    assert len(lines) == 4111 and all(line.startswith("《") for line in lines)
    assert lines[0].startswith("《湘春夜月》近清明。")
    with pytest.raises(ValueError, match="songci"):
        text.corpus_path("hongloumeng")


def test_char_corpus_split_and_vocab():
    vocab, train, valid = text.char_corpus(max_size=2000)
    assert len(vocab) == 2000 and vocab.itos[0] == "<unk>"
    assert train.dtype == np.int64 and 250_000 < train.size < 320_000 and 25_000 < valid.size < 45_000
    assert (train == 0).mean() < 0.05                   # the 1,999 commonest characters cover > 95 %
    assert "\n" in vocab                                # poem ends are tokens
    again, train2, _ = text.char_corpus(max_size=2000)
    assert again.itos == vocab.itos and np.array_equal(train, train2)  # deterministic


def test_split_lines_keeps_poems_whole():
    corpus = "".join(f"line{i}\n" for i in range(50))
    train, valid = text.split_lines(corpus, 0.2, seed=3)
    t, v = train.splitlines(), valid.splitlines()
    assert len(v) == 10 and len(t) == 40 and not set(t) & set(v)
    assert sorted(t + v) == sorted(corpus.splitlines())
    with pytest.raises(ValueError, match="valid_fraction"):
        text.split_lines(corpus, 1.0)


# --- vocabulary -----------------------------------------------------------------------------------
def test_vocab_orders_by_frequency_then_token_and_maps_rare_to_unk():
    v = text.Vocab.build("ccbbbaaa d")
    assert v.itos == ["<unk>", "a", "b", "c", " ", "d"]
    v2 = text.Vocab.build("ccbbbaaa d", min_freq=2)
    assert v2.itos == ["<unk>", "a", "b", "c"]
    assert v2.decode(v2.encode("abcdz")) == "abc<unk><unk>"
    v3 = text.Vocab.build(["the", "cat", "<eos>", "the"], specials=("<eos>",), max_size=3)
    assert v3.itos == ["<unk>", "<eos>", "the"]
    assert v3.decode(v3.encode(["the", "dog"]), sep=" ") == "the <unk>"
    with pytest.raises(ValueError, match="first token"):
        text.Vocab(["a", "<unk>"])
    with pytest.raises(ValueError, match="max_size"):
        text.Vocab.build("abc", max_size=0)


def test_vocab_decodes_tensors():
    torch = pytest.importorskip("torch")
    v = text.Vocab.build("春风")
    assert v.decode(torch.tensor([[1, 2]])) == v.decode([1, 2]) == "春风"


# --- streams ---------------------------------------------------------------------------------------
def test_batchify_and_bptt_windows():
    ids = np.arange(23)
    streams = text.batchify(ids, 3)
    assert streams.shape == (3, 7)
    np.testing.assert_array_equal(streams[1], np.arange(7, 14))   # each row is contiguous text
    windows = list(text.bptt_batches(streams, 4))
    assert [x.shape for x, _ in windows] == [(3, 4), (3, 2)]
    for x, y in windows:
        np.testing.assert_array_equal(y, x + 1)                     # target = next token
    assert np.concatenate([x for x, _ in windows], axis=1).shape == (3, 6)
    with pytest.raises(ShapeError):
        text.batchify(np.zeros((2, 3), np.int64), 2)
    with pytest.raises(ValueError, match="too few"):
        text.batchify(np.arange(5), 3)


def test_batchify_on_torch_device(torch_device):
    streams = text.batchify(np.arange(40), 4, device=torch_device)
    assert nnlib.device_of(streams) == torch_device
    x, y = next(text.bptt_batches(streams, 3))
    assert tuple(x.shape) == (4, 3)


# --- Penn Treebank (offline) -------------------------------------------------------------------------
PTB_FAKE = {
    "train": "no it was n't black monday \n but while the new york stock exchange did n't fall <unk> \n",
    "valid": " the stock fell \n",
    "test": " it was <unk> monday \n",
}
QUIET = dict(progress_bar=False, timeout=5, backoff=0)


def fake_files(base_url, contents=PTB_FAKE):
    """RemoteFiles for generated PTB-format files served at ``base_url``."""
    return {split: download.RemoteFile(f"ptb.{split}.txt", hashlib.sha256(body.encode()).hexdigest(),
                                       len(body), (f"{base_url}ptb.{split}.txt",))
            for split, body in contents.items()}


@pytest.fixture
def served(tmp_path):
    """Serve generated ptb.*.txt files from a local HTTP server; yields its base URL."""
    site = tmp_path / "site"
    site.mkdir()
    for split, body in PTB_FAKE.items():
        (site / f"ptb.{split}.txt").write_text(body)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", server
    server.shutdown()
    server.server_close()


def test_load_ptb_downloads_verifies_and_parses(served, tmp_path):
    url, _ = served
    root = tmp_path / "cache"
    vocab, splits = text.load_ptb(root, files=fake_files(url), **QUIET)
    assert sorted(p.name for p in root.iterdir()) == ["ptb.test.txt", "ptb.train.txt", "ptb.valid.txt"]
    assert vocab.itos[:2] == ["<unk>", "<eos>"]
    assert vocab.decode(splits["valid"], sep=" ") == "the stock <unk> <eos>"  # "fell" is not in train
    assert vocab.decode(splits["test"], sep=" ") == "it was <unk> monday <eos>"
    assert splits["train"].size == len(PTB_FAKE["train"].split()) + 2


def test_cached_files_are_used_offline(served, tmp_path):
    url, server = served
    text.load_ptb(tmp_path, files=fake_files(url), **QUIET)
    server.shutdown()                                           # the network is gone
    vocab, _ = text.load_ptb(tmp_path, files=fake_files(url), **QUIET)
    assert "stock" in vocab
    vocab, _ = text.load_ptb(tmp_path, files=fake_files(url), download=False)
    assert "stock" in vocab


def test_corrupt_cache_is_replaced(served, tmp_path):
    url, _ = served
    (tmp_path / "ptb.valid.txt").write_text("garbage")
    text.load_ptb(tmp_path, files=fake_files(url), **QUIET)
    assert (tmp_path / "ptb.valid.txt").read_text() == PTB_FAKE["valid"]


def test_wrong_bytes_are_a_checksum_error_and_leave_no_file(served, tmp_path):
    url, _ = served
    files = fake_files(url)
    files["valid"] = download.RemoteFile("ptb.valid.txt", "0" * 64, 10, files["valid"].urls)
    with pytest.raises(download.ChecksumError, match="0{64}"):
        text.load_ptb(tmp_path / "c", files=files, retries=1, **QUIET)
    assert not (tmp_path / "c" / "ptb.valid.txt").exists()
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.endswith(".part")]


def test_offline_error_says_what_to_do(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on: connection refused, like a dead network
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    files = {split: download.RemoteFile(r.name, r.sha256, r.size, (f"http://127.0.0.1:{port}/{r.name}",))
             for split, r in text.PTB_FILES.items()}
    monkeypatch.setenv("NNLIB_DATA", str(tmp_path))
    expected = r"(?s)ptb\.train\.txt.*opt-in.*char_corpus.*SHA-256 fcea919f"
    with pytest.raises(download.DownloadError, match=expected) as info:
        text.load_ptb(files=files, retries=0, **QUIET)
    assert "load_digits" not in str(info.value)                # the image-data hint does not apply here
    assert str(tmp_path / "ptb") in str(info.value)


def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        text.load_ptb(tmp_path, download=False)


def test_real_ptb_constants_are_pinned():
    assert set(text.PTB_FILES) == {"train", "valid", "test"}
    for split, remote in text.PTB_FILES.items():
        assert remote.name == f"ptb.{split}.txt"
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256) and remote.size > 100_000
        assert remote.urls == (text.PTB_BASE_URL + remote.name,) and remote.urls[0].startswith("https://")


def test_real_ptb_when_cached():
    """Runs only where PTB was downloaded before (opt-in: nnlib.text.load_ptb() once, online)."""
    root = download.data_home() / "ptb"
    if not all((root / r.name).is_file() for r in text.PTB_FILES.values()):
        pytest.skip(f"PTB not cached in {root}; load it once with nnlib.text.load_ptb()")
    vocab, splits = text.load_ptb(download=False)
    assert len(vocab) == 10000
    assert splits["train"].size == 929589 and splits["valid"].size == 73760 and splits["test"].size == 82430
