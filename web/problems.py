"""application/problem+json (RFC 9457): the one place errors become HTTP.

``STATUS`` gives each class of the tree in ``feed.errors`` its status and
title; a subclass without an entry takes its nearest ancestor's.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from feed.errors import (
    ConfigError,
    Conflict,
    FeedError,
    Forbidden,
    Gone,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    NotSupported,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

PROBLEM = "application/problem+json"

STATUS: dict[type[FeedError], tuple[int, str]] = {
    FeedError: (500, "Internal error"),
    ConfigError: (500, "Bad configuration"),
    InvalidInput: (422, "Invalid input"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    PayloadTooLarge: (413, "Payload too large"),
    NotFound: (404, "Not found"),
    Gone: (410, "Gone"),
    Conflict: (409, "Conflict"),
    IdempotencyMismatch: (422, "Idempotency-Key reused"),
    PreconditionFailed: (412, "Precondition failed"),
    PreconditionRequired: (428, "Precondition required"),
    Unauthorized: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    RateLimited: (429, "Too many requests"),
    NotSupported: (501, "Not implemented"),
    Unavailable: (503, "Service unavailable"),
    StoreUnavailable: (503, "Store unavailable"),
}


def status_of(exc: FeedError) -> tuple[int, str]:
    """The HTTP status and title of an error: its class's, or its nearest ancestor's."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return STATUS[FeedError]  # pragma: no cover - every FeedError has FeedError in its MRO


def error_problem(exc: FeedError) -> Response:
    """The problem+json response of a FeedError."""
    status, title = status_of(exc)
    extra: dict[str, Any] = {"field": exc.field}
    if isinstance(exc, PreconditionFailed):
        extra["current_version"] = exc.current_version
        response = problem(status, title, exc.detail, **extra)
        tag = "" if exc.current_tag is None else "." + exc.current_tag
        response.headers["ETag"] = f'"{exc.current_version}{tag}"'
        return response
    if isinstance(exc, Unauthorized):
        return problem(status, title, exc.detail)
    if isinstance(exc, RateLimited):
        response = problem(status, title, exc.detail, retry_after=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return problem(status, title, exc.detail, **extra)


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="newsfeed"'
    if status == 503:
        headers["Retry-After"] = "5"
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


async def feed_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FeedError)
    return error_problem(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    response = problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


_TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
}
