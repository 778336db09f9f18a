"""Benchmark: one training step of the document's ConvNet (3×32×32 → 10), batch 64, cross-entropy, Adam.

Measures in the same run (bench/harness.py says how): nnlib on NumPy (with nnlib.optim.Adam), nnlib on the torch
backend (CPU, and CUDA/MPS when present) and PyTorch autograd with torch.optim.Adam, and prints
the median time of each as a ratio to PyTorch on the same device (NumPy against torch CPU).

    python bench/convnet.py [--steps 10] [--repeats 7] [--threads N] [--clock wall|cpu] [--profile] [--no-shared]

Targets: torch backend ≤ 1.5× PyTorch, NumPy backend ≤ 3×. Timings on a shared machine
are noisy: medians over repeats, and the spread (min–max) is printed too. With other
jobs on the cores, ``--clock cpu`` (this process's CPU time; with nnlib's default of one thread
for torch and for NumPy's BLAS) is the steadiest comparison.

Then it runs bench/threads.py (skip it with ``--no-shared``): the same step in fresh processes,
idle and with one busy process beside it, with the libraries' own thread counts and with nnlib's.
"""

import argparse
import cProfile
import pstats
import time

import numpy as np
import torch
import torch.nn.functional as F

import nnlib
import threads
from harness import Contender, limit_threads, measure, report
from nnlib import nn, optim
from nnlib.models import ConvNet

BATCH = 64


class TorchConvNet(torch.nn.Module):
    """The document's PyTorch class, verbatim apart from the name."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 6, 5)
        self.pool = torch.nn.MaxPool2d(2, 2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(16 * 5 * 5, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def make_data(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, size=BATCH)
    return nnlib.to_device(x, device), nnlib.to_device(y, device)


def nnlib_step_fn(device):
    nnlib.manual_seed(0)
    model = ConvNet().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    x, y = make_data(device)

    def step():
        optimizer.zero_grad()
        criterion(model(x), y)
        # No gradient of the images: autograd skips it too (x does not require grad).
        model.backward(criterion.backward(), input_grad=False)
        optimizer.step()

    return step


def torch_step_fn(device):
    torch.manual_seed(0)
    model = TorchConvNet().to(device)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = make_data(device)

    def step():
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()

    return step


def profile(step, steps, label):
    print(f"--- profile: {label}, {steps} steps ---")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and NumPy's BLAS (default: nnlib's, one each)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (with one thread)")
    parser.add_argument("--profile", action="store_true", help="also print cProfile tables of the nnlib steps")
    parser.add_argument("--no-shared", action="store_true",
                        help="skip bench/threads.py (idle vs one busy process, library vs nnlib thread counts)")
    args = parser.parse_args()
    if args.threads:
        limit_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    torch_devices = [d for d in nnlib.available_devices() if d != "numpy"]
    contenders = [Contender("nnlib (NumPy)", "numpy", nnlib_step_fn("numpy"), "cpu")]
    for dev in torch_devices:
        contenders.append(Contender(f"nnlib (torch {dev})", dev, nnlib_step_fn(dev), dev))
        contenders.append(Contender(f"PyTorch autograd ({dev})", dev, torch_step_fn(dev), dev))
    samples = measure(contenders, args.steps, args.repeats, clock=clock)

    print(f"ConvNet (document §4.1), batch {BATCH}×3×32×32, forward + backward + Adam step, float32; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.clock} clock")
    print()
    report(contenders, samples, {d: f"PyTorch autograd ({d})" for d in torch_devices})
    print()
    print(f"median of {args.repeats} repeats × {args.steps} steps; ratio = median / median of PyTorch autograd on "
          "the same device (NumPy vs torch CPU); targets: torch backend ≤ 1.5×, NumPy ≤ 3×")
    if args.profile:
        for c in contenders:
            if c.name.startswith("nnlib"):
                profile(c.step, args.steps, c.name)
    if not args.no_shared:
        print()
        threads.main([])


if __name__ == "__main__":
    main()
