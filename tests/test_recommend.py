"""nnlib.recommend: the two models against PyTorch twins and central differences, the synthetic
data, the splits, negative sampling, the ranking metrics on hand-computed cases, and the
MovieLens reader on a zip built here."""

import hashlib
import math
import zipfile

import numpy as np
import pytest

import nnlib
from nnlib import download, nn
from nnlib import gradcheck as gc
from nnlib import recommend as rec
from nnlib.errors import DeviceError, DTypeError, ShapeError

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = {"float64": 1e-10, "float32": 1e-5}
QUIET = dict(progress_bar=False, timeout=5, backoff=0)


# --- PyTorch twins: same attribute names, so the state_dicts carry over --------------------------
class TorchMF(tnn.Module):
    def __init__(self, num_users, num_items, dim):
        super().__init__()
        self.user_factors = tnn.Embedding(num_users, dim)
        self.item_factors = tnn.Embedding(num_items, dim)
        self.user_bias = tnn.Embedding(num_users, 1)
        self.item_bias = tnn.Embedding(num_items, 1)
        self.register_buffer("global_mean", torch.tensor(0.0))

    def forward(self, users, items):
        p, q = self.user_factors(users), self.item_factors(items)
        return (self.global_mean + self.user_bias(users)[..., 0] + self.item_bias(items)[..., 0]
                + (p * q).sum(-1))


class TorchNeuralCF(tnn.Module):
    def __init__(self, num_users, num_items, dim, hidden, gmf, mlp):
        super().__init__()
        self.use_gmf, self.use_mlp = gmf, mlp
        width = 0
        if gmf:
            self.gmf_user, self.gmf_item = tnn.Embedding(num_users, dim), tnn.Embedding(num_items, dim)
            width += dim
        if mlp:
            self.mlp_user, self.mlp_item = tnn.Embedding(num_users, dim), tnn.Embedding(num_items, dim)
            layers, fan_in = [], 2 * dim
            for h in hidden:
                layers += [tnn.Linear(fan_in, h), tnn.ReLU()]
                fan_in = h
            self.mlp = tnn.Sequential(*layers)
            width += fan_in
        self.predict = tnn.Linear(width, 1)

    def forward(self, users, items):
        parts = []
        if self.use_gmf:
            parts.append(self.gmf_user(users) * self.gmf_item(items))
        if self.use_mlp:
            parts.append(self.mlp(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=-1)))
        return self.predict(torch.cat(parts, dim=-1))[..., 0]


def twin_of(ours, theirs, device, dtype):
    tdev = "cpu" if device == "numpy" else device
    theirs = theirs.to(device=tdev, dtype=getattr(torch, dtype))
    assert list(theirs.state_dict()) == list(ours.state_dict())
    theirs.load_state_dict({k: torch.as_tensor(nnlib.to_numpy(v)) for k, v in ours.state_dict().items()})
    return theirs, tdev


def assert_close(a, b, dtype, what):
    a = np.asarray(nnlib.to_numpy(a), np.float64)
    b = b.detach().cpu().double().numpy()
    assert a.shape == b.shape, what
    err, scale = np.max(np.abs(a - b)), max(np.max(np.abs(b)), 1.0)
    assert err <= TOL[dtype] * scale, f"{what}: {err:.3g}"


def check_parity(ours, theirs, device, dtype, id_shape, seed):
    theirs, tdev = twin_of(ours, theirs, device, dtype)
    rng = np.random.default_rng(seed)
    users = rng.integers(0, ours.num_users, id_shape)              # more pairs than users: ids repeat
    items = rng.integers(0, ours.num_items, id_shape)
    y = ours(nnlib.to_device(users, device), nnlib.to_device(items, device))
    ty = theirs(torch.as_tensor(users, device=tdev), torch.as_tensor(items, device=tdev))
    assert tuple(y.shape) == id_shape
    assert_close(y, ty, dtype, "output")
    g = rng.standard_normal(id_shape).astype(dtype)
    (ty * torch.as_tensor(g, device=tdev)).sum().backward()
    assert ours.backward(nnlib.to_device(g, device)) is None       # ids: no gradient
    grads = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        assert_close(grads[name].grad, p.grad, dtype, name)


@pytest.mark.parametrize("id_shape", [(9,), (3, 4)])
def test_matrix_factorization_matches_torch(device, float_dtype, id_shape):
    nnlib.manual_seed(1)
    ours = rec.MatrixFactorization(5, 4, 3, global_mean=3.25, init_std=0.7, dtype=float_dtype).to(device)
    ours.user_bias.weight.data = ours.user_bias.weight.data + nnlib.to_device(
        np.arange(5.0, dtype=float_dtype)[:, None] / 10, device)     # non-zero biases
    check_parity(ours, TorchMF(5, 4, 3), device, float_dtype, id_shape, seed=2)


@pytest.mark.parametrize("gmf,mlp,hidden", [(True, True, (6, 4)), (True, False, ()), (False, True, (5,))])
@pytest.mark.parametrize("id_shape", [(11,), (2, 5)])
def test_neural_cf_matches_torch(device, float_dtype, gmf, mlp, hidden, id_shape):
    nnlib.manual_seed(3)
    ours = rec.NeuralCF(6, 5, 3, hidden, gmf=gmf, mlp=mlp, init_std=0.8, dtype=float_dtype).to(device)
    check_parity(ours, TorchNeuralCF(6, 5, 3, hidden, gmf, mlp), device, float_dtype, id_shape, seed=4)


def test_models_pass_gradcheck(device):
    rng = np.random.default_rng(5)
    users, items = rng.integers(0, 4, 10), rng.integers(0, 3, 10)
    on = lambda a: nnlib.to_device(a, device)  # noqa: E731
    target = on(rng.uniform(1, 5, 10))
    nnlib.manual_seed(5)
    mf = rec.MatrixFactorization(4, 3, 2, 3.0, init_std=0.5, dtype="float64").to(device)
    table = gc.gradcheck(mf, (on(users), on(items)), loss=(nn.MSELoss(), target))
    assert {row[0] for row in table.rows} == {"user_factors.weight", "item_factors.weight",
                                              "user_bias.weight", "item_bias.weight"}
    ncf = rec.NeuralCF(4, 3, 2, (3,), init_std=0.5, dtype="float64").to(device)
    labels = on((rng.random(10) < 0.5).astype(np.float64))
    table = gc.gradcheck(ncf, (on(users), on(items)), loss=(nn.BCEWithLogitsLoss(), labels))
    assert len(table.rows) == 8                                    # 4 embeddings, 2 Linear × (W, b)
    gc.gradcheck(ncf, (on(users), on(items)))                      # J = Σ R ⊙ scores


def test_mf_prediction_is_the_formula():
    mf = rec.MatrixFactorization(3, 2, 2, global_mean=3.5, dtype="float64")
    mf.user_factors.weight.data = np.array([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5]])
    mf.item_factors.weight.data = np.array([[0.5, -1.0], [2.0, 0.0]])
    mf.user_bias.weight.data = np.array([[0.1], [0.2], [0.3]])
    mf.item_bias.weight.data = np.array([[-0.5], [0.25]])
    got = mf(np.array([0, 2, 1]), np.array([1, 0, 0]))
    expected = [3.5 + 0.1 + 0.25 + 2.0, 3.5 + 0.3 - 0.5 + (-0.5 - 0.5), 3.5 + 0.2 - 0.5 - 1.0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    assert float(mf.global_mean) == 3.5 and "global_mean" in mf.state_dict()


def test_mf_starts_small_with_zero_biases():
    nnlib.manual_seed(0)
    mf = rec.MatrixFactorization(400, 300, 8, init_std=0.1)
    assert abs(float(np.std(mf.user_factors.weight.data)) - 0.1) < 0.005
    assert not np.any(mf.user_bias.weight.data) and not np.any(mf.item_bias.weight.data)


def test_model_input_errors():
    mf = rec.MatrixFactorization(3, 2, 2)
    with pytest.raises(DTypeError, match="users must hold integer ids"):
        mf(np.array([0.0, 1.0]), np.array([0, 1]))
    with pytest.raises(DTypeError, match="integer array"):
        mf([0, 1], np.array([0, 1]))
    with pytest.raises(ValueError, match=r"items must be ids in \[0, 1\], got values in \[0, 2\]"):
        mf(np.array([0, 1]), np.array([0, 2]))
    with pytest.raises(ShapeError, match=r"same shape.*\(2,\) and \(3,\)"):
        mf(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ShapeError, match="empty"):
        mf(np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(DeviceError, match="model's device 'numpy'"):
        mf(torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="embedding_dim must be a positive integer"):
        rec.MatrixFactorization(3, 2, 0)
    with pytest.raises(ValueError, match="global_mean must be a finite number"):
        rec.MatrixFactorization(3, 2, 2, float("nan"))
    with pytest.raises(ValueError, match="init_std must be a positive number"):
        rec.MatrixFactorization(3, 2, 2, init_std=0)
    with pytest.raises(ValueError, match="at least one branch"):
        rec.NeuralCF(3, 2, gmf=False, mlp=False)
    with pytest.raises(ValueError, match="hidden_sizes must be a non-empty tuple"):
        rec.NeuralCF(3, 2, hidden_sizes=())
    with pytest.raises(ValueError, match="hidden_sizes entry must be a positive integer"):
        rec.NeuralCF(3, 2, hidden_sizes=(4, 0))
    ncf = rec.NeuralCF(3, 2, 2, (2,))
    with pytest.raises(ValueError, match=r"users must be ids in \[0, 2\]"):
        ncf(np.array([3]), np.array([0]))


# --- the bias baseline ----------------------------------------------------------------------------
def test_fit_biases_solves_the_regularised_least_squares_problem():
    rng = np.random.default_rng(6)
    users, items = rng.integers(0, 6, 40), rng.integers(0, 5, 40)
    ratings = rng.uniform(1, 5, 40)
    reg = 2.0
    mu, b, c = rec.fit_biases(users, items, ratings, 7, 5, reg=reg, sweeps=300)  # user 6 has no rating
    X = np.zeros((40, 12))
    X[np.arange(40), users] = 1
    X[np.arange(40), 7 + items] = 1
    theta = np.linalg.solve(X.T @ X + reg * np.eye(12), X.T @ (ratings - ratings.mean()))
    assert mu == pytest.approx(ratings.mean())
    np.testing.assert_allclose(np.r_[b, c], theta, atol=1e-9)
    assert b[6] == 0.0                                             # unseen user: falls back to μ


def test_fit_biases_errors():
    with pytest.raises(ShapeError, match="equally long"):
        rec.fit_biases([0, 1], [0], [3.0, 4.0], 2, 2)
    with pytest.raises(ValueError, match="ids must be below"):
        rec.fit_biases([0, 2], [0, 1], [3.0, 4.0], 2, 2)
    with pytest.raises(ValueError, match="reg must be a non-negative number"):
        rec.fit_biases([0, 1], [0, 1], [3.0, 4.0], 2, 2, reg=-1)


# --- synthetic data ----------------------------------------------------------------------------------
def test_synthetic_ratings_are_deterministic_and_well_formed():
    data, truth = rec.synthetic_ratings(seed=3)
    again, _ = rec.synthetic_ratings(seed=3)
    other, _ = rec.synthetic_ratings(seed=4)
    for name in ("users", "items", "ratings"):
        np.testing.assert_array_equal(getattr(data, name), getattr(again, name))
    assert not np.array_equal(data.ratings[:100], other.ratings[:100])
    assert (data.num_users, data.num_items) == (300, 200)
    assert set(np.unique(data.ratings)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    pairs = data.users * data.num_items + data.items
    assert len(np.unique(pairs)) == len(data)                      # nobody rates an item twice
    counts = np.bincount(data.users, minlength=300)
    assert counts.min() >= 5 and counts.max() <= 100 and 30 < counts.mean() < 50
    assert truth.user_factors.shape == (300, 5) and truth.item_factors.shape == (200, 5)
    assert truth.item_popularity.sum() == pytest.approx(1.0)
    assert truth.expected_rating(np.array([[0, 1]]), np.array([[2, 3]])).shape == (1, 2)


def test_synthetic_ratings_follow_the_truth():
    data, truth = rec.synthetic_ratings(noise_std=0.1, round_ratings=False, seed=1)
    residual = data.ratings - truth.expected_rating(data.users, data.items)
    assert abs(residual.std() - 0.1) < 0.005
    # Popular items are rated more often; without a Zipf skew (and preference) choices are uniform.
    counts = np.bincount(data.items, minlength=data.num_items)
    assert np.corrcoef(counts, np.log(truth.item_popularity))[0, 1] > 0.7
    flat, flat_truth = rec.synthetic_ratings(popularity_exponent=0, preference_strength=0, seed=1)
    assert np.ptp(flat_truth.item_popularity) == 0
    flat_counts = np.bincount(flat.items, minlength=flat.num_items)
    assert flat_counts.std() < 2 * math.sqrt(flat_counts.mean())  # about Poisson-spread
    # With a strong preference, users rate what they like: the observed mean exceeds the matrix's.
    assert data.ratings.mean() > truth.global_mean + 0.5


def test_synthetic_ratings_errors():
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        rec.synthetic_ratings(rank=0)
    with pytest.raises(ValueError, match="noise_std must be a non-negative number"):
        rec.synthetic_ratings(noise_std=-0.1)
    with pytest.raises(ValueError, match="exceeds half of num_items"):
        rec.synthetic_ratings(num_items=8, min_ratings=5)


def test_rating_data_subset_and_matrix():
    data = rec.RatingData(np.array([0, 0, 2]), np.array([1, 3, 0]), np.array([4.0, 2.0, 5.0]), 3, 4)
    part = data.subset(np.array([2, 0]))
    np.testing.assert_array_equal(part.users, [2, 0])
    assert (part.num_users, part.num_items, len(part)) == (3, 4, 2)
    seen = data.interaction_matrix()
    assert seen.shape == (3, 4) and seen.sum() == 3 and seen[0, 3] and not seen[1].any()
    with pytest.raises(ShapeError, match="equally long"):
        rec.RatingData(np.array([0]), np.array([0, 1]), np.array([1.0]), 1, 2)
    with pytest.raises(ValueError, match="ids must be below"):
        rec.RatingData(np.array([0]), np.array([4]), np.array([1.0]), 1, 4)


# --- splits ---------------------------------------------------------------------------------------------
def test_split_per_user():
    users = np.repeat([0, 1, 2, 3], [10, 5, 1, 2])
    train, test = rec.split_per_user(users, 0.2, seed=0)
    assert np.array_equal(np.sort(np.r_[train, test]), np.arange(len(users)))
    np.testing.assert_array_equal(np.bincount(users[test], minlength=4), [2, 1, 0, 0])  # round(0.4) = 0
    assert set(users[train]) == {0, 1, 2, 3}                      # everyone keeps training ratings
    again = rec.split_per_user(users, 0.2, seed=0)
    assert np.array_equal(again[1], test)
    _, half = rec.split_per_user(users, 0.5, seed=0)
    np.testing.assert_array_equal(np.bincount(users[half], minlength=4), [5, 2, 0, 1])
    assert not np.array_equal(rec.split_per_user(users, 0.5, seed=1)[1], half)
    _, most = rec.split_per_user(users, 0.9, seed=0)               # capped: one rating stays
    np.testing.assert_array_equal(np.bincount(users[most], minlength=4), [9, 4, 0, 1])
    with pytest.raises(ValueError, match=r"test_fraction must be a number in \(0, 1\)"):
        rec.split_per_user(users, 1.0)


def test_leave_one_out_takes_the_latest_or_a_random_one():
    users = np.array([1, 0, 1, 0, 2, 1])
    stamps = np.array([30, 5, 10, 7, 1, 20])
    train, test = rec.leave_one_out(users, stamps)
    np.testing.assert_array_equal(test, [3, 0])                    # user 0: time 7; user 1: time 30
    np.testing.assert_array_equal(train, [1, 2, 4, 5])             # user 2 has one rating: stays
    _, random_test = rec.leave_one_out(users, seed=0)
    assert sorted(users[random_test]) == [0, 1]
    chosen = {int(rec.leave_one_out(np.zeros(5, np.int64), seed=s)[1][0]) for s in range(30)}
    assert len(chosen) == 5                                        # without timestamps: any one
    with pytest.raises(ShapeError, match="timestamps must be shaped like users"):
        rec.leave_one_out(users, stamps[:3])


# --- ranking evaluation --------------------------------------------------------------------------------
def test_sample_negatives_are_unseen_distinct_and_uniform():
    seen = np.zeros((3, 10), dtype=bool)
    seen[0, [0, 1, 2]] = True
    seen[1, :4] = True
    users = np.array([0, 1, 0, 2])
    for max_rounds in (20, 0):                                    # rejection; random keys only
        neg = rec.sample_negatives(seen, users, 5, seed=0, max_rounds=max_rounds)
        assert neg.shape == (4, 5) and neg.dtype == np.int64
        assert not seen[users[:, None], neg].any()
        assert all(len(set(row)) == 5 for row in neg)
        np.testing.assert_array_equal(rec.sample_negatives(seen, users, 5, seed=0, max_rounds=max_rounds),
                                      neg)
    many = rec.sample_negatives(seen, np.zeros(7000, np.int64), 1, seed=1)[:, 0]
    freq = np.bincount(many, minlength=10)[3:] / 7000             # 7 unseen items, 1/7 each
    assert np.all(np.abs(freq - 1 / 7) < 0.02)


@pytest.mark.parametrize("max_rounds", [20, 1, 0])
def test_sample_negatives_draws_every_subset_equally_often(max_rounds):
    seen = np.zeros((1, 7), dtype=bool)
    seen[0, [1, 4]] = True                                         # 5 unseen items, sets of 4
    neg = rec.sample_negatives(seen, np.zeros(5000, np.int64), 4, seed=2, max_rounds=max_rounds)
    assert all(len(set(row)) == 4 for row in neg) and not seen[0, neg].any()
    left_out = [({0, 2, 3, 5, 6} - set(row.tolist())).pop() for row in neg]
    freq = np.bincount(left_out, minlength=7)[[0, 2, 3, 5, 6]] / 5000  # each of the 5 sets: 1/5
    assert np.all(np.abs(freq - 0.2) < 0.025)


def test_sample_negatives_errors():
    seen = np.zeros((2, 5), dtype=bool)
    seen[1, :3] = True
    with pytest.raises(ValueError, match="user 1 has only 2 unseen items, fewer than num_negatives=3"):
        rec.sample_negatives(seen, np.array([0, 1]), 3)
    with pytest.raises(DTypeError, match="boolean"):
        rec.sample_negatives(seen.astype(int), np.array([0]), 1)
    with pytest.raises(ValueError, match="outside seen's 2 rows"):
        rec.sample_negatives(seen, np.array([2]), 1)


def test_rank_of_positive_counts_ties_against_the_positive():
    scores = np.array([[0.9, 0.1, 0.5, 0.3],     # best: rank 0
                       [0.2, 0.5, 0.1, 0.7],     # two negatives above: rank 2
                       [0.4, 0.4, 0.1, 0.0],     # a tie counts against it: rank 1
                       [1.0, 1.0, 1.0, 1.0]])    # a constant score: rank 3 (last)
    np.testing.assert_array_equal(rec.rank_of_positive(scores), [0, 2, 1, 3])
    np.testing.assert_array_equal(rec.rank_of_positive(torch.as_tensor(scores)), [0, 2, 1, 3])
    with pytest.raises(ShapeError, match=r"\(T, 1 \+ n\)"):
        rec.rank_of_positive(np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        rec.rank_of_positive(np.array([[np.nan, 1.0]]))


def test_hit_rate_and_ndcg_on_hand_computed_ranks():
    ranks = np.array([0, 1, 5, 12])
    assert rec.hit_rate_at_k(ranks, 10) == 0.75
    assert rec.hit_rate_at_k(ranks, 1) == 0.25
    assert rec.hit_rate_at_k(ranks, 13) == 1.0
    # 1/log2(1 + 1), 1/log2(2 + 1), 1/log2(6 + 1), and 0 beyond the list
    assert rec.ndcg_at_k(ranks, 10) == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(7)) / 4, abs=1e-15)
    assert rec.ndcg_at_k(np.array([0]), 1) == 1.0
    assert rec.ndcg_at_k(np.array([1]), 1) == 0.0
    # a random ranking among 100 candidates: HR@10 = 0.1 and NDCG@10 = Σ_{r<10} 1/log2(r+2) / 100
    uniform = np.arange(100)
    assert rec.hit_rate_at_k(uniform, 10) == pytest.approx(0.1)
    expected = sum(1 / math.log2(r + 2) for r in range(10)) / 100
    assert rec.ndcg_at_k(uniform, 10) == pytest.approx(expected, abs=1e-15)
    for bad in (np.array([0.5]), np.array([-1]), np.zeros((2, 2), int), np.array([], int)):
        with pytest.raises(ValueError, match="non-negative integer ranks"):
            rec.ndcg_at_k(bad, 10)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        rec.hit_rate_at_k(ranks, 0)


def test_rmse():
    assert rec.rmse(np.array([1.0, 2.0, 4.0]), np.array([1.0, 4.0, 5.0])) == pytest.approx(math.sqrt(5 / 3))
    assert rec.rmse(torch.tensor([2.0]), np.array([2.0])) == 0.0
    with pytest.raises(ShapeError, match="equally shaped"):
        rec.rmse(np.ones(3), np.ones(2))


# --- MovieLens ----------------------------------------------------------------------------------------
U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t51\t2\t880606923\n"


def write_zip(path, member=rec.MOVIELENS_MEMBER, text=U_DATA):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, text)
        archive.writestr("ml-100k/README", "not ratings")
    return path


def test_parse_movielens_ratings():
    data = rec.parse_movielens_ratings(U_DATA.encode())
    np.testing.assert_array_equal(data.users, [195, 185, 21, 195])  # 1-based ids become 0-based
    np.testing.assert_array_equal(data.items, [241, 301, 376, 50])
    np.testing.assert_array_equal(data.ratings, [3.0, 3.0, 1.0, 2.0])
    np.testing.assert_array_equal(data.timestamps, [881250949, 891717742, 878887116, 880606923])
    assert (data.num_users, data.num_items) == (196, 377)
    assert data.ratings.dtype == np.float64 and data.users.dtype == np.int64
    with pytest.raises(ValueError, match="line 2: expected 4 tab-separated integers"):
        rec.parse_movielens_ratings("1\t2\t3\t4\n1 2 3 4\n")
    with pytest.raises(ValueError, match="line 1.*ids from 1"):
        rec.parse_movielens_ratings("0\t2\t3\t4\n")
    with pytest.raises(ValueError, match="no ratings"):
        rec.parse_movielens_ratings(b"\n")


def test_read_movielens_zip_in_memory(tmp_path):
    data = rec.read_movielens_100k(write_zip(tmp_path / "ml-100k.zip"))
    assert len(data) == 4 and data.users[2] == 21
    assert [p.name for p in tmp_path.iterdir()] == ["ml-100k.zip"]  # nothing extracted
    with pytest.raises(ValueError, match="no member 'ml-100k/u.data'"):
        rec.read_movielens_100k(write_zip(tmp_path / "other.zip", member="ratings.csv"))


def test_load_movielens_downloads_through_fetch(tmp_path):
    from local_server import Server
    body = write_zip(tmp_path / "served.zip").read_bytes()
    server = Server()
    try:
        server.files["/ml-100k.zip"] = body
        remote = download.RemoteFile("ml-100k.zip", hashlib.sha256(body).hexdigest(), len(body),
                                     (server.url + "/ml-100k.zip",))
        cache = tmp_path / "cache"
        data = rec.load_movielens_100k(cache, file=remote, **QUIET)
        assert len(data) == 4 and (cache / "ml-100k.zip").is_file()
        assert len(rec.load_movielens_100k(cache, file=remote, download=False)) == 4
        wrong = download.RemoteFile("ml-100k.zip", "0" * 64, len(body), remote.urls)
        with pytest.raises(download.ChecksumError):
            rec.load_movielens_100k(tmp_path / "bad", file=wrong, retries=0, **QUIET)
    finally:
        server.close()
    with pytest.raises(FileNotFoundError, match="download=False.*synthetic_ratings"):
        rec.load_movielens_100k(tmp_path / "empty", download=False)


def test_real_movielens_constants_are_pinned():
    remote = rec.MOVIELENS_100K_FILE
    assert remote.name == "ml-100k.zip" and remote.size == 4924029
    assert remote.sha256 == "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
    assert remote.urls == ("https://files.grouplens.org/datasets/movielens/ml-100k.zip",)
