"""Every error Despina raises on purpose.

::

    DespinaError
    ├── DespinaConfigError            a DESPINA_* variable or init_run argument is wrong
    ├── FieldPathError (ValueError)    an empty, malformed, too long or protected field path
    ├── FieldTypeError (TypeError)     a value of the wrong or an unsupported type for a field
    ├── StepOrderError (ValueError)    a series step that does not increase
    ├── MissingFieldError (KeyError)   reading a field that does not exist
    ├── RunNotFoundError               with_id / fork_run_id names no run
    ├── ProjectNotFoundError           the project does not exist (read paths only)
    ├── InactiveRunError               the run was stopped
    ├── ReadOnlyRunError               a write in read-only mode
    ├── NoStoreError                   reading back in debug or offline mode
    └── JournalError                   a journal folder that cannot be read
        └── JournalCorruptError        a record in the middle of a journal fails its checksum

    DespinaWarning (UserWarning)       a background failure; the data is safe on disk

Programming errors raise at the call site; failures in the background (store busy, disk full) never
raise into the training loop: they warn once and leave the data in the journal.
"""

from __future__ import annotations


class DespinaError(Exception):
    """Base class of every error raised by Despina."""


class DespinaConfigError(DespinaError):
    """A configuration value (argument or DESPINA_* variable) is invalid."""


class FieldPathError(DespinaError, ValueError):
    """A field path is empty, malformed, too long, or protected."""


class FieldTypeError(DespinaError, TypeError):
    """A value cannot be stored in the field it was given to."""


class StepOrderError(DespinaError, ValueError):
    """A series step does not increase."""


class MissingFieldError(DespinaError, KeyError):
    """The field does not exist in the run."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class RunNotFoundError(DespinaError):
    """No run has the requested id."""


class ProjectNotFoundError(DespinaError):
    """No project has the requested name."""


class InactiveRunError(DespinaError):
    """The run was stopped; start or resume it again to write."""


class ReadOnlyRunError(DespinaError):
    """The run was opened in read-only mode."""


class NoStoreError(DespinaError):
    """The mode keeps no readable store (debug, or offline before `despina sync`)."""


class JournalError(DespinaError):
    """A journal folder cannot be read."""


class JournalCorruptError(JournalError):
    """A journal record before the last one fails its checksum."""


class DespinaWarning(UserWarning):
    """Something went wrong in the background; the data is safe and the warning says where."""
