"""Gradient flow dashboard: train a network live and watch each layer's gradient.

By default it builds an MLP from its controls (depth, width, activation, initialisation);
``model=`` takes any nnlib model instead (e.g. ``nnlib.models.ConvNet`` on image batches),
and every layer with a ``weight`` (``Linear``, ``Conv2d`` …) gets its curve. Per layer it
plots ‖∂J/∂W⁽ˡ⁾‖ over the steps (log scale) and the current distribution of
log₁₀|∂J/∂W⁽ˡ⁾| for the first, middle and last layer, next to the loss. A deep sigmoid network
with naive initialisation shows the first layers' gradients orders of magnitude below the
last ones (vanishing gradients); ReLU with He initialisation keeps them level.
"""

import math
import time

import ipywidgets as W
import numpy as np

from .. import backend, nn
from ..diagnostics import DivergenceGuard
from ..errors import DivergenceError
from ..rng import manual_seed
from . import svg
from .live import LiveWidget, bounded, labelled
from .optimizers import OPTIMIZERS, check_ids

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU,
               "gelu": nn.GELU}

# name → (description, function(weight Parameter, activation name))
INITS = {
    "pytorch": ("PyTorch 默认 U(±1/√n_in)", None),
    "naive": ("朴素 N(0, 1)", lambda w, act: nn.init.normal_(w, 0.0, 1.0)),
    "small": ("过小 N(0, 0.01²)", lambda w, act: nn.init.normal_(w, 0.0, 0.01)),
    "xavier": ("Xavier/Glorot", lambda w, act: nn.init.xavier_uniform_(w, gain=_gain(act))),
    "he": ("He/Kaiming", lambda w, act: nn.init.kaiming_normal_(w, nonlinearity="relu")),
}

def _gain(activation):
    return nn.init.calculate_gain({"gelu": "relu", "leaky_relu": "leaky_relu"}.get(activation, activation))


def load_digits_data():
    """scikit-learn's 8×8 digits (ship with the package: work offline), X (1797, 64) in [0, 1] and
    y (1797,); read by ``nnlib.data.load_digits_8x8``, which does not import scikit-learn."""
    from ..data import load_digits_8x8

    images, target = load_digits_8x8()
    return (images.reshape(-1, 64) / 16.0).astype(np.float32), target


def build_mlp(n_in, n_out, depth, width, activation, init):
    """``depth`` hidden layers of ``width`` units with ``activation``, initialised by ``init``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {sorted(INITS)}")
    layers, sizes = [], [n_in] + [width] * depth
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(sizes[-1], n_out))
    model = nn.Sequential(*layers)
    fill = INITS[init][1]
    if fill is not None:
        for layer in model:
            if isinstance(layer, nn.Linear):
                fill(layer.weight, activation)
                nn.init.zeros_(layer.bias)
    return model


class GradientFlowDashboard(LiveWidget):
    """Train a network live on (X, y) and plot per-layer gradient norms, histograms and the loss.

    Without ``model``: an MLP on X of shape (N, features), built from the controls
    (scikit-learn's digits if ``data`` is None). With ``model``, a function that builds a
    fresh nnlib model (e.g. ``nnlib.models.ConvNet``; ``reset()`` calls it again): that model
    on ``data``, X shaped as its input; the depth/width/activation controls are hidden, and
    the initialisation control refills every layer's ``weight`` (``"pytorch"`` keeps the
    model's own initialisation).

    ``optimizer`` is an id of ``nnlib.widgets.OPTIMIZERS`` (``"sgd"``,
    ``"momentum"``, ``"adam"`` …); the drop-down shows the labels of that table.

    Everything is also driveable from code (``train(steps)``, ``reset()``), which is how the
    tests and the static book use it. ``history`` holds the recorded numbers; ``plotted`` the
    numbers the last redraw drew.
    """

    def __init__(self, data=None, *, model=None, depth=6, width=32, activation="sigmoid", init="naive",
                 lr=0.1, optimizer="sgd", device="numpy", batch_size=128, steps=200, seed=0,
                 min_interval=0.2):
        super().__init__(min_interval)
        self._training = False
        # A model instance would be reused by every reset(): only a function that builds one will do.
        if model is not None and (isinstance(model, nn.Module) or not callable(model)):
            raise TypeError(f"model must be a function (or class) that builds a fresh nnlib model, e.g. "
                            f"nnlib.models.ConvNet, got {type(model).__name__}")
        if model is not None and data is None:
            raise ValueError("with model=..., pass the data too: (X, y) with X shaped as the model's input")
        self.model_fn = model  # None: an MLP built from the controls
        self.X_all, self.y_all = load_digits_data() if data is None else data
        if (self.y_all.ndim != 1 or self.X_all.shape[:1] != self.y_all.shape
                or (model is None and self.X_all.ndim != 2)):
            features = "(N, ...) as the model's input" if model is not None else "(N, features)"
            raise ValueError(f"data must be (X of shape {features}, y of shape (N,)), "
                             f"got {self.X_all.shape}, {self.y_all.shape}")
        self.n_classes = int(self.y_all.max()) + 1
        self.seed, self.batch_size = seed, batch_size
        devices = backend.available_devices()
        if device not in devices:
            raise ValueError(f"device {device!r} is not available here; choose one of {devices}")
        self.depth = labelled(bounded(W.IntSlider(min=1, max=20), depth, "depth"), "隐藏层数")
        self.width = labelled(bounded(W.IntSlider(min=4, max=256, step=4), width, "width"), "每层宽度")
        self.activation = labelled(W.Dropdown(options=list(ACTIVATIONS), value=activation), "激活函数")
        init_options = [(d, k) for k, (d, _) in INITS.items()]
        self.init = labelled(W.Dropdown(options=init_options, value=init), "初始化")
        lr_slider = W.FloatLogSlider(base=10, min=-4, max=0.5, step=0.1, readout_format=".1e")
        self.lr = labelled(bounded(lr_slider, lr, "lr"), "学习率")
        check_ids([optimizer])
        optimizer_options = [(e.label, k) for k, e in OPTIMIZERS.items()]
        self.optimizer_name = labelled(W.Dropdown(options=optimizer_options, value=optimizer), "优化器")
        self.device = labelled(W.Dropdown(options=devices, value=device), "设备")
        self.steps = labelled(W.BoundedIntText(value=steps, min=1, max=1_000_000), "步数")
        self.train_button = W.Button(description="训练", button_style="primary", icon="play")
        self.reset_button = W.Button(description="重置模型", icon="refresh")
        self.on_click(self.train_button, lambda: self.train(self.steps.value))
        self.on_click(self.reset_button, self.reset)
        for control in (self.depth, self.width, self.activation, self.init, self.device):
            self.on_change(control, lambda _: self.reset())
        self.on_change(self.lr, self._set_lr)
        self.on_change(self.optimizer_name, lambda _: self._new_optimizer())
        self.charts = W.HTML()
        architecture = [self.depth, self.width, self.activation] if model is None else []  # fixed by model
        controls = W.HBox([W.VBox(architecture + [self.init]),
                           W.VBox([self.lr, self.optimizer_name, self.device, self.steps]),
                           W.VBox([self.train_button, self.reset_button])], layout={"flex_flow": "row wrap"})
        self.view.children = [controls, self.status, self.charts]
        self.reset()

    # --- model and training ---------------------------------------------------------------
    def reset(self):
        """Build a fresh model from the controls and forget the history."""
        manual_seed(self.seed)
        if self.model_fn is None:
            self.model = build_mlp(self.X_all.shape[1], self.n_classes, self.depth.value, self.width.value,
                                   self.activation.value, self.init.value).to(self.device.value)
            self.linear_names = [name for name, m in self.model.named_modules() if isinstance(m, nn.Linear)]
            described = (f"{self.depth.value} 个隐藏层 × {self.width.value}，{self.activation.value}，"
                         f"{INITS[self.init.value][0]}")
        else:
            self.model = self.model_fn().to(self.device.value)
            # Every layer with a weight (Conv2d, Linear, …), in the order of the module tree.
            self.linear_names = [name for name, m in self.model.named_modules()
                                 if name and isinstance(getattr(m, "weight", None), nn.Parameter)]
            modules = dict(self.model.named_modules())
            fill = INITS[self.init.value][1]
            if fill is not None:
                for name in self.linear_names:
                    fill(modules[name].weight, "relu")
                    if getattr(modules[name], "bias", None) is not None:
                        nn.init.zeros_(modules[name].bias)
            n_params = sum(p.numel() for p in self.model.parameters())
            described = f"{type(self.model).__name__}（{n_params:,} 个参数），{INITS[self.init.value][0]}"
        self.layer_names = self.linear_names  # the layers whose weight gradients are recorded
        self.X = backend.to_device(self.X_all, self.device.value)
        self.y = backend.to_device(self.y_all, self.device.value)
        self.criterion = nn.CrossEntropyLoss()
        self.history = {"step": [], "loss": [], "grad_norm": {n: [] for n in self.linear_names}}
        self.rng = np.random.default_rng(self.seed)
        self._new_optimizer()
        self.diverged = None
        self.set_status(f"新模型：{described}，设备 {self.model.device}")
        self.redraw()

    def _new_optimizer(self):
        entry = OPTIMIZERS[self.optimizer_name.value]
        self.optimizer = entry.make(list(self.model.parameters()), self.lr.value)

    def _set_lr(self, lr):
        self.optimizer.set_hyperparameter("lr", lr)  # checked as the constructor checks it

    def train(self, steps):
        """Train ``steps`` minibatch steps, redrawing at most every ``min_interval`` seconds."""
        if self.diverged:
            self.set_status(f"{self.diverged} —— 请点“重置模型”或调小学习率", error=True)
            return self
        guard = DivergenceGuard(self.model)
        start = time.perf_counter()
        done, interrupted = 0, False
        self._training = True
        try:
            for _ in range(steps):
                with np.errstate(over="ignore", invalid="ignore"):  # the guard reports NaN/Inf instead
                    self._step(guard)
                done += 1
                self.maybe_redraw()
        except DivergenceError as err:
            what = {"activation": "层 '{}' 的输出", "loss": "损失{}", "gradient": "参数 '{}' 的梯度",
                    "parameter": "参数 '{}'"}[err.kind].format(err.where if err.kind != "loss" else "")
            self.diverged = f"训练在第 {err.step} 步发散：{what}出现 NaN/Inf"
        except KeyboardInterrupt:
            interrupted = True
        finally:
            guard.close()
            self._training = False
        elapsed = time.perf_counter() - start
        self.redraw()
        if self.diverged:
            self.set_status(self.diverged, error=True)
        elif done:
            stopped = f"已中断：走了 {done} 步（共 {steps} 步）；" if interrupted else ""
            accuracy = self.accuracy()
            # The accuracy of always guessing the commonest class.
            chance = np.bincount(backend.to_numpy(self.y_all)).max() / len(self.y_all)
            level = f"，与总是猜样本最多的那一类（{chance:.1%}）相当" if accuracy < chance + 0.05 else ""
            note = self.stall_note()
            self.set_status(f"{stopped}第 {len(self.history['step'])} 步："
                            f"损失 {self.history['loss'][-1]:.4f}，"
                            f"训练集准确率 {accuracy:.1%}{level}，"
                            f"{done / elapsed:.0f} 步/秒（设备 {self.model.device}）"
                            + (f"<br><b>{note}</b>" if note else ""))
        elif interrupted:
            self.set_status("已中断")
        return self

    # The loss counts as stuck when, after STALL_STEPS steps, the mean of the last STALL_WINDOW
    # minibatch losses is less than STALL_DROP (relative) below the mean of the first ones.
    STALL_STEPS, STALL_WINDOW, STALL_DROP = 100, 20, 0.02

    def stall_note(self):
        """A sentence for the status line if the loss has not moved since the start (else ``""``),
        with the cause the recorded gradients point to: the first layer's gradient norm against
        the last layer's, both as medians over the last steps."""
        losses, k = self.history["loss"], self.STALL_WINDOW
        if len(losses) < self.STALL_STEPS:
            return ""
        first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
        if not last > first * (1 - self.STALL_DROP):
            return ""
        norms = self.history["grad_norm"]
        names = list(norms)
        ratio = float(np.median(norms[names[0]][-k:]) / max(np.median(norms[names[-1]][-k:]), 1e-300))
        stuck = f"损失几乎没有下降（前 {k} 步平均 {first:.3f}，最近 {k} 步平均 {last:.3f}）"
        if self.model_fn is None:
            first_name, last_name = self._label(names[0]), self._label(names[-1])
        else:
            first_name, last_name = f"第一层（{names[0]}）", f"最后一层（{names[-1]}）"
        if ratio < 1e-3:
            return (f"{stuck}：{first_name}的梯度范数只有{last_name}的 {ratio:.0e}，"
                    f"梯度在前几层消失了（见 3.2.5 节）")
        return (f"{stuck}；{first_name}与{last_name}的梯度范数之比为 {ratio:.2g}，梯度并没有消失："
                f"可以试试更大的学习率、别的初始化或优化器")

    def _step(self, guard):
        idx = self.rng.choice(len(self.y_all), size=min(self.batch_size, len(self.y_all)), replace=False)
        idx = backend.to_device(idx, self.device.value)
        x, y = self.X[idx], self.y[idx]
        self.model.zero_grad()
        loss = self.criterion(self.model(x), y)
        if self.model.can_skip_input_grad:  # the data needs no gradient: skip the first layer's ∂J/∂x
            self.model.backward(self.criterion.backward(), input_grad=False)
        else:
            self.model.backward(self.criterion.backward())
        step = len(self.history["step"])
        guard.check(step, loss)
        modules = dict(self.model.named_modules())
        norms = {name: float(_norm(modules[name].weight.grad)) for name in self.history["grad_norm"]}
        # Recorded only once everything is computed, so an interrupted step leaves no ragged history.
        for name, value in norms.items():
            self.history["grad_norm"][name].append(value)
        self.history["step"].append(step)
        self.history["loss"].append(float(loss))
        self.optimizer.step()

    def accuracy(self, batch_size=None):
        """Accuracy on all of (X, y), in forward passes of at most ``batch_size`` examples
        (default: all at once for the MLP, 1024 for a ``model``)."""
        batch_size = batch_size or (len(self.y_all) if self.model_fn is None else 1024)
        correct = 0
        for start in range(0, len(self.y_all), batch_size):
            logits = backend.to_numpy(self.model(self.X[start:start + batch_size]))
            correct += int(np.sum(np.argmax(logits, axis=1) == self.y_all[start:start + batch_size]))
        return correct / len(self.y_all)

    # --- drawing ------------------------------------------------------------------------------
    def _label(self, name):
        """第 l 层 for the MLP's layers; the module's own name (conv1, fc3 …) for a ``model``."""
        return f"第{self.linear_names.index(name) + 1}层" if self.model_fn is None else name

    def _layers_for_histogram(self):
        names = self.linear_names
        picks = sorted({0, len(names) // 2, len(names) - 1})
        return [names[i] for i in picks]

    def _render(self):
        steps = np.array(self.history["step"])
        norms = {self._label(n): (steps, np.array(v)) for n, v in self.history["grad_norm"].items()}
        modules = dict(self.model.named_modules())
        hist_names = self._layers_for_histogram()
        grads = []
        for name in hist_names:
            g = modules[name].weight.grad
            with np.errstate(divide="ignore"):
                grads.append(np.log10(np.abs(backend.to_numpy(g))) if g is not None else np.array([]))
        labels = [self._label(n) for n in hist_names]
        hist_svg, (counts, edges) = svg.histogram(grads, title="当前梯度分布", xlabel="log₁₀|∂J/∂W|",
                                                  labels=labels)
        self.plotted = {"grad_norm": {n: v[1] for n, v in norms.items()},
                        "loss": np.array(self.history["loss"]),
                        "histogram_layers": hist_names, "histogram_counts": counts, "histogram_edges": edges}
        if self._training and len(steps):
            note = self.stall_note()
            self.set_status(f"训练中：第 {len(steps)} 步，损失 {self.history['loss'][-1]:.4f}"
                            + (f"<br><b>{note}</b>" if note else ""))
        self.charts.value = svg.row(
            svg.line_chart({"损失": (steps, self.plotted["loss"])}, title="训练损失", xlabel="步数",
                           show_legend=False),
            svg.line_chart(norms, title="各层权重梯度范数 ‖∂J/∂W‖", xlabel="步数", log_y=True),
            hist_svg,
        )


def _norm(array):
    xp = backend.namespace(array)
    return math.sqrt(float(xp.sum(array * array)))
