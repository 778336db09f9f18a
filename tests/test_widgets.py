"""The live widgets, driven headlessly: what they plot must be what the training/optimizer did."""

import math

import numpy as np
import pytest

import nnlib
from nnlib import optim
from nnlib.surfaces import Surface, get_surface, trajectory
from nnlib.widgets import AdamExplorer, GradientFlowDashboard, ModelTarget, OptimizerRace, SurfaceTarget, svg
from nnlib.widgets.race import DEFAULT_LR, RACERS

pytest.importorskip("ipywidgets")


def small_data(n=96, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)).astype(np.float32)
    return X, (np.arange(n) % classes).astype(np.int64)


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
    d = GradientFlowDashboard(small_data(), depth=1, width=4, activation="relu", init="he", lr=0.0)
    d.train(1)  # lr = 0: the gradient left in .grad is the one recorded
    first = d.model[0]
    assert math.isclose(d.history["grad_norm"]["0"][0], float(np.linalg.norm(first.weight.grad)), rel_tol=1e-6)


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
    flat = Surface("slope", "slope", lambda p: p[..., 0] * 2.0, lambda p: np.full_like(np.asarray(p, float), 2.0),
                   minimum=(0, 0), start=(0.0, 0.0), xlim=(-1, 1), ylim=(-1, 1))
    a = AdamExplorer(SurfaceTarget(flat), lr=0.01)
    a.run(10)
    rec = a.history["x"]
    assert math.isclose(rec["m"][-1], 2.0 * (1 - 0.9**10))  # only ~65 % of the gradient
    assert math.isclose(rec["m_hat"][-1], 2.0)               # corrected: exactly the gradient
    assert math.isclose(rec["adam_step"][-1], 0.01 * 2.0 / (2.0 + 1e-8))


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
    target = ModelTarget(lambda: nnlib.nn.Sequential(nnlib.nn.Linear(6, 8), nnlib.nn.ReLU(), nnlib.nn.Linear(8, 3)),
                         nnlib.nn.CrossEntropyLoss(), X, y, batch_size=32)
    a = AdamExplorer(target, lr=0.01)
    a.run(5)
    name, param, index = target.coordinates[0]
    assert name.startswith("0.weight[")
    assert a.history[name]["m"][-1] == a.optimizer.state[param]["exp_avg"].reshape(-1)[index]
    assert len(a.history["loss"]) == 5 and "path" not in a.plotted


# --- optimizer race ----------------------------------------------------------------------------
def test_race_draws_the_true_trajectories_and_arrows():
    race = OptimizerRace("beale", steps=60, lr_scale=1.0, momentum=0.8)
    for name, tr in race.trajectories.items():
        lr = DEFAULT_LR["beale"][name]
        expected = trajectory("beale", lambda ps, name=name: RACERS[name](ps, lr, 0.8), 60)
        np.testing.assert_array_equal(race.plotted["paths"][name], expected.points)
        point, descent, velocity = race.plotted["arrows"][name]
        np.testing.assert_array_equal(descent, -expected.gradients[-1])
        if name in ("动量", "Nesterov"):
            np.testing.assert_array_equal(velocity, -expected.states[-1]["momentum_buffer"])  # after the last step
    assert "<animate" in race.charts.value  # the final frame replays itself in the static book


def test_race_controls():
    race = OptimizerRace("quadratic", steps=20, racers=["SGD", "Adam"], playback_seconds=0.05, min_interval=0.0)
    assert set(race.trajectories) == {"SGD", "Adam"}
    race.enabled["RMSProp"].value = True
    race.surface.value = "saddle"
    race.lr_scale.value = 2.0
    race.run_button.click()  # animated replay, then the final frame
    assert set(race.trajectories) == {"SGD", "Adam", "RMSProp"}
    assert race.redraws >= 2
    lr = DEFAULT_LR["saddle"]["SGD"] * 2.0
    np.testing.assert_array_equal(race.plotted["paths"]["SGD"],
                                  trajectory("saddle", lambda ps: optim.SGD(ps, lr=lr), 20).points)
    with pytest.raises(ValueError, match="unknown optimizers"):
        OptimizerRace(racers=["LBFGS"])


def test_race_marks_divergence_and_draws_only_finite_points():
    race = OptimizerRace("rosenbrock", steps=100, lr_scale=10.0, racers=["SGD", "Adam"])
    assert race.trajectories["SGD"].diverged
    assert np.all(np.isfinite(race.plotted["paths"]["SGD"]))
    assert "发散" in race.status.value


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
    import re
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
