"""The guardrail of ``PseudoLabeler``: splits, evaluation, the acceptance test, out-of-fold predictions.

A round is judged on labeled rows its models did not train on: the pooled out-of-fold rows of
``n_folds`` cross-fitted chains (``"cv"``) or a stratified held-out share (``"holdout"``).
Small labeled sets (at most ``LEAVE_ONE_OUT_MAX_ROWS`` rows, or fewer than ``n_folds`` rows
in every class, and at least 2 rows in each class) are judged by leave-one-out chains instead,
so that even 2 labels a class get a guardrail; the cost is then ``n_labeled + 1`` fits a round,
at most ``max(LEAVE_ONE_OUT_MAX_ROWS, (n_folds - 1) * n_classes) + 1``. :func:`accept` is the rule that keeps or rolls back a round; it
asks for stronger evidence when fewer than ``SMALL_EVIDENCE_ROWS`` rows judge it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from pseudolabel import kernels
from pseudolabel.selftrain.chain import Chain, FitData, fit_chain, predict_chain, take_rows

__all__ = ["GUARDRAILS", "Evaluation", "accept", "evaluate", "make_splits",
           "out_of_fold_predictions", "resolve_mode"]

GUARDRAILS = ("auto", "cv", "holdout", "none")
# "auto" guardrail: cross-fitted chains (n_folds + 1 fits a round) up to this many rows in
# all, a held-out split (one fit a round) above, where fits are expensive and labels many
AUTO_CV_MAX_ROWS = 20_000
#: ``"cv"`` on at most this many labeled rows uses leave-one-out chains (n + 1 fits a round;
#: beyond it, stratified folds see every class with 3 or more rows)
LEAVE_ONE_OUT_MAX_ROWS = 12
#: below this many validation rows a round must improve the Brier score, not just hold it
SMALL_EVIDENCE_ROWS = 60

Split = tuple[np.ndarray, np.ndarray]


def resolve_mode(guardrail: object, n_rows: int) -> str:
    """The guardrail mode for a fit on ``n_rows`` rows (labeled + pool)."""
    if guardrail is True:
        guardrail = "auto"
    if guardrail is False or guardrail is None:
        return "none"
    if guardrail == "auto":
        return "cv" if n_rows <= AUTO_CV_MAX_ROWS else "holdout"
    return str(guardrail)


def make_splits(
    mode: str, y_encoded: np.ndarray, n_classes: int, seed: int, *, n_folds: int,
    holdout_fraction: float,
) -> list[Split] | None:
    """Train/validation splits of the labeled rows for ``mode``; ``None`` when too few rows."""
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

    n = y_encoded.size
    counts = np.bincount(y_encoded, minlength=n_classes)
    if mode == "none":
        return None
    if mode == "cv":
        if (n <= LEAVE_ONE_OUT_MAX_ROWS or counts.max() < n_folds) and counts.min() >= 2:
            # leave-one-out: every fold keeps every class, and n + 1 fits stay few
            every = np.arange(n)
            return [(np.delete(every, i), every[i:i + 1]) for i in range(n)]
        if n < 2 * n_folds or counts.max() < n_folds:
            return None
        k = int(min(n_folds, n))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            return [(train, val) for train, val in cv.split(np.zeros(n), y_encoded)]
    n_val = max(int(round(holdout_fraction * n)), n_classes)
    if n - n_val < n_classes or counts.min() < 2:
        return None
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
    return [next(splitter.split(np.zeros(n), y_encoded))]


@dataclass(frozen=True)
class Evaluation:
    """Pooled evaluation of chains on their validation rows.

    ``accuracy`` and ``brier`` (mean multi-class Brier score) over the rows; ``proba`` and
    ``truth`` the predictions and labels (class indices); ``correct`` which rows were right.
    """

    accuracy: float
    brier: float
    proba: np.ndarray
    truth: np.ndarray
    correct: np.ndarray
    ece: float = float("nan")


def evaluate(data: FitData, chains: list[Chain]) -> Evaluation | None:
    """Accuracy and Brier score of the chains' models on their validation rows (pooled)."""
    if not chains:
        return None
    probas, truths = [], []
    for chain in chains:
        probas.append(predict_chain(chain, take_rows(data.X_labeled, chain.val)))
        truths.append(data.y_encoded[chain.val])
    proba = np.concatenate(probas)
    truth = np.concatenate(truths)
    correct = kernels.summarize(proba).label == truth
    onehot = np.zeros_like(proba, dtype=np.float64)
    onehot[np.arange(truth.size), truth] = 1.0
    brier = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    from pseudolabel.calibration import expected_calibration_error

    ece = expected_calibration_error(proba, truth) if proba.shape[1] >= 2 else float("nan")
    return Evaluation(float(np.mean(correct)), brier, proba, truth, correct, ece)


def _paired(correct: np.ndarray, other: np.ndarray) -> tuple[int, float]:
    """``gained - lost`` rows of ``correct`` against ``other``, and its standard error."""
    lost = int(np.sum(other & ~correct))
    gained = int(np.sum(~other & correct))
    return gained - lost, float(np.sqrt(lost + gained))


def accept(
    candidate: Evaluation, reference: Evaluation, baseline: Evaluation, tolerance: float
) -> bool:
    """The guardrail's rule: is a round's out-of-fold evaluation good enough to keep?

    ``reference`` is the last accepted round's evaluation, ``baseline`` the labels-only
    model's. Everything is measured on labeled rows the candidate models did not train on.
    With ``gained``/``lost`` the rows only the candidate / only the other model gets right, a
    difference is *significant* when ``|gained - lost| > sqrt(gained + lost)`` (a paired sign
    test at one standard error). A round is accepted when it loses no row on balance against
    the labels-only model (``gained >= lost``: a round that the evidence puts below the
    labels alone is never kept, however small the loss, so losses cannot compound over
    rounds or hide inside the tolerance) and either

    * its accuracy is significantly above the last accepted round's, or
    * its Brier score is at most ``(1 + tolerance)`` times the last accepted round's. The
      Brier score is a proper scoring rule that moves with every row's probability, so it
      separates rounds on a few dozen rows where accuracy moves in steps of one row.

    On fewer than ``SMALL_EVIDENCE_ROWS`` validation rows one standard error is a row or two,
    so the rule asks for more: no row lost on balance against the last accepted round
    either, and a Brier score strictly below the last accepted round's.
    """
    diff_base, _ = _paired(candidate.correct, baseline.correct)
    diff_ref, se_ref = _paired(candidate.correct, reference.correct)
    if diff_base < 0:
        return False
    if candidate.truth.size < SMALL_EVIDENCE_ROWS:
        return diff_ref >= 0 and candidate.brier < reference.brier - 1e-12
    if diff_ref > se_ref:
        return True
    return candidate.brier <= reference.brier * (1.0 + tolerance) + 1e-12


def out_of_fold_predictions(data: FitData, n_folds: int, seed: int) -> Evaluation | None:
    """Out-of-fold evaluation of labels-only models (for calibration without a guardrail)."""
    from sklearn.model_selection import StratifiedKFold

    y = data.y_encoded
    counts = np.bincount(y, minlength=data.n_classes)
    k = int(min(n_folds, max(2, counts.max())))
    if y.size < 2 * k:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        splits = list(cv.split(np.zeros(y.size), y))
    chains = []
    for train, val in splits:
        chain = Chain(train, val, None)
        chain.backend = fit_chain(data, chain, chain.pseudo_set, from_scratch=True)
        chains.append(chain)
    return evaluate(data, chains)
