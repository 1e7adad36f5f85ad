"""Distribution alignment in front of any selection strategy (ReMixMatch / DebiasPL style).

Self-training drifts toward the classes the model already predicts most: their rows are the
most confident, get pseudo-labeled first, and make the model predict them even more.
Distribution alignment counters this by rescaling the class probabilities before selection so
that the pool's average prediction matches a target distribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pseudolabel import kernels
from pseudolabel.exceptions import ParameterError
from pseudolabel.strategies.base import Decision, SelectionStrategy

__all__ = ["Aligned", "align"]

_TARGETS = ("labeled", "uniform")


def align(proba: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Scale the columns of ``proba`` by ``ratio`` and renormalise every row to sum 1.

    Rows whose scaled mass is 0 (all their mass on classes with ratio 0) are kept unchanged.
    Returns a new float64 array.
    """
    scaled = np.multiply(proba, np.asarray(ratio, dtype=np.float64), dtype=np.float64)
    total = scaled.sum(axis=1)
    empty = total <= 0
    if empty.any():
        scaled[empty] = proba[empty]
        total[empty] = 1.0
    scaled /= total[:, None]
    return scaled


class Aligned(SelectionStrategy):
    r"""Distribution alignment, then another selection strategy.

    Each round, with :math:`\bar p_t` the running mean of the pool's predicted class
    distribution (an EMA with momentum :math:`\lambda` of the column means of ``proba``, the
    first round's mean to start with) and :math:`\pi` the target distribution, every row is
    rescaled and renormalised

    .. math::

        \tilde p_{ic} = \frac{p_{ic}\, (\pi_c / \bar p_{t,c})^{\alpha}}
                             {\sum_{c'} p_{ic'}\, (\pi_{c'} / \bar p_{t,c'})^{\alpha}}

    and the wrapped strategy selects from :math:`\tilde p`. Pseudo-labels are the argmax of the
    aligned probabilities, so a row the model leans toward an over-predicted class for can
    change label.

    - ReMixMatch's distribution alignment: ``target="labeled"`` (the class distribution of
      the labeled rows), ``strength=1``.
    - DebiasPL's adaptive debiasing: ``target="uniform"``; it subtracts
      :math:`\lambda \log \bar p` from the logits, which is ``strength=λ`` here.

    The wrapped strategy's ``rebuild`` and ``reinitialize`` are this strategy's own.

    Parameters
    ----------
    strategy : str or SelectionStrategy, default="threshold"
        The strategy to run on the aligned probabilities: a registered name (looked up in
        :meth:`start` with ``pseudolabel.plugins.make_strategy``) or an instance (cloned).
    target : {"labeled", "uniform"} or array-like of shape (C,), default="labeled"
        :math:`\pi`. An array is normalised to sum 1.
    strength : float, default=1.0
        :math:`\alpha`, >= 0. 0 turns alignment off.
    momentum : float, default=0.0
        :math:`\lambda` of the running mean, in [0, 1). A round sees the whole pool, so the
        default uses this round's mean alone.

    References
    ----------
    Berthelot, Carlini, Cubuk, Kurakin, Sohn, Zhang, Raffel, "ReMixMatch: Semi-Supervised
    Learning with Distribution Matching and Augmentation Anchoring", ICLR 2020.
    Wang, Wu, Lian, Yu, "Debiased Learning from Naturally Imbalanced Pseudo-Labels",
    CVPR 2022.
    """

    name = "aligned"

    def __init__(
        self,
        strategy: Any = "threshold",
        target: Any = "labeled",
        strength: float = 1.0,
        momentum: float = 0.0,
    ) -> None:
        self.strategy = strategy
        self.target = target
        self.strength = strength
        self.momentum = momentum

    # the wrapped strategy decides how the pseudo-set evolves
    @property
    def rebuild(self) -> bool:  # type: ignore[override]
        inner = getattr(self, "strategy_", None) or self._inner_or_none()
        return bool(getattr(inner, "rebuild", False))

    @property
    def reinitialize(self) -> bool:  # type: ignore[override]
        inner = getattr(self, "strategy_", None) or self._inner_or_none()
        return bool(getattr(inner, "reinitialize", False))

    def _inner_or_none(self) -> Any:
        if isinstance(self.strategy, SelectionStrategy):
            return self.strategy
        if isinstance(self.strategy, str):
            try:
                return _resolve(self.strategy)
            except Exception:  # unknown name: reported by start()
                return None
        return None

    def _validate_params(self) -> None:
        from pseudolabel.strategies.params import check_real as _check_real

        if not isinstance(self.strategy, (str, SelectionStrategy)):
            raise ParameterError(
                "Aligned: strategy must be a registered selection strategy name or a "
                f"SelectionStrategy instance, got {self.strategy!r}"
            )
        if isinstance(self.strategy, Aligned):
            raise ParameterError("Aligned: cannot wrap another Aligned strategy")
        if isinstance(self.target, str) and self.target not in _TARGETS:
            raise ParameterError(
                f"Aligned: target must be one of {list(_TARGETS)} or an array of class "
                f"probabilities, got {self.target!r}"
            )
        _check_real(self, "strength", self.strength, 0.0, None)
        _check_real(self, "momentum", self.momentum, 0.0, 1.0, closed="left")

    def _target(self) -> np.ndarray:
        c = self.n_classes_
        if isinstance(self.target, str):
            if self.target == "uniform":
                return np.full(c, 1.0 / c)
            return self.class_prior_.copy()
        target = np.asarray(self.target, dtype=np.float64).reshape(-1)
        if target.shape != (c,):
            raise ParameterError(
                f"Aligned: target has {target.shape[0]} entries, expected one per class ({c})"
            )
        if not np.all(np.isfinite(target)) or np.any(target < 0) or target.sum() <= 0:
            raise ParameterError(
                f"Aligned: target must be finite, non-negative and not all zero, got "
                f"{target.tolist()}"
            )
        return target / target.sum()

    def start(self, **kwargs: Any) -> None:
        """Start this strategy and the wrapped one (same arguments)."""
        super().start(**kwargs)
        if isinstance(self.strategy, str):
            inner = _resolve(self.strategy)
        else:
            inner = self.strategy.clone()
        if isinstance(inner, Aligned):
            raise ParameterError("Aligned: cannot wrap another Aligned strategy")
        inner.start(**kwargs)
        self.strategy_ = inner

    def _start(self) -> None:
        self.target_ = self._target()
        self.running_mean_: np.ndarray | None = None

    def _select(self, proba: np.ndarray, *, round: int, exclude: np.ndarray | None) -> Decision:
        mean = np.asarray(kernels.summarize(proba).class_mean, dtype=np.float64)
        m = float(self.momentum)
        if self.running_mean_ is None:
            self.running_mean_ = mean
        else:
            self.running_mean_ = m * self.running_mean_ + (1.0 - m) * mean
        eps = np.finfo(np.float64).tiny
        ratio = (self.target_ / np.maximum(self.running_mean_, eps)) ** float(self.strength)
        aligned = align(proba, ratio)
        inner = self.strategy_.select(aligned, round=round, exclude=exclude)
        info = dict(inner.info)
        info["alignment_ratio"] = ratio
        return Decision(
            inner.indices, inner.labels, inner.weights, inner.thresholds, info,
            scores=inner.scores,
        )

    def _empty_decision(self, proba: np.ndarray, *, round: int) -> Decision:
        return self.strategy_.select(proba, round=round)

    def exhausted(self, round: int) -> bool:
        """The wrapped strategy's schedule decides."""
        inner = getattr(self, "strategy_", None)
        return bool(inner is not None and inner.exhausted(round))


def _resolve(name: str) -> SelectionStrategy:
    from pseudolabel.plugins import make_strategy

    strategy = make_strategy(name, kind="selection")
    if not isinstance(strategy, SelectionStrategy):
        raise ParameterError(f"Aligned: {name!r} is not a selection strategy")
    return strategy
