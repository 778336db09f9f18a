"""Benchmark: one training step of the document's ConvNet (3×32×32 → 10), batch 64, cross-entropy, Adam.

Measures in the same run (bench/harness.py says how): nnlib on NumPy (with nnlib.optim.Adam),
nnlib on the torch backend (CPU, and CUDA/MPS when present) and PyTorch autograd with
torch.optim.Adam, and prints the median time of each as a ratio to PyTorch on the same device
(NumPy against torch CPU).

    python bench/convnet.py [--steps 10] [--repeats 7] [--threads N] [--clock wall|cpu] [--profile] [--busy]

Targets: ≤ 1.3× PyTorch on both backends. Timings on a shared machine
are noisy: medians over repeats, and the spread (min–max) is printed too. With other
jobs on the cores, ``--clock cpu`` (this process's CPU time; with nnlib's default of one thread
for torch and for NumPy's BLAS) is the steadiest comparison.

bench/threads.py times this step (``nnlib_step_fn``) in fresh processes, idle and with one busy
process beside it, with the libraries' own thread counts and with nnlib's (``make bench`` runs both).
"""

import numpy as np
import torch

import harness
import nnlib
from nnlib import nn, optim, torch_models
from nnlib.models import ConvNet

BATCH = 64
LR = 1e-3


def make_data(device, batch=BATCH):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, size=batch)
    return nnlib.to_device(x, device), nnlib.to_device(y, device)


def nnlib_step_fn(device, batch=BATCH, lr=LR):
    """One training step of nnlib's ConvNet on ``device``; the step returns the loss."""
    nnlib.manual_seed(0)
    model = ConvNet().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    x, y = make_data(device, batch)

    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        # No gradient of the images: autograd skips it too (x does not require grad).
        model.backward(criterion.backward(), input_grad=False)
        optimizer.step()
        return loss

    return step


def torch_step_fn(device):
    torch.manual_seed(0)
    model = torch_models.ConvNet().to(device)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    x, y = make_data(device)

    def step():
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()

    return step


def main():
    parser = harness.argument_parser(__doc__, steps=10, repeats=7)
    args = harness.parse_args(parser)
    contenders = harness.build_contenders(nnlib_step_fn, torch_step_fn, "PyTorch autograd")
    samples = harness.measure(contenders, args.steps, args.repeats, clock=harness.CLOCKS[args.clock],
                              busy=args.busy)
    harness.report(f"ConvNet (document §4.1), batch {BATCH}×3×32×32, forward + backward + Adam step, float32",
                   contenders, samples, args, "≤ 1.3× PyTorch on both backends", ratio_target=1.3)
    if args.profile:
        harness.profile(contenders, args.steps)


if __name__ == "__main__":
    main()
