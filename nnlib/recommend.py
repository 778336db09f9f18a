"""Recommendation by collaborative filtering: users and items as learned vectors.

A rating (or an interaction such as a click) is a triple (u, i, r): user u gave item i the value r.
Collaborative filtering predicts the missing entries of the user × item matrix from the observed
ones alone, by giving every user and every item a vector (an embedding) and scoring a pair with
a function of the two vectors.

Models (nnlib modules, called as ``model(users, items)`` with integer id arrays of one shape)
    :class:`MatrixFactorization` — r̂ = μ + b_u + c_i + p_u·q_i (Koren, Bell & Volinsky 2009);
    :class:`NeuralCF` — NeuMF (He et al. 2017): a generalised dot product p_u ⊙ q_i and an MLP on
    the concatenated embeddings [p_u; q_i], fused by a last linear layer into one score.
    :func:`fit_biases` fits the baseline r̂ = μ + b_u + c_i without vectors, in closed form.

Data
    :class:`RatingData` holds the triples (ids 0-based); :func:`synthetic_ratings` generates a
    rating set from known low-rank factors (so what a model learns can be compared with the
    truth, :class:`LowRankTruth`); :func:`load_movielens_100k` downloads MovieLens-100K once
    (verified by :func:`nnlib.download.fetch`) and reads its ``u.data`` from the zip in memory.

Splits and evaluation
    :func:`split_per_user` holds out a random part of every user's ratings (for RMSE);
    :func:`leave_one_out` holds out one interaction per user (for ranking). For ranking, each
    held-out item is scored against items the user never interacted with
    (:func:`sample_negatives`, e.g. 99 per user); :func:`rank_of_positive` gives its rank, and
    :func:`hit_rate_at_k` and :func:`ndcg_at_k` summarise the ranks.
"""

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import backend
from .download import RemoteFile, data_home, fetch
from .errors import DeviceError, DTypeError, ShapeError
from .nn import init
from .nn.container import Sequential
from .nn.activation import ReLU
from .nn.functional import check_bool, check_positive_int
from .nn.linear import Linear
from .nn.module import Module
from .nn.sparse import Embedding


# --- input checks -----------------------------------------------------------------------------------
def _check_ids(ids, count, name, who):
    """``ids``: an integer array (NumPy or torch) with values in [0, count)."""
    if not backend.is_array(ids):
        raise DTypeError(f"{who}: {name} must be an integer array of ids, got {type(ids).__name__} "
                         f"(convert with np.asarray(ids, dtype=np.int64))")
    dtype = backend.dtype_name(ids)
    if not dtype.startswith(("int", "uint")):
        raise DTypeError(f"{who}: {name} must hold integer ids, got dtype {dtype}")
    if 0 in tuple(ids.shape):
        raise ShapeError(f"{who}: {name} is empty (shape {tuple(ids.shape)})")
    xp = backend.namespace(ids)
    lo, hi = int(xp.min(ids)), int(xp.max(ids))
    if lo < 0 or hi >= count:
        raise ValueError(f"{who}: {name} must be ids in [0, {count - 1}], got values in [{lo}, {hi}]")


def _check_pairs(model, users, items):
    who = type(model).__name__
    _check_ids(users, model.num_users, "users", who)
    _check_ids(items, model.num_items, "items", who)
    if tuple(users.shape) != tuple(items.shape):
        raise ShapeError(f"{who}: users and items must have the same shape (one pair per position), "
                         f"got {tuple(users.shape)} and {tuple(items.shape)}")
    device, expected = backend.device_of(users), model.device
    if backend.device_of(items) != device or device != expected:
        raise DeviceError(f"{who}: users and items must be on the model's device {expected!r}, got "
                          f"{device!r} and {backend.device_of(items)!r} (move them with nnlib.to_device)")


def _numpy(values):
    """A NumPy array from a NumPy array, a torch tensor (any device) or a list."""
    return backend.to_numpy(values) if backend.is_array(values) else np.asarray(values)


def _as_index(values, name, who):
    """A 1-D int64 NumPy copy of an id array (NumPy, torch, or a list)."""
    array = _numpy(values)
    if array.ndim != 1:
        raise ShapeError(f"{who}: {name} must be 1-D, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise DTypeError(f"{who}: {name} must hold integer ids, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"{who}: {name} must be non-negative ids, got {array.min()}")
    return array.astype(np.int64)


def _check_fraction(value, name, who):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{who}: {name} must be a number in (0, 1), got {value!r}")
    return float(value)


def _rng(seed):
    """A NumPy generator from an int seed, or the generator itself (to continue its stream)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# --- the models ----------------------------------------------------------------------------------
class MatrixFactorization(Module):
    """Biased matrix factorisation: r̂_ui = μ + b_u + c_i + p_u·q_i.

    Every user u has a vector p_u (a row of ``user_factors.weight``, P of shape (num_users, d))
    and a bias b_u (``user_bias.weight``, (num_users, 1)); every item i has q_i and c_i (Q of
    shape (num_items, d), ``item_bias.weight``). μ is a constant, the mean training rating
    (the buffer ``global_mean``; it is not learned). ``model(users, items)`` takes two integer id
    arrays of one shape S and returns the predictions, shape S.

    Backward: with δ = ∂J/∂r̂_ui for each pair, ∂J/∂p_u = Σ δ q_i and ∂J/∂q_i = Σ δ p_u (summed
    over the pairs that contain u, resp. i), ∂J/∂b_u = Σ δ and ∂J/∂c_i = Σ δ; the embeddings add
    each pair's contribution into its row. Factors start N(0, s²) with s = ``init_std``, biases at 0.
    """

    def __init__(self, num_users, num_items, embedding_dim, global_mean=0.0, *, init_std=0.1, device=None,
                 dtype=None):
        super().__init__()
        who = "MatrixFactorization"
        self.num_users = check_positive_int(num_users, "num_users", who)
        self.num_items = check_positive_int(num_items, "num_items", who)
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", who)
        if isinstance(global_mean, bool) or not isinstance(global_mean, (int, float)) \
                or not math.isfinite(global_mean):
            raise ValueError(f"{who}: global_mean must be a finite number, got {global_mean!r}")
        self.init_std = _check_std(init_std, who)
        kw = dict(device=device, dtype=dtype)
        self.user_factors = Embedding(num_users, embedding_dim, **kw)
        self.item_factors = Embedding(num_items, embedding_dim, **kw)
        self.user_bias = Embedding(num_users, 1, **kw)
        self.item_bias = Embedding(num_items, 1, **kw)
        dtype, device = backend.resolve_dtype(dtype), backend.normalize_device(device)
        self.register_buffer("global_mean", backend.zeros((), dtype, device) + float(global_mean))
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.user_factors.weight, std=self.init_std)
        init.normal_(self.item_factors.weight, std=self.init_std)
        init.zeros_(self.user_bias.weight)
        init.zeros_(self.item_bias.weight)

    def forward(self, users, items):
        _check_pairs(self, users, items)
        p = self.user_factors(users)                                 # S + (d,)
        q = self.item_factors(items)
        self.save_for_backward(p, q)
        xp = backend.namespace(p)
        dot = xp.sum(p * q, axis=-1)                                 # p_u·q_i, shape S
        return self.global_mean + self.user_bias(users)[..., 0] + self.item_bias(items)[..., 0] + dot

    def backward(self, grad_output):
        p, q = self.saved_for_backward(grad_output)
        delta = grad_output[..., None]                               # δ, shape S + (1,)
        self.user_factors.backward(delta * q)                        # ∂J/∂p_u = Σ δ q_i
        self.item_factors.backward(delta * p)                        # ∂J/∂q_i = Σ δ p_u
        self.user_bias.backward(delta)                               # ∂J/∂b_u = Σ δ
        self.item_bias.backward(delta)
        return None                                                  # ids: no gradient

    def extra_repr(self):
        return (f"num_users={self.num_users}, num_items={self.num_items}, "
                f"embedding_dim={self.embedding_dim}, global_mean={float(self.global_mean):.4g}")


class NeuralCF(Module):
    """Neural collaborative filtering, NeuMF (He et al. 2017): one score per (user, item) pair.

    Two branches, each with its own user and item embeddings of size d = ``embedding_dim``:

    - GMF (``gmf=True``): g = p_u ⊙ q_i, a dot product whose d terms get learned weights;
    - MLP (``mlp=True``): h = MLP([p'_u; q'_i]), the concatenation (2d values) through
      ``Linear → ReLU`` layers of ``hidden_sizes`` (e.g. (32, 16)).

    The score is ``predict([g; h])`` (a ``Linear`` to one output; with one branch only, its
    vector alone). It is a logit for implicit feedback (train with ``BCEWithLogitsLoss``) or a
    rating (``MSELoss``). ``model(users, items)`` takes two integer id arrays of one shape S and
    returns scores of shape S. Embeddings start N(0, s²) with s = ``init_std``; the linear layers have
    PyTorch's default initialisation.

    Parameter names: ``gmf_user.weight``, ``gmf_item.weight``, ``mlp_user.weight``,
    ``mlp_item.weight``, ``mlp.0.weight`` … (a ``Sequential``), ``predict.weight``, ``predict.bias``.
    """

    def __init__(self, num_users, num_items, embedding_dim=8, hidden_sizes=(32, 16), *, gmf=True, mlp=True,
                 init_std=0.1, device=None, dtype=None):
        super().__init__()
        who = "NeuralCF"
        self.num_users = check_positive_int(num_users, "num_users", who)
        self.num_items = check_positive_int(num_items, "num_items", who)
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", who)
        self.gmf, self.mlp_branch = check_bool(gmf, "gmf", who), check_bool(mlp, "mlp", who)
        if not (self.gmf or self.mlp_branch):
            raise ValueError("NeuralCF: at least one branch is needed, got gmf=False and mlp=False")
        if not isinstance(hidden_sizes, (tuple, list)) or self.mlp_branch and not hidden_sizes:
            raise ValueError(f"NeuralCF: hidden_sizes must be a non-empty tuple of layer widths for the MLP "
                             f"branch, got {hidden_sizes!r}")
        self.hidden_sizes = tuple(check_positive_int(h, "hidden_sizes entry", who) for h in hidden_sizes)
        self.init_std = _check_std(init_std, who)
        kw = dict(device=device, dtype=dtype)
        width = 0                                                    # size of [g; h]
        if self.gmf:
            self.gmf_user = Embedding(num_users, embedding_dim, **kw)
            self.gmf_item = Embedding(num_items, embedding_dim, **kw)
            width += embedding_dim
        if self.mlp_branch:
            self.mlp_user = Embedding(num_users, embedding_dim, **kw)
            self.mlp_item = Embedding(num_items, embedding_dim, **kw)
            layers, fan_in = [], 2 * embedding_dim
            for h in self.hidden_sizes:
                layers += [Linear(fan_in, h, **kw), ReLU()]
                fan_in = h
            self.mlp = Sequential(*layers)
            width += fan_in
        self.predict = Linear(width, 1, **kw)
        for emb in self._embeddings():
            init.normal_(emb.weight, std=self.init_std)

    def _embeddings(self):
        names = (["gmf_user", "gmf_item"] if self.gmf else []) + (["mlp_user", "mlp_item"] if self.mlp_branch
                                                                  else [])
        return [getattr(self, n) for n in names]

    def forward(self, users, items):
        _check_pairs(self, users, items)
        xp = backend.namespace(users)
        shape = tuple(users.shape)
        users, items = xp.reshape(users, (-1,)), xp.reshape(items, (-1,))  # M pairs
        parts, saved = [], ()
        if self.gmf:
            p, q = self.gmf_user(users), self.gmf_item(items)         # (M, d) each
            parts.append(p * q)                                       # g = p ⊙ q
            saved = (p, q)
        if self.mlp_branch:
            parts.append(self.mlp(xp.concat([self.mlp_user(users), self.mlp_item(items)], axis=1)))
        self.save_for_backward(saved)
        z = parts[0] if len(parts) == 1 else xp.concat(parts, axis=1)  # [g; h]
        return xp.reshape(self.predict(z), shape)

    def backward(self, grad_output):
        (saved,) = self.saved_for_backward(grad_output)
        xp = backend.namespace(grad_output)
        d = self.embedding_dim
        delta_z = self.predict.backward(xp.reshape(grad_output, (-1, 1)))  # ∂J/∂[g; h], (M, width)
        if self.gmf:
            p, q = saved
            delta_g = delta_z[:, :d]
            self.gmf_user.backward(delta_g * q)                       # ∂g/∂p = diag(q)
            self.gmf_item.backward(delta_g * p)
        if self.mlp_branch:
            delta_x = self.mlp.backward(delta_z[:, d:] if self.gmf else delta_z)  # ∂J/∂[p'; q'], (M, 2d)
            self.mlp_user.backward(delta_x[:, :d])
            self.mlp_item.backward(delta_x[:, d:])
        return None                                                   # ids: no gradient

    def extra_repr(self):
        return (f"num_users={self.num_users}, num_items={self.num_items}, "
                f"embedding_dim={self.embedding_dim}, gmf={self.gmf}, mlp={self.mlp_branch}")


def _check_std(value, who):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{who}: init_std must be a positive number, got {value!r}")
    return float(value)


def fit_biases(users, items, ratings, num_users, num_items, *, reg=10.0, sweeps=10):
    """The baseline predictor r̂_ui = μ + b_u + c_i, fitted without any vectors: ``(μ, b, c)``.

    μ is the mean rating; b (num_users,) and c (num_items,) minimise the regularised squared error
    Σ (r_ui − μ − b_u − c_i)² + reg·(Σ b_u² + Σ c_i²). For fixed c the best b_u is a shrunk mean,
    b_u = Σ_i (r_ui − μ − c_i) / (reg + n_u) (n_u = number of ratings of u), and likewise for c
    given b: ``sweeps`` rounds of these two exact steps (coordinate descent on a convex
    quadratic). A user or item without ratings keeps bias 0, i.e. falls back to μ.
    """
    who = "fit_biases"
    users, items = _as_index(users, "users", who), _as_index(items, "items", who)
    ratings = _numpy(ratings).astype(np.float64)
    if not len(users) == len(items) == len(ratings) or len(users) == 0:
        raise ShapeError(f"{who}: users, items and ratings must be non-empty and equally long, got "
                         f"{len(users)}, {len(items)} and {len(ratings)}")
    if users.max() >= num_users or items.max() >= num_items:
        raise ValueError(f"{who}: ids must be below num_users={num_users} and num_items={num_items}, got "
                         f"max user {users.max()} and max item {items.max()}")
    if isinstance(reg, bool) or not isinstance(reg, (int, float)) or reg < 0:
        raise ValueError(f"{who}: reg must be a non-negative number, got {reg!r}")
    sweeps = check_positive_int(sweeps, "sweeps", who)
    mu = float(ratings.mean())
    n_user = np.bincount(users, minlength=num_users)
    n_item = np.bincount(items, minlength=num_items)
    b, c = np.zeros(num_users), np.zeros(num_items)
    with np.errstate(invalid="ignore", divide="ignore"):              # 0/0 for unseen ids with reg=0
        for _ in range(sweeps):
            b = np.nan_to_num(np.bincount(users, ratings - mu - c[items], num_users) / (reg + n_user))
            c = np.nan_to_num(np.bincount(items, ratings - mu - b[users], num_items) / (reg + n_item))
    return mu, b, c


# --- data ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RatingData:
    """Rating triples: ``users``, ``items`` (int64 ids from 0), ``ratings`` (float64), all of
    length N, for ``num_users`` users and ``num_items`` items; ``timestamps`` (int64, or None)."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    num_users: int
    num_items: int
    timestamps: np.ndarray = None

    def __post_init__(self):
        n = len(self.users)
        lengths = [len(self.items), len(self.ratings)]
        lengths += [] if self.timestamps is None else [len(self.timestamps)]
        if any(m != n for m in lengths):
            raise ShapeError(f"RatingData: users, items, ratings (and timestamps) must be equally long, got "
                             f"{[n] + lengths}")
        if n and (self.users.max() >= self.num_users or self.items.max() >= self.num_items):
            raise ValueError(f"RatingData: ids must be below num_users={self.num_users} and "
                             f"num_items={self.num_items}")

    def __len__(self):
        return len(self.users)

    def subset(self, index):
        """The ratings at ``index`` (integer positions or a boolean mask), same users and items."""
        return RatingData(self.users[index], self.items[index], self.ratings[index], self.num_users,
                          self.num_items, None if self.timestamps is None else self.timestamps[index])

    def interaction_matrix(self):
        """A boolean (num_users, num_items) matrix: True where the user rated the item."""
        seen = np.zeros((self.num_users, self.num_items), dtype=bool)
        seen[self.users, self.items] = True
        return seen

    def __repr__(self):
        return (f"RatingData({len(self)} ratings, num_users={self.num_users}, num_items={self.num_items}, "
                f"density={len(self) / (self.num_users * self.num_items):.2%})")


@dataclass(frozen=True, eq=False)
class LowRankTruth:
    """The model behind :func:`synthetic_ratings`: r*_ui = μ + b_u + c_i + u_u·v_i.

    ``user_factors`` U (num_users, rank), ``item_factors`` V (num_items, rank), ``user_bias`` b,
    ``item_bias`` c, ``global_mean`` μ, and ``item_popularity`` (num_items,), the weights with
    which users come across items (they sum to 1).
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_mean: float
    item_popularity: np.ndarray

    def expected_rating(self, users, items):
        """r*_ui for id arrays of one shape: the rating before noise, rounding and clipping."""
        u, v = self.user_factors[users], self.item_factors[items]
        return self.global_mean + self.user_bias[users] + self.item_bias[items] + (u * v).sum(axis=-1)


def synthetic_ratings(num_users=300, num_items=200, rank=5, *, ratings_per_user=40, min_ratings=5,
                      popularity_exponent=1.0, preference_strength=2.0, noise_std=0.5, round_ratings=True,
                      seed=0):
    """A rating set from known low-rank factors: ``(RatingData, LowRankTruth)``, deterministic in ``seed``.

    Truth: U (num_users, rank) and V (num_items, rank) with entries N(0, 1/√rank), so that u·v has
    standard deviation about 1; biases b ~ N(0, 0.3²), c ~ N(0, 0.5²); μ = 3.

    Who rates what: user u rates n_u items (log-normally spread around ``ratings_per_user``, at
    least ``min_ratings``, at most half of the items), drawn without replacement with
    probability proportional to w_i · exp(β a_ui). Here w_i ∝ 1 / rank_i^s is a Zipf popularity
    (s = ``popularity_exponent``, 0 for none; the items' popularity ranks are a random
    permutation) and a_ui = c_i + u_u·v_i is how much u likes i (β = ``preference_strength``):
    people choose what they expect to like, so the observed ratings are not a random sample of
    the matrix (they are higher than its average).

    The rating: r*_ui plus N(0, σ²) noise (σ = ``noise_std``), rounded to whole stars and
    clipped to 1..5 (``round_ratings=True``) or left as a real number.
    """
    who = "synthetic_ratings"
    for name, value in (("num_users", num_users), ("num_items", num_items), ("rank", rank),
                        ("ratings_per_user", ratings_per_user), ("min_ratings", min_ratings)):
        check_positive_int(value, name, who)
    if min_ratings > num_items // 2:
        raise ValueError(f"{who}: min_ratings={min_ratings} exceeds half of num_items={num_items}")
    for name, value in (("popularity_exponent", popularity_exponent),
                        ("preference_strength", preference_strength), ("noise_std", noise_std)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{who}: {name} must be a non-negative number, got {value!r}")
    check_bool(round_ratings, "round_ratings", who)
    rng = np.random.default_rng(seed)
    scale = rank ** -0.25                                       # entries N(0, 1/√k): var(u·v) = 1
    U = rng.normal(0.0, scale, (num_users, rank))
    V = rng.normal(0.0, scale, (num_items, rank))
    b, c = rng.normal(0.0, 0.3, num_users), rng.normal(0.0, 0.5, num_items)
    popularity = 1.0 / (1.0 + rng.permutation(num_items)) ** popularity_exponent
    popularity /= popularity.sum()
    truth = LowRankTruth(U, V, b, c, 3.0, popularity)
    # A user's count: log-normal around ratings_per_user (a few heavy users, many light ones).
    counts = np.rint(ratings_per_user * np.exp(rng.normal(-0.18, 0.6, num_users)))
    counts = np.clip(counts, min_ratings, num_items // 2).astype(np.int64)
    # Sampling without replacement ∝ weights: the top n_u of log w + β a + Gumbel noise (Gumbel-top-k).
    affinity = c[None, :] + (U[:, None, :] * V[None, :, :]).sum(axis=-1)
    keys = np.log(popularity)[None, :] + preference_strength * affinity + rng.gumbel(size=affinity.shape)
    order = np.argsort(-keys, axis=1, kind="stable")
    users = np.repeat(np.arange(num_users), counts)
    items = np.concatenate([order[u, :n] for u, n in enumerate(counts)])
    ratings = truth.expected_rating(users, items) + rng.normal(0.0, noise_std, len(users))
    if round_ratings:
        ratings = np.clip(np.rint(ratings), 1, 5)
    return RatingData(users, items.astype(np.int64), ratings, num_users, num_items), truth


# MovieLens-100K (Harper & Konstan 2015): 100,000 ratings 1..5 of 1,682 movies by 943 users, each
# user with at least 20 ratings. Size and SHA-256 of the zip as published by TensorFlow Datasets
# (github.com/tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt); GroupLens's
# page publishes none. A file that does not match is rejected.
MOVIELENS_100K_FILE = RemoteFile(
    "ml-100k.zip", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229", 4924029,
    ("https://files.grouplens.org/datasets/movielens/ml-100k.zip",))
MOVIELENS_MEMBER = "ml-100k/u.data"
MOVIELENS_OFFLINE_HINT = ("MovieLens is opt-in; without a network use nnlib.recommend.synthetic_ratings(), "
                          "generated in code.")


def parse_movielens_ratings(data, num_users=None, num_items=None):
    """:class:`RatingData` from the bytes (or text) of MovieLens's ``u.data``.

    One rating per line, four tab-separated integers: user id, item id, rating, timestamp
    (seconds since 1970); ids start at 1 and become 0-based here. ``num_users`` / ``num_items``
    default to the largest id. A malformed line raises ``ValueError`` naming its number.
    """
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            row = [int(f) for f in fields]
        except ValueError:
            row = None
        if row is None or len(row) != 4 or row[0] < 1 or row[1] < 1:
            raise ValueError(f"u.data line {number}: expected 4 tab-separated integers 'user item rating "
                             f"timestamp' with ids from 1, got {line!r}")
        rows.append(row)
    if not rows:
        raise ValueError("u.data holds no ratings")
    table = np.asarray(rows, dtype=np.int64)
    users, items = table[:, 0] - 1, table[:, 1] - 1
    num_users = int(users.max()) + 1 if num_users is None else num_users
    num_items = int(items.max()) + 1 if num_items is None else num_items
    return RatingData(users, items, table[:, 2].astype(np.float64), num_users, num_items, table[:, 3])


def read_movielens_100k(path):
    """:class:`RatingData` of ``ml-100k/u.data``, read from the zip at ``path`` in memory."""
    with zipfile.ZipFile(Path(path)) as archive:
        try:
            data = archive.read(MOVIELENS_MEMBER)
        except KeyError:
            raise ValueError(f"{path} has no member {MOVIELENS_MEMBER!r}; is it ml-100k.zip?") from None
    return parse_movielens_ratings(data)


def load_movielens_100k(root=None, *, download=True, file=MOVIELENS_100K_FILE, **fetch_kwargs):
    """MovieLens-100K's 100,000 ratings as :class:`RatingData` (943 users, 1,682 movies).

    The zip (4.9 MB) is downloaded once into ``data_home(root)`` and verified by
    :func:`nnlib.download.fetch` (``fetch_kwargs``: ``retries``, ``timeout``, ``backoff``,
    ``progress_bar``); with ``download=False`` a missing file is an error. ``file``: the
    :class:`nnlib.download.RemoteFile` to fetch (default: the real archive).
    """
    path = data_home(root) / file.name
    if download:
        path = fetch(file, root, offline_hint=MOVIELENS_OFFLINE_HINT, **fetch_kwargs)
    elif not path.is_file():
        raise FileNotFoundError(f"{path} is missing and download=False; call load_movielens_100k() "
                                f"online, or copy {file.name} (SHA-256 {file.sha256}) there. "
                                f"{MOVIELENS_OFFLINE_HINT}")
    return read_movielens_100k(path)


# --- splits ---------------------------------------------------------------------------------------------
def split_per_user(users, test_fraction=0.2, seed=0):
    """``(train_index, test_index)``: a random ``test_fraction`` of every user's ratings held out.

    User u with n_u ratings gets round(test_fraction · n_u) test ratings, but always keeps at
    least one for training (a user with a single rating keeps it), so every test user has been
    seen in training. Both index arrays are sorted.
    """
    who = "split_per_user"
    users = _as_index(users, "users", who)
    test_fraction = _check_fraction(test_fraction, "test_fraction", who)
    order = _rng(seed).permutation(len(users))
    order = order[np.argsort(users[order], kind="stable")]           # grouped by user, random within
    counts = np.bincount(users)
    starts = np.cumsum(counts) - counts
    position = np.arange(len(users)) - np.repeat(starts, counts)      # 0, 1, … within each user
    n_test = np.minimum(np.rint(test_fraction * counts), counts - 1)
    is_test = np.zeros(len(users), dtype=bool)
    is_test[order] = position < np.repeat(n_test, counts)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def leave_one_out(users, timestamps=None, seed=0):
    """``(train_index, test_index)``: one interaction of every user held out (for ranking).

    The held-out one is the user's latest (largest timestamp; ties broken at random) or, without
    timestamps, a random one. Users with a single interaction keep it for training and have no
    test item. ``test_index`` is ordered by user id, one entry per user that has one.
    """
    who = "leave_one_out"
    users = _as_index(users, "users", who)
    keys = _rng(seed).random(len(users))                              # random order among equals
    if timestamps is not None:
        timestamps = _numpy(timestamps)
        if timestamps.shape != users.shape:
            raise ShapeError(f"{who}: timestamps must be shaped like users {users.shape}, "
                             f"got {timestamps.shape}")
        order = np.lexsort((keys, timestamps, users))                 # by user, then time, then random
    else:
        order = np.lexsort((keys, users))
    counts = np.bincount(users)
    last = (np.cumsum(counts) - 1)[counts >= 2]                       # each user's last position
    test = order[last]                                                # in user order
    is_test = np.zeros(len(users), dtype=bool)
    is_test[test] = True
    return np.flatnonzero(~is_test), test


# --- ranking evaluation ------------------------------------------------------------------------------------
def sample_negatives(seen, users, num_negatives, seed=0, *, max_rounds=20):
    """For each entry of ``users``, ``num_negatives`` distinct items the user has not interacted with.

    ``seen`` is a boolean (num_users, num_items) matrix (:meth:`RatingData.interaction_matrix`).
    Returns int64 (len(users), num_negatives); each row is a uniformly random set of unseen items.
    ``seed``: an int or a ``numpy.random.Generator``.

    Rejection sampling: draw items uniformly, redraw those the user has seen or that repeat an
    item of the same row, for up to ``max_rounds`` rounds (a few suffice when the unseen items
    are many). Rows still incomplete then, when the negatives are most of the user's unseen
    items, get the unseen items with the smallest random keys instead. Both treat all unseen
    items alike, so every set of ``num_negatives`` of them is equally likely.
    """
    who = "sample_negatives"
    seen = np.asarray(seen)
    if seen.ndim != 2 or seen.dtype != bool:
        raise DTypeError(f"{who}: seen must be a boolean (num_users, num_items) matrix, got dtype "
                         f"{seen.dtype} and shape {seen.shape}")
    users = _as_index(users, "users", who)
    k = check_positive_int(num_negatives, "num_negatives", who)
    if users.size and users.max() >= seen.shape[0]:
        raise ValueError(f"{who}: user id {users.max()} is outside seen's {seen.shape[0]} rows")
    unseen = seen.shape[1] - seen[users].sum(axis=1)
    if users.size and unseen.min() < k:
        raise ValueError(f"{who}: user {users[np.argmin(unseen)]} has only {unseen.min()} unseen items, "
                         f"fewer than num_negatives={k}")
    rng = _rng(seed)
    num_items = seen.shape[1]
    out = rng.integers(0, num_items, (len(users), k))
    for _ in range(max_rounds):
        bad = _rejected(seen, users, out)
        if not bad.any():
            return out
        out[bad] = rng.integers(0, num_items, int(bad.sum()))
    left = np.flatnonzero(_rejected(seen, users, out).any(axis=1))
    keys = rng.random((len(left), num_items))
    keys[seen[users[left]]] = 2.0                                     # seen items: never among the smallest
    out[left] = np.argpartition(keys, k - 1, axis=1)[:, :k]
    return out


def _rejected(seen, users, items):
    """True where ``items[r, j]`` was seen by user ``users[r]`` or repeats an item of its row."""
    order = np.argsort(items, axis=1, kind="stable")
    ranked = np.take_along_axis(items, order, axis=1)
    repeat_ranked = np.zeros(items.shape, dtype=bool)
    repeat_ranked[:, 1:] = ranked[:, 1:] == ranked[:, :-1]           # every copy after the first
    repeat = np.zeros(items.shape, dtype=bool)
    np.put_along_axis(repeat, order, repeat_ranked, axis=1)
    return seen[users[:, None], items] | repeat


def rank_of_positive(scores):
    """0-based rank of column 0 (the held-out positive item) among each row of ``scores``.

    ``scores`` (T, 1 + n): row t scores user t's positive item first, then n negatives. The rank
    is the number of negatives that score higher **or equal**: ties count against the positive,
    so a model that gives every item the same score gets rank n, not 0.
    """
    s = _numpy(scores)
    if s.ndim != 2 or s.shape[1] < 2 or s.shape[0] == 0:
        raise ShapeError(f"rank_of_positive: scores must have shape (T, 1 + n) with T ≥ 1 and n ≥ 1 "
                         f"(positive first), got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("rank_of_positive: scores must be finite (found NaN or inf)")
    return (s[:, 1:] >= s[:, :1]).sum(axis=1)


def _check_ranks_k(ranks, k, who):
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0 or not np.issubdtype(ranks.dtype, np.integer) or ranks.min() < 0:
        raise ValueError(f"{who}: ranks must be a non-empty 1-D array of non-negative integer ranks "
                         f"(0 = top), got {ranks!r}")
    return ranks, check_positive_int(k, "k", who)


def hit_rate_at_k(ranks, k=10):
    """HR@K: the fraction of users whose held-out item ranks among the top K (rank < K)."""
    ranks, k = _check_ranks_k(ranks, k, "hit_rate_at_k")
    return float(np.mean(ranks < k))


def ndcg_at_k(ranks, k=10):
    """NDCG@K with one relevant item per user, averaged over users.

    DCG@K = Σ_{j=1}^{K} rel_j / log₂(j + 1) over positions j of the list; with one relevant item
    at 0-based rank r, DCG = 1 / log₂(r + 2) if r < K else 0, and the ideal list (the item first)
    has DCG 1, so NDCG@K = DCG@K.
    """
    ranks, k = _check_ranks_k(ranks, k, "ndcg_at_k")
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def rmse(predictions, targets):
    """Root mean squared error √(mean (r̂ − r)²) of two equally shaped arrays."""
    p, t = _numpy(predictions).astype(np.float64), _numpy(targets).astype(np.float64)
    if p.shape != t.shape or p.size == 0:
        raise ShapeError(f"rmse: predictions and targets must be non-empty and equally shaped, got {p.shape} "
                         f"and {t.shape}")
    return float(np.sqrt(np.mean((p - t) ** 2)))
