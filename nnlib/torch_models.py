"""The source document's two PyTorch models, exactly as printed there: ``ConvNet`` (section 4.1)
and ``RNNModel`` (section 4.2).

They are the references that ``nnlib.models`` is checked and timed against: the tests load
their weights into the nnlib models and compare outputs and gradients, the benchmarks train
both. The class bodies are the document's code unchanged (``nn`` is ``torch.nn`` here, as in the
document), and a test compares them with the copies that chapters 4.1 and 4.2 print. Unlike the
rest of nnlib this module needs PyTorch; ``import nnlib`` does not import it.

``ConvNet()`` maps (N, 3, 32, 32) images to (N, 10) logits. ``RNNModel(vocab_size, embed_size,
hidden_size, num_layers)`` maps token ids (N, T) and the LSTM state ``h0``, ``c0``, each
(num_layers, N, hidden_size), to the scores of the next token (N, vocab_size) and the final
state ``(h, c)``.
"""

import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ConvNet", "RNNModel"]


class ConvNet(nn.Module):
    def __init__(self):
        super(ConvNet, self).__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


class RNNModel(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super(RNNModel, self).__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, h0, c0):
        embed = self.embed(x)
        out, (h, c) = self.rnn(embed, (h0, c0))
        out = self.fc(out[:, -1, :])
        return out, (h, c)
