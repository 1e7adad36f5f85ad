"""The label-store interface: :class:`LabelStore`, its records and the id helpers.

:class:`LabelStore` is the small interface the commands (and any loop) code against; an
implementation (:class:`~pseudolabel.store.sqlite.SQLiteStore`, or a server database) only
has to honour it. What a store records, per label: the item id, the label, its ``source``
(``seed``, ``human`` or ``pseudo``), the ``annotator``, the ``round``, a ``confidence``, the
``model_version`` that asked (human) or produced (pseudo) it, and the time.

Human labels always win: an item's *current* label is its latest seed or human label, and a
pseudo-label only when no human has labeled it. A label is never deleted, but it can be
*retracted* (:meth:`LabelStore.retract_labels`, an annotation deleted in Label Studio): a
retracted record no longer counts anywhere, so the item's current label falls back to its
latest remaining one, or the item goes back to the pool; the record and its retraction stay
in the history (``history(include_retracted=True)``).
"""

from __future__ import annotations

import abc
import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pseudolabel.exceptions import InputError, ParameterError

__all__ = [
    "SOURCES",
    "GOLD_SOURCES",
    "LabelStore",
    "ImportResult",
    "BatchInfo",
    "RetractResult",
    "StoreStatus",
    "as_text_ids",
]

#: Where a label came from.
SOURCES: tuple[str, ...] = ("seed", "human", "pseudo")
#: Sources that count as ground truth (they beat pseudo-labels).
GOLD_SOURCES: tuple[str, ...] = ("seed", "human")

@dataclass(frozen=True)
class ImportResult:
    """What :meth:`LabelStore.add_labels` did.

    Attributes
    ----------
    n_rows : int
        Labels offered.
    n_new : int
        Labels written.
    n_duplicate : int
        Labels already in the store (skipped: importing twice adds nothing).
    n_new_items, n_new_classes : int
        Ids and classes the import added (only when allowed).
    """

    n_rows: int
    n_new: int
    n_duplicate: int
    n_new_items: int = 0
    n_new_classes: int = 0


@dataclass(frozen=True)
class BatchInfo:
    """A batch of rows sent to annotators (see :meth:`LabelStore.record_batch`)."""

    batch_id: str
    round: int
    model_version: str
    n_rows: int


@dataclass(frozen=True)
class CancelResult:
    """What :meth:`LabelStore.cancel_batch` did."""

    batch_id: str
    n_returned: int  # unanswered rows back in the pool
    n_answered: int  # rows of the batch that already had a gold label (kept)


@dataclass(frozen=True)
class RetractResult:
    """What :meth:`LabelStore.retract_labels` did."""

    n_retracted: int  # label records retracted
    ids: list[str]  # the items they belonged to (each one's current label may have changed)


@dataclass
class StoreStatus:
    """Counts for ``pseudolabel status``."""

    n_items: int
    n_labeled: int
    round: int
    n_batches: int
    n_pending: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> source -> n
    n_records: dict[str, int] = field(default_factory=dict)  # source -> label records
    n_conflicts: int = 0
    n_retracted: int = 0  # retracted label records (not in n_records)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.n_items,
            "labeled": self.n_labeled,
            "round": self.round,
            "batches": self.n_batches,
            "pending": self.n_pending,
            "current_labels_by_class_and_source": self.counts,
            "label_records_by_source": self.n_records,
            "items_with_conflicting_human_labels": self.n_conflicts,
            "retracted_label_records": self.n_retracted,
        }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def as_text_ids(ids: Any, what: str = "id") -> list[str]:
    """Ids (or class labels) as stripped text; integral floats become integers ("3.0" -> "3")."""
    import pandas as pd

    arr = np.asarray(ids)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    series = pd.Series(arr, dtype=object if arr.dtype.kind in "OUS" else arr.dtype)
    missing = series.isna().to_numpy()
    if missing.any():
        raise InputError(f"missing {what} at row {int(np.flatnonzero(missing)[0])}")
    if arr.dtype.kind == "f":
        frac = arr != np.floor(arr)
        if frac.any():
            row = int(np.flatnonzero(frac)[0])
            raise InputError(f"{what} {arr[row].item()!r} at row {row} is not an integer or a string")
        series = pd.Series(arr.astype(np.int64))
    elif arr.dtype.kind == "O" and pd.api.types.infer_dtype(series) not in ("string", "integer"):
        # only mixed columns need the per-value look (all-text ids, the usual case, skip it)
        is_float = series.map(lambda v: isinstance(v, float)).to_numpy()
        if is_float.any():
            vals = series[is_float].astype(float)
            bad = vals != np.floor(vals)
            if bad.any():
                row = int(np.flatnonzero(is_float)[np.flatnonzero(bad.to_numpy())[0]])
                raise InputError(f"{what} {arr[row]!r} at row {row} is not an integer or a string")
            values = series.to_numpy(dtype=object, copy=True)
            values[is_float] = vals.astype(np.int64).astype(object)  # Python ints: "4", not "4.0"
            series = pd.Series(values, dtype=object)
    text = series.astype(str).str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        raise InputError(f"empty {what} at row {int(np.flatnonzero(empty)[0])}")
    return text.tolist()


def _check_source(source: str) -> str:
    if source not in SOURCES:
        raise ParameterError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    return source


class LabelStore(abc.ABC):
    """Where labels and their provenance live; what the loop and the commands code against.

    Ids and class labels are stored as text. Implementations must make every method that
    writes a single transaction (all or nothing) and safe under concurrent writers.
    """

    # -- items and classes ----------------------------------------------------------------------

    @abc.abstractmethod
    def add_items(self, ids: Sequence[Any]) -> int:
        """Register item ids (rows that may be labeled); returns how many were new."""

    @abc.abstractmethod
    def n_items(self) -> int:
        """Number of registered items."""

    @abc.abstractmethod
    def classes(self) -> list[str]:
        """The label space, in the order classes were added."""

    @abc.abstractmethod
    def add_classes(self, classes: Sequence[Any]) -> int:
        """Declare classes; returns how many were new."""

    # -- labels ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def add_labels(
        self,
        ids: Sequence[Any],
        labels: Sequence[Any],
        *,
        source: str,
        annotator: str | Sequence[str | None] | None = None,
        round: Any = None,
        confidence: Any = None,
        model_version: Any = None,
        allow_new_ids: bool = False,
        allow_new_classes: bool = False,
        origin: str | None = None,
        reassert: bool = False,
        row_origins: Sequence[str] | None = None,
    ) -> ImportResult:
        """Record labels, all or nothing.

        Parameters
        ----------
        ids, labels : sequences of the same length
        source : {"seed", "human", "pseudo"}
        annotator : str or sequence of str, optional
            Who labeled (one for all rows, or one per row).
        round, confidence, model_version : scalar or sequence, optional
            Per-row or shared provenance. ``round`` defaults to the store's current round.
        allow_new_ids : bool, default=False
            Register unknown ids instead of rejecting the import (seeding).
        allow_new_classes : bool, default=False
            Declare unknown classes instead of rejecting the import (seeding).
        origin : str, optional
            Where the labels came from (a file name), kept in the import log.
        reassert : bool, default=False
            A label this source and annotator gave the item before is normally a duplicate
            (importing a file twice adds nothing). With ``reassert`` it is a change of mind:
            when it is not the item's current label, it becomes the latest again (its record
            moves to the end of the history, with the time of the re-assertion). Label
            Studio's annotation updates use it (``benign`` -> ``malignant`` -> ``benign``).

        Raises
        ------
        InputError
            Unknown ids or classes (with the first few named), mismatched lengths, or one id
            given two different labels in the same import. Nothing is written.
        """

    @abc.abstractmethod
    def current_labels(self, *, include_pseudo: bool = False) -> Any:
        """One row per labeled item (pandas DataFrame): its winning label and provenance.

        Gold labels (seed, human) beat pseudo-labels; among gold labels the latest wins.
        Columns: ``id, label, source, annotator, round, confidence, model_version, created_at``.
        """

    @abc.abstractmethod
    def history(self, ids: Sequence[Any] | None = None, *,
                include_retracted: bool = False) -> Any:
        """Every label record (of ``ids``) that is not retracted, oldest first, as a pandas
        DataFrame; with ``include_retracted`` the retracted ones too, with two more columns,
        ``retracted_at`` and ``retracted_by`` (None for a standing record)."""

    def retract_labels(self, origins: Sequence[str], *, reason: str) -> RetractResult:
        """Retract every standing label record whose ``origin`` is one of ``origins``.

        All or nothing; each retracted record gets a retraction record (when, ``reason``).
        Origins that match nothing are no error (an annotation the store never got). A
        retracted label that is imported again stands again, as the item's latest label.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot retract labels")

    # -- rounds and batches -----------------------------------------------------------------------

    @abc.abstractmethod
    def current_round(self) -> int:
        """The round of the latest batch (0 before any)."""

    @abc.abstractmethod
    def record_batch(
        self,
        ids: Sequence[Any],
        *,
        scores: Any,
        guesses: Any,
        model_version: str,
        before_commit: Callable[[BatchInfo], None] | None = None,
    ) -> BatchInfo:
        """Record rows sent to annotators: starts a new round and registers the ids.

        ``before_commit(info)`` runs inside the transaction, once the batch's id and round
        are known; if it raises, nothing is recorded. ``pseudolabel query`` writes the batch
        file there, so a batch is never recorded without its file.
        """

    @abc.abstractmethod
    def pending_ids(self) -> list[str]:
        """Ids sent to annotators in a batch that have no gold label yet."""

    @abc.abstractmethod
    def status(self) -> StoreStatus:
        """Counts by source and class."""

    # -- export, cancel, annotators (built on the methods above; stores may do better) ------

    def export_labels(self, *, include_pseudo: bool = False) -> Any:
        """The current labels with their provenance, one row per labeled item.

        The columns of :meth:`current_labels` plus ``origin`` (the file the winning label
        was imported from), ``n_gold`` (seed/human label records of the item) and
        ``conflict`` (its gold records disagree; the latest wins).
        """
        import pandas as pd

        current = self.current_labels(include_pseudo=include_pseudo)
        records = self.history()
        gold = records[records["source"].isin(GOLD_SOURCES)]
        n_gold = gold.groupby("id").size()
        n_labels = gold.groupby("id")["label"].nunique()
        key = ["id", "label", "source", "annotator", "created_at"]
        origin = records.drop_duplicates(key, keep="last")[[*key, "origin"]]
        out = current.merge(origin, on=key, how="left")
        out["n_gold"] = out["id"].map(n_gold).fillna(0).astype("int64")
        out["conflict"] = out["id"].map(n_labels).fillna(0).astype("int64") > 1
        return out.reset_index(drop=True) if len(out) else pd.DataFrame(columns=out.columns)

    def conflicts(self) -> Any:
        """Every seed/human label record of the items whose gold labels disagree, by id
        then time (pandas DataFrame: ``id, label, source, annotator, created_at, origin``)."""
        records = self.history()
        gold = records[records["source"].isin(GOLD_SOURCES)]
        n_labels = gold.groupby("id")["label"].nunique()
        ids = n_labels[n_labels > 1].index
        rows = gold[gold["id"].isin(ids)]
        columns = ["id", "label", "source", "annotator", "created_at", "origin"]
        return rows[columns].sort_values(["id", "created_at"], kind="stable").reset_index(
            drop=True)

    def annotator_counts(self) -> Any:
        """Gold label records per annotator and class (pandas DataFrame: ``annotator, label,
        n``; the empty annotator is ``""``), with the items each annotator labeled in
        conflict with someone (``n_conflicts`` per annotator, repeated on its rows)."""
        import pandas as pd

        records = self.history()
        gold = records[records["source"].isin(GOLD_SOURCES)]
        counts = gold.groupby(["annotator", "label"]).size().rename("n").reset_index()
        n_labels = gold.groupby("id")["label"].nunique()
        conflicted = gold[gold["id"].isin(n_labels[n_labels > 1].index)]
        per = conflicted.groupby("annotator")["id"].nunique()
        counts["n_conflicts"] = counts["annotator"].map(per).fillna(0).astype("int64")
        if not len(counts):
            return pd.DataFrame(columns=["annotator", "label", "n", "n_conflicts"])
        return counts.sort_values(["annotator", "label"]).reset_index(drop=True)

    def cancel_batch(self, batch_id: str) -> CancelResult:
        """Return the unanswered rows of batch ``batch_id`` to the pool.

        Rows of the batch without a gold label stop being pending, so ``query`` may send
        them out again; answered rows and every label stay. Raises :class:`InputError` for
        an unknown batch.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot cancel batches")

    def close(self) -> None:  # noqa: B027 - optional
        """Release the connection."""

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()



def _per_row(value: Any, n: int, what: str, cast: Any) -> list[Any] | None:
    """``None``, a scalar for every row, or one value per row (``None``/NaN kept as None)."""
    import pandas as pd

    if value is None:
        return None
    if np.ndim(value) == 0:
        v = value.item() if isinstance(value, np.generic) else value
        try:
            return [None if _missing(v) else cast(v)] * n
        except (TypeError, ValueError) as exc:
            raise InputError(f"invalid {what}: {exc}") from exc
    series = pd.Series(np.asarray(value, dtype=object).reshape(-1))
    if series.shape[0] != n:
        raise InputError(f"{what} has {series.shape[0]} entries for {n} rows")
    missing = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    try:
        if cast is str:
            converted = series.astype(str)
        else:
            numbers = pd.to_numeric(series.where(~missing, None), errors="raise")
            if cast is int:
                vals = numbers.to_numpy(dtype=np.float64)
                frac = ~missing & (vals != np.floor(np.where(missing, 0, vals)))
                if frac.any():
                    raise ValueError(f"{vals[np.flatnonzero(frac)[0]].item()!r} is not an integer")
                converted = pd.Series(np.where(missing, 0, vals).astype(np.int64))
            else:
                converted = numbers.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid {what}: {exc}") from exc
    out = np.array(converted.to_numpy(dtype=object), dtype=object, copy=True)
    out[missing] = None
    return [v.item() if isinstance(v, np.generic) else v for v in out.tolist()]


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN
    except Exception:
        return False
