"""Per-class statistics of labelled rows, gathered while the data is converted.

The conversion's summary pass (:func:`rddml.engine.records.summarise_partition`) folds
every labelled block into a :class:`LabelCensus`: per-class row counts, weights and
weighted feature means and squared deviations, and the invalid labels seen. A fit finds
its standardisation statistics and class totals there and needs no pass for them.
NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rddml.labels import MAX_BAD_LABELS, class_indices, valid_labels


@dataclass
class ClassMoments:
    """Per-class row counts and weighted feature moments (index c = class c), as
    :class:`~rddml.engine.census.LabelCensus` gathers them.

    ``mean``/``m2`` are the weighted mean and the weighted sum of squared deviations,
    merged with Chan et al.'s pairwise update, which stays accurate where the naive
    Σx² − n·mean² cancels catastrophically.
    """

    count: np.ndarray  # (K,)
    weight: np.ndarray  # (K,)
    weight_sq: np.ndarray  # (K,)
    mean: np.ndarray  # (K, d)
    m2: np.ndarray  # (K, d)

    def merge(self, other: ClassMoments) -> ClassMoments:
        """Moments of the union of two disjoint slices."""
        w = self.weight + other.weight
        safe = np.where(w > 0, w, 1.0)[:, None]
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.weight[:, None] / safe)
        m2 = self.m2 + other.m2 + delta**2 * (self.weight * other.weight)[:, None] / safe
        return ClassMoments(self.count + other.count, w, self.weight_sq + other.weight_sq,
                            mean, m2)


@dataclass
class LabelCensus:
    """Per-class rows and weighted feature moments of a slice (class k = label k), and
    the invalid labels seen (not integers in 0 .. MAX_CLASSES − 1, at most
    ``MAX_BAD_LABELS`` distinct values kept; ``n_bad`` counts the rows).

    ``moments`` has one row per class up to the largest label seen; merging pads the
    shorter one. Its Chan-style merge keeps the moments accurate.
    """

    moments: ClassMoments
    bad: tuple[float, ...] = ()
    n_bad: int = 0

    @property
    def n_classes(self) -> int:
        """One more than the largest valid label seen."""
        return int(self.moments.count.shape[0])

    def merge(self, other: LabelCensus) -> LabelCensus:
        """The census of the union of two disjoint slices."""
        K = max(self.n_classes, other.n_classes)
        bad = tuple(sorted(set(self.bad) | set(other.bad)))[:MAX_BAD_LABELS]
        return LabelCensus(_padded(self.moments, K).merge(_padded(other.moments, K)), bad,
                           self.n_bad + other.n_bad)

    @staticmethod
    def empty(d: int) -> LabelCensus:
        return LabelCensus(_moments(0, d))

    def class_moments(self, n_classes: int) -> ClassMoments:
        """The moments of classes 0 .. ``n_classes`` − 1: padded with empty classes, or
        cut (the caller has checked that no row has a label beyond them)."""
        m = _padded(self.moments, n_classes)
        if m.count.shape[0] == n_classes:
            return m
        return ClassMoments(m.count[:n_classes].copy(), m.weight[:n_classes].copy(),
                            m.weight_sq[:n_classes].copy(), m.mean[:n_classes].copy(),
                            m.m2[:n_classes].copy())


def _moments(n_classes: int, d: int) -> ClassMoments:
    return ClassMoments(np.zeros(n_classes, dtype=np.int64), np.zeros(n_classes),
                        np.zeros(n_classes), np.zeros((n_classes, d)), np.zeros((n_classes, d)))


def _padded(m: ClassMoments, n_classes: int) -> ClassMoments:
    extra = n_classes - m.count.shape[0]
    if extra <= 0:
        return m
    z = _moments(extra, m.mean.shape[1])
    return ClassMoments(np.concatenate([m.count, z.count]), np.concatenate([m.weight, z.weight]),
                        np.concatenate([m.weight_sq, z.weight_sq]),
                        np.vstack([m.mean, z.mean]), np.vstack([m.m2, z.m2]))


#: A block's per-class sums are one matrix product with a (K, rows) matrix holding each
#: row's weight in its class's row while K is at most this and at most twice the
#: features (so that matrix is no larger than twice the block): BLAS sums a few classes
#: in one call where ``np.add.at`` visits every row. More classes use ``np.add.at``, whose
#: cost does not grow with K.
ONE_HOT_MAX_CLASSES = 64


def _class_sums(yi: np.ndarray, wv: np.ndarray, V: np.ndarray, n_classes: int) -> np.ndarray:
    """``out[k] = Σ_{i: yi_i = k} wv_i V_i`` for every class k, shape (K, V.shape[1])."""
    n, d = V.shape
    if n_classes <= min(ONE_HOT_MAX_CLASSES, 2 * d):
        S = np.zeros((n_classes, n))
        S[yi, np.arange(n)] = wv
        out = S @ V
        # An overflowed value (inf) times another class's 0 would spread NaN to every
        # class: then sum class by class below, as np.add.at keeps it in its own class.
        if np.isfinite(out).all():
            return out
    out = np.zeros((n_classes, d))
    np.add.at(out, yi, wv[:, None] * V)
    return out


def _sparse_class_moments(X: Any, yi: np.ndarray, wv: np.ndarray, weight: np.ndarray,
                          n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class weighted means and squared deviations of a CSR block, from its stored
    values only: a feature's zeros each deviate by its class mean, so they add
    ``(class weight − weight of the rows storing it) · mean²``; the rest is summed over
    the stored values (as exact as the dense two-pass form, and no dense row is made)."""
    n, d = X.shape
    rows = np.repeat(np.arange(n), np.diff(X.indptr))
    cls = yi[rows]
    flat = cls * d + np.asarray(X.indices, dtype=np.int64)
    ws = wv[rows]
    vals = np.asarray(X.data, dtype=np.float64)
    size = n_classes * d
    sums = np.bincount(flat, weights=ws * vals, minlength=size).reshape(n_classes, d)
    mean = sums / np.where(weight > 0, weight, 1.0)[:, None]
    dev = vals - mean.reshape(-1)[flat]
    m2: np.ndarray = np.bincount(flat, weights=ws * dev * dev,
                                 minlength=size).reshape(n_classes, d).astype(np.float64)
    stored = np.bincount(flat, weights=ws, minlength=size).reshape(n_classes, d)
    m2 += (weight[:, None] - stored) * mean * mean
    return mean, m2


def block_label_census(X: Any, y: np.ndarray, w: np.ndarray | None) -> LabelCensus:
    """Per-class counts and weighted moments of one block (dense, or CSR:
    :mod:`rddml.engine.sparse`), and its invalid labels.

    Vectorised over rows: a class's mean, then its sum of squared deviations from that
    mean (two passes over the block, as accurate as the merge of
    :class:`~rddml.engine.census.ClassMoments`). The conversion of every labelled dataset
    runs it once per block (:func:`rddml.engine.records.summarise_partition`).
    """
    ok = valid_labels(y)
    bad_values = np.unique(y[~ok])
    if not ok.all():
        X, y = X[ok], y[ok]
        w = None if w is None else w[ok]
    d = X.shape[1]
    if y.shape[0] == 0:
        return LabelCensus(_moments(0, d), tuple(bad_values[:MAX_BAD_LABELS].tolist()),
                           int((~ok).sum()))
    yi = class_indices(y)
    K = int(yi.max()) + 1
    wv = np.ones(y.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    weight = np.bincount(yi, weights=wv, minlength=K)
    if isinstance(X, np.ndarray):
        mean = _class_sums(yi, wv, X, K) / np.where(weight > 0, weight, 1.0)[:, None]
        m2 = _class_sums(yi, wv, (X - mean[yi]) ** 2, K)
    else:
        mean, m2 = _sparse_class_moments(X, yi, wv, weight, K)
    moments = ClassMoments(np.bincount(yi, minlength=K).astype(np.int64), weight,
                           np.bincount(yi, weights=wv * wv, minlength=K), mean, m2)
    return LabelCensus(moments, tuple(bad_values[:MAX_BAD_LABELS].tolist()), int((~ok).sum()))
