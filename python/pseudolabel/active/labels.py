"""The labels an ``ActiveLearner`` is taught: their checks, and the oracle's answers.

* :func:`label_kind`: numeric or string labels (a learner keeps to one kind);
* :func:`check_known`: every label is one of the known classes (hash lookup, any label type);
* :func:`check_answers`: what an oracle returned for a batch of queried rows, as labels of the
  label space and an "answered" mask (``None``, NaN or a masked entry means it abstained).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError

__all__ = ["check_answers", "check_known", "check_labels", "check_no_missing", "concat_rows",
           "label_kind"]


def label_kind(y: np.ndarray) -> str:
    """``"numeric"`` or ``"string"``: the kind of labels ``y`` holds."""
    if y.dtype.kind in "iubf":
        return "numeric"
    if y.dtype.kind in "OUS" and y.size:
        first = y[0]
        if isinstance(first, (int, float, np.integer, np.floating)) and not isinstance(first, bool):
            return "numeric"
    return "string"


def check_known(y: np.ndarray, classes: np.ndarray, *, what: str, rows: Any = None) -> None:
    """Refuse a label of ``y`` that is not in ``classes``, naming its row."""
    try:
        known = np.isin(y, classes)
    except TypeError:  # labels of mixed types: a hash lookup
        import pandas as pd

        known = pd.Series(y, dtype=object).isin(classes.tolist()).to_numpy(dtype=bool)
    if not known.all():
        pos = int(np.flatnonzero(~known)[0])
        where = f"row {pos}" if rows is None else f"pool row {int(rows[pos])}"
        raise InputError(
            f"{what} has label {y[pos]!r} at {where}, which is not a known class "
            f"(known: {classes.tolist()}); pass classes=[...] to ActiveLearner to declare "
            "the full label space"
        )


def check_no_missing(y: Any, *, what: str) -> None:
    """Refuse a missing label (None, NaN) in the labels being taught, naming its row: a row
    without a label is left out (or, from an oracle, abstained on), never taught."""
    import pandas as pd

    missing = np.asarray(pd.isna(np.asarray(y, dtype=object)), dtype=bool).reshape(-1)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise InputError(f"{what} has a missing label (None/NaN) at row {row}")


def check_labels(
    y: np.ndarray, *, what: str, kind: str | None, classes: np.ndarray | None, taught: Any
) -> np.ndarray:
    """Refuse missing labels, a label kind other than ``kind`` (what the learner was taught so
    far, e.g. ``taught[:3]``), and labels outside ``classes`` (when the space is fixed)."""
    check_no_missing(y, what=what)
    given = label_kind(y)
    if kind is not None and given != kind and y.size:
        raise InputError(
            f"{what} holds {given} labels but the learner was taught {kind} labels so far "
            f"(e.g. {taught[:3].tolist()}); use one label type"
        )
    if classes is not None:
        check_known(y, classes, what=what)
    return y


def concat_rows(a: Any, b: Any) -> Any:
    """Rows of ``a`` followed by rows of ``b`` (``a`` may be ``None``; sparse stays sparse)."""
    if a is None:
        return b
    if hasattr(a, "iloc") and hasattr(b, "iloc"):  # DataFrames keep their dtypes
        import pandas as pd

        return pd.concat([a, b], ignore_index=True)
    if hasattr(a, "tocsr") or hasattr(b, "tocsr"):
        import scipy.sparse as sp

        return sp.vstack([a, b], format="csr")
    return np.concatenate([a, b])


def check_answers(
    answers: Any, indices: np.ndarray, space: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the oracle's answers for the queried pool rows ``indices``.

    Returns the labels (values of ``space``; undefined where not answered) and the answered
    mask.
    """
    import pandas as pd

    if answers is None:
        raise InputError(
            "the oracle returned None; return one label per queried row (None or NaN "
            "for rows it abstains on)"
        )
    missing = None
    if isinstance(answers, np.ma.MaskedArray):
        missing = np.ma.getmaskarray(answers).reshape(-1)
        raw = np.asarray(answers.data).astype(object)
    else:
        if not hasattr(answers, "__array__") and not isinstance(answers, (list, tuple)):
            answers = list(answers)
        raw = np.asarray(answers)
        if raw.dtype.kind != "O":
            raw = raw.astype(object)
    raw = raw.reshape(-1) if raw.ndim > 1 and raw.size == indices.shape[0] else raw
    if raw.ndim != 1 or raw.shape[0] != indices.shape[0]:
        raise InputError(
            f"the oracle returned {raw.shape[0] if raw.ndim else 'a scalar'} labels for "
            f"{indices.shape[0]} queried rows; return exactly one label (or None) per row"
        )
    isna = np.asarray(pd.isna(raw), dtype=bool)
    if missing is not None:
        isna = isna | missing
    ok = ~isna
    given = raw[ok]
    values = np.empty(indices.shape[0], dtype=space.dtype)
    if not given.shape[0]:
        return values, ok
    lookup: dict[Any, int] = {}
    space_list = space.tolist()
    for i, c in enumerate(space_list):
        lookup.setdefault(c, i)
    pos = np.empty(given.shape[0], dtype=np.int64)
    for j, v in enumerate(given.tolist()):  # batch-size loop
        v = v.item() if isinstance(v, np.generic) else v
        try:
            k = lookup.get(v, -1)
        except TypeError:  # unhashable answer
            k = -1
        if k < 0 or (isinstance(v, bool) != isinstance(space_list[k], bool)):
            raise InputError(
                f"the oracle returned label {v!r} for pool row {int(indices[ok][j])}, "
                f"which is not a known class (known: {space.tolist()}); pass "
                "classes=[...] to ActiveLearner to declare the full label space"
            )
        pos[j] = k
    values[ok] = space[pos]
    return values, ok
