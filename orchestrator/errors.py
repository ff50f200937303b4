"""The exception tree. Glue's exception names are the codes on the wire.

    AdhereError (code = the error's name on the wire and in the CLI)
    ├── GlueError (code = Glue's exception name, status = HTTP status)
    │   ├── EntityNotFoundException
    │   ├── InvalidInputException
    │   │   └── ValidationError (a definition file with problems, each with its place)
    │   ├── AlreadyExistsException
    │   ├── ConcurrentRunsExceededException
    │   ├── IllegalWorkflowStateException
    │   ├── ConcurrentModificationException
    │   ├── OperationTimeoutException
    │   ├── InternalServiceException
    │   ├── CrawlerRunningException, CrawlerNotRunningException, CrawlerStoppingException
    │   ├── MissingAuthenticationTokenException (SigV4: no Authorization header)
    │   ├── IncompleteSignatureException (SigV4: a malformed Authorization header)
    │   ├── UnrecognizedClientException (SigV4: an unknown access key id)
    │   └── InvalidSignatureException (SigV4: wrong signature, or signed too long ago or ahead)
    ├── EngineError (retryable: bool)
    │   └── EngineNotInstalled
    └── StoreError (the driver error is kept as __cause__)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AdhereError(Exception):
    """adhere failed."""

    code = "InternalServiceException"  # the error's name on the wire and in the CLI

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])

    @property
    def summary(self) -> str:
        """The message without any detail lines (a file's problems are listed apart)."""
        return self.message


class GlueError(AdhereError):
    """A Glue operation failed."""

    status = 400


class EntityNotFoundException(GlueError):
    """A specified entity does not exist."""

    code = "EntityNotFoundException"


class InvalidInputException(GlueError):
    """The input provided was not valid."""

    code = "InvalidInputException"


@dataclass(frozen=True)
class Problem:
    """One problem in a definition, at a place such as ``Triggers[2].Predicate.Conditions[0].State``."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ValidationError(InvalidInputException):
    """The definition has problems; nothing was written."""

    def __init__(self, problems: Sequence[Problem], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        n = len(self.problems)
        self._summary = f"{head}{n} problem{'s' if n != 1 else ''}; nothing was changed"
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{self._summary}\n{lines}")

    @property
    def summary(self) -> str:
        return self._summary


class AlreadyExistsException(GlueError):
    """A resource to be created or added already exists."""

    code = "AlreadyExistsException"


class ConcurrentRunsExceededException(GlueError):
    """Too many runs are active at once."""

    code = "ConcurrentRunsExceededException"


class IllegalWorkflowStateException(GlueError):
    """The workflow run is in a state that does not allow this operation."""

    code = "IllegalWorkflowStateException"


class ConcurrentModificationException(GlueError):
    """Two processes modified the same resource at once."""

    code = "ConcurrentModificationException"


class OperationTimeoutException(GlueError):
    """The operation timed out."""

    code = "OperationTimeoutException"


class InternalServiceException(GlueError):
    """An internal service error occurred."""

    code = "InternalServiceException"
    status = 500


class CrawlerRunningException(GlueError):
    """The operation cannot be performed because the crawler is already running."""

    code = "CrawlerRunningException"


class CrawlerNotRunningException(GlueError):
    """The specified crawler is not running."""

    code = "CrawlerNotRunningException"


class CrawlerStoppingException(GlueError):
    """The specified crawler is stopping."""

    code = "CrawlerStoppingException"

class SchedulerRunningException(GlueError):
    """The crawler's schedule is already SCHEDULED."""

    code = "SchedulerRunningException"


class SchedulerNotRunningException(GlueError):
    """The crawler's schedule is NOT_SCHEDULED."""

    code = "SchedulerNotRunningException"


class NoScheduleException(GlueError):
    """The crawler has no schedule to start."""

    code = "NoScheduleException"



class EngineError(AdhereError):
    """An engine could not run a job."""

    code = "EngineError"

    def __init__(self, message: str | None = None, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class EngineNotInstalled(EngineError):
    """The engine's optional dependencies are not installed."""


class StoreError(AdhereError):
    """The store could not be reached or refused an operation."""

    code = "StoreError"


# The SigV4 refusals (orchestrator.api.auth). Codes and statuses are those of AWS's JSON
# services: all four answer 400 there, unlike the 403 of query-protocol services.


class MissingAuthenticationTokenException(GlueError):
    """Request is missing Authentication Token"""

    code = "MissingAuthenticationTokenException"
    status = 400


class IncompleteSignatureException(GlueError):
    """The request signature does not conform to AWS standards."""

    code = "IncompleteSignatureException"
    status = 400


class UnrecognizedClientException(GlueError):
    """The security token included in the request is invalid."""

    code = "UnrecognizedClientException"
    status = 400


class InvalidSignatureException(GlueError):
    """The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."""

    code = "InvalidSignatureException"
    status = 400
