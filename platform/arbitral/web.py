"""HTTP plumbing shared by every route: request ids, access logs, problem details."""

from __future__ import annotations

import re
import time
from typing import Any
from uuid import uuid4

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ASGIApp, ExceptionHandlersMap, Message, Receive, Scope, Send

from arbitral.errors import (
    PROBLEM_CONTENT_TYPE,
    FieldProblem,
    Problem,
    ProblemError,
    problem_type,
)

log = structlog.get_logger("arbitral.http")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_STATUS_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-failed", "The request is not valid"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal error"),
    503: ("service-unavailable", "Service unavailable"),
}


def client_ip(scope: Scope) -> str | None:
    """The peer address (uvicorn has applied X-Forwarded-For from trusted proxies)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


_NUL_TEXT_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/")
_NUL_MARKERS = (b"\x00", b"\\u0000")


class RejectNulMiddleware:
    """Refuses NUL characters in the path, the query and text bodies (400).

    PostgreSQL cannot store them in text and SQLite would: refusing them at the
    door keeps both backends alike and answers precisely instead of failing
    deep inside a transaction. Binary bodies (uploads) are not looked at.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        query = scope.get("query_string", b"")
        if any(m in part.lower() for part in (raw_path, query) for m in (b"%00", b"\x00")):
            await _refuse_nul(scope, send, "the address")
            return
        content_type = (_header(scope, "content-type") or "").lower()
        if not content_type.startswith(_NUL_TEXT_TYPES):
            await self.app(scope, receive, send)
            return
        tail = b""
        refused = False

        async def checked_receive() -> Any:
            nonlocal tail, refused
            message = await receive()
            if message["type"] == "http.request":
                body = tail + message.get("body", b"")
                if any(m in body.lower() for m in _NUL_MARKERS):
                    refused = True
                    return {"type": "http.disconnect"}
                tail = body[-5:]
            return message

        sent_start = False

        async def tracking_send(message: Message) -> None:
            nonlocal sent_start
            if refused:
                return  # the app saw a disconnect; the refusal below answers instead
            sent_start = sent_start or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, checked_receive, tracking_send)
        if refused:
            await _refuse_nul(scope, send, "the body")


async def _refuse_nul(scope: Scope, send: Any, where: str) -> None:
    slug, title = "bad-request", "Bad request"
    body = msgspec.json.encode(
        {
            "type": problem_type(slug),
            "title": title,
            "status": 400,
            "detail": f"{where} holds a NUL character, which no text field may hold",
            "instance": scope.get("path"),
            "request_id": current_request_id(),
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Gives each request an id (kept from ``X-Request-ID`` when well-formed), binds it
    to every log record of the request, echoes it in the response and logs one
    access line with status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER)
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(
            request_id=request_id, client_ip=client_ip(scope)
        )
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "http.request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.reset_contextvars(**tokens)


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    body = msgspec.json.encode(_flatten(problem))
    return Response(
        content=body,
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _flatten(problem: Problem) -> dict[str, Any]:
    """Extension members sit at the top level of the object (RFC 9457 §3.2)."""
    data: dict[str, Any] = msgspec.to_builtins(problem)
    extensions = data.pop("extensions", None) or {}
    for key, value in extensions.items():
        data.setdefault(key, value)
    return data


def handle_problem_error(request: Request[Any, Any, Any], exc: ProblemError) -> Response[bytes]:
    return problem_response(
        Problem(
            type=exc.type_uri,
            title=exc.title,
            status=exc.status,
            detail=exc.detail,
            instance=request.url.path,
            request_id=current_request_id(),
            errors=exc.errors,
            extensions=exc.extensions,
        ),
        headers=exc.headers,
    )


def handle_validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[bytes]:
    errors = [_field_problem(item) for item in _as_list(exc.extra)]
    detail = exc.detail if exc.detail and not errors else _summary(errors)
    return problem_response(
        Problem(
            type=problem_type("validation-failed"),
            title="The request is not valid",
            status=400,
            detail=detail,
            instance=request.url.path,
            request_id=current_request_id(),
            errors=errors or None,
        )
    )


def handle_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    slug, title = _STATUS_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if exc.detail and exc.detail.lower() != title.lower() else None
    if exc.status_code >= 500:
        log.error("http.server_error", status=exc.status_code, detail=exc.detail)
        detail = None
    return problem_response(
        Problem(
            type=problem_type(slug),
            title=title,
            status=exc.status_code,
            detail=detail,
            instance=request.url.path,
            request_id=current_request_id(),
        ),
        headers=exc.headers,
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if is_unique_violation(exc):
        log.info("http.conflict", error=str(exc))
        return problem_response(
            Problem(
                type=problem_type("conflict"),
                title="Conflict",
                status=409,
                detail="This conflicts with a record that exists already (perhaps made by a "
                "request that ran at the same time); nothing was changed.",
                instance=request.url.path,
                request_id=current_request_id(),
            )
        )
    if is_transient_database_error(exc):
        log.warning("http.database_busy", error=str(exc))
        return problem_response(
            Problem(
                type=problem_type("busy"),
                title="Busy",
                status=503,
                detail="The database is busy; nothing was changed. Retry shortly.",
                instance=request.url.path,
                request_id=current_request_id(),
            ),
            headers={"Retry-After": "1"},
        )
    log.exception("http.unhandled", error_type=type(exc).__name__)
    return problem_response(
        Problem(
            type=problem_type("internal-error"),
            title="Internal error",
            status=500,
            detail="The server could not complete the request; quote the request id "
            "when you report it.",
            instance=request.url.path,
            request_id=current_request_id(),
        )
    )


_TRANSIENT_POSTGRES = {
    "DeadlockDetectedError",
    "SerializationError",
    "LockNotAvailableError",
    "TooManyConnectionsError",
    "CannotConnectNowError",
    "ConnectionDoesNotExistError",
    "QueryCanceledError",
}


def is_unique_violation(exc: BaseException) -> bool:
    name, module = type(exc).__name__, type(exc).__module__
    if module.startswith("asyncpg"):
        return name == "UniqueViolationError"
    return name == "IntegrityError" and "UNIQUE constraint failed" in str(exc)


def is_transient_database_error(exc: BaseException) -> bool:
    """Contention or a passing outage: the action rolled back and may simply be retried."""
    module = type(exc).__module__
    if module.startswith("sqlite3") or type(exc).__name__ == "OperationalError":
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    if module.startswith("asyncpg"):
        return type(exc).__name__ in _TRANSIENT_POSTGRES
    return False


def _as_list(extra: Any) -> list[Any]:
    if extra is None:
        return []
    if isinstance(extra, list):
        return extra
    return [extra]


def _field_problem(item: Any) -> FieldProblem:
    if not isinstance(item, dict):
        return FieldProblem(field="$", rule="invalid", message=str(item))
    message = str(item.get("message") or "invalid value")
    key = item.get("key")
    source = item.get("source")
    source = getattr(source, "value", source)  # Litestar's ParamType enum: "query", not its name
    field = str(key) if key else "$"
    if source and source != "body":
        field = f"{source}:{field}"
    elif not field.startswith("$"):
        field = f"$.{field}"  # a JSON path into the body, as our own errors write it
    lowered = message.lower()
    if "missing required" in lowered or "is required" in lowered:
        rule = "required"
    elif lowered.startswith("expected") or "expected `" in lowered:
        rule = "type"
    elif "json is malformed" in lowered or "malformed" in lowered:
        rule = "syntax"
    else:
        rule = "invalid"
    return FieldProblem(field=field, rule=rule, message=message)


def _summary(errors: list[FieldProblem]) -> str:
    if len(errors) == 1:
        return f"{errors[0].field}: {errors[0].message}"
    return f"{len(errors)} fields are not valid"


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ProblemError: handle_problem_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}
