"""Benchmark: one forward and backward pass of MultiheadAttention (self-attention), batch 32,
T = 64, E = 128, 4 heads, float32, gradients of the input and of every parameter.

Measured in the same run (bench/harness.py says how): nnlib on NumPy, nnlib on the torch backend
(CPU, and CUDA/MPS when present) and PyTorch autograd with nn.MultiheadAttention, each as a ratio
to PyTorch on the same device (NumPy against torch CPU). By default the weights are not returned
(``need_weights=False``, as in TransformerEncoderLayer; PyTorch then runs its fused
scaled_dot_product_attention); ``--need-weights`` times the call that returns them.

    python bench/attention.py [--steps 10] [--repeats 7] [--threads N] [--clock wall|cpu] [--need-weights]

No target: a sanity check that nnlib's batched matmuls over the head axis stay within a small
factor of PyTorch.
"""

import numpy as np
import torch

import harness
import nnlib
from nnlib import nn

BATCH, SEQ, EMBED, HEADS = 32, 64, 128, 4


def make_data(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SEQ, EMBED), dtype=np.float32)
    g = rng.standard_normal((BATCH, SEQ, EMBED), dtype=np.float32)
    return nnlib.to_device(x, device), nnlib.to_device(g, device)


def step_fns(need_weights):
    def nnlib_step_fn(device):
        nnlib.manual_seed(0)
        mha = nn.MultiheadAttention(EMBED, HEADS, batch_first=True).to(device)
        x, g = make_data(device)

        def step():
            mha.zero_grad()
            mha(x, x, x, need_weights=need_weights)
            return mha.backward((g, None))

        return step

    def torch_step_fn(device):
        torch.manual_seed(0)
        mha = torch.nn.MultiheadAttention(EMBED, HEADS, batch_first=True).to(device)
        x, g = make_data(device)
        x.requires_grad_()  # nnlib computes ∂J/∂x too

        def step():
            mha.zero_grad()
            x.grad = None
            out, _ = mha(x, x, x, need_weights=need_weights)
            out.backward(g)

        return step

    return nnlib_step_fn, torch_step_fn


def main():
    parser = harness.argument_parser(__doc__, steps=10, repeats=7)
    parser.add_argument("--need-weights", action="store_true", help="time the call that returns the weights")
    args = harness.parse_args(parser)
    contenders = harness.build_contenders(*step_fns(args.need_weights), "PyTorch nn.MultiheadAttention")
    samples = harness.measure(contenders, args.steps, args.repeats, clock=harness.CLOCKS[args.clock])
    harness.report(f"MultiheadAttention({EMBED}, {HEADS}, batch_first=True), self-attention on "
                   f"({BATCH}, {SEQ}, {EMBED}), need_weights={args.need_weights}: forward + backward, "
                   "float32",
                   contenders, samples, args, "none (a sanity check)")
    if args.profile:
        harness.profile(contenders, args.steps)


if __name__ == "__main__":
    main()
