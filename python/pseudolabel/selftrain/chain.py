"""The fit chain of ``PseudoLabeler``: a training set (labeled rows + a pseudo-set) and its model.

The main chain trains on every labeled row; the guardrail's chains leave a fold out and are
scored on it. Every chain sees the whole pool. This module fits and predicts a chain's model
through its backend (refit from scratch or continued boosting) and holds the rows of a fit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from pseudolabel._compat import safe_indexing
from pseudolabel._validation import copy_strategy
from pseudolabel.exceptions import BackendError, InputError, ParameterError
from pseudolabel.loop.pseudoset import PseudoSet

__all__ = ["Chain", "FitData", "fit_chain", "make_chains", "predict_chain", "predict_pool",
           "stack_rows", "take_rows"]


def is_dataframe(X: Any) -> bool:
    """True for pandas-like frames (``iloc`` and ``columns``)."""
    return hasattr(X, "iloc") and hasattr(X, "columns")


def take_rows(X: Any, rows: np.ndarray) -> Any:
    """Rows of a numpy array, sparse matrix or DataFrame."""
    return safe_indexing(X, rows, axis=0)


def stack_rows(parts: list[Any]) -> Any:
    """Rows of several blocks of one kind, one after the other (empty blocks skipped)."""
    parts = [p for p in parts if p.shape[0] > 0] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    if is_dataframe(parts[0]):
        import pandas as pd

        return pd.concat(parts, axis=0, ignore_index=True)
    if any(sparse.issparse(p) for p in parts):
        return sparse.vstack(parts, format="csr")
    return np.concatenate(parts, axis=0)


@dataclass(frozen=True)
class FitData:
    """What every chain of one fit shares: the rows, the encoded labels, the model prototype.

    ``X_labeled`` / ``X_pool`` are the labeled rows and the pool; ``labeled_rows`` /
    ``pool_rows`` their positions among the training rows; ``y_encoded`` the labels as class
    indices; ``sample_weight`` the user's weights over the training rows (or ``None``).
    """

    X_labeled: Any
    X_pool: Any
    y_encoded: np.ndarray
    labeled_rows: np.ndarray
    pool_rows: np.ndarray
    sample_weight: np.ndarray | None
    n_classes: int
    prototype: Any
    seed: int
    n_more: int
    #: pool probabilities of the labels-only models, shared by the portfolio's members
    initial_predictions: dict[int, tuple[Any, np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False)

    @property
    def pool_weight(self) -> np.ndarray | None:
        """The user's weights of the pool rows, in pool order."""
        return None if self.sample_weight is None else self.sample_weight[self.pool_rows]


@dataclass(eq=False)
class Chain:
    """One self-training run over the labeled rows ``train``, evaluated on ``val``.

    ``train`` and ``val`` index the labeled rows (``val`` may be empty); ``strategy`` is the
    chain's own started strategy; ``backend`` its current model; ``pseudo_set`` the
    pseudo-labels it trains on. Between rounds ``backend`` is the model fitted on ``train``
    + ``pseudo_set`` (the rounds assign both together, or restore both), which
    :func:`predict_pool` relies on to find the rows the model trained on.
    """

    train: np.ndarray
    val: np.ndarray
    strategy: Any
    backend: Any = None
    pseudo_set: PseudoSet = field(default_factory=PseudoSet.empty)

    def state(self) -> tuple[Any, PseudoSet]:
        """What a rolled-back round restores."""
        return self.backend, self.pseudo_set

    def restore(self, state: tuple[Any, PseudoSet]) -> None:
        self.backend, self.pseudo_set = state


def make_chains(
    mode: str, splits: list[tuple[np.ndarray, np.ndarray]] | None, strategy: Any,
    n_labeled: int,
) -> tuple[list[Chain], Chain]:
    """The chains of a fit and its main chain, each with its own copy of ``strategy``.

    ``"cv"``: one chain per fold plus the main chain on every labeled row; ``"holdout"``: the
    main chain trains on the split's training rows; ``"none"``: the main chain only.
    """
    everything, empty = np.arange(n_labeled), np.empty(0, np.int64)
    if mode == "cv" and splits:
        chains = [Chain(train, val, copy_strategy(strategy)) for train, val in splits]
        main = Chain(everything, empty, copy_strategy(strategy))
        return [*chains, main], main
    if mode == "holdout" and splits:
        main = Chain(splits[0][0], splits[0][1], copy_strategy(strategy))
    else:
        main = Chain(everything, empty, copy_strategy(strategy))
    return [main], main


def _seed_backend(backend: Any, seed: int) -> None:
    # backends take their random_state from their own params; a plugin backend may expose
    # set_random_state to be seeded by the fit
    setter = getattr(backend, "set_random_state", None)
    if callable(setter):
        setter(seed)


def fit_chain(data: FitData, chain: Chain, pseudo_set: PseudoSet, *, from_scratch: bool) -> Any:
    """Fit (or continue) the chain's model on its labeled rows + ``pseudo_set``; the new backend.

    The chain's own backend is never modified (continued training works on a copy), so a
    rolled-back round can restore it.
    """
    train = chain.train
    X_parts = [take_rows(data.X_labeled, train)]
    y_parts = [data.y_encoded[train]]
    if pseudo_set.size:
        X_parts.append(take_rows(data.X_pool, pseudo_set.rows))
        y_parts.append(pseudo_set.labels)
    X_train = stack_rows(X_parts)
    y_train = np.concatenate(y_parts)
    labeled_weight = (
        None if data.sample_weight is None else data.sample_weight[data.labeled_rows[train]]
    )
    weights = pseudo_set.training_weights(labeled_weight, train.size, data.pool_weight)
    try:
        if from_scratch or chain.backend is None:
            backend = data.prototype.clone()
            _seed_backend(backend, data.seed)
            fitted = backend.fit(X_train, y_train, sample_weight=weights,
                                 classes=np.arange(data.n_classes))
            return fitted or backend
        backend = copy.deepcopy(chain.backend)
        out = backend.continue_fit(X_train, y_train, sample_weight=weights, n_more=data.n_more)
        return out if out is not None else backend
    except (BackendError, ParameterError, InputError):
        raise
    except ValueError as exc:
        if weights is not None and "sample_weight" in str(exc):
            name = getattr(data.prototype, "name", data.prototype)
            raise BackendError(
                f"backend {name!r} rejected the pseudo-label sample weights: {exc}"
            ) from exc
        raise


def predict_chain(chain: Chain, X_rows: Any) -> np.ndarray:
    """Class probabilities of the chain's model (``Backend.predict_proba`` checks them)."""
    return chain.backend.predict_proba(X_rows)


def predict_pool(data: FitData, chain: Chain, rows: np.ndarray, *, continued: bool) -> np.ndarray:
    """The chain's probabilities of pool rows ``rows``, out of bag where it trained on them.

    A pool row in the chain's pseudo-set is one of its model's training rows, and a model's
    probabilities on its training rows are over-confident: a random forest's trees vote for
    the pseudo-label they were grown on, so a strategy that re-decides the pseudo-set every
    round would keep every earlier pseudo-label, right or wrong. When the backend has
    out-of-bag predictions (``capabilities.out_of_bag``: a bagged forest, Breiman 1996,
    2001) and the model was fitted from scratch on ``train`` + ``pseudo_set``
    (``continued`` is false), those rows get the mean vote of the trees that did not see
    them instead; every other row, and every other model, is predicted as usual.
    """
    proba = predict_chain(chain, take_rows(data.X_pool, rows))
    pseudo = chain.pseudo_set
    can = bool(getattr(getattr(chain.backend, "capabilities", None), "out_of_bag", False))
    if continued or not can or pseudo.size == 0 or rows.size == 0:
        return proba
    order = np.argsort(pseudo.rows, kind="stable")
    found = np.searchsorted(pseudo.rows[order], rows)
    found = np.minimum(found, pseudo.size - 1)
    trained = pseudo.rows[order][found] == rows
    if not trained.any():
        return proba
    # positions among the fit's rows: the labeled rows of the chain, then the pseudo-set
    positions = chain.train.size + order[found[trained]]
    oob, covered = chain.backend.out_of_bag_proba(
        take_rows(data.X_pool, rows[trained]), positions)
    which = np.flatnonzero(trained)[covered]
    proba = proba.copy()
    proba[which] = oob[covered].astype(proba.dtype, copy=False)
    return proba
