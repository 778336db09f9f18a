"""nnlib.metrics against scikit-learn on random cases (with and without tied scores), on cases
worked by hand, on torch tensors of every device, and its errors for bad input.

The metrics are counts and step functions of the scores (no gradient), so there is no gradcheck;
"parity" here is with ``sklearn.metrics`` / ``sklearn.calibration`` and, for the Wilson interval,
with ``scipy.stats.binomtest``.
"""

import inspect
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnlib import metrics
from nnlib.backend import to_device
from nnlib.errors import DTypeError, ShapeError
from nnlib_cases import SETTINGS

sk_metrics = pytest.importorskip("sklearn.metrics")
sk_calibration = pytest.importorskip("sklearn.calibration")


@st.composite
def labelled_scores(draw, both_classes=True):
    """(y_true, y_score): 2 to 60 cases; scores from a few levels (many ties) or continuous."""
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(2, 60))
    tied = draw(st.booleans())
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    if both_classes:
        y[:2] = [0, 1]
        rng.shuffle(y)
    levels = draw(st.integers(1, 6))
    score = rng.integers(0, levels + 1, n) / levels if tied else rng.random(n)
    return y, score


def _same_arrays(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape, (a, b)
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)


# --- the same as scikit-learn --------------------------------------------------------------------------
@pytest.mark.parametrize("ours, theirs", [
    (metrics.confusion_matrix, sk_metrics.confusion_matrix),
    (metrics.roc_curve, sk_metrics.roc_curve),
    (metrics.roc_auc_score, sk_metrics.roc_auc_score),
    (metrics.precision_recall_curve, sk_metrics.precision_recall_curve),
    (metrics.calibration_curve, sk_calibration.calibration_curve),
    (metrics.brier_score_loss, sk_metrics.brier_score_loss),
])
def test_parameters_are_scikit_learns_in_its_order_with_its_defaults(ours, theirs):
    mine = list(inspect.signature(ours).parameters.values())
    reference = inspect.signature(theirs).parameters
    positional = [p for p in mine if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert len(positional) == 2                     # (y_true, y_score/y_pred/y_prob/y_proba)
    names = [p.name for p in positional]
    if ours is metrics.brier_score_loss:               # scikit-learn renamed y_prob to y_proba in 1.5
        assert names[0] == "y_true" and list(reference)[1] in ("y_prob", "y_proba")
    else:
        assert names == list(reference)[:2]
    keywords = [p for p in mine if p.kind is p.KEYWORD_ONLY]
    assert all(p.name in reference and reference[p.name].kind is p.KEYWORD_ONLY
               and reference[p.name].default == p.default for p in keywords), keywords
    order = [name for name in reference if name in {p.name for p in keywords}]
    assert order == [p.name for p in keywords]


@SETTINGS
@given(case=labelled_scores(), drop=st.booleans())
def test_roc_curve_equals_scikit_learns(case, drop):
    y, score = case
    _same_arrays(metrics.roc_curve(y, score, drop_intermediate=drop),
                 sk_metrics.roc_curve(y, score, drop_intermediate=drop))


@SETTINGS
@given(case=labelled_scores())
def test_roc_auc_equals_scikit_learns_and_the_mann_whitney_count(case):
    y, score = case
    auc = metrics.roc_auc_score(y, score)
    assert math.isclose(auc, sk_metrics.roc_auc_score(y, score), rel_tol=1e-12)
    difference = score[y == 1][:, None] - score[y == 0][None, :]
    assert math.isclose(auc, np.mean((difference > 0) + 0.5 * (difference == 0)), rel_tol=1e-12)


@SETTINGS
@given(case=labelled_scores(both_classes=False))
def test_precision_recall_curve_equals_scikit_learns(case):
    y, score = case
    y[0] = 1                                         # needs one positive; negatives may be absent
    _same_arrays(metrics.precision_recall_curve(y, score), sk_metrics.precision_recall_curve(y, score))


@SETTINGS
@given(case=labelled_scores(both_classes=False), n_bins=st.integers(1, 12),
       strategy=st.sampled_from(["uniform", "quantile"]))
def test_calibration_curve_and_brier_score_equal_scikit_learns(case, n_bins, strategy):
    y, prob = case                                   # the tied levels k/levels fall on bin edges
    ours = metrics.calibration_curve(y, prob, n_bins=n_bins, strategy=strategy)
    theirs = sk_calibration.calibration_curve(y, prob, n_bins=n_bins, strategy=strategy)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    assert math.isclose(metrics.brier_score_loss(y, prob), sk_metrics.brier_score_loss(y, prob),
                        rel_tol=1e-14)


@SETTINGS
@given(case=labelled_scores(both_classes=False), threshold=st.sampled_from([0.0, 0.3, 0.5, 1.0, np.inf]))
def test_confusion_counts_equal_scikit_learns(case, threshold):
    y, score = case
    called = (score >= threshold).astype(int)
    theirs = sk_metrics.confusion_matrix(y, called, labels=[0, 1])
    np.testing.assert_array_equal(metrics.confusion_matrix(y, called), theirs)
    counts = metrics.binary_confusion(y, score, threshold)
    np.testing.assert_array_equal(counts.matrix(), theirs)
    if y.sum():
        assert counts.sensitivity == sk_metrics.recall_score(y, called)


@SETTINGS
@given(case=labelled_scores())
def test_each_roc_point_is_the_confusion_at_its_threshold(case):
    y, score = case
    for fpr, tpr, threshold in zip(*metrics.roc_curve(y, score, drop_intermediate=False)):
        counts = metrics.binary_confusion(y, score, threshold)
        assert (1 - counts.specificity, counts.sensitivity) == pytest.approx((fpr, tpr), abs=1e-15)


@pytest.mark.parametrize("successes, trials", [(0, 1), (0, 20), (1, 29), (15, 148), (81, 263), (41, 43),
                                               (43, 43), (500, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_equals_scipys(successes, trials, confidence):
    stats = pytest.importorskip("scipy.stats")
    theirs = stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    low, high = metrics.wilson_interval(successes, trials, confidence)
    assert low == pytest.approx(theirs.low, abs=1e-12) and high == pytest.approx(theirs.high, abs=1e-12)
    assert 0.0 <= low <= successes / trials <= high <= 1.0


# --- worked by hand --------------------------------------------------------------------------------------
# positives score 0.9, 0.8, 0.1; negatives 0.8, 0.3. Of the 3 × 2 pairs the positive is higher in
# 0.9>0.8, 0.9>0.3, 0.8>0.3 and tied in 0.8=0.8: AUC = (3 + 1/2) / 6 = 7/12.
HAND_Y = [1, 0, 1, 0, 1]
HAND_SCORE = [0.9, 0.8, 0.8, 0.3, 0.1]


def test_a_hand_worked_roc_curve_and_auc():
    fpr, tpr, thresholds = metrics.roc_curve(HAND_Y, HAND_SCORE)
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.8, 0.3, 0.1])
    np.testing.assert_allclose(fpr, [0, 0, 1 / 2, 1, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1])     # 0.8 tie: one step up and right
    assert metrics.roc_auc_score(HAND_Y, HAND_SCORE) == pytest.approx(7 / 12, abs=1e-15)


def test_collinear_points_are_dropped_without_changing_the_area():
    y, score = [1, 1, 1, 0, 0, 0], [6, 5, 4, 3, 2, 1]         # up, up, up, right, right, right
    fpr, tpr, thresholds = metrics.roc_curve(y, score)
    np.testing.assert_array_equal(thresholds, [np.inf, 6, 4, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 1, 1])
    assert len(metrics.roc_curve(y, score, drop_intermediate=False)[0]) == 7
    assert metrics.roc_auc_score(y, score) == 1.0


def test_auc_of_perfect_reversed_and_uninformative_scores_and_of_a_monotone_transform():
    y = np.array([0, 0, 1, 1, 0, 1])
    logits = np.array([-2.0, -1.0, 1.5, 3.0, 0.5, 0.2])
    assert metrics.roc_auc_score(y, y * 2.0) == 1.0
    assert metrics.roc_auc_score(y, -y * 2.0) == 0.0
    assert metrics.roc_auc_score(y, np.full(6, 0.7)) == 0.5
    # only the ranking counts: logits and probabilities give one AUC
    auc = metrics.roc_auc_score(y, logits)
    assert auc == metrics.roc_auc_score(y, 1 / (1 + np.exp(-logits)))
    assert auc == pytest.approx(8 / 9, abs=1e-15)


def test_a_hand_worked_confusion_and_its_rates():
    counts = metrics.binary_confusion(HAND_Y, HAND_SCORE, threshold=0.8)    # called: 0.9, 0.8, 0.8
    assert (counts.tp, counts.fp, counts.tn, counts.fn) == (2, 1, 1, 1)
    assert (counts.sensitivity, counts.specificity) == (2 / 3, 1 / 2)
    assert (counts.precision, counts.negative_predictive_value, counts.accuracy) == (2 / 3, 1 / 2, 3 / 5)
    np.testing.assert_array_equal(counts.matrix(), [[1, 1], [1, 2]])


def test_calling_every_case_negative_has_no_precision_rather_than_zero():
    counts = metrics.binary_confusion(HAND_Y, HAND_SCORE, threshold=np.inf)
    assert (counts.tp, counts.fp, counts.tn, counts.fn) == (0, 0, 2, 3)
    assert counts.sensitivity == 0.0 and counts.specificity == 1.0 and counts.accuracy == 2 / 5
    assert math.isnan(counts.precision)


def test_a_hand_worked_precision_recall_curve():
    precision, recall, thresholds = metrics.precision_recall_curve(HAND_Y, HAND_SCORE)
    np.testing.assert_array_equal(thresholds, [0.1, 0.3, 0.8, 0.9])
    np.testing.assert_allclose(precision, [3 / 5, 2 / 4, 2 / 3, 1, 1])
    np.testing.assert_allclose(recall, [1, 2 / 3, 2 / 3, 1 / 3, 0])


def test_a_hand_worked_calibration_curve_puts_an_edge_into_the_lower_bin():
    y = [0, 1, 1, 0, 1, 1]
    prob = [0.1, 0.2, 0.5, 0.7, 0.9, 0.65]           # 0.5 is the edge of two bins: it goes below
    prob_true, prob_pred = metrics.calibration_curve(y, prob, n_bins=2)
    np.testing.assert_allclose(prob_true, [2 / 3, 2 / 3])
    np.testing.assert_allclose(prob_pred, [0.8 / 3, 2.25 / 3])
    prob_true, prob_pred = metrics.calibration_curve(y, prob, n_bins=10)    # 5 of the 10 bins are empty
    assert prob_true.shape == prob_pred.shape == (5,)
    assert list(prob_true) == [0.0, 1.0, 1.0, 0.5, 1.0]


def test_a_hand_worked_brier_score_and_the_prevalence_baseline():
    y = [0, 1, 1, 0, 1]
    assert metrics.brier_score_loss(y, [0.1, 0.2, 0.65, 0.7, 0.9]) == pytest.approx(1.2725 / 5, abs=1e-15)
    assert metrics.brier_score_loss(y, [0.6] * 5) == pytest.approx(0.6 * 0.4, abs=1e-15)


def test_wilson_interval_matches_newcombes_table():
    # Newcombe (1998), Statistics in Medicine 17: 857–872, Table I, method 3 (score, no correction)
    for (k, n), (low, high) in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605),
                                (0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}.items():
        got = metrics.wilson_interval(k, n)
        assert got == pytest.approx((low, high), abs=5e-5)
    assert metrics.wilson_interval(0, 20)[0] == 0.0 and metrics.wilson_interval(20, 20)[1] == 1.0


# --- inputs -----------------------------------------------------------------------------------------------
def test_bool_lists_and_torch_tensors_on_every_device_give_numpys_results(torch_device):
    y, score = np.array(HAND_Y), np.array(HAND_SCORE)
    as_bool, as_list = y.astype(bool), list(score)
    y_t = to_device(y, torch_device)
    s_32 = np.asarray(HAND_SCORE, dtype=np.float32)
    s_t = to_device(s_32, torch_device)
    for ours, reference in [
        (metrics.roc_curve(y_t, s_t), metrics.roc_curve(y, s_32)),
        (metrics.precision_recall_curve(y_t, s_t), metrics.precision_recall_curve(y, s_32)),
        (metrics.calibration_curve(y_t, s_t), metrics.calibration_curve(y, s_32)),
        (metrics.roc_curve(as_bool, as_list), metrics.roc_curve(y, score)),
    ]:
        _same_arrays(ours, reference)
    assert metrics.roc_auc_score(y_t, s_t) == metrics.roc_auc_score(as_bool, score) == pytest.approx(7 / 12)
    assert metrics.brier_score_loss(y_t, s_t) == metrics.brier_score_loss(y, s_32)
    assert metrics.binary_confusion(y_t, s_t, 0.8) == metrics.binary_confusion(y, score, 0.8)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_t, y_t), [[2, 0], [0, 3]])


def test_float32_scores_keep_their_exact_values_as_thresholds():
    score = np.array([0.1, 0.7, 0.3], dtype=np.float32)
    thresholds = metrics.roc_curve([0, 1, 0], score, drop_intermediate=False)[2]
    assert thresholds.dtype == np.float64 and list(thresholds[1:]) == sorted(score.astype(np.float64))[::-1]


BAD_INPUTS = [
    (lambda: metrics.roc_curve([0, 1, 1], [0.1, 0.2]), ShapeError, ["3 labels and 2 values"]),
    (lambda: metrics.roc_curve(np.zeros((3, 1)), [0.1, 0.2, 0.3]), ShapeError, ["y_true must be 1-D",
                                                                                  "(3, 1)", ".ravel()"]),
    (lambda: metrics.roc_auc_score([0, 1], np.zeros((2, 1))), ShapeError, ["y_score must be 1-D", "(2, 1)"]),
    (lambda: metrics.brier_score_loss([], []), ShapeError, ["at least one case"]),
    (lambda: metrics.roc_curve([-1, 1, 1], [0.1, 0.2, 0.3]), ValueError, ["labels 0 and 1", "-1, 1"]),
    (lambda: metrics.binary_confusion([0, 2], [0.1, 0.2]), ValueError, ["labels 0 and 1", "0, 2"]),
    (lambda: metrics.roc_auc_score([0.0, 0.5], [0.1, 0.2]), ValueError, ["labels 0 and 1", "0.5"]),
    (lambda: metrics.roc_auc_score(np.array(["benign", "malignant"]), [0.1, 0.2]), DTypeError,
     ["numbers 0 and 1", "<U9"]),
    (lambda: metrics.roc_auc_score("01", [0.1, 0.2]), DTypeError, ["NumPy array, a torch tensor or a list",
                                                                   "str"]),
    (lambda: metrics.roc_auc_score([0, 1], ["a", "b"]), DTypeError, ["y_score must hold real numbers"]),
    (lambda: metrics.roc_auc_score([0, 1], [0.1, np.nan]), ValueError, ["finite", "1 NaN"]),
    (lambda: metrics.roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3]), ValueError,
     ["roc_auc_score needs both classes", "only the label 1"]),
    (lambda: metrics.roc_curve([0, 0], [0.1, 0.2]), ValueError, ["roc_curve needs both classes",
                                                                 "only the label 0"]),
    (lambda: metrics.precision_recall_curve([0, 0], [0.1, 0.2]), ValueError, ["at least one positive"]),
    (lambda: metrics.confusion_matrix([0, 1, 1], [0, 1]), ShapeError, ["3 labels and 2 predictions"]),
    (lambda: metrics.confusion_matrix([0, 1], [0.3, 0.8]), ValueError, ["y_pred must hold only the labels"]),
    (lambda: metrics.binary_confusion([0, 1], [0.1, 0.2], threshold=np.nan), ValueError,
     ["threshold must be a real number", "nan"]),
    (lambda: metrics.binary_confusion([0, 1], [0.1, 0.2], threshold="0.5"), ValueError,
     ["threshold must be a real number"]),
    (lambda: metrics.calibration_curve([0, 1], [0.1, 1.2]), ValueError, ["probabilities in [0, 1]", "1.2"]),
    (lambda: metrics.brier_score_loss([0, 1], [-0.1, 0.2]), ValueError, ["probabilities in [0, 1]", "-0.1"]),
    (lambda: metrics.calibration_curve([0, 1], [0.1, 0.2], n_bins=0), ValueError, ["positive integer", "0"]),
    (lambda: metrics.calibration_curve([0, 1], [0.1, 0.2], n_bins=2.5), ValueError, ["positive integer"]),
    (lambda: metrics.calibration_curve([0, 1], [0.1, 0.2], strategy="equal"), ValueError,
     ["'uniform' or 'quantile'", "'equal'"]),
    (lambda: metrics.wilson_interval(5, 4), ValueError, ["0 ≤ successes ≤ trials", "successes=5, trials=4"]),
    (lambda: metrics.wilson_interval(0, 0), ValueError, ["trials ≥ 1"]),
    (lambda: metrics.wilson_interval(2.0, 4), ValueError, ["integer count", "2.0"]),
    (lambda: metrics.wilson_interval(2, 4, confidence=95), ValueError, ["between 0 and 1", "95"]),
]


@pytest.mark.parametrize("run, error, fragments", BAD_INPUTS)
def test_bad_input_gets_a_clear_error(run, error, fragments):
    with pytest.raises(error) as caught:
        run()
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))
