"""nnlib.optim against torch.optim: the same signatures and options; from the same start with the
same gradient sequence, the same parameters and state after 200 steps (float64); state_dict."""

import copy
import inspect
import math
import warnings

import numpy as np
import pytest

import nnlib
from nnlib import nn, optim
from nnlib.errors import StateDictError, UnsupportedError
from nnlib.nn import Parameter

torch = pytest.importorskip("torch")

STEPS = 200
SHAPES = [(3, 4), (5,)]

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.001, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(momentum=0.9)),
    ("RMSprop", dict(centered=True)),
    ("RMSprop", dict(centered=True, momentum=0.5, weight_decay=0.01)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    # maximize (the update uses −g, negated before weight decay), with and without weight decay
    ("SGD", dict(lr=0.05, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(maximize=True)),
    ("RMSprop", dict(weight_decay=0.1, centered=True, momentum=0.1, maximize=True)),
    ("Adam", dict(weight_decay=0.1, maximize=True)),
    ("Adam", dict(weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    # Adam's decoupled weight decay is AdamW's
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    # the implementation switches at the values that select nnlib's one implementation
    ("SGD", dict(lr=0.1, momentum=0.9, foreach=False, fused=False, differentiable=False)),
    ("Adagrad", dict(foreach=False, fused=False)),
    ("RMSprop", dict(foreach=False, capturable=False)),
    ("Adam", dict(foreach=False, fused=False, capturable=False, differentiable=False)),
    ("AdamW", dict(foreach=False, fused=False, capturable=False)),
    ("Adam", dict(eps=0.0)),  # PyTorch allows eps = 0
]


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def run_both(name, kwargs, device="numpy", steps=STEPS, shapes=SHAPES):
    rng = np.random.default_rng(0)
    starts = [rng.standard_normal(s) for s in shapes]
    ours = [Parameter(nnlib.to_device(a.copy(), device)) for a in starts]
    theirs = [torch.nn.Parameter(torch.tensor(a)) for a in starts]
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(steps):
        # Gradients that depend on the current parameters (like a real loss) plus noise.
        for p, q in zip(ours, theirs):
            g = 2 * q.detach().numpy() + rng.standard_normal(q.shape)
            p.grad = nnlib.to_device(g, device)
            q.grad = torch.tensor(g)
        opt.step()
        ref.step()
    return opt, ref, ours, theirs


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_matches_torch_for_200_steps(name, kwargs):
    opt, ref, ours, theirs = run_both(name, kwargs)
    for p, q in zip(ours, theirs):
        assert rel_err(p.data, q.detach().numpy()) <= 1e-10
        torch_state = ref.state[q]
        our_state = opt.state[p]
        assert set(our_state) == set(torch_state), (sorted(our_state), sorted(torch_state))
        for key, value in torch_state.items():
            if key == "step":
                assert our_state["step"] == int(value) == STEPS
            else:
                assert rel_err(our_state[key], value.numpy()) <= 1e-10, key


@pytest.mark.parametrize("name,kwargs", [CONFIGS[1], CONFIGS[11], CONFIGS[14]],
                         ids=["SGD", "RMSprop", "Adam"])
def test_torch_backend_matches_numpy_backend(name, kwargs):
    _, _, on_numpy, _ = run_both(name, kwargs, steps=20)
    _, _, on_torch, _ = run_both(name, kwargs, device="cpu", steps=20)
    for a, b in zip(on_numpy, on_torch):
        assert nnlib.device_of(b.data) == "cpu"
        assert rel_err(nnlib.to_numpy(b.data), a.data) <= 1e-12


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(2))
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = np.ones(3)
    opt.step()
    np.testing.assert_array_equal(a.data, 0.5 * np.ones(3))
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert b not in opt.state
    opt.zero_grad()
    assert a.grad is None


def test_param_groups_take_their_own_options():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)


def test_closure_is_called_and_its_loss_returned():
    p = Parameter(np.ones(1))
    p.grad = np.ones(1)
    assert optim.Adam([p]).step(lambda: 3.5) == 3.5


@pytest.mark.parametrize("make,message", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "Invalid learning rate"),
    (lambda ps: optim.SGD(ps, lr=float("nan")), "Invalid learning rate"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "momentum"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "beta parameter at index 0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "beta parameter at index 1"),
    (lambda ps: optim.Adam(ps, betas=0.9), "pair"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "epsilon"),
    (lambda ps: optim.AdamW(ps, eps=-1e-8), "epsilon"),
    (lambda ps: optim.RMSprop(ps, eps=float("inf")), "epsilon"),
    (lambda ps: optim.RMSprop(ps, alpha=1.5), "alpha"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-1), "lr_decay"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda ps: optim.SGD(ps, lr=np.array([0.1, 0.2])), r"Tensor lr must be 1-element, got shape \(2,\)"),
    (lambda ps: optim.SGD([{"momentum": 0.9}], lr=0.1), "needs a 'params' entry"),
])
def test_invalid_hyper_parameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make([Parameter(np.zeros(2))])


def test_non_parameters_are_rejected():
    with pytest.raises(TypeError, match="nnlib Parameters"):
        optim.SGD([np.zeros(2)], lr=0.1)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(s) for s in SHAPES]
    ours = [Parameter(np.zeros(s)) for s in SHAPES]
    theirs = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in SHAPES]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = g.copy(), torch.tensor(g)
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert math.isclose(float(total), float(expected), rel_tol=1e-12)
    for p, q in zip(ours, theirs):
        assert rel_err(p.grad, q.grad.numpy()) <= 1e-12


@pytest.mark.parametrize("as_given", [list, iter, lambda ps: (p for p in ps)],
                         ids=["list", "iterator", "generator"])
def test_clip_grad_norm_clips_whatever_iterable_it_gets(as_given):
    # model.parameters() is a generator: reading it once for the norm must not leave nothing to scale
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    for p in model.parameters():
        p.grad = np.full(p.shape, 10.0)
    before = optim.clip_grad_norm_(as_given(list(model.parameters())), 1.0)
    after = math.sqrt(sum(float(np.sum(p.grad**2)) for p in model.parameters()))
    assert float(before) > 10 and math.isclose(after, 1.0, rel_tol=1e-5)
    assert math.isclose(float(optim.clip_grad_norm_(model.parameters(), 1.0)), after, rel_tol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_optimizers_keep_every_parameter_of_a_generator(name):
    # parameters() and a group's "params" may be generators: each must be read into a list once
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    for params in (model.parameters(), [{"params": model.parameters()}]):
        opt = getattr(optim, name)(params, lr=0.1)
        assert [len(g["params"]) for g in opt.param_groups] == [4]
        for p in model.parameters():
            p.grad = np.ones(p.shape)
        before = [p.data.copy() for p in model.parameters()]
        opt.step()
        assert all(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))


def test_clip_grad_norm_errors():
    p = Parameter(np.zeros(2))
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(FloatingPointError, match="total norm"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm_([p], 0.0)


def test_gradient_of_the_wrong_shape_or_dtype_is_rejected():
    from nnlib.errors import DTypeError, ShapeError

    p = Parameter(np.zeros(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(1)  # would broadcast silently
    with pytest.raises(ShapeError, match=r"gradient has shape \(1,\) but the parameter has shape \(3,\)"):
        opt.step()
    p.grad = np.ones(3, dtype=np.float32)  # would be cast silently
    with pytest.raises(DTypeError, match="float32 but the parameter has float64"):
        opt.step()
    np.testing.assert_array_equal(p.data, np.zeros(3))


# --- changing hyper-parameters of a running optimizer ------------------------------------------
REFUSED = [
    ("SGD", dict(lr=0.1), "lr", -0.1),
    ("SGD", dict(lr=0.1), "momentum", -0.5),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), "momentum", 0.0),   # Nesterov needs momentum > 0
    ("SGD", dict(lr=0.1), "weight_decay", float("inf")),
    ("Adagrad", dict(), "lr_decay", -1.0),
    ("RMSprop", dict(), "alpha", 1.0),
    ("Adam", dict(), "betas", (1.0, 0.999)),
    ("Adam", dict(), "betas", (0.9, -0.1)),
    ("Adam", dict(), "betas", 0.9),
    ("AdamW", dict(), "eps", -1e-8),
]


@pytest.mark.parametrize("name,kwargs,option,value", REFUSED, ids=[f"{n}-{o}={v}" for n, _, o, v in REFUSED])
def test_set_hyperparameter_refuses_what_the_constructor_refuses(name, kwargs, option, value):
    cls = getattr(optim, name)
    with pytest.raises(ValueError) as from_constructor:
        cls([Parameter(np.zeros(2))], **{**kwargs, option: value})
    opt = cls([{"params": [Parameter(np.zeros(2))]}, {"params": [Parameter(np.zeros(2))]}], **kwargs)
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(ValueError) as from_setter:
        opt.set_hyperparameter(option, value)
    assert str(from_setter.value) == str(from_constructor.value)
    assert opt.param_groups == before  # refused: no group changed


def test_set_hyperparameter_changes_every_group_for_the_next_step_and_keeps_the_state():
    # The same run as torch, where the change is a plain write into param_groups.
    rng = np.random.default_rng(0)
    start = rng.standard_normal(4)
    ours, theirs = Parameter(start.copy()), torch.nn.Parameter(torch.tensor(start))
    opt, ref = optim.Adam([ours], lr=0.01), torch.optim.Adam([theirs], lr=0.01)
    for step in range(20):
        if step == 10:
            opt.set_hyperparameter("betas", (0.5, 0.9))
            opt.set_hyperparameter("lr", 0.05)
            ref.param_groups[0]["betas"], ref.param_groups[0]["lr"] = (0.5, 0.9), 0.05
        g = rng.standard_normal(4)
        ours.grad, theirs.grad = g, torch.tensor(g)
        opt.step()
        ref.step()
    assert rel_err(ours.data, theirs.detach().numpy()) <= 1e-12
    assert opt.state[ours]["step"] == 20
    with pytest.raises(ValueError, match="has no option 'momentum'"):
        opt.set_hyperparameter("momentum", 0.9)


# --- signatures and options: PyTorch's ---------------------------------------------------------------
NAMES = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]


def parameters_of(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("name", NAMES)
def test_signatures_are_torchs(name):
    ours, theirs = getattr(optim, name), getattr(torch.optim, name)
    assert parameters_of(ours) == parameters_of(theirs)
    for method in ("step", "zero_grad", "add_param_group", "state_dict", "load_state_dict"):
        assert parameters_of(getattr(ours, method)) == parameters_of(getattr(theirs, method)), method


def test_clip_grad_norm_signature_is_torchs():
    assert parameters_of(optim.clip_grad_norm_) == parameters_of(torch.nn.utils.clip_grad_norm_)


@pytest.mark.parametrize("name", NAMES)
def test_a_group_holds_torchs_options_with_torchs_defaults(name):
    ours = getattr(optim, name)([Parameter(np.zeros(2))]).param_groups[0]
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))]).param_groups[0]
    assert list(ours) == list(theirs)  # the same keys in the same order (state_dict shows them)
    del ours["params"], theirs["params"]
    assert ours == theirs


def test_positional_arguments_mean_what_they_mean_in_torch():
    # SGD's fifth argument is weight_decay, Adagrad's seventh foreach, RMSprop's eighth capturable
    ours = optim.SGD([Parameter(np.zeros(1))], 0.1, 0.9, 0.0, 0.01).param_groups[0]
    assert (ours["momentum"], ours["weight_decay"], ours["nesterov"]) == (0.9, 0.01, False)
    with pytest.raises(UnsupportedError, match="foreach=True"):
        optim.Adagrad([Parameter(np.zeros(1))], 0.1, 0, 0, 0, 1e-10, True)
    with pytest.raises(UnsupportedError, match="capturable=True"):
        optim.RMSprop([Parameter(np.zeros(1))], 0.1, 0.9, 1e-8, 0, 0, False, True)


# --- implementation switches, tensor options ------------------------------------------------------------
SWITCHES = [(name, switch) for name in NAMES
            for switch in ("foreach", "fused", "capturable", "differentiable")
            if switch in inspect.signature(getattr(torch.optim, name)).parameters]


@pytest.mark.parametrize("name,switch", SWITCHES, ids=[f"{n}-{s}" for n, s in SWITCHES])
def test_an_implementation_switch_is_refused_by_name_where_it_asks_for_another_implementation(name, switch):
    cls = getattr(optim, name)
    with pytest.raises(UnsupportedError, match=f"{name}: {switch}=True is not implemented in nnlib; it supp"):
        cls([Parameter(np.zeros(2))], **{switch: True})
    with pytest.raises(TypeError, match=f"{switch} must be True or False"):
        cls([Parameter(np.zeros(2))], **{switch: "False"})
    opt = cls([Parameter(np.zeros(2))])
    with pytest.raises(UnsupportedError, match=f"{switch}=True"):
        opt.set_hyperparameter(switch, True)


@pytest.mark.parametrize("name", NAMES)
def test_flags_are_bools(name):
    flags = [f for f in ("maximize", "nesterov", "centered", "amsgrad", "decoupled_weight_decay")
             if f in inspect.signature(getattr(optim, name)).parameters]
    for flag in flags:
        with pytest.raises(TypeError, match=f"{flag} must be True or False, got 1"):
            getattr(optim, name)([Parameter(np.zeros(2))], **{flag: 1})


@pytest.mark.parametrize("device", ["numpy", "cpu"])
@pytest.mark.parametrize("name", NAMES)
def test_a_one_element_tensor_lr_works_as_in_torch_and_is_read_at_every_step(name, device):
    # PyTorch takes lr as a tensor; writing into that tensor changes the rate of the next steps.
    ours_lr = np.array(0.01) if device == "numpy" else torch.tensor(0.01, dtype=torch.float64)
    their_lr = torch.tensor(0.01, dtype=torch.float64)
    start = np.random.default_rng(0).standard_normal(5)
    ours = Parameter(nnlib.to_device(start.copy(), device))
    theirs = torch.nn.Parameter(torch.tensor(start))
    opt, ref = getattr(optim, name)([ours], lr=ours_lr), getattr(torch.optim, name)([theirs], lr=their_lr)
    for step in range(30):
        if step == 15:
            ours_lr[...] = 0.05
            their_lr.fill_(0.05)
        g = np.cos(np.arange(5) + step)
        ours.grad, theirs.grad = nnlib.to_device(g, device), torch.tensor(g)
        opt.step()
        ref.step()
    assert rel_err(nnlib.to_numpy(ours.data), theirs.detach().numpy()) <= 1e-12
    assert opt.param_groups[0]["lr"] is ours_lr


@pytest.mark.parametrize("make,name", [
    (lambda ps: optim.SGD(ps, weight_decay=torch.tensor(0.1)), "weight_decay"),
    (lambda ps: optim.Adam(ps, betas=(torch.tensor(0.9), torch.tensor(0.99))), r"betas\[0\]"),
    (lambda ps: optim.AdamW(ps, betas=(0.9, np.array(0.99))), r"betas\[1\]"),
])
def test_other_tensor_options_are_refused_by_name(make, name):
    with pytest.raises(UnsupportedError, match=f"{name} as a tensor is not implemented in nnlib"):
        make([Parameter(np.zeros(2))])


def test_maximize_climbs():
    p = Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=0.1, weight_decay=0.5, maximize=True)
    p.grad = np.array([2.0])
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 + 0.1 * (2.0 - 0.5 * 1.0)])  # up the gradient; decay pulls in


# --- parameter groups ------------------------------------------------------------------------------------
def test_a_group_keeps_keys_that_are_no_options_as_torch_does():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a], "initial_lr": 0.3, "note": "head"}], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.01, "initial_lr": 0.01})
    assert opt.param_groups[0]["initial_lr"] == 0.3 and opt.param_groups[0]["note"] == "head"
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["momentum"] == 0
    assert optim.lr_scheduler.StepLR(opt, step_size=2).base_lrs == [0.3, 0.01]


def test_named_parameters_keep_their_names_as_in_torch():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1)).double()
    opt = optim.Adam(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert opt.param_groups[0]["params"] == list(model.parameters())
    reference = torch.optim.Adam(torch.nn.Sequential(torch.nn.Linear(3, 2)).named_parameters())
    assert reference.param_groups[0]["param_names"] == ["0.weight", "0.bias"]


@pytest.mark.parametrize("make,error,message", [
    (lambda a, b: optim.SGD([("w", a), b]), ValueError, "some param names are missing"),
    (lambda a, b: optim.SGD([{"params": [a]}, {"params": [("w", b)]}]), ValueError,
     "cannot add a group with names to groups without them"),
    (lambda a, b: optim.SGD([{"params": [a]}, {"params": [a]}]), ValueError, "more than one parameter group"),
    (lambda a, b: optim.SGD({a, b}), TypeError, "not a set"),
    (lambda a, b: optim.SGD([{"params": {a, b}}]), TypeError, "not a set"),
    (lambda a, b: optim.SGD(a), TypeError, "should be an iterable of Parameters or dicts, but got a single"),
    (lambda a, b: optim.SGD([a]).add_param_group([b]), TypeError, "param_group must be a dict, got list"),
])
def test_bad_parameter_groups_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make(Parameter(np.zeros(2)), Parameter(np.zeros(2)))


def test_a_parameter_twice_in_a_group_warns_as_in_torch():
    p = Parameter(np.zeros(2))
    with pytest.warns(UserWarning, match="contains a parameter more than once"):
        optim.SGD([p, p])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optim.SGD([p])


def test_zero_grad_can_zero_in_place():
    a = Parameter(np.ones(3))
    a.grad = grad = np.ones(3)
    opt = optim.SGD([a])
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and not grad.any()
    opt.zero_grad()
    assert a.grad is None
    with pytest.raises(TypeError, match="set_to_none must be True or False"):
        opt.zero_grad(set_to_none=0)


# --- state_dict ----------------------------------------------------------------------------------------
STATEFUL = [("SGD", dict(lr=0.1, momentum=0.9)), ("Adagrad", dict(lr_decay=0.01)),
            ("RMSprop", dict(centered=True, momentum=0.5)), ("Adam", dict(amsgrad=True)), ("AdamW", dict())]


def two_groups(params, lr=0.1):
    return [{"params": params[:1]}, {"params": params[1:], "lr": lr / 10}]


@pytest.mark.parametrize("name,kwargs", STATEFUL, ids=[n for n, _ in STATEFUL])
def test_state_dict_has_torchs_layout(name, kwargs):
    opt, ref, _, _ = run_both(name, kwargs, steps=3)
    ours, theirs = opt.state_dict(), ref.state_dict()
    assert ours["param_groups"] == [{k: v for k, v in g.items()} for g in theirs["param_groups"]]
    assert list(ours["state"]) == list(theirs["state"]) == [0, 1]
    for i in (0, 1):
        assert list(ours["state"][i]) == list(theirs["state"][i])
        for key, value in theirs["state"][i].items():
            if key == "step":
                assert ours["state"][i][key] == int(value) == 3
            else:
                assert rel_err(ours["state"][i][key], value.numpy()) <= 1e-12


@pytest.mark.parametrize("device", ["numpy", "cpu"])
@pytest.mark.parametrize("name,kwargs", STATEFUL, ids=[n for n, _ in STATEFUL])
def test_loading_a_state_dict_resumes_the_run(name, kwargs, device):
    # 20 steps, a checkpoint, then 20 more from the checkpoint in a second optimizer over a copy of the
    # parameters: the same as 40 steps in one go. A torch optimizer's state_dict loads as well.
    rng = np.random.default_rng(3)
    starts = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(40)]

    def run(opt, params, steps):
        for gs in steps:
            for p, g in zip(params, gs):
                p.grad = nnlib.to_device(g, device) if isinstance(p, Parameter) else torch.tensor(g)
            opt.step()

    whole = [Parameter(nnlib.to_device(s.copy(), device)) for s in starts]
    run(getattr(optim, name)(two_groups(whole), **kwargs), whole, grads)
    first = [Parameter(nnlib.to_device(s.copy(), device)) for s in starts]
    opt = getattr(optim, name)(two_groups(first), **kwargs)
    run(opt, first, grads[:20])
    checkpoint = copy.deepcopy(opt.state_dict())
    run(opt, first, grads[20:21])  # goes on changing its own state, not the checkpoint's
    reference = [torch.nn.Parameter(torch.tensor(s)) for s in starts]
    torch_opt = getattr(torch.optim, name)(two_groups(reference), **kwargs)
    run(torch_opt, reference, grads[:20])
    snapshot = copy.deepcopy(checkpoint)
    for saved in (checkpoint, torch_opt.state_dict()):
        second = [Parameter(nnlib.to_device(nnlib.to_numpy(p.data).copy(), device)) for p in first]
        for p, q in zip(second, reference):
            p.data[...] = nnlib.to_device(q.detach().numpy(), device)  # the parameters at the checkpoint
        resumed = getattr(optim, name)(two_groups(second, lr=0.5), **kwargs)  # other rates: loaded over
        resumed.load_state_dict(saved)
        assert resumed.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
        state = resumed.state[second[0]]
        assert state.get("step", 20) == 20
        assert all(nnlib.device_of(value) == device for key, value in state.items() if key != "step")
        run(resumed, second, grads[20:])
        for p, q in zip(second, whole):
            assert rel_err(nnlib.to_numpy(p.data), nnlib.to_numpy(q.data)) <= 1e-12
    for i, state in snapshot["state"].items():  # loading copied the arrays: the checkpoint is as it was
        for key, value in state.items():
            if key == "step":
                assert checkpoint["state"][i][key] == value == 20
            else:
                kept = checkpoint["state"][i][key]
                np.testing.assert_array_equal(nnlib.to_numpy(kept), nnlib.to_numpy(value))


def test_a_state_dict_that_does_not_fit_is_refused():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    opt = optim.Adam([a, b])
    a.grad, b.grad = np.ones(2), np.ones(3)
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(StateDictError, match="state_dict has 1 parameter groups, this optimizer has 2"):
        optim.Adam(two_groups([a, b])).load_state_dict(saved)
    with pytest.raises(StateDictError, match="group 0 of the state_dict has 2 parameters, this optimizer's"):
        optim.Adam([a]).load_state_dict(saved)
    swapped = optim.Adam([b, a])
    with pytest.raises(StateDictError, match=r"size mismatch for state\[0\]\['exp_avg'\]: .* shape \(2,\), "
                                             r"the parameter has \(3,\)"):
        swapped.load_state_dict(saved)
    assert swapped.state == {}  # refused: nothing loaded


def test_a_new_optimizer_needs_only_its_defaults_and_its_update():
    class SignSGD(optim.Optimizer):  # θ ← θ − α·sign(g)
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        def _update(self, p, g, state, group):
            p.data -= group["lr"] * np.sign(g)

    p = Parameter(np.array([1.0, -2.0]))
    opt = SignSGD([p])
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(2):
        p.grad = np.array([3.0, -0.1])
        opt.step()
        scheduler.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1 - 0.05, -2.0 + 0.1 + 0.05])
    assert opt.state_dict()["param_groups"] == [{"lr": 0.025, "initial_lr": 0.1, "params": [0]}]
    with pytest.raises(ValueError, match="Invalid learning rate"):
        SignSGD([p], lr=-1.0)
