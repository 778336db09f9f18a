"""Benchmark: one training step of an MLP 784-256-256-10 (ReLU, cross-entropy, SGD), batch 128.

Measures in the same run: nnlib on NumPy, nnlib on the torch backend (CPU, and CUDA/MPS when
present) and PyTorch autograd, and prints each as a ratio to PyTorch on the same device, plus
the achieved GFLOP/s next to the machine's measured GEMM GFLOP/s.

    python bench/mlp.py [--steps 50] [--repeats 7] [--threads N]

Targets (issue 2): torch backend ≤ 1.5× PyTorch, NumPy backend ≤ 3×, step ≥ 50 % of GEMM peak.
"""

import argparse
import statistics
import time

import numpy as np
import torch

import nnlib
from nnlib import nn

SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.01


def step_flops(batch=BATCH, sizes=SIZES):
    """Multiply-adds ×2 of forward (X Wᵀ), backward weight grads (δᵀ h) and input grads (δ W),
    except the input grad of the first layer, which nobody needs (PyTorch skips it)."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    macs = sum(batch * i * o for i, o in layers)
    return 2 * (3 * macs - batch * layers[0][0] * layers[0][1])


def gemm_gflops(device, n=2048, repeats=5):
    """Peak-ish float32 GEMM throughput of this machine for one backend."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    if device != "numpy":
        a, b = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device.startswith("mps"):
        torch.mps.synchronize()


def make_data(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=BATCH)
    return nnlib.to_device(x, device), nnlib.to_device(y, device)


def nnlib_step_fn(device):
    nnlib.manual_seed(0)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(device)
    criterion = nn.CrossEntropyLoss()
    x, y = make_data(device)
    params = list(model.parameters())

    def step():
        model.zero_grad()
        criterion(model(x), y)
        model.backward(criterion.backward(), input_grad=False)  # x is data: skip ∂J/∂x, as PyTorch does
        for p in params:  # plain SGD, in place
            p.data -= LR * p.grad

    return step


def torch_step_fn(device):
    torch.manual_seed(0)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = make_data(device)

    def step():
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()

    return step


def time_steps(step, device, steps):
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - t0) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch_devices = [d for d in nnlib.available_devices() if d != "numpy"]
    contenders = [("nnlib (NumPy)", "numpy", nnlib_step_fn("numpy"), "cpu")]
    for dev in torch_devices:
        contenders.append((f"nnlib (torch {dev})", dev, nnlib_step_fn(dev), dev))
        contenders.append((f"PyTorch autograd ({dev})", dev, torch_step_fn(dev), dev))

    for _, dev, step, _ in contenders:  # warm-up: allocations, kernels, caches
        time_steps(step, dev, 10)
    samples = {name: [] for name, *_ in contenders}
    for _ in range(args.repeats):  # interleaved, so drift hits everyone alike
        for name, dev, step, _ in contenders:
            samples[name].append(time_steps(step, dev, args.steps))

    flops = step_flops()
    peaks = {"numpy": gemm_gflops("numpy")} | {d: gemm_gflops(d) for d in torch_devices}
    reference = {dev: statistics.median(samples[f"PyTorch autograd ({dev})"]) for dev in torch_devices}
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, forward + backward + SGD step, float32; "
          f"{flops / 1e6:.0f} MFLOP per step; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"GEMM peak (2048², float32): " + ", ".join(f"{d}: {g:.1f} GFLOP/s" for d, g in peaks.items()))
    print()
    header = f"{'implementation':<28}{'ms/step':>10}{'vs PyTorch':>12}{'GFLOP/s':>10}{'% of GEMM peak':>16}"
    print(header)
    print("-" * len(header))
    for name, dev, _, ref_dev in contenders:
        t = statistics.median(samples[name])
        ratio = t / reference[ref_dev] if ref_dev in reference else float("nan")
        gflops = flops / t / 1e9
        peak = peaks["numpy" if dev == "numpy" else dev]
        print(f"{name:<28}{t * 1e3:>10.3f}{ratio:>11.2f}×{gflops:>10.1f}{100 * gflops / peak:>15.0f}%")
    print()
    print("ratio = median time / median time of PyTorch autograd on the same device (NumPy vs torch CPU); "
          "targets: torch backend ≤ 1.5×, NumPy ≤ 3×, ≥ 50 % of GEMM peak")


if __name__ == "__main__":
    main()
