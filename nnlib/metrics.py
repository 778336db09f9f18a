"""Evaluation metrics for binary classifiers: counts at a threshold, ROC and precision–recall
curves, the area under the ROC curve, calibration (reliability curve, Brier score), and a
confidence interval for a proportion such as a sensitivity.

Conventions (those of ``sklearn.metrics``, so that every result can be compared one to one):

- ``y_true`` holds the labels 0 and 1 (``bool`` is fine), **1 = the positive class**: the
  class the test looks for (in medicine, the disease — whatever a dataset happens to call 1).
- ``y_score`` holds real numbers, larger = more likely positive: a probability, a logit, any
  score. A case is *called* positive when ``score >= threshold``.
- Both are 1-D and equally long: NumPy arrays, torch tensors (on any device; copied to NumPy)
  or lists. Results are NumPy arrays and Python numbers.

The confusion counts at threshold t, with P positives and N negatives::

                     called positive      called negative
    positive (1)     TP (true positive)   FN (false negative)     TP + FN = P
    negative (0)     FP (false positive)  TN (true negative)      FP + TN = N

sensitivity (recall, true-positive rate) = TP / P, specificity = TN / N, false-positive rate
= FP / N = 1 − specificity, precision (positive predictive value) = TP / (TP + FP). The ROC
curve is (false-positive rate, sensitivity) over all thresholds; its area (AUC) equals the
probability that a random positive scores higher than a random negative, a tie counting 1/2.

These are counts and step functions of the scores: they have no useful gradient and are not
training losses. Inputs a metric cannot judge (one class only, NaN scores, labels other than
0/1) raise an error that says what was expected and what came in, where scikit-learn would
sometimes warn and return NaN.
"""

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from . import backend
from .errors import DTypeError, ShapeError


# --- checking the inputs ----------------------------------------------------------------------------
def _as_numpy(values, name, who):
    if backend.is_array(values):
        return backend.to_numpy(values)
    if isinstance(values, (list, tuple)):
        return np.asarray(values)
    raise DTypeError(f"{who}: {name} must be a NumPy array, a torch tensor or a list, "
                     f"got {type(values).__name__}")


def _one_dimensional(array, name, who):
    if array.ndim != 1:
        hint = " (flatten a column of shape (n, 1) with .ravel() or [:, 0])" if array.ndim == 2 else ""
        raise ShapeError(f"{who}: {name} must be 1-D, one value per case, got shape {array.shape}{hint}")
    if array.size == 0:
        raise ShapeError(f"{who}: {name} must hold at least one case, got an empty array")
    return array


def _labels(values, who, name="y_true"):
    """``values`` as an int64 array of 0/1 (1 = positive)."""
    array = _one_dimensional(_as_numpy(values, name, who), name, who)
    if array.dtype == bool:
        return array.astype(np.int64)
    if array.dtype.kind not in "iuf":
        raise DTypeError(f"{who}: {name} must hold the numbers 0 and 1, got dtype {array.dtype}")
    found = np.unique(array)
    wrong = found[(found != 0) & (found != 1)]
    if wrong.size:
        shown = ", ".join(str(v) for v in found[:6]) + (", …" if found.size > 6 else "")
        raise ValueError(f"{who}: {name} must hold only the labels 0 and 1 (1 = the positive class), "
                         f"got the values {shown}")
    return array.astype(np.int64)


def _scores(values, length, who, name="y_score"):
    """``values`` as a float64 array of finite numbers, as long as the labels."""
    array = _one_dimensional(_as_numpy(values, name, who), name, who)
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"{who}: {name} must hold real numbers, got dtype {array.dtype}")
    if array.shape[0] != length:
        raise ShapeError(f"{who}: y_true and {name} must have one value per case, "
                         f"got {length} labels and {array.shape[0]} values")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{who}: {name} must be finite, got {int(np.sum(~np.isfinite(array)))} "
                         f"NaN or infinite value(s)")
    return array


def _both_classes(y, who):
    positives = int(y.sum())
    if positives == 0 or positives == y.size:
        only = 1 if positives else 0
        raise ValueError(f"{who} needs both classes in y_true (positives 1 and negatives 0), "
                         f"got only the label {only} ({y.size} cases)")


# --- counts at one threshold --------------------------------------------------------------------------
def confusion_matrix(y_true, y_pred):
    """The 2×2 counts ``[[TN, FP], [FN, TP]]``: row = true label, column = called label (0, 1).

    The layout of ``sklearn.metrics.confusion_matrix`` for labels 0/1; ``y_pred`` holds 0/1 too
    (for scores, see :func:`binary_confusion`).
    """
    y = _labels(y_true, "confusion_matrix")
    called = _labels(y_pred, "confusion_matrix", name="y_pred")
    if called.shape != y.shape:
        raise ShapeError(f"confusion_matrix: y_true and y_pred must have one value per case, "
                         f"got {y.shape[0]} labels and {called.shape[0]} predictions")
    return np.bincount(2 * y + called, minlength=4).reshape(2, 2)


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else float("nan")


@dataclass(frozen=True)
class BinaryConfusion:
    """The four counts at one threshold and the rates doctors read off them.

    A rate whose denominator is 0 (e.g. precision when no case is called positive) is ``nan``:
    it is undefined, not 0.
    """

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def sensitivity(self):
        """TP / (TP + FN): the share of the positives that are found (recall, true-positive rate)."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self):
        """TN / (TN + FP): the share of the negatives that are cleared (1 − false-positive rate)."""
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def precision(self):
        """TP / (TP + FP): the share of positive calls that are right (positive predictive value)."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def negative_predictive_value(self):
        """TN / (TN + FN): the share of negative calls that are right."""
        return _ratio(self.tn, self.tn + self.fn)

    @property
    def accuracy(self):
        """(TP + TN) / all cases."""
        return _ratio(self.tp + self.tn, self.tp + self.fp + self.tn + self.fn)

    def matrix(self):
        """The counts as :func:`confusion_matrix` lays them out: ``[[TN, FP], [FN, TP]]``."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]])


def binary_confusion(y_true, y_score, threshold=0.5):
    """Call every case with ``y_score >= threshold`` positive and count: a :class:`BinaryConfusion`.

    ``threshold`` may be ``inf`` (nothing is called positive), as the first threshold of
    :func:`roc_curve`.
    """
    y = _labels(y_true, "binary_confusion")
    score = _scores(y_score, y.size, "binary_confusion")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or np.isnan(threshold):
        raise ValueError(f"binary_confusion: threshold must be a real number, got {threshold!r}")
    (tn, fp), (fn, tp) = confusion_matrix(y, (score >= threshold).astype(np.int64))
    return BinaryConfusion(tp=int(tp), fp=int(fp), tn=int(tn), fn=int(fn))


# --- curves over all thresholds -----------------------------------------------------------------------
def _counts_at_each_score(y, score):
    """Cumulative (FP, TP) when the threshold steps down through the distinct scores, and those scores.

    Cases with equal scores are called positive together, so a tie moves the curve diagonally.
    """
    values, which = np.unique(score, return_inverse=True)        # ascending distinct scores
    positives = np.bincount(which[y == 1], minlength=values.size)
    negatives = np.bincount(which[y == 0], minlength=values.size)
    tps = np.cumsum(positives[::-1])                             # highest score first
    fps = np.cumsum(negatives[::-1])
    return fps, tps, values[::-1]


def _roc(y_true, y_score, drop_intermediate, who):
    y = _labels(y_true, who)
    score = _scores(y_score, y.size, who)
    _both_classes(y, who)
    fps, tps, thresholds = _counts_at_each_score(y, score)
    if drop_intermediate and fps.size > 2:
        # interior point i is dropped when the step into it equals the step out of it
        bends = (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0)
        keep = np.concatenate([[True], bends, [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps = np.concatenate([[0], fps])
    tps = np.concatenate([[0], tps])
    thresholds = np.concatenate([[np.inf], thresholds])
    return fps / fps[-1], tps / tps[-1], thresholds


def roc_curve(y_true, y_score, *, drop_intermediate=True):
    """The ROC curve: ``(fpr, tpr, thresholds)``, as ``sklearn.metrics.roc_curve``.

    ``thresholds`` are the distinct scores in decreasing order after a first ``inf``; at
    ``thresholds[i]`` (``y_score >= thresholds[i]`` called positive) the false-positive rate is
    ``fpr[i]`` and the sensitivity ``tpr[i]``. The curve runs from (0, 0) to (1, 1).
    ``drop_intermediate`` leaves out the points in the middle of two equal steps (collinear with
    their neighbours): the curve and its area stay the same, there are just fewer points. Keep
    all of them (``False``) to look up the threshold for a target sensitivity.
    """
    return _roc(y_true, y_score, drop_intermediate, "roc_curve")


def roc_auc_score(y_true, y_score):
    """Area under the ROC curve (trapezoids; a tie is a diagonal step, i.e. counts 1/2).

    Equal to P(score of a random positive > score of a random negative) + ½ P(equal), the
    Mann–Whitney form; 0.5 for scores that carry no information, 1 for a perfect ranking.
    """
    fpr, tpr, _ = _roc(y_true, y_score, False, "roc_auc_score")
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def precision_recall_curve(y_true, y_score):
    """``(precision, recall, thresholds)``, as ``sklearn.metrics.precision_recall_curve``.

    ``thresholds`` are the distinct scores in *increasing* order; ``precision[i]`` and
    ``recall[i]`` belong to ``thresholds[i]``, and one last point (precision 1, recall 0), with
    no threshold, closes the curve on the precision axis. Needs at least one positive.
    """
    y = _labels(y_true, "precision_recall_curve")
    score = _scores(y_score, y.size, "precision_recall_curve")
    if y.sum() == 0:
        raise ValueError(f"precision_recall_curve needs at least one positive (label 1) in y_true, "
                         f"got only negatives ({y.size} cases)")
    fps, tps, thresholds = _counts_at_each_score(y, score)
    precision = tps / (tps + fps)       # at every distinct score at least one case is called
    recall = tps / tps[-1]
    return (np.concatenate([precision[::-1], [1.0]]), np.concatenate([recall[::-1], [0.0]]),
            thresholds[::-1])


# --- calibration -------------------------------------------------------------------------------------
def calibration_curve(y_true, y_prob, *, n_bins=5, strategy="uniform"):
    """Reliability curve ``(prob_true, prob_pred)``, as ``sklearn.calibration.calibration_curve``.

    The probabilities are put into ``n_bins`` bins; for each non-empty bin, ``prob_true`` is the
    share of positives in it and ``prob_pred`` the mean predicted probability. A calibrated model
    has ``prob_true ≈ prob_pred``. ``strategy="uniform"``: equally wide bins over [0, 1];
    ``"quantile"``: edges at the quantiles of ``y_prob`` (equally full bins). Bin k holds the
    probabilities p with edge_k < p ≤ edge_(k+1) (the first bin also p = edge_0); empty bins are
    left out, so the arrays may be shorter than ``n_bins``.
    """
    y = _labels(y_true, "calibration_curve")
    prob = _scores(y_prob, y.size, "calibration_curve", name="y_prob")
    if prob.min() < 0 or prob.max() > 1:
        raise ValueError(f"calibration_curve: y_prob must be probabilities in [0, 1], "
                         f"got values from {prob.min():g} to {prob.max():g}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"calibration_curve: n_bins must be a positive integer, got {n_bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(prob, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        raise ValueError(f"calibration_curve: strategy must be 'uniform' or 'quantile', got {strategy!r}")
    which = np.searchsorted(edges[1:-1], prob)      # number of inner edges strictly below p
    cases = np.bincount(which, minlength=n_bins)
    positives = np.bincount(which, weights=y, minlength=n_bins)
    prob_sums = np.bincount(which, weights=prob, minlength=n_bins)
    full = cases > 0
    return positives[full] / cases[full], prob_sums[full] / cases[full]


def brier_score_loss(y_true, y_proba):
    """Mean squared difference between predicted probability and outcome, (1/n) Σ (pᵢ − yᵢ)².

    0 is perfect; always predicting the prevalence π scores π(1 − π). It rewards both ranking
    and calibration. As ``sklearn.metrics.brier_score_loss`` for labels 0/1.
    """
    y = _labels(y_true, "brier_score_loss")
    prob = _scores(y_proba, y.size, "brier_score_loss", name="y_proba")
    if prob.min() < 0 or prob.max() > 1:
        raise ValueError(f"brier_score_loss: y_proba must be probabilities in [0, 1], "
                         f"got values from {prob.min():g} to {prob.max():g}")
    return float(np.mean((prob - y) ** 2))


# --- uncertainty ----------------------------------------------------------------------------------------
def wilson_interval(successes, trials, confidence=0.95):
    """Wilson score interval ``(low, high)`` for a proportion k/n, e.g. a sensitivity TP/P.

    The true proportions p that a normal-approximation test at this level would not reject,
    ``|k/n − p| ≤ z √(p (1 − p) / n)`` with ``z = Φ⁻¹((1 + confidence) / 2)``; solving for p::

        (k/n + z²/2n ± z √(k/n (1 − k/n)/n + z²/4n²)) / (1 + z²/n)

    This stays inside [0, 1] and, unlike the textbook ``k/n ± z √(k/n (1 − k/n)/n)``, does not
    shrink to a point at k = n (41 of 41 found does not prove a sensitivity of 100 %).
    """
    for name, value in (("successes", successes), ("trials", trials)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"wilson_interval: {name} must be an integer count, got {value!r}")
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval: needs 0 ≤ successes ≤ trials and trials ≥ 1, "
                         f"got successes={successes}, trials={trials}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)) \
            or not 0 < confidence < 1:
        raise ValueError(f"wilson_interval: confidence must be a number between 0 and 1, got {confidence!r}")
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    n, share = int(trials), int(successes) / int(trials)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # at k = 0 (k = n) the low (high) end is exactly 0 (1); the formula leaves a round-off there
    low = 0.0 if successes == 0 else float(centre - half)
    high = 1.0 if successes == trials else float(centre + half)
    return low, high
