"""Probability calibration for pseudo-label selection.

Confidence thresholds assume that a predicted probability of 0.9 is right nine times in ten.
Tree ensembles break that assumption: random-forest vote shares are under-confident on easy
rows and boosted trees are over-confident, so a fixed threshold keeps too few or too many
rows. Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
fixes the scale with a single parameter ``T``:

.. math:: \\tilde p_{ic} = \\frac{p_{ic}^{1/T}}{\\sum_k p_{ik}^{1/T}}

``T`` is fitted by minimising the negative log-likelihood of the true labels of rows the model
did not train on (out-of-fold predictions), so it needs no extra data. ``T > 1`` softens
over-confident probabilities, ``T < 1`` sharpens under-confident ones; the predicted class
never changes. One parameter is what a few dozen labeled rows can support; per-class or
isotonic calibrators over-fit them.

``PseudoLabeler(calibration="temperature")`` refits ``T`` on the guardrail's out-of-fold
predictions after each accepted round (no extra model fits), or on out-of-fold predictions of
labels-only models when the guardrail is off.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from pseudolabel._validation import check_probabilities
from pseudolabel.exceptions import InputError

__all__ = ["TemperatureScaling", "fit_temperature", "apply_temperature", "brier_score",
           "expected_calibration_error"]

_EPS = 1e-12
#: search range of the temperature
T_MIN, T_MAX = 0.05, 20.0


def _check(P: np.ndarray, what: str = "P") -> np.ndarray:
    """``P`` through the one probability check (values too), as float64 with >= 2 columns."""
    P = check_probabilities(P, source=what, check_values=True)
    if P.shape[1] < 2:
        raise InputError(f"{what} must be a 2-d probability matrix with >= 2 columns, "
                         f"got shape {P.shape}")
    return P.astype(np.float64, copy=False)


def apply_temperature(P: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities with temperature ``T``: ``softmax(log(P) / T)`` row by row.

    Parameters
    ----------
    P : ndarray of shape (n_samples, n_classes)
        Probabilities (rows sum to 1).
    temperature : float
        ``T > 0``; 1 leaves ``P`` unchanged.

    Returns
    -------
    ndarray of shape (n_samples, n_classes), float64
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise InputError(f"temperature must be a finite number > 0, got {temperature!r}")
    P = _check(P)
    logits = np.log(np.clip(P, _EPS, None)) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    out /= out.sum(axis=1, keepdims=True)
    return out


def brier_score(P: np.ndarray, y: np.ndarray) -> float:
    """Mean multi-class Brier score: ``mean_i sum_c (P_ic - [y_i = c])^2`` (0 is perfect)."""
    P = _check(P)
    y = _check_labels(P, y)
    onehot = np.zeros_like(P)
    onehot[np.arange(y.size), y] = 1.0
    return float(np.mean(np.sum((P - onehot) ** 2, axis=1)))


def expected_calibration_error(P: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Top-label expected calibration error (Guo et al. 2017) over ``n_bins`` equal-width bins.

    ``sum_b |B_b| / n * |accuracy(B_b) - mean confidence(B_b)|`` where bin ``b`` holds the
    rows whose top probability lies in ``((b - 1) / n_bins, b / n_bins]`` (the first bin
    includes 0). 0 is perfectly calibrated; an over-confident model has a large ECE.
    """
    P = _check(P)
    y = _check_labels(P, y)
    if not isinstance(n_bins, int) or n_bins < 1:
        raise InputError(f"n_bins must be an int >= 1, got {n_bins!r}")
    confidence = P.max(axis=1)
    correct = (np.argmax(P, axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    gap = np.abs(np.bincount(bins, weights=correct, minlength=n_bins)
                 - np.bincount(bins, weights=confidence, minlength=n_bins))
    return float(gap.sum() / y.size)


def _check_labels(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (P.shape[0],):
        raise InputError(f"y has shape {y.shape}, expected ({P.shape[0]},)")
    if y.size == 0:
        raise InputError("a calibration measure needs at least one row")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= P.shape[1]:
        raise InputError(f"y must hold column indices in [0, {P.shape[1]})")
    return y


def _nll(P_log: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = P_log / temperature
    z_max = z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z - z_max).sum(axis=1)) + z_max[:, 0]
    return float(np.mean(log_norm - z[np.arange(y.size), y]))


def fit_temperature(P: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the log-loss of ``softmax(log(P) / T)`` against ``y``.

    Parameters
    ----------
    P : ndarray of shape (n_samples, n_classes)
        Out-of-fold probabilities for rows with known labels.
    y : ndarray of shape (n_samples,)
        Their labels as column indices ``0..n_classes-1``.

    Returns
    -------
    float
        ``T`` in ``[0.05, 20]`` (searched on a log scale).
    """
    P = _check(P)
    y = np.asarray(y)
    if y.shape != (P.shape[0],):
        raise InputError(f"y has shape {y.shape}, expected ({P.shape[0]},)")
    if y.size == 0:
        raise InputError("fit_temperature needs at least one row")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= P.shape[1]:
        raise InputError(f"y must hold column indices in [0, {P.shape[1]})")
    P_log = np.log(np.clip(P, _EPS, None))
    result = minimize_scalar(
        lambda log_t: _nll(P_log, y, float(np.exp(log_t))),
        bounds=(np.log(T_MIN), np.log(T_MAX)),
        method="bounded",
        options={"xatol": 1e-3},
    )
    return float(np.exp(result.x))


class TemperatureScaling:
    """Temperature scaling as a small fit/transform object.

    Parameters
    ----------
    None.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature.

    Examples
    --------
    >>> import numpy as np
    >>> from pseudolabel.calibration import TemperatureScaling
    >>> P = np.array([[0.99, 0.01], [0.98, 0.02], [0.97, 0.03], [0.6, 0.4]])
    >>> y = np.array([0, 1, 0, 1])          # over-confident: half of these are wrong
    >>> ts = TemperatureScaling().fit(P, y)
    >>> ts.temperature_ > 1
    True
    """

    def fit(self, P: np.ndarray, y: np.ndarray) -> TemperatureScaling:
        """Fit ``temperature_`` on probabilities ``P`` and labels ``y`` (column indices)."""
        self.temperature_ = fit_temperature(P, y)
        return self

    def transform(self, P: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        if not hasattr(self, "temperature_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("TemperatureScaling is not fitted; call fit(P, y) first")
        return apply_temperature(P, self.temperature_)

    def __repr__(self) -> str:
        t = getattr(self, "temperature_", None)
        return "TemperatureScaling()" if t is None else f"TemperatureScaling(temperature_={t:.3g})"
