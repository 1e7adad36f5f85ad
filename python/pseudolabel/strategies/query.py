"""Active-learning query strategies: which rows of the pool a human should label next.

Every strategy is a :class:`~pseudolabel.strategies.base.QueryStrategy`: ``scores(context,
X_pool)`` gives one score per row (higher = ask first) and ``query(context, X_pool, n,
exclude=...)`` returns the ``n`` best rows, best first, ties broken by the lower row index.
``context`` is a :class:`~pseudolabel.strategies.context.QueryContext` (or a learner, turned
into one by :func:`~pseudolabel.strategies.context.as_query_context`); strategies use only
what it offers.

Built-in strategies (registered with ``kind="query"`` through the plugin hook, exactly like a
third-party plugin would):

==================  ==========================================================================
``random``          uniform random rows (the baseline every other strategy must beat)
``least_confident`` lowest top-class probability
``margin``          smallest gap between the two most probable classes
``entropy``         highest entropy of the predicted distribution
``qbc``             query-by-committee: disagreement of a committee of backends or of
                    bootstrap models (``disagreement="vote_entropy"`` or ``"kl_divergence"``)
``vote_entropy``    ``qbc`` with vote entropy
``kl_divergence``   ``qbc`` with the mean KL divergence to the consensus
==================  ==========================================================================

Pools are scored in chunks of ``context.chunk_size`` rows (65 536 when the learner does not
say), so a pool of tens of millions of rows never materializes its probability matrix:
the uncertainty strategies stream each chunk's probabilities into :class:`pseudolabel.kernels.TopK`
and the others keep a running top-``n`` in numpy.

Diverse-batch strategies (``coreset``, ``badge``, ``cluster_margin``, ``ranked_batch``) live in
:mod:`pseudolabel.strategies.diversity`.

``qbc`` also uses the context's labeled rows and ``classes`` (and, with bootstrap members, its
member factory): :class:`pseudolabel.ActiveLearner` provides all of them, a frozen model bundle
all but the labels and the member factory.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from numbers import Integral
from typing import Any, ClassVar

import numpy as np

from pseudolabel._validation import check_probabilities
from pseudolabel.exceptions import InputError, ParameterError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.strategies.base import QueryStrategy, _as_generator, exclude_mask
from pseudolabel.strategies.context import (
    DEFAULT_CHUNK_SIZE,  # noqa: F401  (re-exported: it lived here)
    QueryContext,
    as_query_context,
    require_labeled,
)
from pseudolabel.strategies.distinct_rows import distinct_first

__all__ = [
    "QUERY_STRATEGIES",
    "RandomQuery",
    "UncertaintyQuery",
    "LeastConfidentQuery",
    "MarginQuery",
    "EntropyQuery",
    "QueryByCommittee",
    "vote_entropy",
    "kl_disagreement",
    "iter_row_chunks",
    "n_rows",
    "take_rows",
]

# ---------------------------------------------------------------------------------------------
# row access helpers (numpy arrays, memmaps, pandas DataFrames, scipy sparse matrices)
# ---------------------------------------------------------------------------------------------


def n_rows(X: Any) -> int:
    """Number of rows of an array-like (``shape[0]`` or ``len``)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise InputError(
            f"X_pool must be an array-like with rows (numpy array, DataFrame, sparse matrix), "
            f"got {type(X).__name__}"
        ) from None


def _row_slice(X: Any, start: int, stop: int) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[start:stop]
    if hasattr(X, "shape"):
        return X[start:stop]
    return np.asarray(X[start:stop])


def take_rows(X: Any, indices: np.ndarray) -> Any:
    """Rows ``indices`` of ``X`` (DataFrame-aware fancy indexing)."""
    indices = np.asarray(indices, dtype=np.int64)
    if hasattr(X, "iloc"):
        return X.iloc[indices]
    if hasattr(X, "shape"):
        return X[indices]
    return np.asarray(X)[indices]


def iter_row_chunks(X: Any, chunk_size: int) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(start, stop, X[start:stop])`` over the rows of ``X``."""
    total = n_rows(X)
    chunk_size = max(1, int(chunk_size))
    for start in range(0, total, chunk_size):
        stop = min(total, start + chunk_size)
        yield start, stop, _row_slice(X, start, stop)


def _strategy_rng(strategy: Any, context: QueryContext) -> np.random.Generator:
    """The strategy's own generator (seeded once from ``random_state``), or the learner's."""
    if strategy.random_state is None and isinstance(context.rng, np.random.Generator):
        return context.rng
    if getattr(strategy, "_generator", None) is None:
        strategy._generator = _as_generator(strategy.random_state)
    return strategy._generator


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise ParameterError(f"n must be a non-negative integer, got {n!r}")
    return int(n)


def _query_args(n: Any, X_pool: Any, exclude: Any) -> tuple[int, int, np.ndarray | None]:
    """The checked ``n``, the pool size and the exclude mask every ``query`` starts from."""
    n = _check_n(n)
    total = n_rows(X_pool)
    return n, total, exclude_mask(exclude, total)


def _n_available(total: int, mask: np.ndarray | None) -> int:
    """Pool rows that may still be queried."""
    return total if mask is None else total - int(np.count_nonzero(mask))


def _no_rows() -> tuple[np.ndarray, np.ndarray]:
    """The result of a query that returns nothing."""
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)


def _chunk_exclude(mask: np.ndarray | None, start: int, stop: int) -> np.ndarray | None:
    if mask is None:
        return None
    part = mask[start:stop]
    return part if part.any() else None


def _pool_chunks(
    context: QueryContext, X_pool: Any, mask: np.ndarray | None
) -> Iterator[tuple[int, Any, np.ndarray | None]]:
    """Yield ``(start, X_chunk, chunk_exclude)`` over the pool, skipping chunks that
    ``mask`` excludes entirely (their rows are never predicted)."""
    for start, stop, chunk in iter_row_chunks(X_pool, context.chunk_size):
        part = _chunk_exclude(mask, start, stop)
        if part is not None and part.all():
            continue
        yield start, chunk, part


def _score_pool(context: QueryContext, X_pool: Any, score_chunk: Any) -> np.ndarray:
    """``score_chunk(X_chunk)`` over the pool chunk by chunk, as one float64 array."""
    out = np.empty(n_rows(X_pool), dtype=np.float64)
    for start, stop, chunk in iter_row_chunks(X_pool, context.chunk_size):
        out[start:stop] = score_chunk(chunk)
    return out


class _RunningTopN:
    """Running top-``n`` of (score, row) pairs: higher score first, then lower row index.

    Memory is ``O(n + chunk)``; used for scores the Rust ``TopK`` does not compute
    (random keys, committee disagreement).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.indices = np.empty(0, dtype=np.int64)
        self.scores = np.empty(0, dtype=np.float64)

    def push(self, scores: np.ndarray, offset: int, exclude: np.ndarray | None) -> None:
        if self.n == 0:
            return
        rows = np.arange(offset, offset + scores.shape[0], dtype=np.int64)
        if exclude is not None:
            keep = ~exclude
            rows, scores = rows[keep], scores[keep]
        if np.isnan(scores).any():
            row = int(rows[np.flatnonzero(np.isnan(scores))[0]])
            raise InputError(f"query score is NaN for pool row {row}")
        idx = np.concatenate([self.indices, rows])
        sc = np.concatenate([self.scores, scores.astype(np.float64, copy=False)])
        self.indices, self.scores = _top_n(idx, sc, self.n)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        return self.indices, self.scores


def _top_n(idx: np.ndarray, sc: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best of ``(sc, idx)``: score descending, ties by lower index."""
    if sc.shape[0] > n:
        kth = np.partition(sc, sc.shape[0] - n)[sc.shape[0] - n]  # n-th largest value
        keep = sc >= kth
        idx, sc = idx[keep], sc[keep]
    order = np.lexsort((idx, -sc))[:n]
    return idx[order], sc[order]


# ---------------------------------------------------------------------------------------------
# random
# ---------------------------------------------------------------------------------------------


class RandomQuery(QueryStrategy):
    """Uniformly random rows: the baseline.

    Parameters
    ----------
    random_state : int, numpy Generator or None, default=None
        Seed. ``None`` uses the learner's generator (``context.rng``) when it has one, so
        ``ActiveLearner(random_state=0)`` makes the whole loop reproducible.
    """

    name: ClassVar[str] = "random"

    def __init__(self, random_state: Any = None) -> None:
        self.random_state = random_state

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        return _strategy_rng(self, as_query_context(context)).random(n_rows(X_pool))

    def query(
        self, context: Any, X_pool: Any, n: int, *, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        context = as_query_context(context)
        n, total, mask = _query_args(n, X_pool, exclude)
        rng = _strategy_rng(self, context)
        top = _RunningTopN(n)
        chunk = context.chunk_size
        for start in range(0, total, chunk):
            stop = min(total, start + chunk)
            top.push(rng.random(stop - start), start, _chunk_exclude(mask, start, stop))
        return top.result()


# ---------------------------------------------------------------------------------------------
# uncertainty sampling (least confident, margin, entropy): Rust TopK over probability chunks
# ---------------------------------------------------------------------------------------------


class UncertaintyQuery(QueryStrategy):
    """Base of the uncertainty strategies: one score from the predicted distribution.

    Subclasses set ``kernel_score`` (a ``pseudolabel.kernels`` score name) and
    ``kernel_largest`` (whether a larger kernel score is more uncertain); the reported score
    is always "higher = more uncertain".

    Parameters
    ----------
    distinct_rows : bool, default=False
        Skip rows identical to one already in the batch, as :class:`MarginQuery` does by
        default (there ``True``); ``least_confident`` and ``entropy`` keep ``False``.
    """

    kernel_score: ClassVar[str] = "confidence"
    kernel_largest: ClassVar[bool] = False

    def __init__(self, distinct_rows: bool = False) -> None:
        self.distinct_rows = distinct_rows

    def _to_uncertainty(self, kernel_scores: np.ndarray) -> np.ndarray:
        """Kernel scores as "higher = more uncertain": as they are when a larger kernel
        score is more uncertain (entropy), else ``1 - score`` (confidence, margin)."""
        return kernel_scores if self.kernel_largest else 1.0 - kernel_scores

    def uncertainty(self, proba: np.ndarray) -> np.ndarray:
        """Uncertainty of each row of a probability matrix (higher = ask first)."""
        from pseudolabel import kernels

        summary = kernels.summarize(proba, entropy=self.kernel_score == "entropy")
        values = getattr(summary, self.kernel_score)
        return self._to_uncertainty(np.asarray(values, dtype=np.float64))

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        context = as_query_context(context)
        return _score_pool(
            context, X_pool, lambda chunk: self.uncertainty(context.predict_proba(chunk))
        )

    def query(
        self, context: Any, X_pool: Any, n: int, *, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        from pseudolabel import kernels

        context = as_query_context(context)
        n, total, mask = _query_args(n, X_pool, exclude)
        available = _n_available(total, mask)
        if n == 0 or available == 0:
            return _no_rows()
        if not isinstance(self.distinct_rows, (bool, np.bool_)):
            raise ParameterError(f"distinct_rows must be True or False, got {self.distinct_rows!r}")
        k = min(n, available)
        while True:
            top = kernels.TopK(
                k, score=self.kernel_score, largest=self.kernel_largest  # type: ignore[arg-type]
            )
            for start, chunk, part in _pool_chunks(context, X_pool, mask):
                top.push(context.predict_proba(chunk), start, exclude=part)
            sel = top.result()
            indices = np.asarray(sel.indices, dtype=np.int64)
            scores = self._to_uncertainty(np.asarray(sel.scores, dtype=np.float64))
            if not self.distinct_rows:
                return indices, scores
            order, n_distinct = distinct_first(take_rows(X_pool, indices))
            if n_distinct >= n or k >= available:
                order = order[:n]
                return indices[order], scores[order]
            k = min(available, 4 * k)  # too many repeats: look further down the ranking


class LeastConfidentQuery(UncertaintyQuery):
    """Ask about the rows whose most probable class has the lowest probability.

    Score: ``1 - max_c p_c``.
    """

    name: ClassVar[str] = "least_confident"
    kernel_score: ClassVar[str] = "confidence"
    kernel_largest: ClassVar[bool] = False


class MarginQuery(UncertaintyQuery):
    """Ask about the rows with the smallest gap between the two most probable classes.

    Score: ``1 - (p_(1) - p_(2))`` (Scheffer, Decomain and Wrobel, 2001, "Active Hidden
    Markov Models for Information Extraction").

    Parameters
    ----------
    distinct_rows : bool, default=True
        A batch never holds two rows with identical features: a row equal to one already in
        the batch is skipped and the next-smallest margin taken (the skipped copies fill the
        batch only when the pool has too few distinct rows). Identical rows have identical
        margins, so without this a batch can be ``n`` copies of one input on tables with
        repeated feature vectors; see :mod:`pseudolabel.strategies.distinct_rows`. With
        ``False``, the ``n`` smallest margins, ties broken by the lower row index. Costs
        nothing extra when the ``n`` smallest margins are distinct rows; otherwise the pool is
        scored again with a 4x wider candidate list until ``n`` distinct rows are found.
    """

    name: ClassVar[str] = "margin"
    kernel_score: ClassVar[str] = "margin"
    kernel_largest: ClassVar[bool] = False

    def __init__(self, distinct_rows: bool = True) -> None:
        self.distinct_rows = distinct_rows


class EntropyQuery(UncertaintyQuery):
    """Ask about the rows whose predicted distribution has the highest entropy (nats).

    Score: ``-sum_c p_c log p_c``.
    """

    name: ClassVar[str] = "entropy"
    kernel_score: ClassVar[str] = "entropy"
    kernel_largest: ClassVar[bool] = True


# ---------------------------------------------------------------------------------------------
# query-by-committee
# ---------------------------------------------------------------------------------------------


def vote_entropy(member_proba: np.ndarray) -> np.ndarray:
    """Vote entropy of a committee (Dagan & Engelson 1995), in nats.

    Parameters
    ----------
    member_proba : ndarray of shape (n_members, n_rows, n_classes)
        Each member's class probabilities, columns in the same class order.

    Returns
    -------
    ndarray of float64, shape (n_rows,)
        ``-sum_c V_c log V_c`` with ``V_c`` the fraction of members whose most probable
        class (lowest index on ties) is ``c``.
    """
    P = np.asarray(member_proba)
    if P.ndim != 3:
        raise InputError(f"member_proba must be 3-d (members, rows, classes), got {P.shape}")
    n_members, n, n_classes = P.shape
    votes = np.argmax(P, axis=2)  # (M, N)
    counts = np.zeros((n, n_classes), dtype=np.float64)
    np.add.at(counts, (np.broadcast_to(np.arange(n), votes.shape), votes), 1.0)
    frac = counts / n_members
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(frac > 0, np.log(np.where(frac > 0, frac, 1.0)), 0.0)
    return np.maximum(-(frac * logs).sum(axis=1), 0.0)


def kl_disagreement(member_proba: np.ndarray) -> np.ndarray:
    """Mean KL divergence of each member from the committee consensus (McCallum & Nigam 1998).

    Parameters
    ----------
    member_proba : ndarray of shape (n_members, n_rows, n_classes)

    Returns
    -------
    ndarray of float64, shape (n_rows,)
        ``mean_m KL(P_m || mean_m' P_m')`` in nats, with ``0 log 0 = 0``.
    """
    P = np.asarray(member_proba, dtype=np.float64)
    if P.ndim != 3:
        raise InputError(f"member_proba must be 3-d (members, rows, classes), got {P.shape}")
    consensus = P.mean(axis=0)  # (N, C)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(P > 0, P / consensus[None, :, :], 1.0)
        terms = np.where(P > 0, P * np.log(ratio), 0.0)
    return np.maximum(terms.sum(axis=2).mean(axis=0), 0.0)


_DISAGREEMENTS = {"vote_entropy": vote_entropy, "kl_divergence": kl_disagreement}


class QueryByCommittee(QueryStrategy):
    """Query-by-committee: ask where a committee of models disagrees most.

    The committee is rebuilt each time the learner's model changes (``context.model_version``)
    and fitted on the learner's labeled rows (``context.X_labeled``, ``context.y_labeled``) with
    the full label space (``classes=context.classes``), so every member's probabilities have the
    same
    columns.

    Parameters
    ----------
    committee : sequence of backends, estimators or backend names, optional
        Explicit committee members (e.g. ``["sklearn", "lightgbm"]`` or
        ``[LogisticRegression(), RandomForestClassifier()]``), each converted with
        :func:`pseudolabel.plugins.as_backend` and fitted on all labeled rows. ``None``
        (default): ``n_members`` bootstrap replicas of the learner's own backend
        (``context.new_member``).
    n_members : int, default=5
        Committee size for bootstrap committees (ignored with an explicit ``committee``).
    disagreement : {"vote_entropy", "kl_divergence"}, default="vote_entropy"
        How disagreement is measured.
    random_state : int, numpy Generator or None, default=None
        Seed of the bootstrap samples; ``None`` uses the learner's generator (``context.rng``).

    Notes
    -----
    Bootstrap samples are stratified: each class present in the labeled rows is resampled
    with replacement within itself, so no member ever misses a class the learner knows.
    """

    name: ClassVar[str] = "qbc"

    def __init__(
        self,
        committee: Sequence[Any] | None = None,
        *,
        n_members: int = 5,
        disagreement: str = "vote_entropy",
        random_state: Any = None,
    ) -> None:
        self.committee = committee
        self.n_members = n_members
        self.disagreement = disagreement
        self.random_state = random_state

    def _validate(self) -> None:
        if self.disagreement not in _DISAGREEMENTS:
            raise ParameterError(
                f"disagreement must be one of {sorted(_DISAGREEMENTS)}, got {self.disagreement!r}"
            )
        if self.committee is None:
            if (
                isinstance(self.n_members, bool)
                or not isinstance(self.n_members, Integral)
                or self.n_members < 2
            ):
                raise ParameterError(
                    f"n_members must be an integer >= 2, got {self.n_members!r}"
                )
        elif isinstance(self.committee, (str, bytes)) or len(self.committee) < 2:
            raise ParameterError(
                "committee must be a sequence of at least 2 backends, estimators or backend "
                f"names, got {self.committee!r}"
            )

    def members(self, context: Any) -> list[Any]:
        """The fitted committee for the learner's current model (cached per model version)."""
        self._validate()
        context = as_query_context(context)
        X, y = require_labeled(context, "query-by-committee")
        classes = context.classes
        if classes is None:
            raise ParameterError(
                "query-by-committee needs the learner's label space (classes); use it through "
                "pseudolabel.ActiveLearner"
            )
        key = context.model_version
        cached = getattr(self, "_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        from pseudolabel.plugins import as_backend

        fitted = []
        if self.committee is not None:
            for member in self.committee:
                backend = as_backend(member).clone()
                backend.fit(X, y, classes=classes)
                fitted.append(backend)
        else:
            rng = _strategy_rng(self, context)
            groups = [np.flatnonzero(y == c) for c in np.unique(y)]
            for _ in range(int(self.n_members)):
                sample = np.concatenate([rng.choice(g, size=g.shape[0], replace=True) for g in groups])
                sample.sort()
                backend = context.new_member("a bootstrap committee")
                backend.fit(take_rows(X, sample), y[sample], classes=classes)
                fitted.append(backend)
        self._cache = (key, fitted)
        return fitted

    def _member_proba(self, members: list[Any], X: Any, n_classes: int) -> np.ndarray:
        return np.stack([
            check_probabilities(
                backend.predict_proba(X), n_rows=n_rows(X), n_classes=n_classes,
                source=f"committee member {type(backend).__name__}",
            ).astype(np.float64, copy=False)
            for backend in members
        ])

    def _disagreement(
        self, context: QueryContext, members: list[Any], X_chunk: Any
    ) -> np.ndarray:
        n_classes = 0 if context.classes is None else len(context.classes)
        P = self._member_proba(members, context.prepare(X_chunk), n_classes)
        return _DISAGREEMENTS[self.disagreement](P)

    def scores(self, context: Any, X_pool: Any) -> np.ndarray:
        context = as_query_context(context)
        members = self.members(context)
        return _score_pool(
            context, X_pool, lambda chunk: self._disagreement(context, members, chunk)
        )

    def query(
        self, context: Any, X_pool: Any, n: int, *, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        context = as_query_context(context)
        n, total, mask = _query_args(n, X_pool, exclude)
        if n == 0 or _n_available(total, mask) == 0:
            return _no_rows()
        top = _RunningTopN(n)
        members = self.members(context)
        for start, chunk, part in _pool_chunks(context, X_pool, mask):
            top.push(self._disagreement(context, members, chunk), start, part)
        return top.result()


# ---------------------------------------------------------------------------------------------
# registration (the built-in plugin module)
# ---------------------------------------------------------------------------------------------

#: registered name -> (factory, description)
QUERY_STRATEGIES: dict[str, tuple[Any, str]] = {
    "random": (RandomQuery, "uniformly random rows (baseline)"),
    "least_confident": (LeastConfidentQuery, "lowest top-class probability"),
    "margin": (MarginQuery, "smallest gap between the two most probable classes"),
    "entropy": (EntropyQuery, "highest predictive entropy"),
    "qbc": (QueryByCommittee, "query-by-committee (vote entropy or KL divergence)"),
    "vote_entropy": (
        functools.partial(QueryByCommittee, disagreement="vote_entropy"),
        "query-by-committee, vote entropy",
    ),
    "kl_divergence": (
        functools.partial(QueryByCommittee, disagreement="kl_divergence"),
        "query-by-committee, mean KL divergence from the consensus",
    ),
}


@hookimpl
def pseudolabel_add_strategies(registry: Any) -> None:
    """Register the built-in query strategies (``kind="query"``)."""
    for name, (factory, description) in QUERY_STRATEGIES.items():
        registry.add_strategy(name, factory, kind="query", description=description)

