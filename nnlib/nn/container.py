"""``Sequential``: layers applied one after another; backward walks them in reverse."""

from .module import Module


class Sequential(Module):
    """``Sequential(m0, m1, …)`` computes m_k(…m1(m0(x))); parameters are named ``"0.weight"`` …

    backward applies the chain rule layer by layer from the last to the first: each layer
    turns ∂J/∂(its output) into ∂J/∂(its input), which is ∂J/∂(output) of the layer before.
    """

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} must be a Module, got {type(m).__name__}")
            setattr(self, str(i), m)

    def forward(self, x):
        if not self._modules:
            raise ValueError("Sequential: no layers to apply (construct it with at least one module)")
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
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
