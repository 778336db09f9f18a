"""Hypothesis cases for the image and signal layers (Conv1d/2d, pooling), in the form that
``nnlib_cases.check_gradcheck`` / ``check_parity`` take: nnlib module, torch twin, input shape.

Sizes are drawn output-first: pick the output size OH, then H = (OH − 1)·s + span − 2p + r with
span = d·(k − 1) + 1 the kernel's reach and a remainder 0 ≤ r < s, which PyTorch (and nnlib)
floor away. Everything stays tiny (≤ 3 channels per group, ≤ 4-wide kernels, ≤ 3 outputs per
axis) so that central differences over every input and weight element remain fast. A drawn
``batch`` of ``None`` gives an unbatched input, (C, H, W) or (C, L).
"""

import torch
from hypothesis import strategies as st

from nnlib import nn
from nnlib_cases import Case


def exact_size(out, span, stride, padding):
    """The input size that gives output size ``out`` with no remainder (≥ 1, growing ``out`` if needed)."""
    while (size := (out - 1) * stride + span - 2 * padding) < 1:
        out += 1
    return size


def _fmt(values, simplify):
    """An int where every axis agrees and ``simplify`` (PyTorch accepts both forms; so must nnlib)."""
    return values[0] if simplify and len(set(values)) == 1 else tuple(values)


@st.composite
def conv_axis(draw, same):
    """(kernel, stride, dilation, padding, size) along one axis."""
    k, d = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    s = 1 if same else draw(st.integers(1, 3))
    p = draw(st.integers(0, 2))
    size = exact_size(draw(st.integers(1, 3)), d * (k - 1) + 1, s, p) + draw(st.integers(0, s - 1))
    return k, s, d, p, size


@st.composite
def conv(draw, spatial):
    """Conv1d or Conv2d with every option: groups, dilation, int/tuple/"same"/"valid" padding and
    every padding_mode, on a batched or unbatched input."""
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    batch, bias = draw(st.sampled_from([None, 1, 2])), draw(st.booleans())
    style = draw(st.sampled_from(["int", "int", "same", "valid"]))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    axes = [draw(conv_axis(style == "same")) for _ in range(spatial)]
    sizes = []
    for k, s, d, p, size in axes:
        # (before, after) padding on this axis, then the smallest input that PyTorch accepts
        total = d * (k - 1)
        before, after = {"int": (p, p), "valid": (0, 0), "same": (total // 2, total - total // 2)}[style]
        widest = max(before, after)
        need = {"zeros": 1, "replicate": 1, "reflect": widest + 1, "circular": max(widest, 1)}[mode]
        sizes.append(max(size, need, total + 1 - before - after))
    simplify = draw(st.booleans())
    k, s, d, p = (_fmt([a[i] for a in axes], simplify) for i in range(4))
    padding = p if style == "int" else style
    kwargs = dict(stride=s, padding=padding, dilation=d, groups=groups, bias=bias, padding_mode=mode)
    shape = (*(() if batch is None else (batch,)), cin, *sizes)
    name = f"Conv{spatial}d"
    label = f"{name}({cin}, {cout}, {k}, {kwargs}) on {shape}"
    return Case(label, lambda dt: getattr(nn, name)(cin, cout, k, **kwargs, dtype=dt),
                lambda dt: getattr(torch.nn, name)(cin, cout, k, **kwargs, dtype=dt), shape)


def conv2d():
    return conv(2)


@st.composite
def pool(draw, kind, spatial):
    """MaxPool1d/2d or AvgPool1d/2d with every option (the indices of return_indices are
    checked in test_pooling.py, as they are no float output to differentiate)."""
    c, batch = draw(st.integers(1, 3)), draw(st.sampled_from([None, 1, 2]))
    default_stride, ceil_mode = draw(st.booleans()), draw(st.booleans())
    axes = []
    for _ in range(spatial):
        k = draw(st.integers(1, 4))
        s = k if default_stride else draw(st.integers(1, 3))
        d = draw(st.integers(1, 2)) if kind == "Max" else 1
        p = draw(st.integers(0, k // 2))  # PyTorch (and nnlib) allow padding ≤ k/2 for pooling
        size = exact_size(draw(st.integers(1, 3)), d * (k - 1) + 1, s, p) + draw(st.integers(0, s - 1))
        # A dilated window that starts in the padding reaches the input within d positions: with
        # H ≥ d none lies wholly in the padding (its max would be −∞; test_pooling.py checks that).
        axes.append((k, s, d, p, max(size, d)))
    simplify = draw(st.booleans())
    k, s, d, p = (_fmt([a[i] for a in axes], simplify) for i in range(4))
    kwargs = dict(stride=None if default_stride else s, padding=p, ceil_mode=ceil_mode)
    if kind == "Max":
        kwargs["dilation"] = d
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
        if spatial == 2:
            kwargs["divisor_override"] = draw(st.sampled_from([None, None, 3]))
    shape = (*(() if batch is None else (batch,)), c, *(a[4] for a in axes))
    name = f"{kind}Pool{spatial}d"
    return Case(f"{name}({k}, {kwargs}) on {shape}", lambda dt: getattr(nn, name)(k, **kwargs),
                lambda dt: getattr(torch.nn, name)(k, **kwargs), shape)


@st.composite
def adaptive_avg_pool(draw, spatial):
    c, batch = draw(st.integers(1, 3)), draw(st.sampled_from([None, 1, 2]))
    sizes = tuple(draw(st.integers(1, 6)) for _ in range(spatial))
    out = tuple(draw(st.sampled_from([None, 1, 2, 3, 4])) if spatial == 2 else draw(st.integers(1, 4))
                for _ in range(spatial))
    output_size = out[0] if draw(st.booleans()) and None not in out and len(set(out)) == 1 else out
    shape = (*(() if batch is None else (batch,)), c, *sizes)
    name = f"AdaptiveAvgPool{spatial}d"
    return Case(f"{name}({output_size}) on {shape}", lambda dt: getattr(nn, name)(output_size),
                lambda dt: getattr(torch.nn, name)(output_size), shape)


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
        return torch.nn.Sequential(torch.nn.Conv2d(c, 3, k, padding=1, dtype=dt),
                                   torch.nn.BatchNorm2d(3, dtype=dt), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                   torch.nn.Flatten(), torch.nn.Linear(feat, 2, dtype=dt))

    return Case(f"small CNN, {c} channel(s), kernel {k}, on {(n, c, h, w)}", make, make_torch, (n, c, h, w),
                kink=True)


CNN_CASES = {
    "Conv2d": conv(2),
    "Conv1d": conv(1),
    "MaxPool2d": pool("Max", 2),
    "MaxPool1d": pool("Max", 1),
    "AvgPool2d": pool("Avg", 2),
    "AvgPool1d": pool("Avg", 1),
    "AdaptiveAvgPool2d": adaptive_avg_pool(2),
    "AdaptiveAvgPool1d": adaptive_avg_pool(1),
    "Conv-BN-ReLU-Pool-Linear": small_cnn(),
}
