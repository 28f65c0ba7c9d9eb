"""application/problem+json (RFC 9457) responses, one per FeedError class."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from feed.errors import FeedError, PreconditionFailed, Unauthorized

PROBLEM = "application/problem+json"


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
    extra: dict[str, Any] = {"field": exc.field}
    if isinstance(exc, PreconditionFailed):
        extra["current_version"] = exc.current_version
        response = problem(exc.status, exc.title, exc.detail, **extra)
        response.headers["ETag"] = f'"{exc.current_version}"'
        return response
    if isinstance(exc, Unauthorized):
        return problem(401, exc.title, exc.detail)
    return problem(exc.status, exc.title, exc.detail, **extra)


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
