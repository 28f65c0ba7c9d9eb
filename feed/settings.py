"""One typed settings object, read from the environment once.

Every variable is prefixed ``NEWSFEED_`` except ``REDIS_URL``. Command-line
flags override the common ones. The object is passed down explicitly; no
module reads the environment on its own.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from feed.cluster import ClusterURL, is_cluster_url
from feed.durability import MODES, Durability
from feed.embeds import extra_providers
from feed.errors import ConfigError


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None = None
    """None (and no sentinels) means: start the embedded server in ``data_dir``.
    A ``redis+cluster://host:port,host:port`` URL names a Redis Cluster by
    seed nodes (``feed.cluster``)."""
    sentinels: tuple[tuple[str, int], ...] = ()
    """Redis Sentinel addresses: find the primary through them (``feed.client``)."""
    sentinel_primary: str = "newsfeed"
    """The name the sentinels monitor the primary under."""
    queue_url: str | None = None
    """The Redis of arq's job queue (``NEWSFEED_QUEUE_URL``); unset: the
    ``redis_url`` one. Required on a cluster: arq's transactions span keys
    of different slots, so its queue lives on a plain Redis."""
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    public_url: str | None = None
    """The base URL readers use (for feeds, embeds, oEmbed); derived if unset."""
    retention_seconds: int = 7 * 24 * 3600
    retention_events: int = 10_000
    live_retention_events: int = 10_000
    max_connections: int = 20_000
    client_buffer_bytes: int = 512 * 1024
    heartbeat_seconds: float = 20.0
    secure_cookies: bool = False
    log_level: str = "info"
    webhook_max_age_seconds: float = 3600.0
    """Retry a failing webhook delivery for this long, then dead-letter it."""
    webhook_base_delay_seconds: float = 2.0
    webhook_max_delay_seconds: float = 600.0
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 4
    """Requests in flight to one webhook, per worker process."""
    webhook_allow_private: bool = False
    """Allow webhook URLs on loopback/private/link-local addresses (tests, dev)."""
    worker_metrics_port: int | None = None
    """Serve the worker's Prometheus metrics on this port (unset: off)."""
    worker_heartbeat_file: Path = Path(tempfile.gettempdir()) / "newsfeed-worker.heartbeat"
    """Touched by the worker every 2 s while its loop runs and Redis answers
    (``newsfeed healthcheck worker`` reads it)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For names the client (comma-separated, ``*``
    for any): uvicorn's own ``FORWARDED_ALLOW_IPS``, which it reads for HTTP
    requests; the live endpoints' limit reads it from here."""
    rate_limits: bool = True
    """API limits on (``feed.ratelimit``); each budget is a ``limits`` rate string."""
    limit_writes_per_token: str = "300/minute"
    limit_writes_per_client: str = "600/minute"
    limit_reads_per_client: str = "1200/minute"
    limit_live_per_client: str = "120/minute"
    durability: str = "fsync"
    """When an editorial write is acknowledged: fsync, replica or none (feed.durability)."""
    durability_timeout_seconds: float = 2.0
    """How long a write waits for that confirmation before answering 503."""
    media_dir: Path | None = None
    """Where photo files are stored (unset: ``<data_dir>/media``)."""
    oembed_extra: str = ""
    """Providers added to the embed allow-list, as JSON (feed.embeds): tests, dev only."""
    oembed_allow_private: bool = False
    """Let embed fetches reach loopback/private addresses: tests, dev only."""
    oembed_timeout_seconds: float = 5.0
    """The whole of one request to a provider (connecting: at most 3 s of it)."""
    oembed_attempts: int = 5
    """Fetches of a card before it is given up (failed: the link stays plain)."""
    oembed_retry_seconds: float = 10.0
    """The first retry's backoff ceiling; doubled per attempt (full jitter), 10 min cap."""

    @property
    def media_root(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    @property
    def embedded(self) -> bool:
        return self.redis_url is None and not self.sentinels

    @property
    def clustered(self) -> bool:
        return self.redis_url is not None and is_cluster_url(self.redis_url)

    def queue_redis_url(self) -> str:
        """Where arq's queue lives: ``queue_url``, else the one Redis."""
        url = self.queue_url or self.redis_url
        if url is None:
            raise ConfigError("no Redis configured (REDIS_URL)")
        return url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("REDIS_URL"):
            values["redis_url"] = env["REDIS_URL"]
        mapping: dict[str, tuple[str, Callable[[str], object]]] = {
            "queue_url": ("NEWSFEED_QUEUE_URL", str),
            "secret_key": ("NEWSFEED_SECRET_KEY", str),
            "host": ("NEWSFEED_HOST", str),
            "port": ("NEWSFEED_PORT", int),
            "data_dir": ("NEWSFEED_DATA_DIR", Path),
            "public_url": ("NEWSFEED_PUBLIC_URL", str),
            "retention_seconds": ("NEWSFEED_RETENTION_SECONDS", int),
            "retention_events": ("NEWSFEED_RETENTION_EVENTS", int),
            "live_retention_events": ("NEWSFEED_LIVE_RETENTION_EVENTS", int),
            "max_connections": ("NEWSFEED_MAX_CONNECTIONS", int),
            "client_buffer_bytes": ("NEWSFEED_CLIENT_BUFFER_BYTES", int),
            "heartbeat_seconds": ("NEWSFEED_HEARTBEAT_SECONDS", float),
            "secure_cookies": ("NEWSFEED_SECURE_COOKIES", _bool),
            "log_level": ("NEWSFEED_LOG_LEVEL", str),
            "webhook_max_age_seconds": ("NEWSFEED_WEBHOOK_MAX_AGE_SECONDS", float),
            "webhook_base_delay_seconds": ("NEWSFEED_WEBHOOK_BASE_DELAY_SECONDS", float),
            "webhook_max_delay_seconds": ("NEWSFEED_WEBHOOK_MAX_DELAY_SECONDS", float),
            "webhook_timeout_seconds": ("NEWSFEED_WEBHOOK_TIMEOUT_SECONDS", float),
            "webhook_concurrency": ("NEWSFEED_WEBHOOK_CONCURRENCY", int),
            "webhook_allow_private": ("NEWSFEED_WEBHOOK_ALLOW_PRIVATE", _bool),
            "worker_metrics_port": ("NEWSFEED_WORKER_METRICS_PORT", int),
            "worker_heartbeat_file": ("NEWSFEED_WORKER_HEARTBEAT_FILE", Path),
            "forwarded_allow_ips": ("FORWARDED_ALLOW_IPS", str),
            "rate_limits": ("NEWSFEED_RATE_LIMITS", _bool),
            "limit_writes_per_token": ("NEWSFEED_LIMIT_WRITES_PER_TOKEN", str),
            "limit_writes_per_client": ("NEWSFEED_LIMIT_WRITES_PER_CLIENT", str),
            "limit_reads_per_client": ("NEWSFEED_LIMIT_READS_PER_CLIENT", str),
            "limit_live_per_client": ("NEWSFEED_LIMIT_LIVE_PER_CLIENT", str),
            "durability": ("NEWSFEED_DURABILITY", str),
            "sentinels": ("NEWSFEED_SENTINELS", _addresses),
            "sentinel_primary": ("NEWSFEED_SENTINEL_PRIMARY", str),
            "durability_timeout_seconds": ("NEWSFEED_DURABILITY_TIMEOUT_SECONDS", float),
            "media_dir": ("NEWSFEED_MEDIA_DIR", Path),
            "oembed_extra": ("NEWSFEED_OEMBED_EXTRA", str),
            "oembed_allow_private": ("NEWSFEED_OEMBED_ALLOW_PRIVATE", _bool),
            "oembed_timeout_seconds": ("NEWSFEED_OEMBED_TIMEOUT_SECONDS", float),
            "oembed_attempts": ("NEWSFEED_OEMBED_ATTEMPTS", int),
            "oembed_retry_seconds": ("NEWSFEED_OEMBED_RETRY_SECONDS", float),
        }
        for attr, (var, conv) in mapping.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[attr] = conv(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not a valid value") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        return settings.validated()

    def validated(self) -> Settings:
        if self.redis_url is not None:
            if is_cluster_url(self.redis_url):
                ClusterURL.parse(self.redis_url)
                if self.queue_url is None:
                    raise ConfigError(
                        "REDIS_URL names a Redis Cluster: set NEWSFEED_QUEUE_URL to a plain "
                        "Redis for the job queue (arq's transactions span slots)"
                    )
            else:
                _check_plain_url("REDIS_URL", self.redis_url)
        if self.queue_url is not None:
            _check_plain_url("NEWSFEED_QUEUE_URL", self.queue_url)
        if not self.embedded and not self.secret_key:
            raise ConfigError(
                "NEWSFEED_SECRET_KEY must be set when REDIS_URL or NEWSFEED_SENTINELS is set "
                "(there is no default secret key outside the embedded mode)"
            )
        if self.sentinels and not self.sentinel_primary:
            raise ConfigError("NEWSFEED_SENTINEL_PRIMARY must name the monitored primary")
        if self.secret_key and len(self.secret_key) < 16:
            raise ConfigError("NEWSFEED_SECRET_KEY must be at least 16 characters")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range")
        if self.retention_events < 100 or self.retention_seconds < 60:
            raise ConfigError("retention must keep at least 100 events and 60 seconds")
        if not (
            self.webhook_max_age_seconds > 0
            and 0 < self.webhook_base_delay_seconds <= self.webhook_max_delay_seconds
            and 0 < self.webhook_timeout_seconds <= 120
            and self.webhook_concurrency >= 1
        ):
            raise ConfigError(
                "webhook settings: max age, delays and timeout must be positive "
                "(base delay <= max delay, timeout <= 120 s), concurrency >= 1"
            )
        if self.worker_metrics_port is not None and not 0 < self.worker_metrics_port < 65536:
            raise ConfigError(f"worker metrics port {self.worker_metrics_port} is out of range")
        if self.durability not in MODES:
            raise ConfigError(
                f"NEWSFEED_DURABILITY={self.durability!r} is not one of {', '.join(MODES)}"
            )
        if not 0 < self.durability_timeout_seconds <= 60:
            raise ConfigError("NEWSFEED_DURABILITY_TIMEOUT_SECONDS must be in (0, 60]")
        try:
            extra_providers(self.oembed_extra)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not (
            0 < self.oembed_timeout_seconds <= 60
            and 1 <= self.oembed_attempts <= 20
            and 0 < self.oembed_retry_seconds <= 3600
        ):
            raise ConfigError(
                "oEmbed settings: timeout in (0, 60] s, 1-20 attempts, retry in (0, 3600] s"
            )
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"NEWSFEED_LOG_LEVEL={self.log_level!r} is not a log level")
        return self

    def durability_policy(self) -> Durability:
        return Durability.parse(self.durability, int(self.durability_timeout_seconds * 1000))

    def with_embedded_secret(self) -> Settings:
        """In the embedded mode, keep a generated secret key in the data dir."""
        if self.secret_key:
            return self
        path = self.data_dir / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            path.write_text(key)
            path.chmod(0o600)
        return dataclasses.replace(self, secret_key=key)

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "::", "127.0.0.1") else self.host
        return f"http://{host}:{self.port}"


def _addresses(raw: str) -> tuple[tuple[str, int], ...]:
    """``host:port,host:port``: the sentinels."""
    out = []
    for part in raw.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(part)
        out.append((host.strip("[]"), int(port)))
    return tuple(out)


def _check_plain_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ConfigError(
            f"{name}={url!r} is not a redis://, rediss://, unix:// "
            + ("" if name == "NEWSFEED_QUEUE_URL" else "or redis+cluster:// ")
            + "URL"
        )


def _bool(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
