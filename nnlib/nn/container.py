"""``Sequential``: layers applied one after another; backward walks them in reverse."""

from collections import OrderedDict

from .module import Module


class Sequential(Module):
    """``Sequential(m0, m1, …)`` computes m_k(…m1(m0(x))); parameters are named ``"0.weight"`` …

    ``Sequential(OrderedDict([("fc", Linear(4, 2)), ("act", Tanh())]))`` names the layers instead
    (``"fc.weight"`` …), as in PyTorch. backward applies the chain rule layer by layer from the
    last to the first: each layer turns ∂J/∂(its output) into ∂J/∂(its input), which is
    ∂J/∂(output) of the layer before. Each layer gets one input, the previous layer's output: of a
    layer whose backward returns one gradient per forward argument (a tuple, e.g.
    ``TransformerEncoderLayer``'s), the first, ∂J/∂input, is passed on.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            named = list(args[0].items())
        else:
            named = [(str(i), m) for i, m in enumerate(args)]
        for i, (name, m) in enumerate(named):
            if not isinstance(m, Module):
                what = f"entry {name!r}" if isinstance(args[0], OrderedDict) else f"argument {i}"
                raise TypeError(f"Sequential: {what} must be a Module, got {type(m).__name__}")
            if not isinstance(name, str) or not name or "." in name or hasattr(self, name):
                raise ValueError(f"Sequential: a layer name must be a non-empty string without '.' that is "
                                 f"not already an attribute of Sequential, got {name!r}")
            setattr(self, name, m)

    def forward(self, input):
        if not self._modules:
            raise ValueError("Sequential: no layers to apply (construct it with at least one module)")
        x = input
        for m in self._modules.values():
            x = m(x)
        return x

    can_skip_input_grad = True

    def backward(self, grad_output, *, input_grad=True):
        """Returns ∂J/∂x; with ``input_grad=False`` (x is data) returns ``None`` and skips the
        work that only ∂J/∂x needs: below the first layer with parameters, nothing is needed."""
        layers = list(self._modules.values())
        has_params = [any(True for _ in m.parameters()) for m in layers]
        for i in reversed(range(len(layers))):
            layer = layers[i]
            if input_grad or any(has_params[:i]):
                grad_output = layer.backward(grad_output)
                if isinstance(grad_output, tuple):  # (∂J/∂input, the other arguments' gradients …)
                    grad_output = grad_output[0]
            elif layer.can_skip_input_grad:
                return layer.backward(grad_output, input_grad=False)
            elif has_params[i]:
                layer.backward(grad_output)
                return None
            else:
                return None  # parameter-free layers below all parameters: nothing left to compute
        return grad_output

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):  # the layers keep their names, as in PyTorch
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
