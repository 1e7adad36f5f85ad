"""The built-in self-training selection strategies, and the plugin that registers them.

Every strategy decides from ``proba`` (``n_rows x C``, one column per class index) which rows
to pseudo-label, with which labels and which sample weights. Scoring and selection run through
:mod:`pseudolabel.kernels` (``summarize``, ``select``, ``quantile``); the strategies only turn
their formulas into thresholds, quotas and weights.

=================  ==========  ==========================================================
name               pseudo-set  rule (round ``r`` starts at 1)
=================  ==========  ==========================================================
``threshold``      accumulate  confidence > tau (FixMatch; scikit-learn)
``k_best``         accumulate  the k most confident rows per round (scikit-learn)
``class_balanced`` rebuild     per class, the top p_r * n_c rows predicted c (CBST)
``curriculum``     rebuild     confidence >= percentile 100 - 20r of the pool (Curriculum
                               Labeling); model re-initialised every round
``flexmatch``      rebuild     confidence > tau * M(beta_c), M(x) = x / (2 - x) (FlexMatch)
``freematch``      rebuild     confidence > MaxNorm(p~(c)) * tau_t, EMA statistics (FreeMatch)
``softmatch``      rebuild     every row, weight from a truncated Gaussian (SoftMatch)
``ceal``           rebuild     entropy < delta_0 - d * (r - 1) (CEAL)
``aligned``        inner's     distribution alignment in front of another strategy
=================  ==========  ==========================================================

*accumulate*: rows once pseudo-labeled keep their label; the loop passes them as ``exclude``.
*rebuild*: the whole pool is re-decided every round (the papers' per-batch masks become
per-round masks here, since one round sees the whole pool).

This module is the built-in plugin for selection strategies: ``pseudolabel_add_strategies``
registers each class under its ``name``, exactly like a third-party plugin would.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import ParameterError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.strategies.base import Decision, SelectionStrategy

__all__ = [
    "ThresholdStrategy",
    "KBestStrategy",
    "ClassBalancedStrategy",
    "CurriculumStrategy",
    "FlexMatchStrategy",
    "FreeMatchStrategy",
    "SoftMatchStrategy",
    "CEALStrategy",
    "SELECTION_STRATEGIES",
    "pseudolabel_add_strategies",
]


# ---------------------------------------------------------------------------------------------
# parameter checks
# ---------------------------------------------------------------------------------------------


def _check_real(
    owner: object,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    closed: str = "both",
) -> float:
    """Check that ``value`` is a real number in the interval; return it as float."""
    cls = type(owner).__name__
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(float(value)):
        raise ParameterError(f"{cls}: {name} must be a real number, got {value!r}")
    v = float(value)
    low_ok = low is None or (v >= low if closed in ("both", "left") else v > low)
    high_ok = high is None or (v <= high if closed in ("both", "right") else v < high)
    if not (low_ok and high_ok):
        left = "(" if low is None or closed in ("right", "neither") else "["
        right = ")" if high is None or closed in ("left", "neither") else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ParameterError(f"{cls}: {name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def _check_int(owner: object, name: str, value: Any, low: int) -> int:
    cls = type(owner).__name__
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ParameterError(f"{cls}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_bool(owner: object, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{type(owner).__name__}: {name} must be a bool, got {value!r}")
    return bool(value)


def _decision(sel: Any, *, weights: np.ndarray | None = None, thresholds: Any = None,
              **info: Any) -> Decision:
    """Turn a kernel ``Selection`` into a :class:`Decision`."""
    return Decision(
        sel.indices, sel.labels, weights, thresholds, dict(info), scores=sel.scores
    )


def _per_class_min(labels: np.ndarray, scores: np.ndarray, n_classes: int,
                   empty: float) -> np.ndarray:
    """Lowest selected score per class (``empty`` where a class has no selected row)."""
    out = np.full(n_classes, np.inf)
    np.minimum.at(out, labels, scores)
    out[np.isinf(out)] = empty
    return out


# ---------------------------------------------------------------------------------------------
# fixed rules: threshold, k_best
# ---------------------------------------------------------------------------------------------


class ThresholdStrategy(SelectionStrategy):
    r"""Fixed confidence threshold, as in FixMatch and scikit-learn's ``SelfTrainingClassifier``.

    A row is taken when its confidence (largest class probability) is *strictly* above the
    threshold:

    .. math:: \max_c p_{ic} > \tau

    Pseudo-labels accumulate: rows taken in earlier rounds are kept (passed as ``exclude``).

    Parameters
    ----------
    threshold : float, default=0.75
        :math:`\tau`, in [0, 1). scikit-learn's default is 0.75; FixMatch uses 0.95.

    References
    ----------
    Sohn et al., "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
    Confidence", NeurIPS 2020. Yarowsky, ACL 1995.
    """

    name = "threshold"

    def __init__(self, threshold: float = 0.75) -> None:
        self.threshold = threshold

    def _validate_params(self) -> None:
        _check_real(self, "threshold", self.threshold, 0.0, 1.0, closed="left")

    def _empty_decision(self, proba: np.ndarray, *, round: int) -> Decision:
        return Decision.empty(thresholds=float(self.threshold), reason="empty pool")

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        tau = float(self.threshold)
        sel = kernels.select(proba, threshold=tau, inclusive=False, exclude=exclude)
        return _decision(sel, thresholds=tau)


class KBestStrategy(SelectionStrategy):
    r"""The ``k`` most confident rows per round (scikit-learn's ``criterion="k_best"``).

    Each round takes the ``k`` rows not yet pseudo-labeled with the highest confidence
    :math:`\max_c p_{ic}`, ties broken by the lower row index; all of them when fewer than
    ``k`` are left. Pseudo-labels accumulate.

    Parameters
    ----------
    k : int, default=10
        Rows to add per round, >= 1.

    References
    ----------
    scikit-learn, ``sklearn.semi_supervised.SelfTrainingClassifier`` (``k_best``).
    """

    name = "k_best"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def _validate_params(self) -> None:
        _check_int(self, "k", self.k, 1)

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        sel = kernels.select(proba, k=int(self.k), exclude=exclude)
        lowest = float(sel.scores[-1]) if sel.scores.shape[0] else None
        return _decision(sel, thresholds=lowest, k=int(self.k))


# ---------------------------------------------------------------------------------------------
# class_balanced (CBST)
# ---------------------------------------------------------------------------------------------


class ClassBalancedStrategy(SelectionStrategy):
    r"""Class-balanced self-training with per-class quotas (CBST, Zou et al. 2018).

    In round :math:`r` the portion grows as :math:`p_r = \min(p_0 + (r-1)\,\Delta p,\ p_{max})`.
    Among the :math:`n_c` pool rows predicted as class :math:`c`, the class threshold
    :math:`k_c` is the confidence at rank :math:`\lfloor p_r n_c \rfloor` (descending), so the
    top :math:`\lfloor p_r n_c \rfloor` rows of every class are taken. Normalising by the class
    (rather than one global threshold) keeps easy, frequent classes from crowding out the rest.

    The pseudo-set is rebuilt every round from the whole pool, as in CBST, where pseudo-labels
    are regenerated for the whole target set at each round.

    Parameters
    ----------
    p0 : float, default=0.2
        Portion taken in round 1, in (0, 1]. The paper starts at 20%.
    step : float, default=0.05
        Growth of the portion per round, >= 0. The paper adds 5% per round.
    p_max : float, default=0.5
        Largest portion, in (0, 1]. The paper stops at 50%.

    References
    ----------
    Zou, Yu, Kumar, Wang, "Unsupervised Domain Adaptation for Semantic Segmentation via
    Class-Balanced Self-Training", ECCV 2018.
    """

    name = "class_balanced"
    rebuild = True

    def __init__(self, p0: float = 0.2, step: float = 0.05, p_max: float = 0.5) -> None:
        self.p0 = p0
        self.step = step
        self.p_max = p_max

    def _validate_params(self) -> None:
        p0 = _check_real(self, "p0", self.p0, 0.0, 1.0, closed="right")
        _check_real(self, "step", self.step, 0.0, None)
        p_max = _check_real(self, "p_max", self.p_max, 0.0, 1.0, closed="right")
        if p_max < p0:
            raise ParameterError(
                f"ClassBalancedStrategy: p_max ({p_max:g}) must be >= p0 ({p0:g})"
            )

    def portion(self, round: int) -> float:
        """The portion :math:`p_r` used in ``round``."""
        return min(float(self.p0) + (round - 1) * float(self.step), float(self.p_max))

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        p = self.portion(round)
        summary = kernels.summarize(proba)
        if exclude is None:
            counts = summary.class_counts
        else:
            counts = np.bincount(summary.label[~exclude], minlength=self.n_classes_)
        # floor with a small tolerance so that p * n_c = 3 exactly is not 2.9999999
        quota = np.floor(p * counts.astype(np.float64) + 1e-9).astype(np.int64)
        sel = kernels.select(proba, per_class_k=quota, exclude=exclude)
        thresholds = _per_class_min(sel.labels, sel.scores, self.n_classes_, empty=1.0)
        return _decision(sel, thresholds=thresholds, portion=p, quota=quota)


# ---------------------------------------------------------------------------------------------
# curriculum (Curriculum Labeling)
# ---------------------------------------------------------------------------------------------


class CurriculumStrategy(SelectionStrategy):
    r"""Curriculum Labeling (Cascante-Bonilla et al. 2021).

    In round :math:`r` the threshold is the :math:`(100 - s\,r)`-th percentile of the pool's
    confidence (:math:`s` = ``step``, 20 in the paper), and every row at or above it is
    pseudo-labeled: the most confident 20%, then 40%, ... then the whole pool. The threshold
    comes from :func:`pseudolabel.kernels.quantile` (exact, numpy's "linear" method).

    The pseudo-set is rebuilt from the whole pool every round (``rebuild``) and the model is
    re-initialised before each refit (``reinitialize``), which the paper found essential to
    avoid concept drift from early mistakes.

    Parameters
    ----------
    step : float, default=20.0
        Percentage points added per round, in (0, 100].

    References
    ----------
    Cascante-Bonilla, Tan, Qi, Ordonez, "Curriculum Labeling: Revisiting Pseudo-Labeling for
    Semi-Supervised Learning", AAAI 2021.
    """

    name = "curriculum"
    rebuild = True
    reinitialize = True

    def __init__(self, step: float = 20.0) -> None:
        self.step = step

    def _validate_params(self) -> None:
        _check_real(self, "step", self.step, 0.0, 100.0, closed="right")

    def percentile(self, round: int) -> float:
        """The percentile of the pool confidence used as threshold in ``round`` (>= 0)."""
        return max(100.0 - float(self.step) * round, 0.0)

    def exhausted(self, round: int) -> bool:
        """True once ``round`` has pseudo-labeled the whole pool (percentile 0)."""
        return self.percentile(round) <= 0.0

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        percentile = self.percentile(round)
        if percentile <= 0.0:
            sel = kernels.select(proba, exclude=exclude)
            return _decision(sel, thresholds=0.0, percentile=0.0)
        tau = float(kernels.quantile(proba, percentile / 100.0))
        sel = kernels.select(proba, threshold=tau, inclusive=True, exclude=exclude)
        return _decision(sel, thresholds=tau, percentile=percentile)


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


# ---------------------------------------------------------------------------------------------
# ceal
# ---------------------------------------------------------------------------------------------


class CEALStrategy(SelectionStrategy):
    r"""High-confidence sample selection of Cost-Effective Active Learning (CEAL).

    A row is pseudo-labeled when the entropy of its predicted distribution (in nats) is
    strictly below a threshold that decays linearly with the round:

    .. math::

        H(p_i) = -\sum_c p_{ic} \ln p_{ic} < \delta_r, \qquad
        \delta_r = \delta_0 - d\,(r - 1)

    so the criterion gets stricter as the model improves. The pseudo-set is rebuilt every round
    (CEAL uses high-confidence pseudo-labels for the current round only). Once
    :math:`\delta_r \le 0` nothing is selected.

    The paper's :math:`\delta_0` is tuned for deep-network softmax outputs, which are far more
    peaked than those of classical models; the defaults here (0.1 nats, minus 0.01 per round)
    suit calibrated tabular models. Entropy grows with the number of classes: scale
    :math:`\delta_0` with it.

    Parameters
    ----------
    delta0 : float, default=0.1
        :math:`\delta_0`, entropy threshold of round 1, > 0.
    decay : float, default=0.01
        :math:`d`, decrease per round, >= 0.

    References
    ----------
    Wang, Zhang, Li, Zhang, Lin, "Cost-Effective Active Learning for Deep Image
    Classification", IEEE TCSVT 2016.
    """

    name = "ceal"
    rebuild = True

    def __init__(self, delta0: float = 0.1, decay: float = 0.01) -> None:
        self.delta0 = delta0
        self.decay = decay

    def _validate_params(self) -> None:
        _check_real(self, "delta0", self.delta0, 0.0, None, closed="neither")
        _check_real(self, "decay", self.decay, 0.0, None)

    def _empty_decision(self, proba: np.ndarray, *, round: int) -> Decision:
        return Decision.empty(thresholds=self.delta(round), reason="empty pool")

    def delta(self, round: int) -> float:
        r""":math:`\delta_r` for ``round``."""
        return float(self.delta0) - float(self.decay) * (round - 1)

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        delta = self.delta(round)
        if delta <= 0.0:
            return Decision.empty(thresholds=delta, reason="threshold decayed to 0")
        sel = kernels.select(
            proba, score="entropy", threshold=delta, inclusive=False, largest=False,
            exclude=exclude,
        )
        return _decision(sel, thresholds=delta, score="entropy")


# ---------------------------------------------------------------------------------------------
# registration (the built-in plugin)
# ---------------------------------------------------------------------------------------------

#: name -> class of every built-in selection strategy (``aligned`` is added below).
SELECTION_STRATEGIES: dict[str, type[SelectionStrategy]] = {
    cls.name: cls
    for cls in (
        ThresholdStrategy,
        KBestStrategy,
        ClassBalancedStrategy,
        CurriculumStrategy,
        FlexMatchStrategy,
        FreeMatchStrategy,
        SoftMatchStrategy,
        CEALStrategy,
    )
}


def _summary_line(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


@hookimpl
def pseudolabel_add_strategies(registry: Any) -> None:
    """Register every built-in selection strategy (and the ``aligned`` wrapper)."""
    from pseudolabel.strategies.alignment import Aligned

    for name, cls in {**SELECTION_STRATEGIES, Aligned.name: Aligned}.items():
        registry.add_strategy(name, cls, kind="selection", description=_summary_line(cls))
