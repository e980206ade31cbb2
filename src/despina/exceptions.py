"""Every error Despina raises on purpose.

::

    DespinaError
    ├── DespinaConfigError            a DESPINA_* variable or init_run argument is wrong
    ├── FieldPathError (ValueError)    an empty, malformed, too long or protected field path
    ├── FieldTypeError (TypeError)     a value of the wrong or an unsupported type for a field
    ├── StepOrderError (ValueError)    a series step that does not increase
    ├── MissingFieldError (KeyError)   reading a field that does not exist
    ├── RunNotFoundError               with_id / fork_run_id names no run
    ├── RunDeletionError               deleting a run that is not in the trash, or that kept runs fork
    ├── ProjectNotFoundError           the project does not exist (read paths only)
    ├── InactiveRunError               the run was stopped
    ├── ReadOnlyRunError               a write in read-only mode
    ├── NoStoreError                   reading back in debug or offline mode
    ├── JournalError                   a journal folder that cannot be read
    │   └── JournalCorruptError        a record in the middle of a journal fails its checksum
    ├── BlobHashMismatchError          uploaded content does not hash to the digest it was sent as
    ├── SchemaVersionError             the database schema is older or newer than this Despina
    ├── TrackedFilesError              tracked files (track_files) that cannot be listed, read or fetched
    ├── QueryError (ValueError)        a runs query with a syntax or type error (names the position)
    └── ServerError                    a Despina server answered with an error
        ├── ServerUnavailableError     the server cannot be reached (the data waits in the journal)
        └── AccessDeniedError          the token is missing, expired or revoked, or lacks the role

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


class RunDeletionError(DespinaError):
    """Runs that cannot be deleted for good: not in the trash yet, or forked from by runs that stay."""


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


class BlobHashMismatchError(DespinaError):
    """Uploaded content does not hash to the sha256 it was sent under."""


class SchemaVersionError(DespinaError):
    """The database was made by another version of Despina: upgrade it, or upgrade Despina."""


class QueryError(DespinaError, ValueError):
    """A runs query that cannot be parsed or compiled; the message names the position and what was
    expected, and `position` holds the 0-based offset into the query."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class TrackedFilesError(DespinaError):
    """Files given to `track_files`, or tracked files being downloaded, cannot be listed, read or found;
    the message names the location and the files."""


class ServerError(DespinaError):
    """A Despina server answered with an error; the message carries its status and detail."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailableError(ServerError):
    """The server cannot be reached or is overloaded; what was logged stays in the journal."""


class AccessDeniedError(ServerError):
    """The API token is missing, expired or revoked, or its user lacks the role for this project."""


class DespinaWarning(UserWarning):
    """Something went wrong in the background; the data is safe and the warning says where."""
