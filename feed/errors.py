"""The exception tree of newsfeed.

    FeedError
    ├── ConfigError            a bad setting; the process refuses to start
    ├── InvalidInput           client input rejected (422); names the field
    ├── NotFound               no such feed / entry / token (404)
    ├── Conflict               a state conflict (409)
    │   └── IdempotencyMismatch  same Idempotency-Key, different request (422)
    ├── PreconditionFailed     stale If-Match (412); carries the current version
    ├── PreconditionRequired   If-Match missing where required (428)
    ├── Unauthorized           no or bad credentials (401)
    ├── Forbidden              credentials valid, action not allowed (403)
    └── StoreUnavailable       Redis unreachable or failing (503)

Third-party errors (redis-py's) are translated into these where they enter,
in ``feed.store``; the web layer maps each class to one HTTP status.
"""

from __future__ import annotations


class FeedError(Exception):
    """Root of every error newsfeed raises on purpose."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class ConfigError(FeedError):
    title = "Bad configuration"


class InvalidInput(FeedError):
    status = 422
    title = "Invalid input"


class NotFound(FeedError):
    status = 404
    title = "Not found"


class Conflict(FeedError):
    status = 409
    title = "Conflict"


class IdempotencyMismatch(Conflict):
    status = 422
    title = "Idempotency-Key reused"


class PreconditionFailed(FeedError):
    status = 412
    title = "Precondition failed"

    def __init__(self, detail: str, *, current_version: int) -> None:
        super().__init__(detail, field="If-Match")
        self.current_version = current_version


class PreconditionRequired(FeedError):
    status = 428
    title = "Precondition required"


class Unauthorized(FeedError):
    status = 401
    title = "Unauthorized"


class Forbidden(FeedError):
    status = 403
    title = "Forbidden"


class StoreUnavailable(FeedError):
    status = 503
    title = "Store unavailable"
