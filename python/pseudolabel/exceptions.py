"""Exceptions raised by pseudolabel.

Every error raised on purpose by pseudolabel derives from :class:`PseudolabelError`.
Errors about bad input (data, parameters, files) also derive from :class:`ValueError`, so
code that catches ``ValueError`` around scikit-learn calls keeps working.

The native core (``pseudolabel._core``) raises the classes defined here: the Rust error
enum is converted to these in one place (``rust/python/src/errors.rs``).
"""

from __future__ import annotations

__all__ = [
    "PseudolabelError",
    "PseudolabelWarning",
    "InputError",
    "ProbabilityError",
    "ParameterError",
    "PluginError",
    "DuplicateNameError",
    "UnknownNameError",
    "MissingDependencyError",
    "BackendError",
    "EngineUnavailableError",
    "StoreError",
    "StoreNotFoundError",
    "BundleError",
    "OutputExistsError",
    "PluginWarning",
]


class PseudolabelError(Exception):
    """Base class of every error pseudolabel raises on purpose."""


class PseudolabelWarning(UserWarning):
    """Base class of every warning pseudolabel emits."""


class InputError(PseudolabelError, ValueError):
    """Input data is malformed: wrong shape, dtype, NaN, empty where rows are needed."""


class ProbabilityError(InputError):
    """A probability matrix holds NaN, infinity or a value outside [0, 1].

    The message names the first offending row and column.
    """


class ParameterError(PseudolabelError, ValueError):
    """A parameter has an invalid value (negative k, wrong length, unknown score name...)."""


class PluginError(PseudolabelError):
    """A plugin could not be loaded or registered something invalid."""


class DuplicateNameError(PluginError, ValueError):
    """Two plugins registered the same backend or strategy name."""


class UnknownNameError(ParameterError, KeyError):
    """A backend or strategy name is not registered. The message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(PseudolabelError, ImportError):
    """An optional library is not installed. The message says what to install."""


class BackendError(PseudolabelError):
    """A model backend failed or cannot do what was asked."""


class EngineUnavailableError(BackendError, ValueError):
    """``--engine compiled`` cannot run this model: no compiler installed, a model feature
    no compiler supports (the message says which), or the compiler failed."""


class StoreError(PseudolabelError):
    """The label store is corrupt, foreign, or was asked something inconsistent."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """There is no label store at the path (and it was not asked to create one)."""


class BundleError(PseudolabelError, ValueError):
    """A model bundle is missing, corrupt, edited, or unsafe to load."""


class OutputExistsError(PseudolabelError, FileExistsError):
    """An output (bundle, labeled dataset) or an interrupted run's partial output exists.

    Batch commands refuse to replace it unless told to (``--overwrite`` / ``--resume``).
    """


class PluginWarning(PseudolabelWarning):
    """A plugin was skipped: it failed to import, or its registration hook failed.

    The message names the plugin; every other plugin keeps working.
    """
