"""Live widgets (core ipywidgets ≥ 7.7 only, so they run in JupyterLab, VS Code and Colab).

- :class:`GradientFlowDashboard` — per-layer gradients while an MLP trains (CPU or GPU);
- :class:`AdamExplorer` — Adam's state (m, v), m̂, v̂, the bias corrections and the step Δθ it
  took, step by step;
- :class:`OptimizerRace` — the optimizers of ``OPTIMIZERS`` (SGD, momentum, Nesterov,
  AdaGrad, RMSProp, Adam) on 2-D surfaces;
- :class:`ConvExplorer` — a kernel, stride and padding applied by ``nn.Conv2d`` to a real image.

``OPTIMIZERS`` is the one table of the optimizers the book compares: ids (``"sgd"``,
``"momentum"``, ``"adam"`` …) as keys, the Chinese label the reader sees as a field.

Each widget is an object: ``display(obj)`` shows it; its methods (``train``, ``step``, ``run``,
``reset``) drive it from code, as the buttons do. An error raised behind a button or a control
shows in the widget's status line (ipywidgets itself would only log it).
"""

from .adam import AdamExplorer, ModelTarget, SurfaceTarget
from .conv_explorer import ConvExplorer
from .gradient_flow import GradientFlowDashboard
from .optimizers import OPTIMIZERS, OptimizerEntry
from .race import OptimizerRace

__all__ = ["GradientFlowDashboard", "AdamExplorer", "OptimizerRace", "SurfaceTarget", "ModelTarget",
           "ConvExplorer", "OPTIMIZERS", "OptimizerEntry"]
