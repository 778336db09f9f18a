"""Live widgets (core ipywidgets ≥ 7.7 only, so they run in JupyterLab, VS Code and Colab).

- :class:`GradientFlowDashboard` — per-layer gradients while an MLP trains (CPU or GPU);
- :class:`AdamExplorer` — Adam's g, m, v, m̂, v̂ and bias corrections step by step;
- :class:`OptimizerRace` — SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam on 2-D surfaces;
- :class:`ConvExplorer` — a kernel, stride and padding applied by ``nn.Conv2d`` to a real image.

Each one is an object: ``display(obj)`` shows it; its methods (``train``, ``step``, ``run``,
``reset``) drive it from code, as the buttons do. An error raised behind a button or a control
shows in the widget's status line (ipywidgets itself would only log it).
"""

from .adam import AdamExplorer, ModelTarget, SurfaceTarget
from .conv_explorer import ConvExplorer
from .gradient_flow import GradientFlowDashboard
from .race import OptimizerRace

__all__ = ["GradientFlowDashboard", "AdamExplorer", "OptimizerRace", "SurfaceTarget", "ModelTarget", "ConvExplorer"]
