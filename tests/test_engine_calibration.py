"""Temperature scaling (pseudolabel.calibration) against plain numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pseudolabel.calibration import TemperatureScaling, apply_temperature, fit_temperature
from pseudolabel.exceptions import InputError, ProbabilityError


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


probas = st.integers(1, 30).flatmap(
    lambda n: st.integers(2, 6).flatmap(
        lambda c: arrays(np.float64, (n, c), elements=st.floats(-8, 8)).map(_softmax)
    )
)


@settings(max_examples=60, deadline=None)
@given(P=probas, T=st.floats(0.1, 10))
def test_apply_temperature_matches_numpy(P, T):
    out = apply_temperature(P, T)
    ref = _softmax(np.log(np.clip(P, 1e-12, None)) / T)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    # the predicted class never changes (ties aside)
    top = np.sort(P, axis=1)
    clear = top[:, -1] - top[:, -2] > 1e-9
    np.testing.assert_array_equal(out.argmax(1)[clear], P.argmax(1)[clear])


def test_fit_temperature_recovers_a_known_scale():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 4)) * 2.0
    true_p = _softmax(logits)
    y = (rng.random(4000)[:, None] > np.cumsum(true_p, axis=1)).sum(axis=1)
    overconfident = _softmax(logits * 2.5)  # what an over-confident model reports
    T = fit_temperature(overconfident, y)
    assert T == pytest.approx(2.5, rel=0.1)
    assert TemperatureScaling().fit(true_p, y).temperature_ == pytest.approx(1.0, rel=0.1)


def test_bad_input():
    with pytest.raises(ProbabilityError, match="row 0, column 1"):
        apply_temperature(np.array([[0.5, np.nan]]), 1.0)
    with pytest.raises(InputError, match="temperature"):
        apply_temperature(np.array([[0.5, 0.5]]), 0.0)
    with pytest.raises(InputError, match="column indices"):
        fit_temperature(np.array([[0.5, 0.5]]), np.array([2]))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TemperatureScaling().transform(np.array([[0.5, 0.5]]))
