"""nnlib.text: the shipped corpus, vocabulary, BPTT streams, and the PTB download (offline:
generated files served from 127.0.0.1 or a replaced fetch function)."""

import functools
import hashlib
import http.server
import re
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import nnlib
from nnlib import text
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


def fake_files(contents=PTB_FAKE):
    return {split: (f"ptb.{split}.txt", hashlib.sha256(body.encode()).hexdigest(), len(body))
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
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_load_ptb_downloads_verifies_and_parses(served, tmp_path):
    root = tmp_path / "cache"
    vocab, splits = text.load_ptb(root, base_url=served, files=fake_files(), timeout=5)
    assert sorted(p.name for p in root.iterdir()) == ["ptb.test.txt", "ptb.train.txt", "ptb.valid.txt"]
    assert vocab.itos[:2] == ["<unk>", "<eos>"]
    assert vocab.decode(splits["valid"], sep=" ") == "the stock <unk> <eos>"  # "fell" is not in train
    assert vocab.decode(splits["test"], sep=" ") == "it was <unk> monday <eos>"
    assert splits["train"].size == len(PTB_FAKE["train"].split()) + 2


def test_cached_files_are_not_fetched_again(served, tmp_path, monkeypatch):
    text.load_ptb(tmp_path, base_url=served, files=fake_files())
    monkeypatch.setattr(text, "fetch", lambda url, timeout: pytest.fail("fetched although cached"))
    vocab, _ = text.load_ptb(tmp_path, base_url=served, files=fake_files())
    assert "stock" in vocab


def test_corrupt_cache_is_replaced(served, tmp_path):
    (tmp_path / "ptb.valid.txt").write_text("garbage")
    text.load_ptb(tmp_path, base_url=served, files=fake_files())
    assert (tmp_path / "ptb.valid.txt").read_text() == PTB_FAKE["valid"]
    assert (tmp_path / "ptb.valid.txt.corrupt").read_text() == "garbage"


def test_retries_after_network_errors_and_writes_atomically(tmp_path, monkeypatch):
    calls = []

    def flaky(url, timeout):
        calls.append(url)
        if len(calls) < 3:
            raise urllib.error.URLError("connection reset")
        return b"hello\n"

    monkeypatch.setattr(text, "fetch", flaky)
    path = text.download("http://example.invalid/f.txt", tmp_path / "f.txt",
                         hashlib.sha256(b"hello\n").hexdigest(), retries=3, backoff=0)
    assert path.read_bytes() == b"hello\n" and len(calls) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary files left


def test_checksum_mismatch_is_an_error_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "fetch", lambda url, timeout: b"truncated")
    with pytest.raises(text.DownloadError, match="SHA-256 mismatch: expected 0{64}"):
        text.download("http://example.invalid/f.txt", tmp_path / "f.txt", "0" * 64, retries=2, backoff=0)
    assert list(tmp_path.iterdir()) == []


def test_offline_error_says_what_to_do(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(text, "fetch", offline)
    monkeypatch.setenv("NNLIB_DATA", str(tmp_path))
    with pytest.raises(text.DownloadError, match=r"offline.*copy the file to .*ptb\.train\.txt"):
        text.load_ptb(retries=2, backoff=0)
    assert text.data_home() == tmp_path


def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_missing=True"):
        text.load_ptb(tmp_path, download_missing=False)


def test_real_ptb_constants_are_pinned():
    assert set(text.PTB_FILES) == {"train", "valid", "test"}
    for name, sha, size in text.PTB_FILES.values():
        assert re.fullmatch(r"ptb\.(train|valid|test)\.txt", name)
        assert re.fullmatch(r"[0-9a-f]{64}", sha) and size > 100_000
    assert text.PTB_BASE_URL.startswith("https://")


def test_real_ptb_when_cached(monkeypatch):
    """Runs only where PTB was downloaded before (opt-in, e.g. NNLIB_DATA set in CI)."""
    root = text.data_home() / "ptb"
    if not all((root / name).is_file() for name, _, _ in text.PTB_FILES.values()):
        pytest.skip(f"PTB not cached in {root}; load it once with nnlib.text.load_ptb()")
    monkeypatch.setattr(text, "fetch", lambda url, timeout: pytest.fail("should use the cache"))
    vocab, splits = text.load_ptb()
    assert len(vocab) == 10000
    assert splits["train"].size == 929589 and splits["valid"].size == 73760 and splits["test"].size == 82430


def test_http_errors_from_the_server_are_retried_then_reported(served, tmp_path):
    with pytest.raises(text.DownloadError, match=r"HTTPError.*404"):
        text.download(served + "missing.txt", tmp_path / "m.txt", "0" * 64, retries=2, backoff=0, timeout=5)


def test_cut_off_response_is_retried(tmp_path, monkeypatch):
    import http.client

    answers = iter([http.client.IncompleteRead(b"par"), b"full\n"])

    def fetch(url, timeout):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(text, "fetch", fetch)
    path = text.download("http://example.invalid/f", tmp_path / "f", hashlib.sha256(b"full\n").hexdigest(), backoff=0)
    assert path.read_bytes() == b"full\n"
