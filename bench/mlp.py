"""Benchmark: one training step of an MLP 784-256-256-10 (ReLU, cross-entropy, SGD), batch 128.

Measures in the same run (bench/harness.py says how, and why grouped by library): nnlib on
NumPy, nnlib on the torch backend (CPU, and CUDA/MPS when present) and PyTorch autograd, and
prints each as a ratio to PyTorch on the same device, plus the achieved GFLOP/s next to the
machine's measured GEMM GFLOP/s.

    python bench/mlp.py [--steps 50] [--repeats 7] [--threads N] [--clock wall|cpu] [--profile] [--busy]

Targets: ≤ 1.0× PyTorch on both backends (a hand-written backward pays no autograd overhead),
step ≥ 50 % of GEMM peak.
"""

import numpy as np
import torch

import harness
import nnlib
from nnlib import nn

SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.01


def step_flops(batch=BATCH, sizes=SIZES):
    """Multiply-adds ×2 of forward (X Wᵀ), backward weight grads (δᵀ h) and input grads (δ W),
    except the input grad of the first layer, which nobody needs (both sides skip it)."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    macs = sum(batch * i * o for i, o in layers)
    return 2 * (3 * macs - batch * layers[0][0] * layers[0][1])


def gemm_gflops(device, clock, n=2048, repeats=5):
    """Peak-ish float32 GEMM throughput of this machine for one backend, timed with ``clock``
    (the steps' clock, so that the share of the peak compares like with like)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    if device != "numpy":
        a, b = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
    return 2 * n**3 / min(harness.time_steps(lambda: a @ b, device, 1, clock) for _ in range(repeats)) / 1e9


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


def main():
    args = harness.parse_args(harness.argument_parser(__doc__, steps=50, repeats=7))
    contenders = harness.build_contenders(nnlib_step_fn, torch_step_fn, "PyTorch autograd")
    clock = harness.CLOCKS[args.clock]
    samples = harness.measure(contenders, args.steps, args.repeats, warmup=10, clock=clock, busy=args.busy)

    flops = step_flops()
    peaks = {d: gemm_gflops(d, clock) for d in ["numpy", *harness.torch_devices()]}

    def gflops(c, t):
        return f"{flops / t / 1e9:.1f}"

    def share_of_peak(c, t):
        return f"{100 * flops / t / 1e9 / peaks[c.device]:.0f}%"

    harness.report(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, forward + backward + SGD step, float32; "
                   f"{flops / 1e6:.0f} MFLOP per step", contenders, samples, args,
                   "≤ 1.0× PyTorch on both backends, ≥ 50 % of GEMM peak",
                   [("GFLOP/s", gflops), ("% of GEMM peak", share_of_peak)],
                   ["GEMM peak (2048², float32): "
                    + ", ".join(f"{d}: {g:.1f} GFLOP/s" for d, g in peaks.items())], ratio_target=1.0)
    if args.profile:
        harness.profile(contenders, args.steps)


if __name__ == "__main__":
    main()
