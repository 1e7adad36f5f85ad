"""Checks of estimator input that every loop shares: the labels' types."""

from __future__ import annotations

import numpy as np

from pseudolabel.exceptions import InputError


def _kind(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, (str, np.str_)):
        return "str"
    return type(value).__name__


def check_label_types(y_labeled: np.ndarray, what: str = "y") -> None:
    """Refuse labeled rows whose labels mix types (``1`` and ``"a"``): classes cannot be ordered.

    Numbers of any kind (int and float) count as one type. Only object arrays can mix types,
    so typed arrays pass at no cost.
    """
    if y_labeled.dtype.kind != "O" or y_labeled.size == 0:
        return
    kinds: dict[str, object] = {}
    for value in y_labeled:
        kind = _kind(value)
        kinds.setdefault("number" if kind in ("int", "float") else kind, value)
        if len(kinds) > 1:
            shown = ", ".join(f"{k} ({v!r})" for k, v in kinds.items())
            raise InputError(
                f"{what} mixes label types among its labeled rows: {shown}; "
                "use one type for every label (all strings or all numbers)"
            )
