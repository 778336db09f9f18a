"""Optimizer race: SGD, momentum, Nesterov, AdaGrad, RMSProp and Adam on one 2-D surface.

Every optimizer starts at the same point; their paths are drawn over the surface's contours,
with an arrow for the descent direction −∇f (solid) and for the optimizer's "velocity"
(dashed: −momentum buffer, or −m for Adam) at the current point. The final frame is an
animated SVG (each optimizer's dot walks its path step by step), so it also plays in the
static book.
"""

import base64
import functools
import io
import time

import ipywidgets as W
import numpy as np

from .. import optim
from ..surfaces import SURFACES, get_surface, trajectory
from . import svg
from .live import LiveWidget, bounded, labelled

# name → function(params, lr, momentum) building the optimizer
RACERS = {
    "SGD": lambda ps, lr, mu: optim.SGD(ps, lr=lr),
    "动量": lambda ps, lr, mu: optim.SGD(ps, lr=lr, momentum=mu),
    "Nesterov": lambda ps, lr, mu: optim.SGD(ps, lr=lr, momentum=mu, nesterov=True),
    "AdaGrad": lambda ps, lr, mu: optim.Adagrad(ps, lr=lr),
    "RMSProp": lambda ps, lr, mu: optim.RMSprop(ps, lr=lr),
    "Adam": lambda ps, lr, mu: optim.Adam(ps, lr=lr),
}

# Learning rates (for 300 steps) found by a sweep over 1e-4…1: the largest that stays stable
# for SGD and momentum on the curved valleys, and for the adaptive methods (whose step is about
# lr per coordinate whatever the gradient's size) one that makes steady progress.
DEFAULT_LR = {
    "rosenbrock": {"SGD": 1e-3, "动量": 1e-3, "Nesterov": 1e-3, "AdaGrad": 0.5, "RMSProp": 0.3, "Adam": 0.1},
    "beale": {"SGD": 0.01, "动量": 1e-3, "Nesterov": 1e-3, "AdaGrad": 0.5, "RMSProp": 0.03, "Adam": 0.05},
    "quadratic": {"SGD": 0.07, "动量": 0.02, "Nesterov": 0.02, "AdaGrad": 0.5, "RMSProp": 0.02, "Adam": 0.1},
    "saddle": {"SGD": 0.01, "动量": 0.01, "Nesterov": 0.01, "AdaGrad": 0.1, "RMSProp": 0.01, "Adam": 0.01},
}

# What the dashed "velocity" arrow shows for each optimizer (a state key, negated).
VELOCITY_KEY = {"动量": "momentum_buffer", "Nesterov": "momentum_buffer", "Adam": "exp_avg"}


@functools.lru_cache(maxsize=8)
def contour_background(surface, pixels=300):
    """The surface's filled contours as a base64 PNG covering exactly xlim × ylim (cached)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    X, Y, Z = surface.grid(200)
    fig = Figure(figsize=(pixels / 100, pixels / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    if surface.log_contours:
        Z = Z - Z.min() + 1e-3
        levels = np.logspace(np.log10(Z.min()), np.log10(Z.max()), 25)
        ax.contourf(X, Y, Z, levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.85)
        ax.contour(X, Y, Z, levels=levels, norm=LogNorm(), colors="white", linewidths=0.3, alpha=0.6)
    else:
        ax.contourf(X, Y, Z, levels=25, cmap="viridis", alpha=0.85)
        ax.contour(X, Y, Z, levels=25, colors="white", linewidths=0.3, alpha=0.6)
    ax.set_xlim(*surface.xlim)
    ax.set_ylim(*surface.ylim)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _arrow(frame, point, direction, colour, marker, dash=None, length=28):
    """An arrow of fixed on-screen length from ``point`` along ``direction`` (data units)."""
    if point is None or direction is None:
        return ""
    x0, y0 = float(frame.x(point[0])), float(frame.y(point[1]))
    dx = float(frame.x(point[0] + direction[0])) - x0
    dy = float(frame.y(point[1] + direction[1])) - y0
    norm = np.hypot(dx, dy)
    if not np.isfinite(norm) or norm == 0:
        return ""
    x1, y1 = x0 + length * dx / norm, y0 + length * dy / norm
    style = f" stroke-dasharray='{dash}'" if dash else ""
    return (f"<line x1='{x0:.1f}' y1='{y0:.1f}' x2='{x1:.1f}' y2='{y1:.1f}' stroke='{colour}' stroke-width='2'"
            f"{style} marker-end='url(#{marker})'/>")


def path_overlay(surface, paths, *, arrows=None, title="", width=420, height=320, animate_seconds=None):
    """SVG: contours of ``surface`` with ``paths = {name: points (T, 2)}`` drawn over them.

    ``arrows = {name: (point, descent_direction, velocity_direction)}``. With
    ``animate_seconds``, each path also gets a dot that walks it, one step per frame.
    """
    frame = svg.Frame(width, height, surface.xlim, surface.ylim, title=title, xlabel="x", ylabel="y",
                      margin=(28, svg.LEGEND_WIDTH, 34, 52))
    arrowhead = svg.unique_id("arrow")
    left, top = frame.left, frame.top
    w, h = width - frame.left - frame.right, height - frame.top - frame.bottom
    body = [f"<defs><marker id='{arrowhead}' markerWidth='6' markerHeight='6' refX='5' refY='3' orient='auto'>"
            f"<path d='M0,0 L6,3 L0,6 z' fill='black'/></marker></defs>",
            f"<image href='data:image/png;base64,{contour_background(surface)}' x='{left}' y='{top}' "
            f"width='{w}' height='{h}' preserveAspectRatio='none'/>"]
    mx, my = float(frame.x(surface.minimum[0])), float(frame.y(surface.minimum[1]))
    body.append(f"<text x='{mx:.1f}' y='{my + 4:.1f}' font-size='14' text-anchor='middle' fill='white'>★</text>")
    for i, (name, points) in enumerate(paths.items()):
        c = svg.color(i)
        body.append(svg.polyline(frame, points[:, 0], points[:, 1], c, width=1.8, path=True))
        if animate_seconds and len(points) > 1:
            px, py = frame.x(points[:, 0]), frame.y(points[:, 1])
            ok = np.isfinite(px) & np.isfinite(py)
            px, py = np.clip(px[ok], -1e4, 1e4), np.clip(py[ok], -1e4, 1e4)
            body.append(f"<circle r='4' fill='{c}' stroke='white'>"
                        f"<animate attributeName='cx' values='{';'.join(f'{v:.1f}' for v in px)}' dur='{animate_seconds}s' "
                        f"repeatCount='indefinite'/>"
                        f"<animate attributeName='cy' values='{';'.join(f'{v:.1f}' for v in py)}' dur='{animate_seconds}s' "
                        f"repeatCount='indefinite'/></circle>")
        else:
            body.append(f"<circle cx='{float(frame.x(points[-1, 0])):.1f}' cy='{float(frame.y(points[-1, 1])):.1f}' "
                        f"r='4' fill='{c}' stroke='white'/>")
        if arrows and name in arrows:
            point, descent, velocity = arrows[name]
            body.append(_arrow(frame, point, descent, c, arrowhead))
            body.append(_arrow(frame, point, velocity, c, arrowhead, dash="4,2"))
    return frame.svg(body, [svg.legend(frame, list(paths), [svg.color(i) for i in range(len(paths))])])


class OptimizerRace(LiveWidget):
    """Race the optimizers on a surface with shared controls; ``run()`` replays the paths."""

    def __init__(self, surface="rosenbrock", *, steps=300, lr_scale=1.0, momentum=0.9, racers=None,
                 playback_seconds=3.0, min_interval=0.2):
        super().__init__(min_interval)
        self.surface = labelled(W.Dropdown(options=[(s.title, s.name) for s in SURFACES.values()], value=surface), "函数")
        self.steps = labelled(bounded(W.IntSlider(min=10, max=2000, step=10), steps, "steps"), "步数")
        self.lr_scale = labelled(bounded(W.FloatLogSlider(base=10, min=-1, max=1, step=0.05), lr_scale, "lr_scale"),
                                 "学习率倍数")
        # μ > 0: Nesterov looks ahead along the momentum, and with μ = 0 there is none (SGD refuses it).
        self.momentum = labelled(bounded(W.FloatSlider(min=0.01, max=0.99, step=0.01), momentum, "momentum"), "动量 μ")
        chosen = list(RACERS) if racers is None else racers
        unknown = set(chosen) - set(RACERS)
        if unknown:
            raise ValueError(f"unknown optimizers {sorted(unknown)}; choose from {list(RACERS)}")
        self.enabled = {name: W.Checkbox(value=name in chosen, description=name, indent=False,
                                         layout={"width": "auto"}) for name in RACERS}
        self.playback_seconds = playback_seconds
        self.run_button = W.Button(description="开始比赛", button_style="primary", icon="flag-checkered")
        self.on_click(self.run_button, lambda: self.run(animate=True))
        self.charts = W.HTML()
        self.view.children = [
            W.HBox([W.VBox([self.surface, self.steps]), W.VBox([self.lr_scale, self.momentum]), self.run_button],
                   layout={"flex_flow": "row wrap"}),
            W.HBox(list(self.enabled.values()), layout={"flex_flow": "row wrap"}),
            self.status, self.charts]
        self.trajectories, self.shown = {}, 0
        self.run(animate=False)

    def learning_rates(self):
        return {name: DEFAULT_LR[self.surface.value][name] * self.lr_scale.value for name in RACERS}

    def run(self, animate=False):
        """Compute every enabled optimizer's path, then draw it (replayed if ``animate``)."""
        surface = get_surface(self.surface.value)
        lrs = self.learning_rates()
        self.trajectories = {
            name: trajectory(surface, lambda ps, name=name: RACERS[name](ps, lrs[name], self.momentum.value), self.steps.value)
            for name, box in self.enabled.items() if box.value}
        longest = max((len(t.points) for t in self.trajectories.values()), default=1)
        if animate:
            start = time.perf_counter()
            try:
                while (elapsed := time.perf_counter() - start) < self.playback_seconds:
                    self.shown = max(1, int(elapsed / self.playback_seconds * longest))
                    self.maybe_redraw()
                    time.sleep(min(self.min_interval / 4, self.playback_seconds - elapsed))  # never past the end
            except KeyboardInterrupt:
                pass
        self.shown = longest
        self.redraw()
        return self

    def _render(self):
        surface = get_surface(self.surface.value)
        final = self.shown >= max((len(t.points) for t in self.trajectories.values()), default=1)
        paths, arrows, summary = {}, {}, []
        for name, tr in self.trajectories.items():
            k = min(self.shown, len(tr.points)) - 1
            finite = np.flatnonzero(np.all(np.isfinite(tr.points[: k + 1]), axis=1))
            k = int(finite[-1])  # a diverged path is drawn up to its last finite point
            paths[name] = tr.points[: k + 1]
            velocity = None
            if name in VELOCITY_KEY and k >= 1:
                velocity = -np.asarray(tr.states[k - 1][VELOCITY_KEY[name]])
            arrows[name] = (tr.points[k], -tr.gradients[k], velocity)
            if not (np.all(np.isfinite(arrows[name][1])) and (velocity is None or np.all(np.isfinite(velocity)))):
                arrows[name] = (tr.points[k], None, None)
            state = "发散" if tr.diverged else f"f = {tr.values[k]:.3g}"
            summary.append(f"<b style='color:{svg.color(len(summary))}'>{name}</b> {state}")
        self.plotted = {"paths": paths, "arrows": arrows}
        self.charts.value = path_overlay(surface, paths, arrows=arrows, title=surface.title, width=560, height=420,
                                         animate_seconds=self.playback_seconds * 2 if final else None)
        if summary:
            self.set_status("；".join(summary) + f"（第 {self.shown - 1} 步）")
        else:
            self.set_status("没有勾选任何优化器：请至少勾选一个，再按“开始比赛”", error=True)
