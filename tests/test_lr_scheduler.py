"""nnlib.optim.lr_scheduler against torch.optim.lr_scheduler: same signatures, the same rates
epoch by epoch over whole schedules (float64, to 1e-12), the same state_dict, and resuming from
a state_dict mid-schedule gives the schedule that was never interrupted."""

import copy
import inspect
import math

import numpy as np
import pytest

from nnlib import optim
from nnlib.errors import StateDictError, UnsupportedError
from nnlib.nn import Parameter

torch = pytest.importorskip("torch")
ours_module, torch_module = optim.lr_scheduler, torch.optim.lr_scheduler
# PyTorch warns about the order of optimizer.step() and scheduler.step() inside a nested SequentialLR
# (its inner schedulers never see the optimizer's step); every test here steps the optimizer first.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step.*before:UserWarning")

NAMES = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "LinearLR", "ExponentialLR", "CosineAnnealingLR",
         "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"]


def parameters_of(signature):
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize("name", NAMES)
def test_signatures_are_torchs(name):
    ours, theirs = getattr(ours_module, name), getattr(torch_module, name)
    assert parameters_of(inspect.signature(ours)) == parameters_of(inspect.signature(theirs))
    assert issubclass(ours, ours_module.LRScheduler)
    for method in ("step", "get_last_lr", "state_dict", "load_state_dict"):
        assert parameters_of(inspect.signature(getattr(ours, method))) == \
            parameters_of(inspect.signature(getattr(theirs, method))), method


# --- the schedules -------------------------------------------------------------------------------
def make_optimizer(lib, kind="SGD"):
    """Two parameter groups with their own rates; SGD with momentum, or Adam (for betas)."""
    if lib is ours_module:
        new, opt = (lambda: Parameter(np.zeros(2))), optim
    else:
        new, opt = (lambda: torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))), torch.optim
    groups = [{"params": [new()], "lr": 0.1}, {"params": [new()], "lr": 0.02}]
    return opt.SGD(groups, lr=0.1, momentum=0.9) if kind == "SGD" else opt.Adam(groups, lr=0.1)


class Halve:
    """A callable object: LambdaLR's state_dict saves its attributes (a function it cannot)."""

    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


CONFIGS = {
    "LambdaLR": (lambda L, o: L.LambdaLR(o, lambda e: 0.95**e + 0.01 * e), 40),
    "LambdaLR-per-group": (lambda L, o: L.LambdaLR(o, [lambda e: min(1.0, (e + 1) / 5), Halve(3)]), 40),
    "StepLR": (lambda L, o: L.StepLR(o, step_size=7, gamma=0.5), 40),
    "MultiStepLR": (lambda L, o: L.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.3), 40),
    "LinearLR-warmup": (lambda L, o: L.LinearLR(o), 40),
    "LinearLR": (lambda L, o: L.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=8), 40),
    "LinearLR-decay": (lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=10), 40),
    "ExponentialLR": (lambda L, o: L.ExponentialLR(o, gamma=0.9), 40),
    "CosineAnnealingLR": (lambda L, o: L.CosineAnnealingLR(o, T_max=10), 65),  # down, up, down …
    "CosineAnnealingLR-eta_min": (lambda L, o: L.CosineAnnealingLR(o, T_max=15, eta_min=0.001), 50),
    "OneCycleLR": (lambda L, o: L.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=50), 50),
    "OneCycleLR-linear-three-phase": (lambda L, o: L.OneCycleLR(
        o, max_lr=0.8, epochs=6, steps_per_epoch=7, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, base_momentum=[0.8, 0.7], max_momentum=0.9, div_factor=10.0,
        final_div_factor=100.0), 42),
    "OneCycleLR-no-momentum": (lambda L, o: L.OneCycleLR(
        o, max_lr=0.5, total_steps=30, cycle_momentum=False), 30),
    "SequentialLR-warmup-cosine": (lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.1, total_iters=5), L.CosineAnnealingLR(o, T_max=20)], [5]), 40),
    "SequentialLR-three": (lambda L, o: L.SequentialLR(
        o, [L.ExponentialLR(o, gamma=0.8), L.LinearLR(o, total_iters=4), L.StepLR(o, step_size=3)],
        [4, 11]), 30),
    "SequentialLR-nested": (lambda L, o: L.SequentialLR(o, [L.SequentialLR(
        o, [L.LinearLR(o, total_iters=3), L.ExponentialLR(o, gamma=0.9)], [3]), L.MultiStepLR(o, [2, 4])],
        [8]), 25),
    "ReduceLROnPlateau": (lambda L, o: L.ReduceLROnPlateau(o, patience=2), 60),
    "ReduceLROnPlateau-max-abs": (lambda L, o: L.ReduceLROnPlateau(
        o, mode="max", factor=0.5, patience=1, threshold=0.01, threshold_mode="abs", cooldown=2,
        min_lr=[0.01, 0.004]), 60),
    "ReduceLROnPlateau-eps": (lambda L, o: L.ReduceLROnPlateau(
        o, factor=0.5, patience=0, min_lr=0.003, eps=1e-3), 60),
}


def metric(epoch, mode="min"):
    """A validation loss that falls, then wanders on a plateau (what ReduceLROnPlateau reacts to)."""
    value = 1 / (1 + 0.3 * epoch) + 0.05 * math.sin(1.7 * epoch) * (epoch > 10)
    return -value if mode == "max" else value


def record(opt):
    """The rates of every group, and the momentum or β₁ where the optimizer has it."""
    return [(g["lr"], g["betas"][0] if "betas" in g else g["momentum"]) for g in opt.param_groups]


def schedule(lib, name, epochs=None, *, start=None, at_epoch=None, change=None, kind=None):
    """Rates and get_last_lr() of every epoch. ``start`` (optimizer, scheduler) goes on from them;
    ``change(optimizer)`` runs after epoch ``at_epoch``'s step."""
    make, default_epochs = CONFIGS[name]
    kind = kind or ("Adam" if name == "OneCycleLR" else "SGD")
    opt, scheduler = start or (None, None)
    if opt is None:
        opt = make_optimizer(lib, kind)
        scheduler = make(lib, opt)
    mode = getattr(scheduler, "mode", "min")
    history = []
    for epoch in range(default_epochs if epochs is None else epochs):
        history.append((record(opt), list(scheduler.get_last_lr())))
        opt.step()
        if name.startswith("ReduceLROnPlateau"):
            scheduler.step(metric(scheduler.last_epoch, mode))
        else:
            scheduler.step()
        if epoch == at_epoch:
            change(opt)
    return history, opt, scheduler


def assert_same(ours, theirs):
    a, b = np.array(ours, dtype=np.float64), np.array(theirs, dtype=np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", CONFIGS)
def test_whole_schedule_matches_torch(name):
    ours, _, _ = schedule(ours_module, name)
    theirs, _, _ = schedule(torch_module, name)
    assert_same([h[0] for h in ours], [h[0] for h in theirs])   # the groups' lr (and momentum)
    assert_same([h[1] for h in ours], [h[1] for h in theirs])   # get_last_lr()
    assert len({tuple(r for r, _ in h[0]) for h in ours}) > 3   # the rate did change


@pytest.mark.parametrize("name", CONFIGS)
def test_resuming_from_state_dicts_mid_schedule_gives_the_uninterrupted_schedule(name):
    _, epochs = CONFIGS[name]
    at = epochs // 2 - 1
    first, opt, scheduler = schedule(ours_module, name, at)
    saved_optimizer = copy.deepcopy(opt.state_dict())
    saved_scheduler = copy.deepcopy(scheduler.state_dict())
    # Another run, set up the same way, takes over: optimizer first, then scheduler (as in PyTorch).
    fresh = make_optimizer(ours_module, "Adam" if name == "OneCycleLR" else "SGD")
    resumed = CONFIGS[name][0](ours_module, fresh)
    fresh.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved_scheduler)
    rest, _, _ = schedule(ours_module, name, epochs - at, start=(fresh, resumed))
    uninterrupted, _, _ = schedule(torch_module, name)
    assert_same([h[0] for h in first + rest], [h[0] for h in uninterrupted])
    assert_same([h[1] for h in first + rest], [h[1] for h in uninterrupted])


@pytest.mark.parametrize("name", CONFIGS)
def test_state_dict_has_torchs_keys_and_values(name):
    _, opt, ours = schedule(ours_module, name, 9)
    _, _, theirs = schedule(torch_module, name, 9)
    ours, theirs = ours.state_dict(), theirs.state_dict()

    def comparable(state):  # PyTorch's flag for its get_lr() warning is no state of the schedule
        return {k: v for k, v in state.items() if k != "_get_lr_called_within_step"}

    assert set(ours) == set(comparable(theirs))
    for key, value in comparable(theirs).items():
        if key == "_schedulers":
            assert [set(s) for s in ours[key]] == [set(comparable(s)) for s in value]
        else:
            assert ours[key] == value, key


def test_a_callable_objects_attributes_travel_in_lambdalr_state_dict():
    opt = make_optimizer(ours_module)
    scheduler = ours_module.LambdaLR(opt, [lambda e: 1.0, Halve(every=2)])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [None, {"every": 2}]
    other = Halve(every=5)
    resumed = ours_module.LambdaLR(make_optimizer(ours_module), [lambda e: 1.0, other])
    resumed.load_state_dict(state)
    assert other.every == 2 and state["lr_lambdas"] == [None, {"every": 2}]  # the dict is left as it was


# --- the rate lives in the group: written by hand or by a slider, the schedule goes on from it --------
CHAINABLE = ["StepLR", "MultiStepLR", "LinearLR", "ExponentialLR", "CosineAnnealingLR-eta_min",
             "SequentialLR-warmup-cosine", "LambdaLR", "OneCycleLR", "ReduceLROnPlateau"]


def write_lr(opt, lr):
    if isinstance(opt, optim.Optimizer):
        opt.set_hyperparameter("lr", lr)  # the widgets' path
    else:
        for group in opt.param_groups:
            group["lr"] = lr


@pytest.mark.parametrize("name", CHAINABLE)
def test_a_rate_written_during_the_schedule_is_treated_as_torch_treats_it(name):
    ours, _, _ = schedule(ours_module, name, 30, at_epoch=3, change=lambda o: write_lr(o, 0.03))
    theirs, _, _ = schedule(torch_module, name, 30, at_epoch=3, change=lambda o: write_lr(o, 0.03))
    assert_same([h[0] for h in ours], [h[0] for h in theirs])
    assert_same([h[1] for h in ours], [h[1] for h in theirs])


def test_a_scheduler_created_after_a_rate_change_starts_from_the_new_rate():
    rates = {}
    for lib in (ours_module, torch_module):
        opt = make_optimizer(lib)
        write_lr(opt, 0.5)
        scheduler = lib.StepLR(opt, step_size=2)
        rates[lib] = [scheduler.base_lrs, opt.param_groups[0]["initial_lr"]]
    assert rates[ours_module] == rates[torch_module] == [[0.5, 0.5], 0.5]


def test_a_second_scheduler_keeps_the_first_ones_initial_lr():
    for lib in (ours_module, torch_module):
        opt = make_optimizer(lib)
        first = lib.ExponentialLR(opt, gamma=0.5)
        opt.step()
        first.step()
        second = lib.StepLR(opt, step_size=1)
        assert second.base_lrs == [0.1, 0.02] and opt.param_groups[0]["lr"] == 0.05


@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=3)), ("LinearLR", dict(total_iters=6)),
                                         ("ExponentialLR", dict(gamma=0.8)),
                                         ("CosineAnnealingLR", dict(T_max=7))])
def test_last_epoch_resumes_as_in_torch(name, kwargs):
    runs = []
    for lib in (ours_module, torch_module):
        opt = make_optimizer(lib)
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"] * 2  # what the optimizer's state_dict would have restored
        scheduler = getattr(lib, name)(opt, last_epoch=4, **kwargs)
        history, _, _ = schedule(lib, "StepLR", 15, start=(opt, scheduler))
        runs.append(history + [scheduler.last_epoch])
    assert_same([h[0] for h in runs[0][:-1]], [h[0] for h in runs[1][:-1]])
    assert runs[0][-1] == runs[1][-1] == 4 + 1 + 15  # resumed, built, stepped
    with pytest.raises(KeyError, match=r"initial_lr.*param_groups\[0\]"):
        ours_module.StepLR(make_optimizer(ours_module), step_size=3, last_epoch=4)


# --- refusals ----------------------------------------------------------------------------------
def test_step_with_an_epoch_is_refused_by_name():
    opt = make_optimizer(ours_module)
    with pytest.raises(UnsupportedError, match=r"epoch=3 \(deprecated in PyTorch\)"):
        ours_module.StepLR(opt, step_size=2).step(3)
    with pytest.raises(UnsupportedError, match="epoch=3"):
        ours_module.ReduceLROnPlateau(opt).step(0.5, epoch=3)


S = ours_module


@pytest.mark.parametrize("make,error,message", [
    (lambda o: S.StepLR(o, step_size=0), ValueError, "step_size must be a positive integer, got 0"),
    (lambda o: S.StepLR(o, step_size=2.0), ValueError, "step_size must be a positive integer"),
    (lambda o: S.StepLR(o, 2, gamma=-0.1), ValueError, "gamma must be a finite number > 0"),
    (lambda o: S.StepLR(o, 2, last_epoch=-2), ValueError, "last_epoch must be an integer >= -1"),
    (lambda o: S.StepLR("sgd", 2), TypeError, "needs an nnlib Optimizer, got str"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), ValueError, "one value per parameter group: 2, got 1"),
    (lambda o: S.LambdaLR(o, 0.5), TypeError, "lr_lambda should be a function, but got float"),
    (lambda o: S.MultiStepLR(o, [2, -1]), ValueError, "each milestone must be an integer >= 0, got -1"),
    (lambda o: S.LinearLR(o, start_factor=0.0), ValueError, r"start_factor must be .* in \(0, 1\]"),
    (lambda o: S.LinearLR(o, end_factor=1.5), ValueError, r"end_factor must be .* in \[0, 1\]"),
    (lambda o: S.LinearLR(o, total_iters=0), ValueError, "total_iters must be a positive integer"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be a positive integer"),
    (lambda o: S.CosineAnnealingLR(o, 5, eta_min=-1.0), ValueError, "eta_min must be .* >= 0"),
    (lambda o: S.OneCycleLR(o, 0.1), ValueError, "either total_steps OR"),
    (lambda o: S.OneCycleLR(o, 0.1, total_steps=0), ValueError, "total_steps must be a positive"),
    (lambda o: S.OneCycleLR(o, 0.1, 10, pct_start=1.5), ValueError, "pct_start must be"),
    (lambda o: S.OneCycleLR(o, 0.1, 10, anneal_strategy="cosine"), ValueError, "'cos' or 'linear'"),
    (lambda o: S.OneCycleLR(o, [0.1, 0.2, 0.3], 10), ValueError, "max_lr must have one value per"),
    (lambda o: S.OneCycleLR(o, 0.1, 10, three_phase="yes"), TypeError, "three_phase must be True or"),
    (lambda o: S.OneCycleLR(optim.Adagrad(o.param_groups[0]["params"]), 0.1, 10), ValueError,
     "momentum or betas; Adagrad has neither"),
    (lambda o: S.SequentialLR(o, [], []), ValueError, "at least one scheduler"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2)], [3]), ValueError, "one milestone fewer"),
    (lambda o: S.SequentialLR(o, [S.ReduceLROnPlateau(o), S.StepLR(o, 2)], [3]),
     ValueError, "does not support ReduceLROnPlateau"),
    (lambda o: S.SequentialLR(o, [S.StepLR(make_optimizer(ours_module), 2),
                                            S.StepLR(o, 2)], [3]), ValueError, "the same optimizer"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2)] * 3, [5, 3]), ValueError, "must increase"),
    (lambda o: S.SequentialLR(o, ["warmup"], []), TypeError, "is a str, not an nnlib LRScheduler"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
    (lambda o: S.ReduceLROnPlateau(o, mode="lowest"), ValueError, "mode must be 'min' or 'max'"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="ratio"), ValueError, "'rel' or 'abs'"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be an integer >= 0"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "min_lr must have one value per"),
])
def test_bad_arguments_are_refused_with_a_message(make, error, message):
    with pytest.raises(error, match=message):
        make(make_optimizer(ours_module))


def test_onecycle_refuses_to_step_past_its_total_steps_as_torch_does():
    for lib in (ours_module, torch_module):
        opt = make_optimizer(lib)
        scheduler = lib.OneCycleLR(opt, max_lr=1.0, total_steps=4)
        for _ in range(4):
            opt.step()
            scheduler.step()
        opt.step()
        with pytest.raises(ValueError, match="Tried to step 5 times. The specified number of total steps"):
            scheduler.step()


def test_a_state_dict_of_another_scheduler_is_refused():
    opt = make_optimizer(ours_module)
    step = ours_module.StepLR(opt, step_size=2)
    cosine = ours_module.CosineAnnealingLR(make_optimizer(ours_module), T_max=3)
    keys = r"missing keys \['gamma', 'step_size'\], unexpected keys \['T_max', 'eta_min'\]"
    with pytest.raises(StateDictError, match=keys):
        step.load_state_dict(cosine.state_dict())
    assert step.step_size == 2
