"""TopK state saved as plain arrays (``.npz``, no pickle) resumes exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudolabel import kernels


def _proba(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    raw = rng.random((n, c))
    return raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(0, 30), min_size=1,
                                                      max_size=6),
       c=st.integers(2, 4), k=st.one_of(st.none(), st.integers(0, 40)),
       per_class_k=st.one_of(st.none(), st.integers(0, 10)))
def test_npz_round_trip_between_chunks_matches_one_shot_select(seed, sizes, c, k, per_class_k):
    if k is None and per_class_k is None:
        k = 5
    rng = np.random.default_rng(seed)
    chunks = [_proba(rng, n, c) for n in sizes]
    topk = kernels.TopK(k, per_class_k=per_class_k)
    offset = 0
    for chunk in chunks:
        buffer = io.BytesIO()
        np.savez(buffer, **topk.to_arrays())
        buffer.seek(0)
        with np.load(buffer, allow_pickle=False) as saved:
            topk = kernels.TopK.from_arrays(saved)
        topk.push(chunk, offset)
        offset += len(chunk)
    every_row = np.concatenate(chunks)
    one_shot = kernels.select(every_row, k=k,
                              per_class_k=None if per_class_k is None else
                              np.full(c, per_class_k))
    got = topk.result()
    np.testing.assert_array_equal(got.indices, one_shot.indices)
    np.testing.assert_array_equal(got.labels, one_shot.labels)
    np.testing.assert_array_equal(got.scores, one_shot.scores)
    assert topk.n_rows == offset


def test_restored_state_still_refuses_rows_it_has_seen():
    from pseudolabel.exceptions import ParameterError

    P = np.random.default_rng(0).dirichlet(np.ones(3), size=50)
    acc = kernels.TopK(5)
    acc.push(P[:20], 0)
    restored = kernels.TopK.from_arrays(acc.to_arrays())
    with pytest.raises(ParameterError):
        restored.push(P[10:30], 10)
    restored.push(P[20:], 20)
    np.testing.assert_array_equal(restored.result().indices, kernels.select(P, k=5).indices)
