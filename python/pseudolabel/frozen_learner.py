"""A fitted model bundle seen as an active learner that is never refit: :class:`FrozenLearner`.

``pseudolabel query --model BUNDLE`` ranks the pool with a model trained elsewhere. Its
:meth:`FrozenLearner.query_context` is the strategies' ``QueryContext``: the bundle's
probabilities, ``classes``, the labeled rows' features when given (``ranked_batch``) and a random
generator, but no labels and no member factory. :meth:`FrozenLearner.query` has the signature
and meaning of :meth:`pseudolabel.active.ActiveLearner.query`. Committee strategies refit
members on the labels, which a frozen model cannot do, so they are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pseudolabel.exceptions import ParameterError
from pseudolabel.strategies.context import LearnerContext, query_pool

__all__ = ["FrozenLearner"]


class FrozenLearner:
    """A model bundle's backend as a learner for the query strategies.

    Parameters
    ----------
    bundle : pseudolabel.batch.bundle.ModelBundle
        A loaded, verified bundle.
    query_strategy : str or QueryStrategy, default="margin"
        Registered query-strategy name or instance; not a committee strategy.
    X_labeled : array-like, optional
        The labeled rows (``ranked_batch`` keeps its picks away from them).
    random_state : int, default=0
    chunk_size : int, default=65536
        Pool rows scored at a time.
    """

    def __init__(
        self,
        bundle: Any,
        *,
        query_strategy: Any = "margin",
        X_labeled: Any = None,
        random_state: int = 0,
        chunk_size: int = 65_536,
    ) -> None:
        from pseudolabel.plugins import make_strategy
        from pseudolabel.strategies.query import QueryByCommittee

        self.bundle = bundle
        self.backend = bundle.backend
        self.classes_ = np.asarray(bundle.classes)
        self.chunk_size = int(chunk_size)
        self.rng_ = np.random.default_rng(random_state)
        self.model_version_ = 1
        self.round_ = 0
        self.query_strategy_ = make_strategy(query_strategy, kind="query")
        if isinstance(self.query_strategy_, QueryByCommittee):
            name = (query_strategy if isinstance(query_strategy, str)
                    else type(query_strategy).__name__)
            raise ParameterError(
                f"--strategy {name} fits a committee on the store's labels; with "
                "--model use an uncertainty, random or ranked_batch strategy, or drop --model"
            )
        self.X_labeled_ = None if X_labeled is None else np.asarray(X_labeled)

    def query_context(self) -> LearnerContext:
        """The bundle as a ``QueryContext``: no labels and no member factory (never refit)."""
        return LearnerContext(
            predict=self.backend.predict_proba,
            classes=self.classes_,
            chunk_size=self.chunk_size,
            rng=self.rng_,
            X_labeled=self.X_labeled_,
            model_version=(id(self), self.model_version_),
            source="a frozen model bundle (--model)",
        )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the bundle's model, columns in ``classes_`` order."""
        return self.backend.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def query(
        self, X_pool: Any, n: int, *, exclude: Any = None, return_scores: bool = False
    ) -> Any:
        """The ``n`` rows of ``X_pool`` to label next, best first.

        As :meth:`pseudolabel.active.ActiveLearner.query`: ``exclude`` (bool mask or int
        indices) are rows never returned; more than the pool holds returns every row left,
        with a :class:`~pseudolabel.exceptions.PseudolabelWarning`; ``return_scores`` also
        returns the scores (higher = more useful to label).
        """
        indices, scores = query_pool(self.query_strategy_, self.query_context(), X_pool, n,
                                     exclude=exclude)
        self.round_ += 1
        self.query_indices_, self.query_scores_ = indices, scores
        return (indices, scores) if return_scores else indices
