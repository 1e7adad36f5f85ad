"""Strategies the tests build their scenarios from (not part of the package)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pseudolabel.strategies import Decision, SelectionStrategy


class WrongLabels(SelectionStrategy):
    """Adversarial strategy: every pool row, labeled with the *second* most likely class."""

    def __init__(self) -> None:
        pass

    def start(self, *, n_classes: int, n_labeled: int, n_unlabeled: int, class_prior: Any,
              random_state: Any) -> None:
        self.n_classes = n_classes

    def select(self, proba: Any, *, round: int, exclude: Any = None,
               context: Any = None) -> Decision:
        labels = np.argsort(-proba, axis=1, kind="stable")[:, 1]
        idx = np.arange(proba.shape[0])
        if exclude is not None:
            keep = np.ones(proba.shape[0], bool)
            keep[exclude] = False
            idx = idx[keep]
        return Decision(idx, labels[idx], None, None, {})
