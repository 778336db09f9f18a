"""TransformerLanguageModel against a PyTorch twin built from torch.nn's Embedding, TransformerEncoder
and Linear (logits and every parameter gradient, float64, every backend); central-difference
gradcheck; causality; the attention maps; the language-model interface shared with RNNLanguageModel
(perplexity); errors."""

import math

import numpy as np
import pytest
import torch

import nnlib
from nnlib import gradcheck as gc
from nnlib.backend import to_device, to_numpy
from nnlib.errors import DTypeError, ShapeError
from nnlib.models import TransformerLanguageModel, perplexity
from nnlib.nn.transformer import sinusoidal_positional_encoding
from attention_cases import paired
from nnlib_cases import assert_close

VOCAB, D_MODEL, NHEAD, FF, LAYERS = 7, 4, 2, 6, 2


class TorchTransformerLanguageModel(torch.nn.Module):
    """The same model from torch.nn, with the same attribute names (so the same state_dict keys)."""

    def __init__(self, vocab_size, d_model, nhead, num_layers, dim_feedforward, max_len=16, dtype=None):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, d_model, dtype=dtype)
        layer = torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0,
                                                 batch_first=True, norm_first=True, dtype=dtype)
        norm = torch.nn.LayerNorm(d_model, dtype=dtype)
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers, norm=norm, enable_nested_tensor=False)
        self.fc = torch.nn.Linear(d_model, vocab_size, dtype=dtype)
        pe = sinusoidal_positional_encoding(max_len, d_model, dtype="float64")
        self.pe = torch.as_tensor(pe, dtype=dtype)

    def forward(self, x):
        t = x.shape[1]
        h = self.embed(x) + self.pe[:t].to(x.device)
        mask = torch.nn.Transformer.generate_square_subsequent_mask(t, device=x.device, dtype=h.dtype)
        return self.fc(self.encoder(h, mask=mask, is_causal=True))


def model_pair(device="numpy", seed=0):
    return paired(lambda dt: TransformerLanguageModel(VOCAB, D_MODEL, NHEAD, LAYERS, FF, max_len=16,
                                                      dtype=dt),
                  lambda dt: TorchTransformerLanguageModel(VOCAB, D_MODEL, NHEAD, LAYERS, FF, dtype=dt),
                  device=device, seed=seed)


def _ids(shape=(3, 5), seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, shape)


def test_logits_and_every_gradient_match_torch(device):
    ours, theirs = model_pair(device)
    x = _ids()
    logits, state = ours(to_device(x, device))
    assert state is None and tuple(logits.shape) == (3, 5, VOCAB)
    t_x = torch.as_tensor(x, device=next(theirs.parameters()).device)
    t_logits = theirs(t_x)
    g = np.random.default_rng(1).standard_normal(tuple(logits.shape))
    (t_logits * torch.as_tensor(g, device=t_logits.device)).sum().backward()
    assert ours.backward(to_device(g, device)) == (None, None)
    mine = {"logits": to_numpy(logits)} | {f"∂{n}": to_numpy(p.grad) for n, p in ours.named_parameters()}
    ref = {"logits": t_logits.detach().cpu().numpy()} | {
        f"∂{n}": p.grad.cpu().numpy() for n, p in theirs.named_parameters()}
    assert list(ours.state_dict()) == [k for k in theirs.state_dict()]
    assert_close(mine, ref, "float64", "TransformerLanguageModel")


def test_backward_matches_central_differences(device):
    ours, _ = model_pair(device)
    table = gc.gradcheck(ours, (to_device(_ids((2, 4)), device),))
    names = {row[0] for row in table.rows}
    assert {"embed.weight", "encoder.layers.1.linear2.weight", "encoder.norm.bias", "fc.weight"} <= names


def test_a_later_token_changes_no_earlier_prediction():
    ours, _ = model_pair()
    x = _ids((2, 6))
    changed = x.copy()
    changed[:, 3] = (changed[:, 3] + 1) % VOCAB
    a, b = ours(x)[0], ours(changed)[0]
    assert np.allclose(a[:, :3], b[:, :3], rtol=0, atol=1e-13)
    assert not np.allclose(a[:, 3:], b[:, 3:])


def test_attention_maps_are_causal_distributions_and_torchs_weights(device):
    ours, theirs = model_pair(device)
    x = _ids((2, 5))
    maps = ours.attention_maps(to_device(x, device))
    assert len(maps) == LAYERS and all(tuple(m.shape) == (2, NHEAD, 5, 5) for m in maps)
    t_x = torch.as_tensor(x, device=next(theirs.parameters()).device)
    with torch.no_grad():
        h = theirs.embed(t_x) + theirs.pe[:5].to(t_x.device)
        mask = torch.nn.Transformer.generate_square_subsequent_mask(5, device=t_x.device, dtype=h.dtype)
        for ours_map, layer in zip(maps, theirs.encoder.layers):
            a = layer.norm1(h)
            ref = layer.self_attn(a, a, a, attn_mask=mask, average_attn_weights=False)[1]
            m = to_numpy(ours_map)
            assert np.allclose(m, ref.cpu().numpy(), rtol=0, atol=1e-12)
            assert np.allclose(m.sum(axis=-1), 1.0) and np.all(np.triu(m, k=1) == 0)
            h = layer(h, src_mask=mask, is_causal=True)
    with pytest.raises(nnlib.errors.BackwardError):   # attention_maps leaves nothing to backward through
        ours.backward(to_device(np.ones((2, 5, VOCAB)), device))


def test_perplexity_reads_each_window_on_its_own():
    ours, _ = model_pair()
    streams = _ids((2, 9), seed=3)
    total, count = 0.0, 0
    for start in range(0, 8, 4):                      # windows of 4 (and the last of 4 too)
        x, y = streams[:, start:start + 4], streams[:, start + 1:start + 5]
        z = ours(x)[0]
        log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
        total -= np.take_along_axis(log_p, y[..., None], -1).sum()
        count += y.size
    assert math.isclose(perplexity(ours, streams, 4), math.exp(total / count), rel_tol=1e-12)


def test_parameter_count_and_defaults():
    model = TransformerLanguageModel(10, 8, 2)
    assert model.encoder.num_layers == 1 and model.encoder.layers[0].linear1.out_features == 32
    assert model.encoder.layers[0].norm_first and model.embed.weight.dtype == "float32"
    d, f, v = 8, 32, 10
    per_layer = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d
    assert sum(p.numel() for p in model.parameters()) == v * d + per_layer + 2 * d + d * v + v


@pytest.mark.parametrize("call, error, message", [
    (lambda m: m(np.zeros((2, 3))), DTypeError, r"int64 \(or int32\) array of token ids, got float64"),
    (lambda m: m([[1, 2]]), DTypeError, "got list"),
    (lambda m: m(np.zeros(3, dtype=np.int64)), ShapeError,
     r"shape \(N, T\) with 1 ≤ T ≤ max_len = 16, got \(3,\)"),
    (lambda m: m(np.zeros((1, 17), dtype=np.int64)), ShapeError, r"max_len = 16, got \(1, 17\)"),
    (lambda m: m(np.zeros((1, 3), dtype=np.int64), state=(1, 2)), ValueError,
     "state must be None, got tuple"),
    (lambda m: (m(np.zeros((1, 3), dtype=np.int64)), m.backward((np.zeros((1, 3, VOCAB)), 1.0))),
     ValueError, "there is no state"),
])
def test_bad_input_is_refused_with_what_was_expected(call, error, message):
    model, _ = model_pair()
    with pytest.raises(error, match=message):
        call(model)


def test_d_model_must_split_into_heads():
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        TransformerLanguageModel(VOCAB, 6, 4)
