"""Benchmark: chapter 4.1's training step on a shared machine — idle, and with one busy process beside it.

One training step of the document's ConvNet as chapter 4.1 trains it (batch 32×3×32×32, float32,
cross-entropy, nnlib.optim.Adam, no gradient of the images), for nnlib on NumPy and on torch's
CPU backend, each with the libraries' own thread counts (``NNLIB_CPU_THREADS=0``: what nnlib did
before it chose the count itself) and with nnlib's default (one thread, see
``nnlib.set_cpu_threads``). Every configuration runs in a fresh process, once on its own and
once with ``python -c "while True: pass"`` beside it, each in its own session as a Jupyter kernel
and another program are (Linux schedules sessions as separate groups when autogroup is on, and
then a thread that shares a core with the busy process keeps the others waiting much longer).
The two conditions and the configurations are interleaved round by round, so that other load on
the machine hits them alike, and the medians over rounds are printed (min–max in brackets).

    python bench/threads.py [--rounds 3] [--seconds 2]

The figures depend on the machine's core count and on what else runs: on a 2-core machine one
busy process takes one of the two cores.
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

import harness
import nnlib

BATCH, LR = 32, 5e-3
CONFIGS = [  # (name, nnlib device, extra environment)
    ("nnlib (NumPy), library threads", "numpy", {"NNLIB_CPU_THREADS": "0"}),
    ("nnlib (NumPy), nnlib default", "numpy", {}),
    ("nnlib (torch cpu), torch threads", "cpu", {"NNLIB_CPU_THREADS": "0"}),
    ("nnlib (torch cpu), nnlib default", "cpu", {}),
]
# A count chosen in the environment would decide both rows of a pair alike.
CLEARED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NNLIB_CPU_THREADS")


def worker(device, seconds):
    """Print a JSON line: median seconds per step, and the thread counts the step ran with."""
    import torch
    from threadpoolctl import threadpool_info

    import convnet

    step = convnet.nnlib_step_fn(device, batch=BATCH, lr=LR)
    for _ in range(3):
        float(step())
    times, end = [], time.perf_counter() + seconds
    while len(times) < 5 or time.perf_counter() < end and len(times) < 200:
        t0 = time.perf_counter()
        float(step())  # reads the loss, as the chapter's training loop does
        times.append(time.perf_counter() - t0)
    blas = sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})
    print(json.dumps({"seconds": statistics.median(times), "torch_threads": torch.get_num_threads(),
                      "blas_threads": blas}))


def run_worker(device, extra_env, seconds, busy):
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV} | extra_env
    # Each in its own session, as a Jupyter kernel and another program are: Linux then schedules
    # them as separate groups (autogroup), which is what makes waiting threads so costly.
    with harness.busy_process() if busy else contextlib.nullcontext():
        out = subprocess.run([sys.executable, __file__, "--worker", device, "--seconds", str(seconds)],
                             env=env, capture_output=True, text=True, check=True, timeout=600,
                             start_new_session=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=harness.positive_int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per run (at least 5 steps)")
    parser.add_argument("--worker", metavar="DEVICE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.seconds)
        return

    configs = [c for c in CONFIGS if c[1] in nnlib.available_devices()]
    samples = {(name, busy): [] for name, _, _ in configs for busy in (False, True)}
    threads = {}
    for r in range(args.rounds):
        for name, device, extra_env in configs:
            for busy in (False, True) if r % 2 == 0 else (True, False):
                result = run_worker(device, extra_env, args.seconds, busy)
                samples[name, busy].append(result["seconds"])
                blas = "/".join(map(str, result["blas_threads"])) or "?"
                threads[name] = f"{result['torch_threads']} / {blas}" if device != "numpy" else f"– / {blas}"
                time.sleep(0.3)

    def cell(values):
        return f"{statistics.median(values) * 1e3:7.1f} ({min(values) * 1e3:.0f}–{max(values) * 1e3:.0f})"

    print(f"ConvNet training step as in chapter 4.1 (batch {BATCH}×3×32×32, float32, Adam), "
          f"{os.cpu_count()} CPUs; ms/step, median of {args.rounds} fresh processes (min–max)")
    print()
    header = (f"{'configuration':<34}{'threads torch/BLAS':>19}{'idle':>19}{'1 busy process':>19}"
              f"{'busy/idle':>11}")
    print(header)
    print("-" * len(header))
    for name, _, _ in configs:
        idle, busy = samples[name, False], samples[name, True]
        ratio = statistics.median(busy) / statistics.median(idle)
        print(f"{name:<34}{threads[name]:>19}{cell(idle):>19}{cell(busy):>19}{ratio:>10.1f}×")
    print()
    print("library threads: NNLIB_CPU_THREADS=0 (torch's and OpenBLAS's own counts, "
          "as before nnlib chose one);")
    print("nnlib default: one thread for each (nnlib.set_cpu_threads). "
          "Busy: `python -c 'while True: pass'` beside it.")


if __name__ == "__main__":
    main()
