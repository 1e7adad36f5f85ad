"""`pseudolabel.plot` draws what the fitted models report, on real fits (Agg backend)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from pseudolabel import ActiveLearner, PseudoLabeler, SelfTrainingClassifier  # noqa: E402
from pseudolabel.plot import plot_gain, plot_rounds  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600].copy()
    y[np.random.default_rng(0).random(len(y)) > 0.15] = -1
    return X, y


def _bars_extent(ax, renderer):
    return [p.get_window_extent(renderer) for p in ax.patches if p.get_height() > 0]


def test_plot_rounds_pseudolabeler(digits):
    X, y = digits
    model = PseudoLabeler(LogisticRegression(max_iter=300), strategy="threshold",
                          max_iter=3, random_state=0).fit(X, y)
    fig = plot_rounds(model, figure=Figure(figsize=(13, 7.5), layout="constrained"))
    ax_bars, ax_thr, ax_weight, ax_score = fig.axes[:4]
    assert len(fig.axes) == 4
    history = model.history_
    # the title states the real share of labeled rows, not a hard-coded 10%
    n_labeled = int((y != -1).sum())
    assert f"{n_labeled / len(y):.1%} labeled ({n_labeled} of {len(y)} rows)" \
        in fig._suptitle.get_text()
    # stacked bars: one per class and round, heights = selected_per_class
    heights = np.array([p.get_height() for p in ax_bars.patches]).reshape(10, len(history))
    expected = np.array([[rec["selected_per_class"][c] for rec in history] for c in range(10)])
    np.testing.assert_array_equal(heights, expected)
    # the validation line is history's validation_score
    val = ax_score.lines[0].get_ydata()
    np.testing.assert_allclose(val, [np.nan if r["validation_score"] is None
                                     else r["validation_score"] for r in history])
    np.testing.assert_allclose(ax_weight.lines[0].get_ydata(),
                               [r["sample_weight"]["mean"] for r in history])
    np.testing.assert_allclose(ax_thr.lines[0].get_ydata(), [r["thresholds"] for r in history])
    # the legend box does not overlap any bar
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the Agg renderer, for a Figure made outside pyplot
    canvas.draw()
    renderer = canvas.get_renderer()
    legend = ax_bars.get_legend().get_window_extent(renderer)
    assert not any(legend.overlaps(b) for b in _bars_extent(ax_bars, renderer))


def test_plot_rounds_marks_rollbacks_and_self_training_classifier(digits):
    X, y = digits
    clf = SelfTrainingClassifier(LogisticRegression(max_iter=300), threshold=0.9,
                                 max_iter=4).fit(X, y)
    assert len(clf.history_) == clf.n_iter_
    assert sum(r["n_selected"] for r in clf.history_) == int((clf.labeled_iter_ > 0).sum())
    fig = plot_rounds(clf, figure=Figure())
    assert "SelfTrainingClassifier" in fig._suptitle.get_text()
    ax_score = fig.axes[3]
    assert ax_score.texts[0].get_text() == "no guardrail: no validation score"

    records = [dict(r) for r in clf.history_]
    records[1]["accepted"] = False  # a rolled-back round is hatched and in the legend
    fig = plot_rounds(records, figure=Figure())
    hatched = {p.get_x() + p.get_width() / 2 for p in fig.axes[0].patches if p.get_hatch()}
    assert hatched == {records[1]["round"]}
    assert "rolled back" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_learning_curve_plot():
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    seed = order[:6]
    pool = order[6:120]
    # the 6 random seed rows hold 2 of the 3 classes: declare the label space
    learner = ActiveLearner(classes=[0, 1, 2], random_state=0).teach(X[seed], y[seed])
    curve = learner.run(X[pool], lambda i: y[pool][i], budget=30, batch_size=10,
                        X_test=X[order[120:]], y_test=y[order[120:]])
    ax = curve.plot()
    np.testing.assert_allclose(ax.lines[0].get_xdata(), curve.n_queried)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curve.scores)
    assert len(ax.figure.axes) == 2  # the agreement on its own y axis
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_plot_gain_sorted_and_coloured():
    table = {"model": ["a", "b", "a", "b"], "supervised": [50.0, 60.0, 70.0, 80.0],
             "default": [52.0, 59.0, 75.0, 80.5]}
    fig = plot_gain(table, methods=["default"], group="model", limit=-1.0, figure=Figure())
    (ax,) = fig.axes
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [-1.0, 0.5, 2.0, 5.0])
    assert ax.get_title() == "default: mean +1.62"
    with pytest.raises(ValueError, match="no column 'sklearn_st'"):
        plot_gain(table, methods=["sklearn_st"], figure=Figure())


def test_import_keeps_backend_and_missing_matplotlib_names_the_extra(tmp_path):
    code = ("import matplotlib; b = matplotlib.get_backend(); import pseudolabel.plot; "
            "assert matplotlib.get_backend() == b, b")
    subprocess.run([sys.executable, "-c", code], check=True)
    # a matplotlib that cannot be imported: the error names the extra
    (tmp_path / "matplotlib").mkdir()
    (tmp_path / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib')")
    import os

    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", "import pseudolabel.plot"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert 'pip install "pseudolabel[plot]"' in out.stderr
