"""Adam moments explorer: Adam's internal quantities, one step at a time.

For chosen coordinates θᵢ it traces the gradient g, the optimizer's own state
(``optimizer.state[p]``: ``exp_avg`` m, ``exp_avg_sq`` v, ``max_exp_avg_sq`` with amsgrad,
``step`` t), the bias-corrected moments m̂ = m/(1−β₁ᵗ) and v̂ = v/(1−β₂ᵗ), the correction
factors 1/(1−β₁ᵗ) and 1/(1−β₂ᵗ), and the step the optimizer took, Δθ = θ after the step − θ
before it. Δθ is measured, not recomputed from Adam's formula, so it is right for AdamW's
decoupled decay and for amsgrad too; next to it is the step plain gradient descent would take,
−α·g. It runs either on a 2-D surface (the path is drawn over the contours) or on a real network.
"""

import numpy as np

import ipywidgets as W

from .. import backend, optim
from ..nn.module import Parameter
from ..surfaces import get_surface
from . import svg
from .live import LiveWidget, bounded, labelled


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


def _index_text(flat_index, shape):
    """``"i,j"``: the multi-index of ``flat_index`` in an array of ``shape``."""
    return ",".join(str(int(k)) for k in np.unravel_index(flat_index, shape))


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
        self.coordinates = [(f"{name}[{_index_text(i, first.shape)}]", first, int(i)) for i in picks]

    def compute_gradients(self):
        n = self.y.shape[0]
        picks = self.rng.choice(n, size=min(self.batch_size, n), replace=False)
        idx = backend.to_device(picks, backend.device_of(self.X))
        self.model.zero_grad()
        loss = self.criterion(self.model(self.X[idx]), self.y[idx])
        self.model.backward(self.criterion.backward())
        return float(loss)


def _value_at(array, flat_index):
    return float(backend.to_numpy(array).reshape(-1)[flat_index])


class AdamExplorer(LiveWidget):
    """Step Adam by hand and watch its state, the bias corrections and the step it takes.

    ``target`` is a surface name (``"quadratic"``, ``"rosenbrock"``, ``"beale"``, ``"saddle"``),
    a :class:`SurfaceTarget` or a :class:`ModelTarget`. ``optimizer`` is ``optim.Adam`` or a
    subclass such as ``optim.AdamW``; ``weight_decay`` (``None``: the optimizer's own default)
    and ``amsgrad`` go to its constructor. Slider changes apply to the running optimizer at the
    next step (its moments are kept), checked as its constructor checks them: a value it would
    refuse is shown in the status line and the slider goes back. "重置" starts over.

    ``history[name]`` holds, per traced coordinate, the lists ``g``, ``m``, ``v`` (and ``v_max``
    with amsgrad), ``m_hat``, ``v_hat``, ``delta_theta`` (the measured Δθ) and
    ``sgd_delta_theta`` (−α·g); ``history["t"]`` is the optimizer's ``step``.
    """

    QUANTITIES = ("g", "m", "v", "m_hat", "v_hat", "delta_theta", "sgd_delta_theta")

    def __init__(self, target="quadratic", *, optimizer=optim.Adam, lr=0.1, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=None, amsgrad=False, min_interval=0.2):
        super().__init__(min_interval)
        if not (isinstance(optimizer, type) and issubclass(optimizer, optim.Adam)):
            raise TypeError("optimizer must be optim.Adam or a subclass of it such as optim.AdamW, "
                            f"got {optimizer!r}")
        self.optimizer_class = optimizer
        decay = {} if weight_decay is None else {"weight_decay": weight_decay}
        self.options = {"amsgrad": amsgrad, **decay}
        self.target = SurfaceTarget(target) if isinstance(target, str) else target
        lr_slider = W.FloatLogSlider(base=10, min=-4, max=0, step=0.1, readout_format=".1e")
        self.lr = labelled(bounded(lr_slider, lr, "lr"), "学习率 α")
        beta1_slider = W.FloatSlider(min=0.0, max=0.99, step=0.01)
        self.beta1 = labelled(bounded(beta1_slider, betas[0], "betas[0]"), "β₁")
        beta2_slider = W.FloatSlider(min=0.9, max=0.9999, step=0.0001, readout_format=".4f")
        self.beta2 = labelled(bounded(beta2_slider, betas[1], "betas[1]"), "β₂")
        eps_slider = W.FloatLogSlider(base=10, min=-12, max=-1, step=1, readout_format=".0e")
        self.eps = labelled(bounded(eps_slider, eps, "eps"), "ε")
        self.n_steps = labelled(W.BoundedIntText(value=50, min=1, max=100_000), "N")
        self.coordinate = labelled(W.Dropdown(options=[]), "坐标")
        self.step_button = W.Button(description="单步", icon="step-forward")
        self.run_button = W.Button(description="运行 N 步", button_style="primary", icon="play")
        self.reset_button = W.Button(description="重置", icon="refresh")
        self.on_click(self.step_button, self.step)
        self.on_click(self.run_button, lambda: self.run(self.n_steps.value))
        self.on_click(self.reset_button, self.reset)
        self.on_change(self.lr, lambda lr: self._set_hyperparameter("lr", lr))

        def set_betas(_):
            self._set_hyperparameter("betas", (self.beta1.value, self.beta2.value))

        for beta in (self.beta1, self.beta2):
            self.on_change(beta, set_betas)
        self.on_change(self.eps, lambda eps: self._set_hyperparameter("eps", eps))
        self.on_change(self.coordinate, lambda _: self.redraw())
        self.charts = W.HTML()
        buttons = W.HBox([self.step_button, self.run_button])
        controls = W.HBox([W.VBox([self.lr, self.beta1, self.beta2, self.eps]),
                           W.VBox([self.coordinate, self.n_steps, buttons, self.reset_button])],
                          layout={"flex_flow": "row wrap"})
        self.view.children = [controls, self.status, self.charts]
        self.reset()

    # --- stepping ----------------------------------------------------------------------------
    def reset(self):
        self.target.reset()
        self.optimizer = self.optimizer_class(self.target.params, lr=self.lr.value,
                                              betas=(self.beta1.value, self.beta2.value), eps=self.eps.value,
                                              **self.options)
        self.name = type(self.optimizer).__name__
        self.quantities = self.QUANTITIES + (("v_max",) if self.optimizer.param_groups[0]["amsgrad"] else ())
        names = [name for name, _, _ in self.target.coordinates]
        self.history = {"t": [], "loss": [], "bias1": [], "bias2": [], "path": [self._position()],
                        **{name: {q: [] for q in self.quantities} for name in names}}
        self.coordinate.options = names  # the history exists already, so redraws triggered here work
        self.coordinate.value = names[0]
        self.set_status("已重置：θ 回到起点，m = v = 0，t = 0")
        self.redraw()

    def _set_hyperparameter(self, name, value):
        """A slider's value into the running optimizer; a refused one puts the sliders back."""
        try:
            self.optimizer.set_hyperparameter(name, value)
        except ValueError:
            group = self.optimizer.param_groups[0]
            self.lr.value, (self.beta1.value, self.beta2.value), self.eps.value = (
                group["lr"], group["betas"], group["eps"])
            raise

    def _position(self):
        theta = getattr(self.target, "theta", None)
        return None if theta is None else theta.data.copy()

    def step(self):
        """One optimizer step, drawn at once (a step the reader asked for is always shown)."""
        self._advance()
        self.redraw()
        return self

    def run(self, steps):
        """``steps`` optimizer steps with throttled redraws; the last one is always drawn."""
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
        """One step; records the gradient, the optimizer's state and the measured Δθ."""
        loss = self.target.compute_gradients()
        coordinates = self.target.coordinates
        grads = {name: _value_at(p.grad, i) for name, p, i in coordinates}
        before = {name: _value_at(p.data, i) for name, p, i in coordinates}
        self.optimizer.step()
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        rows = {}
        for name, p, i in coordinates:
            state = self.optimizer.state[p]
            t = state["step"]
            m, v = _value_at(state["exp_avg"], i), _value_at(state["exp_avg_sq"], i)
            rows[name] = {"g": grads[name], "m": m, "v": v,
                          "m_hat": m / (1 - beta1**t), "v_hat": v / (1 - beta2**t),
                          "delta_theta": _value_at(p.data, i) - before[name],
                          "sgd_delta_theta": -group["lr"] * grads[name]}
            if "v_max" in self.quantities:
                rows[name]["v_max"] = _value_at(state["max_exp_avg_sq"], i)
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
        dashed = {"m̂": "5,3", "v̂": "5,3", "max v": "2,2", "1/(1−β₂ᵗ)": "5,3"}
        second = {"v": (t, rec["v"]), "v̂": (t, rec["v_hat"])}
        if "v_max" in rec:
            second["max v"] = (t, rec["v_max"])
        charts = [
            svg.line_chart({"g": (t, rec["g"]), "m": (t, rec["m"]), "m̂": (t, rec["m_hat"])}, dashes=dashed,
                           title=f"一阶矩（{name}）", xlabel="步数 t"),
            svg.line_chart(second, dashes=dashed, log_y=True, title=f"二阶矩（{name}，对数轴）",
                           xlabel="步数 t"),
            svg.line_chart({"1/(1−β₁ᵗ)": (t, self.plotted["bias1"]), "1/(1−β₂ᵗ)": (t, self.plotted["bias2"])},
                           dashes=dashed, log_y=True, title="偏差修正因子", xlabel="步数 t"),
            svg.line_chart({"|Δθ|": (t, np.abs(rec["delta_theta"])),
                            "|αg|": (t, np.abs(rec["sgd_delta_theta"]))},
                           log_y=True, title=f"{self.name} 实际走的一步 |Δθ| 与 |α·g|",
                           xlabel="步数 t"),
        ]
        if isinstance(self.target, SurfaceTarget):
            path = np.array(self.history["path"])
            self.plotted["path"] = path
            charts.append(svg.path_overlay(self.target.surface, {self.name: path}, title="参数轨迹"))
        self.charts.value = svg.row(*charts)
        if self.history["t"]:
            self.set_status(self.status_text())

    def status_text(self):
        """The last step's numbers for the chosen coordinate."""
        if not self.history["t"]:
            return "t = 0"
        name = self.coordinate.value
        last = self.history[name]
        return (f"t = {self.history['t'][-1]}，J = {self.history['loss'][-1]:.4g}；"
                f"{name}: g = {last['g'][-1]:.3g}，"
                f"m̂ = {last['m_hat'][-1]:.3g}，v̂ = {last['v_hat'][-1]:.3g}，"
                f"Δθ = {last['delta_theta'][-1]:.3g}"
                f"（梯度下降 −αg = {last['sgd_delta_theta'][-1]:.3g}）")
