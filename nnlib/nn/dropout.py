"""Dropout (Srivastava et al., 2014), in its "inverted" form as in PyTorch."""

from .. import backend
from ..rng import generator
from .module import Module


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1−p);
    in ``eval()`` mode, the identity. The expected output equals the input either way.

    The mask is drawn from nnlib's seeded generator on the CPU, then moved to the input's
    device, so a seed gives the same mask on every backend.
    """

    def __init__(self, p=0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x):
        self.check_input(x)
        if not self.training or self.p == 0:
            self.save_for_backward(None)
            return x
        keep = generator().random(tuple(x.shape)) >= self.p
        mask = backend.to_device((keep / (1 - self.p)).astype(backend.dtype_name(x)), backend.device_of(x))
        self.save_for_backward(mask)
        return x * mask

    def backward(self, grad_output):
        (mask,) = self.saved_for_backward(grad_output)
        return grad_output if mask is None else grad_output * mask

    def extra_repr(self):
        return f"p={self.p}"
