"""``pseudolabel demo``: the self-training engine on scikit-learn's digits with 10% of the labels.

Fits LightGBM on the labeled tenth (supervised only), then ``PseudoLabeler`` with its
recommended defaults on the same rows plus the unlabeled rest, and prints:

* supervised vs self-trained test accuracy;
* the per-round history (rows selected, thresholds, guardrail decision, seconds);
* pseudo-label precision per round, measured against the true labels the demo hid, collected
  through the ``pseudolabel_labels_selected`` plugin event.

Writes ``pseudo_labels.parquet`` (one row per pseudo-labeled training row) and
``demo_rounds.png`` (``pseudolabel.plot.plot_rounds``: per round, selected rows per class,
thresholds, weights, validation score; the title states the real label fraction) into
``--output-dir``. Runs offline on data that ships with scikit-learn; needs LightGBM and
matplotlib (both installed by ``make``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from pseudolabel.io.atomic import replace_path

PARQUET_NAME = "pseudo_labels.parquet"
PNG_NAME = "demo_rounds.png"
#: rows of the example churn table: labeled (churn.csv) and unlabeled (churn_pool.parquet)
CHURN_LABELED, CHURN_POOL = 1000, 2000


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the self-training demo on scikit-learn's digits (LightGBM, 10%% of labels)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--label-fraction", type=float, default=0.10,
                   help="share of the training labels kept (default 0.10)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the data and the models")
    p.add_argument("--output-dir", type=Path, default=Path("."),
                   help="where pseudo_labels.parquet and the PNG go (default: current dir)")
    p.add_argument("--n-estimators", type=int, default=60, help="LightGBM trees (default 60)")
    p.add_argument("--quiet", action="store_true", help="print the summary only")
    p.add_argument("--example-files", type=Path, default=None, metavar="DIR",
                   help="write the files the README's commands use into DIR and exit "
                        "(default: no files, run the demo): digits as labeled.parquet (id, "
                        "f0..f63, y: 600 rows), pool.parquet and pool/a.parquet, "
                        "pool/b.parquet (the other 1197 rows, no y), seed.csv (id,label of "
                        f"20 pool rows); the churn table as churn.csv ({CHURN_LABELED} rows: "
                        "customer_id, 8 numeric, 3 string columns, 5%% missing, churn = "
                        f"stay|churn) and churn_pool.parquet ({CHURN_POOL} more rows, no "
                        "churn)")
    p.set_defaults(func=run)


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: never half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        replace_path(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from pseudolabel import PseudoLabeler
    from pseudolabel.exceptions import InputError, MissingDependencyError
    from pseudolabel.hookspecs import hookimpl
    from pseudolabel.plugins import get_plugin_manager

    if args.example_files is not None:
        written = write_example_files(args.example_files)
        print(f"wrote {', '.join(str(p) for p in written)}")
        return 0
    if not 0.0 < args.label_fraction < 1.0:
        raise InputError(f"--label-fraction must be in (0, 1), got {args.label_fraction}")
    try:
        from lightgbm import LGBMClassifier
    except ImportError as exc:  # pragma: no cover - lightgbm ships with `make`
        raise MissingDependencyError(
            'the demo needs LightGBM: pip install "pseudolabel[lightgbm]"'
        ) from exc
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=args.seed
    )
    lab_idx, _ = train_test_split(
        np.arange(len(y_train)), train_size=args.label_fraction, stratify=y_train,
        random_state=args.seed,
    )
    labeled = np.zeros(len(y_train), dtype=bool)
    labeled[lab_idx] = True
    y_partial = np.where(labeled, y_train, -1)

    def lgbm():
        # min_child_samples=5: LightGBM's default (20) cannot split ~130 labeled rows usefully
        return LGBMClassifier(n_estimators=args.n_estimators, min_child_samples=5, n_jobs=1,
                              verbose=-1, random_state=args.seed)

    t0 = time.perf_counter()
    supervised = lgbm().fit(X_train[labeled], y_train[labeled])
    t_sup = time.perf_counter() - t0
    acc_sup = float(np.mean(supervised.predict(X_test) == y_test))

    # observe the engine through its plugin events: every selection, with the true labels
    precision_by_run: dict[tuple[str, int], tuple[int, float]] = {}

    class PrecisionObserver:
        @hookimpl
        def pseudolabel_labels_selected(self, selection):
            truth = y_train[selection.indices]
            precision_by_run[selection.strategy, selection.round] = (
                len(selection), float(np.mean(selection.labels == truth))
            )

    pm = get_plugin_manager()
    observer = PrecisionObserver()
    pm.register(observer, name="demo-precision-observer")
    try:
        t0 = time.perf_counter()
        model = PseudoLabeler(lgbm(), random_state=args.seed).fit(X_train, y_partial)
        t_st = time.perf_counter() - t0
    finally:
        pm.unregister(observer)
    acc_st = float(np.mean(model.predict(X_test) == y_test))
    # the rounds of the run the model kept (strategy="auto" runs a portfolio of them)
    kept_runs = {rec.get("strategy") or "" for rec in model.history_}
    precision_by_round = {round_: value for (name, round_), value in precision_by_run.items()
                          if name in kept_runs}

    pseudo = model.labeled_iter_ > 0
    n_pseudo = int(pseudo.sum())
    precision = float(np.mean(model.transduction_[pseudo] == y_train[pseudo])) if n_pseudo \
        else float("nan")

    strategy = model.strategy if isinstance(model.strategy, str) else type(model.strategy).__name__
    print(f"pseudolabel demo: digits, LightGBM ({args.n_estimators} trees), "
          f"{labeled.sum()} labeled / {(~labeled).sum()} unlabeled / {len(y_test)} test rows")
    kept_strategy = getattr(model, "strategy_", None)
    kept_note = f" (kept: {kept_strategy})" if kept_strategy and kept_strategy != strategy else ""
    print(f"PseudoLabeler defaults: strategy={strategy!r}{kept_note}, "
          f"guardrail={model.guardrail_!r}")
    print()
    print(f"  {'model':<34}{'test accuracy':>14}{'seconds':>10}")
    print(f"  {'supervised (labels only)':<34}{acc_sup:>14.3f}{t_sup:>10.1f}")
    print(f"  {'self-trained (PseudoLabeler)':<34}{acc_st:>14.3f}{t_st:>10.1f}")
    kept = f"precision {precision:.3f}" if n_pseudo else "the guardrail rolled every round back"
    print(f"  pseudo-labels kept: {n_pseudo} rows, {kept} "
          f"(termination: {model.termination_condition_})")

    if not args.quiet:
        print()
        print(f"  {'round':>5}{'selected':>10}{'precision':>11}{'threshold':>11}"
              f"{'weight':>8}{'val acc':>9}{'ref acc':>9}{'val brier':>11}  {'decision':<12}"
              f"{'s':>6}")
        for rec in model.history_:
            n_sel, prec = precision_by_round.get(rec["round"], (0, float("nan")))
            thr = rec["thresholds"]
            if isinstance(thr, list):
                thr_s = f"{np.mean(thr):.3f}*"
            else:
                thr_s = "-" if thr is None else f"{thr:.3f}"
            fmt = (lambda v, w, p=3: f"{'-':>{w}}" if v is None else f"{v:>{w}.{p}f}")
            print(f"  {rec['round']:>5}{rec['n_selected']:>10}{prec:>11.3f}{thr_s:>11}"
                  f"{fmt(rec['sample_weight']['mean'], 8, 2)}"
                  f"{fmt(rec['validation_score'], 9)}{fmt(rec['reference_score'], 9)}"
                  f"{fmt(rec['validation_brier'], 11, 4)}  {rec['decision']:<12}"
                  f"{rec['seconds']:>6.1f}")
        print("  (* mean of the per-class thresholds; weight: mean pseudo-label sample weight)")

    parquet_path = out_dir / PARQUET_NAME
    _write_parquet(parquet_path, model, y_train, pseudo)
    png_path = out_dir / PNG_NAME
    _write_png(png_path, model, precision_by_round,
               f"PseudoLabeler on digits, LightGBM ({args.n_estimators} trees)")
    print()
    print(f"wrote {parquet_path} ({n_pseudo} rows) and {png_path}")
    return 0


def write_example_files(directory: Path) -> list[Path]:
    """scikit-learn's digits and the churn table as the files the README's commands run on
    (see ``--example-files``)."""
    import pandas as pd
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(X / 16.0, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.insert(0, "id", np.arange(len(y), dtype=np.int64))
    labeled, pool = frame.iloc[:600].assign(y=y[:600]), frame.iloc[600:]
    directory = Path(directory)
    (directory / "pool").mkdir(parents=True, exist_ok=True)
    files = {
        directory / "labeled.parquet": labeled,
        directory / "pool.parquet": pool,
        directory / "pool" / "a.parquet": pool.iloc[:600],
        directory / "pool" / "b.parquet": pool.iloc[600:],
    }
    for path, part in files.items():
        _atomic_write(path, lambda tmp, part=part: part.to_parquet(tmp, index=False))
    seed = pd.DataFrame({"id": pool["id"].to_numpy()[:20], "label": y[600:620]})
    seed_path = directory / "seed.csv"
    _atomic_write(seed_path, lambda tmp: seed.to_csv(tmp, index=False))
    return [*files, seed_path, *write_churn_files(directory)]


def write_churn_files(directory: Path, *, seed: int = 0) -> list[Path]:
    """The churn table (:func:`pseudolabel.datasets.churn_frame`) as ``churn.csv`` (labeled,
    empty cells for missing values) and ``churn_pool.parquet`` (more rows, no ``churn``)."""
    from pseudolabel.datasets import churn_frame

    frame = churn_frame(CHURN_LABELED + CHURN_POOL, seed=seed)
    labeled = frame.iloc[:CHURN_LABELED]
    pool = frame.iloc[CHURN_LABELED:].drop(columns="churn")
    csv_path, pool_path = Path(directory) / "churn.csv", Path(directory) / "churn_pool.parquet"
    _atomic_write(csv_path, lambda tmp: labeled.to_csv(tmp, index=False))
    _atomic_write(pool_path, lambda tmp: pool.to_parquet(tmp, index=False))
    return [csv_path, pool_path]


def _write_parquet(path: Path, model, y_true: np.ndarray, pseudo: np.ndarray) -> None:
    import pandas as pd

    rows = np.flatnonzero(pseudo)
    frame = pd.DataFrame({
        "row": rows.astype(np.int64),
        "pseudo_label": model.transduction_[rows].astype(np.int64),
        "confidence": model.pseudo_confidence_[rows],
        "round": model.labeled_iter_[rows].astype(np.int64),
        "true_label": y_true[rows].astype(np.int64),
    })
    frame["correct"] = frame["pseudo_label"] == frame["true_label"]
    _atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _write_png(path: Path, model, precision_by_round, title: str) -> None:
    """``plot_rounds`` of the model, with pseudo-label precision against the hidden labels."""
    from matplotlib.figure import Figure  # outside pyplot: no backend is chosen or changed

    from pseudolabel.plot import plot_rounds

    precision = [precision_by_round.get(rec["round"], (0, np.nan))[1] for rec in model.history_]
    fig = plot_rounds(model, title=title, figure=Figure(figsize=(13, 7.5), layout="constrained"),
                      scores={"pseudo-label precision (truth)": precision})
    _atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
