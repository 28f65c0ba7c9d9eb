"""Ambient context that log lines carry: the id of the request being served.

Set by the web edge (``web.access``) for the duration of one request, read
by the log formatter (``newsfeed.logs``); a ``ContextVar``, so each asyncio
task sees its own request's id and the worker's tasks see none.
"""

from __future__ import annotations

import contextvars

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "newsfeed_request_id", default=None
)
