"""Errors the services raise; ``snip.errors`` maps each class to an HTTP status.

Each has a stable ``kind`` (the last part of the problem ``type``) and a message
that names the problem in words a user understands.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: ``kind`` identifies the error, ``message`` explains it."""

    kind = "internal-server-error"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind


class Invalid(ServiceError):
    """A field's value breaks a rule (422)."""

    kind = "validation-error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ServiceError):
    """Nothing by that name (404)."""

    kind = "not-found"


class Gone(ServiceError):
    """It existed and was deleted; its name stays reserved (410)."""

    kind = "deleted"


class Conflict(ServiceError):
    """The name is taken (409)."""

    kind = "conflict"


class Forbidden(ServiceError):
    """The actor may not do this (403)."""

    kind = "forbidden"


class Unavailable(ServiceError):
    """A temporary failure; retrying may succeed (503)."""

    kind = "unavailable"
