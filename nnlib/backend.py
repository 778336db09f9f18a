"""Arrays on two backends with one code path.

nnlib's layers are written once against the *array API* namespace that `array-api-compat`
returns for their inputs: ``xp = namespace(x)`` is a NumPy-like module for NumPy arrays and a
NumPy-like wrapper of ``torch`` for tensors. nnlib never uses autograd; it only borrows
PyTorch's kernels (and its GPU) when the data are tensors.

A *device* is a string:

- ``"numpy"`` — NumPy arrays on the CPU (the default; works without torch installed);
- ``"cpu"``, ``"cuda:0"``, ``"mps:0"`` … — torch tensors on that torch device.

torch is imported only when a torch device is asked for, so ``import nnlib`` stays fast and
the NumPy chapters also run where torch is not available.

nnlib computes on the CPU with **one thread** by default (:func:`set_cpu_threads` says why,
and how to choose another count).
"""

import os
import sys

import array_api_compat
import numpy as np

from .errors import DeviceError, DTypeError

NUMPY = "numpy"
FLOAT_DTYPES = ("float32", "float64")


def _torch():
    """Import torch on first use only."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "this needs PyTorch (a torch device was requested), but torch is not installed; "
            "install it with `pip install torch`, or use device='numpy'"
        ) from exc
    return torch


def is_torch_array(x):
    """True for a torch tensor (without importing torch)."""
    return array_api_compat.is_torch_array(x)


def is_array(x):
    """True for a NumPy ndarray or a torch tensor: the only inputs nnlib's layers accept."""
    return isinstance(x, np.ndarray) or is_torch_array(x)


# Every layer asks for the device, dtype and namespace of its inputs on every call. The answers
# depend only on the torch.device, the dtype object or the array type, so each is worked out once
# and looked up afterwards: NumPy builds ``dtype.name`` anew on every call (about 5 µs, a sixth
# of a small layer's forward pass), and array_api_compat inspects the array each time (3–6 µs).
_device_names = {}      # torch.device → "cpu", "cuda:0" …
_dtype_names = {}       # NumPy or torch dtype object → "float32" …
_namespaces = {}        # array type → its array API namespace


def device_of(x):
    """The nnlib device string of an array: ``"numpy"``, ``"cpu"``, ``"cuda:0"`` …"""
    if isinstance(x, (np.ndarray, np.generic)):
        return NUMPY
    if is_torch_array(x):
        dev = x.device
        name = _device_names.get(dev)
        if name is None:
            name = _device_names[dev] = dev.type if dev.index is None else f"{dev.type}:{dev.index}"
        return name
    raise DTypeError(f"expected a NumPy array or a torch tensor, got {type(x).__name__}")


def dtype_name(x):
    """The dtype of an array as a plain string, e.g. ``"float32"``, on either backend."""
    dtype = x.dtype if isinstance(x, np.ndarray) or is_torch_array(x) else np.asarray(x).dtype
    name = _dtype_names.get(dtype)
    if name is None:
        name = _dtype_names[dtype] = str(dtype).removeprefix("torch.") if is_torch_array(x) else dtype.name
    return name


def normalize_device(device):
    """Canonical device string: ``"numpy"`` stays, ``"cuda"`` becomes ``"cuda:0"`` …

    Accepts strings and ``torch.device`` objects. Raises ``DeviceError`` for a device this
    machine does not have.
    """
    if device is None or device == NUMPY:
        _claim_cpu_threads("blas")
        return NUMPY
    torch = _torch()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"unknown device {device!r}; expected 'numpy', 'cpu', 'cuda' or 'mps'") from exc
    if dev.type == "cpu":
        _claim_cpu_threads("torch")
        return "cpu"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} requested, but CUDA is not available on this machine")
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} requested, "
                              f"but only {torch.cuda.device_count()} CUDA device(s) exist")
        return f"cuda:{index}"
    if dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise DeviceError(f"device {device!r} requested, but MPS is not available on this machine")
        return "mps:0"
    raise DeviceError(f"unsupported device type {dev.type!r}; expected 'numpy', 'cpu', 'cuda' or 'mps'")


def available_devices():
    """Every device nnlib can use here, e.g. ``["numpy", "cpu", "cuda:0"]``."""
    devices = [NUMPY]
    if "torch" not in sys.modules:
        try:
            import torch  # noqa: F401
        except ImportError:
            return devices
    torch = sys.modules["torch"]
    devices.append("cpu")
    devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        devices.append("mps:0")
    return devices


def best_device():
    """The fastest device here: a GPU (CUDA, then MPS) if present, else torch's CPU, else NumPy."""
    devices = available_devices()
    for kind in ("cuda", "mps"):
        for dev in devices:
            if dev.startswith(kind):
                return dev
    return "cpu" if "cpu" in devices else NUMPY


def resolve_dtype(dtype):
    """Canonical dtype name (``"float32"`` or ``"float64"``) from a string, NumPy or torch dtype."""
    if dtype is None:
        return "float32"
    text = str(dtype)
    spec = text.removeprefix("torch.") if text.startswith("torch.") else dtype  # torch.float64 → "float64"
    try:
        # np.dtype, not str(): str(np.float64) is "<class 'numpy.float64'>".
        name = np.dtype(spec).name
    except (TypeError, ValueError):
        name = text
    if name not in FLOAT_DTYPES:
        raise DTypeError(f"unsupported dtype {dtype!r}; expected one of {FLOAT_DTYPES}")
    return name


def native_dtype(name, device):
    """The backend's dtype object for a dtype name on a device."""
    if device == NUMPY:
        return np.dtype(name)
    return getattr(_torch(), name)


def native_device(x):
    """The backend's own device object of an array (for ``xp.arange(..., device=...)``)."""
    return array_api_compat.device(x)


def namespace(*arrays):
    """The array namespace (NumPy-like module) for arrays that all live on one device."""
    if len(arrays) == 1:  # the common call: one array, nothing to agree with
        found = _namespaces.get(type(arrays[0]))
        if found is not None:
            return found
    devices = {device_of(a) for a in arrays if a is not None}
    if len(devices) > 1:
        raise DeviceError(f"arrays are on different devices: {sorted(devices)}; "
                          f"move them to one with nnlib.to_device")
    found = array_api_compat.array_namespace(*[a for a in arrays if a is not None])
    if len(arrays) == 1:
        _namespaces[type(arrays[0])] = found
    return found


def to_device(x, device, dtype=None):
    """Copy (or move) an array to an nnlib device, optionally converting a float dtype.

    ``to_device(a, "cuda")`` turns a NumPy array into a CUDA tensor; ``to_device(t, "numpy")``
    turns any tensor into a NumPy array. Returns ``x`` itself when nothing changes.
    """
    target = normalize_device(device)
    dtype = None if dtype is None else resolve_dtype(dtype)
    if isinstance(x, np.generic):  # NumPy reductions (a loss, a sum) return scalars, not 0-d arrays
        x = np.asarray(x)
    if not is_array(x):
        raise DTypeError(f"expected a NumPy array or a torch tensor, got {type(x).__name__}")
    if target == NUMPY:
        arr = x.detach().cpu().numpy() if is_torch_array(x) else x
        return arr if dtype is None or arr.dtype.name == dtype else arr.astype(dtype)
    torch = _torch()
    # np.asarray(order="C"), not np.ascontiguousarray: that one turns a 0-d array into shape (1,).
    t = x if is_torch_array(x) else torch.from_numpy(np.asarray(x, order="C"))
    return t.to(device=target, dtype=None if dtype is None else getattr(torch, dtype))


def to_numpy(x):
    """A NumPy copy/view of any array (for printing and plotting)."""
    return to_device(x, NUMPY)


def zeros(shape, dtype, device):
    """A zero-filled float array of ``shape`` on ``device``."""
    arr = np.zeros(shape, dtype=resolve_dtype(dtype))
    return arr if device == NUMPY else to_device(arr, device)


# --- CPU threads -----------------------------------------------------------------------------
#
# Why one thread. torch's intra-op pool (OpenMP) and the OpenBLAS that NumPy calls split every
# large enough operation between their threads and then wait for the slowest one, spinning
# first. When another program keeps a core busy, the normal state of a reader's laptop, the
# thread that shares a core with it runs only part of the time, every operation waits for it,
# and the waiting threads' spinning burns the CPU time that thread needs. Linux makes this
# worse for a Jupyter kernel: it runs in its own session, and with autogroup scheduling each
# session gets an equal share, however many threads it has. Measured on the project's 2-core
# machines with one `python -c "while True: pass"` beside it (bench/threads.py, chapter 4.1's
# ConvNet step): two threads made the step about 9 times (NumPy) and 50 times (torch) as slow
# as on the idle machine, one thread 1.1 to 1.3 times; chapter 4.1, then training on torch's
# CPU, took 244 s in a fresh kernel instead of 17 s.
# On the idle machine the second thread saved nothing on NumPy and up to a third of the step
# on torch: the book's models are small.
#
# Mechanism, chosen to surprise as little as possible:
# - Nothing changes at import. Each pool is set once, when nnlib first places a model or an
#   array on it: "numpy" (building a layer, DataLoader(device="numpy"), to_device(x, "numpy"))
#   sets the BLAS pool through threadpoolctl (when installed); torch's "cpu" (model.to("cpu"),
#   to_device(x, "cpu")) sets torch's pool with torch.set_num_threads. A GPU needs neither.
# - Both settings are process-wide, so PyTorch code in the same process runs with the same count
#   (nnlib/PyTorch comparisons stay like for like). A scope around nnlib's own calls would not
#   do: torch's element-wise operations use the same pool, in the optimizers too. With torch set
#   to one thread for forward and backward only, the optimizer step, back at two threads, took
#   0.3–0.7 s instead of about 1 ms while a busy process ran beside it.
# - A count chosen in the environment (OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS)
#   is left alone, and so is one set after nnlib's first placement (torch.set_num_threads,
#   threadpoolctl).
# - Overrides: NNLIB_CPU_THREADS=n in the environment or nnlib.set_cpu_threads(n) in code;
#   NNLIB_CPU_THREADS=0 or set_cpu_threads(None) leaves both pools to the libraries
#   (set_cpu_threads(None) also restores what nnlib had changed).

CPU_THREADS_ENV = "NNLIB_CPU_THREADS"
# Environment variables through which a user already chose a pool's thread count.
_POOL_ENV = {
    "torch": ("OMP_NUM_THREADS", "MKL_NUM_THREADS"),
    "blas": ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"),
}


def _threads_from_env(text):
    """NNLIB_CPU_THREADS: a positive integer, or 0 for "leave the libraries' counts alone"."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise ValueError(f"{CPU_THREADS_ENV} must be a positive number of threads, or 0 to leave torch's and "
                         f"BLAS's own thread counts alone; got {text!r}")
    return n or None


class _CpuThreads:
    """nnlib's thread policy for the CPU pools (module state, see the comment above)."""

    def __init__(self):
        raw = os.environ.get(CPU_THREADS_ENV)
        self.explicit = raw is not None                 # chosen by the user, not nnlib's default
        self.count = 1 if raw is None else _threads_from_env(raw)
        self.claimed = set()                            # pools whose count nnlib has decided on
        self.restore = {}                               # pool -> how to undo nnlib's change


_policy = _CpuThreads()


def cpu_threads():
    """The number of threads nnlib gives torch's CPU pool and NumPy's BLAS (``None``: nnlib
    leaves them alone). See :func:`set_cpu_threads`."""
    return _policy.count


def set_cpu_threads(n):
    """Choose how many threads torch's CPU pool and NumPy's BLAS use (process-wide).

    By default nnlib runs both with **one** thread. With two, on a 2-core machine with one
    other busy program beside it, a training step of chapter 4.1's ConvNet took about 9 (NumPy)
    and 50 (torch) times as long as on the idle machine — each operation waits for the thread
    that shares its core with the other program — while one thread stayed within 1.3 times. On
    the idle machine the second thread saved nothing on NumPy and up to a third of the step on
    torch: the book's models are small. ``bench/threads.py`` measures it.

    The default is applied once per pool, when nnlib first places a model or an array on it (a
    layer built on ``"numpy"``, ``model.to("cpu")``, ``to_device(x, "cpu")``). It leaves alone
    a count chosen in the environment (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS``) and one set later with ``torch.set_num_threads``.
    ``NNLIB_CPU_THREADS=n`` in the environment replaces the default (``0``: leave both alone).

    ``n`` a positive integer: ``n`` threads from now on, for NumPy's BLAS now and for torch now
    if it is imported (otherwise when nnlib first uses torch's CPU). ``n = None``: put back the
    counts nnlib had changed and leave both pools to the libraries. Returns the previous setting.

    The BLAS pool is set through ``threadpoolctl`` (it comes with scikit-learn); without it
    NumPy's BLAS keeps its own count.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_cpu_threads: expected a positive number of threads, or None to leave torch's "
                         f"and BLAS's own thread counts alone; got {n!r}")
    previous = _policy.count
    _policy.count, _policy.explicit = n, True
    if n is None:
        for undo in _policy.restore.values():
            undo()
        _policy.restore.clear()
        _policy.claimed.clear()
        return previous
    pools = set(_policy.claimed) | {"blas"}
    if "torch" in sys.modules:
        pools.add("torch")
    _policy.claimed.clear()
    for pool in sorted(pools):
        _claim_cpu_threads(pool)
    return previous


def _claim_cpu_threads(pool):
    """Give ``pool`` ("torch" or "blas") nnlib's thread count, the first time nnlib uses it."""
    if pool in _policy.claimed:
        return
    _policy.claimed.add(pool)
    n = _policy.count
    if n is None or not _policy.explicit and any(os.environ.get(v) for v in _POOL_ENV[pool]):
        return
    if pool == "torch":
        torch = _torch()
        before = torch.get_num_threads()
        if before != n:
            torch.set_num_threads(n)
        _policy.restore.setdefault("torch", lambda: torch.set_num_threads(before))
        return
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - depends on the environment
        return
    limiter = ThreadpoolController().limit(limits=n, user_api="blas")
    _policy.restore.setdefault("blas", limiter.restore_original_limits)
