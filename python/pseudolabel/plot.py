"""Pictures of what the loops and benchmarks report: self-training rounds, learning curves, gains.

* :func:`plot_rounds`: a fitted ``PseudoLabeler`` or ``SelfTrainingClassifier`` (its
  ``history_``): pseudo-labels selected per class and round (rolled-back rounds hatched),
  thresholds, pseudo-label weights on their own axis, validation score; the title states the
  real share of labeled rows;
* :func:`plot_learning_curve`: an active-learning :class:`~pseudolabel.active.LearningCurve`
  (also ``curve.plot()``);
* :func:`plot_gain`: a benchmark table, the gain of each method over a reference per cell.

Every function returns the matplotlib ``Figure`` (or ``Axes``) and never calls ``show``;
importing this module never changes matplotlib's backend. matplotlib is an optional extra:
``pip install "pseudolabel[plot]"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

try:
    import matplotlib
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
except ImportError as exc:  # pragma: no cover - matplotlib ships with `make`
    raise ImportError(
        'pseudolabel.plot needs matplotlib: pip install "pseudolabel[plot]"'
    ) from exc

__all__ = ["label_fraction_text", "plot_gain", "plot_learning_curve", "plot_rounds"]


def _new_figure(figure: Figure | None, figsize: tuple[float, float]) -> Figure:
    """``figure`` itself, or a new pyplot figure (so ``plt.show()`` shows it)."""
    if figure is not None:
        return figure
    import matplotlib.pyplot as plt  # the backend is chosen by the user, never here

    return plt.figure(figsize=figsize, layout="constrained")


def _colour(i: int) -> Any:
    return matplotlib.colormaps["tab10"](i % 10)


def label_fraction_text(model: Any) -> str:
    """The real share of labeled training rows of a fitted self-training model.

    Read from ``labeled_iter_`` (0 = labeled in ``y``): e.g. ``"9.9% labeled (125 of 1257
    rows)"``; empty when the model has no ``labeled_iter_``.
    """
    labeled_iter = getattr(model, "labeled_iter_", None)
    if labeled_iter is None:
        return ""
    labeled_iter = np.asarray(labeled_iter)
    n_labeled = int(np.sum(labeled_iter == 0))
    n_rows = int(labeled_iter.shape[0])
    return f"{n_labeled / max(n_rows, 1):.1%} labeled ({n_labeled} of {n_rows} rows)"


def _history(model: Any) -> list[Mapping[str, Any]]:
    if isinstance(model, Sequence) and not isinstance(model, str):
        return list(model)
    history = getattr(model, "history_", None)
    if history is None:
        raise ValueError(
            f"plot_rounds needs a fitted model with a history_ (PseudoLabeler, "
            f"SelfTrainingClassifier) or a list of its records, got {type(model).__name__}"
        )
    return list(history)


def plot_rounds(
    model: Any, *, title: str | None = None, figure: Figure | None = None,
    scores: Mapping[str, Sequence[float]] | None = None,
) -> Figure:
    """One figure of a self-training run, a column per round.

    Parameters
    ----------
    model : PseudoLabeler, SelfTrainingClassifier or list of dict
        A fitted model (its ``history_``) or the records themselves (e.g. a bundle's
        ``history.json``).
    title : str, optional
        Start of the title (default: the model's class name); the real share of labeled
        rows (:func:`label_fraction_text`) is appended.
    figure : Figure, optional
        Draw into this figure (e.g. ``matplotlib.figure.Figure()``, outside pyplot); by
        default a new pyplot figure.
    scores : mapping of str to sequence of float, optional
        More per-round values for the score panel (e.g. pseudo-label precision against truth
        a demo knows), one value per record.

    Returns
    -------
    Figure
        Four axes: selected rows per class (stacked bars, rolled-back rounds hatched; the
        legend sits outside the bars), thresholds, pseudo-label sample weights (min / mean /
        max), validation score (rollbacks marked).
    """
    history = _history(model)
    fig = _new_figure(figure, (13, 7.5))
    ax_bars, ax_thr, ax_weight, ax_score = fig.subplots(2, 2).ravel()
    rounds = np.array([int(rec["round"]) for rec in history], dtype=np.int64)
    classes = list(history[0]["selected_per_class"]) if history else []
    rolled_back = np.array([not rec.get("accepted", True) for rec in history], dtype=bool)

    bottom = np.zeros(len(history))
    for i, cls in enumerate(classes):
        counts = np.array([rec["selected_per_class"].get(cls, 0) for rec in history], float)
        bars = ax_bars.bar(rounds, counts, bottom=bottom, color=_colour(i), label=str(cls))
        for bar, back in zip(bars, rolled_back):
            if back:
                bar.set_hatch("//")
                bar.set_alpha(0.45)
        bottom += counts
    handles, labels = ax_bars.get_legend_handles_labels()
    if rolled_back.any():
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//"))
        labels.append("rolled back")
    if handles:  # outside the axes, to the right: never over a bar
        ax_bars.legend(handles, labels, title="class", fontsize=7, ncol=1 + len(labels) // 12,
                       loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax_bars.set(title="pseudo-labels selected per class", xlabel="round", ylabel="rows")

    thresholds = [rec.get("thresholds") for rec in history]
    if any(isinstance(t, (list, tuple)) for t in thresholds):
        per_class = np.array(
            [list(t) if isinstance(t, (list, tuple)) else [np.nan] * len(classes)
             for t in thresholds], dtype=float)
        for i in range(per_class.shape[1]):  # colours as the classes' bars
            ax_thr.plot(rounds, per_class[:, i], marker=".", color=_colour(i))
        ax_thr.set_title("threshold per class (colours as the bars)")
    elif any(t is not None for t in thresholds):
        ax_thr.plot(rounds, [np.nan if t is None else float(t) for t in thresholds],
                    marker="o", color="black")
        ax_thr.set_title("threshold")
    else:
        ax_thr.set_title("threshold")
        ax_thr.text(0.5, 0.5, "the strategy has no threshold", ha="center", va="center",
                    transform=ax_thr.transAxes)
    ax_thr.set(xlabel="round", ylabel="confidence")

    weights = {key: np.array([np.nan if rec["sample_weight"][key] is None
                              else rec["sample_weight"][key] for rec in history], float)
               for key in ("min", "mean", "max")} if history else {}
    if history:
        ax_weight.fill_between(rounds, weights["min"], weights["max"], color="grey", alpha=0.3,
                               label="min - max")
        ax_weight.plot(rounds, weights["mean"], marker="d", color="black", label="mean")
        ax_weight.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                         borderaxespad=0.0)
    ax_weight.set(title="pseudo-label sample weight", xlabel="round", ylabel="weight")

    validation = [rec.get("validation_score") for rec in history]
    if any(v is not None for v in validation):
        val = np.array([np.nan if v is None else v for v in validation], float)
        ax_score.plot(rounds, val, marker="o", label="validation accuracy (out-of-fold)")
        ref = np.array([np.nan if rec.get("reference_score") is None else
                        rec["reference_score"] for rec in history], float)
        ax_score.plot(rounds, ref, ls=":", label="reference (last accepted)")
        if rolled_back.any():
            ax_score.scatter(rounds[rolled_back], val[rolled_back], marker="x", color="red",
                             s=60, zorder=3, label="rolled back")
    elif not scores:
        ax_score.text(0.5, 0.5, "no guardrail: no validation score", ha="center",
                      va="center", transform=ax_score.transAxes)
    for name, values in (scores or {}).items():
        if len(values) != len(history):
            raise ValueError(f"scores[{name!r}] has {len(values)} values for "
                             f"{len(history)} rounds")
        ax_score.plot(rounds, np.asarray(values, dtype=float), marker="s", label=name)
    if ax_score.get_legend_handles_labels()[0]:
        ax_score.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                        borderaxespad=0.0)
    ax_score.set(title="validation score", xlabel="round", ylabel="accuracy", ylim=(0, 1.02))

    for ax in (ax_bars, ax_thr, ax_weight, ax_score):
        if len(rounds):
            ax.set_xticks(rounds)
    name = title if title is not None else type(model).__name__
    fraction = label_fraction_text(model)
    fig.suptitle(f"{name}: {fraction}" if fraction else name)
    return fig


def plot_learning_curve(
    curve: Any, *, x: str = "n_queried", ax: Axes | None = None,
) -> Axes:
    """An active-learning curve: test score against the budget (``x="n_queried"``) or labels.

    With a stopping signal (``curve.agreement``), Cohen's kappa of successive models goes on a
    second y axis; the round where ``run`` stopped is marked. Returns the score's ``Axes``.
    """
    if x not in ("n_queried", "n_labels"):
        raise ValueError(f"x must be 'n_queried' or 'n_labels', got {x!r}")
    if ax is None:
        ax = _new_figure(None, (7, 4.5)).subplots()
    xs = np.asarray(getattr(curve, x), dtype=float)
    if curve.scores is not None:
        ax.plot(xs, curve.scores, marker="o", label="test score")
        ax.set_ylabel("test score")
    else:
        ax.text(0.5, 0.5, "run() got no test set: no scores", ha="center", va="center",
                transform=ax.transAxes)
    if curve.agreement is not None:
        twin = ax.twinx()
        twin.plot(xs, curve.agreement, ls="--", color="grey", label="agreement (kappa)")
        twin.set_ylabel("agreement with the previous model (kappa)")
        twin.set_ylim(-0.05, 1.05)
    if curve.stopped is not None and len(xs):
        ax.axvline(xs[-1], color="red", lw=0.8, ls=":", label=f"stopped: {curve.stopped}")
    ax.set_xlabel("rows queried" if x == "n_queried" else "labels")
    ax.set_title("learning curve")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_gain(
    table: Any, *, methods: Sequence[str], reference: str = "supervised",
    group: str | None = None, limit: float | None = None, unit: str = "points",
    figure: Figure | None = None,
) -> Figure:
    """The gain of each method over ``reference`` per benchmark cell, sorted, one panel each.

    Parameters
    ----------
    table : DataFrame or mapping of str to sequence
        One row per cell; a column per method and one for ``reference`` (and ``group``).
    methods : sequence of str
        The columns to compare with ``reference``.
    group : str, optional
        A column that colours the bars (e.g. the base model).
    limit : float, optional
        A dashed line, e.g. ``-1.0`` for "no cell more than one point below".

    Returns
    -------
    Figure
        One axes per method, titled with the method's mean gain.
    """
    import pandas as pd

    frame = pd.DataFrame(table)
    missing = [c for c in [reference, *methods, *([group] if group else [])]
               if c not in frame.columns]
    if missing:
        raise ValueError(f"plot_gain: the table has no column {missing[0]!r} "
                         f"(columns: {', '.join(map(str, frame.columns))})")
    fig = _new_figure(figure, (6 * len(methods), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(methods), sharey=True))
    groups = list(dict.fromkeys(frame[group])) if group else []
    for ax, method in zip(axes, methods):
        gain = (frame[method] - frame[reference]).to_numpy(dtype=float)
        order = np.argsort(gain, kind="stable")
        colours = ([_colour(groups.index(g)) for g in frame[group].to_numpy()[order]]
                   if group else ["tab:blue"] * len(order))
        ax.bar(np.arange(len(order)), gain[order], color=colours, width=1.0)
        ax.axhline(0.0, color="black", linewidth=0.8)
        if limit is not None:
            ax.axhline(limit, color="grey", linewidth=0.8, linestyle="--")
        ax.set_title(f"{method}: mean {np.nanmean(gain) if len(gain) else np.nan:+.2f}")
        ax.set_xlabel("cells, sorted by gain")
    axes[0].set_ylabel(f"gain over {reference} ({unit})")
    if groups:
        handles = [Patch(color=_colour(i)) for i in range(len(groups))]
        axes[-1].legend(handles, [str(g) for g in groups], title=group, fontsize=8,
                        loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig
