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
"""

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


def device_of(x):
    """The nnlib device string of an array: ``"numpy"``, ``"cpu"``, ``"cuda:0"`` …"""
    if isinstance(x, (np.ndarray, np.generic)):
        return NUMPY
    if is_torch_array(x):
        dev = x.device
        return dev.type if dev.index is None else f"{dev.type}:{dev.index}"
    raise DTypeError(f"expected a NumPy array or a torch tensor, got {type(x).__name__}")


def dtype_name(x):
    """The dtype of an array as a plain string, e.g. ``"float32"``, on either backend."""
    if is_torch_array(x):
        return str(x.dtype).removeprefix("torch.")
    return np.asarray(x).dtype.name


def normalize_device(device):
    """Canonical device string: ``"numpy"`` stays, ``"cuda"`` becomes ``"cuda:0"`` …

    Accepts strings and ``torch.device`` objects. Raises ``DeviceError`` for a device this
    machine does not have.
    """
    if device is None or device == NUMPY:
        return NUMPY
    torch = _torch()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"unknown device {device!r}; expected 'numpy', 'cpu', 'cuda' or 'mps'") from exc
    if dev.type == "cpu":
        return "cpu"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} requested, but CUDA is not available on this machine")
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} requested, but only {torch.cuda.device_count()} CUDA device(s) exist")
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
    devices = {device_of(a) for a in arrays if a is not None}
    if len(devices) > 1:
        raise DeviceError(f"arrays are on different devices: {sorted(devices)}; move them to one with nnlib.to_device")
    return array_api_compat.array_namespace(*[a for a in arrays if a is not None])


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
