"""Which columns of a table are features, their kinds and a categorical column's categories.

A :class:`FeatureSchema` is decided once, on the training table, and recorded in the model
bundle; ``label`` and ``query`` encode their chunks with it (:mod:`pseudolabel.features.encode`),
so a column means the same thing at every entry point. Numeric columns (integers, floats,
booleans, decimals, all-null) are numbers; string and dictionary (pandas ``category``)
columns are categorical, with their categories recorded: the dictionary's own categories for
a dictionary column, the sorted distinct values for a string column. An empty or blank
string is a missing value (a CSV's empty cell), never a category.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pseudolabel.exceptions import InputError, PseudolabelWarning

__all__ = [
    "NUMERIC",
    "CATEGORICAL",
    "FeatureColumn",
    "FeatureSchema",
    "choose_features",
    "infer_schema",
    "match_features",
    "looks_like_id",
    "parse_column_list",
    "column_kind",
]

NUMERIC = "numeric"
CATEGORICAL = "categorical"
_KINDS = (NUMERIC, CATEGORICAL)
#: a row id by its name: ``id``, ``uuid``, ``guid``, or a name ending in ``_id`` / ``-id`` /
#: ``.id`` / `` id`` (same for uuid, guid), any case
_ID_NAME = re.compile(r"^(.*[_\-. ])?(id|uuid|guid)$", re.IGNORECASE)


@dataclass(frozen=True)
class FeatureColumn:
    """One feature column: its name, kind and (categorical) recorded categories."""

    name: str
    kind: str
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == CATEGORICAL:
            out["categories"] = list(self.categories)
        return out


@dataclass(frozen=True)
class FeatureSchema:
    """The feature columns a model was trained on, in its column order.

    Attributes
    ----------
    columns : tuple of FeatureColumn
    """

    columns: tuple[FeatureColumn, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def categorical(self) -> list[FeatureColumn]:
        return [c for c in self.columns if c.kind == CATEGORICAL]

    @property
    def is_numeric(self) -> bool:
        """True when every column is numeric (the model takes a float64 matrix)."""
        return not self.categorical

    @classmethod
    def numeric(cls, names: Sequence[str]) -> FeatureSchema:
        """A schema of numeric columns only (bundles written before schemas were recorded)."""
        return cls(tuple(FeatureColumn(str(n), NUMERIC) for n in names))

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, spec: Any, *, where: str = "bundle manifest") -> FeatureSchema:
        """The schema recorded by :meth:`to_dict`; :class:`InputError` if malformed."""
        try:
            items = spec["columns"]
            columns = []
            for item in items:
                name, kind = item["name"], item["kind"]
                if not isinstance(name, str) or kind not in _KINDS:
                    raise ValueError(item)
                cats = item.get("categories", []) if kind == CATEGORICAL else []
                if not all(isinstance(c, str) for c in cats):
                    raise ValueError(item)
                columns.append(FeatureColumn(name, kind, tuple(cats)))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: malformed feature schema ({exc!r})") from exc
        return cls(tuple(columns))

    def describe(self) -> str:
        n_cat = len(self.categorical)
        return (f"{len(self.columns)} features ({len(self.columns) - n_cat} numeric, "
                f"{n_cat} categorical)")


def parse_column_list(text: str | Sequence[str] | None) -> list[str] | None:
    """``"a,b , c"`` -> ``["a", "b", "c"]``; a list passes through; None stays None."""
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [str(n).strip() for n in items]
    if not names or any(not n for n in names):
        raise InputError(f"a column list must name columns separated by commas, got {text!r}")
    return names


def looks_like_id(name: str) -> bool:
    """Whether a column name reads as a row id (``id``, ``customer_id``, ``user-id``, ``uuid``)."""
    return bool(_ID_NAME.match(name.strip()))


def _unknown(name: str, names: Sequence[str], option: str, where: str) -> InputError:
    close = difflib.get_close_matches(name, list(names), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else f"; columns: {list(names)}"
    return InputError(f"{where}: {option} column {name!r} not found{hint}")


def choose_features(names: Sequence[str], *, where: str, target: str | None = None,
                    id_column: str | None = None, features: Sequence[str] | None = None,
                    exclude: Sequence[str] | None = None, warn_ids: bool = True) -> list[str]:
    """The feature columns of a table with columns ``names``, in file order.

    ``features`` (default: every column) minus ``exclude``, never the target or id column.
    Unknown names raise :class:`InputError` naming the column, the file and close matches;
    a column named like a row id (``id``, ``*_id``) used as a feature gets a
    :class:`PseudolabelWarning` (pass ``id_column`` or exclude it).
    """
    names = [str(n) for n in names]
    reserved = {c for c in (target, id_column) if c is not None}
    for option, given in (("--features", features), ("--exclude", exclude)):
        for name in given or ():
            if name not in names:
                raise _unknown(name, names, option, where)
    if features is not None:
        clash = [c for c in features if c in reserved]
        if clash:
            what = "target" if clash[0] == target else "id"
            raise InputError(f"{where}: --features names the {what} column {clash[0]!r}")
        dupes = sorted({c for c in features if list(features).count(c) > 1})
        if dupes:
            raise InputError(f"{where}: --features names column {dupes[0]!r} more than once")
        chosen = [c for c in names if c in set(features)]
    else:
        chosen = [c for c in names if c not in reserved]
    dropped = set(exclude or ())
    chosen = [c for c in chosen if c not in dropped]
    if not chosen:
        raise InputError(f"{where}: no feature columns left (columns: {names})")
    if warn_ids:
        for c in chosen:
            if looks_like_id(c):
                warnings.warn(
                    f"{where}: column {c!r} looks like a row id but is used as a feature; "
                    f"pass --id-column {c} (or --exclude {c}) if it is one",
                    PseudolabelWarning, stacklevel=2,
                )
    return chosen


def match_features(names: Sequence[str], expected: Sequence[str], *, where: str,
                   target: str | None = None, id_column: str | None = None,
                   features: Sequence[str] | None = None,
                   exclude: Sequence[str] | None = None) -> list[str]:
    """Check that ``features`` / ``exclude`` over a table's columns ``names`` select exactly
    the ``expected`` feature columns (a model's); return them in ``expected`` order.

    The selection is :func:`choose_features`'s (never the target or id column), so an unknown
    name is the same error; a selection that differs from ``expected`` raises
    :class:`InputError` naming the missing and the extra columns and ``where``.
    """
    chosen = choose_features(names, where=where, target=target, id_column=id_column,
                             features=features, exclude=exclude, warn_ids=False)
    missing = [c for c in expected if c not in chosen]
    extra = [c for c in chosen if c not in set(expected)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))} (the model needs them)")
        if extra:
            parts.append(f"extra {', '.join(map(repr, extra))} (the model was not trained "
                         "on them)")
        raise InputError(f"{where}: the columns selected by --features/--exclude are not the "
                         f"model's features: {'; '.join(parts)}")
    return list(expected)


def column_kind(type_: pa.DataType) -> str | None:
    """``NUMERIC``, ``CATEGORICAL`` or None (a type no model takes) for an Arrow type."""
    if (pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_boolean(type_)
            or pa.types.is_decimal(type_) or pa.types.is_null(type_)):
        return NUMERIC
    if pa.types.is_dictionary(type_):
        return CATEGORICAL if column_kind(type_.value_type) is not None else None
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return CATEGORICAL
    return None


def _categories(column: pa.ChunkedArray) -> tuple[str, ...]:
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        seen: dict[str, None] = {}
        for chunk in column.chunks:
            for value in chunk.dictionary.to_pylist():
                if value is not None and str(value).strip():
                    seen.setdefault(str(value), None)
        if seen:
            return tuple(seen)
        return ()
    values = pc.unique(column.drop_null()).cast(pa.string()).to_pylist()
    return tuple(sorted(str(v) for v in values if str(v).strip()))


def infer_schema(table: pa.Table, columns: Sequence[str], *, where: str,
                 categories: Mapping[str, Sequence[str]] | None = None) -> FeatureSchema:
    """The schema of ``columns`` of a training ``table``.

    ``categories`` overrides the recorded categories of the named categorical columns.
    A column of a type no model takes (dates, lists, binary) raises :class:`InputError`
    naming the column and the file.
    """
    out = []
    for name in columns:
        col = table.column(name)
        kind = column_kind(col.type)
        if kind is None:
            raise InputError(
                f"{where}: feature column {name!r} has type {col.type}; features must be "
                "numbers, strings or categories (leave it out with --exclude)"
            )
        if kind == CATEGORICAL:
            cats = tuple(categories[name]) if categories and name in categories else \
                _categories(col)
            out.append(FeatureColumn(name, CATEGORICAL, cats))
        else:
            out.append(FeatureColumn(name, NUMERIC))
    return FeatureSchema(tuple(out))
