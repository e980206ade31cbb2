"""Neptune 1.x's exception and warning names, mapped onto Despina's.

Scripts catch Neptune's names (`except neptune.exceptions.MissingFieldException`); the layer raises
Despina's own errors, so most names here are aliases of the Despina class raised in the same situation
(`MissingFieldException is despina.exceptions.MissingFieldError`), and the few situations only Neptune
distinguishes get a subclass of the Despina error that covers them. Either way, `except` clauses of
both APIs keep working.
"""

from __future__ import annotations

from despina.exceptions import (
    DespinaConfigError,
    DespinaError,
    DespinaWarning,
    FieldTypeError,
    InactiveRunError,
    MissingFieldError,
    NoStoreError,
    ProjectNotFoundError,
    ReadOnlyRunError,
    RunNotFoundError,
)

__all__ = [
    "ContainerUUIDNotFound",
    "FileNotFound",
    "InactiveRunException",
    "MetadataInconsistency",
    "MissingFieldException",
    "NeedExistingRunForReadOnlyMode",
    "NeptuneException",
    "NeptuneInvalidQueryException",
    "NeptuneMissingProjectNameException",
    "NeptuneOfflineModeFetchException",
    "NeptunePossibleLegacyUsageException",
    "NeptuneReadOnlyException",
    "NeptuneRunResumeAndCustomIdCollision",
    "NeptuneUnsupportedFunctionalityException",
    "NeptuneUnsupportedType",
    "NeptuneUnsupportedValue",
    "NeptuneUserApiInputException",
    "NeptuneWarning",
    "ProjectNotFound",
    "RunNotFound",
    "RunUUIDNotFound",
    "TypeDoesNotSupportAttributeException",
]

# -- aliases: the Despina error raised where Neptune raised this one ---------------------------------

NeptuneException = DespinaError
MissingFieldException = MissingFieldError
InactiveRunException = InactiveRunError
NeptuneOfflineModeFetchException = NoStoreError
NeptuneReadOnlyException = ReadOnlyRunError
RunNotFound = RunNotFoundError
RunUUIDNotFound = RunNotFoundError
ContainerUUIDNotFound = RunNotFoundError
ProjectNotFound = ProjectNotFoundError
MetadataInconsistency = FieldTypeError
TypeDoesNotSupportAttributeException = FieldTypeError
FileNotFound = FileNotFoundError


# -- situations Neptune names on their own -----------------------------------------------------------


class NeptuneMissingProjectNameException(DespinaConfigError):
    """No project given and neither DESPINA_PROJECT nor NEPTUNE_PROJECT set."""


class NeptuneRunResumeAndCustomIdCollision(DespinaConfigError):
    """`with_id` (resume) and `custom_run_id` (join or create) were both given."""


class NeedExistingRunForReadOnlyMode(DespinaConfigError):
    """read-only mode opens an existing run: `with_id` is required."""


class NeptunePossibleLegacyUsageException(DespinaConfigError, TypeError):
    """A keyword of the 0.x `neptune` client (`project_qualified_name`, `backend`) was passed."""


class NeptuneUserApiInputException(DespinaError, ValueError):
    """Arguments that cannot go together (e.g. `query=` with `owner=` in fetch_runs_table)."""


class NeptuneInvalidQueryException(NeptuneUserApiInputException):
    """An NQL query Despina cannot run."""


class NeptuneUnsupportedFunctionalityException(DespinaError, NotImplementedError):
    """A Neptune feature Despina does not offer (artifacts, project-level fields, NQL); see
    docs/neptune-compat.md."""


# -- warnings ----------------------------------------------------------------------------------------


class NeptuneWarning(DespinaWarning):
    """Something Neptune 1.x let pass silently (a point with a step out of order, a write to a read-only
    run): skipped as Neptune did, but said once."""


class NeptuneUnsupportedType(NeptuneWarning):
    """A value of a type Neptune 1.x could not log (list, tuple, set, None, an object): not stored."""


class NeptuneUnsupportedValue(NeptuneWarning):
    """A value Neptune 1.x refused (NaN or infinite float, int outside 32 bits): not stored."""
