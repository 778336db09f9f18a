"""Benchmark: one training step of the document's RNNModel (section 4.2).

Embedding(2000, 128) → LSTM(128, 128, num_layers=2, batch_first=True) → Linear(128, 2000) on
the last step; batch 32, T = 35; cross-entropy on the output, clip_grad_norm_(5), Adam.
Measured in the same run: nnlib on NumPy, nnlib on the torch backend (CPU, and CUDA/MPS when
present) and PyTorch autograd with nn.LSTM (bench/harness.py says how), each as a ratio to PyTorch on the same
device (NumPy against torch CPU). Medians over repeats: the machine may be shared, so single
timings are noisy.

    python bench/rnn.py [--steps 20] [--repeats 7] [--threads N] [--profile]

Targets: torch backend ≤ 2× PyTorch, NumPy backend ≤ 3×.
"""

import argparse

import numpy as np
import torch

import nnlib
from harness import Contender, limit_threads, measure, report
from nnlib import nn, optim
from nnlib.models import RNNModel

VOCAB, EMBED, HIDDEN, LAYERS = 2000, 128, 128, 2
BATCH, SEQ = 32, 35
LR, MAX_NORM = 1e-3, 5.0


class TorchRNNModel(torch.nn.Module):
    """The document's PyTorch model, as written there."""

    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, embed_size)
        self.rnn = torch.nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.fc = torch.nn.Linear(hidden_size, vocab_size)

    def forward(self, x, h0, c0):
        embed = self.embed(x)
        out, (h, c) = self.rnn(embed, (h0, c0))
        out = self.fc(out[:, -1, :])
        return out, (h, c)


def make_data(device):
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, size=(BATCH, SEQ))
    y = rng.integers(0, VOCAB, size=BATCH)
    h0 = np.zeros((LAYERS, BATCH, HIDDEN), dtype=np.float32)
    return [nnlib.to_device(a, device) for a in (x, y, h0, h0.copy())]


def nnlib_step_fn(device):
    nnlib.manual_seed(0)
    model = RNNModel(VOCAB, EMBED, HIDDEN, LAYERS).to(device)
    criterion = nn.CrossEntropyLoss()
    params = list(model.parameters())
    opt = optim.Adam(params, lr=LR)
    x, y, h0, c0 = make_data(device)

    def step():
        opt.zero_grad()
        out, _ = model(x, h0, c0)
        criterion(out, y)
        model.backward(criterion.backward())
        optim.clip_grad_norm_(params, MAX_NORM)
        opt.step()

    return step


def torch_step_fn(device):
    torch.manual_seed(0)
    model = TorchRNNModel(VOCAB, EMBED, HIDDEN, LAYERS).to(device)
    criterion = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x, y, h0, c0 = make_data(device)

    def step():
        opt.zero_grad()
        out, _ = model(x, h0, c0)
        criterion(out, y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
        opt.step()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for torch and for NumPy's BLAS alike (default: nnlib's, one each)")
    parser.add_argument("--profile", action="store_true", help="cProfile 20 steps of nnlib (NumPy) and exit")
    args = parser.parse_args()
    if args.threads:
        limit_threads(args.threads)
    if args.profile:
        import cProfile
        import pstats
        step = nnlib_step_fn("numpy")
        step()
        cProfile.runctx("for _ in range(20): step()", globals(), {"step": step}, "/tmp/rnn.prof")
        pstats.Stats("/tmp/rnn.prof").sort_stats("tottime").print_stats(15)
        return

    torch_devices = [d for d in nnlib.available_devices() if d != "numpy"]
    contenders = [Contender("nnlib (NumPy)", "numpy", nnlib_step_fn("numpy"), "cpu")]
    for dev in torch_devices:
        contenders.append(Contender(f"nnlib (torch {dev})", dev, nnlib_step_fn(dev), dev))
        contenders.append(Contender(f"PyTorch nn.LSTM ({dev})", dev, torch_step_fn(dev), dev))
    samples = measure(contenders, args.steps, args.repeats)

    print(f"RNNModel: Embedding({VOCAB}, {EMBED}) → LSTM({EMBED}, {HIDDEN}, num_layers={LAYERS}) → "
          f"Linear({HIDDEN}, {VOCAB}); batch {BATCH}, T = {SEQ}; forward + backward + clip + Adam, float32; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print()
    report(contenders, samples, {d: f"PyTorch nn.LSTM ({d})" for d in torch_devices})
    print()
    print(f"median of {args.repeats} repeats × {args.steps} steps; ratio = median / median of PyTorch on the "
          f"same device (NumPy vs torch CPU); targets: torch backend ≤ 2×, NumPy ≤ 3×")


if __name__ == "__main__":
    main()
