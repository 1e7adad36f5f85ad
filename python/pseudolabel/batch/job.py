"""The ``label`` job: its plan, its staging directory, its lock, and its results.

:func:`prepare_job` checks everything that can be checked before a row is scored (the
bundle, the inputs' columns, the options), refuses an existing output or a partial run
without ``overwrite``/``resume``, refuses to resume a run started with other options or
over inputs whose content changed, sets up the staging directory beside the output
(``.NAME.pseudolabel-partial``) and takes the run lock. The :class:`Plan` it returns is
small and picklable: it is all a Dask worker needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pseudolabel import kernels
from pseudolabel.batch.bundle import ModelBundle, load_bundle
from pseudolabel.batch.decisions import DecisionSpec
from pseudolabel.batch.lock import acquire_lock, refuse_if_locked, release_lock
from pseudolabel.batch.state import (
    PARTS_NAME,
    SEGMENT_CHUNKS,
    STATE_VERSION,
    WORK_NAME,
    published_output,
)
from pseudolabel.exceptions import InputError, OutputExistsError, ParameterError
from pseudolabel.io.atomic import atomic_write_json
from pseudolabel.io.tables import InputFile, check_columns, column_type

__all__ = [
    "DEFAULT_CHUNK_ROWS", "RESERVED_COLUMNS", "DEFAULT_ID_NAME", "Plan", "Job", "FileResult",
    "LabelResult", "staging_for", "prepare_job", "cleanup_on_error", "check_selection",
]

DEFAULT_CHUNK_ROWS = 100_000
RESERVED_COLUMNS = ("label", "confidence", "margin", "selected")
DEFAULT_ID_NAME = "row"


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to process one input; small and picklable."""

    bundle_path: str
    trust_pickle: bool
    bundle_checksum: str
    feature_columns: tuple[str, ...]
    id_column: str | None
    id_name: str
    id_type: Any
    label_type: Any
    n_classes: int
    proba_names: tuple[str, ...]
    decision: DecisionSpec
    chunk_rows: int
    staging: str
    segment_chunks: int = SEGMENT_CHUNKS
    only_selected: bool = False  # the output holds the selected rows alone
    #: "native" or the compiler that scores (:mod:`pseudolabel.compiled`), and its cache
    engine: str = "native"
    compile_cache: str | None = None

    @property
    def work(self) -> Path:
        """The work directory (state, TopK states, pending parts, lock)."""
        return Path(self.staging) / WORK_NAME

    @property
    def parts(self) -> Path:
        """The directory of the final parts (published as a dataset output)."""
        return Path(self.staging) / PARTS_NAME

    def schema(self) -> pa.Schema:
        """The output's schema."""
        fields = [pa.field(self.id_name, self.id_type), pa.field("label", self.label_type),
                  pa.field("confidence", pa.float64()), pa.field("margin", pa.float64()),
                  pa.field("selected", pa.bool_())]
        fields += [pa.field(n, pa.float64()) for n in self.proba_names]
        return pa.schema(fields)


@dataclass
class Job:
    """A prepared job: verified bundle, plan, inputs, and whether it resumes earlier work."""

    plan: Plan
    bundle: ModelBundle
    output: Path
    sources: list[Any]
    resumed: bool
    probabilities: bool
    overwrite: bool
    spec: dict[str, Any]
    #: the output is already published (a run killed while cleaning up): only clean up
    published: bool = False


@dataclass
class FileResult:
    """Per-input outcome of scoring (sent back from Dask workers)."""

    index: int
    rows: int
    chunk_rows: list[int]
    class_counts: np.ndarray
    selected_counts: np.ndarray
    topk: kernels.TopK | None = field(default=None, repr=False)
    first_chunk: int = 0
    unseen: dict[str, int] = field(default_factory=dict)  # column -> cells of unseen categories


@dataclass
class LabelResult:
    """What a finished ``label`` job did.

    Attributes
    ----------
    output : Path
    rows : int
        Rows labeled.
    selected : int
        Rows with ``selected = True``.
    class_counts : dict
        Predicted label -> rows.
    selected_per_class : dict
        Predicted label -> selected rows.
    seconds : float
        Wall time of this invocation (a resumed job counts only its own time).
    files, chunks : int
    resumed : bool
        True when earlier work of an interrupted run was reused.
    """

    output: Path
    rows: int
    selected: int
    class_counts: dict[Any, int]
    selected_per_class: dict[Any, int]
    seconds: float
    files: int
    chunks: int
    resumed: bool = False
    decision: str = ""
    unseen_categories: dict[str, int] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """The lines ``pseudolabel label`` prints when it is done."""
        rate = self.rows / self.seconds if self.seconds > 0 else float("inf")
        lines = [
            f"labeled {self.rows:,} rows from {self.files} file(s) in {self.chunks} chunk(s) "
            f"in {self.seconds:.1f} s ({rate:,.0f} rows/s){' (resumed)' if self.resumed else ''}",
            f"selected {self.selected:,} rows ({self.decision})",
        ]
        for c, n in self.selected_per_class.items():
            lines.append(f"  class {c}: {n:,} selected of {self.class_counts.get(c, 0):,}")
        for name, n in sorted(self.unseen_categories.items()):
            lines.append(f"column {name!r}: {n:,} cell(s) with a category not seen in "
                         "training (encoded as missing)")
        lines.append(f"output: {self.output}")
        return lines


def staging_for(output: Path) -> Path:
    """The staging directory of the job writing ``output``."""
    return output.parent / f".{output.name}.pseudolabel-partial"


def _arrow_label_type(classes: np.ndarray) -> pa.DataType:
    kind = classes.dtype.kind
    return {"b": pa.bool_(), "i": pa.int64(), "u": pa.int64(), "f": pa.float64()}.get(
        kind, pa.string())


def _changed_inputs(old: Any, new: Any) -> list[str]:
    """Paths of inputs whose recorded fingerprint differs (content, size or time)."""
    if not isinstance(old, list) or not isinstance(new, list) or len(old) != len(new):
        return []
    return [str(n.get("path")) for o, n in zip(old, new)
            if isinstance(o, dict) and isinstance(n, dict) and o != n
            and o.get("path") == n.get("path")]


def _check_resumable(staging: Path, old: dict[str, Any], spec: dict[str, Any]) -> None:
    """Refuse to resume a run of another version, other options or changed inputs."""
    if old.get("version") != spec["version"]:
        raise ParameterError(
            f"cannot resume {staging}: it was started by another version of pseudolabel "
            f"(state version {old.get('version')!r}, this one reads {spec['version']}); pass "
            "--overwrite to start over")
    diff = [k for k in spec if old.get(k) != spec[k]]
    changed = _changed_inputs(old.get("inputs"), spec["inputs"]) if "inputs" in diff else []
    if changed:
        raise InputError(
            f"cannot resume {staging}: input {changed[0]} changed since the interrupted run "
            "(its content fingerprint differs); pass overwrite=True (--overwrite) to start over")
    if diff:
        raise ParameterError(
            f"cannot resume {staging}: it was started with different {', '.join(diff)}; run "
            "the same command, or pass overwrite=True (--overwrite) to start over")


def check_selection(bundle: ModelBundle, columns: Sequence[str] | None, *, where: str,
                    id_column: str | None, features: Sequence[str] | None,
                    exclude: Sequence[str] | None) -> None:
    """``label``'s ``features`` / ``exclude``: they select input columns of ``where`` (its
    ``columns``; None for a ``.npy`` file), and the selection must be the bundle's features
    (:func:`pseudolabel.features.match_features`). Nothing to check when both are None."""
    if features is None and exclude is None:
        return
    if columns is None:
        raise InputError(f"{where}: a .npy file has no column names, so --features/--exclude "
                         "cannot select its columns; label a Parquet or CSV file")
    from pseudolabel.features.schema import match_features

    target = bundle.manifest.get("target")
    match_features(columns, bundle.feature_columns, where=where,
                   target=target if isinstance(target, str) else None,
                   id_column=id_column, features=features, exclude=exclude)


def prepare_job(model: str | os.PathLike[str] | ModelBundle, output: str | os.PathLike[str], *,
                sources: Sequence[Any], source_fingerprint: Any, id_column: str | None,
                decision: DecisionSpec, chunk_rows: int, probabilities: bool, resume: bool,
                overwrite: bool, trust_pickle: bool, id_type: pa.DataType | None = None,
                log: Callable[[str], None] | None = None, only_selected: bool = False,
                engine: str = "native", compile_cache: str | os.PathLike[str] | None = None,
                n_rows: int | None = None, features: Sequence[str] | None = None,
                exclude: Sequence[str] | None = None) -> Job:
    """Validate everything that can be validated before a row is scored; set up staging.

    ``features`` / ``exclude`` select input columns, checked against the bundle's features
    (:func:`check_selection`); they change no output, so a resumed run need not repeat them.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) \
            or chunk_rows < 1:
        raise ParameterError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    bundle = model if isinstance(model, ModelBundle) else load_bundle(
        model, trust_pickle=trust_pickle)
    model_features = tuple(bundle.feature_columns)
    files = [s for s in sources if isinstance(s, InputFile)]
    if id_column is None and bundle.id_column and files and \
            all(f.columns is not None and bundle.id_column in f.columns for f in files):
        id_column = bundle.id_column
    for f in files:
        check_selection(bundle, f.columns, where=f.path, id_column=id_column,
                        features=features, exclude=exclude)
        check_columns(f, model_features, id_column)
        if f.format == "npy":
            ncol = np.load(f.path, mmap_mode="r").shape[1]
            if ncol != len(model_features):
                raise InputError(f"{f.path}: has {ncol} columns, the model expects "
                                 f"{len(model_features)} features")
    if id_column is not None and id_type is None:
        id_type = column_type(files[0], id_column) if files else pa.int64()
    id_name = id_column or DEFAULT_ID_NAME
    proba_names = tuple(f"proba_{c}" for c in bundle.classes) if probabilities else ()
    clash = {id_name, *proba_names} & set(RESERVED_COLUMNS)
    if clash or (id_name in proba_names) or len(set(proba_names)) != len(proba_names):
        raise ParameterError(f"output column name clash: {sorted(clash or {id_name})}; rename "
                             "the id column")
    if n_rows is None and all(getattr(s, "n_rows", None) is not None for s in files):
        n_rows = sum(f.n_rows or 0 for f in files)
    chosen = _engine(bundle, engine, n_rows, compile_cache, log)
    output = Path(output).absolute()
    staging = staging_for(output)
    work = staging / WORK_NAME
    spec = {
        "version": STATE_VERSION, "bundle": bundle.checksum, "inputs": source_fingerprint,
        "id_column": id_column, "decision": decision.as_json(), "chunk_rows": int(chunk_rows),
        "probabilities": bool(probabilities), "output": str(output),
        "segment_chunks": SEGMENT_CHUNKS, "engine": chosen,
        **({"only_selected": True} if only_selected else {}),
    }
    resumed = False
    if staging.exists():
        refuse_if_locked(work / "lock", staging)
        if resume:
            try:
                old = json.loads((work / "job.json").read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise OutputExistsError(
                    f"{staging}: cannot resume, the interrupted run left no readable job "
                    f"manifest ({exc}); pass overwrite=True (--overwrite) to start over") from exc
            if engine == "auto" and isinstance(old.get("engine"), str):
                spec["engine"] = chosen = old["engine"]  # auto resumes with the same engine
            _check_resumable(staging, old, spec)
            resumed = True
            if log:
                log(f"resuming the interrupted run in {staging}")
        elif overwrite:
            shutil.rmtree(staging)
        else:
            raise OutputExistsError(
                f"an interrupted run left partial output in {staging}; pass resume=True to finish "
                "it or overwrite=True to start over (--resume / --overwrite on the command line)")
    if output.exists() and not overwrite and not (resumed and published_output(work, output)):
        raise OutputExistsError(f"{output} already exists; pass overwrite=True "
        "(--overwrite on the command line) to replace it")
    if not resumed:
        for d in ("files", "pending", "topk"):
            (work / d).mkdir(parents=True, exist_ok=True)
        (staging / PARTS_NAME).mkdir()
    acquire_lock(work / "lock", staging)
    if not resumed:
        atomic_write_json(work / "job.json", spec)
    plan = Plan(
        bundle_path=str(bundle.path.absolute()), trust_pickle=trust_pickle,
        bundle_checksum=bundle.checksum, feature_columns=model_features, id_column=id_column,
        id_name=id_name, id_type=id_type if id_column else pa.int64(),
        label_type=_arrow_label_type(bundle.classes), n_classes=len(bundle.classes),
        proba_names=proba_names, decision=decision, chunk_rows=int(chunk_rows),
        staging=str(staging), segment_chunks=SEGMENT_CHUNKS, only_selected=bool(only_selected),
        engine=chosen, compile_cache=None if compile_cache is None else str(compile_cache),
    )
    from pseudolabel.batch.scoring import remember_bundle

    remember_bundle(plan, bundle)
    return Job(plan, bundle, output, list(sources), resumed, probabilities, overwrite, spec,
               published=resumed and published_output(work, output))


def model_file(bundle: ModelBundle) -> Path:
    """The bundle's model file (what a compiled engine compiles)."""
    return bundle.path / bundle.manifest.get("model_path", "model") / bundle.backend.model_file


def _engine(bundle: ModelBundle, engine: str, n_rows: int | None,
            compile_cache: str | os.PathLike[str] | None,
            log: Callable[[str], None] | None) -> str:
    """Resolve ``--engine`` ("native" or a compiler's name); compile (or load) here, so the
    progress output shows it before the first chunk."""
    if engine == "native":
        return "native"
    from pseudolabel.compiled import choose_engine, compiled_model

    choice = choose_engine(bundle.backend, model_file(bundle), engine=engine, n_rows=n_rows,
                           cache_dir=compile_cache)
    if log:
        log(f"engine: {choice.compiler or 'native'} ({choice.reason})")
    if choice.compiler is None:
        return "native"
    compiled_model(bundle.backend, model_file(bundle), compiler=choice.compiler,
                   cache_dir=compile_cache, log=log)
    return choice.compiler


@contextlib.contextmanager
def cleanup_on_error(job: Job, *, release: bool = True) -> Iterator[None]:
    """Remove a fresh job's staging directory when it fails with an error.

    An interruption (Ctrl-C, a kill) keeps it for ``--resume``; so does an error in a
    resumed job, whose earlier work is worth keeping. A kept staging directory is unlocked
    (``release``) once nothing of this process writes to it any more, so that another
    process can resume it while this one lives on (a notebook, a service).
    """
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, Exception) and not job.resumed:
            shutil.rmtree(job.plan.staging, ignore_errors=True)
        elif release:
            release_lock(job.plan.work / "lock")
        raise

