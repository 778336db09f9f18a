"""The live widgets, driven headlessly: what they plot must be what the training/optimizer did."""

import ast
import dataclasses
import html
import math
import re
from pathlib import Path

import numpy as np
import pytest

from fresh_python import run_python
import nnlib
from nnlib import optim
from nnlib.surfaces import Surface, get_surface, trajectory
from nnlib.widgets import (OPTIMIZERS, AdamExplorer, ConvExplorer, GradientFlowDashboard, ModelTarget,
                           OptimizerRace, SurfaceTarget, svg)
from nnlib.widgets.race import DEFAULT_LR

W = pytest.importorskip("ipywidgets")


def small_data(n=96, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)).astype(np.float32)
    return X, (np.arange(n) % classes).astype(np.int64)


def small_net(hidden=8):
    """A fresh MLP for ``small_data()``: 6 features → ``hidden`` ReLU units → 3 classes."""
    return nnlib.nn.Sequential(nnlib.nn.Linear(6, hidden), nnlib.nn.ReLU(), nnlib.nn.Linear(hidden, 3))


# --- gradient flow dashboard ----------------------------------------------------------------
def test_dashboard_plots_what_it_recorded():
    d = GradientFlowDashboard(small_data(), depth=3, width=8, activation="tanh", init="xavier", lr=0.1)
    d.train(25)
    assert d.history["step"] == list(range(25))
    assert len(d.history["grad_norm"]) == 4  # 3 hidden layers + output layer
    for (name, norms), plotted in zip(d.history["grad_norm"].items(), d.plotted["grad_norm"].values()):
        np.testing.assert_array_equal(plotted, norms)
        assert len(norms) == 25 and all(n > 0 for n in norms)
    np.testing.assert_array_equal(d.plotted["loss"], d.history["loss"])
    # The histogram is of the current gradients of the first, middle and last layer.
    modules = dict(d.model.named_modules())
    first = d.plotted["histogram_layers"][0]
    log_g = np.log10(np.abs(nnlib.to_numpy(modules[first].weight.grad))).ravel()
    assert d.plotted["histogram_counts"][0].sum() == np.isfinite(log_g).sum()
    assert "<svg" in d.charts.value and "第 25 步" in d.status.value


def test_dashboard_recorded_norm_is_the_weight_gradient_norm():
    d = GradientFlowDashboard(small_data(), depth=1, width=4, activation="relu", init="he")
    d.train(1)  # the step leaves .grad as it was: it is the gradient recorded
    first = d.model[0]
    expected = float(np.linalg.norm(first.weight.grad))
    assert math.isclose(d.history["grad_norm"]["0"][0], expected, rel_tol=1e-6)


def test_deep_sigmoid_gradients_vanish_but_relu_he_gradients_do_not():
    ratios = {}
    for activation, init in [("sigmoid", "pytorch"), ("relu", "he")]:
        d = GradientFlowDashboard(depth=8, width=32, activation=activation, init=init, lr=0.01)
        d.train(5)
        norms = [v[-1] for v in d.history["grad_norm"].values()]
        ratios[activation] = norms[0] / norms[-1]
    assert ratios["sigmoid"] < 1e-4
    assert ratios["relu"] > 1e-2


def test_controls_rebuild_the_model_and_buttons_train():
    d = GradientFlowDashboard(small_data(), depth=2, width=8, steps=7)
    d.depth.value = 4
    assert len(d.history["grad_norm"]) == 5 and d.history["step"] == []
    d.train_button.click()
    assert len(d.history["step"]) == 7
    d.lr.value = 0.5
    assert d.optimizer.param_groups[0]["lr"] == 0.5
    d.optimizer_name.value = "adam"
    assert isinstance(d.optimizer, optim.Adam)
    d.reset_button.click()
    assert d.history["step"] == []


@pytest.mark.parametrize("device", ["numpy", "cpu", "cuda:0", "mps:0"])
def test_dashboard_trains_on_the_chosen_device(device):
    if device not in nnlib.available_devices():
        pytest.skip(f"{device} not available here")
    d = GradientFlowDashboard(small_data(), depth=2, width=8, device="numpy")
    d.device.value = device
    d.train(3)
    assert d.model.device == device
    assert nnlib.device_of(d.X) == device
    assert all(p.device == device for p in d.model.parameters())


def test_dashboard_reports_divergence_with_step_and_layer():
    X, y = small_data()
    d = GradientFlowDashboard((X * 1e20, y), depth=2, width=8, activation="relu", init="naive", lr=1.0)
    d.train(20)
    assert d.diverged and "发散" in d.status.value and "NaN/Inf" in d.status.value
    steps_before = len(d.history["step"])
    d.train(5)  # refuses to go on until reset
    assert len(d.history["step"]) == steps_before


def test_dashboard_rejects_bad_arguments():
    with pytest.raises(ValueError, match="not available"):
        GradientFlowDashboard(small_data(), device="cuda:7")
    with pytest.raises(ValueError, match="data must be"):
        GradientFlowDashboard((np.zeros((4, 3, 2), np.float32), np.zeros(4, np.int64)))



def test_dashboard_trains_any_model_and_records_every_weighted_layer():
    """model=: the document's ConvNet on image batches; one curve per Conv2d/Linear weight."""
    from nnlib.models import ConvNet

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3, 32, 32)).astype(np.float32)
    y = (np.arange(40) % 10).astype(np.int64)
    d = GradientFlowDashboard((X, y), model=ConvNet, init="pytorch", optimizer="adam", lr=1e-3, batch_size=8)
    assert list(d.history["grad_norm"]) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert d.depth not in d.view.children[0].children[0].children  # architecture fixed by the model
    d.train(3)
    assert len(d.history["step"]) == 3 and "conv1" in d.charts.value
    # The recorded norm is the norm of the gradient the step used: replay step 0 by hand.
    nnlib.manual_seed(0)
    fresh = ConvNet()
    idx = np.random.default_rng(0).choice(40, size=8, replace=False)
    criterion = nnlib.nn.CrossEntropyLoss()
    criterion(fresh(X[idx]), y[idx])
    fresh.backward(criterion.backward())
    for name in ["conv1", "fc3"]:
        expected = float(np.linalg.norm(getattr(fresh, name).weight.grad))
        assert math.isclose(d.history["grad_norm"][name][0], expected, rel_tol=1e-5)
    assert 0.0 <= d.accuracy() <= 1.0
    d.reset_button.click()  # builds a fresh model with the same function
    assert d.history["step"] == [] and isinstance(d.model, ConvNet)
    with pytest.raises(ValueError, match="pass the data"):
        GradientFlowDashboard(model=ConvNet)
    with pytest.raises(TypeError, match="builds a fresh nnlib model"):
        GradientFlowDashboard((X, y), model=ConvNet())

# --- Adam explorer ----------------------------------------------------------------------------
def test_adam_explorer_traces_equal_the_optimizer_state():
    a = AdamExplorer("rosenbrock", lr=0.05, betas=(0.8, 0.99))
    for _ in range(3):
        a.step_button.click()
    theta = a.target.theta
    state = a.optimizer.state[theta]
    assert state["step"] == 3 and a.history["t"] == [1, 2, 3]
    for i, name in enumerate(["x", "y"]):
        rec = a.history[name]
        assert rec["m"][-1] == state["exp_avg"][i]
        assert rec["v"][-1] == state["exp_avg_sq"][i]
        assert math.isclose(rec["m_hat"][-1], state["exp_avg"][i] / (1 - 0.8**3))
        assert math.isclose(rec["v_hat"][-1], state["exp_avg_sq"][i] / (1 - 0.99**3))
    a.redraw()
    np.testing.assert_array_equal(a.plotted["m"], a.history["x"]["m"])
    np.testing.assert_allclose(a.plotted["bias1"], [1 / (1 - 0.8**t) for t in (1, 2, 3)])
    np.testing.assert_array_equal(a.plotted["path"][-1], theta.data)


def test_adam_explorer_matches_an_independent_adam_run():
    a = AdamExplorer("quadratic", lr=0.1)
    a.run(40)
    surface = get_surface("quadratic")
    path = trajectory(surface, lambda ps: optim.Adam(ps, lr=0.1), 40).points
    np.testing.assert_array_equal(np.array(a.history["path"]), path)


def test_constant_gradient_shows_why_bias_correction_is_needed():
    flat = Surface("slope", "slope", lambda p: p[..., 0] * 2.0,
                   lambda p: np.full_like(np.asarray(p, float), 2.0),
                   minimum=(0, 0), start=(0.0, 0.0), xlim=(-1, 1), ylim=(-1, 1))
    a = AdamExplorer(SurfaceTarget(flat), lr=0.01)
    a.run(10)
    rec = a.history["x"]
    assert math.isclose(rec["m"][-1], 2.0 * (1 - 0.9**10))  # only ~65 % of the gradient
    assert math.isclose(rec["m_hat"][-1], 2.0)               # corrected: exactly the gradient
    assert math.isclose(rec["delta_theta"][-1], -0.01 * 2.0 / (2.0 + 1e-8), rel_tol=1e-9)


def test_sliders_change_the_running_optimizer_and_reset_starts_over():
    a = AdamExplorer("saddle")
    a.run(5)
    a.beta1.value, a.beta2.value, a.lr.value, a.eps.value = 0.5, 0.95, 0.01, 1e-6
    group = a.optimizer.param_groups[0]
    assert group["betas"] == (0.5, 0.95) and group["lr"] == 0.01 and group["eps"] == 1e-6
    a.step()
    assert a.optimizer.state[a.target.theta]["step"] == 6
    a.reset_button.click()
    assert a.history["t"] == [] and a.optimizer.state == {}
    np.testing.assert_array_equal(a.target.theta.data, get_surface("saddle").start)


def test_adam_explorer_on_a_network():
    X, y = small_data()
    nnlib.manual_seed(0)
    target = ModelTarget(small_net, nnlib.nn.CrossEntropyLoss(), X, y, batch_size=32)
    a = AdamExplorer(target, lr=0.01)
    a.run(5)
    name, param, index = target.coordinates[0]
    assert name.startswith("0.weight[")
    assert a.history[name]["m"][-1] == a.optimizer.state[param]["exp_avg"].reshape(-1)[index]
    assert len(a.history["loss"]) == 5 and "path" not in a.plotted


ADAM_VARIANTS = [(optim.Adam, dict(amsgrad=True)), (optim.AdamW, dict(weight_decay=0.1)),
                 (optim.AdamW, dict(weight_decay=0.1, amsgrad=True))]


@pytest.mark.parametrize("optimizer,options", ADAM_VARIANTS, ids=["amsgrad", "AdamW", "AdamW-amsgrad"])
def test_adam_explorer_shows_the_step_the_optimizer_took(optimizer, options):
    """Δθ is measured: for amsgrad and AdamW it is not Adam's α·m̂/(√v̂+ε)."""
    a = AdamExplorer("quadratic", optimizer=optimizer, lr=0.1, **options)
    a.run(60)
    assert type(a.optimizer) is optimizer and a.name == optimizer.__name__
    path = trajectory("quadratic", lambda ps: optimizer(ps, lr=0.1, **options), 60).points
    np.testing.assert_array_equal(np.array(a.history["path"]), path)  # the explorer ran this optimizer
    state = a.optimizer.state[a.target.theta]
    assert a.history["t"] == list(range(1, 61)) and state["step"] == 60
    for i, name in enumerate(["x", "y"]):
        rec = a.history[name]
        np.testing.assert_array_equal(rec["delta_theta"], np.diff(path[:, i]))  # θ after − θ before
        assert rec["m"][-1] == state["exp_avg"][i] and rec["v"][-1] == state["exp_avg_sq"][i]
        if options.get("amsgrad"):
            assert rec["v_max"][-1] == state["max_exp_avg_sq"][i]
            assert rec["v_max"][-1] > rec["v"][-1]  # the maximum is what the step divides by
        else:
            assert "v_max" not in rec
        adam_formula = 0.1 * np.array(rec["m_hat"]) / (np.sqrt(rec["v_hat"]) + 1e-8)
        # What the widget used to show instead differs by far more than rounding (~1e-16 here):
        assert np.max(np.abs(-np.array(rec["delta_theta"]) - adam_formula)) > 1e-6
    a.redraw()
    np.testing.assert_array_equal(a.plotted["delta_theta"], a.history["x"]["delta_theta"])
    assert f"Δθ = {a.history['x']['delta_theta'][-1]:.3g}" in text_of(a.status)
    assert optimizer.__name__ in a.charts.value


def test_adam_explorer_steps_on_a_network_add_up_to_the_weight_change():
    X, y = small_data()
    nnlib.manual_seed(0)
    target = ModelTarget(small_net, nnlib.nn.CrossEntropyLoss(), X, y, batch_size=32)
    a = AdamExplorer(target, optimizer=optim.AdamW, lr=0.01, weight_decay=0.5, amsgrad=True)
    start = {name: float(p.data.reshape(-1)[i]) for name, p, i in target.coordinates}
    a.run(8)
    for name, p, i in target.coordinates:
        assert math.isclose(sum(a.history[name]["delta_theta"]), float(p.data.reshape(-1)[i]) - start[name],
                            rel_tol=1e-6, abs_tol=1e-9)
    with pytest.raises(TypeError, match="optim.Adam or a subclass"):
        AdamExplorer("quadratic", optimizer=optim.SGD)


def test_a_refused_slider_value_shows_the_constructors_message_and_changes_nothing():
    a = AdamExplorer("quadratic", lr=0.1, betas=(0.9, 0.999))
    a.run(3)
    with pytest.raises(ValueError) as from_constructor:
        optim.Adam([nnlib.nn.Parameter(np.zeros(2))], betas=(1.0, 0.999))
    a.beta1.max = 1.0  # a slider whose range reaches a value Adam refuses
    a.beta1.value = 1.0
    assert is_error(a.status) and str(from_constructor.value) in text_of(a.status)
    assert isinstance(a.last_error, ValueError)
    # The slider went back.
    assert a.optimizer.param_groups[0]["betas"] == (0.9, 0.999) and a.beta1.value == 0.9
    a.step()  # the optimizer runs on with the values it had
    assert a.history["t"] == [1, 2, 3, 4] and not is_error(a.status)
    a.beta1.value = 0.5  # an accepted value reaches the running optimizer
    assert a.optimizer.param_groups[0]["betas"] == (0.5, 0.999)


# --- optimizer race ----------------------------------------------------------------------------
def test_race_draws_the_true_trajectories_and_arrows():
    race = OptimizerRace("beale", steps=60, lr_scale=1.0, momentum=0.8)
    assert list(race.trajectories) == list(OPTIMIZERS)
    for key, tr in race.trajectories.items():
        lr = DEFAULT_LR["beale"][key]
        expected = trajectory("beale", lambda ps, key=key: OPTIMIZERS[key].make(ps, lr, 0.8), 60)
        np.testing.assert_array_equal(race.plotted["paths"][key], expected.points)
        point, descent, velocity = race.plotted["arrows"][key]
        np.testing.assert_array_equal(descent, -expected.gradients[-1])
        if key in ("momentum", "nesterov"):
            # After the last step.
            np.testing.assert_array_equal(velocity, -expected.states[-1]["momentum_buffer"])
        if key == "adam":
            np.testing.assert_array_equal(velocity, -expected.states[-1]["exp_avg"])
        if key == "sgd":
            assert velocity is None
    assert "<animate" in race.charts.value  # the final frame replays itself in the static book


def test_race_controls():
    race = OptimizerRace("quadratic", steps=20, racers=["sgd", "adam"], playback_seconds=0.05,
                         min_interval=0.0)
    assert set(race.trajectories) == {"sgd", "adam"}
    race.enabled["rmsprop"].value = True
    race.surface.value = "saddle"
    race.lr_scale.value = 2.0
    race.run_button.click()  # animated replay, then the final frame
    assert set(race.trajectories) == {"sgd", "adam", "rmsprop"}
    assert race.redraws >= 2
    lr = DEFAULT_LR["saddle"]["sgd"] * 2.0
    np.testing.assert_array_equal(race.plotted["paths"]["sgd"],
                                  trajectory("saddle", lambda ps: optim.SGD(ps, lr=lr), 20).points)
    with pytest.raises(ValueError, match="unknown optimizers"):
        OptimizerRace(racers=["LBFGS"])
    # A label is not an id.
    with pytest.raises(ValueError, match=r"unknown optimizers \['动量'\]; expected ids"):
        OptimizerRace(racers=["动量"])


def test_race_marks_divergence_and_draws_only_finite_points():
    race = OptimizerRace("rosenbrock", steps=100, lr_scale=10.0, racers=["sgd", "adam"])
    assert race.trajectories["sgd"].diverged
    assert np.all(np.isfinite(race.plotted["paths"]["sgd"]))
    assert "发散" in race.status.value


# --- one table of optimizers -----------------------------------------------------------------------
def test_race_and_dashboard_take_labels_and_optimizers_from_the_one_table(monkeypatch):
    """Relabel every entry and count the calls of its make: both widgets show the new labels and
    build through the table (a widget with its own labels or lambdas fails here)."""
    built = []
    for key, entry in list(OPTIMIZERS.items()):
        def make(params, lr, momentum=0.9, key=key, original=entry.make):
            built.append(key)
            return original(params, lr, momentum)
        monkeypatch.setitem(OPTIMIZERS, key, dataclasses.replace(entry, label=f"〔{key}〕", make=make))
    race = OptimizerRace("quadratic", steps=10)
    assert list(race.enabled) == list(OPTIMIZERS)
    assert [box.description for box in race.enabled.values()] == [f"〔{k}〕" for k in OPTIMIZERS]
    assert sorted(built) == sorted(OPTIMIZERS)
    assert all(f"〔{k}〕" in text_of(race.status) and f"〔{k}〕" in race.charts.value for k in OPTIMIZERS)
    built.clear()
    d = GradientFlowDashboard(small_data(), depth=1, width=4, optimizer="nesterov")
    assert d.optimizer_name.options == tuple((f"〔{k}〕", k) for k in OPTIMIZERS)
    assert built == ["nesterov"] and d.optimizer.param_groups[0]["nesterov"]
    d.optimizer_name.value = "rmsprop"
    assert built == ["nesterov", "rmsprop"] and isinstance(d.optimizer, optim.RMSprop)
    with pytest.raises(ValueError, match="unknown optimizers"):
        GradientFlowDashboard(small_data(), optimizer="Adam")  # a label, not the id "adam"


def test_the_table_is_keyed_by_ids_and_the_race_tunes_every_entry():
    assert list(OPTIMIZERS) == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
    assert all(re.fullmatch(r"[a-z]+", key) for key in OPTIMIZERS)
    assert len({entry.label for entry in OPTIMIZERS.values()}) == len(OPTIMIZERS)
    for surface, rates in DEFAULT_LR.items():
        assert list(rates) == list(OPTIMIZERS), surface
    for key, entry in OPTIMIZERS.items():  # the velocity a race arrow shows is a real state entry
        opt = entry.make([nnlib.nn.Parameter(np.ones(2))], 0.1)
        opt.param_groups[0]["params"][0].grad = np.ones(2)
        opt.step()
        if entry.velocity_key:
            assert entry.velocity_key in next(iter(opt.state.values())), key


def test_widget_modules_share_code_only_through_live_svg_and_the_table():
    """A widget module imports no other widget module: drawing helpers live in svg.py."""
    shared = {"live", "svg", "optimizers"}
    folder = Path(nnlib.widgets.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1]
        siblings = {node.module for node in relative if node.module}
        siblings |= {alias.name for node in relative if node.module is None for alias in node.names}
        assert siblings <= shared, (path.name, siblings - shared)


# --- the SVG helpers -------------------------------------------------------------------------------
@pytest.mark.parametrize("lo,hi", [(0, 1), (-3.2, 17.9), (1e-4, 3e-4), (5, 5)])
def test_nice_ticks_cover_the_range_with_round_steps(lo, hi):
    ticks = svg.nice_ticks(lo, hi)
    assert ticks and all(lo - 1e-12 <= t <= hi + 1e-12 for t in ticks)
    if len(ticks) > 1:
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))


def test_polyline_breaks_at_non_finite_points():
    frame = svg.Frame(200, 100, (0, 4), (0, 4))
    out = svg.polyline(frame, [0, 1, 2, 3, 4], [1, 2, np.nan, 3, np.inf], "black")
    assert out.count("<polyline") == 2


def test_ids_are_unique_across_charts():
    a = svg.line_chart({"a": ([0, 1], [0, 1])})
    b = svg.line_chart({"a": ([0, 1], [0, 1])})
    assert set(re.findall(r"id='([^']+)'", a)).isdisjoint(re.findall(r"id='([^']+)'", b))


@pytest.mark.parametrize("lo,hi", [(-7.2, 0.3), (-0.3, 0.2), (0.01, 0.05), (-3.0, -2.9)])
def test_log_ticks_give_at_least_two_labels_inside_the_range(lo, hi):
    ticks = svg.log_ticks(lo, hi)
    assert len(ticks) >= 2
    assert all(lo - 1e-9 <= math.log10(v) <= hi + 1e-9 for v, _ in ticks)


def test_long_series_are_thinned_but_keep_their_extremes():
    frame = svg.Frame(400, 200, (0, 9999), (-5, 5))
    ys = np.zeros(10000)
    ys[5000] = 4.0  # one spike
    out = svg.polyline(frame, np.arange(10000), ys, "black")
    points = out.split("points='")[1].split("'")[0].split()
    assert len(points) <= 2 * (400 - frame.left - frame.right) + 2
    assert min(float(p.split(",")[1]) for p in points) == pytest.approx(float(frame.y(4.0)), abs=0.1)
    path = svg.polyline(frame, np.linspace(0, 9999, 5000), np.sin(np.arange(5000)), "black", path=True)
    last = path.split("points='")[1].split("'")[0].split()[-1]
    assert last == f"{float(frame.x(9999)):.1f},{float(frame.y(np.sin(4999))):.1f}"



# --- callbacks: errors are shown, interrupts stop cleanly, the last state is drawn ----------------
def learnable_data(n=192, features=6, classes=3, seed=0):
    """Labels a network can learn: the index of the largest of the first three features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)).astype(np.float32)
    return X, np.argmax(X[:, :classes], axis=1).astype(np.int64)


def all_widgets():
    return [GradientFlowDashboard(small_data(), depth=2, width=8), AdamExplorer("quadratic"),
            OptimizerRace("quadratic", steps=20), ConvExplorer("digit")]


def controls(widget):
    found = []

    def walk(w):
        found.append(w)
        for child in getattr(w, "children", ()):
            walk(child)

    walk(widget.view)
    return found


def text_of(status):
    return html.unescape(re.sub(r"<[^>]+>", "", status.value))


def is_error(status):
    return "color:#b00020" in status.value


@pytest.mark.parametrize("index", range(4), ids=["dashboard", "adam", "race", "conv"])
def test_every_callback_runs_under_the_guard(index):
    """ipywidgets drops what a callback raises; each one the widgets register is wrapped."""
    widget = all_widgets()[index]
    registered = 0
    for control in controls(widget):
        callbacks = list(control._click_handlers.callbacks) if isinstance(control, W.Button) else []
        for notifiers in control._trait_notifiers.values():  # observers (ipywidgets' own are ObserveHandlers)
            callbacks += [c for c in notifiers.get("change", []) if type(c).__name__ != "ObserveHandler"]
        for callback in callbacks:
            where = f"{type(control).__name__} {control.description!r}: {callback}"
            assert getattr(callback, "guarded", False), where
            registered += 1
    assert registered >= 1


def test_race_momentum_cannot_reach_zero_and_errors_show_in_the_status(monkeypatch):
    race = OptimizerRace("quadratic", steps=20, playback_seconds=0.01, min_interval=0.0)
    assert race.momentum.min > 0  # Nesterov needs μ > 0
    race.momentum.value = 0.0  # what dragging the slider to its left end does: clamped to the minimum
    race.run_button.click()
    assert "nesterov" in race.trajectories and not is_error(race.status)
    with pytest.raises(ValueError, match="momentum must be between"):
        OptimizerRace(momentum=0.0)
    # Any error in a handler reaches the status line; the last picture stays.
    before = race.charts.value

    def broken(*args, **kwargs):
        raise RuntimeError("surface gradient failed")

    monkeypatch.setattr("nnlib.widgets.race.trajectory", broken)
    race.run_button.click()
    assert is_error(race.status) and "RuntimeError" in text_of(race.status)
    assert "surface gradient failed" in text_of(race.status)
    assert isinstance(race.last_error, RuntimeError) and race.charts.value == before


def test_dashboard_and_explorer_show_handler_errors(monkeypatch):
    d = GradientFlowDashboard(small_data(), depth=2, width=8, steps=3)
    monkeypatch.setattr(d, "_step", lambda guard: (_ for _ in ()).throw(MemoryError("out of memory")))
    d.train_button.click()
    assert is_error(d.status) and "MemoryError" in text_of(d.status) and "out of memory" in text_of(d.status)
    assert not d._training
    a = AdamExplorer("quadratic")
    monkeypatch.setattr(a.target, "compute_gradients", lambda: 1 / 0)
    a.step_button.click()
    assert is_error(a.status) and "ZeroDivisionError" in text_of(a.status)
    assert a.history["t"] == []
    e = ConvExplorer(np.ones((5, 5)), kernel="custom", custom="1 0\n0 1")
    e.custom.value = "\n".join(["1 1 1 1 1 1 1"] * 7)  # larger than the image
    assert is_error(e.status) and "比补零后的图像" in text_of(e.status) and "<" not in text_of(e.status)
    with pytest.raises(ValueError, match="每行的数字个数"):  # from code, a bad kernel raises
        ConvExplorer(np.ones((5, 5)), kernel="custom", custom="1 2\n3")


def interrupt_on_call(n, result=None):
    """A function that returns ``result`` ``n - 1`` times and raises KeyboardInterrupt on call ``n``."""
    calls = []

    def f(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return result(*args, **kwargs) if callable(result) else result

    return f


def test_keyboard_interrupt_stops_a_long_run_and_draws_where_it_stopped(monkeypatch):
    d = GradientFlowDashboard(small_data(), depth=2, width=8, steps=1000, min_interval=3600)
    monkeypatch.setattr(d, "_step", interrupt_on_call(6, d._step))
    d.train_button.click()  # must return (not raise), after 5 steps
    assert len(d.history["step"]) == 5 and len(d.plotted["loss"]) == 5
    assert all(len(v) == 5 for v in d.history["grad_norm"].values())
    assert "已中断" in text_of(d.status) and "走了 5 步（共 1000 步）" in text_of(d.status)
    a = AdamExplorer("quadratic", min_interval=3600)
    a.n_steps.value = 1000
    monkeypatch.setattr(a.target, "compute_gradients", interrupt_on_call(4, a.target.compute_gradients))
    a.run_button.click()
    assert a.history["t"] == [1, 2, 3] and list(a.plotted["t"]) == [1, 2, 3]
    assert len(a.history["x"]["m"]) == 3 and "已中断" in text_of(a.status)
    race = OptimizerRace("quadratic", steps=20, playback_seconds=60, min_interval=3600)
    monkeypatch.setattr("nnlib.widgets.race.time.sleep", interrupt_on_call(1))
    race.run_button.click()  # the replay stops; the final frame is drawn
    assert all(len(p) == 21 for p in race.plotted["paths"].values())
    # An interrupt outside a loop ends the callback with "已中断", nothing escapes.
    monkeypatch.setattr(a.target, "reset", interrupt_on_call(1))
    a.reset_button.click()
    assert text_of(a.status) == "已中断" and not is_error(a.status)


def test_a_step_the_reader_asked_for_is_always_drawn():
    a = AdamExplorer("quadratic", min_interval=3600)  # two quick clicks: within the redraw interval
    a.step_button.click()
    a.step_button.click()
    assert list(a.plotted["t"]) == [1, 2] and text_of(a.status).startswith("t = 2，")
    a.n_steps.value = 7
    a.run_button.click()
    assert len(a.plotted["t"]) == 9 and text_of(a.status).startswith("t = 9，")
    d = GradientFlowDashboard(small_data(), depth=2, width=8, steps=1, min_interval=3600)
    d.train_button.click()
    d.train_button.click()
    assert len(d.plotted["loss"]) == 2 and "第 2 步" in text_of(d.status)
    race = OptimizerRace("quadratic", steps=20, playback_seconds=0.01, min_interval=3600)
    race.steps.value = 40
    race.run_button.click()
    assert all(len(p) == 41 for p in race.plotted["paths"].values())


def test_starting_values_outside_a_slider_are_refused():
    with pytest.raises(ValueError, match="lr must be between 0.0001 and 1"):
        AdamExplorer("quadratic", lr=3.0)
    with pytest.raises(ValueError, match=r"betas\[1\] must be between"):
        AdamExplorer("quadratic", betas=(0.9, 0.5))
    with pytest.raises(ValueError, match="depth must be between 1 and 20"):
        GradientFlowDashboard(small_data(), depth=30)
    with pytest.raises(ValueError, match="steps must be between 10 and 2000"):
        OptimizerRace(steps=5000)
    with pytest.raises(ValueError, match="stride must be between 1 and 4"):
        ConvExplorer("digit", stride=0)


# --- the vanishing-gradient verdict ---------------------------------------------------------------
def test_status_says_when_the_loss_does_not_move_because_gradients_vanish():
    d = GradientFlowDashboard(learnable_data(), depth=8, width=8, activation="sigmoid", init="pytorch",
                              batch_size=32, steps=50)
    d.train(50)
    assert "损失几乎没有下降" not in text_of(d.status)  # too early to tell
    d.train_button.click()
    d.train_button.click()
    status = text_of(d.status)
    assert ("第 150 步" in status and "损失几乎没有下降" in status
            and "梯度在前几层消失了（见 3.2.5 节）" in status)
    norms = [v[-20:] for v in d.history["grad_norm"].values()]
    ratio = np.median(norms[0]) / np.median(norms[-1])
    assert f"第1层的梯度范数只有第9层的 {ratio:.0e}" in status
    # ReLU + He on the same data learns: no verdict.
    d = GradientFlowDashboard(learnable_data(), depth=8, width=8, activation="relu", init="he", batch_size=32)
    d.train(100)
    assert d.history["loss"][-1] < 0.7 * d.history["loss"][0] and "损失几乎没有下降" not in text_of(d.status)


def test_stall_verdict_comes_from_the_measured_numbers():
    """Not from the configuration: a ReLU network's history made flat with tiny first-layer
    gradients gets the vanishing verdict; flat with level gradients gets the other one."""
    d = GradientFlowDashboard(small_data(), depth=2, width=8, activation="relu", init="he")
    n = d.STALL_STEPS
    d.history = {"step": list(range(n)), "loss": [1.1] * n,
                 "grad_norm": {"0": [1e-9] * n, "2": [1e-4] * n, "4": [1.0] * n}}
    assert "梯度在前几层消失了" in d.stall_note() and "1e-09" in d.stall_note()
    d.history["grad_norm"]["0"] = [0.5] * n
    assert "梯度并没有消失" in d.stall_note() and "0.5" in d.stall_note()
    d.history["loss"] = list(np.linspace(1.1, 0.9, n))  # a 15 % drop: learning
    assert d.stall_note() == ""
    d.history = {k: (v[:-1] if k != "grad_norm" else {a: b[:-1] for a, b in v.items()})
                 for k, v in d.history.items()}
    d.history["loss"] = [1.1] * (n - 1)
    assert d.stall_note() == ""  # fewer than STALL_STEPS steps: no verdict yet


# --- charts: labels, ticks, room --------------------------------------------------------------------
def text_boxes(svg_text):
    """(x0, y0, x1, y1, text) of every <text> element, its width estimated generously: 1 em per
    CJK or full-width character, 0.62 em for others."""
    width_of = lambda t, size: sum(size * (1.0 if ord(ch) >= 0x2E80 else 0.62) for ch in t)  # noqa: E731
    boxes = []
    for attrs, content in re.findall(r"<text([^>]*)>([^<]*)</text>", svg_text):
        a = dict(re.findall(r"([\w-]+)='([^']*)'", attrs))
        x, y, size = float(a["x"]), float(a["y"]), float(a["font-size"])
        text = html.unescape(content)
        w = width_of(text, size)
        x0 = {"start": x, "middle": x - w / 2, "end": x - w}[a.get("text-anchor", "start")]
        box = (x0, y - size, x0 + w, y + 0.25 * size)
        if "rotate(-90" in a.get("transform", ""):  # rotated about (x, y): horizontal extent becomes vertical
            box = (x - size, y - (box[2] - box[0]) / 2, x + 0.25 * size, y + (box[2] - box[0]) / 2)
        boxes.append((*box, text))
    return boxes


def svgs(html_text):
    return re.findall(r"<svg.*?</svg>", html_text, flags=re.S)


def assert_texts_inside(svg_text):
    width, height = map(float, re.search(r"viewBox='0 0 ([\d.]+) ([\d.]+)'", svg_text).groups())
    for x0, y0, x1, y1, text in text_boxes(svg_text):
        assert x0 >= 0 and x1 <= width and y0 >= 0 and y1 <= height, (text, (x0, y0, x1, y1), (width, height))


def tick_labels(svg_text):
    return [t for *_, t in text_boxes(svg_text) if re.fullmatch(r"[-\d.e+k]+", t)]


def test_step_axis_labels_stay_plain_numbers_past_1000():
    for n in (1200, 1500, 25000):
        chart = svg.line_chart({"损失": (np.arange(n), np.ones(n))}, show_legend=False)
        labels = tick_labels(chart)
        assert not any("e" in t for t in labels), labels
    assert "1000" in tick_labels(svg.line_chart({"a": (np.arange(1501), np.ones(1501))}))
    assert ([svg.fmt(v) for v in (1000, 1500, 20000, 0.25, 0.0015, 2e-5)]
            == ["1000", "1500", "20k", "0.25", "0.0015", "2e-05"])


def test_log_axis_has_a_tick_at_the_top_decade_of_the_bias_correction():
    a = AdamExplorer("quadratic", lr=0.1, min_interval=3600)
    a.run(60)
    bias_chart = svgs(a.charts.value)[2]
    assert "偏差修正因子" in bias_chart
    labels = tick_labels(bias_chart)
    assert "1e3" in labels and "1e0" in labels  # 1/(1 − 0.999) = 999.99…, and → 1 at the end
    assert svg.log_ticks(0.0, math.log10(1 / (1 - 0.999)))[-1][1] == "1e3"


def test_histogram_leaves_room_beside_its_outermost_bins():
    rng = np.random.default_rng(0)
    chart, (counts, edges) = svg.histogram([rng.normal(-10, 1, 500), rng.normal(-3, 0.3, 500)],
                                           labels=["a", "b"])
    frame_right = float(re.search(r"<rect x='([\d.]+)' y='[\d.]+' width='([\d.]+)'", chart).group(1)) + \
        float(re.search(r"<rect x='[\d.]+' y='[\d.]+' width='([\d.]+)'", chart).group(1))
    frame_left = float(re.search(r"<rect x='([\d.]+)'", chart).group(1))
    for points in re.findall(r"points='([^']*)'", chart):
        xy = np.array([[float(v) for v in p.split(",")] for p in points.split()])
        assert frame_left + 5 < xy[:, 0].min() and xy[:, 0].max() < frame_right - 5  # not on the frame
        assert xy[0, 1] == xy[-1, 1]  # the outline starts and ends at count 0
    assert sum(c.sum() for c in counts) == 1000


def test_every_chart_label_lies_inside_its_svg():
    d = GradientFlowDashboard(small_data(), depth=3, width=8, activation="tanh", init="xavier",
                              min_interval=3600)
    d.train(30)
    a = AdamExplorer("rosenbrock", min_interval=3600)
    a.run(30)
    X, y = small_data()
    target = ModelTarget(lambda: small_net(64), nnlib.nn.CrossEntropyLoss(), X, y)
    net = AdamExplorer(target, min_interval=3600)
    net.run(10)
    race = OptimizerRace("saddle", steps=50)
    charts = [c for w in (d, a, net, race) for c in svgs(w.charts.value)]
    charts.append(svg.line_chart({"a": (np.arange(30000), np.linspace(-1e4, 3e4, 30000))}))
    assert len(charts) == 3 + 5 + 4 + 1 + 1
    for chart in charts:
        assert_texts_inside(chart)


def test_dropdowns_are_wide_enough_for_their_longest_option():
    """ipywidgets' CSS: the label (description_width) + 8 px, then the select with 8 px of padding on
    the left and a 20 px arrow on the right; 13 px text. Estimated generously: 13 px per CJK
    character, 8.1 px per other one."""
    for widget in all_widgets():
        for control in controls(widget):
            if not isinstance(control, W.Dropdown) or not control.options:
                continue
            width = float((control.layout.width or "300px").rstrip("px"))
            room = width - float(control.style.description_width.rstrip("px")) - 8 - 8 - 20 - 2
            for label, _ in (o if isinstance(o, tuple) else (str(o), o) for o in control.options):
                needed = sum(13 if ord(ch) >= 0x2E80 else 8.1 for ch in label)
                assert needed <= room, (control.description, label, needed, room)


def test_the_widgets_default_images_and_data_are_sklearns_read_without_importing_it():
    from nnlib.widgets.gradient_flow import load_digits_data

    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    x, y = load_digits_data()
    digits = sklearn_datasets.load_digits()
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, (digits.data / 16.0).astype(np.float32))
    np.testing.assert_array_equal(y, digits.target)
    from nnlib.widgets.conv_explorer import sample_image

    np.testing.assert_array_equal(sample_image("digit"), np.kron(digits.images[0] / 16.0, np.ones((4, 4))))
    from nnlib.widgets.conv_explorer import _china_photo

    np.testing.assert_array_equal(_china_photo(), sklearn_datasets.load_sample_image("china.jpg"))
    # In a fresh interpreter: this test process has imported scikit-learn by now.
    out = run_python("import sys; from nnlib.widgets.gradient_flow import load_digits_data; "
                     "from nnlib.widgets.conv_explorer import sample_image; "
                     "load_digits_data(); sample_image('digit'); sample_image('china'); "
                     "print('sklearn' in sys.modules)")
    assert out.strip() == "False"

