"""Out-of-bag class probabilities of a fitted bagged forest, without refitting.

Each tree of a bagged forest is grown on a bootstrap sample of the training rows; a row left
out of that sample (about ``e^-1``, 37% of the trees for each row) is "out of bag" for the
tree. Averaging, for every training row, the trees it was out of bag for gives a prediction
for that row from trees that never saw it: an estimate as honest as a held-out one at no
extra fit (Breiman, "Bagging Predictors", Machine Learning 24, 1996; "Random Forests",
Machine Learning 45, 2001). A forest's probabilities on its own training rows are not: every
row is in ~63% of the bootstrap samples, so fully grown trees vote for its training label and
its vote share is close to 1, whatever the label.

scikit-learn's ``RandomForestClassifier`` and ``ExtraTreesClassifier`` with ``bootstrap=True``
keep what is needed, ``estimators_`` and ``estimators_samples_`` (the rows each tree drew),
so this works without ``oob_score=True`` (which computes the same average for every row at
fit time). A ``Pipeline`` ending in such a forest is handled by running its fitted steps
before the forest. Trees average as the forest does: the mean of the trees'
``predict_proba`` (scikit-learn's soft vote).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pseudolabel.exceptions import BackendError

__all__ = ["bagged_forest", "forest_out_of_bag_proba"]


def _forest_types() -> tuple[type, ...]:
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    return (RandomForestClassifier, ExtraTreesClassifier)


def bagged_forest(estimator: Any) -> Any | None:
    """The bagged forest of ``estimator`` (itself, or a ``Pipeline``'s last step), or ``None``.

    Only a scikit-learn random forest or extra-trees classifier with ``bootstrap=True`` has
    out-of-bag rows; any other estimator gives ``None``.
    """
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        if not estimator.steps:
            return None
        estimator = estimator.steps[-1][1]
    if isinstance(estimator, _forest_types()) and bool(getattr(estimator, "bootstrap", False)):
        return estimator
    return None


def _forest_input(estimator: Any, X: Any) -> tuple[Any, Any]:
    """The fitted forest of ``estimator`` and ``X`` as that forest sees it."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    from scipy import sparse

    # the trees were grown on the forest's float32 copy of the input (no column names)
    if sparse.issparse(X):
        return estimator, sparse.csr_matrix(X, dtype=np.float32)
    return estimator, np.asarray(X, dtype=np.float32)


def forest_out_of_bag_proba(
    estimator: Any, X: Any, rows: np.ndarray, n_fit_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-bag probabilities of training rows ``rows`` of a fitted bagged forest.

    Parameters
    ----------
    estimator : fitted forest, or a fitted ``Pipeline`` ending in one
        See :func:`bagged_forest`.
    X : array-like of shape (len(rows), n_features)
        The features of those rows, as they were passed to ``fit``.
    rows : ndarray of int of shape (len(rows),)
        Their positions among the ``n_fit_rows`` rows of the fit, one per row of ``X``
        (checked by :meth:`pseudolabel.backends.base.Backend.out_of_bag_proba`).
    n_fit_rows : int
        How many rows the forest was fitted on.

    Returns
    -------
    proba : ndarray of shape (len(rows), n_classes), float64
        The mean ``predict_proba`` of the trees whose bootstrap sample missed the row;
        zeros where no tree did.
    n_trees : ndarray of int64 of shape (len(rows),)
        How many trees each row was out of bag for (0: no estimate).
    """
    forest, X = _forest_input(estimator, X)
    if bagged_forest(forest) is None:
        raise BackendError(
            f"{type(forest).__name__} is not a bagged forest with bootstrap=True; it has no "
            "out-of-bag rows"
        )
    n_samples = getattr(forest, "_n_samples", n_fit_rows)
    if n_samples != n_fit_rows:
        raise BackendError(
            f"the forest was fitted on {n_samples} rows, not the {n_fit_rows} given"
        )
    n_classes = int(np.asarray(forest.classes_).size)
    proba = np.zeros((rows.size, n_classes), dtype=np.float64)
    n_trees = np.zeros(rows.size, dtype=np.int64)
    in_bag = np.zeros(n_fit_rows, dtype=bool)
    for tree, drawn in zip(forest.estimators_, forest.estimators_samples_):
        in_bag[:] = False
        in_bag[drawn] = True
        out = np.flatnonzero(~in_bag[rows])
        if out.size == 0:
            continue
        proba[out] += tree.predict_proba(X[out])
        n_trees[out] += 1
    covered = n_trees > 0
    proba[covered] /= n_trees[covered, None]
    return proba, n_trees
