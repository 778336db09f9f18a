"""The document's RNNModel and the every-step RNNLanguageModel against their PyTorch twins
(the document's own class from nnlib.torch_models; the every-step model's twin below)."""

import numpy as np
import pytest

import nnlib
from nnlib import nn, optim
from nnlib.errors import ShapeError
from nnlib.models import RNNLanguageModel, RNNModel

torch = pytest.importorskip("torch")
tnn = torch.nn
from nnlib import torch_models  # noqa: E402  (needs torch)

TOL = {"float64": 1e-10, "float32": 1e-5}


class TorchLanguageModel(tnn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers, cell):
        super().__init__()
        self.embed = tnn.Embedding(vocab_size, embed_size)
        if cell == "lstm":
            self.rnn = tnn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        elif cell == "gru":
            self.rnn = tnn.GRU(embed_size, hidden_size, num_layers, batch_first=True)
        else:
            self.rnn = tnn.RNN(embed_size, hidden_size, num_layers, nonlinearity=cell[4:], batch_first=True)
        self.fc = tnn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.fc(out), state


def close(ours, theirs, dtype, what):
    a = np.asarray(nnlib.to_numpy(ours), np.float64)
    b = theirs.detach().cpu().double().numpy()
    assert a.shape == b.shape, what
    err, scale = np.max(np.abs(a - b)), max(np.max(np.abs(b)), 1.0)
    assert err <= TOL[dtype] * scale, f"{what}: {err:.3g}"


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("state_grad", [False, True])
def test_document_model_loads_and_matches(device, float_dtype, num_layers, state_grad):
    vocab, embed, hidden, n, t = 11, 4, 5, 3, 6
    ref = torch_models.RNNModel(vocab, embed, hidden, num_layers).to(getattr(torch, float_dtype))
    tdev = "cpu" if device == "numpy" else device
    ref = ref.to(tdev)
    model = RNNModel(vocab, embed, hidden, num_layers, dtype=float_dtype).to(device)
    model.load_state_dict(ref.state_dict())                          # the document's weights load
    assert list(model.state_dict()) == list(ref.state_dict())
    rng = np.random.default_rng(num_layers)
    x = rng.integers(0, vocab, (n, t))
    h0, c0 = (rng.standard_normal((num_layers, n, hidden)).astype(float_dtype) for _ in range(2))
    th0, tc0 = (torch.tensor(a, device=tdev, requires_grad=True) for a in (h0, c0))
    t_out, (t_h, t_c) = ref(torch.as_tensor(x, device=tdev), th0, tc0)
    on = lambda a: nnlib.to_device(a, device)  # noqa: E731
    out, (h, c) = model(on(x), on(h0), on(c0))
    for a, b, what in [(out, t_out, "out"), (h, t_h, "h"), (c, t_c, "c")]:
        close(a, b, float_dtype, what)
    g = rng.standard_normal(tuple(t_out.shape)).astype(float_dtype)
    gh, gc_ = (rng.standard_normal(tuple(t_h.shape)).astype(float_dtype) for _ in range(2))
    objective = (t_out * torch.tensor(g, device=tdev)).sum()
    if state_grad:
        objective = (objective + (t_h * torch.tensor(gh, device=tdev)).sum()
                     + (t_c * torch.tensor(gc_, device=tdev)).sum())
    objective.backward()
    grads = model.backward((on(g), (on(gh), on(gc_))) if state_grad else on(g))
    assert grads[0] is None                                          # token ids: no gradient
    close(grads[1], th0.grad, float_dtype, "∂J/∂h0")
    close(grads[2], tc0.grad, float_dtype, "∂J/∂c0")
    for name, p in ref.named_parameters():
        close(dict(model.named_parameters())[name].grad, p.grad, float_dtype, name)


def test_weights_go_back_into_the_document_model():
    model = RNNModel(9, 3, 4, 2)
    ref = torch_models.RNNModel(9, 3, 4, 2)
    ref.load_state_dict({k: torch.as_tensor(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).integers(0, 9, (2, 5))
    zeros = np.zeros((2, 2, 4), np.float32)
    out, _ = model(x, zeros, zeros)
    t_out, _ = ref(torch.as_tensor(x), torch.as_tensor(zeros), torch.as_tensor(zeros))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_document_model_without_initial_state_and_state_only_gradient():
    model = RNNModel(9, 3, 4, 2, dtype="float64")
    x = np.random.default_rng(0).integers(0, 9, (2, 5))
    out, (h, c) = model(x)                                           # h0 = c0 = 0
    assert model.backward(np.ones(out.shape)) == (None, None, None)
    model.zero_grad()
    out, (h, c) = model(x)
    model.backward((None, (np.ones(h.shape), None)))                 # gradient from h only
    assert model.fc.weight.grad is None and model.embed.weight.grad is not None
    with pytest.raises(ValueError, match="both h0 and c0"):
        model(x, np.zeros((2, 2, 4)))


@pytest.mark.parametrize("cell", RNNLanguageModel.CELLS)
def test_language_model_matches_torch_at_every_step(cell, device):
    vocab, n, t = 13, 2, 7
    ref = TorchLanguageModel(vocab, 4, 5, 2, cell).double().to("cpu" if device == "numpy" else device)
    model = RNNLanguageModel(vocab, 4, 5, 2, cell=cell, dtype="float64").to(device)
    model.load_state_dict(ref.state_dict())
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, vocab, (n, t)), rng.integers(0, vocab, (n, t))
    tdev = "cpu" if device == "numpy" else device
    t_logits, _ = ref(torch.as_tensor(x, device=tdev))
    t_targets = torch.as_tensor(y, device=tdev).reshape(-1)
    tnn.functional.cross_entropy(t_logits.reshape(-1, vocab), t_targets).backward()
    logits, state = model(nnlib.to_device(x, device))
    criterion = nn.CrossEntropyLoss()
    xp = nnlib.backend.namespace(logits)
    loss = criterion(xp.reshape(logits, (-1, vocab)), nnlib.to_device(y.reshape(-1), device))
    close(logits, t_logits, "float64", "logits")
    grad = criterion.backward()
    _, grad_state = model.backward(xp.reshape(grad, (n, t, vocab)))
    assert grad_state is None
    for name, p in ref.named_parameters():
        close(dict(model.named_parameters())[name].grad, p.grad, "float64", name)
    assert np.isfinite(float(loss))


def test_language_model_learns_a_repeating_sequence():
    """A few Adam steps with clipping on 'abcabc…' bring the loss well below log(vocab)."""
    nnlib.manual_seed(0)
    model = RNNLanguageModel(3, 8, 16, cell="gru")
    opt = optim.Adam(model.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss()
    stream = np.tile(np.arange(3), 40).reshape(4, 30)
    x, y = stream[:, :-1], stream[:, 1:]
    for _ in range(40):
        opt.zero_grad()
        logits, _ = model(x)
        loss = criterion(logits.reshape(-1, 3), y.reshape(-1))
        model.backward(criterion.backward().reshape(logits.shape))
        norm = float(optim.clip_grad_norm_(model.parameters(), 0.2))  # clips the first steps
        clipped = np.sqrt(sum(float(np.sum(p.grad**2)) for p in model.parameters()))
        assert clipped <= min(norm, 0.2) * (1 + 1e-5)  # the generator was clipped, not just measured
        opt.step()
    assert float(loss) < 0.1 * np.log(3)
    sample = model.generate([0], 8, temperature=0.5, seed=1)
    assert sample == [0, 1, 2, 0, 1, 2, 0, 1, 2]


def test_generate_is_seeded_and_validates():
    model = RNNLanguageModel(5, 3, 4)
    a = model.generate([1, 2], 10, temperature=1.5, seed=7)
    assert a == model.generate([1, 2], 10, temperature=1.5, seed=7) and len(a) == 12
    with pytest.raises(ValueError, match="temperature"):
        model.generate([1], 3, temperature=0)
    with pytest.raises(ValueError, match="prefix"):
        model.generate([], 3)
    with pytest.raises(ValueError, match="cell"):
        RNNLanguageModel(5, 3, 4, cell="transformer")


def test_bad_grad_output():
    model = RNNModel(9, 3, 4, 1)
    out, _ = model(np.zeros((2, 5), np.int64))
    with pytest.raises(ShapeError):
        model.backward(np.ones((2, 4), np.float32))
    with pytest.raises(ShapeError, match="length 3"):
        model.backward((np.ones(out.shape, np.float32), None, None))


def test_generate_can_avoid_ids():
    model = RNNLanguageModel(4, 3, 4)
    sample = model.generate([1], 50, temperature=3.0, seed=0, avoid=[0, 2])
    assert set(sample[1:]) <= {1, 3}


def test_perplexity_of_an_untrained_model_is_about_the_vocabulary_size():
    from nnlib.models import perplexity
    from nnlib.text import batchify

    nnlib.manual_seed(0)
    model = RNNLanguageModel(50, 8, 8, cell="gru", dtype="float64")
    for p in model.fc.parameters():
        p.data = p.data * 0                                   # uniform predictions
    streams = batchify(np.random.default_rng(0).integers(0, 50, 401), 4)
    assert perplexity(model, streams, 7) == pytest.approx(50, rel=1e-12)
    with pytest.raises(nnlib.errors.BackwardError):
        model.backward(np.zeros((4, 1, 50)))                  # perplexity leaves no cache behind


def test_perplexity_of_logits_spread_over_1e4_is_exact():
    """Logits (5e4, 5e4, 4e4) at every step in float32: tokens 0 and 1 get p = 1/2 each, so on a
    stream of them the perplexity is exactly 2. (Subtracting max + log 2 from 5e4 in one go
    would round log 2 to 0.691 in float32: perplexity 1.997.)"""
    from nnlib.models import perplexity
    from nnlib.text import batchify

    model = RNNLanguageModel(3, 2, 2, cell="rnn_tanh")
    model.fc.weight.data = model.fc.weight.data * 0
    model.fc.bias.data = np.array([5e4, 5e4, 4e4], np.float32)
    streams = batchify(np.random.default_rng(0).integers(0, 2, 201), 4)
    assert perplexity(model, streams, 7) == pytest.approx(2, rel=1e-6)
