"""Time-series forecasting: a regime-switching return generator, sliding windows, walk-forward
splits, the baselines a forecaster must beat, and a GRU forecaster.

A forecast at time t may use x_0 … x_t only. Everything here is built around that rule:

- ``sliding_windows(series, input_len, horizon)`` cuts a series into samples
  (x_{i} … x_{i+L−1}) → (x_{i+L} … x_{i+L+h−1}); sample i is known at time i + L − 1.
- ``walk_forward_splits`` yields (train, test) index ranges of those samples in time order, and
  drops the h − 1 training samples whose targets would reach into the test period, so no
  training target is ever observed after the first test target.
- The baselines (``naive_forecast``, ``moving_average_forecast``, :class:`AutoRegressive`,
  ``nearest_neighbours``) and :class:`GRUForecaster` all read one window and nothing else.

The data functions work on NumPy arrays (time series are prepared on the CPU); the forecaster
is an nnlib module and runs on every backend.
"""

import math

import numpy as np

from . import backend
from .errors import DTypeError, ShapeError
from .nn import GRU, Linear, Module
from .nn.functional import check_positive_int


# --- checks ----------------------------------------------------------------------------------
def _real_array(x, name, who, ndims):
    """``x`` as a float64 NumPy array of one of the ranks ``ndims``, or a clear error."""
    if backend.is_torch_array(x):
        raise DTypeError(f"{who}: {name} must be a NumPy array (time series are prepared on the CPU), "
                         f"got a torch tensor; convert it with nnlib.to_numpy({name})")
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DTypeError(f"{who}: {name} must hold real numbers, got dtype {a.dtype}")
    if a.ndim not in ndims:
        shapes = " or ".join(f"{d}-D" for d in ndims)
        raise ShapeError(f"{who}: {name} must be {shapes}, got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def _check_windows(windows, who, name="windows"):
    w = _real_array(windows, name, who, (2,))
    if w.shape[0] == 0 or w.shape[1] == 0:
        raise ShapeError(f"{who}: {name} must have shape (M, L) with M, L ≥ 1, got {w.shape}")
    return w


# --- data ------------------------------------------------------------------------------------
class RegimeSwitchingReturns:
    """Daily returns from a hidden Markov chain of K regimes, each an AR(1) (after Hamilton, 1989).

    The regime s_t follows a Markov chain with ``transition[i, j]`` = P(s_t = j | s_{t−1} = i);
    given it, the return (in percent) is::

        r_t = mean[s_t] + ar[s_t] · r_{t−1} + scale[s_t] · ε_t,    ε_t ~ N(0, 1) i.i.d.

    ``ar`` > 0 makes a regime trend (today's move tends to continue), ``ar`` < 0 mean-revert,
    ``scale`` sets its volatility. Prices are ``start · exp(cumsum(r) / 100)``.

    Args:
        transition: (K, K) row-stochastic matrix.
        mean, ar, scale: K numbers each; ``|ar| < 1`` and ``scale > 0``.
    """

    def __init__(self, transition, mean, ar, scale):
        who = "RegimeSwitchingReturns"
        p = _real_array(transition, "transition", who, (2,))
        k = p.shape[0]
        if p.shape != (k, k) or k == 0:
            raise ShapeError(f"{who}: transition must be a square (K, K) matrix, got shape {p.shape}")
        if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-9):
            raise ValueError(f"{who}: every row of transition must be probabilities summing to 1, "
                             f"got row sums {np.round(p.sum(axis=1), 12).tolist()}")
        params = {}
        for name, value in (("mean", mean), ("ar", ar), ("scale", scale)):
            v = _real_array(value, name, who, (1,))
            if v.shape != (k,):
                raise ShapeError(f"{who}: {name} must have one entry per regime, shape ({k},), got {v.shape}")
            params[name] = v
        if np.any(np.abs(params["ar"]) >= 1):
            raise ValueError(f"{who}: every ar coefficient must satisfy |ar| < 1 (a stable AR(1)), "
                             f"got {params['ar'].tolist()}")
        if np.any(params["scale"] <= 0):
            raise ValueError(f"{who}: every scale must be positive, got {params['scale'].tolist()}")
        self.transition = p
        self.mean, self.ar, self.scale = params["mean"], params["ar"], params["scale"]

    @property
    def num_regimes(self):
        return self.transition.shape[0]

    def stationary_distribution(self):
        """π with π P = π: the long-run share of time spent in each regime."""
        values, vectors = np.linalg.eig(self.transition.T)
        pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
        return pi / pi.sum()

    def sample(self, n, seed=0):
        """``(returns, regimes)``: n returns (float64, percent) and their regimes (int64).

        s_0 is drawn from the stationary distribution and r_{−1} = 0. The same seed gives the
        same path on every machine (one NumPy generator, drawn in a fixed order).
        """
        n = check_positive_int(n, "n", "RegimeSwitchingReturns.sample")
        rng = np.random.default_rng(seed)
        u = rng.random(n)                    # picks each regime
        eps = rng.standard_normal(n)         # the shocks
        cumulative = np.cumsum(self.transition, axis=1)
        first = np.cumsum(self.stationary_distribution())
        last = self.num_regimes - 1
        regimes = np.empty(n, dtype=np.int64)
        returns = np.empty(n)
        s, previous = min(int(np.searchsorted(first, u[0], side="right")), last), 0.0
        for t in range(n):
            if t:
                s = min(int(np.searchsorted(cumulative[s], u[t], side="right")), last)
            previous = self.mean[s] + self.ar[s] * previous + self.scale[s] * eps[t]
            regimes[t], returns[t] = s, previous
        return returns, regimes

    def conditional_mean(self, returns, regimes):
        """E[r_{t+1} | r_t, s_t] for every t: the best forecast (in squared error) for someone who
        knows the parameters *and* today's hidden regime, Σ_j P[s_t, j] (mean[j] + ar[j] r_t)."""
        who = "RegimeSwitchingReturns.conditional_mean"
        r = _real_array(returns, "returns", who, (1,))
        s = np.asarray(regimes)
        if s.shape != r.shape or not np.issubdtype(s.dtype, np.integer):
            raise ShapeError(f"{who}: regimes must be integers shaped like returns {r.shape}, "
                             f"got {s.dtype} of shape {s.shape}")
        if s.size and (s.min() < 0 or s.max() >= self.num_regimes):
            raise ValueError(f"{who}: regimes must lie in [0, {self.num_regimes - 1}], "
                             f"got values from {s.min()} to {s.max()}")
        p = self.transition[s]                                   # (n, K): where tomorrow's regime goes
        return p @ self.mean + (p @ self.ar) * r


def sliding_windows(series, input_len, horizon=1):
    """Every (input, target) pair of a series: ``inputs[i] = series[i : i+input_len]`` and
    ``targets[i] = series[i+input_len : i+input_len+horizon]``.

    ``series`` of shape (T,) gives ``inputs`` (M, input_len) and ``targets`` (M, horizon);
    (T, C) gives (M, input_len, C) and (M, horizon, C). M = T − input_len − horizon + 1.
    Consecutive windows overlap in input_len − 1 steps (and their targets in horizon − 1).
    Returns float64 copies.
    """
    who = "sliding_windows"
    x = _real_array(series, "series", who, (1, 2))
    input_len = check_positive_int(input_len, "input_len", who)
    horizon = check_positive_int(horizon, "horizon", who)
    if x.shape[0] < input_len + horizon:
        raise ShapeError(f"{who}: a series of length {x.shape[0]} is too short for input_len={input_len} "
                         f"and horizon={horizon}: expected at least {input_len + horizon} steps")
    m = x.shape[0] - input_len - horizon + 1
    view = np.lib.stride_tricks.sliding_window_view(x, input_len + horizon, axis=0)  # (M, [C,] L+h)
    if x.ndim == 2:
        view = np.moveaxis(view, 2, 1)                                              # (M, L+h, C)
    inputs = view[:m, :input_len].copy()          # copies: the view is read-only and shares memory
    targets = view[:m, input_len:].copy()
    return inputs, targets


def walk_forward_splits(n_samples, n_folds, test_size, *, horizon=1, max_train_size=None):
    """Walk-forward (rolling-origin) evaluation: yields ``(train, test)`` as ``range`` objects.

    The last ``n_folds · test_size`` samples form ``n_folds`` consecutive test blocks. Fold k
    trains on samples before its block (all of them, "expanding", or the most recent
    ``max_train_size``, "rolling") and tests on the block. With sliding windows of horizon h,
    sample i's target covers times i + L … i + L + h − 1, so the h − 1 samples just before a
    test block have targets inside it; they are left out (purged), which makes
    ``max(train) + horizon ≤ min(test)``. Like scikit-learn's ``TimeSeriesSplit`` with
    ``gap = horizon − 1``.
    """
    who = "walk_forward_splits"
    n_samples = check_positive_int(n_samples, "n_samples", who)
    n_folds = check_positive_int(n_folds, "n_folds", who)
    test_size = check_positive_int(test_size, "test_size", who)
    horizon = check_positive_int(horizon, "horizon", who)
    if max_train_size is not None:
        max_train_size = check_positive_int(max_train_size, "max_train_size", who)
    first_train = n_samples - n_folds * test_size - (horizon - 1)
    if first_train < 1:
        raise ValueError(f"{who}: n_samples={n_samples} leaves no training sample for the first fold: "
                         f"expected more than n_folds·test_size + horizon − 1 = "
                         f"{n_folds * test_size + horizon - 1}")
    return _walk_forward(n_samples, n_folds, test_size, horizon, max_train_size)


def _walk_forward(n_samples, n_folds, test_size, horizon, max_train_size):
    for k in range(n_folds):
        test_start = n_samples - (n_folds - k) * test_size
        train_stop = test_start - (horizon - 1)
        train_start = 0 if max_train_size is None else max(0, train_stop - max_train_size)
        yield range(train_start, train_stop), range(test_start, test_start + test_size)


# --- baselines -------------------------------------------------------------------------------
def naive_forecast(windows, horizon=1):
    """The last value, repeated: x̂_{t+k} = x_t. For prices this is the random-walk forecast
    ("tomorrow's price is today's"); for returns use zeros instead. (M, L) → (M, horizon)."""
    w = _check_windows(windows, "naive_forecast")
    horizon = check_positive_int(horizon, "horizon", "naive_forecast")
    return np.repeat(w[:, -1:], horizon, axis=1)


def moving_average_forecast(windows, k, horizon=1):
    """The mean of each window's last k values, repeated: (M, L) → (M, horizon)."""
    who = "moving_average_forecast"
    w = _check_windows(windows, who)
    k = check_positive_int(k, "k", who)
    horizon = check_positive_int(horizon, "horizon", who)
    if k > w.shape[1]:
        raise ValueError(f"{who}: k must be at most the window length {w.shape[1]}, got {k}")
    return np.repeat(w[:, -k:].mean(axis=1, keepdims=True), horizon, axis=1)


class AutoRegressive:
    """AR(p) with intercept, fitted by least squares: x̂_{t+1} = c + a_1 x_t + … + a_p x_{t−p+1}.

    ``fit(windows, targets)`` regresses the first target column on the last p values of each
    window (the normal equations, solved by ``numpy.linalg.lstsq``); ``coef_`` holds
    a_1 … a_p (a_1 multiplies the most recent value), ``intercept_`` holds c.
    ``predict(windows, horizon)`` iterates the one-step rule, feeding forecasts back in.
    """

    def __init__(self, order):
        self.order = check_positive_int(order, "order", "AutoRegressive")
        self.coef_ = None
        self.intercept_ = None

    def _lags(self, w, who):
        if w.shape[1] < self.order:
            raise ShapeError(f"AutoRegressive.{who}: windows of length {w.shape[1]} are shorter than "
                             f"order={self.order}")
        return w[:, ::-1][:, :self.order]                         # x_t, x_{t−1}, … x_{t−p+1}

    def fit(self, windows, targets):
        w = _check_windows(windows, "AutoRegressive.fit")
        y = _real_array(targets, "targets", "AutoRegressive.fit", (1, 2))
        if y.shape[0] != w.shape[0]:
            raise ShapeError(f"AutoRegressive.fit: targets must have one row per window ({w.shape[0]}), "
                             f"got shape {y.shape}")
        y = y if y.ndim == 1 else y[:, 0]
        design = np.hstack([np.ones((w.shape[0], 1)), self._lags(w, "fit")])
        if w.shape[0] < design.shape[1]:
            raise ValueError(f"AutoRegressive.fit: {w.shape[0]} windows cannot determine "
                             f"{design.shape[1]} coefficients (intercept and {self.order} lags)")
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
        self.intercept_, self.coef_ = float(solution[0]), solution[1:]
        return self

    def predict(self, windows, horizon=1):
        if self.coef_ is None:
            raise RuntimeError("AutoRegressive.predict: call fit(windows, targets) first")
        w = _check_windows(windows, "AutoRegressive.predict")
        horizon = check_positive_int(horizon, "horizon", "AutoRegressive.predict")
        history = self._lags(w, "predict")[:, ::-1].copy()      # oldest … newest
        out = np.empty((w.shape[0], horizon))
        for k in range(horizon):
            out[:, k] = self.intercept_ + history[:, ::-1] @ self.coef_
            history = np.hstack([history[:, 1:], out[:, k:k + 1]])
        return out


def nearest_neighbours(reference, queries, k):
    """Indices (Q, k) of the k reference windows closest to each query window (Euclidean
    distance, nearest first; exact ties in distance are broken arbitrarily): the "method of
    analogues". Averaging their targets forecasts."""
    who = "nearest_neighbours"
    ref = _check_windows(reference, who, "reference")
    q = _check_windows(queries, who, "queries")
    k = check_positive_int(k, "k", who)
    if q.shape[1] != ref.shape[1]:
        raise ShapeError(f"{who}: queries must have the reference's window length {ref.shape[1]}, "
                         f"got shape {q.shape}")
    if k > ref.shape[0]:
        raise ValueError(f"{who}: k must be at most the number of reference windows {ref.shape[0]}, got {k}")
    d2 = (q * q).sum(axis=1)[:, None] - 2 * q @ ref.T + (ref * ref).sum(axis=1)[None, :]
    if k < ref.shape[0]:
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]          # the k smallest, unordered
    else:
        nearest = np.broadcast_to(np.arange(k), (q.shape[0], k))
    order = np.argsort(np.take_along_axis(d2, nearest, axis=1), axis=1, kind="stable")
    return np.take_along_axis(nearest, order, axis=1)


def forecast_metrics(prediction, target):
    """``{"mae", "rmse", "direction"}`` of a forecast: mean absolute error, root-mean-square
    error, and the share of non-zero forecasts whose sign matches the target's (NaN when every
    forecast is 0, which has no direction). Arrays of the same shape."""
    who = "forecast_metrics"
    p = _real_array(prediction, "prediction", who, (1, 2))
    y = _real_array(target, "target", who, (1, 2))
    if p.shape != y.shape or p.size == 0:
        raise ShapeError(f"{who}: prediction and target must have the same non-empty shape, "
                         f"got {p.shape} and {y.shape}")
    err = p - y
    moved = p != 0
    direction = float(np.mean(np.sign(p[moved]) == np.sign(y[moved]))) if moved.any() else math.nan
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err * err))),
            "direction": direction}


# --- the neural forecaster ---------------------------------------------------------------------
class GRUForecaster(Module):
    """A GRU reads the window, a linear layer maps its last hidden state to the forecast::

        rnn: GRU(input_size, hidden_size, num_layers, batch_first=True)   (N, L, C) → (N, L, H)
        fc:  Linear(hidden_size, horizon)      applied to h_L, the state after the last step

    ``forward(x)`` with x (N, L, input_size) returns (N, horizon). ``backward(δ)`` sends δ
    through fc into the last step of the GRU output only (no other step reached the forecast),
    back through time, and returns ∂J/∂x. ``state_dict`` keys ``rnn.*`` and ``fc.*`` are those of
    the same two PyTorch layers.
    """

    def __init__(self, input_size, hidden_size, horizon=1, num_layers=1, *, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.horizon = check_positive_int(horizon, "horizon", "GRUForecaster")
        self.rnn = GRU(input_size, hidden_size, num_layers, batch_first=True, **kw)
        self.fc = Linear(hidden_size, horizon, **kw)

    def forward(self, x):
        if not backend.is_array(x) or x.ndim != 3:
            shape = tuple(x.shape) if backend.is_array(x) else type(x).__name__
            raise ShapeError(f"GRUForecaster: input must have shape (N, L, {self.rnn.input_size}), "
                             f"got {shape}")
        out, _ = self.rnn(x)
        self.save_for_backward(tuple(out.shape))
        return self.fc(out[:, -1, :])

    def backward(self, grad_output):
        (seq_shape,) = self.saved_for_backward(grad_output)
        d_last = self.fc.backward(grad_output)
        xp = backend.namespace(d_last)
        d_seq = xp.zeros(seq_shape, dtype=d_last.dtype, device=backend.native_device(d_last))
        d_seq[:, -1, :] = d_last                         # out[:, -1, :]'s backward: other steps get 0
        grad_x, _ = self.rnn.backward((d_seq, None))
        return grad_x


__all__ = ["RegimeSwitchingReturns", "sliding_windows", "walk_forward_splits", "naive_forecast",
           "moving_average_forecast", "AutoRegressive", "nearest_neighbours", "forecast_metrics",
           "GRUForecaster"]
