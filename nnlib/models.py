"""Models of the source document, rebuilt from nnlib layers with the document's attribute names,
so that the weights of the document's PyTorch models load into them unchanged."""

from . import backend
from .errors import ShapeError
from .nn import Conv2d, Linear, MaxPool2d, Module, ReLU


class ConvNet(Module):
    """The document's CNN for 3×32×32 images (CIFAR-10), section 4.1::

        conv1: Conv2d(3, 6, 5)    3×32×32 → 6×28×28, ReLU, pool 2×2 → 6×14×14
        conv2: Conv2d(6, 16, 5)   → 16×10×10, ReLU, pool 2×2 → 16×5×5
        view(-1, 400)             → 400 features
        fc1: Linear(400, 120), ReLU;  fc2: Linear(120, 84), ReLU;  fc3: Linear(84, 10) → logits

    ``state_dict`` keys are the PyTorch model's (``conv1.weight`` … ``fc3.bias``), so
    ``ConvNet().load_state_dict(torch_convnet.state_dict())`` works in both directions.
    ``backward(δ)`` walks the same steps in reverse and returns ∂J/∂x.
    """

    def __init__(self, *, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.conv1 = Conv2d(3, 6, 5, **kw)
        self.pool = MaxPool2d(2, 2)
        self.conv2 = Conv2d(6, 16, 5, **kw)
        self.fc1 = Linear(16 * 5 * 5, 120, **kw)
        self.fc2 = Linear(120, 84, **kw)
        self.fc3 = Linear(84, 10, **kw)
        # The document calls F.relu four times and self.pool twice in one forward pass. An nnlib
        # module caches what *one* call needs for its backward (a second call would overwrite the
        # first cache), so each use gets its own instance: ``self.pool`` for the first pooling,
        # a twin for the second. Neither pooling nor ReLU has parameters or buffers, so keeping
        # these helpers out of the registered sub-modules (a plain tuple is not registered) leaves
        # the module tree, repr and state_dict exactly those of the PyTorch class.
        self._steps = (ReLU(), MaxPool2d(2, 2), ReLU(), ReLU(), ReLU())

    def forward(self, x):
        relu1, pool2, relu2, relu3, relu4 = self._steps
        x = self.pool(relu1(self.conv1(x)))
        x = pool2(relu2(self.conv2(x)))
        if tuple(x.shape[1:]) != (16, 5, 5):  # x.view(-1, 400) would silently regroup other sizes
            raise ShapeError(f"ConvNet: expects (N, 3, 32, 32) images, which give (N, 16, 5, 5) features "
                             f"before fc1; got {tuple(x.shape)}")
        self.save_for_backward(tuple(x.shape))
        x = backend.namespace(x).reshape(x, (-1, 16 * 5 * 5))  # x.view(-1, 16 * 5 * 5)
        x = relu3(self.fc1(x))
        x = relu4(self.fc2(x))
        return self.fc3(x)

    def backward(self, grad_output):
        (pooled_shape,) = self.saved_for_backward(grad_output)
        relu1, pool2, relu2, relu3, relu4 = self._steps
        delta = self.fc3.backward(grad_output)
        delta = self.fc2.backward(relu4.backward(delta))
        delta = self.fc1.backward(relu3.backward(delta))
        delta = backend.namespace(delta).reshape(delta, pooled_shape)  # the view's backward: reshape back
        delta = self.conv2.backward(relu2.backward(pool2.backward(delta)))
        return self.conv1.backward(relu1.backward(self.pool.backward(delta)))
