"""The errors nnlib raises.

Each one subclasses the built-in exception a Python user would expect (``ValueError`` for a wrong
shape, ``TypeError`` for a wrong dtype …), so ``except ValueError`` keeps working, while the
message always says what was expected and what came in.
"""


class ShapeError(ValueError):
    """An array has the wrong rank or shape (the message names expected and got)."""


class DTypeError(TypeError):
    """An array has the wrong dtype, or is not an array at all."""


class DeviceError(ValueError):
    """Arrays live on different backends/devices (e.g. a NumPy input to a model on ``cuda``)."""


class UnsupportedError(NotImplementedError):
    """PyTorch accepts this argument value, nnlib does not implement it (the message names the
    argument, the value, and what nnlib supports). Never raised for a value PyTorch refuses too."""


class StateDictError(ValueError):
    """``load_state_dict`` got missing or unexpected keys, or arrays of the wrong shape."""


class BackwardError(RuntimeError):
    """``backward`` was called without a matching ``forward`` (or twice for one ``forward``)."""


class DivergenceError(FloatingPointError):
    """Training produced NaN/Inf. ``step``, ``where`` and ``kind`` say when and where."""

    def __init__(self, message, *, step=None, where=None, kind=None):
        super().__init__(message)
        self.step = step
        self.where = where
        self.kind = kind
