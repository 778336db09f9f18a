"""Scaled dot-product attention (``attention``, ``attention_backward``) and MultiheadAttention:
central-difference gradchecks (float64) of every input, float mask and parameter; parity with
torch.nn.MultiheadAttention (outputs, attention weights, every gradient) on every backend over
generated configurations (self- and cross-attention, batch_first, kdim/vdim, bias, add_bias_kv,
add_zero_attn, every mask type, need_weights, average_attn_weights, unbatched inputs); dropout in
training mode; PyTorch's signatures and state_dict keys; errors naming expected and got."""

import inspect
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib.errors import BackwardError, DeviceError, DTypeError, ShapeError
from nnlib.nn.attention import additive_mask, attention, attention_backward
from attention_cases import paired, run_nnlib, run_torch
from nnlib_cases import SETTINGS, assert_close, seeds, torch_device_of


def mha_pair(device="numpy", dtype="float64", seed=0, **kwargs):
    return paired(lambda dt: nn.MultiheadAttention(dtype=dt, **kwargs),
                  lambda dt: torch.nn.MultiheadAttention(dtype=dt, **kwargs), device=device, dtype=dtype,
                  seed=seed)


def check_parity(kwargs, args, forward_kwargs, device, *, seed=0, train=False, label=""):
    ours, theirs = mha_pair(device, seed=seed, **kwargs)
    ours.train(train)
    theirs.train(train)
    mine = run_nnlib(ours, args, forward_kwargs, device=device, seed=seed)
    reference = run_torch(theirs, args, forward_kwargs, seed=seed)
    assert_close(mine, reference, "float64", label or f"MultiheadAttention({kwargs}) {forward_kwargs}")
    return mine


# --- generated configurations ------------------------------------------------------------------------
@st.composite
def configurations(draw):
    """Constructor kwargs, forward args and kwargs of one MultiheadAttention call (NumPy, float64)."""
    rng = np.random.default_rng(draw(seeds))
    heads, head_dim = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    e = heads * head_dim
    n, tgt, src = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    self_attention = draw(st.booleans())
    kdim, vdim = (None, None) if self_attention else (draw(st.sampled_from([None, 1, 4])),
                                                      draw(st.sampled_from([None, 2, 3])))
    kwargs = dict(embed_dim=e, num_heads=heads, bias=draw(st.booleans()), add_bias_kv=draw(st.booleans()),
                  add_zero_attn=draw(st.booleans()), kdim=kdim, vdim=vdim, batch_first=draw(st.booleans()))
    batched = draw(st.booleans())
    if self_attention:
        src = tgt

    def sequence(length, features):
        lead = ((n, length) if kwargs["batch_first"] else (length, n)) if batched else (length,)
        return rng.standard_normal(lead + (features,))

    query = sequence(tgt, e)
    key = query if self_attention else sequence(src, kdim or e)
    value = query if self_attention else sequence(src, vdim or e)
    forward = dict(need_weights=draw(st.booleans()), average_attn_weights=draw(st.booleans()))
    # Masks never hide key 0 from anyone: no query is left with every key masked.
    kpm_kind = draw(st.sampled_from([None, "bool", "float"]))
    if kpm_kind:
        shape = (n, src) if batched else (src,)
        kpm = rng.random(shape) < 0.4
        kpm[..., 0] = False
        floats = np.where(kpm, -np.inf, rng.standard_normal(shape))
        forward["key_padding_mask"] = kpm if kpm_kind == "bool" else floats
    mask_kind = draw(st.sampled_from([None, "bool 2-D", "float 2-D", "bool 3-D", "float 3-D"]))
    if mask_kind:
        shape = (tgt, src) if "2-D" in mask_kind else ((n if batched else 1) * heads, tgt, src)
        blocked = rng.random(shape) < 0.4
        blocked[..., 0] = False
        forward["attn_mask"] = blocked if "bool" in mask_kind else rng.standard_normal(shape)
    return kwargs, (query, key, value), forward


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@given(config=configurations(), seed=seeds)
@SETTINGS
def test_matches_torch_on_generated_configurations(device, config, seed):
    kwargs, args, forward = config
    check_parity(kwargs, args, forward, device, seed=seed)


# --- each feature on its own, on every backend --------------------------------------------------------
def _inputs(shape_q, shape_k, shape_v, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape_q), rng.standard_normal(shape_k), rng.standard_normal(shape_v)


FEATURES = {  # label: (constructor kwargs, query, key and value shapes, forward kwargs)
    "self-attention": (dict(embed_dim=6, num_heads=2), (4, 2, 6), (4, 2, 6), (4, 2, 6), {}),
    "cross-attention L≠S": (dict(embed_dim=6, num_heads=3), (3, 2, 6), (5, 2, 6), (5, 2, 6), {}),
    "batch_first": (dict(embed_dim=4, num_heads=2, batch_first=True), (2, 3, 4), (2, 5, 4), (2, 5, 4), {}),
    "kdim and vdim": (dict(embed_dim=4, num_heads=2, kdim=3, vdim=5), (3, 2, 4), (4, 2, 3), (4, 2, 5), {}),
    "bias=False": (dict(embed_dim=4, num_heads=1, bias=False), (3, 2, 4), (2, 2, 4), (2, 2, 4), {}),
    "add_bias_kv": (dict(embed_dim=4, num_heads=2, add_bias_kv=True), (3, 2, 4), (2, 2, 4), (2, 2, 4), {}),
    "add_zero_attn": (dict(embed_dim=4, num_heads=2, add_zero_attn=True), (3, 2, 4), (2, 2, 4), (2, 2, 4),
                      {}),
    "need_weights=False": (dict(embed_dim=4, num_heads=2), (3, 2, 4), (2, 2, 4), (2, 2, 4),
                           dict(need_weights=False)),
    "per-head weights": (dict(embed_dim=6, num_heads=3), (3, 2, 6), (4, 2, 6), (4, 2, 6),
                         dict(average_attn_weights=False)),
    "unbatched": (dict(embed_dim=4, num_heads=2, batch_first=True), (3, 4), (5, 4), (5, 4), {}),
}


@pytest.mark.parametrize("feature", FEATURES)
def test_each_feature_matches_torch(feature, device):
    kwargs, sq, sk, sv, forward = FEATURES[feature]
    result = check_parity(kwargs, _inputs(sq, sk, sv), forward, device, label=feature)
    assert ("output 1" in result) == forward.get("need_weights", True)


def _masks(n, heads, tgt, src, kind, seed=0):
    rng = np.random.default_rng(seed)
    blocked = rng.random((n * heads, tgt, src)) < 0.5
    blocked[..., 0] = False
    return {
        "bool key_padding_mask": dict(key_padding_mask=blocked[::heads, 0]),
        "float key_padding_mask": dict(key_padding_mask=rng.standard_normal((n, src))),
        "bool 2-D attn_mask": dict(attn_mask=blocked[0]),
        "float 2-D attn_mask": dict(attn_mask=rng.standard_normal((tgt, src))),
        "bool 3-D attn_mask": dict(attn_mask=blocked),
        "float 3-D attn_mask": dict(attn_mask=np.where(blocked, -np.inf, rng.standard_normal(blocked.shape))),
        "float masks, both": dict(key_padding_mask=rng.standard_normal((n, src)),
                                  attn_mask=rng.standard_normal((tgt, src))),
        "bool masks, both": dict(key_padding_mask=blocked[::heads, 1], attn_mask=blocked[-1]),
        "bool attn_mask, float key_padding_mask": dict(attn_mask=blocked[0],
                                                        key_padding_mask=rng.standard_normal((n, src))),
    }[kind]


MASK_KINDS = ["bool key_padding_mask", "float key_padding_mask", "bool 2-D attn_mask", "float 2-D attn_mask",
              "bool 3-D attn_mask", "float 3-D attn_mask", "float masks, both", "bool masks, both",
              "bool attn_mask, float key_padding_mask"]


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("need_weights", [True, False])
def test_each_mask_type_matches_torch_including_the_float_masks_gradients(kind, need_weights, device):
    forward = dict(_masks(2, 2, 3, 4, kind), need_weights=need_weights)
    result = check_parity(dict(embed_dim=4, num_heads=2), _inputs((3, 2, 4), (4, 2, 4), (4, 2, 4)), forward,
                          device, label=kind)
    float_masks = {f"∂{k}" for k, v in forward.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"}
    assert {k for k in result if "mask" in k} == float_masks


def test_masked_keys_get_no_weight_and_their_values_no_gradient():
    mha = nn.MultiheadAttention(4, 2, dtype="float64")
    q, k, v = _inputs((3, 2, 4), (5, 2, 4), (5, 2, 4))
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[0, 3:] = True                                   # example 0: keys 3 and 4 are padding
    _, weights = mha(q, k, v, key_padding_mask=kpm)
    np.testing.assert_array_equal(weights[0, :, 3:], 0)
    assert np.all(weights[1] > 0)
    _, _, d_value, *_ = mha.backward((np.ones((3, 2, 4)), None))
    np.testing.assert_array_equal(d_value[3:, 0], 0)
    assert np.all(d_value[3:, 1] != 0)


@pytest.mark.parametrize("need_weights", [True, False])
def test_is_causal_with_the_causal_mask_matches_torch(need_weights, device):
    """is_causal=True is a hint; torch then uses its own causal kernel when it can (need_weights=False)
    and the given mask otherwise: both agree with nnlib, which applies the mask. (A boolean mask: with
    its own kernel, torch leaves a float mask without gradient, where nnlib differentiates it.)"""
    mask = np.isinf(nn.transformer.generate_square_subsequent_mask(4))
    forward = dict(attn_mask=mask, is_causal=True, need_weights=need_weights)
    result = check_parity(dict(embed_dim=4, num_heads=2, batch_first=True), _inputs(*[(2, 4, 4)] * 3),
                          forward, device)
    if need_weights:
        assert np.all(np.triu(result["output 1"], k=1) == 0)


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract")  # NumPy's word for −∞ − (−∞)
@pytest.mark.parametrize("need_weights", [True, False])
def test_a_query_with_every_key_masked_is_nan_or_zero_as_in_pytorch(need_weights):
    """PyTorch's weights path takes the plain softmax (NaN for an all −∞ row); without weights it runs
    scaled_dot_product_attention, which gives that query zero weight everywhere."""
    ours, theirs = mha_pair(embed_dim=4, num_heads=2)
    q, k, v = _inputs((3, 1, 4), (3, 1, 4), (3, 1, 4))
    mask = np.array([[True, True, True], [False, True, True], [False, False, True]])
    y, w = ours(q, k, v, attn_mask=mask, need_weights=need_weights)
    y_t, w_t = theirs(*[torch.as_tensor(a) for a in (q, k, v)], attn_mask=torch.as_tensor(mask),
                      need_weights=need_weights)
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
    assert np.isnan(y[0]).all() == need_weights and np.isfinite(y[1:]).all()
    if need_weights:
        np.testing.assert_allclose(w, w_t.detach().numpy(), rtol=1e-12, equal_nan=True)
    else:  # only out_proj's bias is left for that query
        np.testing.assert_allclose(y[0, 0], ours.out_proj.bias.data, rtol=1e-12)


def test_self_attention_on_one_array_sums_the_three_gradients():
    """torch differentiates x passed as query, key and value at once; nnlib returns the three parts."""
    ours, theirs = mha_pair(embed_dim=4, num_heads=2)
    x = np.random.default_rng(0).standard_normal((3, 2, 4))
    r = np.random.default_rng(1).standard_normal((3, 2, 4))
    ours(x, x, x, need_weights=False)
    d_q, d_k, d_v, *_ = ours.backward((r, None))
    x_t = torch.tensor(x, requires_grad=True)
    (theirs(x_t, x_t, x_t, need_weights=False)[0] * torch.as_tensor(r)).sum().backward()
    np.testing.assert_allclose(d_q + d_k + d_v, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_gradient_through_the_weights_alone_reaches_query_and_key_but_not_value(device):
    ours, _ = mha_pair(device, embed_dim=4, num_heads=2)
    q, k, v = (to_device(a, device) for a in _inputs((3, 2, 4), (4, 2, 4), (4, 2, 4)))
    _, w = ours(q, k, v)
    r = to_device(np.random.default_rng(0).standard_normal(w.shape), device)
    d_q, d_k, d_v, *_ = ours.backward((None, r))
    assert np.abs(to_numpy(d_q)).max() > 0 and np.abs(to_numpy(d_k)).max() > 0
    np.testing.assert_array_equal(to_numpy(d_v), 0)
    assert ours.out_proj.weight.grad is None and ours.in_proj_weight.grad is not None


# --- central differences ------------------------------------------------------------------------------
# label: (constructor kwargs, query/key/value shapes, float masks' shapes, other forward kwargs)
GRADCHECKS = {
    "float masks, weights averaged": (dict(embed_dim=4, num_heads=2), ((3, 2, 4), (2, 2, 4), (2, 2, 4)),
                                      dict(key_padding_mask=(2, 2), attn_mask=(3, 2)), {}),
    "kdim, vdim, add_bias_kv, add_zero_attn": (
        dict(embed_dim=4, num_heads=2, kdim=3, vdim=2, add_bias_kv=True, add_zero_attn=True),
        ((2, 2, 4), (3, 2, 3), (3, 2, 2)), dict(attn_mask=(4, 2, 3)), dict(average_attn_weights=False)),
    "batch_first, bias=False, no weights": (dict(embed_dim=2, num_heads=2, batch_first=True, bias=False),
                                            ((2, 3, 2), (2, 2, 2), (2, 2, 2)), {}, dict(need_weights=False)),
    "unbatched with masks": (dict(embed_dim=4, num_heads=2), ((3, 4), (2, 4), (2, 4)),
                             dict(key_padding_mask=(2,), attn_mask=(2, 3, 2)), {}),
}


def _gradcheck_inputs(shapes, mask_shapes, forward, seed=0):
    """forward's arguments in order (gradcheck calls module(*inputs)), random where they are floats."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    masks = {name: rng.standard_normal(shape) for name, shape in mask_shapes.items()}
    bound = inspect.signature(nn.MultiheadAttention.forward).bind(None, *arrays, **masks, **forward)
    bound.apply_defaults()
    return tuple(bound.arguments.values())[1:]


@pytest.mark.parametrize("label", GRADCHECKS)
def test_backward_matches_central_differences(label, device):
    kwargs, shapes, mask_shapes, forward = GRADCHECKS[label]
    ours, _ = mha_pair(device, **kwargs)
    inputs = _gradcheck_inputs(shapes, mask_shapes, forward)
    float_inputs = {f"input[{i}]" for i, a in enumerate(inputs) if isinstance(a, np.ndarray)}
    on_device = tuple(to_device(a, device) if isinstance(a, np.ndarray) else a for a in inputs)
    table = gc.gradcheck(ours, on_device)
    assert {row[0] for row in table.rows} == float_inputs | {n for n, _ in ours.named_parameters()}
    assert len(float_inputs) == 3 + len(mask_shapes)


def test_backward_in_training_mode_uses_the_forward_dropout_mask():
    """Central differences reseed nnlib's generator before every forward pass, so each one draws the
    same mask: they agree with backward only if backward multiplies by that very mask."""
    ours, _ = mha_pair(embed_dim=4, num_heads=2, dropout=0.4)
    ours.train()
    inputs = _gradcheck_inputs(((3, 2, 4), (4, 2, 4), (4, 2, 4)), dict(attn_mask=(3, 4)), {})
    gc.gradcheck(ours, inputs, seed=3)


# --- dropout ------------------------------------------------------------------------------------------
def test_dropout_in_eval_mode_matches_torch(device):
    check_parity(dict(embed_dim=4, num_heads=2, dropout=0.5), _inputs((3, 2, 4), (4, 2, 4), (4, 2, 4)),
                 dict(average_attn_weights=False), device)


def test_training_mode_drops_weights_with_probability_p_and_scales_the_rest():
    p = 0.3
    mha = nn.MultiheadAttention(4, 2, dropout=p, dtype="float64")
    q, k, v = _inputs((40, 8, 4), (50, 8, 4), (50, 8, 4))
    _, kept_weights = mha.train()(q, k, v, average_attn_weights=False)
    _, weights = mha.eval()(q, k, v, average_attn_weights=False)
    dropped = kept_weights == 0
    assert abs(dropped.mean() - p) < 0.01                     # 32 000 weights: a standard error of 0.0026
    np.testing.assert_allclose(kept_weights[~dropped], weights[~dropped] / (1 - p), rtol=1e-12)
    assert not np.any(weights == 0)


def test_dropout_masks_come_from_nnlibs_seed_on_every_backend(torch_device):
    mha = nn.MultiheadAttention(4, 2, dropout=0.5, dtype="float64").train()
    args = _inputs((3, 2, 4), (4, 2, 4), (4, 2, 4))
    nnlib.manual_seed(5)
    y, w = mha(*args)
    nnlib.manual_seed(5)
    y_dev, w_dev = mha.to(torch_device)(*[to_device(a, torch_device) for a in args])
    np.testing.assert_allclose(to_numpy(y_dev), y, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(w_dev), w, rtol=1e-12)
    nnlib.manual_seed(6)
    assert not np.allclose(to_numpy(mha(*[to_device(a, torch_device) for a in args])[0]), y)


def test_dropout_of_one_leaves_only_the_output_bias():
    mha, _ = mha_pair(embed_dim=4, num_heads=2, dropout=1.0)
    y, w = mha.train()(*_inputs((3, 2, 4), (4, 2, 4), (4, 2, 4)))
    np.testing.assert_array_equal(w, 0)
    np.testing.assert_allclose(y, np.broadcast_to(mha.out_proj.bias.data, y.shape), rtol=1e-14)


# --- the functions ------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [None, 0.7])
def test_attention_matches_torchs_scaled_dot_product_attention(scale, device):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 2)))
    mask = np.where(rng.random((5, 6)) < 0.3, -np.inf, rng.standard_normal((5, 6)))
    mask[:, 0] = 0.0
    r = rng.standard_normal((2, 3, 5, 2))
    out, weights = attention(*(to_device(a, device) for a in (q, k, v, mask)), scale=scale)
    grads = attention_backward(to_device(r, device), *(to_device(a, device) for a in (q, k, v)), weights,
                               scale=scale)
    tensors = [torch.tensor(a, requires_grad=True) for a in (q, k, v, mask)]
    expected = torch.nn.functional.scaled_dot_product_attention(*tensors[:3], attn_mask=tensors[3],
                                                                scale=scale)
    (expected * torch.as_tensor(r)).sum().backward()
    assert device_of(out) == device
    names = ["δQ", "δK", "δV", "δM"]
    mine = {"O": to_numpy(out), **{n: to_numpy(g) for n, g in zip(names, grads)}}
    mine["δM"] = mine["δM"].sum(axis=(0, 1))          # the mask was broadcast over batch and heads
    theirs = {"O": expected.detach().numpy(), **{n: t.grad.numpy() for n, t in zip(names, tensors)}}
    assert_close(mine, theirs, "float64", f"attention(scale={scale})")


def test_attention_backward_with_dropout_and_a_gradient_of_the_weights():
    """δP̃ = δO Vᵀ + ∂J/∂P̃ and δP = δP̃ ⊙ D, against autograd on the formulas written in torch."""
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    keep = (rng.random((2, 3, 5)) >= 0.5) * 2.0
    r_out, r_weights = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 5))
    out, weights = attention(q, k, v, dropout_mask=keep)
    grads = attention_backward(r_out, q, k, v, weights, keep, grad_weights=r_weights)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    p = torch.softmax(tq @ tk.mT / 2.0, dim=-1) * torch.as_tensor(keep)
    ((p @ tv) * torch.as_tensor(r_out)).sum().add((p * torch.as_tensor(r_weights)).sum()).backward()
    np.testing.assert_allclose(out, (p @ tv).detach().numpy(), rtol=1e-12)
    for mine, t in zip(grads, (tq, tk, tv)):
        np.testing.assert_allclose(mine, t.grad.numpy(), rtol=1e-10, atol=1e-12)


class _Attention(nn.Module):
    """attention/attention_backward as a module, for gradcheck."""

    def forward(self, query, key, value, attn_mask):
        out, weights = attention(query, key, value, attn_mask)
        self.save_for_backward(query, key, value, weights)
        return out

    def backward(self, grad_output):
        return attention_backward(grad_output, *self.saved_for_backward(grad_output))


def test_attention_backward_matches_central_differences():
    rng = np.random.default_rng(2)
    inputs = (rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 4, 3)),
              rng.standard_normal((2, 3, 4)))
    table = gc.gradcheck(_Attention(), inputs)
    assert {row[0] for row in table.rows} == {f"input[{i}]" for i in range(4)}


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract")
@pytest.mark.parametrize("fully_masked, expected", [("zero", 0.0), ("nan", np.nan)])
def test_attention_on_a_fully_masked_query(fully_masked, expected):
    mask = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    q = k = v = np.ones((2, 2))
    out, weights = attention(q, k, v, mask, fully_masked=fully_masked)
    np.testing.assert_array_equal(weights, [[expected, expected], [1.0, 0.0]])
    np.testing.assert_array_equal(out[0], [expected, expected])


def test_scaling_by_the_square_root_of_d_keeps_the_scores_variance_near_one():
    """The reason for 1/√d: q·k of d unit-variance entries has variance d; scaled, about 1."""
    rng = np.random.default_rng(0)
    for d in (4, 64, 256):
        q, k = rng.standard_normal((2000, d)), rng.standard_normal((2000, d))
        scores = np.sum(q * k, axis=1)
        assert abs(scores.var() / d - 1) < 0.1 and abs((scores / np.sqrt(d)).var() - 1) < 0.1


def test_additive_mask(torch_device):
    mask = np.array([[True, False], [False, False]])
    np.testing.assert_array_equal(additive_mask(mask, "float64"), [[-np.inf, 0], [0, 0]])
    on_device = additive_mask(to_device(mask, torch_device))
    assert dtype_name(on_device) == "float32" and device_of(on_device) == torch_device
    floats = np.zeros((2, 2))
    assert additive_mask(floats) is floats
    with pytest.raises(DTypeError, match="additive_mask: mask must be bool or float, got dtype int64"):
        additive_mask(np.zeros((2, 2), dtype=np.int64))


def test_attention_shape_errors():
    with pytest.raises(ShapeError, match=re.escape("query (..., L, d) and key (..., S, d) must have the same "
                                                   "d, got query (3, 4) and key (5, 2)")):
        attention(np.zeros((3, 4)), np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ShapeError, match=re.escape("must have the same S, got key (5, 4) and value (4, 4)")):
        attention(np.zeros((3, 4)), np.zeros((5, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="fully_masked must be 'zero' or 'nan', got 'inf'"):
        attention(np.zeros((3, 4)), np.zeros((5, 4)), np.zeros((5, 4)), fully_masked="inf")


# --- construction: PyTorch's signature, parameters, state_dict ------------------------------------------
def _parameters(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_signatures_are_pytorchs():
    assert _parameters(nn.MultiheadAttention) == _parameters(torch.nn.MultiheadAttention)
    assert _parameters(nn.MultiheadAttention.forward) == _parameters(torch.nn.MultiheadAttention.forward)


@pytest.mark.parametrize("kwargs", [dict(), dict(kdim=3, vdim=5), dict(bias=False), dict(add_bias_kv=True),
                                    dict(kdim=2, bias=False, add_bias_kv=True)], ids=str)
def test_state_dict_keys_shapes_and_order_are_pytorchs_and_load_both_ways(kwargs):
    ours, theirs = nn.MultiheadAttention(6, 3, **kwargs), torch.nn.MultiheadAttention(6, 3, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy())
    theirs.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    separate = "kdim" in kwargs
    assert (ours.in_proj_weight is None) == separate and (ours.q_proj_weight is None) != separate
    assert ours.head_dim == 2 and ours._qkv_same_embed_dim != separate


def test_initialisation_is_pytorchs():
    nnlib.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, add_bias_kv=True)
    bound = np.sqrt(6 / (8 + 24))                           # Xavier-uniform on the (3E, E) stack
    w = mha.in_proj_weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    np.testing.assert_array_equal(mha.in_proj_bias.data, 0)
    np.testing.assert_array_equal(mha.out_proj.bias.data, 0)
    assert np.abs(mha.out_proj.weight.data).max() <= 1 / np.sqrt(8)   # Linear's own initialisation
    assert mha.bias_k.data.std() > 0 and mha.bias_k.data.dtype == np.float32


def test_factory_arguments_place_every_parameter(torch_device):
    mha = nn.MultiheadAttention(4, 2, 0.0, True, True, False, 3, 5, False, torch_device, "float64")
    assert {(p.device, p.dtype) for p in mha.parameters()} == {(torch_device, "float64")}
    assert len(list(mha.parameters())) == 8


def test_a_float32_call_returns_float32_close_to_torch(torch_device):
    ours, theirs = mha_pair(torch_device, "float32", embed_dim=4, num_heads=2)
    q, k, v = (a.astype(np.float32) for a in _inputs((3, 2, 4), (4, 2, 4), (4, 2, 4)))
    y, w = ours(*(to_device(a, torch_device) for a in (q, k, v)))
    y_t, w_t = theirs(*(torch.as_tensor(a, device=torch_device_of(torch_device)) for a in (q, k, v)))
    assert dtype_name(y) == dtype_name(w) == "float32"
    np.testing.assert_allclose(to_numpy(y), y_t.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)


# --- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(embed_dim=5, num_heads=2), ValueError,
     "embed_dim must be divisible by num_heads (each head gets embed_dim/num_heads features), "
     "got embed_dim=5 and num_heads=2"),
    (dict(embed_dim=0, num_heads=1), ValueError, "embed_dim must be a positive integer, got 0"),
    (dict(embed_dim=4, num_heads=-2), ValueError, "num_heads must be a positive integer, got -2"),
    (dict(embed_dim=4, num_heads=2, dropout=1.5), ValueError,
     "dropout must be a probability in [0, 1], got 1.5"),
    (dict(embed_dim=4, num_heads=2, kdim=0), ValueError, "kdim must be a positive integer, got 0"),
    (dict(embed_dim=4, num_heads=2, batch_first="True"), TypeError, "batch_first must be True or False"),
    (dict(embed_dim=4, num_heads=2, add_zero_attn=1), TypeError,
     "add_zero_attn must be True or False, got 1"),
], ids=str)
def test_argument_errors(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        nn.MultiheadAttention(**kwargs)


def _call(shapes, kwargs=None, mha_kwargs=None, **forward):
    mha = nn.MultiheadAttention(**(mha_kwargs or dict(embed_dim=4, num_heads=2)), **(kwargs or {}))
    return mha(*[np.zeros(s, dtype=np.float32) for s in shapes], **forward)


@pytest.mark.parametrize("shapes, kwargs, forward, error, message", [
    (((3, 2, 5), (4, 2, 4), (4, 2, 4)), {}, {}, ShapeError,
     "query must have shape (L, N, 4) (batch_first=False) or unbatched (L, 4), got (3, 2, 5)"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), dict(kdim=3), {}, ShapeError,
     "key must have shape (S, N, 3) (batch_first=False) or unbatched (S, 3), got (4, 2, 4)"),
    (((2, 3, 4), (2, 4, 4), (2, 4, 3)), dict(batch_first=True), {}, ShapeError,
     "value must have shape (N, S, 4) (batch_first=True) or unbatched (S, 4), got (2, 4, 3)"),
    (((1, 3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, {}, ShapeError, "query must have shape (L, N, 4)"),
    (((3, 4), (4, 2, 4), (4, 2, 4)), {}, {}, ShapeError,
     "query, key and value must all be batched (3-D) or all unbatched (2-D), got shapes (3, 4), (4, 2, 4)"),
    (((3, 2, 4), (4, 3, 4), (4, 3, 4)), {}, {}, ShapeError,
     "query, key and value must have the same batch size (axis 1), got shapes (3, 2, 4), (4, 3, 4) and "
     "(4, 3, 4)"),
    (((3, 2, 4), (4, 2, 4), (5, 2, 4)), {}, {}, ShapeError,
     "key and value must have the same length S (axis 0), got shapes (4, 2, 4) and (5, 2, 4)"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, dict(key_padding_mask=np.zeros((2, 3), bool)), ShapeError,
     "key_padding_mask must have shape (N, S) = (2, 4), got (2, 3)"),
    (((3, 4), (4, 4), (4, 4)), {}, dict(key_padding_mask=np.zeros((1, 4), bool)), ShapeError,
     "key_padding_mask must have shape (S,) = (4,), got (1, 4)"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, dict(attn_mask=np.zeros((4, 3), bool)), ShapeError,
     "attn_mask must have shape (L, S) = (3, 4) or (N·num_heads, L, S) = (4, 3, 4), got (4, 3)"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, dict(attn_mask=np.zeros((2, 3, 4), bool)), ShapeError,
     "attn_mask must have shape (L, S) = (3, 4) or (N·num_heads, L, S) = (4, 3, 4), got (2, 3, 4)"),
    (((3, 4), (4, 4), (4, 4)), {}, dict(attn_mask=np.zeros((1, 3, 4), bool)), ShapeError,
     "or (num_heads, L, S) = (2, 3, 4), got (1, 3, 4)"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, dict(attn_mask=np.zeros((3, 4), np.int64)), DTypeError,
     "attn_mask must be bool or float32 (the query's dtype), got int64"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, dict(key_padding_mask=np.zeros((2, 4))), DTypeError,
     "key_padding_mask must be bool or float32 (the query's dtype), got float64"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, dict(attn_mask=[[True]]), DTypeError,
     "attn_mask must be a NumPy array or torch tensor, got list"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, dict(is_causal=True), ValueError,
     "is_causal=True is a hint that attn_mask is the causal mask, so attn_mask must be given"),
    (((3, 2, 4), (4, 2, 4), (4, 2, 4)), {}, dict(need_weights=1), TypeError,
     "need_weights must be True or False, got 1"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_input_errors_name_expected_and_got(shapes, kwargs, forward, error, message):
    with pytest.raises(error, match=re.escape(message)):
        _call(shapes, kwargs, **forward)


def test_device_and_dtype_errors(torch_device):
    mha = nn.MultiheadAttention(4, 2).to(torch_device)
    x = to_device(np.zeros((3, 2, 4), dtype=np.float32), torch_device)
    expected = f"MultiheadAttention: key has device 'numpy', expected '{torch_device}'"
    with pytest.raises(DeviceError, match=expected):
        mha(x, np.zeros((3, 2, 4), dtype=np.float32), x)
    with pytest.raises(DTypeError, match="MultiheadAttention: query has dtype float64, expected float32"):
        mha(to_device(np.zeros((3, 2, 4)), torch_device), x, x)
    with pytest.raises(DeviceError, match=f"attn_mask has device 'numpy', expected '{torch_device}'"):
        mha(x, x, x, attn_mask=np.zeros((3, 3), bool))


def test_backward_errors():
    mha = nn.MultiheadAttention(4, 2)
    with pytest.raises(BackwardError, match="without a forward pass"):
        mha.backward((np.zeros((3, 2, 4), np.float32), None))
    x = np.zeros((3, 2, 4), np.float32)
    mha(x, x, x, need_weights=False)
    with pytest.raises(ShapeError, match=re.escape("grad_output must be shaped like the forward output "
                                                   "((3, 2, 4), None), got ((3, 2, 4), (2, 3, 3))")):
        mha.backward((x, np.zeros((2, 3, 3), np.float32)))
