"""nnlib.timeseries: windows and walk-forward splits against hand cases and the no-look-ahead
rule, the regime-switching generator, the baselines, and GRUForecaster (gradcheck, and parity
with torch.nn.GRU + torch.nn.Linear carrying the same weights)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn, optim
from nnlib import timeseries as ts
from nnlib.errors import DTypeError, ShapeError

THREE_REGIMES = dict(transition=[[0.98, 0.015, 0.005], [0.015, 0.98, 0.005], [0.03, 0.03, 0.94]],
                     mean=[0.05, 0.0, -0.2], ar=[0.5, -0.5, 0.0], scale=[1.0, 1.0, 2.5])


# --- sliding_windows ---------------------------------------------------------------------------
def test_sliding_windows_hand_case():
    inputs, targets = ts.sliding_windows(np.arange(7), input_len=3, horizon=2)
    np.testing.assert_array_equal(inputs, [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    np.testing.assert_array_equal(targets, [[3, 4], [4, 5], [5, 6]])
    assert inputs.dtype == targets.dtype == np.float64


def test_sliding_windows_multichannel_layout():
    series = np.arange(20.0).reshape(10, 2)                  # (T, C): channel c of step t = 2t + c
    inputs, targets = ts.sliding_windows(series, 4, 3)
    assert inputs.shape == (4, 4, 2) and targets.shape == (4, 3, 2)
    np.testing.assert_array_equal(inputs[1], series[1:5])
    np.testing.assert_array_equal(targets[1], series[5:8])


def test_sliding_windows_are_writable_copies():
    series = np.arange(6.0)
    inputs, targets = ts.sliding_windows(series, 2)
    inputs -= 1.0                                              # a view would be read-only
    targets[0] = 99.0
    np.testing.assert_array_equal(series, np.arange(6.0))
    assert inputs[1, 0] == 0.0 and targets[1, 0] == 3.0      # neighbours do not share memory


def test_sliding_windows_exact_length_gives_one_window():
    inputs, targets = ts.sliding_windows([1.0, 2.0, 3.0], 2, 1)
    assert inputs.shape == (1, 2) and targets.tolist() == [[3.0]]


def test_sliding_windows_errors():
    with pytest.raises(ShapeError, match="expected at least 5 steps"):
        ts.sliding_windows(np.arange(4.0), 3, 2)
    with pytest.raises(ShapeError, match="1-D or 2-D, got shape"):
        ts.sliding_windows(np.zeros((3, 2, 2)), 1)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="input_len must be a positive integer"):
            ts.sliding_windows(np.arange(9.0), bad)
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        ts.sliding_windows(np.arange(9.0), 2, horizon=0)
    with pytest.raises(DTypeError, match="real numbers"):
        ts.sliding_windows(np.array(["a", "b", "c"]), 1)
    torch = pytest.importorskip("torch")
    with pytest.raises(DTypeError, match="nnlib.to_numpy"):
        ts.sliding_windows(torch.arange(9.0), 2)


# --- walk_forward_splits -----------------------------------------------------------------------
def test_walk_forward_hand_cases():
    splits = list(ts.walk_forward_splits(20, 3, 4, horizon=3))
    assert splits == [(range(0, 6), range(8, 12)), (range(0, 10), range(12, 16)),
                      (range(0, 14), range(16, 20))]
    rolling = list(ts.walk_forward_splits(20, 3, 4, max_train_size=5))
    assert rolling == [(range(3, 8), range(8, 12)), (range(7, 12), range(12, 16)),
                       (range(11, 16), range(16, 20))]
    # A short first fold: the rolling window cannot reach back past sample 0.
    assert list(ts.walk_forward_splits(6, 2, 2, max_train_size=5))[0] == (range(0, 2), range(2, 4))


@settings(max_examples=200, deadline=None)
@given(n_folds=st.integers(1, 6), test_size=st.integers(1, 9), horizon=st.integers(1, 6),
       input_len=st.integers(1, 5), first_train=st.integers(1, 30),
       max_train=st.one_of(st.none(), st.integers(1, 40)))
def test_walk_forward_never_trains_on_the_future(n_folds, test_size, horizon, input_len, first_train,
                                                 max_train):
    n = first_train + n_folds * test_size + horizon - 1
    series = np.arange(float(n + input_len + horizon - 1))  # values = time stamps
    _, targets = ts.sliding_windows(series, input_len, horizon)
    assert len(targets) == n
    splits = list(ts.walk_forward_splits(n, n_folds, test_size, horizon=horizon, max_train_size=max_train))
    assert len(splits) == n_folds
    previous_test_stop = n - n_folds * test_size
    for train, test in splits:
        assert len(test) == test_size and test.start == previous_test_stop  # consecutive blocks
        previous_test_stop = test.stop
        assert len(train) >= 1 and train.start >= 0
        assert max(train) + horizon <= min(test)                          # the purge
        assert train.stop == test.start - (horizon - 1)                  # and not one sample more
        if max_train is None:
            assert train.start == 0
        else:
            assert len(train) == min(max_train, train.stop)
        # The times the training targets cover all come before every time a test target covers.
        assert targets[train.start:train.stop].max() < targets[test.start:test.stop].min()
    assert previous_test_stop == n


def test_walk_forward_checks_arguments_when_called():
    with pytest.raises(ValueError, match=r"expected more than n_folds·test_size \+ horizon − 1 = 12"):
        ts.walk_forward_splits(12, 3, 4)                      # raised here, not at the first next()
    with pytest.raises(ValueError, match="= 14"):
        ts.walk_forward_splits(14, 3, 4, horizon=3)
    assert len(list(ts.walk_forward_splits(15, 3, 4, horizon=3))) == 3
    with pytest.raises(ValueError, match="n_folds must be a positive integer, got 0"):
        ts.walk_forward_splits(20, 0, 4)
    with pytest.raises(ValueError, match="max_train_size must be a positive integer"):
        ts.walk_forward_splits(20, 2, 4, max_train_size=0)
    with pytest.raises(ValueError, match="test_size must be a positive integer"):
        ts.walk_forward_splits(20, 2, 4.0)


# --- RegimeSwitchingReturns --------------------------------------------------------------------
def test_generator_is_deterministic():
    process = ts.RegimeSwitchingReturns(**THREE_REGIMES)
    r1, s1 = process.sample(500, seed=3)
    r2, s2 = process.sample(500, seed=3)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(s1, s2)
    r3, _ = process.sample(500, seed=4)
    assert not np.array_equal(r1, r3)
    assert r1.dtype == np.float64 and s1.dtype == np.int64 and r1.shape == s1.shape == (500,)


def test_one_regime_is_the_ar1_recursion_of_the_same_draws():
    process = ts.RegimeSwitchingReturns([[1.0]], mean=[0.3], ar=[-0.4], scale=[2.0])
    returns, regimes = process.sample(50, seed=7)
    rng = np.random.default_rng(7)
    rng.random(50)                                           # the regime draws come first
    eps = rng.standard_normal(50)
    expected, previous = [], 0.0
    for e in eps:
        previous = 0.3 - 0.4 * previous + 2.0 * e
        expected.append(previous)
    np.testing.assert_allclose(returns, expected, rtol=0, atol=1e-12)
    assert not regimes.any()


def test_a_deterministic_chain_alternates():
    process = ts.RegimeSwitchingReturns([[0.0, 1.0], [1.0, 0.0]], mean=[1.0, -1.0], ar=[0.0, 0.0],
                                        scale=[1e-9, 1e-9])
    returns, regimes = process.sample(9, seed=0)
    assert np.all(np.abs(np.diff(regimes)) == 1)               # 0, 1, 0, 1 … from either start
    np.testing.assert_allclose(returns, np.where(regimes == 0, 1.0, -1.0), atol=1e-6)


def test_regime_shares_and_per_regime_dynamics():
    process = ts.RegimeSwitchingReturns(**THREE_REGIMES)
    pi = process.stationary_distribution()
    np.testing.assert_allclose(pi @ process.transition, pi, atol=1e-12)
    assert math.isclose(pi.sum(), 1.0) and np.all(pi > 0)
    returns, regimes = process.sample(60_000, seed=0)
    shares = np.bincount(regimes, minlength=3) / regimes.size
    np.testing.assert_allclose(shares, pi, atol=0.03)
    # Within regime k (and the day before in the same regime), r_t − mean = ar·r_{t−1} + scale·ε.
    for k in range(3):
        stay = (regimes[1:] == k) & (regimes[:-1] == k)
        x, y = returns[:-1][stay], returns[1:][stay]
        slope, intercept = np.polyfit(x, y, 1)
        assert abs(slope - THREE_REGIMES["ar"][k]) < 0.05, (k, slope)
        assert abs(intercept - THREE_REGIMES["mean"][k]) < 0.1, (k, intercept)
        residual = y - slope * x - intercept
        assert abs(residual.std() / THREE_REGIMES["scale"][k] - 1) < 0.05, k


def test_conditional_mean_by_hand():
    process = ts.RegimeSwitchingReturns(**THREE_REGIMES)
    returns, regimes = np.array([1.0, -2.0, 0.5]), np.array([0, 1, 2])
    got = process.conditional_mean(returns, regimes)
    p, mean, ar = (np.array(THREE_REGIMES[k], dtype=float) for k in ("transition", "mean", "ar"))
    expected = [sum(p[s, j] * (mean[j] + ar[j] * r) for j in range(3)) for r, s in zip(returns, regimes)]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    with pytest.raises(ShapeError, match="integers shaped like returns"):
        process.conditional_mean(returns, regimes[:2])
    with pytest.raises(ValueError, match=r"lie in \[0, 2\], got values from 0 to 3"):
        process.conditional_mean(returns, np.array([0, 1, 3]))


def test_generator_errors():
    good = THREE_REGIMES
    with pytest.raises(ShapeError, match="square"):
        ts.RegimeSwitchingReturns([[0.5, 0.5]], [0.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="summing to 1, got row sums"):
        ts.RegimeSwitchingReturns([[0.9, 0.2], [0.5, 0.5]], [0, 0], [0, 0], [1, 1])
    with pytest.raises(ValueError, match="summing to 1"):
        ts.RegimeSwitchingReturns([[1.5, -0.5], [0.5, 0.5]], [0, 0], [0, 0], [1, 1])
    with pytest.raises(ShapeError, match=r"mean must have one entry per regime, shape \(3,\), got \(2,\)"):
        ts.RegimeSwitchingReturns(good["transition"], [0, 0], good["ar"], good["scale"])
    with pytest.raises(ValueError, match=r"\|ar\| < 1"):
        ts.RegimeSwitchingReturns(good["transition"], good["mean"], [0.5, -1.0, 0.0], good["scale"])
    with pytest.raises(ValueError, match="scale must be positive"):
        ts.RegimeSwitchingReturns(good["transition"], good["mean"], good["ar"], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ts.RegimeSwitchingReturns(**good).sample(0)


# --- baselines ---------------------------------------------------------------------------------
def test_naive_and_moving_average_by_hand():
    windows = np.array([[1.0, 2.0, 6.0], [4.0, 0.0, -1.0]])
    np.testing.assert_array_equal(ts.naive_forecast(windows, horizon=2), [[6, 6], [-1, -1]])
    np.testing.assert_array_equal(ts.moving_average_forecast(windows, 2), [[4.0], [-0.5]])
    np.testing.assert_array_equal(ts.moving_average_forecast(windows, 3, horizon=2), [[3, 3], [1, 1]])
    with pytest.raises(ValueError, match="at most the window length 3, got 4"):
        ts.moving_average_forecast(windows, 4)
    with pytest.raises(ShapeError, match=r"\(M, L\)"):
        ts.naive_forecast(np.zeros((0, 3)))
    with pytest.raises(ShapeError, match="2-D, got shape"):
        ts.naive_forecast(np.zeros(3))


def test_autoregressive_recovers_exact_coefficients_and_iterates():
    rng = np.random.default_rng(1)
    x = np.empty(300)
    x[:2] = rng.standard_normal(2)
    noise = rng.standard_normal(300)
    for t in range(2, 300):
        x[t] = 0.5 + 0.6 * x[t - 1] - 0.2 * x[t - 2] + (noise[t] if t < 200 else 0.0)
    windows, targets = ts.sliding_windows(x[200:], 5, 1)     # the noise-free stretch: exact fit
    model = ts.AutoRegressive(2).fit(windows, targets)
    np.testing.assert_allclose(model.coef_, [0.6, -0.2], atol=1e-10)
    assert math.isclose(model.intercept_, 0.5, abs_tol=1e-10)
    # Three steps ahead = the recursion fed with its own forecasts.
    w = windows[:4]
    got = model.predict(w, horizon=3)
    for row, out in zip(w, got):
        a, b = row[-2], row[-1]
        for k in range(3):
            a, b = b, 0.5 + 0.6 * b - 0.2 * a
            assert math.isclose(out[k], b, rel_tol=1e-9, abs_tol=1e-12)
    # With noise, least squares = the normal equations.
    windows, targets = ts.sliding_windows(x[:200], 4, 1)
    model = ts.AutoRegressive(3).fit(windows, targets[:, 0])
    design = np.hstack([np.ones((len(windows), 1)), windows[:, ::-1][:, :3]])
    solution = np.linalg.solve(design.T @ design, design.T @ targets[:, 0])
    np.testing.assert_allclose([model.intercept_, *model.coef_], solution, rtol=1e-9)


def test_autoregressive_errors():
    windows, targets = ts.sliding_windows(np.arange(12.0) ** 0.5, 3, 1)
    with pytest.raises(RuntimeError, match="call fit"):
        ts.AutoRegressive(2).predict(windows)
    with pytest.raises(ShapeError, match="shorter than order=4"):
        ts.AutoRegressive(4).fit(windows, targets)
    with pytest.raises(ShapeError, match=r"one row per window \(9\), got shape \(8, 1\)"):
        ts.AutoRegressive(2).fit(windows, targets[:-1])
    with pytest.raises(ValueError, match="2 windows cannot determine 3 coefficients"):
        ts.AutoRegressive(2).fit(windows[:2], targets[:2])
    with pytest.raises(ValueError, match="order must be a positive integer"):
        ts.AutoRegressive(0)


def test_nearest_neighbours_by_hand_and_brute_force():
    reference = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0], [1.1, 0.9]])
    idx = ts.nearest_neighbours(reference, np.array([[1.0, 1.0], [4.0, 4.0]]), k=2)
    np.testing.assert_array_equal(idx, [[1, 3], [2, 1]])
    rng = np.random.default_rng(0)
    ref, q = rng.standard_normal((40, 5)), rng.standard_normal((7, 5))
    brute = np.argsort(((q[:, None, :] - ref[None]) ** 2).sum(-1), axis=1)[:, :3]
    np.testing.assert_array_equal(ts.nearest_neighbours(ref, q, 3), brute)
    np.testing.assert_array_equal(ts.nearest_neighbours(ref, q, 40), np.argsort(
        ((q[:, None, :] - ref[None]) ** 2).sum(-1), axis=1))          # k = all: a full sort
    with pytest.raises(ShapeError, match="window length 5"):
        ts.nearest_neighbours(ref, q[:, :4], 3)
    with pytest.raises(ValueError, match="at most the number of reference windows 40, got 41"):
        ts.nearest_neighbours(ref, q, 41)


def test_forecast_metrics_by_hand():
    m = ts.forecast_metrics([1.0, -1.0, 2.0, 0.0], [2.0, 1.0, 2.0, -3.0])
    assert math.isclose(m["mae"], (1 + 2 + 0 + 3) / 4)
    assert math.isclose(m["rmse"], math.sqrt((1 + 4 + 0 + 9) / 4))
    assert math.isclose(m["direction"], 2 / 3)               # the 0 forecast has no direction
    assert math.isnan(ts.forecast_metrics(np.zeros(3), [1.0, -1.0, 2.0])["direction"])
    with pytest.raises(ShapeError, match=r"same non-empty shape, got \(3,\) and \(3, 1\)"):
        ts.forecast_metrics(np.zeros(3), np.zeros((3, 1)))


# --- GRUForecaster -----------------------------------------------------------------------------
def _torch_twin(torch, input_size, hidden_size, horizon, num_layers):
    class TorchForecaster(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(input_size, hidden_size, num_layers, batch_first=True)
            self.fc = torch.nn.Linear(hidden_size, horizon)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1, :])
    return TorchForecaster()


@pytest.mark.parametrize("num_layers, horizon", [(1, 1), (2, 3)])
def test_forecaster_matches_torch(device, num_layers, horizon):
    torch = pytest.importorskip("torch")
    tdev = "cpu" if device == "numpy" else device
    torch.manual_seed(0)
    ref = _torch_twin(torch, 2, 5, horizon, num_layers).double().to(tdev)
    model = ts.GRUForecaster(2, 5, horizon, num_layers, dtype="float64").to(device)
    assert list(model.state_dict()) == list(ref.state_dict())
    model.load_state_dict(ref.state_dict())
    rng = np.random.default_rng(num_layers)
    x = rng.standard_normal((4, 7, 2))
    g = rng.standard_normal((4, horizon))
    tx = torch.tensor(x, device=tdev, requires_grad=True)
    t_out = ref(tx)
    (t_out * torch.tensor(g, device=tdev)).sum().backward()
    out = model(nnlib.to_device(x, device))
    grad_x = model.backward(nnlib.to_device(g, device))
    assert nnlib.device_of(out) == device and tuple(out.shape) == (4, horizon)
    np.testing.assert_allclose(nnlib.to_numpy(out), t_out.detach().cpu().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nnlib.to_numpy(grad_x), tx.grad.cpu().numpy(), rtol=1e-10, atol=1e-12)
    ours = dict(model.named_parameters())
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(nnlib.to_numpy(ours[name].grad), p.grad.cpu().numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)


def test_forecaster_gradcheck(device):
    nnlib.manual_seed(1)
    model = ts.GRUForecaster(2, 3, horizon=2, dtype="float64").to(device)
    x = nnlib.to_device(np.random.default_rng(1).standard_normal((3, 4, 2)), device)
    table = gc.gradcheck(model, (x,), rtol=1e-6, atol=1e-8)
    assert {"input", "rnn.weight_hh_l0", "fc.bias"} <= {row[0] for row in table.rows}


def test_forecaster_with_mse_loss_trains_on_an_ar1_series():
    """A few Adam steps on x_{t+1} = 0.8 x_t + noise bring the forecaster near the best possible MSE."""
    rng = np.random.default_rng(0)
    x = np.zeros(600)
    for t in range(1, 600):
        x[t] = 0.8 * x[t - 1] + 0.5 * rng.standard_normal()
    windows, targets = ts.sliding_windows(x, 5, 1)
    inputs = windows[:, :, None].astype(np.float32)
    targets = targets.astype(np.float32)
    nnlib.manual_seed(0)
    model = ts.GRUForecaster(1, 8)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(list(model.parameters()), lr=0.02)
    for _ in range(150):
        loss = criterion(model(inputs), targets)
        optimizer.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
    assert float(loss) < 0.25 * 1.15                            # noise variance 0.25 is the floor


def test_forecaster_bad_input():
    model = ts.GRUForecaster(1, 4)
    with pytest.raises(ShapeError, match=r"shape \(N, L, 1\), got \(5, 3\)"):
        model(np.zeros((5, 3), np.float32))
    with pytest.raises(ShapeError, match=r"\(N, L, 1\), got list"):
        model([[0.0]])
    with pytest.raises(ShapeError, match=r"\(N, T, 1\)"):
        model(np.zeros((5, 3, 2), np.float32))             # the GRU names the feature size
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        ts.GRUForecaster(1, 4, horizon=0)
    assert "GRU(1, 4, batch_first=True)" in repr(model) and "out_features=1" in repr(model)
