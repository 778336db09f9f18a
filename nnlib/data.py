"""Image data for the book: MNIST and CIFAR-10 (downloaded once), 8×8 digits offline,
minibatches, and a progress bar for training loops.

Downloads (``load_mnist``, ``load_cifar10``)
    Files come from their official locations (MNIST from a list of mirrors tried in order; the
    original host yann.lecun.com is often unavailable) through :func:`nnlib.download.fetch`,
    which verifies each file's SHA-256 and caches it in ``$NNLIB_DATA`` or ``~/.cache/nnlib``.
    This module only describes the files and reads them: the binary formats (IDX for MNIST, the
    "binary version" of CIFAR-10) are parsed with NumPy; nothing downloaded is ever unpickled,
    and the CIFAR archive is read in memory, not extracted.

Offline (``load_digits_8x8``, ``load_digits``)
    scikit-learn ships 1,797 real handwritten digits of 8×8 pixels inside the package, as the
    file ``sklearn/datasets/data/digits.csv.gz``. ``load_digits_8x8`` reads that file directly
    (importing scikit-learn itself takes seconds); ``load_digits`` adapts the digits to the
    networks' inputs: each pixel becomes a 3×3 block (24×24), centred on a zero border (28×28
    like MNIST, or 32×32 like CIFAR-10), optionally repeated over 3 channels.

Minibatches (``DataLoader``) and progress (``progress``)
    ``DataLoader(x, y, batch_size=64, shuffle=True, seed=0)`` yields ``(x_batch, y_batch)`` on a
    chosen device; shuffling uses a seeded ``numpy.random.Generator``, so runs repeat exactly.
"""

import gzip
import importlib.util
import math
import tarfile
from pathlib import Path

import numpy as np

from . import backend
from .download import RemoteFile, data_home, fetch
from .rng import generator as _nnlib_generator


# --- the files ---------------------------------------------------------------------------------------
# Where the checksums come from: TensorFlow Datasets publishes size and SHA-256 of exactly these
# files (github.com/tensorflow/datasets, tensorflow_datasets/url_checksums/mnist.txt and
# cifar10.txt), and other projects' download code repeats the same values. The CIFAR-10 page
# (https://www.cs.toronto.edu/~kriz/cifar.html) publishes only an MD5 for this archive,
# c32a1d4ab5d03f1284b67883e8d87530. The values are constants on purpose: a file that does not
# match is rejected, never "updated".
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",     # PyTorch's mirror (torchvision)
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's mirror
    "http://yann.lecun.com/exdb/mnist/",                  # the original; often unavailable
)
_MNIST = {
    "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                   9912422),
    "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                   28881),
    "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                  1648877),
    "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                  4542),
}
MNIST_FILES = {name: RemoteFile(name, sha, size, tuple(m + name for m in MNIST_MIRRORS))
               for name, (sha, size) in _MNIST.items()}
CIFAR10_FILE = RemoteFile(
    "cifar-10-binary.tar.gz", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171,
    ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

OFFLINE_HINT = ("To work without a network, use nnlib.data.load_digits(): real handwritten digits that ship "
                "inside scikit-learn, adapted to 1×28×28 (or 3×32×32 with size=32, channels=3).")


# --- parsing the binary formats ------------------------------------------------------------------------
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data):
    """An array from the bytes of an IDX file (MNIST's format, http://yann.lecun.com/exdb/mnist/).

    Header: two zero bytes, a type code (0x08 = unsigned byte …), the number of dimensions d,
    then d big-endian uint32 sizes; then the values, big-endian, row-major.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"not an IDX file: header bytes {bytes(data[:4])!r} (expected 00 00 <type> <ndim>)")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    offset, expected = 4 + 4 * ndim, math.prod(shape) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"IDX file of shape {shape} and type {dtype} needs {expected} data bytes, "
                         f"got {len(data) - offset}")
    values = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        return parse_idx(f.read())


CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue bytes


def parse_cifar10_binary(data):
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) from the bytes of a CIFAR-10 ``.bin`` batch."""
    if len(data) % CIFAR_RECORD:
        raise ValueError(f"a CIFAR-10 binary batch is a whole number of {CIFAR_RECORD}-byte records, "
                         f"got {len(data)} bytes")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.size and labels.max() > 9:
        raise ValueError(f"CIFAR-10 labels are 0..9, found {labels.max()}")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def read_cifar10_archive(path, train=True):
    """Read the batches of ``cifar-10-binary.tar.gz`` from the archive in memory (no extraction)."""
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    found = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:  # one pass in stream order: a .gz cannot seek back cheaply
            if member.isfile() and Path(member.name).name in names:
                found[Path(member.name).name] = parse_cifar10_binary(archive.extractfile(member).read())
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"{path} has no member(s) {missing}; is it cifar-10-binary.tar.gz?")
    return (np.concatenate([found[n][0] for n in names]), np.concatenate([found[n][1] for n in names]))


# --- the datasets ----------------------------------------------------------------------------------------
def _to_float(images):
    return (images.astype(np.float32) / 255.0)


def load_mnist(train=True, root=None, *, download=True, progress_bar=True):
    """MNIST: ``(x, y)`` with x float32 (N, 1, 28, 28) in [0, 1] and y int64 (N,).

    60,000 training or 10,000 test images (downloaded once, ≈ 11 MB, see :func:`nnlib.download.fetch`).
    """
    prefix = "train" if train else "t10k"
    paths = []
    for kind in ("images-idx3", "labels-idx1"):
        remote = MNIST_FILES[f"{prefix}-{kind}-ubyte.gz"]
        path = data_home(root) / remote.name
        if not download and not path.exists():
            raise FileNotFoundError(f"{path} is missing and download=False. {OFFLINE_HINT}")
        if download:
            path = fetch(remote, root, progress_bar=progress_bar, offline_hint=OFFLINE_HINT)
        paths.append(path)
    images, labels = read_idx_gz(paths[0]), read_idx_gz(paths[1])
    return _to_float(images)[:, None], labels.astype(np.int64)


def load_cifar10(train=True, root=None, *, download=True, progress_bar=True):
    """CIFAR-10: ``(x, y)`` with x float32 (N, 3, 32, 32) in [0, 1] and y int64 (N,).

    50,000 training or 10,000 test images from the binary archive (downloaded once, ≈ 170 MB);
    class names in ``CIFAR10_CLASSES``.
    """
    path = data_home(root) / CIFAR10_FILE.name
    if not download and not path.exists():
        raise FileNotFoundError(f"{path} is missing and download=False. {OFFLINE_HINT}")
    if download:
        path = fetch(CIFAR10_FILE, root, progress_bar=progress_bar, offline_hint=OFFLINE_HINT)
    images, labels = read_cifar10_archive(path, train)
    return _to_float(images), labels


def upsample_digits(images, size=28, channels=1):
    """8×8 images (values 0..16) → float32 (N, channels, size, size) in [0, 1].

    Each pixel becomes a 3×3 block (nearest neighbour: 8×8 → 24×24), placed in the centre of a
    zero border — like MNIST, whose digits fill about 20×20 of 28×28.
    """
    if size < 24:
        raise ValueError(f"size must be at least 24 (8×8 pixels, each 3×3), got {size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    images = np.asarray(images, dtype=np.float32) / 16.0
    big = np.repeat(np.repeat(images, 3, axis=1), 3, axis=2)          # (N, 24, 24)
    before = (size - 24) // 2
    out = np.zeros((len(images), channels, size, size), dtype=np.float32)
    out[:, :, before:before + 24, before:before + 24] = big[:, None]
    return out


def scikit_learn_file(*parts):
    """Path of a file that ships inside the scikit-learn package (``parts`` below its directory,
    e.g. ``"datasets", "data", "digits.csv.gz"``), or None; scikit-learn is not imported.

    ``find_spec`` only locates the package directory, it does not run ``sklearn/__init__.py``
    (importing scikit-learn takes 1–2 s, mostly SciPy).
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.is_file() else None


def _bundled_digits_file():
    """Path of scikit-learn's ``datasets/data/digits.csv.gz``, or None (see :func:`scikit_learn_file`)."""
    return scikit_learn_file("datasets", "data", "digits.csv.gz")


def load_digits_8x8():
    """The 1,797 handwritten 8×8 digits that ship with scikit-learn: ``(images, target)``.

    images float64 (1797, 8, 8), each pixel the number of inked pixels (0..16) in a 4×4 block
    of a 32×32 bitmap; target int64 (1797,), the digit 0..9. The data are the test set of
    E. Alpaydin's "Optical Recognition of Handwritten Digits" (UCI Machine Learning
    Repository), which scikit-learn stores as ``datasets/data/digits.csv.gz`` (per row 64
    pixels, then the label). That file is read here without importing scikit-learn, and the
    arrays equal ``sklearn.datasets.load_digits()``'s ``images`` and ``target`` (its
    ``data`` is ``images.reshape(-1, 64)``). Where scikit-learn is installed without that
    file, its own loader is used.
    """
    path = _bundled_digits_file()
    if path is None:
        try:
            from sklearn.datasets import load_digits as sklearn_digits
        except ImportError as exc:
            raise ImportError("load_digits_8x8 reads the digits that ship with scikit-learn, "
                              "which is not installed (pip install scikit-learn)") from exc
        digits = sklearn_digits()
        return digits.images, digits.target.astype(np.int64)
    table = np.loadtxt(path, delimiter=",")
    if table.ndim != 2 or table.shape[1] != 65:
        raise ValueError(f"{path}: expected rows of 64 pixels and a label (65 columns), "
                         f"got an array of shape {table.shape}")
    return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)


def load_digits(train=True, *, size=28, channels=1, test_fraction=0.2, seed=0):
    """Offline data: the 1,797 handwritten 8×8 digits (:func:`load_digits_8x8`) as ``(x, y)`` for a CNN.

    x float32 (N, channels, size, size) in [0, 1] (see :func:`upsample_digits`; ``size=32,
    channels=3`` fits ``ConvNet``), y int64 (N,). The split is a fixed seeded shuffle: with the
    defaults 1,438 training and 359 test images, the same on every machine.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    images, target = load_digits_8x8()
    order = np.random.default_rng(seed).permutation(len(target))
    n_test = round(len(order) * test_fraction)
    chosen = order[n_test:] if train else order[:n_test]
    return upsample_digits(images[chosen], size, channels), target[chosen]


# --- minibatches and progress -----------------------------------------------------------------------------
class DataLoader:
    """Minibatches of equally long arrays: ``for xb, yb in DataLoader(x, y, batch_size=64, shuffle=True)``.

    ``shuffle`` draws a new order every epoch from ``seed`` (an int, or a
    ``numpy.random.Generator``; ``None`` uses nnlib's generator, see ``nnlib.manual_seed``).
    ``drop_last`` skips a final batch smaller than ``batch_size``. Batches are copied to
    ``device`` ("numpy", "cpu", "cuda" …) as they are produced.
    """

    def __init__(self, *arrays, batch_size=64, shuffle=False, seed=None, drop_last=False, device="numpy"):
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"DataLoader: arrays must have the same length, got {[len(a) for a in arrays]}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.arrays = [backend.to_numpy(a) if backend.is_array(a) else np.asarray(a) for a in arrays]
        self.batch_size, self.shuffle, self.drop_last = batch_size, bool(shuffle), bool(drop_last)
        self.device = backend.normalize_device(device)
        self._rng = np.random.default_rng(seed) if isinstance(seed, (int, np.integer)) else seed

    def __len__(self):
        n = len(self.arrays[0])
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.arrays[0])
        if self.shuffle:
            order = (self._rng or _nnlib_generator()).permutation(n)
        else:
            order = np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            batch = tuple(backend.to_device(np.ascontiguousarray(a[index]), self.device) for a in self.arrays)
            yield batch if len(batch) > 1 else batch[0]


class _NoBar:
    """What ``progress`` returns when tqdm is missing: iterates, ignores updates."""

    def __init__(self, iterable=None, **_):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass


def progress(iterable=None, **kwargs):
    """A tqdm progress bar (a widget in notebooks, text in a console) around ``iterable``.

    ``for xb, yb in progress(loader, desc=f"epoch {epoch}"): …``; ``bar.set_postfix(loss=…)``
    shows a running value. Keyword arguments go to ``tqdm``. Without tqdm installed it is a
    plain loop.
    """
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        return _NoBar(iterable)
    return tqdm(iterable, **kwargs)
