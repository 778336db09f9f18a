"""Two-dimensional test functions for watching optimizers move.

Each surface f(x, y) has a value and an exact gradient (both vectorised over arrays of points
with last dimension 2, for contour plots), a known minimum, a start point where the optimizers
have something to overcome, and a plotting window. :func:`trajectory` lets any
``nnlib.optim`` optimizer drive a single point θ = (x, y) over a surface and records the path
and the optimizer's state at every step.
"""

from dataclasses import dataclass, field

import numpy as np

from .nn.module import Parameter


@dataclass(frozen=True)
class Surface:
    """A 2-D test function. ``value(p)`` and ``gradient(p)`` take arrays of shape (..., 2)."""

    name: str
    title: str
    value: callable = field(repr=False)
    gradient: callable = field(repr=False)
    minimum: tuple
    start: tuple
    xlim: tuple
    ylim: tuple
    log_contours: bool = False  # contour levels on a log scale (steep valleys)

    def grid(self, n=200):
        """(X, Y, Z) over the plotting window, for ``contour``."""
        x = np.linspace(*self.xlim, n)
        y = np.linspace(*self.ylim, n)
        X, Y = np.meshgrid(x, y)
        return X, Y, self.value(np.stack([X, Y], axis=-1))


def _split(p):
    p = np.asarray(p, dtype=np.float64)
    if p.shape[-1] != 2:
        raise ValueError(f"points must have last dimension 2 (x, y), got shape {p.shape}")
    return p[..., 0], p[..., 1]


def _rosenbrock(p):
    x, y = _split(p)
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_grad(p):
    x, y = _split(p)
    return np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], axis=-1)


def _beale_terms(x, y):
    return 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3


def _beale(p):
    x, y = _split(p)
    a, b, c = _beale_terms(x, y)
    return a**2 + b**2 + c**2


def _beale_grad(p):
    x, y = _split(p)
    a, b, c = _beale_terms(x, y)
    dx = 2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1)
    dy = 2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2
    return np.stack([dx, dy], axis=-1)


ILL_CONDITIONING = 25.0  # ratio of the two curvatures of the quadratic


def _quadratic(p):
    x, y = _split(p)
    return 0.5 * (x**2 + ILL_CONDITIONING * y**2)


def _quadratic_grad(p):
    x, y = _split(p)
    return np.stack([x, ILL_CONDITIONING * y], axis=-1)


def _saddle(p):
    x, y = _split(p)
    return x**2 - y**2 + 0.25 * y**4  # a saddle at 0, minima at (0, ±√2)


def _saddle_grad(p):
    x, y = _split(p)
    return np.stack([2 * x, -2 * y + y**3], axis=-1)


ROSENBROCK = Surface("rosenbrock", "Rosenbrock 函数（弯曲的窄谷）", _rosenbrock,
                     _rosenbrock_grad, minimum=(1.0, 1.0), start=(-1.5, 2.0), xlim=(-2.0, 2.0),
                     ylim=(-1.0, 3.0), log_contours=True)
BEALE = Surface("beale", "Beale 函数（平台与陡壁）", _beale, _beale_grad,
                minimum=(3.0, 0.5), start=(1.0, 1.5), xlim=(-4.5, 4.5), ylim=(-4.5, 4.5), log_contours=True)
QUADRATIC = Surface("quadratic", f"病态二次函数（曲率比 {ILL_CONDITIONING:g}）", _quadratic, _quadratic_grad,
                    minimum=(0.0, 0.0), start=(-4.0, 1.0), xlim=(-5.0, 5.0), ylim=(-2.0, 2.0))
SADDLE = Surface("saddle", "鞍点 x² − y² + y⁴/4", _saddle, _saddle_grad,
                 minimum=(0.0, 2**0.5), start=(-2.0, 1e-3), xlim=(-2.5, 2.5), ylim=(-2.5, 2.5))

SURFACES = {s.name: s for s in (ROSENBROCK, BEALE, QUADRATIC, SADDLE)}


def get_surface(name):
    """A surface by name: ``"rosenbrock"``, ``"beale"``, ``"quadratic"`` or ``"saddle"``."""
    if name not in SURFACES:
        raise ValueError(f"unknown surface {name!r}; expected one of {sorted(SURFACES)}")
    return SURFACES[name]


@dataclass
class Trajectory:
    """The path of θ = (x, y): ``points[t]`` after t steps, ``values[t]`` = f(points[t]),
    ``gradients[t]`` = ∇f(points[t]), and ``states[t]`` a copy of the optimizer state after
    step t+1 (e.g. ``states[t]["exp_avg"]``)."""

    points: np.ndarray
    values: np.ndarray
    gradients: np.ndarray
    states: list
    diverged: bool = False


def trajectory(surface, make_optimizer, steps, start=None):
    """Let an optimizer minimise ``surface`` from ``start`` for ``steps`` steps.

    ``make_optimizer`` receives the list ``[θ]`` and returns an optimizer, e.g.
    ``lambda params: nnlib.optim.Adam(params, lr=0.1)``. Stops early (``diverged=True``) if θ
    leaves the finite numbers.
    """
    if isinstance(surface, str):
        surface = get_surface(surface)
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    theta = Parameter(np.array(surface.start if start is None else start, dtype=np.float64))
    if theta.shape != (2,):
        raise ValueError(f"start must be a point (x, y), got shape {theta.shape}")
    optimizer = make_optimizer([theta])
    points, states = [theta.data.copy()], []
    diverged = False
    for _ in range(steps):
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported, not warned about
            theta.grad = surface.gradient(theta.data)
            optimizer.step()
        state = optimizer.state[theta]
        states.append({k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()})
        points.append(theta.data.copy())
        if not np.all(np.isfinite(theta.data)):
            diverged = True
            break
    points = np.array(points)
    with np.errstate(all="ignore"):
        return Trajectory(points, surface.value(points), surface.gradient(points), states, diverged)
