"""The fitted estimator's methods on ``SelfTrainingClassifier``: delegation and metadata routing.

``predict``, ``predict_proba``, ``decision_function``, ``predict_log_proba`` and ``score`` call
the fitted ``estimator_`` and exist only when it has them (``available_if``); metadata is routed
to it when scikit-learn's metadata routing is enabled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from pseudolabel._compat import _raise_for_params, _routing_enabled, validate_data

__all__ = ["DelegatesToEstimator"]


def _estimator_has(attr: str):
    """``available_if`` check: the fitted ``estimator_`` (or else ``estimator``) has ``attr``.

    ``getattr`` raises the wrapped estimator's own ``AttributeError``, which ``available_if``
    chains as the cause of its error, so users see which object lacks the method.
    """

    def check(self: Any) -> bool:
        delegate = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        getattr(delegate, attr)
        return True

    return check


class DelegatesToEstimator:
    """Mixin: the methods of the fitted ``estimator_`` (``estimator`` before fitting)."""

    estimator: Any
    estimator_: Any

    def _route(self, method: str, params: dict) -> dict:
        _raise_for_params(params, self, method)
        if _routing_enabled():
            return dict(getattr(process_routing(self, method, **params).estimator, method))
        return {}

    def _check_X(self, X: Any) -> Any:
        return validate_data(
            self, X, accept_sparse=True, ensure_all_finite=False, reset=False
        )

    @available_if(_estimator_has("predict"))
    def predict(self, X: Any, **params: Any) -> np.ndarray:
        """Predict the class of each row of ``X`` with the fitted estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        **params : dict
            Metadata for ``estimator_.predict`` (with metadata routing enabled).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        routed = self._route("predict", params)
        return self.estimator_.predict(self._check_X(X), **routed)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X: Any, **params: Any) -> np.ndarray:
        """Class probabilities of each row of ``X``, columns in ``classes_`` order.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        **params : dict
            Metadata for ``estimator_.predict_proba`` (with metadata routing enabled).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        routed = self._route("predict_proba", params)
        return self.estimator_.predict_proba(self._check_X(X), **routed)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X: Any, **params: Any) -> np.ndarray:
        """The fitted estimator's ``decision_function`` on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        **params : dict
            Metadata for ``estimator_.decision_function`` (with metadata routing enabled).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        routed = self._route("decision_function", params)
        return self.estimator_.decision_function(self._check_X(X), **routed)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X: Any, **params: Any) -> np.ndarray:
        """Log class probabilities of each row of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        **params : dict
            Metadata for ``estimator_.predict_log_proba`` (with metadata routing enabled).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        routed = self._route("predict_log_proba", params)
        return self.estimator_.predict_log_proba(self._check_X(X), **routed)

    @available_if(_estimator_has("score"))
    def score(self, X: Any, y: Any, **params: Any) -> float:
        """The fitted estimator's ``score`` on the labeled rows of ``X``, ``y`` (accuracy for classifiers).

        Rows whose label is the ``unlabeled`` marker (``-1`` by default) are ignored, so that a
        partly labeled test fold scores its labeled rows only.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        **params : dict
            Metadata for ``estimator_.score`` (with metadata routing enabled).

        Returns
        -------
        float

        Raises
        ------
        InputError
            Every row of ``y`` is unlabeled.
        """
        from pseudolabel.model_selection import labeled_subset

        check_is_fitted(self)
        routed = self._route("score", params)
        X, y, weight = labeled_subset(
            self._check_X(X), y, routed.pop("sample_weight", None),
            unlabeled=getattr(self, "unlabeled", -1),
        )
        if weight is not None:
            routed["sample_weight"] = weight
        return self.estimator_.score(X, y, **routed)

    def get_metadata_routing(self) -> MetadataRouter:
        """Metadata routing of this object: everything goes to ``estimator``.

        Returns
        -------
        MetadataRouter
        """
        router = MetadataRouter(owner=self)
        router.add(
            estimator=self.estimator,
            method_mapping=(
                MethodMapping()
                .add(callee="fit", caller="fit")
                .add(callee="score", caller="fit")
                .add(callee="predict", caller="predict")
                .add(callee="predict_proba", caller="predict_proba")
                .add(callee="decision_function", caller="decision_function")
                .add(callee="predict_log_proba", caller="predict_log_proba")
                .add(callee="score", caller="score")
            ),
        )
        return router
