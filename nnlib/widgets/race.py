"""Optimizer race: SGD, momentum, Nesterov, AdaGrad, RMSProp and Adam on one 2-D surface.

Every optimizer starts at the same point; their paths are drawn over the surface's contours,
with an arrow for the descent direction −∇f (solid) and for the optimizer's "velocity"
(dashed: −momentum buffer, or −m for Adam) at the current point. The final frame is an
animated SVG (each optimizer's dot walks its path step by step), so it also plays in the
static book.
"""

import time

import ipywidgets as W
import numpy as np

from ..surfaces import SURFACES, get_surface, trajectory
from . import svg
from .live import LiveWidget, bounded, labelled
from .optimizers import OPTIMIZERS, check_ids

# Learning rates (for 300 steps), by surface and optimizer id, found by a sweep over 1e-4…1:
# the largest that stays stable for SGD and momentum on the curved valleys, and for the
# adaptive methods (whose step is about lr per coordinate whatever the gradient's size) one
# that makes steady progress.
DEFAULT_LR = {
    "rosenbrock": {"sgd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3,
                   "adagrad": 0.5, "rmsprop": 0.3, "adam": 0.1},
    "beale": {"sgd": 0.01, "momentum": 1e-3, "nesterov": 1e-3,
              "adagrad": 0.5, "rmsprop": 0.03, "adam": 0.05},
    "quadratic": {"sgd": 0.07, "momentum": 0.02, "nesterov": 0.02,
                  "adagrad": 0.5, "rmsprop": 0.02, "adam": 0.1},
    "saddle": {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01,
               "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.01},
}


class OptimizerRace(LiveWidget):
    """Race the optimizers of ``nnlib.widgets.OPTIMIZERS`` on a surface with
    shared controls; ``run()`` replays the paths. ``racers`` is a list of ids (default: all);
    ``trajectories`` and ``plotted`` are keyed by id, the reader sees the labels."""

    def __init__(self, surface="rosenbrock", *, steps=300, lr_scale=1.0, momentum=0.9, racers=None,
                 playback_seconds=3.0, min_interval=0.2):
        super().__init__(min_interval)
        surface_options = [(s.title, s.name) for s in SURFACES.values()]
        self.surface = labelled(W.Dropdown(options=surface_options, value=surface), "函数")
        self.steps = labelled(bounded(W.IntSlider(min=10, max=2000, step=10), steps, "steps"), "步数")
        lr_scale_slider = W.FloatLogSlider(base=10, min=-1, max=1, step=0.05)
        self.lr_scale = labelled(bounded(lr_scale_slider, lr_scale, "lr_scale"), "学习率倍数")
        # μ > 0: Nesterov looks ahead along the momentum, and with μ = 0 there is none (SGD refuses it).
        momentum_slider = W.FloatSlider(min=0.01, max=0.99, step=0.01)
        self.momentum = labelled(bounded(momentum_slider, momentum, "momentum"), "动量 μ")
        chosen = list(OPTIMIZERS) if racers is None else list(racers)
        check_ids(chosen)
        self.enabled = {key: W.Checkbox(value=key in chosen, description=entry.label, indent=False,
                                        layout={"width": "auto"}) for key, entry in OPTIMIZERS.items()}
        self.playback_seconds = playback_seconds
        self.run_button = W.Button(description="开始比赛", button_style="primary", icon="flag-checkered")
        self.on_click(self.run_button, lambda: self.run(animate=True))
        self.charts = W.HTML()
        self.view.children = [
            W.HBox([W.VBox([self.surface, self.steps]), W.VBox([self.lr_scale, self.momentum]),
                    self.run_button],
                   layout={"flex_flow": "row wrap"}),
            W.HBox(list(self.enabled.values()), layout={"flex_flow": "row wrap"}),
            self.status, self.charts]
        self.trajectories, self.shown = {}, 0
        self.run(animate=False)

    def learning_rates(self):
        """Each optimizer's learning rate on the chosen surface, by id."""
        return {key: DEFAULT_LR[self.surface.value][key] * self.lr_scale.value for key in OPTIMIZERS}

    def run(self, animate=False):
        """Compute every enabled optimizer's path, then draw it (replayed if ``animate``)."""
        surface = get_surface(self.surface.value)
        lrs, momentum = self.learning_rates(), self.momentum.value
        self.trajectories = {
            key: trajectory(surface, lambda ps, key=key: OPTIMIZERS[key].make(ps, lrs[key], momentum),
                            self.steps.value)
            for key, box in self.enabled.items() if box.value}
        longest = max((len(t.points) for t in self.trajectories.values()), default=1)
        if animate:
            start = time.perf_counter()
            try:
                while (elapsed := time.perf_counter() - start) < self.playback_seconds:
                    self.shown = max(1, int(elapsed / self.playback_seconds * longest))
                    self.maybe_redraw()
                    # Never past the end.
                    time.sleep(min(self.min_interval / 4, self.playback_seconds - elapsed))
            except KeyboardInterrupt:
                pass
        self.shown = longest
        self.redraw()
        return self

    def _render(self):
        surface = get_surface(self.surface.value)
        final = self.shown >= max((len(t.points) for t in self.trajectories.values()), default=1)
        paths, arrows, summary = {}, {}, []
        for key, tr in self.trajectories.items():
            k = min(self.shown, len(tr.points)) - 1
            finite = np.flatnonzero(np.all(np.isfinite(tr.points[: k + 1]), axis=1))
            k = int(finite[-1])  # a diverged path is drawn up to its last finite point
            paths[key] = tr.points[: k + 1]
            velocity_key = OPTIMIZERS[key].velocity_key
            velocity = -np.asarray(tr.states[k - 1][velocity_key]) if velocity_key and k >= 1 else None
            arrows[key] = (tr.points[k], -tr.gradients[k], velocity)
            finite_descent = np.all(np.isfinite(arrows[key][1]))
            if not (finite_descent and (velocity is None or np.all(np.isfinite(velocity)))):
                arrows[key] = (tr.points[k], None, None)
            state = "发散" if tr.diverged else f"f = {tr.values[k]:.3g}"
            colour = svg.color(len(summary))
            summary.append(f"<b style='color:{colour}'>{OPTIMIZERS[key].label}</b> {state}")
        self.plotted = {"paths": paths, "arrows": arrows}
        label = {key: OPTIMIZERS[key].label for key in paths}
        self.charts.value = svg.path_overlay(surface, {label[k]: v for k, v in paths.items()},
                                             arrows={label[k]: v for k, v in arrows.items()},
                                             title=surface.title, width=560, height=420,
                                             animate_seconds=self.playback_seconds * 2 if final else None)
        if summary:
            self.set_status("；".join(summary) + f"（第 {self.shown - 1} 步）")
        else:
            self.set_status("没有勾选任何优化器：请至少勾选一个，再按“开始比赛”", error=True)
