"""nnlib.optim against torch.optim: same start, same gradient sequence, 200 steps, float64."""

import math

import numpy as np
import pytest

import nnlib
from nnlib import nn, optim
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


@pytest.mark.parametrize("name,kwargs", [CONFIGS[1], CONFIGS[11], CONFIGS[14]], ids=["SGD", "RMSprop", "Adam"])
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
    (lambda ps: optim.Adam(ps, eps=0), "epsilon"),
    (lambda ps: optim.AdamW(ps, eps=-1e-8), "epsilon"),
    (lambda ps: optim.RMSprop(ps, alpha=1.5), "alpha"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-1), "lr_decay"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda ps: optim.SGD([{"params": ps, "momentun": 0.9}], lr=0.1), "unknown options"),
])
def test_invalid_hyper_parameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make([Parameter(np.zeros(2))])


def test_non_parameters_are_rejected():
    with pytest.raises(TypeError, match="nnlib Parameters"):
        optim.SGD([np.zeros(2)], lr=0.1)


@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.95)),
    ("CosineAnnealingLR", dict(T_max=30, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=10)),
])
def test_schedulers_match_torch(name, kwargs):
    ours = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    s1 = getattr(optim, name)(ours, **kwargs)
    s2 = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
    for _ in range(60):
        assert math.isclose(s1.get_last_lr()[0], s2.get_last_lr()[0], rel_tol=1e-10, abs_tol=1e-15)
        theirs.step()
        s1.step()
        s2.step()


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


@pytest.mark.parametrize("as_given", [list, iter, lambda ps: (p for p in ps)], ids=["list", "iterator", "generator"])
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
    ("AdamW", dict(), "eps", 0.0),
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


# --- the learning rate lives in one place: the group's lr ------------------------------------------
SCHEDULERS = [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=6, eta_min=0.001)),
]


def scheduled_rates(lib, name, kwargs, before=None, at_epoch=None, set_lr=None, epochs=20):
    """The rates of ``epochs`` epochs; ``before(optimizer)`` runs before the scheduler is created,
    ``set_lr(optimizer)`` after epoch ``at_epoch``'s step."""
    if lib is optim:
        opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
        make = getattr(optim, name)
    else:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        make = getattr(torch.optim.lr_scheduler, name)
    if before:
        before(opt)
    scheduler = make(opt, **kwargs)
    rates = []
    for epoch in range(epochs):
        rates.append((opt.param_groups[0]["lr"], scheduler.get_last_lr()[0]))
        opt.step()
        scheduler.step()
        if epoch == at_epoch:
            set_lr(opt)
    return rates


def write_lr(opt, lr):
    if isinstance(opt, optim.Optimizer):
        opt.set_hyperparameter("lr", lr)  # the widgets' path
    else:
        opt.param_groups[0]["lr"] = lr


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[n for n, _ in SCHEDULERS])
def test_a_scheduler_created_later_starts_from_the_rate_set_after_the_optimizer(name, kwargs):
    direct = lambda opt: opt.param_groups[0].__setitem__("lr", 0.5)  # noqa: E731
    for change in (direct, lambda opt: write_lr(opt, 0.5)):
        ours = scheduled_rates(optim, name, kwargs, before=change)
        theirs = scheduled_rates(torch.optim, name, kwargs, before=direct)
        assert ours[0] == (0.5, 0.5)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[n for n, _ in SCHEDULERS])
def test_a_rate_set_during_a_schedule_is_kept_and_scheduled_on(name, kwargs):
    ours = scheduled_rates(optim, name, kwargs, at_epoch=8, set_lr=lambda opt: write_lr(opt, 0.03))
    theirs = scheduled_rates(torch.optim, name, kwargs, at_epoch=8, set_lr=lambda opt: write_lr(opt, 0.03))
    assert ours[9][0] == 0.03  # the next epoch runs at the rate set
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_a_second_scheduler_keeps_the_first_ones_initial_lr():
    ours = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    first, first_reference = optim.ExponentialLR(ours, gamma=0.5), torch.optim.lr_scheduler.ExponentialLR(theirs, gamma=0.5)
    theirs.step()
    first.step()
    first_reference.step()
    second, reference = optim.StepLR(ours, step_size=1), torch.optim.lr_scheduler.StepLR(theirs, step_size=1)
    assert second.base_lrs == reference.base_lrs == [0.1]
    assert ours.param_groups[0]["initial_lr"] == theirs.param_groups[0]["initial_lr"] == 0.1
