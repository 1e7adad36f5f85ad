"""The self-training strategies whose thresholds or weights adapt to the pool each round.

``flexmatch`` (class-wise thresholds from learning effects), ``freematch`` (self-adaptive
global and class-wise thresholds, EMA statistics) and ``softmatch`` (truncated-Gaussian
sample weights). They are registered with the other built-in selection strategies by
:mod:`pseudolabel.strategies.selection`, which re-exports them.
"""

from __future__ import annotations

import math

import numpy as np

from pseudolabel import kernels
from pseudolabel.strategies.base import Decision, SelectionStrategy
from pseudolabel.strategies.base import decision_from_selection as _decision
from pseudolabel.strategies.params import check_bool as _check_bool
from pseudolabel.strategies.params import check_real as _check_real

__all__ = ["FlexMatchStrategy", "FreeMatchStrategy", "SoftMatchStrategy"]


# ---------------------------------------------------------------------------------------------
# flexmatch
# ---------------------------------------------------------------------------------------------


class FlexMatchStrategy(SelectionStrategy):
    r"""Curriculum pseudo-labeling with class-wise flexible thresholds (FlexMatch).

    Per class :math:`c`, the learning effect :math:`\sigma_c` counts the pool rows predicted
    as :math:`c` with confidence above :math:`\tau`; the threshold is

    .. math::

        \beta_c = \frac{\sigma_c}{\max\left(\max_{c'} \sigma_{c'},\ N - \sum_{c'} \sigma_{c'}
        \right)}, \qquad
        T_c = \max\left(\tau\, \mathcal{M}(\beta_c),\ T_{min}\right), \qquad
        \mathcal{M}(x) = \frac{x}{2 - x}

    and a row predicted :math:`c` is taken when its confidence is strictly above :math:`T_c`.
    The denominator's second term :math:`N - \sum \sigma` (the rows not yet confidently
    predicted) is the paper's threshold warm-up; ``warmup=False`` uses
    :math:`\max_{c'} \sigma_{c'}` alone.

    *Whole-pool adaptation.* FlexMatch keeps, for every unlabeled sample, its latest confident
    prediction, updated batch by batch. Here each round predicts the whole pool, so
    :math:`\sigma_c` is computed exactly from this round's predictions of all ``N`` pool rows
    (rows excluded from selection still count), and the mask is re-decided every round
    (``rebuild``), as FlexMatch's masks are re-decided every batch. Early on, warm-up makes
    the thresholds low, as in the paper; ``min_threshold`` can put a floor under them.

    Parameters
    ----------
    threshold : float, default=0.95
        :math:`\tau`, the upper bound of the thresholds, in (0, 1).
    warmup : bool, default=True
        Use the threshold warm-up denominator.
    min_threshold : float, default=0.0
        :math:`T_{min}`, a floor under every class threshold, in [0, threshold].

    References
    ----------
    Zhang, Wang, Hou, Wu, Wang, Okumura, Shinozaki, "FlexMatch: Boosting Semi-Supervised
    Learning with Curriculum Pseudo Labeling", NeurIPS 2021.
    """

    name = "flexmatch"
    rebuild = True

    def __init__(
        self, threshold: float = 0.95, warmup: bool = True, min_threshold: float = 0.0
    ) -> None:
        self.threshold = threshold
        self.warmup = warmup
        self.min_threshold = min_threshold

    def _validate_params(self) -> None:
        tau = _check_real(self, "threshold", self.threshold, 0.0, 1.0, closed="neither")
        _check_bool(self, "warmup", self.warmup)
        _check_real(self, "min_threshold", self.min_threshold, 0.0, tau)

    def class_thresholds(self, sigma: np.ndarray, n_rows: int) -> np.ndarray:
        """:math:`T_c` from the learning effects ``sigma`` (int array of shape (C,))."""
        sigma = np.asarray(sigma, dtype=np.float64)
        denom = float(sigma.max()) if sigma.size else 0.0
        if self.warmup:
            denom = max(denom, float(n_rows) - float(sigma.sum()))
        beta = sigma / denom if denom > 0 else np.zeros_like(sigma)
        thresholds = float(self.threshold) * beta / (2.0 - beta)
        return np.maximum(thresholds, float(self.min_threshold))

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        confident = kernels.select(proba, threshold=float(self.threshold), inclusive=False)
        sigma = np.bincount(confident.labels, minlength=self.n_classes_)
        thresholds = self.class_thresholds(sigma, proba.shape[0])
        sel = kernels.select(proba, threshold=thresholds, inclusive=False, exclude=exclude)
        return _decision(sel, thresholds=thresholds, learning_effect=sigma)


# ---------------------------------------------------------------------------------------------
# freematch
# ---------------------------------------------------------------------------------------------


class FreeMatchStrategy(SelectionStrategy):
    r"""Self-adaptive global and class-wise thresholds (FreeMatch).

    With momentum :math:`\lambda`, round :math:`t` updates the global threshold and the
    class-wise expectation from the pool's class probabilities :math:`p_i`:

    .. math::

        \tau_t = \lambda \tau_{t-1} + (1 - \lambda) \frac{1}{N} \sum_i \max_c p_{ic},
        \qquad
        \tilde p_t(c) = \lambda \tilde p_{t-1}(c) + (1 - \lambda) \frac{1}{N} \sum_i p_{ic}

    starting from :math:`\tau_0 = \tilde p_0(c) = 1/C`, and takes a row predicted :math:`c`
    when its confidence is strictly above

    .. math:: \tau_t(c) = \frac{\tilde p_t(c)}{\max_{c'} \tilde p_t(c')}\ \tau_t .

    *Momentum.* The paper updates the EMA once per mini-batch with :math:`\lambda = 0.999`. A
    round here sees the whole pool, so the statistics of one round are already exact and the
    EMA only smooths changes between rounds: the default :math:`\lambda = 0.1` keeps 90% of
    the weight on the current round (0 uses the current round alone). Rows excluded from
    selection still count in the statistics; the mask is re-decided every round
    (``rebuild``), as the paper's is every batch.

    Parameters
    ----------
    momentum : float, default=0.1
        :math:`\lambda`, in [0, 1).

    References
    ----------
    Wang, Chen, Heng, Hou, Fan, Wu, Wang, Savvides, Shinozaki, Raj, Schiele, Xie, "FreeMatch:
    Self-adaptive Thresholding for Semi-supervised Learning", ICLR 2023.
    """

    name = "freematch"
    rebuild = True

    def __init__(self, momentum: float = 0.1) -> None:
        self.momentum = momentum

    def _validate_params(self) -> None:
        _check_real(self, "momentum", self.momentum, 0.0, 1.0, closed="left")

    def _start(self) -> None:
        c = self.n_classes_
        self.global_threshold_ = 1.0 / c
        self.class_expectation_ = np.full(c, 1.0 / c)

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        m = float(self.momentum)
        summary = kernels.summarize(proba)
        mean_confidence = float(np.mean(summary.confidence, dtype=np.float64))
        self.global_threshold_ = m * self.global_threshold_ + (1.0 - m) * mean_confidence
        self.class_expectation_ = m * self.class_expectation_ + (1.0 - m) * np.asarray(
            summary.class_mean, dtype=np.float64
        )
        top = float(self.class_expectation_.max())
        scale = self.class_expectation_ / top if top > 0 else np.ones(self.n_classes_)
        thresholds = scale * self.global_threshold_
        sel = kernels.select(proba, threshold=thresholds, inclusive=False, exclude=exclude)
        return _decision(
            sel,
            thresholds=thresholds,
            global_threshold=self.global_threshold_,
            class_expectation=self.class_expectation_.copy(),
        )


# ---------------------------------------------------------------------------------------------
# softmatch
# ---------------------------------------------------------------------------------------------


class SoftMatchStrategy(SelectionStrategy):
    r"""Truncated-Gaussian sample weights (SoftMatch).

    Every pool row gets the weight

    .. math::

        w_i = \begin{cases} 1 & \text{if } \max_c p_{ic} \ge \mu_t \\
        \exp\left(-\frac{(\max_c p_{ic} - \mu_t)^2}{2 \sigma_t^2 / k^2}\right) &
        \text{otherwise} \end{cases}

    where :math:`\mu_t` and :math:`\sigma_t^2` are EMAs (momentum :math:`\lambda`, starting
    from :math:`\mu_0 = 1/C`, :math:`\sigma_0^2 = 1`) of the mean and the unbiased variance of
    the pool's confidence, and :math:`k` = ``n_sigma``. The paper writes the bare
    :math:`2\sigma_t^2`; the authors' released code divides the variance by ``n_sigma**2`` with
    ``n_sigma = 2``, which we follow by default (``n_sigma=1`` is the paper's formula).

    Rows whose weight falls below ``min_weight`` are dropped (they would cost fit time and
    hardly move the model); the equivalent confidence cut is
    :math:`\mu_t - \sigma_t / k\ \sqrt{-2 \ln w_{min}}`, applied through the selection kernel,
    and the weights are returned as ``Decision.weights`` (the loop passes them as
    ``sample_weight``). The weights are re-decided for the whole pool every round
    (``rebuild``); the EMA momentum is small (0.1 by default) since a round sees the whole pool.

    Parameters
    ----------
    momentum : float, default=0.1
        :math:`\lambda`, in [0, 1).
    n_sigma : float, default=2.0
        :math:`k` above, > 0.
    min_weight : float, default=0.01
        Rows with a smaller weight are not taken, in [0, 1]. 0 keeps every row.

    References
    ----------
    Chen, Tao, Wang, Heng, Hou, Zhang, Xie, Shi, Savvides, Shinozaki, Raj, Wu, Schiele,
    "SoftMatch: Addressing the Quantity-Quality Trade-off in Semi-supervised Learning",
    ICLR 2023.
    """

    name = "softmatch"
    rebuild = True

    def __init__(
        self, momentum: float = 0.1, n_sigma: float = 2.0, min_weight: float = 0.01
    ) -> None:
        self.momentum = momentum
        self.n_sigma = n_sigma
        self.min_weight = min_weight

    def _validate_params(self) -> None:
        _check_real(self, "momentum", self.momentum, 0.0, 1.0, closed="left")
        _check_real(self, "n_sigma", self.n_sigma, 0.0, None, closed="neither")
        _check_real(self, "min_weight", self.min_weight, 0.0, 1.0)

    def _start(self) -> None:
        self.mean_ = 1.0 / self.n_classes_
        self.var_ = 1.0

    def weights(self, confidence: np.ndarray) -> np.ndarray:
        """Truncated-Gaussian weights of ``confidence`` under the current ``mean_``/``var_``."""
        confidence = np.asarray(confidence, dtype=np.float64)
        scaled_var = self.var_ / float(self.n_sigma) ** 2
        below = np.minimum(confidence - self.mean_, 0.0)
        if scaled_var <= 0.0:
            return np.where(below < 0.0, 0.0, 1.0)
        return np.exp(-(below**2) / (2.0 * scaled_var))

    def cut(self) -> float:
        """The confidence below which weights fall under ``min_weight``."""
        w_min = float(self.min_weight)
        if w_min <= 0.0:
            return -np.inf
        if w_min >= 1.0 or self.var_ <= 0.0:
            return self.mean_
        sigma = math.sqrt(self.var_) / float(self.n_sigma)
        return self.mean_ - sigma * math.sqrt(-2.0 * math.log(w_min))

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        m = float(self.momentum)
        confidence = np.asarray(kernels.summarize(proba).confidence, dtype=np.float64)
        n = confidence.shape[0]
        mean = float(confidence.mean())
        var = float(confidence.var(ddof=1)) if n > 1 else 0.0
        self.mean_ = m * self.mean_ + (1.0 - m) * mean
        self.var_ = m * self.var_ + (1.0 - m) * var
        cut = self.cut()
        if np.isfinite(cut):
            sel = kernels.select(proba, threshold=cut, inclusive=True, exclude=exclude)
        else:
            sel = kernels.select(proba, exclude=exclude)
        weights = self.weights(sel.scores)
        if float(self.min_weight) > 0.0:
            # the cut is the exact solution of w = min_weight; drop float round-off strays
            keep = weights >= float(self.min_weight) * (1.0 - 1e-9)
            if not keep.all():
                return Decision(
                    sel.indices[keep], sel.labels[keep], weights[keep],
                    max(cut, 0.0), {"mean": self.mean_, "var": self.var_},
                    scores=sel.scores[keep],
                )
        return _decision(
            sel,
            weights=weights,
            thresholds=max(cut, 0.0) if np.isfinite(cut) else 0.0,
            mean=self.mean_,
            var=self.var_,
        )
