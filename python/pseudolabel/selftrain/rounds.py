"""The rounds of ``PseudoLabeler``: one fit's chains, a round of each, the guardrail's verdict.

:func:`run_rounds` runs the self-training rounds of one strategy (one portfolio member) over
the chains set up by ``PseudoLabeler._set_up``: each round every chain predicts the pool and
its strategy decides (:func:`pseudolabel.loop.round.run_round`), the chains refit, and the
guardrail keeps the round, retries it with a smaller batch, or rolls it back. It records the
``history_`` of the estimator it runs for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pseudolabel.loop.records import RoundResult
from pseudolabel.loop.round import run_round, shrink_round
from pseudolabel.selftrain.chain import (
    Chain,
    FitData,
    fit_chain,
    predict_chain,
    predict_pool,
    take_rows,
)
from pseudolabel.selftrain.guardrail import (
    Evaluation,
    accept,
    evaluate,
    out_of_fold_predictions,
)
from pseudolabel.selftrain.history import emit_round, round_record

__all__ = ["FitRun", "chain_round", "initial_predictions", "run_rounds", "temperature_for"]


@dataclass
class FitRun:
    """The state of one ``fit``: the shared data, the chains and the strategy's policy."""

    data: FitData
    chains: list[Chain]
    main: Chain
    eval_chains: list[Chain]
    mode: str
    rebuild: bool
    reinitialize: bool
    continued: bool
    estimator_name: str
    strategy_name: str
    initial: list[Any]
    reference: Evaluation | None = None
    n_accepted: int = 0


def temperature_for(owner: Any, run: FitRun, evaluation: Evaluation | None) -> float | None:
    """Temperature fitted on out-of-fold predictions (``calibration="temperature"``)."""
    if owner.calibration != "temperature":
        return None
    if evaluation is None:
        evaluation = out_of_fold_predictions(run.data, owner.n_folds, run.data.seed)
        if evaluation is None:
            return None
    from pseudolabel.calibration import fit_temperature

    return fit_temperature(evaluation.proba, evaluation.truth)

def initial_predictions(run: FitRun, chain: Chain, rows: np.ndarray) -> np.ndarray:
    """The chain's pool probabilities on ``rows``, computed once for a labels-only model.

    Every portfolio member starts from the same labels-only models (``FitRun.initial``), so
    their first rounds predict the same rows with the same models: the first member's
    predictions are kept (with the model they came from) and copied for the others. Any
    other model predicts afresh, out of bag on the rows it trained on when it can
    (:func:`~pseudolabel.selftrain.chain.predict_pool`).
    """
    if not any(chain.backend is model for model in run.initial):
        return predict_pool(run.data, chain, rows, continued=run.continued)
    cache = run.data.initial_predictions
    hit = cache.get(id(chain.backend))
    if hit is not None and hit[0] is chain.backend and np.array_equal(hit[1], rows):
        return hit[2].copy()
    proba = predict_chain(chain, take_rows(run.data.X_pool, rows))
    cache[id(chain.backend)] = (chain.backend, rows.copy(), proba.copy())
    return proba


def chain_round(
    owner: Any, run: FitRun, chain: Chain, round: int, temperature: float | None
) -> RoundResult:
    """One round of ``chain``: the candidate pseudo-set from its current model.

    Sources that need more than the probabilities (graph propagation, committees) get a
    :class:`~pseudolabel.strategies.base.RoundContext` of the chain's labeled rows, the
    predicted pool rows and a factory of fresh backends.
    """
    data = run.data

    def context(rows: np.ndarray) -> Any:
        from pseudolabel.strategies.base import RoundContext

        labeled_weight = (None if data.sample_weight is None
                          else data.sample_weight[data.labeled_rows[chain.train]])
        return RoundContext(
            X_labeled=take_rows(data.X_labeled, chain.train),
            y_labeled=data.y_encoded[chain.train], X_pool=take_rows(data.X_pool, rows),
            make_member=data.prototype.clone, sample_weight=labeled_weight,
        )

    def predict(rows: np.ndarray) -> np.ndarray:
        proba = initial_predictions(run, chain, rows)
        if temperature is None:
            return proba
        from pseudolabel.calibration import apply_temperature

        return apply_temperature(proba, temperature)

    result = run_round(
        chain.pseudo_set, strategy=chain.strategy, predict=predict,
        n_pool=data.pool_rows.size, n_classes=data.n_classes, round=round,
        rebuild=run.rebuild, predict_all=owner.predict_pool == "all",
        max_per_class=owner.max_pseudo_per_class, context=context,
    )
    if result.stop is None and run.rebuild and result.weights is None and (
        chain.pseudo_set.weights is None and result.pseudo_set.same_labels(chain.pseudo_set)
    ):
        return replace(result, stop="no_change", stop_message="the pseudo-set did not change")
    return result


def run_rounds(owner: Any, run: FitRun, baseline: Evaluation | None) -> None:
    """Self-training rounds until ``max_iter``, no change, a full pool or the guardrail.

    A round the guardrail rejects is retried with a smaller batch (half the rows per
    class of the rejected one, from the same predictions) up to ``max_attempts`` times
    before it counts as rolled back; ``patience`` rolled-back rounds in a row stop. A
    rolled-back round's ``history_`` record reports the strategy's own batch and its
    evaluation, with ``attempts`` the candidates tried.
    """
    reference = baseline
    temperature = temperature_for(owner, run, baseline)
    owner.history_ = []
    owner.n_iter_ = 0
    owner.termination_condition_ = "max_iter"
    n_pool = run.data.pool_rows.size
    if n_pool == 0:
        owner.termination_condition_ = "all_labeled"
    rolled_back = 0
    main_is_judged = any(chain is run.main for chain in run.eval_chains)
    for round in range(1, owner.max_iter + 1) if n_pool else ():
        round_started = time.perf_counter()
        saved = [chain.state() for chain in run.chains]
        first = [chain_round(owner, run, chain, round, temperature) for chain in run.chains]
        main_index = run.chains.index(run.main)
        owner.n_iter_ = round
        if first[main_index].stop is not None:
            for chain, state in zip(run.chains, saved):
                chain.restore(state)
            owner.termination_condition_ = first[main_index].stop
            owner._log(f"round {round}: {first[main_index].stop_message}; stopping")
            owner.n_iter_ = round - 1
            break
        for attempt in range(1, owner.max_attempts + 1):
            share = 0.5 ** (attempt - 1)
            results = first if attempt == 1 else [
                result if result.stop is not None
                else shrink_round(state[1], result, share, rebuild=run.rebuild)
                for result, state in zip(first, saved)
            ]
            main_result = results[main_index]
            for chain, result, state in zip(run.chains, results, saved):
                chain.restore(state)
                if result.stop is None and (chain is not run.main or main_is_judged):
                    chain.backend = fit_chain(run.data, chain, result.pseudo_set,
                                              from_scratch=not run.continued)
            evaluation = evaluate(run.data, run.eval_chains)
            if evaluation is None or reference is None or baseline is None:
                accepted, decision = True, "unchecked"
            else:
                accepted = accept(evaluation, reference, baseline, owner.tolerance)
                decision = "accepted" if accepted else "rolled_back"
            if attempt == 1:
                proposed = (main_result, evaluation)
            if accepted or main_result.n_selected <= 1:
                break
        if accepted and not main_is_judged and main_result.stop is None:
            # the main chain is not scored (cv: the folds judge the round), so it is fitted
            # once, for the attempt that was kept, not for every attempt tried
            run.main.backend = fit_chain(run.data, run.main, main_result.pseudo_set,
                                         from_scratch=not run.continued)
        if not accepted:  # report the strategy's own batch, the one the guardrail judged first
            main_result, evaluation = proposed
        last_reference = reference
        if accepted:
            for chain, result in zip(run.chains, results):
                if result.stop is None:
                    chain.pseudo_set = result.pseudo_set
            if evaluation is not None:
                reference = evaluation
                temperature = temperature_for(owner, run, evaluation)
            rolled_back = 0
            run.n_accepted += 1
        else:
            for chain, state in zip(run.chains, saved):
                chain.restore(state)
            rolled_back += 1
        record = round_record(main_result, owner.classes_, evaluation, last_reference,
                              decision, temperature, time.perf_counter() - round_started,
                              strategy=run.strategy_name, attempts=attempt)
        owner.history_.append(record.as_dict())
        emit_round(record, main_result, owner.classes_, run.data.pool_rows,
                   run.estimator_name)
        owner._log(
            f"{run.strategy_name} round {round}: selected {record.n_selected} "
            f"({record.n_new} new), pseudo-set {record.n_pseudo}, validation "
            f"{'-' if record.validation_score is None else f'{record.validation_score:.4f}'}"
            f" vs {'-' if record.reference_score is None else f'{record.reference_score:.4f}'}"
            f" -> {decision} after {attempt} attempt(s) ({record.seconds:.2f}s)"
        )
        if rolled_back >= owner.patience:
            owner.termination_condition_ = "guardrail"
            break
        if not run.rebuild and run.main.pseudo_set.size == n_pool:
            owner.termination_condition_ = "all_labeled"
            break
    run.reference = reference
