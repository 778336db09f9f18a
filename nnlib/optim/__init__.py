"""Optimizers, learning-rate schedulers and gradient clipping, with torch.optim's names,
signatures, defaults and state keys.

Every optimizer updates ``p.data`` in place from ``p.grad`` (parameters whose ``.grad`` is
``None`` are skipped), and keeps its per-parameter state in ``optimizer.state[p]`` under
PyTorch's key names (``momentum_buffer``, ``sum``, ``square_avg``, ``exp_avg``, ``exp_avg_sq``,
``step`` …), so the book and the widgets can read and plot it. Symbols in the comments:
g = gradient, θ = parameter, α = learning rate.

The schedulers live where PyTorch keeps them, in ``nnlib.optim.lr_scheduler``
(``optim.lr_scheduler.StepLR(optimizer, step_size=5)``).
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .clip_grad import clip_grad_norm_
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "clip_grad_norm_", "lr_scheduler"]
