"""Duplicate-free margin batches (``MarginQuery(distinct_rows=True)``, the default)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from pseudolabel import ActiveLearner
from pseudolabel.exceptions import ParameterError
from pseudolabel.strategies.distinct_rows import distinct_first, row_keys
from pseudolabel.strategies.query import EntropyQuery, LeastConfidentQuery, MarginQuery


class VectorTable:
    """A 'model' whose probabilities are a fixed function of the whole feature row."""

    def __init__(self, vectors, P, chunk_size=5):
        self.table = {np.asarray(v, dtype=np.float64).tobytes(): p for v, p in zip(vectors, P)}
        self.chunk_size = chunk_size

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float64)
        return np.array([self.table[row.tobytes()] for row in X])


def _reference_batch(X, scores, n, exclude):
    """Plain numpy: rows by score descending then row index; first occurrences of each
    distinct row first, then the repeats, both in that order; the first n."""
    rows = np.flatnonzero(~exclude)
    ranked = rows[np.lexsort((rows, -scores[rows]))]
    _, first_pos = np.unique(X[ranked], axis=0, return_index=True)
    first = np.zeros(len(ranked), dtype=bool)
    first[first_pos] = True
    return np.concatenate([ranked[first], ranked[~first]])[:n]


@st.composite
def pools(draw):
    n_vec = draw(st.integers(1, 6))
    # distinct dyadic gaps: margins are exact in every implementation, so no cross-vector ties
    gaps = draw(st.lists(st.integers(0, 64), min_size=n_vec, max_size=n_vec, unique=True))
    d = np.array(gaps, dtype=np.float64) / 64
    P = np.column_stack([0.5 + d / 2, 0.5 - d / 2])
    swap = np.array(draw(st.lists(st.booleans(), min_size=n_vec, max_size=n_vec)))
    P[swap] = P[swap][:, ::-1]
    vectors = np.column_stack([np.arange(n_vec), np.arange(n_vec) % 2]).astype(np.float64)
    n_rows = draw(st.integers(1, 40))
    which = np.array(draw(st.lists(st.integers(0, n_vec - 1), min_size=n_rows, max_size=n_rows)))
    exclude = np.array(draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows)))
    return vectors, P, which, exclude


@settings(max_examples=80, deadline=None)
@given(pool=pools(), n=st.integers(1, 45), chunk=st.integers(1, 50))
def test_margin_batch_matches_numpy_reference(pool, n, chunk):
    vectors, P, which, exclude = pool
    X = vectors[which]
    model = VectorTable(vectors, P, chunk_size=chunk)
    scores = 1.0 - np.abs(P[which, 0] - P[which, 1])
    idx, got = MarginQuery().query(model, X, n, exclude=exclude)
    expected = _reference_batch(X, scores, n, exclude)
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(got, scores[idx], rtol=0, atol=1e-12)
    # no vector twice while another distinct vector was still available
    n_avail = len(np.unique(X[~exclude], axis=0)) if (~exclude).any() else 0
    assert (len(np.unique(X[idx], axis=0)) if len(idx) else 0) == min(n, n_avail)
    assert len(set(idx.tolist())) == len(idx) == min(n, int((~exclude).sum()))


@settings(max_examples=40, deadline=None)
@given(pool=pools(), n=st.integers(1, 45))
def test_plain_margin_is_the_n_smallest_margins(pool, n):
    vectors, P, which, exclude = pool
    X = vectors[which]
    scores = 1.0 - np.abs(P[which, 0] - P[which, 1])
    idx, _ = MarginQuery(distinct_rows=False).query(VectorTable(vectors, P), X, n, exclude=exclude)
    rows = np.flatnonzero(~exclude)
    np.testing.assert_array_equal(idx, rows[np.lexsort((rows, -scores[rows]))][:n])


def test_default_learner_batch_skips_identical_rows():
    # five copies of each of five inputs; the most uncertain input (x = 1) has the lowest rows
    X = np.repeat(np.array([[1.0], [0.9], [1.2], [0.0], [2.0]]), 5, axis=0)
    # margin from the first batch (the default first batch is TypiClust's, test_typical.py)
    learner = ActiveLearner(LogisticRegression(), cold_start=None, random_state=0)
    learner.fit(np.array([[0.0], [2.0]]), np.array([0, 1]))
    idx = learner.query(X, 4)
    assert len(np.unique(X[idx], axis=0)) == 4  # four different inputs, not four copies of x=1
    assert idx[0] == 0
    plain = MarginQuery(distinct_rows=False).query(learner, X, 4)[0]
    assert plain.tolist() == [0, 1, 2, 3]  # the old behaviour: all copies of x = 1


def test_too_few_distinct_rows_fill_with_repeats_by_margin():
    X = np.repeat(np.array([[1.0], [0.0]]), 6, axis=0)
    learner = ActiveLearner(LogisticRegression(), cold_start=None, random_state=0)
    learner.fit(np.array([[0.0], [2.0]]), np.array([0, 1]))
    idx = learner.query(X, 5)
    assert idx.tolist() == [0, 6, 1, 2, 3]


@pytest.mark.parametrize("kind", ["dense", "frame", "sparse"])
def test_pool_containers(kind):
    X = np.repeat(np.array([[1.0, 0.0], [0.9, 0.0], [0.0, 0.0]]), 3, axis=0)
    learner = ActiveLearner(LogisticRegression(), random_state=0)
    learner.fit(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 1]))
    pool = {"dense": X, "frame": pd.DataFrame(X, columns=["a", "b"]),
            "sparse": sp.csr_matrix(X)}[kind]
    if kind == "frame":
        learner.fit(pd.DataFrame([[0.0, 0.0], [2.0, 0.0]], columns=["a", "b"]), [0, 1])
    idx = learner.query(pool, 3)
    assert sorted(idx.tolist()) == [0, 3, 6]


def test_row_keys_compare_values():
    a = np.array([[0.0, np.nan], [-0.0, np.nan], [0.0, 1.0]])
    k = row_keys(a)
    assert k[0] == k[1] != k[2]
    order, n_distinct = distinct_first(a)
    assert order.tolist() == [0, 2, 1] and n_distinct == 2
    obj = row_keys(np.array([["a", -0.0], ["a", 0.0], ["b", float("nan")]], dtype=object))
    assert obj[0] == obj[1] != obj[2]


def test_params_and_errors():
    assert MarginQuery().get_params() == {"distinct_rows": True}
    assert LeastConfidentQuery().distinct_rows is False and EntropyQuery().distinct_rows is False
    with pytest.raises(ParameterError, match="distinct_rows"):
        MarginQuery(distinct_rows="yes").query(
            VectorTable([[0.0]], [[0.5, 0.5]]), np.zeros((2, 1)), 1
        )
