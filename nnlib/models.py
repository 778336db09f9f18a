"""Models of the source document, rebuilt from nnlib layers with the document's attribute names,
so that the weights of the document's PyTorch models (``nnlib.torch_models``) load into them unchanged;
and the book's two character-level language models, recurrent (``RNNLanguageModel``) and causal
Transformer (``TransformerLanguageModel``), which share one interface (``perplexity`` reads both)."""

import math

from . import backend
from .errors import DTypeError, ShapeError
from .nn import (GRU, LSTM, RNN, Conv2d, Embedding, LayerNorm, Linear, MaxPool2d, Module, ReLU,
                 SinusoidalPositionalEncoding, TransformerEncoder, TransformerEncoderLayer)
from .nn.functional import log_softmax
from .nn.transformer import generate_square_subsequent_mask


class ConvNet(Module):
    """The document's CNN for 3×32×32 images (CIFAR-10), section 4.1::

        conv1: Conv2d(3, 6, 5)    3×32×32 → 6×28×28, ReLU, pool 2×2 → 6×14×14
        conv2: Conv2d(6, 16, 5)   → 16×10×10, ReLU, pool 2×2 → 16×5×5
        view(-1, 400)             → 400 features
        fc1: Linear(400, 120), ReLU;  fc2: Linear(120, 84), ReLU;  fc3: Linear(84, 10) → logits

    ``state_dict`` keys are the PyTorch model's (``conv1.weight`` … ``fc3.bias``), so
    ``ConvNet().load_state_dict(torch_convnet.state_dict())`` works in both directions.
    ``backward(δ)`` walks the same steps in reverse and returns ∂J/∂x.
    """

    def __init__(self, *, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.conv1 = Conv2d(3, 6, 5, **kw)
        self.pool = MaxPool2d(2, 2)
        self.conv2 = Conv2d(6, 16, 5, **kw)
        self.fc1 = Linear(16 * 5 * 5, 120, **kw)
        self.fc2 = Linear(120, 84, **kw)
        self.fc3 = Linear(84, 10, **kw)
        # The document calls F.relu four times and self.pool twice in one forward pass. An nnlib
        # module caches what *one* call needs for its backward (a second call would overwrite the
        # first cache), so each use gets its own instance: ``self.pool`` for the first pooling,
        # a twin for the second. Neither pooling nor ReLU has parameters or buffers, so keeping
        # these helpers out of the registered sub-modules (a plain tuple is not registered) leaves
        # the module tree, repr and state_dict exactly those of the PyTorch class.
        self._steps = (ReLU(), MaxPool2d(2, 2), ReLU(), ReLU(), ReLU())

    def forward(self, x):
        relu1, pool2, relu2, relu3, relu4 = self._steps
        x = self.pool(relu1(self.conv1(x)))
        x = pool2(relu2(self.conv2(x)))
        if tuple(x.shape[1:]) != (16, 5, 5):  # x.view(-1, 400) would silently regroup other sizes
            raise ShapeError(f"ConvNet: expects (N, 3, 32, 32) images, which give (N, 16, 5, 5) features "
                             f"before fc1; got {tuple(x.shape)}")
        self.save_for_backward(tuple(x.shape))
        x = backend.namespace(x).reshape(x, (-1, 16 * 5 * 5))  # x.view(-1, 16 * 5 * 5)
        x = relu3(self.fc1(x))
        x = relu4(self.fc2(x))
        return self.fc3(x)

    can_skip_input_grad = True

    def backward(self, grad_output, *, input_grad=True):
        """Fills every parameter's ``.grad``; returns ∂J/∂x (``None`` with ``input_grad=False``:
        training needs no gradient of the images, and skipping it saves conv1's col2im)."""
        (pooled_shape,) = self.saved_for_backward(grad_output)
        relu1, pool2, relu2, relu3, relu4 = self._steps
        delta = self.fc3.backward(grad_output)
        delta = self.fc2.backward(relu4.backward(delta))
        delta = self.fc1.backward(relu3.backward(delta))
        delta = backend.namespace(delta).reshape(delta, pooled_shape)  # the view's backward: reshape back
        delta = self.conv2.backward(relu2.backward(pool2.backward(delta)))
        return self.conv1.backward(relu1.backward(self.pool.backward(delta)), input_grad=input_grad)


def _split_grad(grad_output):
    """``δ`` alone, or ``(δ, ∂J/∂state)``: the gradient of the first output, optionally of the state."""
    if isinstance(grad_output, (tuple, list)):
        if len(grad_output) != 2:
            raise ShapeError(f"grad_output must be δ or (δ, grad_state), got a {type(grad_output).__name__} "
                             f"of length {len(grad_output)}")
        return tuple(grad_output)
    return grad_output, None


class RNNModel(Module):
    """The document's language model of section 4.2::

        embed: Embedding(vocab_size, embed_size)          ids (N, T) → (N, T, embed_size)
        rnn:   LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        fc:    Linear(hidden_size, vocab_size)            applied to the last step only

    ``forward(x, h0, c0)`` returns ``out, (h, c)`` with ``out`` (N, vocab_size) the scores of the
    token after the last one. ``state_dict`` keys are the PyTorch model's, so its weights load
    both ways. ``backward(δ)`` or ``backward((δ, (∂J/∂h, ∂J/∂c)))`` routes δ through fc into the
    last step of the LSTM output only (the other steps got no gradient from the output), then
    back through time and into the embedding rows; it returns ``(None, ∂J/∂h0, ∂J/∂c0)`` (token
    ids have no gradient).
    """

    def __init__(self, vocab_size, embed_size, hidden_size, num_layers, *, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.embed = Embedding(vocab_size, embed_size, **kw)
        self.rnn = LSTM(embed_size, hidden_size, num_layers, batch_first=True, **kw)
        self.fc = Linear(hidden_size, vocab_size, **kw)

    def forward(self, x, h0=None, c0=None):
        if (h0 is None) != (c0 is None):
            raise ValueError("RNNModel: pass both h0 and c0, or neither (zeros)")
        embed = self.embed(x)
        out, (h, c) = self.rnn(embed, None if h0 is None else (h0, c0))
        self.save_for_backward(tuple(out.shape))
        out = self.fc(out[:, -1, :])                       # the last time step only
        return out, (h, c)

    def backward(self, grad_output):
        grad_output = _split_grad(grad_output)
        (seq_shape,) = self.saved_for_backward(grad_output)
        grad_out, grad_state = grad_output
        d_seq = None
        if grad_out is not None:
            d_last = self.fc.backward(grad_out)            # ∂J/∂h_T of the top layer
            xp = backend.namespace(d_last)
            d_seq = xp.zeros(seq_shape, dtype=d_last.dtype, device=backend.native_device(d_last))
            d_seq[:, -1, :] = d_last                       # out[:, -1, :]'s backward: steps < T get 0
        grad_embed, grad_hx = self.rnn.backward((d_seq, grad_state))
        self.embed.backward(grad_embed)
        return (None, None, None) if grad_hx is None else (None, *grad_hx)


class RNNLanguageModel(Module):
    """A language model that predicts the next token at *every* step (the chapter's char model).

    Same layers and ``state_dict`` keys as :class:`RNNModel` (``embed``, ``rnn``, ``fc``), with
    ``cell`` = ``"lstm"`` (default), ``"gru"``, ``"rnn_tanh"`` or ``"rnn_relu"``; fc is applied to
    all T outputs. ``forward(x, state=None)`` returns ``logits, state``: logits (N, T, vocab_size)
    and the final state, to feed into the next batch of a truncated-BPTT stream (nnlib builds
    no graph, so nothing needs detaching). ``backward(δ)`` or ``backward((δ, grad_state))``
    returns ``(None, ∂J/∂state)``.
    """

    CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")

    def __init__(self, vocab_size, embed_size, hidden_size, num_layers=1, cell="lstm", *,
                 device=None, dtype=None):
        super().__init__()
        if cell not in self.CELLS:
            raise ValueError(f"RNNLanguageModel: cell must be one of {self.CELLS}, got {cell!r}")
        kw = dict(device=device, dtype=dtype)
        self.cell = cell
        self.embed = Embedding(vocab_size, embed_size, **kw)
        if cell == "lstm":
            self.rnn = LSTM(embed_size, hidden_size, num_layers, batch_first=True, **kw)
        elif cell == "gru":
            self.rnn = GRU(embed_size, hidden_size, num_layers, batch_first=True, **kw)
        else:
            self.rnn = RNN(embed_size, hidden_size, num_layers, nonlinearity=cell[4:], batch_first=True, **kw)
        self.fc = Linear(hidden_size, vocab_size, **kw)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        self.save_for_backward()
        return self.fc(out), state                         # (N, T, vocab_size): a prediction per step

    def backward(self, grad_output):
        grad_output = _split_grad(grad_output)
        self.saved_for_backward(grad_output)
        grad_logits, grad_state = grad_output
        d_seq = None if grad_logits is None else self.fc.backward(grad_logits)
        grad_embed, grad_hx = self.rnn.backward((d_seq, grad_state))
        self.embed.backward(grad_embed)
        return None, grad_hx

    def generate(self, prefix, length, *, temperature=1.0, seed=0, avoid=()):
        """Continue the id sequence ``prefix`` by ``length`` ids sampled from softmax(logits / T).

        Temperature T < 1 sharpens the distribution (safer, more repetitive text), T > 1 flattens
        it. ``avoid``: ids never sampled (e.g. ``<unk>``). Returns a list of ints (prefix included).
        Uses its own NumPy generator (``seed``), so sampling does not disturb nnlib's training
        randomness. Runs forward only: it overwrites what the last training forward saved, so call
        it between training steps.
        """
        import numpy as np

        if not prefix:
            raise ValueError("generate: prefix must contain at least one token id")
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"generate: temperature must be a positive number, got {temperature!r}")
        rng = np.random.default_rng(seed)
        device = self.embed.weight.device
        ids = list(int(i) for i in prefix)
        logits, state = self(backend.to_device(np.asarray([ids], dtype=np.int64), device))
        for _ in range(length):
            z = backend.to_numpy(logits[0, -1]).astype(np.float64) / temperature
            z[list(avoid)] = -np.inf
            p = np.exp(z - z.max())
            nxt = int(rng.choice(p.size, p=p / p.sum()))
            ids.append(nxt)
            logits, state = self(backend.to_device(np.asarray([[nxt]], dtype=np.int64), device), state)
        return ids


class TransformerLanguageModel(Module):
    """A causal (decoder-only) Transformer that predicts the next token at every step, built from
    nnlib layers; the attention counterpart of :class:`RNNLanguageModel`::

        embed:    Embedding(vocab_size, d_model)                ids (N, T) → (N, T, d_model)
        position: SinusoidalPositionalEncoding(d_model, max_len, batch_first=True)    + PE
        encoder:  TransformerEncoder(num_layers pre-norm TransformerEncoderLayer(d_model, nhead,
                  dim_feedforward, dropout, activation, batch_first=True, norm_first=True),
                  norm=LayerNorm(d_model))                      with the causal mask
        fc:       Linear(d_model, vocab_size)                   → logits (N, T, vocab_size)

    The causal mask (``generate_square_subsequent_mask(T)``) lets position t attend to positions
    ≤ t only, so logits[:, t] depends on ids[:, :t + 1] and nothing later: one forward pass gives
    T next-token predictions, each from its own prefix. ``dim_feedforward`` defaults to
    4·``d_model``; ``max_len`` bounds T (the positional-encoding table).

    ``forward(x, state=None)`` returns ``(logits, None)``: the interface of
    :class:`RNNLanguageModel`, so that :func:`perplexity` and one training loop serve both. A
    Transformer keeps no state between windows — each window is read on its own, its context is
    the window — so ``state`` must be ``None``. ``backward(δ)`` or ``backward((δ, None))`` runs fc,
    the encoder (every layer, the final LayerNorm), the positional encoding (the identity) and the
    embedding backward, filling every parameter's ``.grad``; it returns ``(None, None)`` (token ids
    have no gradient, and there is no state).
    """

    def __init__(self, vocab_size, d_model, nhead, num_layers=1, dim_feedforward=None, dropout=0.0,
                 activation="relu", max_len=512, *, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        dim_feedforward = 4 * d_model if dim_feedforward is None else dim_feedforward
        self.embed = Embedding(vocab_size, d_model, **kw)
        self.position = SinusoidalPositionalEncoding(d_model, max_len, batch_first=True)
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                        batch_first=True, norm_first=True, **kw)
        self.encoder = TransformerEncoder(layer, num_layers, norm=LayerNorm(d_model, **kw),
                                          enable_nested_tensor=False)
        self.fc = Linear(d_model, vocab_size, **kw)

    def _check_ids(self, x, state):
        if state is not None:
            raise ValueError(f"TransformerLanguageModel: a Transformer keeps no state between windows, so "
                             f"state must be None, got {type(state).__name__}")
        if not backend.is_array(x) or backend.dtype_name(x) not in ("int32", "int64"):
            kind = backend.dtype_name(x) if backend.is_array(x) else type(x).__name__
            raise DTypeError(f"TransformerLanguageModel: x must be an int64 (or int32) array of token ids, "
                            f"got {kind}")
        max_len = self.position.max_len
        if x.ndim != 2 or not 1 <= x.shape[1] <= max_len:
            raise ShapeError(f"TransformerLanguageModel: x must have shape (N, T) with 1 ≤ T ≤ max_len = "
                             f"{max_len}, got {tuple(x.shape)}")

    def causal_mask(self, length):
        """The (length, length) additive causal mask on the model's device, in its dtype."""
        weight = self.embed.weight
        return generate_square_subsequent_mask(length, device=weight.device, dtype=weight.dtype)

    def forward(self, x, state=None):
        self._check_ids(x, state)
        h = self.position(self.embed(x))
        h = self.encoder(h, mask=self.causal_mask(x.shape[1]), is_causal=True)
        self.save_for_backward()
        return self.fc(h), None

    def backward(self, grad_output):
        grad_logits, grad_state = _split_grad(grad_output)
        if grad_state is not None:
            raise ValueError("TransformerLanguageModel: there is no state, so its gradient must be None")
        self.saved_for_backward((grad_logits, None))
        delta = self.encoder.backward(self.fc.backward(grad_logits))[0]
        self.embed.backward(self.position.backward(delta))
        return None, None

    def attention_maps(self, x):
        """The attention weights of every layer for ids ``x`` (N, T): a list of ``num_layers``
        arrays (N, nhead, T, T), row t of a head being how much position t takes from each
        position ≤ t. With ``dropout`` > 0, call ``eval()`` first: in training mode the weights
        returned are the dropped-out ones. Runs forward only; like ``RNNLanguageModel.generate``
        it overwrites what a training forward saved, so call it between training steps."""
        self._check_ids(x, None)
        mask = self.causal_mask(x.shape[1])
        h = self.position(self.embed(x))
        maps = []
        for layer in self.encoder.layers:
            a = layer.norm1(h)                     # pre-norm: attention reads LN₁(h)
            maps.append(layer.self_attn(a, a, a, attn_mask=mask, need_weights=True,
                                        average_attn_weights=False)[1])
            h = layer(h, src_mask=mask, is_causal=True)
        if self._saved is not None:                # a backward now would mix two forward passes
            self.pop_saved()
        return maps


def perplexity(model, streams, seq_len):
    """exp(mean cross-entropy per predicted token) of a language model over (N, L) streams,
    read in windows of ``seq_len`` with the state carried across windows (forward only).

    A model that guesses uniformly among V tokens has perplexity V; lower is better.
    """
    from .text import bptt_batches

    total, count, state = 0.0, 0, None
    for x, y in bptt_batches(streams, seq_len):
        logits, state = model(x, state)
        xp = backend.namespace(logits)
        log_probs = log_softmax(xp.reshape(logits, (-1, logits.shape[-1])), dim=1)
        picked = xp.take_along_axis(log_probs, xp.reshape(xp.astype(y, xp.int64), (-1, 1)), axis=1)
        total -= float(xp.sum(picked))
        count += int(picked.shape[0])
    model.pop_saved()  # forward only: leave no cache that a stray backward could use
    return float(math.exp(total / count))
