"""Layers and losses with PyTorch's names, signatures and ``state_dict`` keys — and
hand-written backward passes."""

from . import functional, init
from .attention import MultiheadAttention
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import Sequential
from .conv import Conv1d, Conv2d
from .ctc import CTCLoss
from .dropout import Dropout
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .recurrent import GRU, LSTM, RNN
from .sparse import Embedding
from .transformer import SinusoidalPositionalEncoding, TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "Module", "Parameter", "Sequential", "Linear", "Identity", "Flatten",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "GELU", "Softmax", "LogSoftmax", "Dropout",
    "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "CTCLoss", "functional", "init",
    "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "Embedding", "RNN", "LSTM", "GRU",
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "SinusoidalPositionalEncoding",
]
