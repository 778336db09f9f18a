"""The layer and loss cases that test_layers.py and test_losses.py check, and the two checks.

A *case* is one nnlib module with its torch.nn twin, an input shape, and (for losses) the
criterion and a target. Hypothesis draws the sizes; the checks are

- ``check_gradcheck``: nnlib's backward against central differences (float64);
- ``check_parity``: nnlib against torch.autograd on the same weights and inputs — the output
  (or loss) and every gradient, inputs and parameters.
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy

# The suite must stay fast on 2 cores: small shapes, few examples. The only function-scoped
# fixtures used with @given are pure parameters (device, dtype), safe to share across examples.
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# Parity with torch.autograd: max |ours − torch| ≤ tol · max(max |torch|, 1) per array — relative
# error for arrays of size ≥ 1, absolute below it, where a sum that cancels (e.g. a bias
# gradient Σ_n δ_n over two nearly opposite δ_n) has an honest round-off far above tol·|sum|.
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def assert_close(ours, theirs, dtype, what):
    """``ours`` and ``theirs``: ``{name: array}`` with the same names (compared name by name)."""
    assert set(ours) == set(theirs), f"{what}: names differ: {sorted(ours)} vs {sorted(theirs)}"
    for name in theirs:
        a, b = np.asarray(ours[name], np.float64), np.asarray(theirs[name], np.float64)
        assert a.shape == b.shape, f"{what}, {name}: shape {a.shape}, torch has {b.shape}"
        error, scale = np.max(np.abs(a - b), initial=0.0), max(np.max(np.abs(b), initial=0.0), 1.0)
        assert error <= TOLERANCE[dtype] * scale, (
            f"{what}, {name}: max abs diff {error:.3g} exceeds {TOLERANCE[dtype]:g} × {scale:.3g}\n"
            f"{gc.compare({'torch.autograd': theirs, 'nnlib': ours})}")

dims = st.integers(1, 3)
seeds = st.integers(0, 2**16)


def shapes(min_rank=1, max_rank=3):
    return st.lists(dims, min_size=min_rank, max_size=max_rank).map(tuple)


def torch_device_of(device):
    return "cpu" if device == "numpy" else device


@dataclass
class Case:
    label: str
    make: Callable[[str], nn.Module]                 # dtype name → nnlib module
    make_torch: Callable[[torch.dtype], torch.nn.Module]
    shape: tuple
    kink: bool = False                               # not differentiable at 0: keep inputs off it
    loss: Optional[tuple] = None                     # (nnlib criterion, torch criterion, target(rng))

    def input(self, seed, dtype):
        x = np.random.default_rng(seed).standard_normal(self.shape)
        if self.kink:
            x = np.sign(x) * (np.abs(x) + 0.1)
        return x.astype(dtype)

    def target(self, seed):
        return None if self.loss is None else self.loss[2](np.random.default_rng(seed + 1))

    def nnlib_loss(self, seed, dtype, device):
        if self.loss is None:
            return None
        target = self.target(seed)
        target = target.astype(dtype) if target.dtype.kind == "f" else target
        return self.loss[0](), to_device(target, device)

    def torch_loss(self, seed, dtype):
        if self.loss is None:
            return None
        target = torch.as_tensor(self.target(seed))
        return self.loss[1](), target.to(getattr(torch, dtype)) if target.is_floating_point() else target


# --- the cases -------------------------------------------------------------------------------------
@st.composite
def linear(draw):
    fin, fout, bias = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.booleans())
    lead = tuple(draw(st.lists(dims, max_size=2)))  # () gives a 1-D input
    return Case(f"Linear({fin}, {fout}, bias={bias}) on {(*lead, fin)}",
                lambda dt: nn.Linear(fin, fout, bias=bias, dtype=dt),
                lambda dt: torch.nn.Linear(fin, fout, bias=bias, dtype=dt), (*lead, fin))


def elementwise(make, make_torch, kink=False):
    """A parameter-free layer applied to an input of any shape."""
    return shapes(1, 3).map(lambda shape: Case(f"{make()} on {shape}", lambda dt: make(),
                                               lambda dt: make_torch(), shape, kink=kink))


@st.composite
def flatten(draw):
    shape = draw(shapes(1, 4))
    rank = len(shape)
    start = draw(st.integers(-rank, rank - 1))
    end = draw(st.integers(start % rank - rank, -1) | st.integers(start % rank, rank - 1))
    return Case(f"Flatten({start}, {end}) on {shape}", lambda dt: nn.Flatten(start, end),
                lambda dt: torch.nn.Flatten(start, end), shape)


@st.composite
def softmax(draw):
    shape = draw(shapes(1, 3))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return Case(f"Softmax({dim}) on {shape}", lambda dt: nn.Softmax(dim), lambda dt: torch.nn.Softmax(dim),
                shape)


@st.composite
def log_softmax(draw):
    shape = draw(shapes(1, 3))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return Case(f"LogSoftmax({dim}) on {shape}", lambda dt: nn.LogSoftmax(dim),
                lambda dt: torch.nn.LogSoftmax(dim), shape)


@st.composite
def dropout(draw, train):
    p = draw(st.sampled_from([0.0, 0.2, 0.5, 0.9]))
    shape = draw(shapes(1, 3))
    mode = (lambda m: m.train()) if train else (lambda m: m.eval())
    return Case(f"Dropout({p}) {'train' if train else 'eval'} on {shape}",
                lambda dt: mode(nn.Dropout(p)), lambda dt: mode(torch.nn.Dropout(p)), shape)


@st.composite
def mlp(draw):
    """Flatten → Linear → Tanh → Linear → GELU: the chain rule through several layers."""
    shape = draw(shapes(2, 3))
    fin, hidden, fout = int(np.prod(shape[1:])), draw(st.integers(1, 4)), draw(st.integers(1, 3))

    def make(dt):
        return nn.Sequential(nn.Flatten(), nn.Linear(fin, hidden, dtype=dt), nn.Tanh(),
                             nn.Linear(hidden, fout, dtype=dt), nn.GELU())

    def make_torch(dt):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(fin, hidden, dtype=dt),
                                   torch.nn.Tanh(), torch.nn.Linear(hidden, fout, dtype=dt), torch.nn.GELU())

    return Case(f"MLP {shape} → {hidden} → {fout}", make, make_torch, shape)


reductions = st.sampled_from(["mean", "sum"])


@st.composite
def mse_loss(draw):
    shape, reduction = draw(shapes(1, 3)), draw(reductions)
    loss = (lambda: nn.MSELoss(reduction=reduction), lambda: torch.nn.MSELoss(reduction=reduction),
            lambda rng: rng.standard_normal(shape))
    return Case(f"MSELoss({reduction!r}) on {shape}", lambda dt: nn.Identity(),
                lambda dt: torch.nn.Identity(), shape, loss=loss)


def _cross_entropy(n, c, reduction):
    return (lambda: nn.CrossEntropyLoss(reduction=reduction),
            lambda: torch.nn.CrossEntropyLoss(reduction=reduction),
            lambda rng: rng.integers(0, c, size=n))


@st.composite
def cross_entropy_loss(draw):
    n, c, reduction = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(reductions)
    return Case(f"CrossEntropyLoss({reduction!r}) on ({n}, {c})", lambda dt: nn.Identity(),
                lambda dt: torch.nn.Identity(), (n, c), loss=_cross_entropy(n, c, reduction))


@st.composite
def classifier(draw):
    """Linear → Sigmoid → Linear, trained with CrossEntropyLoss: loss gradients reach parameters."""
    n, fin, c = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(2, 4))
    reduction = draw(reductions)
    return Case(f"classifier ({n}, {fin}) → {c} classes, {reduction}",
                lambda dt: nn.Sequential(nn.Linear(fin, 3, dtype=dt), nn.Sigmoid(),
                                         nn.Linear(3, c, dtype=dt)),
                lambda dt: torch.nn.Sequential(torch.nn.Linear(fin, 3, dtype=dt), torch.nn.Sigmoid(),
                                               torch.nn.Linear(3, c, dtype=dt)),
                (n, fin), loss=_cross_entropy(n, c, reduction))


LAYER_CASES = {
    "Linear": linear(),
    "Identity": elementwise(nn.Identity, torch.nn.Identity),
    "Flatten": flatten(),
    "Sigmoid": elementwise(nn.Sigmoid, torch.nn.Sigmoid),
    "Tanh": elementwise(nn.Tanh, torch.nn.Tanh),
    "ReLU": elementwise(nn.ReLU, torch.nn.ReLU, kink=True),
    "LeakyReLU": elementwise(lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2), kink=True),
    "LeakyReLU(negative slope)": elementwise(lambda: nn.LeakyReLU(-0.3), lambda: torch.nn.LeakyReLU(-0.3),
                                             kink=True),
    "GELU(none)": elementwise(nn.GELU, torch.nn.GELU),
    "GELU(tanh)": elementwise(lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh")),
    "Softmax": softmax(),
    "LogSoftmax": log_softmax(),
    "Dropout(eval)": dropout(train=False),
    "Dropout(train)": dropout(train=True),  # no torch twin: its mask comes from torch's generator
    "Sequential": mlp(),
}
NO_TORCH_TWIN = {"Dropout(train)"}
LOSS_CASES = {
    "MSELoss": mse_loss(),
    "CrossEntropyLoss": cross_entropy_loss(),
    "Sequential+CrossEntropyLoss": classifier(),
}


# --- the checks ------------------------------------------------------------------------------------
def check_gradcheck(case, device, seed):
    """nnlib's backward agrees with central differences in float64 (gradcheck raises otherwise)."""
    nnlib.manual_seed(seed)
    model = case.make("float64").to(device)
    x = to_device(case.input(seed, "float64"), device)
    table = gc.gradcheck(model, x, loss=case.nnlib_loss(seed, "float64", device), seed=seed)
    assert table.passed and table.rows, f"{case.label}\n{table}"


def paired_modules(case, dtype, device, seed=0):
    """The nnlib module on ``device`` and its torch twin holding the same weights."""
    nnlib.manual_seed(seed)
    model = case.make(dtype)
    reference = case.make_torch(getattr(torch, dtype))
    reference.load_state_dict({k: torch.as_tensor(v) for k, v in model.state_dict().items()})
    return model.to(device), reference.to(torch_device_of(device))


def check_parity(case, dtype, device, seed):
    """Output (or loss) and every gradient equal torch.autograd's within ``TOLERANCE[dtype]``."""
    model, reference = paired_modules(case, dtype, device, seed)
    x = case.input(seed, dtype)
    x_dev = to_device(x, device)
    loss, torch_loss = case.nnlib_loss(seed, dtype, device), case.torch_loss(seed, dtype)

    out = model(x_dev)
    ref = reference(torch.as_tensor(x, device=torch_device_of(device)))
    assert device_of(out) == device and dtype_name(out) == dtype, case.label
    if loss is not None:
        out = loss[0](out, loss[1])
        ref = torch_loss[0](ref, torch_loss[1].to(ref.device))
        assert tuple(out.shape) == () and dtype_name(out) == dtype, case.label
    assert_close({"output": to_numpy(out)}, {"output": ref.detach().cpu().numpy()}, dtype, case.label)

    ours = gc.analytic_gradients(model, x_dev, loss=loss, seed=seed)
    theirs = gc.autograd_gradients(reference, x, loss=torch_loss, seed=seed)
    assert set(theirs) == {"input"} | {k for k, _ in reference.named_parameters()}, case.label
    for name, g in ours.items():
        assert g.dtype == np.dtype(dtype), f"{case.label}, {name}: gradient is {g.dtype}, not {dtype}"
    assert_close(ours, theirs, dtype, case.label)
