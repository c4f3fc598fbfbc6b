"""Errors as RFC 9457 problem details.

Services raise :class:`ProblemError` subclasses; the web app turns those,
Litestar's own HTTP errors and anything unexpected into
``application/problem+json`` bodies. Field-level problems name the field (a
JSON path such as ``$.claims[2].amount``), the rule it broke and a message.
Nothing ever carries a stack trace to the client.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

PROBLEM_CONTENT_TYPE = "application/problem+json"


class FieldProblem(msgspec.Struct, frozen=True):
    """One broken rule of one field."""

    field: str
    rule: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """The body of every error response."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldProblem] | None = None
    extensions: dict[str, Any] | None = None


class ProblemError(Exception):
    """A failure the client should hear about, as a problem details response."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldProblem] | None = None,
        extensions: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extensions = extensions
        self.headers = headers

    @property
    def type_uri(self) -> str:
        return problem_type(self.slug)


def problem_type(slug: str) -> str:
    """The problem type URI (relative to the API's host, per RFC 9457 §3.1.1)."""
    return f"/problems/{slug}"


class ValidationFailed(ProblemError):
    status = 422
    slug = "validation-failed"
    title = "The request is not valid"


class NotFound(ProblemError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Forbidden(ProblemError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class Conflict(ProblemError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class ServiceUnavailable(ProblemError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name), for one-line reports."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
