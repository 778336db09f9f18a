"""Benchmark: one training step of the document's RNNModel (section 4.2).

Embedding(2000, 128) → LSTM(128, 128, num_layers=2, batch_first=True) → Linear(128, 2000) on
the last step; batch 32, T = 35; cross-entropy on the output, clip_grad_norm_(5), Adam.
Measured in the same run: nnlib on NumPy, nnlib on the torch backend (CPU, and CUDA/MPS when
present) and PyTorch autograd with nn.LSTM (bench/harness.py says how), each as a ratio to PyTorch on the same
device (NumPy against torch CPU). Medians over repeats: the machine may be shared, so single
timings are noisy.

    python bench/rnn.py [--steps 20] [--repeats 7] [--threads N] [--clock wall|cpu] [--profile] [--busy]

Targets: ≤ 1.3× PyTorch on both backends.
"""

import numpy as np
import torch

import harness
import nnlib
from nnlib import nn, optim, torch_models
from nnlib.models import RNNModel

VOCAB, EMBED, HIDDEN, LAYERS = 2000, 128, 128, 2
BATCH, SEQ = 32, 35
LR, MAX_NORM = 1e-3, 5.0


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
    model = torch_models.RNNModel(VOCAB, EMBED, HIDDEN, LAYERS).to(device)
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
    args = harness.parse_args(harness.argument_parser(__doc__, steps=20, repeats=7))
    contenders = harness.build_contenders(nnlib_step_fn, torch_step_fn, "PyTorch nn.LSTM")
    samples = harness.measure(contenders, args.steps, args.repeats, clock=harness.CLOCKS[args.clock],
                              busy=args.busy)
    harness.report(f"RNNModel: Embedding({VOCAB}, {EMBED}) → LSTM({EMBED}, {HIDDEN}, num_layers={LAYERS}) → "
                   f"Linear({HIDDEN}, {VOCAB}); batch {BATCH}, T = {SEQ}; "
                   "forward + backward + clip + Adam, float32",
                   contenders, samples, args, "≤ 1.3× PyTorch on both backends", ratio_target=1.3)
    if args.profile:
        harness.profile(contenders, args.steps)


if __name__ == "__main__":
    main()
