"""The exceptions rddml raises.

Every message names what was wrong, where (parameter, file and line, column or
config key), what was expected and the value received, so that a user can fix
the input without reading rddml's source.
"""

from __future__ import annotations


class RddmlError(Exception):
    """Base class of every error rddml raises on purpose."""


class InvalidParameterError(RddmlError, ValueError):
    """A constructor or function parameter has the wrong type or an out-of-range value."""


class DataValidationError(RddmlError, ValueError):
    """The input data is unusable: empty, non-finite, ragged, malformed or mislabelled."""


class ConfigError(RddmlError, ValueError):
    """A job configuration file or ``--set`` override is invalid."""


class OutputExistsError(RddmlError, FileExistsError):
    """An output path exists and cannot be replaced: no ``overwrite``, or it is not an
    output rddml wrote (no manifest)."""


class OutputBusyError(OutputExistsError):
    """Another writer (thread or process) holds the lock of the same output path."""


class OutputPathError(RddmlError, ValueError):
    """An output path rddml refuses to write to at all: empty, ``/``, the home or current
    directory, the repository, an ancestor of one of them, or a name the JVM cannot encode."""


class DatasetReleasedError(RddmlError, RuntimeError):
    """A pass was asked of a dataset after its cached data was released (``unpersist``)."""


class ConvergenceError(RddmlError, RuntimeError):
    """An iterative fit diverged (non-finite or steadily increasing objective)."""


class NotFittedError(RddmlError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""
