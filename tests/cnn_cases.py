"""Hypothesis cases for the image layers (Conv2d, pooling), in the form that
``nnlib_cases.check_gradcheck`` / ``check_parity`` take: nnlib module, torch twin, input shape.

Sizes are drawn output-first: pick the output size OH, then H = (OH − 1)·s + k − 2p, so every
drawn (H, k, s, p) has an exact output size (nnlib rejects the others; see test_conv.py).
Everything stays tiny (≤ 3 channels, ≤ 4×4 kernels, ≤ 3×3 outputs) so that central differences
over every input and weight element remain fast.
"""

import torch
from hypothesis import strategies as st

from nnlib import nn
from nnlib_cases import Case


def exact_size(out, kernel, stride, padding):
    """The input size that gives output size ``out`` exactly (≥ 1, growing ``out`` if needed)."""
    while (size := (out - 1) * stride + kernel - 2 * padding) < 1:
        out += 1
    return size


@st.composite
def geometry(draw, max_kernel=4, pool=False):
    """(kernel, stride, padding, (H, W)) with non-square kernels, strides and inputs."""
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if pool:  # PyTorch (and nnlib) allow padding ≤ k/2 for pooling
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    else:
        ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    oh, ow = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    size = (exact_size(oh, kh, sh, ph), exact_size(ow, kw, sw, pw))
    # Ints where both entries agree (PyTorch accepts both forms; so must nnlib).
    simplify = draw(st.booleans())
    def fmt(a, b):
        return a if simplify and a == b else (a, b)
    return fmt(kh, kw), fmt(sh, sw), fmt(ph, pw), size


@st.composite
def conv2d(draw):
    cin, cout, n, bias = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.booleans())
    k, s, p, (h, w) = draw(geometry())
    label = f"Conv2d({cin}, {cout}, {k}, stride={s}, padding={p}, bias={bias}) on {(n, cin, h, w)}"
    return Case(label, lambda dt: nn.Conv2d(cin, cout, k, s, p, bias=bias, dtype=dt),
                lambda dt: torch.nn.Conv2d(cin, cout, k, s, p, bias=bias, dtype=dt), (n, cin, h, w))


@st.composite
def pool2d(draw, kind):
    c, n = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    k, s, p, (h, w) = draw(geometry(pool=True))
    stride = draw(st.sampled_from([s, None]))  # None: stride = kernel_size, as in PyTorch
    if stride is None:
        s = k
        kh, kw = (k, k) if isinstance(k, int) else k
        pph, ppw = (p, p) if isinstance(p, int) else p
        h, w = exact_size(draw(st.integers(1, 3)), kh, kh, pph), exact_size(draw(st.integers(1, 3)), kw, kw, ppw)
    label = f"{kind}({k}, stride={stride}, padding={p}) on {(n, c, h, w)}"
    return Case(label, lambda dt: getattr(nn, kind)(k, stride, p),
                lambda dt: getattr(torch.nn, kind)(k, stride, p), (n, c, h, w))


@st.composite
def small_cnn(draw):
    """Conv → BatchNorm → ReLU → MaxPool → Flatten → Linear: the chain rule through image layers."""
    c, n = draw(st.integers(1, 2), label="channels"), 2
    k, m = draw(st.sampled_from([1, 2, 3])), draw(st.integers(2, 3))
    h = w = 2 * m + k - 3  # the conv (padding 1) outputs h − k + 3 = 2m: MaxPool2d(2) is exact
    feat = 3 * m * m

    def make(dt):
        return nn.Sequential(nn.Conv2d(c, 3, k, padding=1, dtype=dt), nn.BatchNorm2d(3, dtype=dt), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(feat, 2, dtype=dt))

    def make_torch(dt):
        return torch.nn.Sequential(torch.nn.Conv2d(c, 3, k, padding=1, dtype=dt), torch.nn.BatchNorm2d(3, dtype=dt),
                                   torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                   torch.nn.Linear(feat, 2, dtype=dt))

    return Case(f"small CNN, {c} channel(s), kernel {k}, on {(n, c, h, w)}", make, make_torch, (n, c, h, w), kink=True)


CNN_CASES = {
    "Conv2d": conv2d(),
    "MaxPool2d": pool2d("MaxPool2d"),
    "AvgPool2d": pool2d("AvgPool2d"),
    "Conv-BN-ReLU-Pool-Linear": small_cnn(),
}
