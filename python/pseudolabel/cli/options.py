"""Value types for numeric options: a bad number is a usage error (exit 2) naming the option.

Passed as ``type=`` to ``add_argument``; argparse prefixes the message with the option,
``argument --chunk-rows: must be a positive integer, got '0'``.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["ENGINES", "positive_int", "non_negative_int", "finite_float", "column_list"]

#: ``label --engine`` choices (pseudolabel.compiled.ENGINES; listed here so that building
#: the parser imports no compiler code)
ENGINES = ("auto", "native", "compiled")


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _integer(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _integer(text, "a non-negative integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """A finite number (no NaN or infinity)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def column_list(text: str) -> list[str]:
    """Comma-separated column names (``--features a,b,c``), none of them empty."""
    names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise argparse.ArgumentTypeError(
            f"must be column names separated by commas, got {text!r}")
    return names
