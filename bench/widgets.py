"""Benchmark: what the live widgets cost the training they show.

For each widget, the same work runs twice in the same process, interleaved: once redrawing
live (every ``--interval`` seconds, default 0.15 s → ≥ 5 redraws per second) and once with
redraws switched off (interval = ∞; the only redraw is the final one). Reports steps per
second, redraws per second, the overhead and the mean cost of one redraw.

    python bench/widgets.py [--steps 1500] [--repeats 3] [--device numpy]

Target: overhead ≤ 20 % at ≥ 5 redraws per second.
"""

import argparse
import statistics
import time

import numpy as np

import nnlib
from nnlib.widgets import AdamExplorer, GradientFlowDashboard, ModelTarget
from nnlib.widgets.gradient_flow import build_mlp, load_digits_data


def timed(widget, run, steps):
    """Seconds that ``run(steps)`` takes, and how many times ``widget`` redrew meanwhile."""
    widget.redraws = 0
    t0 = time.perf_counter()
    run(steps)
    return time.perf_counter() - t0, widget.redraws


def dashboard_run(interval, steps, device):
    d = GradientFlowDashboard(depth=6, width=64, activation="relu", init="he", lr=0.05, device=device,
                              min_interval=interval)
    return timed(d, d.train, steps)


def adam_network_run(interval, steps, device):
    X, y = load_digits_data()
    X, y = nnlib.to_device(X, device), nnlib.to_device(y, device)
    target = ModelTarget(lambda: build_mlp(64, 10, 2, 64, "relu", "he").to(device),
                         nnlib.nn.CrossEntropyLoss(), X, y)
    a = AdamExplorer(target, lr=1e-3, min_interval=interval)
    return timed(a, a.run, steps)


def adam_surface_run(interval, steps, device):
    a = AdamExplorer("rosenbrock", lr=0.05, min_interval=interval)
    return timed(a, a.run, steps)


CASES = [("梯度流仪表盘 GradientFlowDashboard (MLP 64-6×64-10, digits)", dashboard_run, 1.0),
         ("Adam 探索器 AdamExplorer (network)", adam_network_run, 1.0),
         ("Adam 探索器 AdamExplorer (Rosenbrock)", adam_surface_run, 4.0)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.15)
    parser.add_argument("--device", default="numpy")
    args = parser.parse_args()
    print(f"device {args.device}; live redraw interval {args.interval} s; "
          f"median of {args.repeats} interleaved runs\n")
    header = (f"{'widget':<58}{'steps/s live':>14}{'steps/s off':>13}{'redraws/s':>11}{'overhead':>10}"
              f"{'ms/redraw':>11}")
    print(header)
    print("-" * len(header))
    for name, run, scale in CASES:
        steps = int(args.steps * scale)
        live, off, rates = [], [], []
        run(np.inf, 20, args.device)  # warm-up
        for _ in range(args.repeats):
            t_live, n_live = run(args.interval, steps, args.device)
            t_off, n_off = run(np.inf, steps, args.device)
            live.append(t_live)
            off.append(t_off)
            rates.append((n_live, n_off))
        t_live, t_off = statistics.median(live), statistics.median(off)
        n_live = statistics.median(r[0] for r in rates)
        n_off = statistics.median(r[1] for r in rates)
        per_redraw = (t_live - t_off) / max(n_live - n_off, 1) * 1e3
        print(f"{name:<58}{steps / t_live:>14.0f}{steps / t_off:>13.0f}{n_live / t_live:>11.1f}"
              f"{100 * (t_live / t_off - 1):>9.1f}%{per_redraw:>11.2f}")
    print("\noverhead = time with live redraws / time without − 1 (same steps, same process)")


if __name__ == "__main__":
    main()
