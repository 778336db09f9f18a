"""Timing shared by the benchmarks: nnlib against PyTorch in the same run, fair on a small machine.

NumPy's BLAS and torch each keep worker threads spinning for a moment after every call. When a
NumPy run and a torch run alternate, the second one shares the cores with the first one's
spinning threads: on this project's 2-core machines that doubled nnlib's torch-backend MLP step
(1.55 → 3.4 ms) while PyTorch, which never followed a NumPy run, kept its speed. So
:func:`measure` groups the contenders by library (NumPy, then each torch device), interleaves
the repeats only within a group — drift and other load still hit the compared runs alike —
and pauses between groups.
"""

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

import nnlib


@dataclass
class Contender:
    name: str
    device: str        # where it runs: "numpy", "cpu", "cuda:0" …
    step: Callable     # one training step
    reference: str     # the torch device whose PyTorch run it is compared with


def sync(device):
    """Wait for queued GPU work, so that a timer measures it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device.startswith("mps"):
        torch.mps.synchronize()


def time_steps(step, device, steps, clock=time.perf_counter):
    """Mean seconds per call of ``step`` over ``steps`` calls."""
    sync(device)
    t0 = clock()
    for _ in range(steps):
        step()
    sync(device)
    return (clock() - t0) / steps


def limit_threads(n):
    """n threads for torch and for NumPy's BLAS, for nnlib and PyTorch alike.

    Without it both run with nnlib's default (one thread each, ``nnlib.set_cpu_threads``): nnlib
    sets it when the contenders are built, and it is process-wide, so PyTorch gets it too."""
    nnlib.set_cpu_threads(n)
    torch.set_num_threads(n)   # also when nnlib has not used torch's CPU pool yet


def measure(contenders, steps, repeats, warmup=3, clock=time.perf_counter, pause=0.5):
    """``{name: [seconds per step, one per repeat]}``, measured group by group (see module doc)."""
    groups = {}
    for c in contenders:
        groups.setdefault("numpy" if c.device == "numpy" else c.device, []).append(c)
    samples = {c.name: [] for c in contenders}
    for group in groups.values():
        time.sleep(pause)  # let the previous library's worker threads go to sleep
        for c in group:
            time_steps(c.step, c.device, warmup, clock)
        for _ in range(repeats):
            for c in group:
                samples[c.name].append(time_steps(c.step, c.device, steps, clock))
    return samples


def report(contenders, samples, reference_names, extra_columns=()):
    """Print one row per contender: median ms/step, min–max, ratio to its PyTorch reference.

    ``reference_names`` maps a torch device to the name of the PyTorch contender on it;
    ``extra_columns`` are ``(header, function(contender, median_seconds) -> str)``.
    """
    reference = {dev: statistics.median(samples[name]) for dev, name in reference_names.items()}
    header = f"{'implementation':<28}{'ms/step':>10}{'min–max':>16}{'vs PyTorch':>12}"
    header += "".join(f"{h:>16}" for h, _ in extra_columns)
    print(header)
    print("-" * len(header))
    for c in contenders:
        t = statistics.median(samples[c.name])
        spread = f"{min(samples[c.name]) * 1e3:.2f}–{max(samples[c.name]) * 1e3:.2f}"
        ratio = t / reference[c.reference] if c.reference in reference else float("nan")
        row = f"{c.name:<28}{t * 1e3:>10.3f}{spread:>16}{ratio:>11.2f}×"
        row += "".join(f"{fn(c, t):>16}" for _, fn in extra_columns)
        print(row)
