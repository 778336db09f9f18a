"""Adam moments explorer: Adam's internal quantities, one step at a time.

For chosen coordinates θᵢ it traces the gradient g, the moments m and v (read from
``optimizer.state[p]["exp_avg"]`` / ``["exp_avg_sq"]``), their bias-corrected versions
m̂ = m/(1−β₁ᵗ) and v̂ = v/(1−β₂ᵗ), the correction factors 1/(1−β₁ᵗ) and 1/(1−β₂ᵗ), and the
step Adam takes, α·m̂/(√v̂+ε), next to the step plain gradient descent would take, α·g.
It runs either on a 2-D surface (the path is drawn over the contours) or on a real network.
"""

import numpy as np

import ipywidgets as W

from .. import backend, optim
from ..nn.module import Parameter
from ..surfaces import get_surface
from . import svg
from .live import LiveWidget, bounded, labelled
from .race import path_overlay


class SurfaceTarget:
    """θ = (x, y) on a 2-D surface; the gradient is exact."""

    def __init__(self, surface):
        self.surface = get_surface(surface) if isinstance(surface, str) else surface
        self.reset()

    def reset(self):
        self.theta = Parameter(np.array(self.surface.start, dtype=np.float64))
        self.params = [self.theta]
        self.coordinates = [("x", self.theta, 0), ("y", self.theta, 1)]

    def compute_gradients(self):
        self.theta.grad = self.surface.gradient(self.theta.data)
        return float(self.surface.value(self.theta.data))


class ModelTarget:
    """A network's parameters on minibatches of (X, y); traces a few chosen weights."""

    def __init__(self, make_model, criterion, X, y, batch_size=64, seed=0, coordinates=3):
        self.make_model, self.criterion = make_model, criterion
        self.X, self.y, self.batch_size, self.seed, self.n_coords = X, y, batch_size, seed, coordinates
        self.reset()

    def reset(self):
        self.model = self.make_model()
        self.params = list(self.model.parameters())
        self.rng = np.random.default_rng(self.seed)
        name, first = next(self.model.named_parameters())
        picks = np.random.default_rng(self.seed).choice(first.numel(), size=self.n_coords, replace=False)
        self.coordinates = [(f"{name}[{','.join(str(int(k)) for k in np.unravel_index(i, first.shape))}]", first, int(i)) for i in picks]

    def compute_gradients(self):
        n = self.y.shape[0]
        idx = backend.to_device(self.rng.choice(n, size=min(self.batch_size, n), replace=False), backend.device_of(self.X))
        self.model.zero_grad()
        loss = self.criterion(self.model(self.X[idx]), self.y[idx])
        self.model.backward(self.criterion.backward())
        return float(loss)


def _value_at(array, flat_index):
    return float(backend.to_numpy(array).reshape(-1)[flat_index])


class AdamExplorer(LiveWidget):
    """Step Adam by hand and watch g, m, v, m̂, v̂ and the bias corrections.

    ``target`` is a surface name (``"quadratic"``, ``"rosenbrock"``, ``"beale"``, ``"saddle"``),
    a :class:`SurfaceTarget` or a :class:`ModelTarget`. Slider changes apply to the running
    optimizer at the next step (its moments are kept); "重置" starts over.
    """

    QUANTITIES = ("g", "m", "v", "m_hat", "v_hat", "adam_step", "sgd_step")

    def __init__(self, target="quadratic", *, lr=0.1, betas=(0.9, 0.999), eps=1e-8, min_interval=0.2):
        super().__init__(min_interval)
        self.target = SurfaceTarget(target) if isinstance(target, str) else target
        self.lr = labelled(bounded(W.FloatLogSlider(base=10, min=-4, max=0, step=0.1, readout_format=".1e"), lr, "lr"),
                           "学习率 α")
        self.beta1 = labelled(bounded(W.FloatSlider(min=0.0, max=0.99, step=0.01), betas[0], "betas[0]"), "β₁")
        self.beta2 = labelled(bounded(W.FloatSlider(min=0.9, max=0.9999, step=0.0001, readout_format=".4f"), betas[1],
                                      "betas[1]"), "β₂")
        self.eps = labelled(bounded(W.FloatLogSlider(base=10, min=-12, max=-1, step=1, readout_format=".0e"), eps, "eps"),
                            "ε")
        self.n_steps = labelled(W.BoundedIntText(value=50, min=1, max=100_000), "N")
        self.coordinate = labelled(W.Dropdown(options=[]), "坐标")
        self.step_button = W.Button(description="单步", icon="step-forward")
        self.run_button = W.Button(description="运行 N 步", button_style="primary", icon="play")
        self.reset_button = W.Button(description="重置", icon="refresh")
        self.on_click(self.step_button, self.step)
        self.on_click(self.run_button, lambda: self.run(self.n_steps.value))
        self.on_click(self.reset_button, self.reset)
        for slider in (self.lr, self.beta1, self.beta2, self.eps):
            self.on_change(slider, lambda _: self._apply_hyperparameters())
        self.on_change(self.coordinate, lambda _: self.redraw())
        self.charts = W.HTML()
        controls = W.HBox([W.VBox([self.lr, self.beta1, self.beta2, self.eps]),
                           W.VBox([self.coordinate, self.n_steps, W.HBox([self.step_button, self.run_button]), self.reset_button])],
                          layout={"flex_flow": "row wrap"})
        self.view.children = [controls, self.status, self.charts]
        self.reset()

    # --- stepping ----------------------------------------------------------------------------
    def reset(self):
        self.target.reset()
        self.optimizer = optim.Adam(self.target.params, lr=self.lr.value,
                                    betas=(self.beta1.value, self.beta2.value), eps=self.eps.value)
        names = [name for name, _, _ in self.target.coordinates]
        self.history = {"t": [], "loss": [], "bias1": [], "bias2": [], "path": [self._position()],
                        **{name: {q: [] for q in self.QUANTITIES} for name in names}}
        self.coordinate.options = names  # the history exists already, so redraws triggered here work
        self.coordinate.value = names[0]
        self.set_status("已重置：θ 回到起点，m = v = 0，t = 0")
        self.redraw()

    def _apply_hyperparameters(self):
        group = self.optimizer.param_groups[0]
        group["lr"], group["betas"], group["eps"] = self.lr.value, (self.beta1.value, self.beta2.value), self.eps.value

    def _position(self):
        theta = getattr(self.target, "theta", None)
        return None if theta is None else theta.data.copy()

    def step(self):
        """One Adam step, drawn at once (a step the reader asked for is always shown)."""
        self._advance()
        self.redraw()
        return self

    def run(self, steps):
        """``steps`` Adam steps with throttled redraws; the last one is always drawn."""
        done = 0
        try:
            for _ in range(steps):
                self._advance()
                done += 1
                self.maybe_redraw()
        except KeyboardInterrupt:
            self.redraw()
            self.set_status(f"已中断：走了 {done} 步（共 {steps} 步）；" + self.status_text())
            return self
        self.redraw()
        return self

    def _advance(self):
        """One Adam step; records every traced quantity from the optimizer's own state."""
        loss = self.target.compute_gradients()
        grads = {name: _value_at(p.grad, i) for name, p, i in self.target.coordinates}
        self.optimizer.step()
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        rows = {}
        for name, p, i in self.target.coordinates:
            state = self.optimizer.state[p]
            t = state["step"]
            m, v = _value_at(state["exp_avg"], i), _value_at(state["exp_avg_sq"], i)
            m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
            rows[name] = {"g": grads[name], "m": m, "v": v, "m_hat": m_hat, "v_hat": v_hat,
                          "adam_step": group["lr"] * m_hat / (np.sqrt(v_hat) + group["eps"]),
                          "sgd_step": group["lr"] * grads[name]}
        # Appended only once everything is computed, so an interrupted step leaves no ragged history.
        for name, row in rows.items():
            for q, value in row.items():
                self.history[name][q].append(value)
        self.history["t"].append(t)
        self.history["loss"].append(loss)
        self.history["bias1"].append(1 / (1 - beta1**t))
        self.history["bias2"].append(1 / (1 - beta2**t))
        self.history["path"].append(self._position())

    # --- drawing ------------------------------------------------------------------------------
    def _render(self):
        name = self.coordinate.value
        t = np.array(self.history["t"], dtype=float)
        rec = {q: np.array(v) for q, v in self.history[name].items()}
        self.plotted = {"coordinate": name, "t": t, **rec,
                        "bias1": np.array(self.history["bias1"]), "bias2": np.array(self.history["bias2"])}
        dashed = {"m̂": "5,3", "v̂": "5,3", "1/(1−β₂ᵗ)": "5,3"}
        charts = [
            svg.line_chart({"g": (t, rec["g"]), "m": (t, rec["m"]), "m̂": (t, rec["m_hat"])}, dashes=dashed,
                           title=f"一阶矩（{name}）", xlabel="步数 t"),
            svg.line_chart({"v": (t, rec["v"]), "v̂": (t, rec["v_hat"])}, dashes=dashed, log_y=True,
                           title=f"二阶矩（{name}，对数轴）", xlabel="步数 t"),
            svg.line_chart({"1/(1−β₁ᵗ)": (t, self.plotted["bias1"]), "1/(1−β₂ᵗ)": (t, self.plotted["bias2"])},
                           dashes=dashed, log_y=True, title="偏差修正因子", xlabel="步数 t"),
            svg.line_chart({"Adam 步长": (t, np.abs(rec["adam_step"])), "SGD 步长 αg": (t, np.abs(rec["sgd_step"]))},
                           log_y=True, title="|α·m̂/(√v̂+ε)| 与 |α·g|", xlabel="步数 t"),
        ]
        if isinstance(self.target, SurfaceTarget):
            path = np.array(self.history["path"])
            self.plotted["path"] = path
            charts.append(path_overlay(self.target.surface, {"Adam": path}, title="参数轨迹"))
        self.charts.value = svg.row(*charts)
        if self.history["t"]:
            self.set_status(self.status_text())

    def status_text(self):
        """The last step's numbers for the chosen coordinate."""
        if not self.history["t"]:
            return "t = 0"
        name = self.coordinate.value
        last = self.history[name]
        return (f"t = {self.history['t'][-1]}，J = {self.history['loss'][-1]:.4g}；{name}: g = {last['g'][-1]:.3g}，"
                f"m̂ = {last['m_hat'][-1]:.3g}，v̂ = {last['v_hat'][-1]:.3g}，Adam 步长 {last['adam_step'][-1]:.3g}"
                f"（梯度下降步长 {last['sgd_step'][-1]:.3g}）")
