"""Every bad input raises the documented error, and its message names what was expected and
what came in (the fragments listed with each case)."""

import re

import numpy as np
import pytest

import nnlib
from nnlib import nn
from nnlib.diagnostics import DivergenceGuard
from nnlib.errors import (BackwardError, DeviceError, DivergenceError, DTypeError, ShapeError, StateDictError,
                          UnsupportedError)

f32, f64 = np.float32, np.float64


def ones(*shape, dtype=f32):
    return np.ones(shape, dtype=dtype)


def on_cpu(array):
    return nnlib.to_device(array, "cpu")


def linear():
    return nn.Linear(3, 2)


def call(module, *inputs):
    return lambda: module()(*inputs)


def backward_without_forward(module, *grad):
    return lambda: module().backward(*grad)


def backward_twice(module, *inputs):
    def run():
        m = module()
        out = m(*inputs)
        m.backward(np.ones_like(out)) if out.ndim else m.backward()
        m.backward(np.ones_like(out)) if out.ndim else m.backward()
    return run


def backward_with(module, inputs, grad):
    def run():
        m = module()
        m(*inputs)
        m.backward(grad)
    return run


def load(state):
    return lambda: linear().load_state_dict(state)


def good_state():
    return {"weight": np.zeros((2, 3)), "bias": np.zeros(2)}


class ForgetsSuperInit(nn.Module):
    def __init__(self):
        self.weight = nn.Parameter(np.ones(2))


class StatelessForgetsSuperInit(nn.Module):
    def __init__(self):
        pass

    def forward(self, x):
        self.save_for_backward()
        return 2 * x


CE = nn.CrossEntropyLoss
LOGITS = ones(4, 3)

CASES = [
    # --- layer inputs: rank, shape, type, dtype, device, empty batch
    pytest.param(call(linear, ones(4, 5)), ShapeError, ["Linear", "(*, 3)", "(4, 5)"], id="Linear-last-dim"),
    pytest.param(call(linear, ones(2, 4, 5)), ShapeError, ["(*, 3)", "(2, 4, 5)"], id="Linear-last-dim-3d"),
    pytest.param(call(linear, np.array(1.0, f32)), ShapeError, ["(*, 3)", "()"], id="Linear-0d"),
    pytest.param(call(linear, [[1.0, 2.0, 3.0]]), DTypeError, ["NumPy array or torch tensor", "list"],
                 id="Linear-list"),
    pytest.param(call(nn.ReLU, 3.0), DTypeError, ["NumPy array or torch tensor", "float"],
                 id="ReLU-python-float"),
    pytest.param(call(linear, ones(2, 3, dtype=np.int64)), DTypeError, ["float32 or float64", "int64"],
                 id="Linear-int"),
    pytest.param(call(nn.Tanh, ones(2, dtype=np.int32)), DTypeError, ["float32 or float64", "int32"],
                 id="Tanh-int"),
    pytest.param(call(lambda: nn.Linear(3, 2, dtype="float64"), ones(2, 3)), DTypeError,
                 ["float32", "float64", "model.to(dtype='float32')"], id="dtype-mix"),
    pytest.param(call(lambda: linear().to("cpu"), ones(2, 3)), DeviceError, ["'numpy'", "'cpu'"],
                 id="numpy-into-torch"),
    pytest.param(call(linear, on_cpu(ones(2, 3))), DeviceError, ["'cpu'", "'numpy'"], id="torch-into-numpy"),
    pytest.param(call(linear, ones(0, 3)), ShapeError, ["empty", "(0, 3)"], id="Linear-empty"),
    pytest.param(call(nn.Sigmoid, ones(2, 0)), ShapeError, ["empty", "(2, 0)"], id="Sigmoid-empty"),
    pytest.param(call(nn.Flatten, ones(3)), ShapeError, ["start_dim=1", "(3,)", "[-1, 0]"],
                 id="Flatten-rank"),
    pytest.param(call(lambda: nn.Flatten(0, 3), ones(2, 3)), ShapeError, ["end_dim=3", "(2, 3)"],
                 id="Flatten-end"),
    pytest.param(call(lambda: nn.Flatten(-3), ones(2, 3)), ShapeError, ["start_dim=-3", "[-2, 1]"],
                 id="Flatten-neg"),
    pytest.param(call(lambda: nn.Flatten(2, 1), ones(2, 3, 4)), ShapeError, ["start_dim", "end_dim"],
                 id="Flatten-order"),
    pytest.param(call(lambda: nn.Softmax(2), ones(2, 3)), ShapeError, ["dim=2", "(2, 3)", "[-2, 1]"],
                 id="Softmax-dim"),
    pytest.param(call(lambda: nn.LogSoftmax(-3), ones(2, 3)), ShapeError, ["dim=-3", "(2, 3)", "[-2, 1]"],
                 id="LogSoftmax-dim"),
    # --- CrossEntropyLoss
    pytest.param(call(CE, LOGITS, np.array([0, 1, 2, 3])), ValueError, ["[0, 2]", "3 classes", "[0, 3]"],
                 id="CE-too-big"),
    pytest.param(call(CE, LOGITS, np.array([0, -1, 2, 1])), ValueError, ["[0, 2]", "[-1, 2]"],
                 id="CE-negative"),
    pytest.param(call(CE, LOGITS, np.array([0.0, 1.0, 2.0, 1.0])), DTypeError, ["integer", "float64"],
                 id="CE-float"),
    pytest.param(call(CE, LOGITS, np.array([[0], [1], [2], [1]])), ShapeError, ["(4,)", "(4, 1)"],
                 id="CE-target-2d"),
    pytest.param(call(CE, LOGITS, np.array([0, 1])), ShapeError, ["(4,)", "(2,)"], id="CE-target-short"),
    pytest.param(call(CE, LOGITS, [0, 1, 2, 1]), DTypeError, ["integer array", "list"], id="CE-target-list"),
    pytest.param(call(CE, ones(3), np.array([0])), ShapeError, ["shape ()", "(3,)", "(1,)"],
                 id="CE-logits-1d"),
    pytest.param(call(CE, ones(2, 3, 4), np.array([0, 1])), ShapeError, ["(2, 4)", "(2, 3, 4)", "(2,)"],
                 id="CE-logits-3d"),
    pytest.param(call(CE, ones(0, 3), np.array([], dtype=np.int64)), ShapeError, ["empty", "(0, 3)"],
                 id="CE-empty"),
    pytest.param(call(CE, on_cpu(LOGITS), np.array([0, 1, 2, 1])), DeviceError, ["'cpu'", "'numpy'"],
                 id="CE-device"),
    # --- MSELoss
    pytest.param(call(nn.MSELoss, ones(4, 1), ones(4)), ShapeError, ["(4, 1)", "(4,)", "same shape"],
                 id="MSE-N1-vs-N"),
    pytest.param(call(nn.MSELoss, ones(4, 2), ones(2, 4)), ShapeError, ["(4, 2)", "(2, 4)"], id="MSE-shape"),
    pytest.param(call(nn.MSELoss, ones(2), ones(2, dtype=f64)), DTypeError, ["float32", "float64"],
                 id="MSE-dtype"),
    pytest.param(call(nn.MSELoss, ones(2), ones(2, dtype=np.int64)), DTypeError, ["target", "int64"],
                 id="MSE-int-target"),
    pytest.param(call(nn.MSELoss, on_cpu(ones(2)), ones(2)), DeviceError, ["'cpu'", "'numpy'"],
                 id="MSE-device"),
    pytest.param(call(nn.MSELoss, ones(0, 2), ones(0, 2)), ShapeError, ["empty", "(0, 2)"], id="MSE-empty"),
    # --- backward before forward, twice, or with the wrong gradient
    *[pytest.param(backward_without_forward(m, *grad), BackwardError, [name, "without a forward pass"],
                   id=f"{name}-backward-first")
      for name, m, grad in [("Linear", linear, [ones(4, 2)]), ("Sigmoid", nn.Sigmoid, [ones(4)]),
                            ("Identity", nn.Identity, [ones(4)]), ("Dropout", nn.Dropout, [ones(4)]),
                            ("MSELoss", nn.MSELoss, []), ("CrossEntropyLoss", nn.CrossEntropyLoss, [])]],
    pytest.param(backward_without_forward(lambda: nn.Sequential(nn.Linear(3, 2), nn.ReLU()), ones(4, 2)),
                 BackwardError, ["ReLU", "without a forward pass"], id="Sequential-backward-first"),
    pytest.param(backward_twice(linear, ones(4, 3)), BackwardError, ["one backward pass"],
                 id="Linear-backward-twice"),
    pytest.param(backward_twice(nn.Tanh, ones(4, 3)), BackwardError, ["Tanh"], id="Tanh-backward-twice"),
    pytest.param(backward_twice(nn.MSELoss, ones(2), ones(2)), BackwardError, ["MSELoss"],
                 id="MSE-backward-twice"),
    pytest.param(backward_twice(CE, LOGITS, np.array([0, 1, 2, 1])), BackwardError, ["CrossEntropyLoss"],
                 id="CE-backward-twice"),
    pytest.param(backward_with(linear, [ones(4, 3)], ones(4, 3)), ShapeError, ["(4, 2)", "(4, 3)"],
                 id="Linear-grad-shape"),
    pytest.param(backward_with(nn.ReLU, [ones(4, 3)], ones(3, 4)), ShapeError, ["(4, 3)", "(3, 4)"],
                 id="ReLU-grad-shape"),
    pytest.param(backward_with(nn.Flatten, [ones(2, 3, 4)], ones(2, 3, 4)), ShapeError,
                 ["(2, 12)", "(2, 3, 4)"], id="Flatten-grad-shape"),
    pytest.param(backward_with(nn.MSELoss, [ones(2), ones(2)], ones(2)), ShapeError, ["scalar", "(2,)"],
                 id="MSE-grad-not-scalar"),
    pytest.param(backward_with(nn.MSELoss, [ones(2), ones(2)], "1"), DTypeError, ["number", "str"],
                 id="MSE-grad-str"),
    # --- load_state_dict
    pytest.param(load({"weight": np.zeros((2, 3))}), StateDictError, ["missing keys ['bias']"],
                 id="state-missing"),
    pytest.param(load({**good_state(), "extra": np.zeros(1)}), StateDictError, ["unexpected keys ['extra']"],
                 id="state-unexpected"),
    pytest.param(load({"weight": np.zeros((3, 2)), "bias": np.zeros(2)}), StateDictError,
                 ["weight", "(3, 2)", "(2, 3)"], id="state-shape"),
    pytest.param(load({"weight": np.zeros((2, 3)), "bias": [0.0, 0.0]}), StateDictError, ["bias", "list"],
                 id="state-list"),
    pytest.param(load({"weight": np.zeros((2, 3), dtype=np.int64), "bias": np.zeros(2)}), StateDictError,
                 ["dtype mismatch", "weight", "int64", "float32"], id="state-int"),
    # --- constructor arguments
    *[pytest.param(lambda v=v: nn.Linear(v, 2), ValueError, ["in_features", "positive integer", repr(v)],
                   id=f"Linear-in={v!r}") for v in (0, -3, 2.5, True, "3", None)],
    pytest.param(lambda: nn.Linear(2, 0), ValueError, ["out_features", "positive integer", "0"],
                 id="Linear-out=0"),
    *[pytest.param(lambda p=p: nn.Dropout(p), ValueError, ["p must be a probability in [0, 1]", repr(p)],
                   id=f"Dropout-p={p!r}") for p in (-0.1, 1.5, True, "0.5", None)],
    pytest.param(lambda: nn.LeakyReLU(0.1, inplace=True), UnsupportedError,
                 ["LeakyReLU", "inplace=True", "inplace=False"], id="LeakyReLU-inplace"),
    pytest.param(lambda: nn.LeakyReLU("0.1"), ValueError, ["negative_slope", "'0.1'"], id="LeakyReLU-str"),
    pytest.param(lambda: nn.GELU("foo"), ValueError, ["'none' or 'tanh'", "'foo'"], id="GELU-foo"),
    pytest.param(lambda: nn.Softmax(), UnsupportedError, ["dim=None", "Softmax(dim=-1)"],
                 id="Softmax-no-dim"),
    *[pytest.param(lambda d=d: nn.Softmax(d), ValueError, ["dim must be an integer", repr(d)],
                   id=f"Softmax-dim={d!r}") for d in (1.0, True, "1")],
    pytest.param(lambda: nn.LogSoftmax(), UnsupportedError, ["LogSoftmax", "dim=None", "LogSoftmax(dim=-1)"],
                 id="LogSoftmax-no-dim"),
    *[pytest.param(lambda d=d: nn.LogSoftmax(d), ValueError,
                   ["LogSoftmax", "dim must be an integer", repr(d)],
                   id=f"LogSoftmax-dim={d!r}") for d in (1.0, True, "1")],
    pytest.param(lambda: nn.Flatten(1.5), ValueError, ["integers", "1.5"], id="Flatten-float"),
    *[pytest.param(lambda c=c: c(reduction="avg"), ValueError, [c.__name__, "'mean'", "'sum'", "'avg'"],
                   id=f"{c.__name__}-reduction") for c in (nn.MSELoss, nn.CrossEntropyLoss)],
    pytest.param(lambda: nn.Sequential(nn.ReLU(), 3), TypeError, ["argument 1", "Module", "int"],
                 id="Sequential-int"),
    pytest.param(call(nn.Sequential, ones(2)), ValueError, ["no layers"], id="Sequential-empty"),
    pytest.param(lambda: nn.Linear(2, 3, dtype="int32"), DTypeError, ["'int32'", "float32", "float64"],
                 id="dtype-int32"),
    pytest.param(lambda: linear().to(dtype="float16"), DTypeError, ["'float16'", "float64"], id="to-float16"),
    pytest.param(lambda: nn.Parameter([1.0, 2.0]), DTypeError, ["Parameter", "list"], id="Parameter-list"),
    pytest.param(lambda: nn.Parameter(np.ones(2)).accumulate_grad(np.ones(3)), ShapeError, ["(3,)", "(2,)"],
                 id="Parameter-grad-shape"),
    pytest.param(ForgetsSuperInit, AttributeError, ["super().__init__()", "ForgetsSuperInit"],
                 id="no-super-init"),
    *[pytest.param(lambda use=use: use(StatelessForgetsSuperInit()), AttributeError,
                   ["super().__init__()", "StatelessForgetsSuperInit"], id=f"no-super-init-{name}")
      for name, use in [("call", lambda m: m(ones(2))), ("parameters", lambda m: list(m.parameters())),
                        ("state_dict", lambda m: m.state_dict()), ("eval", lambda m: m.eval())]],
    pytest.param(lambda: nnlib.manual_seed(-1), ValueError, ["non-negative integer", "-1"],
                 id="seed-negative"),
    pytest.param(lambda: nnlib.manual_seed(1.5), ValueError, ["non-negative integer", "1.5"],
                 id="seed-float"),
    pytest.param(lambda: DivergenceGuard(linear(), every=0), ValueError, ["every", "positive integer", "0"],
                 id="guard-every"),
    # --- devices
    pytest.param(lambda: nn.Linear(2, 3, device="gpu"), DeviceError, ["unknown device 'gpu'", "'cuda'"],
                 id="device-gpu"),
    pytest.param(lambda: linear().to("tpu"), DeviceError, ["unknown device 'tpu'", "'numpy'"], id="to-tpu"),
    pytest.param(lambda: nnlib.to_device(ones(2), "cuda:x"), DeviceError, ["'cuda:x'"], id="to_device-bad"),
    pytest.param(lambda: nnlib.to_device([1.0], "numpy"), DTypeError, ["list"], id="to_device-list"),
    pytest.param(lambda: nnlib.device_of([1.0]), DTypeError, ["NumPy array or a torch tensor", "list"],
                 id="device_of-list"),
]


@pytest.mark.parametrize("action, error, fragments", CASES)
def test_bad_input_raises_the_documented_error(action, error, fragments):
    with pytest.raises(error) as info:
        action()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message {message!r} lacks {missing}"


@pytest.mark.parametrize("kind, absent", [("cuda", "CUDA is not available"), ("mps", "MPS is not available")])
@pytest.mark.parametrize("make", [lambda d: nn.Linear(2, 3, device=d), lambda d: nn.Linear(2, 3).to(d),
                                  lambda d: nnlib.to_device(np.ones(2), d)],
                         ids=["Linear", "to", "to_device"])
def test_absent_accelerator_raises_device_error(kind, absent, make):
    if any(d.startswith(kind) for d in nnlib.available_devices()):
        pytest.skip(f"{kind} is present on this machine")
    with pytest.raises(DeviceError, match=re.escape(f"'{kind}'") + ".*" + absent):
        make(kind)


def test_cuda_index_beyond_the_device_count_raises_device_error():
    if "cuda:0" not in nnlib.available_devices():
        pytest.skip("no CUDA device on this machine")
    count = sum(d.startswith("cuda") for d in nnlib.available_devices())
    with pytest.raises(DeviceError, match=f"only {count} CUDA device"):
        nnlib.to_device(np.ones(2), f"cuda:{count}")


BAD_STATES = {
    "missing": {"weight": np.full((2, 3), 7.0)},
    "unexpected": {"weight": np.full((2, 3), 7.0), "bias": np.full(2, 7.0), "extra": np.zeros(1)},
    "wrong shape last": {"weight": np.full((2, 3), 7.0), "bias": np.full(3, 7.0)},
    "wrong dtype last": {"weight": np.full((2, 3), 7.0), "bias": np.full(2, 7)},
    "not an array last": {"weight": np.full((2, 3), 7.0), "bias": [7.0, 7.0]},
}


@pytest.mark.parametrize("kind", list(BAD_STATES))
def test_failed_load_state_dict_leaves_the_model_unchanged(kind, device):
    model = nn.Sequential(nn.Linear(3, 2)).to(device)
    inner = {k[2:]: v for k, v in BAD_STATES[kind].items()}  # keys of the inner Linear
    before = {k: nnlib.to_numpy(v).copy() for k, v in model.state_dict().items()}
    with pytest.raises(StateDictError):
        model[0].load_state_dict({k: v for k, v in BAD_STATES[kind].items()})
    with pytest.raises(StateDictError):
        model.load_state_dict({f"0.{k}": v for k, v in BAD_STATES[kind].items()} | inner)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(nnlib.to_numpy(value), before[key])
        assert nnlib.device_of(value) == device


@pytest.mark.parametrize("error, builtin", [
    (ShapeError, ValueError), (DTypeError, TypeError), (DeviceError, ValueError),
    (StateDictError, ValueError), (BackwardError, RuntimeError), (DivergenceError, FloatingPointError),
])
def test_errors_subclass_the_builtin_a_python_user_expects(error, builtin):
    assert issubclass(error, builtin)
    with pytest.raises(builtin):
        raise error("message")


def test_forward_called_directly_gets_a_clear_error():
    from nnlib.errors import BackwardError

    layer = nn.Linear(3, 2, dtype="float64")
    y = layer.forward(np.ones((4, 3)))
    with pytest.raises(BackwardError, match=r"call the module, y = m\(x\)"):
        layer.backward(np.ones_like(y))
