"""Layers and losses with PyTorch's names, signatures and ``state_dict`` keys — and
hand-written backward passes."""

from . import functional, init
from .activation import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .container import Sequential
from .conv import Conv2d
from .dropout import Dropout
from .linear import Flatten, Identity, Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AvgPool2d, MaxPool2d
from .recurrent import GRU, LSTM, RNN
from .sparse import Embedding

__all__ = [
    "Module", "Parameter", "Sequential", "Linear", "Identity", "Flatten",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "GELU", "Softmax", "Dropout",
    "MSELoss", "CrossEntropyLoss", "functional", "init",
    "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d",
    "BatchNorm1d", "LayerNorm",
    "Embedding", "RNN", "LSTM", "GRU",
]
