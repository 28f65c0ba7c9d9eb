"""The exception tree of newsfeed: every error it raises on purpose.

    FeedError
    ├── ConfigError              a bad setting; the process refuses to start
    ├── InvalidInput             client input rejected; names the field
    │   ├── UnsupportedMediaType   a body of a type we do not read
    │   └── PayloadTooLarge        a body over its limit
    ├── NotFound                 no such feed / entry / token
    ├── Gone                     the entry existed and was retracted
    ├── Conflict                 a state conflict
    │   └── IdempotencyMismatch    same Idempotency-Key, different request
    ├── PreconditionFailed       a stale version (If-Match); carries the current one
    ├── PreconditionRequired     If-Match missing where required
    ├── Unauthorized             no or bad credentials
    ├── Forbidden                credentials valid, action not allowed
    ├── RateLimited              over an API limit; carries the seconds to wait
    ├── NotSupported             a feature this deployment does not serve
    └── Unavailable              cannot serve now; retry later
        ├── StoreUnavailable       Redis unreachable, loading or failing over
        └── Overloaded             at the connection limit, or shutting down

The domain knows nothing of HTTP: ``web/problems.py`` maps each class to
one status and title. Third-party errors never leave the adapter they enter
through: redis-py's become ``StoreUnavailable`` in ``feed.redis_io``.
"""

from __future__ import annotations


class FeedError(Exception):
    """Root of every error newsfeed raises on purpose."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class ConfigError(FeedError):
    pass


class InvalidInput(FeedError):
    pass


class UnsupportedMediaType(InvalidInput):
    pass


class PayloadTooLarge(InvalidInput):
    pass


class NotFound(FeedError):
    pass


class Gone(FeedError):
    pass


class Conflict(FeedError):
    pass


class IdempotencyMismatch(Conflict):
    pass


class PreconditionFailed(FeedError):
    def __init__(
        self, detail: str, *, current_version: int, current_tag: str | None = None
    ) -> None:
        super().__init__(detail, field="If-Match")
        self.current_version = current_version
        self.current_tag = current_tag
        """The digest of the current content (``Entry.tag``), when it was read."""


class PreconditionRequired(FeedError):
    pass


class Unauthorized(FeedError):
    pass


class Forbidden(FeedError):
    pass


class RateLimited(FeedError):
    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class NotSupported(FeedError):
    pass


class Unavailable(FeedError):
    pass


class StoreUnavailable(Unavailable):
    pass


class Overloaded(Unavailable):
    pass
