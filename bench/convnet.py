"""Benchmark: one training step of the document's ConvNet (3×32×32 → 10), batch 64, cross-entropy, Adam.

Measures in the same run, interleaved: nnlib on NumPy (with nnlib.optim.Adam), nnlib on the torch
backend (CPU, and CUDA/MPS when present) and PyTorch autograd with torch.optim.Adam, and prints
the median time of each as a ratio to PyTorch on the same device (NumPy against torch CPU).

    python bench/convnet.py [--steps 10] [--repeats 7] [--threads N] [--clock wall|cpu] [--profile]

Targets (issue 5): torch backend ≤ 1.5× PyTorch, NumPy backend ≤ 3×. Timings on a shared machine
are noisy: medians over interleaved repeats, and the spread (min–max) is printed too. With other
jobs on the cores, ``--threads 1 --clock cpu`` (this process's CPU time, one thread for torch and
for NumPy's BLAS) is the steadiest comparison.
"""

import argparse
import cProfile
import pstats
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import nnlib
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


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device.startswith("mps"):
        torch.mps.synchronize()


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


CLOCK = time.perf_counter


def time_steps(step, device, steps):
    sync(device)
    t0 = CLOCK()
    for _ in range(steps):
        step()
    sync(device)
    return (CLOCK() - t0) / steps


def limit_threads(n):
    """n threads for torch and for NumPy's BLAS (via threadpoolctl, which scikit-learn brings)."""
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("threadpoolctl not installed: NumPy's BLAS keeps its default thread count")
        return None
    return threadpool_limits(limits=n)  # in force until this object is garbage-collected


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
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and NumPy's BLAS (default: theirs)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (use with --threads 1)")
    parser.add_argument("--profile", action="store_true", help="also print cProfile tables of the nnlib steps")
    args = parser.parse_args()
    global CLOCK
    blas_limit = limit_threads(args.threads) if args.threads else None
    if args.clock == "cpu":
        CLOCK = time.process_time

    torch_devices = [d for d in nnlib.available_devices() if d != "numpy"]
    contenders = [("nnlib (NumPy)", "numpy", nnlib_step_fn("numpy"), "cpu")]
    for dev in torch_devices:
        contenders.append((f"nnlib (torch {dev})", dev, nnlib_step_fn(dev), dev))
        contenders.append((f"PyTorch autograd ({dev})", dev, torch_step_fn(dev), dev))

    for _, dev, step, _ in contenders:  # warm-up: allocations, kernels, caches
        time_steps(step, dev, 3)
    samples = {name: [] for name, *_ in contenders}
    for _ in range(args.repeats):  # interleaved, so drift and other load hit everyone alike
        for name, dev, step, _ in contenders:
            samples[name].append(time_steps(step, dev, args.steps))

    reference = {dev: statistics.median(samples[f"PyTorch autograd ({dev})"]) for dev in torch_devices}
    print(f"ConvNet (document §4.1), batch {BATCH}×3×32×32, forward + backward + Adam step, float32; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.clock} clock; "
          f"median of {args.repeats} interleaved repeats × {args.steps} steps")
    print()
    header = f"{'implementation':<28}{'ms/step':>10}{'min–max':>18}{'vs PyTorch':>12}"
    print(header)
    print("-" * len(header))
    for name, dev, _, ref_dev in contenders:
        t = statistics.median(samples[name])
        spread = f"{min(samples[name]) * 1e3:.1f}–{max(samples[name]) * 1e3:.1f}"
        ratio = t / reference[ref_dev] if ref_dev in reference else float("nan")
        print(f"{name:<28}{t * 1e3:>10.2f}{spread:>18}{ratio:>11.2f}×")
    print()
    print("ratio = median time / median time of PyTorch autograd on the same device (NumPy vs torch CPU); "
          "targets: torch backend ≤ 1.5×, NumPy ≤ 3×")
    if args.profile:
        for name, dev, step, _ in contenders:
            if name.startswith("nnlib"):
                profile(step, args.steps, name)
    del blas_limit


if __name__ == "__main__":
    main()
