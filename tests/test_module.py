"""Module mechanics: state_dict round trips with PyTorch, load_state_dict, to(), train/eval,
gradient accumulation and zero_grad, parameter names, repr."""

import copy
import re

import numpy as np
import pytest
import torch

import nnlib
from nnlib import nn
from nnlib.backend import to_device, to_numpy


def _twins(dtype="float32"):
    """Equivalent nnlib and torch models (random weights of their own), nested like real ones."""
    def build(lib, **kw):
        return lib.Sequential(lib.Flatten(), lib.Linear(6, 5, **kw), lib.ReLU(),
                              lib.Sequential(lib.Linear(5, 4, bias=False, **kw), lib.Tanh()),
                              lib.Dropout(0.1), lib.Linear(4, 3, **kw))
    return build(nn, dtype=dtype), build(torch.nn, dtype=getattr(torch, dtype))


MODELS = {  # every layer with parameters, alone and inside containers
    "Linear": lambda: (nn.Linear(3, 2), torch.nn.Linear(3, 2)),
    "Linear(bias=False)": lambda: (nn.Linear(3, 2, bias=False), torch.nn.Linear(3, 2, bias=False)),
    "nested Sequential": _twins,
}


def _assert_same_state(nnlib_state, torch_state):
    assert list(nnlib_state) == list(torch_state)  # same keys, same order
    for key, value in torch_state.items():
        np.testing.assert_array_equal(to_numpy(nnlib_state[key]), value.detach().cpu().numpy(), err_msg=key)


@pytest.mark.parametrize("kind", list(MODELS))
def test_state_dict_keys_match_pytorch(kind):
    model, twin = MODELS[kind]()
    assert list(model.state_dict()) == list(twin.state_dict())
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in twin.named_parameters()]
    assert [p.shape for p in model.parameters()] == [tuple(p.shape) for p in twin.parameters()]


@pytest.mark.parametrize("convert", [lambda t: t.numpy(), lambda t: t], ids=["from .numpy()", "from tensors"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_torch_state_dict_loads_into_nnlib(kind, convert, device):
    model, twin = MODELS[kind]()
    model.to(device)
    result = model.load_state_dict({k: convert(v) for k, v in twin.state_dict().items()})
    assert result == ([], [])
    _assert_same_state(model.state_dict(), twin.state_dict())
    assert {p.device for p in model.parameters()} == {device}
    assert {p.dtype for p in model.parameters()} == {"float32"}


@pytest.mark.parametrize("kind", list(MODELS))
def test_nnlib_state_dict_loads_into_torch(kind, device):
    model, twin = MODELS[kind]()
    model.to(device)
    twin.load_state_dict({k: torch.as_tensor(to_numpy(v)) for k, v in model.state_dict().items()})
    _assert_same_state(model.state_dict(), twin.state_dict())
    if device != "numpy":  # tensors load into torch as they are
        twin.load_state_dict(model.state_dict())


def test_a_torch_trained_model_computes_the_same_in_nnlib(device):
    model, twin = _twins("float64")
    model.load_state_dict(twin.state_dict())
    model.to(device).eval()
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    np.testing.assert_allclose(to_numpy(model(to_device(x, device))),
                               twin.eval()(torch.as_tensor(x)).detach().numpy(), rtol=1e-12)


def test_load_state_dict_converts_dtype_and_copies():
    model = nn.Linear(3, 2)  # float32
    state = {"weight": np.ones((2, 3)), "bias": torch.zeros(2, dtype=torch.float64)}
    model.load_state_dict(state)
    assert model.weight.dtype == model.bias.dtype == "float32"
    state["weight"][0, 0] = 5.0  # the model holds a copy, not the caller's array
    assert model.weight.data[0, 0] == 1.0


def test_load_state_dict_non_strict_reports_missing_and_unexpected_keys():
    model = nn.Linear(3, 2)
    before = model.weight.data.copy()
    new_bias = np.arange(2.0)
    missing, unexpected = model.load_state_dict({"bias": new_bias, "extra": np.ones(1)}, strict=False)
    assert missing == ["weight"] and unexpected == ["extra"]
    np.testing.assert_array_equal(model.bias.data, new_bias)
    np.testing.assert_array_equal(model.weight.data, before)


def test_state_dict_holds_the_modules_own_arrays():
    model = nn.Linear(2, 2)
    assert model.state_dict()["weight"] is model.weight.data
    snapshot = copy.deepcopy(model.state_dict())
    model.weight.data = model.weight.data * 2
    assert not np.array_equal(snapshot["weight"], model.weight.data)


# --- devices and dtypes ---------------------------------------------------------------------------
def _trained_once(dtype="float64"):
    nnlib.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype=dtype), nn.Tanh(), nn.Linear(4, 2, dtype=dtype))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(dtype)
    model.backward(np.ones_like(model(x)))
    return model, x


def _values(model):
    return {name: (to_numpy(p.data).copy(), to_numpy(p.grad).copy()) for name, p in model.named_parameters()}


def test_to_a_torch_device_and_back_keeps_values_and_gradients(torch_device):
    model, x = _trained_once()
    before, y = _values(model), model(x)
    assert model.to(torch_device) is model
    assert model.device == torch_device
    for p in model.parameters():
        assert nnlib.device_of(p.data) == nnlib.device_of(p.grad) == torch_device
    np.testing.assert_allclose(to_numpy(model(to_device(x, torch_device))), y, rtol=1e-12)  # other GEMM
    model.to("numpy")
    assert model.device == "numpy"
    after = _values(model)
    for name, (data, grad) in before.items():
        np.testing.assert_array_equal(after[name][0], data)
        np.testing.assert_array_equal(after[name][1], grad)


@pytest.mark.parametrize("convert, dtype", [
    (lambda m: m.to(dtype="float32"), "float32"), (lambda m: m.to(dtype=np.float32), "float32"),
    (lambda m: m.float(), "float32"), (lambda m: m.double(), "float64"),
    (lambda m: m.to(dtype=torch.float64), "float64"),
], ids=["to(dtype='float32')", "to(dtype=np.float32)", "float()", "double()", "to(dtype=torch.float64)"])
def test_dtype_conversion_converts_parameters_and_gradients(convert, dtype, device):
    model, _ = _trained_once()
    before = _values(model)
    model.to(device)
    assert convert(model) is model
    assert model.dtype == dtype and model.device == device
    for name, p in model.named_parameters():
        assert nnlib.backend.dtype_name(p.data) == nnlib.backend.dtype_name(p.grad) == dtype
        np.testing.assert_allclose(to_numpy(p.data), before[name][0], rtol=1e-7)
    x = to_device(np.ones((2, 3), dtype=dtype), device)
    assert nnlib.backend.dtype_name(model(x)) == dtype


def test_device_and_dtype_of_a_module_without_parameters_are_none():
    assert nn.ReLU().device is None and nn.ReLU().dtype is None
    assert nn.ReLU().to("numpy").device is None


# --- training state ----------------------------------------------------------------------------------
def test_backward_accumulates_until_zero_grad(device):
    model, x = _trained_once()
    model.to(device)
    x = to_device(x, device)
    once = {n: to_numpy(p.grad).copy() for n, p in model.named_parameters()}
    model.backward(to_device(np.ones((5, 2)), device) + 0 * model(x))
    for name, p in model.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), 2 * once[name], rtol=1e-12)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_set_every_submodule():
    model, _ = _twins()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model and all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_module_tree_traversal():
    model, _ = _twins()
    assert [name for name, _ in model.named_modules()] == ["", "0", "1", "2", "3", "3.0", "3.1", "4", "5"]
    assert [name for name, _ in model.named_children()] == ["0", "1", "2", "3", "4", "5"]
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen[-1] == "Sequential" and seen.index("Tanh") < seen.index("Dropout")
    assert sum(p.numel() for p in model.parameters()) == 6 * 5 + 5 + 5 * 4 + 4 * 3 + 3


def test_assigning_none_or_a_new_module_updates_the_registries():
    layer = nn.Linear(2, 3)
    layer.bias = None
    assert list(layer.state_dict()) == ["weight"]
    model = nn.Sequential(nn.Linear(2, 2))
    model.head = nn.Linear(2, 1)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "head.weight", "head.bias"]
    model.head = "not a module any more"
    assert list(model.state_dict()) == ["0.weight", "0.bias"]


def test_custom_module_registers_its_parameters_and_buffers():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(np.ones(3))
            self.register_buffer("calls", np.zeros((), dtype=np.int64))

        def forward(self, x):
            self.save_for_backward()
            return x * self.gain.data

    m = Scale()
    assert list(m.state_dict()) == ["gain", "calls"]
    m.to("cpu").double()
    # integer buffers keep their dtype
    assert m.gain.device == "cpu" and nnlib.backend.dtype_name(m.calls) == "int64"
    m.load_state_dict({"gain": np.full(3, 2.0), "calls": np.array(7)})
    assert int(m.calls) == 7 and m.gain.dtype == "float64"


def test_repr_matches_pytorch():
    def build(lib):
        return lib.Sequential(lib.Flatten(), lib.Linear(4, 3), lib.LeakyReLU(0.2),
                              lib.Sequential(lib.Linear(3, 2, bias=False), lib.GELU("tanh")),
                              lib.Softmax(dim=1), lib.Identity(), lib.Sigmoid(), lib.Tanh(), lib.ReLU())
    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(nn.Dropout(0.25)) == repr(torch.nn.Dropout(0.25)) == "Dropout(p=0.25, inplace=False)"
    assert "reduction='sum'" in repr(nn.CrossEntropyLoss(reduction="sum"))
    assert repr(nn.Linear(2, 3).weight) == "Parameter(shape=(3, 2), dtype=float32, device='numpy')"


# --- forward hooks ---------------------------------------------------------------------------------------
def test_forward_hooks_run_after_forward_in_registration_order_with_module_args_and_output():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    calls = []
    model[0].register_forward_hook(lambda m, args, out: calls.append(("first", m, args, out)))
    model[1].register_forward_hook(lambda m, args, out: calls.append(("tanh", m, args, out)))
    model[0].register_forward_hook(lambda m, args, out: calls.append(("second", m, args, out)))
    x = np.ones((4, 3), np.float32)
    y = model(x)
    assert [c[0] for c in calls] == ["first", "second", "tanh"]  # Linear's hooks in order, then Tanh's
    _, module, args, out = calls[0]
    assert module is model[0] and len(args) == 1 and args[0] is x
    assert out is calls[2][2][0]  # Linear's output is what Tanh received
    assert calls[2][3] is y


def test_a_removed_forward_hook_is_no_longer_called():
    layer = nn.Identity()
    seen = []
    handle = layer.register_forward_hook(lambda m, args, out: seen.append("removed"))
    layer.register_forward_hook(lambda m, args, out: seen.append("kept"))
    layer(np.ones(2))
    handle.remove()
    handle.remove()  # a second remove() does nothing
    layer(np.ones(2))
    assert seen == ["removed", "kept", "kept"]


def test_a_forward_hook_may_remove_itself_while_hooks_run():
    layer = nn.Identity()
    seen = []

    def once(module, args, output):
        seen.append("once")
        handle.remove()

    handle = layer.register_forward_hook(once)
    layer.register_forward_hook(lambda m, args, out: seen.append("always"))
    layer(np.ones(2))
    layer(np.ones(2))
    assert seen == ["once", "always", "always"]


def test_a_forward_hook_that_returns_a_replacement_output_is_refused():
    """PyTorch would use the returned value as the output; nnlib's hand-written backward could not
    differentiate it, so a hook that returns anything but None is an error, not a silent swap."""
    layer = nn.Tanh()
    layer.register_forward_hook(lambda m, args, out: out * 2)
    with pytest.raises(TypeError, match=r"forward hook of Tanh returned a value; .*\(return None\)"):
        layer(np.ones(2))


def test_register_forward_hook_needs_a_callable():
    with pytest.raises(TypeError, match="hook must be callable.*got str"):
        nn.Identity().register_forward_hook("print")


# --- one device and dtype check over parameters and buffers -------------------------------------------------
def test_every_parameter_is_checked_not_only_the_first():
    layer = nn.Linear(3, 2)
    layer.bias.data = layer.bias.data.astype(np.float64)
    with pytest.raises(nnlib.errors.DTypeError, match=re.escape(
            "Linear: input has dtype float32, expected float64 (the dtype of the module's parameter 'bias'); "
            "convert the input, or the model with model.to(dtype='float32')")):
        layer(np.ones((1, 3), np.float32))


class _Counter(nn.Module):
    """A float parameter and an integer buffer, as BatchNorm2d's num_batches_tracked."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(2, np.float32))
        self.register_buffer("count", np.array(0, np.int64))


def test_integer_arrays_and_integer_buffers_are_checked_for_the_device_only(torch_device):
    module = _Counter()
    assert module.check_device_and_dtype(np.ones(2, np.float32)) is not None  # int64 buffer: no dtype clash
    ids = np.array([1, 2])
    assert module.check_device_and_dtype(ids, "ids") is ids
    with pytest.raises(nnlib.errors.DeviceError, match=re.escape(
            f"_Counter: ids has device '{torch_device}', expected 'numpy' "
            f"(the device of the module's parameter 'scale'); "
            f"move one of them: nnlib.to_device(ids, 'numpy') or model.to('{torch_device}')")):
        module.check_device_and_dtype(to_device(ids, torch_device), "ids")


def test_a_module_without_state_checks_against_the_arrays_it_is_given(torch_device):
    loss = nn.MSELoss()
    pred = np.ones(2, np.float32)
    with pytest.raises(nnlib.errors.DTypeError, match=re.escape(
            "MSELoss: target has dtype float64, expected float32 (the dtype of the prediction); "
            "convert the target to float32")):
        loss(pred, np.ones(2))
    with pytest.raises(nnlib.errors.DeviceError, match=re.escape(
            f"CrossEntropyLoss: target has device '{torch_device}', expected 'numpy' "
            f"(the device of the logits); move the target with nnlib.to_device(target, 'numpy')")):
        nn.CrossEntropyLoss()(np.zeros((2, 3), np.float32), to_device(np.array([0, 1]), torch_device))
