"""What the benchmarks share: nnlib against PyTorch in the same run, fair on a small machine.

NumPy's BLAS and torch each keep worker threads spinning for a moment after every call. When a
NumPy run and a torch run alternate, the second one shares the cores with the first one's
spinning threads: on this project's 2-core machines that doubled nnlib's torch-backend MLP step
(1.55 → 3.4 ms) while PyTorch, which never followed a NumPy run, kept its speed. So
:func:`measure` groups the contenders by library (NumPy, then each torch device), interleaves
the repeats only within a group — drift and other load still hit the compared runs alike —
and pauses between groups.

A benchmark script supplies only its training steps; the rest is here: the options
(:func:`argument_parser`, :func:`parse_args`), the contenders on every device
(:func:`build_contenders`), the timing (:func:`measure`), the ratio table (:func:`report`),
cProfile tables (:func:`profile`) and a busy process to share the cores with
(:func:`busy_process`).
"""

import argparse
import contextlib
import cProfile
import pstats
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

import nnlib

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass
class Contender:
    name: str
    device: str                 # where it runs: "numpy", "cpu", "cuda:0" …
    step: Callable              # one training step
    reference: str              # the torch device whose PyTorch run it is compared with
    is_reference: bool = False  # it is that PyTorch run


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def argument_parser(doc, *, steps, repeats):
    """The options of every nnlib-against-PyTorch benchmark; a script may add its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--steps", type=positive_int, default=steps, help="training steps per timing")
    parser.add_argument("--repeats", type=positive_int, default=repeats,
                        help="timings per contender (the median is reported)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="threads for torch and NumPy's BLAS alike (default: nnlib's, one each)")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (the steadiest figure "
                             "while other jobs share the cores, with one thread)")
    parser.add_argument("--profile", action="store_true",
                        help="after the timings, print a cProfile table of each nnlib contender")
    parser.add_argument("--busy", action="store_true",
                        help="time everything with one busy process beside it (busy_process), as on a "
                             "laptop where another program is running")
    return parser


def parse_args(parser, argv=None):
    """The parsed options, with ``--threads`` applied before anything is built."""
    args = parser.parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    return args


def limit_threads(n):
    """n threads for torch and for NumPy's BLAS, for nnlib and PyTorch alike.

    Without it both run with nnlib's default (one thread each, ``nnlib.set_cpu_threads``): nnlib
    sets it when the contenders are built, and it is process-wide, so PyTorch gets it too."""
    nnlib.set_cpu_threads(n)
    torch.set_num_threads(n)   # also when nnlib has not used torch's CPU pool yet


def torch_devices():
    """The torch devices here ("cpu", then "cuda:0" or "mps:0" when present)."""
    return [d for d in nnlib.available_devices() if d != "numpy"]


def build_contenders(nnlib_step_fn, torch_step_fn, torch_name):
    """nnlib on NumPy (compared with PyTorch on the CPU) and, on every torch device, nnlib on the
    torch backend and PyTorch itself (named ``torch_name``). ``*_step_fn(device)`` returns one
    training step, built and seeded on that device."""
    contenders = [Contender("nnlib (NumPy)", "numpy", nnlib_step_fn("numpy"), "cpu")]
    for dev in torch_devices():
        contenders.append(Contender(f"nnlib (torch {dev})", dev, nnlib_step_fn(dev), dev))
        contenders.append(Contender(f"{torch_name} ({dev})", dev, torch_step_fn(dev), dev, is_reference=True))
    return contenders


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


def measure(contenders, steps, repeats, warmup=3, clock=time.perf_counter, pause=0.5, busy=False):
    """``{name: [seconds per step, one per repeat]}``, measured group by group (see module doc);
    ``busy``: with one busy process beside the whole measurement."""
    with busy_process() if busy else contextlib.nullcontext():
        return _measure(contenders, steps, repeats, warmup, clock, pause)


def _measure(contenders, steps, repeats, warmup, clock, pause):
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


def report(title, contenders, samples, args, targets, extra_columns=(), notes=(), ratio_target=None):
    """Print the title (with torch's version, threads and the clock) and the ``notes`` lines under
    it, one row per contender — median ms/step, min–max, ratio to the PyTorch run on its
    device — and how to read the ratios.

    ``extra_columns`` are ``(header, function(contender, median_seconds) -> str)``. With
    ``ratio_target`` (the largest ratio to PyTorch the project aims for) each nnlib row also says
    whether its median meets it.
    """
    reference = {c.device: statistics.median(samples[c.name]) for c in contenders if c.is_reference}
    if ratio_target is not None:
        def verdict(c, t):
            if c.is_reference or c.reference not in reference:
                return ""
            return "met" if t / reference[c.reference] <= ratio_target else "not met"
        extra_columns = (*extra_columns, (f"≤ {ratio_target:.2f}×?", verdict))
    beside = "; one busy process beside it" if getattr(args, "busy", False) else ""
    print(f"{title}; torch {torch.__version__}, {torch.get_num_threads()} threads; {args.clock} clock"
          f"{beside}")
    for line in notes:
        print(line)
    print()
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
    print()
    print(f"median of {args.repeats} repeats × {args.steps} steps; ratio = median / median of PyTorch "
          f"on the same device (NumPy vs torch CPU); targets: {targets}")


def profile(contenders, steps, top=15):
    """A cProfile table of ``steps`` steps of each nnlib contender, the costliest functions first."""
    for c in contenders:
        if c.is_reference:
            continue
        print(f"--- profile: {c.name}, {steps} steps ---")
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(steps):
            c.step()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)


@contextlib.contextmanager
def busy_process():
    """``python -c "while True: pass"`` running beside the block, in its own session as another
    program beside a Jupyter kernel would be (Linux then schedules the two as separate groups).
    Yields its ``Popen``; it is killed when the block ends."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        yield hog
    finally:
        hog.kill()
        hog.wait()
