"""``PseudoSet``: the pseudo-labels a self-training loop holds over its pool, and how they change.

Every loop that pseudo-labels (``SelfTrainingClassifier``, ``PseudoLabeler``,
``ActiveLearner``'s CEAL pseudo-labels) keeps the same state: which pool rows hold a
pseudo-label, which label (a column index ``0..C-1`` of the model's probabilities), the sample
weight the strategy gave it, the model's confidence when it was chosen, and the round since
which the row has held that label. ``PseudoSet`` is that state as five aligned arrays, in the
order the rows were added (the order the model is trained on), and immutable: every change
returns a new set, so a loop rolls a round back by keeping the old one.

The API, for every loop::

    pseudo_set = PseudoSet.empty()
    exclude = pseudo_set.exclude_mask(n_pool)             # rows a strategy must not pick
    pseudo_set = pseudo_set.update(decision_rows, decision_labels, weights, confidence,
                                   round=r, rebuild=strategy.rebuild)
    pseudo_set = pseudo_set.drop(human_labeled)           # rows that got a human label
    weights = pseudo_set.training_weights(labeled_weights, n_labeled, pool_weights)

``update`` accumulates (adds the new rows after the held ones) or, with ``rebuild=True``,
replaces the set by the decision; either way a row keeps its round while its label is
unchanged. ``key()`` and ``same_labels()`` tell loops whether a rebuilt set is new.
``ActiveLearner.update_pseudo_labels`` maps onto it as: ``drop(human)`` for accumulating
strategies, ``exclude_mask(n_pool, also=human)`` for the strategy, ``update(..., rebuild=
strategy.rebuild)``, then ``labels`` through ``classes_`` and ``training_weights`` for the refit
(:func:`pseudolabel.loop.round.run_round` does the strategy call and the checks).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["PseudoSet"]


def _int64(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


@dataclass(frozen=True)
class PseudoSet:
    """Pseudo-labels over a pool of rows; arrays aligned row by row, in insertion order.

    Attributes
    ----------
    rows : ndarray of int64
        Pool positions holding a pseudo-label (each at most once).
    labels : ndarray of int64
        Their labels, as column indices of the model's probabilities.
    weights : ndarray of float64 or None
        Their sample weights from the strategy; ``None`` means 1 for every row.
    confidence : ndarray of float64
        The probability of the label when the row was (last) selected.
    round : ndarray of int64
        The round since which the row has held its current label.
    """

    rows: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None
    confidence: np.ndarray
    round: np.ndarray

    @classmethod
    def empty(cls) -> PseudoSet:
        """A set without rows (before round 1)."""
        none = np.empty(0, np.int64)
        return cls(none, none, None, np.empty(0, np.float64), none)

    @property
    def size(self) -> int:
        """Number of pseudo-labeled rows."""
        return int(self.rows.shape[0])

    def __len__(self) -> int:
        return self.size

    def exclude_mask(self, n_pool: int, also: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask over the pool: rows held here (or in ``also``, e.g. human labels)."""
        mask = np.zeros(n_pool, dtype=bool) if also is None else np.array(also, dtype=bool)
        mask[self.rows] = True
        return mask

    def labels_over(self, n_pool: int, *, missing: int = -1) -> np.ndarray:
        """Label of every pool row (``missing`` where none), like scikit-learn's ``transduction_``."""
        out = np.full(n_pool, missing, dtype=np.int64)
        out[self.rows] = self.labels
        return out

    def update(
        self,
        rows: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray | None,
        confidence: np.ndarray,
        *,
        round: int,
        rebuild: bool,
    ) -> PseudoSet:
        """The set after a round's decision (``rows`` are pool positions not held, unless
        ``rebuild``).

        Accumulate (``rebuild=False``): the decision is added after the held rows, with round
        ``round``. Rebuild: the decision replaces the set; a row keeps the round it got its
        label in while the decision gives it the same label.
        """
        rows, labels = _int64(rows), _int64(labels)
        confidence = np.asarray(confidence, dtype=np.float64).reshape(-1)
        weights = None if weights is None else np.asarray(weights, np.float64).reshape(-1)
        if rebuild:
            n_pool = int(max(self.rows.max(initial=-1), rows.max(initial=-1))) + 1
            lookup = np.full(n_pool, -1, dtype=np.int64)
            lookup[self.rows] = np.arange(self.size)
            held = lookup[rows]
            same = held >= 0
            same[same] = self.labels[held[same]] == labels[same]
            since = np.full(rows.shape[0], round, dtype=np.int64)
            since[same] = self.round[held[same]]
            return PseudoSet(rows, labels, weights, confidence, since)
        if self.weights is None and weights is None:
            new_weights = None
        else:
            new_weights = np.concatenate([
                np.ones(self.size) if self.weights is None else self.weights,
                np.ones(rows.shape[0]) if weights is None else weights,
            ])
        return PseudoSet(
            np.concatenate([self.rows, rows]),
            np.concatenate([self.labels, labels]),
            new_weights,
            np.concatenate([self.confidence, confidence]),
            np.concatenate([self.round, np.full(rows.shape[0], round, np.int64)]),
        )

    def changed_labels(self, previous: PseudoSet) -> int:
        """Rows of this set whose label differs from (or is absent in) ``previous``."""
        if self.size == 0:
            return 0
        n_pool = int(max(self.rows.max(), previous.rows.max(initial=-1))) + 1
        before = previous.labels_over(n_pool)
        return int(np.count_nonzero(before[self.rows] != self.labels))

    def same_labels(self, previous: PseudoSet) -> bool:
        """Whether both sets hold the same rows with the same labels (weights aside)."""
        return self.size == previous.size and self.changed_labels(previous) == 0

    def key(self) -> bytes:
        """A digest of the rows and their labels, independent of row order (weights aside)."""
        order = np.argsort(self.rows, kind="stable")
        digest = hashlib.blake2b(np.ascontiguousarray(self.rows[order]).tobytes())
        digest.update(np.ascontiguousarray(self.labels[order]).tobytes())
        return digest.digest()

    def drop(self, mask: np.ndarray | None) -> PseudoSet:
        """The set without the rows where the pool mask ``mask`` is true."""
        if mask is None or self.size == 0:
            return self
        keep = ~np.asarray(mask, dtype=bool)[self.rows]
        if keep.all():
            return self
        return PseudoSet(
            self.rows[keep], self.labels[keep],
            None if self.weights is None else self.weights[keep],
            self.confidence[keep], self.round[keep],
        )

    def training_weights(
        self,
        labeled: np.ndarray | None,
        n_labeled: int,
        pool: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Sample weights of a fit on ``n_labeled`` labeled rows followed by this set's rows.

        ``labeled``: the labeled rows' weights (or ``None``: 1); ``pool``: weights of every pool
        row that multiply into the strategy's (a user's ``sample_weight``). ``None`` when every
        weight would be 1.
        """
        pseudo = None
        if self.size and (self.weights is not None or pool is not None):
            pseudo = np.ones(self.size) if self.weights is None else self.weights
            if pool is not None:
                pseudo = pseudo * pool[self.rows]
        if labeled is None and pseudo is None:
            return None
        labeled = np.ones(n_labeled) if labeled is None else np.asarray(labeled, np.float64)
        if not self.size:
            return labeled
        return np.concatenate([labeled, np.ones(self.size) if pseudo is None else pseudo])
