"""Dropout (Srivastava et al., 2014), in its "inverted" form as in PyTorch."""

from .. import backend
from ..rng import generator
from .functional import check_bool, check_supported, keep_array
from .module import Module


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1−p);
    in ``eval()`` mode, the identity. The expected output equals the input either way
    (``p=1`` zeros everything, as in PyTorch).

    The mask is drawn from nnlib's seeded generator on the CPU, then moved to the input's
    device, so a seed gives the same mask on every backend. Backward multiplies δ by the
    same mask: ∂J/∂x = δ ⊙ mask.

    ``inplace=True`` is refused: PyTorch's autograd notices when an in-place write destroys an
    array that an earlier layer saved for its backward pass (Tanh and Sigmoid keep their output);
    nnlib has no such bookkeeping, and its gradients would silently be wrong.
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        check_bool(inplace, "inplace", "Dropout")
        self.inplace = check_supported(inplace, (False,), "inplace", "Dropout")

    def forward(self, input):
        x = self.check_input(input)
        if not self.training or self.p == 0:
            self.save_for_backward(None)
            return x
        keep = generator().random(tuple(x.shape)) >= self.p
        scale = 0.0 if self.p == 1 else 1 / (1 - self.p)
        mask = backend.to_device((keep * scale).astype(backend.dtype_name(x)), backend.device_of(x))
        self.save_for_backward(mask)
        return keep_array(x * mask)

    def backward(self, grad_output):
        (mask,) = self.saved_for_backward(grad_output)
        return grad_output if mask is None else keep_array(grad_output * mask)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
