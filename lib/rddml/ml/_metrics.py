"""The metrics of pyspark.ml's classification summaries, from counts (NumPy only).

Spark computes them with ``MulticlassMetrics`` (from the weighted (label, prediction)
counts) and ``BinaryClassificationMetrics(scores, numBins=1000)`` (from the weighted
positive and negative counts at each distinct score); these functions compute the same
numbers from the same counts, which :mod:`rddml.ml._evaluation` gathers in one pass.

- :class:`Confusion`: weighted counts by (label, prediction), merged across partitions;
  :func:`multiclass_summary` turns them into ``labels``, the by-label and weighted
  precision / recall / F-measure / TPR / FPR and ``accuracy``, with MLlib's conventions
  for empty denominators (precision 0, F-measure 0).
- :func:`binary_curve`: the cumulative counts in decreasing score order, optionally
  down-sampled as MLlib does (groups of ``grouping`` consecutive distinct scores, each
  represented by its lowest score), and :class:`BinaryCurve` with MLlib's precision (1
  when nothing is predicted positive), recall and false positive rate (0 when a class has
  no weight), F-measure and the ROC / PR points.

Examples
--------
>>> c = Confusion.of(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.0, 1.0, 1.0, 1.0]),
...                  np.ones(4))
>>> s = multiclass_summary(c)
>>> s.labels, s.accuracy, s.precision_by_label
([0.0, 1.0], 0.75, [1.0, 0.6666666666666666])
>>> curve = binary_curve(np.array([0.9, 0.8, 0.3]), np.array([1.0, 0.0, 1.0]),
...                      np.array([0.0, 1.0, 0.0]))
>>> curve.roc()
[(0.0, 0.0), (0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (1.0, 1.0)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: MLlib's ``numBins`` for the curves of a training or evaluation summary.
SUMMARY_NUM_BINS = 1000


# ---------------------------------------------------------------- multiclass
@dataclass
class Confusion:
    """Weighted row counts by (label, prediction): ``pairs`` (m, 2), ``weights`` (m,)."""

    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @staticmethod
    def of(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray) -> Confusion:
        """The counts of a block of rows."""
        if labels.shape[0] == 0:
            return Confusion()
        pairs, inverse = np.unique(np.column_stack([labels, predictions]), axis=0,
                                   return_inverse=True)
        return Confusion(pairs, np.bincount(inverse.ravel(), weights=weights,
                                            minlength=pairs.shape[0]))

    def merge(self, other: Confusion) -> Confusion:
        """Counts of two disjoint slices."""
        if not other.weights.size:
            return self
        if not self.weights.size:
            return other
        pairs = np.concatenate([self.pairs, other.pairs])
        weights = np.concatenate([self.weights, other.weights])
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        return Confusion(uniq, np.bincount(inverse.ravel(), weights=weights,
                                           minlength=uniq.shape[0]))


@dataclass(frozen=True)
class MulticlassSummary:
    """MulticlassMetrics' numbers; the by-label lists follow ``labels`` (ascending)."""

    labels: list[float]
    accuracy: float
    true_positive_rate_by_label: list[float]
    false_positive_rate_by_label: list[float]
    precision_by_label: list[float]
    recall_by_label: list[float]
    label_weights: list[float]
    total_weight: float

    def f_measure_by_label(self, beta: float = 1.0) -> list[float]:
        """F-measure of each label: (1 + β²)·p·r / (β²·p + r), 0 when p + r = 0."""
        return [f_measure(p, r, beta) for p, r in zip(self.precision_by_label,
                                                      self.recall_by_label)]

    def weighted(self, values: list[float]) -> float:
        """Σ value(label) · weight(label) / total weight (MLlib's "weighted" averages)."""
        return float(sum(v * c / self.total_weight for v, c in zip(values, self.label_weights)))


def f_measure(precision: float, recall: float, beta: float) -> float:
    """MLlib's F-measure (0 when precision + recall = 0)."""
    b2 = beta * beta
    if precision + recall == 0:
        return 0.0
    return (1.0 + b2) * precision * recall / (b2 * precision + recall)


def _ratio(num: float, den: float) -> float:
    # MLlib divides doubles without a guard here: 0/0 is NaN, as on the JVM.
    if den == 0:
        return float("nan") if num == 0 else float(np.sign(num)) * float("inf")
    return num / den


def multiclass_summary(confusion: Confusion) -> MulticlassSummary:
    """MLlib's MulticlassMetrics from the weighted (label, prediction) counts."""
    label_of, pred_of, w = confusion.pairs[:, 0], confusion.pairs[:, 1], confusion.weights
    labels = sorted(float(v) for v in np.unique(label_of))
    label_weight = {lab: float(w[label_of == lab].sum()) for lab in labels}
    total = float(sum(label_weight.values()))
    correct = label_of == pred_of
    tp = {lab: float(w[correct & (label_of == lab)].sum()) for lab in labels}
    fp = {lab: float(w[~correct & (pred_of == lab)].sum()) for lab in labels}
    precision = [tp[lab] / (tp[lab] + fp[lab]) if tp[lab] + fp[lab] != 0 else 0.0
                 for lab in labels]
    recall = [_ratio(tp[lab], label_weight[lab]) for lab in labels]
    fpr = [_ratio(fp[lab], total - label_weight[lab]) for lab in labels]
    return MulticlassSummary(
        labels=labels, accuracy=_ratio(sum(tp.values()), total),
        true_positive_rate_by_label=recall, false_positive_rate_by_label=fpr,
        precision_by_label=precision, recall_by_label=recall,
        label_weights=[label_weight[lab] for lab in labels], total_weight=total)


# -------------------------------------------------------------------- binary
def down_sample(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray, grouping: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MLlib's down-sampling of per-score counts in decreasing score order: each group of
    ``grouping`` consecutive scores becomes one point (its lowest score, its summed
    counts); a last, shorter group too. ``grouping`` < 2 changes nothing."""
    if grouping < 2 or scores.size == 0:
        return scores, pos, neg
    starts = np.arange(0, scores.size, grouping)
    ends = np.minimum(starts + grouping, scores.size) - 1
    return scores[ends], np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)


@dataclass(frozen=True)
class BinaryCurve:
    """Cumulative weighted counts at each threshold (decreasing): a row is predicted
    positive when its score is >= the threshold."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    positives: float
    negatives: float

    def precision(self) -> np.ndarray:
        """tp / (tp + fp); 1 where nothing is predicted positive (MLlib)."""
        predicted = self.tp + self.fp
        return np.where(predicted == 0, 1.0, self.tp / np.where(predicted == 0, 1.0, predicted))

    def recall(self) -> np.ndarray:
        """tp / positives; 0 without positives (MLlib)."""
        return self.tp / self.positives if self.positives != 0 else np.zeros_like(self.tp)

    def false_positive_rate(self) -> np.ndarray:
        """fp / negatives; 0 without negatives (MLlib)."""
        return self.fp / self.negatives if self.negatives != 0 else np.zeros_like(self.fp)

    def f_measure(self, beta: float = 1.0) -> np.ndarray:
        """F-measure at each threshold (0 where precision + recall = 0)."""
        return np.array([f_measure(float(p), float(r), beta)
                         for p, r in zip(self.precision(), self.recall())])

    def roc(self) -> list[tuple[float, float]]:
        """(FPR, TPR) points with (0, 0) first and (1, 1) last, as MLlib's ``roc()``."""
        points = list(zip(self.false_positive_rate().tolist(), self.recall().tolist()))
        return [(0.0, 0.0), *points, (1.0, 1.0)]

    def pr(self) -> list[tuple[float, float]]:
        """(recall, precision) points with (0, first precision) first, as MLlib's ``pr()``."""
        precision = self.precision().tolist()
        points = list(zip(self.recall().tolist(), precision))
        return [(0.0, precision[0] if precision else 1.0), *points]

    def by_threshold(self, values: np.ndarray) -> list[tuple[float, float]]:
        """(threshold, value) pairs."""
        return list(zip(self.thresholds.tolist(), np.asarray(values).tolist()))

    def area_under_roc(self) -> float:
        """Trapezoidal area under :meth:`roc` (MLlib's ``areaUnderROC``)."""
        x, y = np.array(self.roc()).T
        return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def binary_curve(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> BinaryCurve:
    """The curve of per-score weighted counts given in decreasing score order."""
    return BinaryCurve(scores, np.cumsum(pos), np.cumsum(neg), float(pos.sum()),
                       float(neg.sum()))


def grouping_for(n_distinct: int, num_bins: int = SUMMARY_NUM_BINS) -> int:
    """MLlib's group size: ``n_distinct // num_bins`` (below 2: no down-sampling)."""
    return n_distinct // num_bins if num_bins > 0 else 0
