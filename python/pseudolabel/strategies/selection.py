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
registers each class under its ``name``, exactly like a third-party plugin would. ``flexmatch``,
``freematch`` and ``softmatch`` are defined in :mod:`pseudolabel.strategies.adaptive` and
re-exported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import ParameterError
from pseudolabel.hookspecs import hookimpl
from pseudolabel.strategies.adaptive import FlexMatchStrategy, FreeMatchStrategy, SoftMatchStrategy
from pseudolabel.strategies.base import Decision, SelectionStrategy
from pseudolabel.strategies.base import decision_from_selection as _decision
from pseudolabel.strategies.params import check_int as _check_int
from pseudolabel.strategies.params import check_real as _check_real

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
