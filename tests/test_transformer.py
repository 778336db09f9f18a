"""TransformerEncoderLayer and TransformerEncoder: parity with PyTorch's (outputs, every gradient,
float masks' gradients) on every backend, post-norm and pre-norm, relu/gelu/an activation module,
masks, batch_first, unbatched inputs, bias=False, eval mode with dropout; central-difference
gradchecks (float64), in training mode with dropout too; the causal mask; nnlib's sinusoidal
positional encoding; PyTorch's signatures and state_dict keys; errors."""

import copy
import inspect
import re

import numpy as np
import pytest
import torch

import nnlib
from nnlib import gradcheck as gc
from nnlib import nn
from nnlib.backend import device_of, dtype_name, to_device, to_numpy
from nnlib.errors import ShapeError, UnsupportedError
from nnlib.nn.transformer import generate_square_subsequent_mask, sinusoidal_positional_encoding
from attention_cases import paired, run_nnlib, run_torch
from nnlib_cases import assert_close

D_MODEL, NHEAD, FF = 4, 2, 6


def layer_pair(device="numpy", seed=0, activation=("relu", "relu"), **kwargs):
    """An nnlib TransformerEncoderLayer(4, 2, 6, …) and torch's, with the same weights.
    ``activation``: (nnlib's, torch's)."""
    ours_act, torch_act = activation
    return paired(lambda dt: nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, activation=ours_act,
                                                        dtype=dt, **kwargs),
                  lambda dt: torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, activation=torch_act,
                                                              dtype=dt, **kwargs),
                  device=device, seed=seed)


def _src(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _masks(kind, n=2, s=3, seed=0):
    rng = np.random.default_rng(seed)
    causal = np.isinf(generate_square_subsequent_mask(s))
    padding = np.zeros((n, s), dtype=bool)
    padding[0, -1] = True
    return {
        "none": {},
        "causal bool src_mask and bool padding": dict(src_mask=causal, src_key_padding_mask=padding),
        "float src_mask (N·nhead, S, S) and float padding": dict(
            src_mask=rng.standard_normal((n * NHEAD, s, s)),
            src_key_padding_mask=rng.standard_normal((n, s))),
    }[kind]


LAYERS = {  # label: (constructor kwargs, activation pair, src shape, eval?)
    "post-norm relu": (dict(dropout=0.0), ("relu", "relu"), (3, 2, D_MODEL), False),
    "pre-norm gelu": (dict(dropout=0.0, norm_first=True), ("gelu", "gelu"), (3, 2, D_MODEL), False),
    "batch_first": (dict(dropout=0.0, batch_first=True), ("relu", "relu"), (2, 3, D_MODEL), False),
    "bias=False, pre-norm": (dict(dropout=0.0, bias=False, norm_first=True), ("relu", "relu"),
                             (3, 2, D_MODEL), False),
    "GELU(tanh) module": (dict(dropout=0.0), (nn.GELU("tanh"), torch.nn.GELU("tanh")), (3, 2, D_MODEL),
                          False),
    "layer_norm_eps": (dict(dropout=0.0, layer_norm_eps=0.3), ("relu", "relu"), (3, 2, D_MODEL), False),
    "eval mode, dropout=0.2": (dict(dropout=0.2), ("gelu", "gelu"), (3, 2, D_MODEL), True),
}


@pytest.mark.parametrize("masks", ["none", "causal bool src_mask and bool padding",
                                   "float src_mask (N·nhead, S, S) and float padding"])
@pytest.mark.parametrize("label", LAYERS)
def test_layer_matches_torch(label, masks, device):
    kwargs, activation, shape, evaluate = LAYERS[label]
    ours, theirs = layer_pair(device, activation=activation, **kwargs)
    ours.train(not evaluate)
    theirs.train(not evaluate)
    forward = _masks(masks)
    mine = run_nnlib(ours, (_src(shape),), forward, device=device)
    assert_close(mine, run_torch(theirs, (_src(shape),), forward), "float64", f"{label}, {masks}")
    assert {k for k in mine if "mask" in k} == ({"∂src_mask", "∂src_key_padding_mask"} if "float" in masks
                                                else set())


@pytest.mark.parametrize("norm_first", [False, True])
def test_unbatched_input_matches_torch(norm_first, device):
    ours, theirs = layer_pair(device, dropout=0.0, norm_first=norm_first, batch_first=True)
    forward = dict(src_mask=np.isinf(generate_square_subsequent_mask(3)),
                   src_key_padding_mask=np.array([False, False, True]))
    mine = run_nnlib(ours, (_src((3, D_MODEL)),), forward, device=device)
    assert_close(mine, run_torch(theirs, (_src((3, D_MODEL)),), forward), "float64", "unbatched")


@pytest.mark.parametrize("norm_first", [False, True])
def test_is_causal_with_the_causal_mask_matches_torch(norm_first, device):
    ours, theirs = layer_pair(device, dropout=0.0, norm_first=norm_first)
    forward = dict(src_mask=np.isinf(generate_square_subsequent_mask(4)), is_causal=True)
    mine = run_nnlib(ours, (_src((4, 2, D_MODEL)),), forward, device=device)
    assert_close(mine, run_torch(theirs, (_src((4, 2, D_MODEL)),), forward), "float64", "is_causal")
    with pytest.raises(ValueError, match="is_causal=True is a hint that attn_mask is the causal mask"):
        ours(to_device(_src((4, 2, D_MODEL)), device), is_causal=True)


def test_the_causal_mask_keeps_the_future_out():
    """With the causal mask, output t depends on inputs 0 … t only: ∂y_t/∂x_u = 0 for u > t."""
    layer, _ = layer_pair(dropout=0.0)
    x = _src((4, 1, D_MODEL))
    layer(x, src_mask=generate_square_subsequent_mask(4, dtype="float64"))
    grad = np.zeros((4, 1, D_MODEL))
    grad[1] = 1.0                                  # J = Σ y_1
    d_src, *_ = layer.backward(grad)
    assert np.abs(d_src[:2]).max() > 0
    np.testing.assert_array_equal(d_src[2:], 0)


# --- central differences ------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_backward_matches_central_differences(norm_first, device):
    """Every parameter, the input and both float masks (positional: src, src_mask, src_key_padding_mask)."""
    layer, _ = layer_pair(device, dropout=0.0, norm_first=norm_first, activation=("gelu", "gelu"))
    masks = _masks("float src_mask (N·nhead, S, S) and float padding")
    inputs = tuple(to_device(a, device) for a in (_src((3, 2, D_MODEL)), masks["src_mask"],
                                                   masks["src_key_padding_mask"]))
    table = gc.gradcheck(layer, inputs)
    assert {row[0] for row in table.rows} == {"input[0]", "input[1]", "input[2]"} | {
        n for n, _ in layer.named_parameters()}


@pytest.mark.parametrize("norm_first", [False, True])
def test_training_mode_backward_uses_the_forward_dropout_masks(norm_first):
    """gradcheck reseeds nnlib's generator before every forward pass: the four dropouts draw the same
    masks each time, and backward agrees with the differences only if it reuses them."""
    layer, _ = layer_pair(dropout=0.3, norm_first=norm_first)
    layer.train()
    x = _src((3, 2, D_MODEL))
    nnlib.manual_seed(1)
    train_out = layer(x)
    assert not np.allclose(train_out, layer.eval()(x))
    gc.gradcheck(layer.train(), (x,), seed=1)


def test_encoder_backward_matches_central_differences():
    """A float mask used by both layers gets the sum of both layers' gradients."""
    nnlib.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0, dtype="float64")
    encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D_MODEL, dtype="float64"))
    encoder.layers[1].linear1.weight.data = encoder.layers[1].linear1.weight.data * 1.5  # distinct layers
    table = gc.gradcheck(encoder, (_src((3, 2, D_MODEL)), _src((3, 3), seed=1)))
    names = {row[0] for row in table.rows}
    assert {"input[0]", "input[1]", "layers.1.self_attn.in_proj_weight", "norm.bias"} <= names


def test_a_layer_inside_sequential_passes_on_the_gradient_of_its_input(device):
    """Sequential gives the layer only src; of (∂J/∂src, None, None, None) from backward it passes on the
    first."""
    ours, theirs = paired(
        lambda dt: nn.Sequential(nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, 0.0, dtype=dt),
                                 nn.Linear(D_MODEL, 3, dtype=dt)),
        lambda dt: torch.nn.Sequential(torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, 0.0, dtype=dt),
                                       torch.nn.Linear(D_MODEL, 3, dtype=dt)), device=device)
    mine = run_nnlib(ours, (_src((3, 2, D_MODEL)),), {}, device=device)
    assert_close(mine, run_torch(theirs, (_src((3, 2, D_MODEL)),), {}), "float64", "Sequential")


# --- TransformerEncoder ---------------------------------------------------------------------------------
def encoder_pair(device="numpy", num_layers=2, with_norm=True, **kwargs):
    def ours(dt):
        layer = nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dtype=dt, **kwargs)
        norm = nn.LayerNorm(D_MODEL, dtype=dt) if with_norm else None
        return nn.TransformerEncoder(layer, num_layers, norm=norm, enable_nested_tensor=False)

    def theirs(dt):
        layer = torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dtype=dt, **kwargs)
        return torch.nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False,
                                           norm=torch.nn.LayerNorm(D_MODEL, dtype=dt) if with_norm else None)

    return paired(ours, theirs, device=device)


@pytest.mark.parametrize("norm_first, masks", [
    (False, "none"), (True, "causal bool src_mask and bool padding"),
    (False, "float src_mask (N·nhead, S, S) and float padding")])
def test_encoder_matches_torch(norm_first, masks, device):
    ours, theirs = encoder_pair(device, norm_first=norm_first, dropout=0.0)
    forward = {{"src_mask": "mask"}.get(k, k): v for k, v in _masks(masks).items()}
    mine = run_nnlib(ours, (_src((3, 2, D_MODEL)),), forward, device=device)
    assert_close(mine, run_torch(theirs, (_src((3, 2, D_MODEL)),), forward), "float64", masks)


def test_encoder_state_dict_is_pytorchs_and_its_layers_are_independent_copies():
    ours, theirs = encoder_pair(num_layers=3)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    first, second = ours.layers[0], ours.layers[1]
    assert first is not second and first.linear1.weight is not second.linear1.weight
    np.testing.assert_array_equal(first.linear1.weight.data, second.linear1.weight.data)  # one layer's copies
    first.linear1.weight.data[...] = 0
    assert np.abs(second.linear1.weight.data).max() > 0


def test_encoder_without_norm_and_the_is_causal_hint(device):
    ours, theirs = encoder_pair(device, with_norm=False, dropout=0.0)
    forward = dict(mask=np.isinf(generate_square_subsequent_mask(3)), is_causal=True)
    mine = run_nnlib(ours, (_src((3, 2, D_MODEL)),), forward, device=device)
    assert_close(mine, run_torch(theirs, (_src((3, 2, D_MODEL)),), forward), "float64", "is_causal")


@pytest.mark.parametrize("args, error, message", [
    ((torch.nn.TransformerEncoderLayer(4, 2), 2), TypeError,
     "encoder_layer must be an nnlib TransformerEncoderLayer, got torch.nn.modules.transformer."
     "TransformerEncoderLayer"),
    ((nn.TransformerEncoderLayer(4, 2), 0), ValueError, "num_layers must be a positive integer, got 0"),
    ((nn.TransformerEncoderLayer(4, 2), 2, torch.nn.LayerNorm(4)), TypeError,
     "norm must be an nnlib module (e.g. nn.LayerNorm(d_model)) or None, got LayerNorm"),
    ((nn.TransformerEncoderLayer(4, 2), 2, None, "yes"), TypeError,
     "enable_nested_tensor must be True or False"),
], ids=["torch layer", "num_layers", "torch norm", "enable_nested_tensor"])
def test_encoder_argument_errors(args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        nn.TransformerEncoder(*args)


# --- the causal mask and the positional encoding ---------------------------------------------------------
@pytest.mark.parametrize("sz", [1, 2, 5])
def test_generate_square_subsequent_mask_is_pytorchs(sz, torch_device):
    expected = torch.nn.Transformer.generate_square_subsequent_mask(sz, dtype=torch.float64).numpy()
    np.testing.assert_array_equal(generate_square_subsequent_mask(sz, dtype="float64"), expected)
    on_device = generate_square_subsequent_mask(sz, device=torch_device)
    assert device_of(on_device) == torch_device and dtype_name(on_device) == "float32"


@pytest.mark.parametrize("d_model", [1, 6, 7])
def test_sinusoidal_positional_encoding_follows_its_formula(d_model):
    pe = sinusoidal_positional_encoding(50, d_model, dtype="float64")
    assert pe.shape == (50, d_model) and pe.dtype == np.float64
    for t in (0, 1, 17, 49):
        for c in range(d_model):
            omega = 10000.0 ** (-(c - c % 2) / d_model)
            expected = np.sin(t * omega) if c % 2 == 0 else np.cos(t * omega)
            assert pe[t, c] == pytest.approx(expected, abs=1e-12)


def test_a_fixed_offset_is_the_same_rotation_at_every_position():
    """(sin (t+k)ω, cos (t+k)ω) = R(kω) (sin tω, cos tω) for every t: relative position is linear."""
    pe = sinusoidal_positional_encoding(40, 8, base=100.0, dtype="float64")
    k = 5
    omega = 100.0 ** (-np.arange(0, 8, 2) / 8)
    sin, cos = pe[:, 0::2], pe[:, 1::2]
    c, s = np.cos(k * omega), np.sin(k * omega)
    np.testing.assert_allclose(sin[k:], sin[:-k] * c + cos[:-k] * s, atol=1e-12)
    np.testing.assert_allclose(cos[k:], cos[:-k] * c - sin[:-k] * s, atol=1e-12)


@pytest.mark.parametrize("batch_first, shape", [(False, (5, 2, 6)), (True, (2, 5, 6)), (False, (5, 6))])
def test_positional_encoding_layer_adds_the_encoding_in_each_layout(batch_first, shape, device):
    layer = nn.SinusoidalPositionalEncoding(6, max_len=10, batch_first=batch_first)
    x = to_device(_src(shape).astype(np.float32), device)
    y = layer(x)
    assert device_of(y) == device and dtype_name(y) == "float32"
    pe = sinusoidal_positional_encoding(5, 6)
    added = to_numpy(y) - to_numpy(x)
    per_example = added if len(shape) == 2 else (added[0] if batch_first else added[:, 0])
    np.testing.assert_allclose(per_example, pe, atol=1e-6)
    grad = to_device(_src(shape, seed=1).astype(np.float32), device)
    assert layer.backward(grad) is grad        # y = x + constant: ∂J/∂x = ∂J/∂y
    option = ", batch_first=True" if batch_first else ""
    assert repr(layer) == f"SinusoidalPositionalEncoding(d_model=6, max_len=10{option})"


@pytest.mark.parametrize("call, error, message", [
    (lambda: sinusoidal_positional_encoding(0, 4), ValueError, "length must be a positive integer, got 0"),
    (lambda: sinusoidal_positional_encoding(3, 4, base=1), ValueError,
     "base must be a number greater than 1, got 1"),
    (lambda: nn.SinusoidalPositionalEncoding(4, max_len=3)(np.zeros((4, 1, 4), np.float32)), ShapeError,
     "input must have shape (T, N, D) or unbatched (T, D), D = 4, T ≤ 3, got (4, 1, 4)"),
    (lambda: nn.SinusoidalPositionalEncoding(4)(np.zeros((2, 3), np.float32)), ShapeError,
     "got (2, 3)"),
], ids=["length", "base", "too long", "features"])
def test_positional_encoding_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


# --- construction -----------------------------------------------------------------------------------
def _parameters(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_signatures_are_pytorchs():
    ours, theirs = _parameters(nn.TransformerEncoderLayer), _parameters(torch.nn.TransformerEncoderLayer)
    # The one difference: PyTorch's default activation is the function F.relu, nnlib's the name
    # "relu", which PyTorch also accepts and which means the same.
    assert theirs[4] == ("activation", inspect.Parameter.POSITIONAL_OR_KEYWORD, torch.nn.functional.relu)
    assert ours[4] == ("activation", inspect.Parameter.POSITIONAL_OR_KEYWORD, "relu")
    assert ours[:4] + ours[5:] == theirs[:4] + theirs[5:]
    assert _parameters(nn.TransformerEncoderLayer.forward) == \
        _parameters(torch.nn.TransformerEncoderLayer.forward)
    assert _parameters(nn.TransformerEncoder) == _parameters(torch.nn.TransformerEncoder)
    assert _parameters(nn.TransformerEncoder.forward) == _parameters(torch.nn.TransformerEncoder.forward)


@pytest.mark.parametrize("kwargs", [dict(), dict(bias=False), dict(norm_first=True, activation="gelu")],
                         ids=str)
def test_layer_state_dict_is_pytorchs_and_loads_both_ways(kwargs):
    ours = nn.TransformerEncoderLayer(8, 4, 16, **kwargs)
    theirs = torch.nn.TransformerEncoderLayer(8, 4, 16, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    assert ours.self_attn.dropout == ours.dropout.p == ours.dropout1.p == ours.dropout2.p == 0.1
    assert ours.norm1.eps == 1e-5 and ours.norm_first == kwargs.get("norm_first", False)


def test_factory_arguments_place_every_parameter(torch_device):
    layer = nn.TransformerEncoderLayer(4, 2, 8, 0.1, "relu", 1e-5, True, False, True, torch_device, "float64")
    assert {(p.device, p.dtype) for p in layer.parameters()} == {(torch_device, "float64")}
    assert layer.self_attn.batch_first


def test_deep_copies_keep_nothing_shared():
    layer = nn.TransformerEncoderLayer(4, 2, 8)
    twin = copy.deepcopy(layer)
    twin.self_attn.in_proj_weight.data[...] = 0
    assert np.abs(layer.self_attn.in_proj_weight.data).max() > 0


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(activation="tanh"), ValueError,
     "activation must be 'relu' or 'gelu' (or an nnlib activation module), got 'tanh'"),
    (dict(activation=torch.nn.functional.gelu), UnsupportedError, "activation=<built-in function gelu>"),
    (dict(activation=lambda x: x), UnsupportedError,
     "it supports activation='relu', 'gelu' or an nnlib module"),
    (dict(nhead=3), ValueError, "embed_dim must be divisible by num_heads"),
    (dict(dim_feedforward=0), ValueError, "dim_feedforward must be a positive integer, got 0"),
    (dict(dropout=2.0), ValueError, "dropout must be a probability in [0, 1], got 2.0"),
    (dict(norm_first="no"), TypeError, "norm_first must be True or False, got 'no'"),
    (dict(layer_norm_eps=-1.0), ValueError, "eps must be non-negative, got -1.0"),
], ids=lambda v: re.sub(r" at 0x[0-9a-f]+", "", str(v)))  # same id in every process (xdist)
def test_layer_argument_errors(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        nn.TransformerEncoderLayer(**{"d_model": 4, "nhead": 2, **kwargs})


@pytest.mark.parametrize("kwargs, shape, message", [
    ({}, (3, 2, 5), "src must have shape (S, N, 4) (batch_first=False) or unbatched (S, 4), got (3, 2, 5)"),
    (dict(batch_first=True), (1, 2, 3, 4),
     "src must have shape (N, S, 4) (batch_first=True) or unbatched (S, 4), got (1, 2, 3, 4)"),
    (dict(norm_first=True), (4,),
     "src must have shape (S, N, 4) (batch_first=False) or unbatched (S, 4), got (4,)"),
], ids=str)
def test_layer_input_errors_name_expected_and_got(kwargs, shape, message):
    layer = nn.TransformerEncoderLayer(4, 2, 8, **kwargs)
    with pytest.raises(ShapeError, match=re.escape(f"TransformerEncoderLayer: {message}")):
        layer(np.zeros(shape, np.float32))


def test_a_wrong_mask_is_named_by_the_attention_it_goes_to():
    with pytest.raises(ShapeError, match=re.escape("MultiheadAttention: key_padding_mask must have shape "
                                                   "(N, S) = (2, 3), got (3, 2)")):
        nn.TransformerEncoderLayer(4, 2, 8)(np.zeros((3, 2, 4), np.float32),
                                            src_key_padding_mask=np.zeros((3, 2), bool))
