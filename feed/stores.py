"""Every Redis adapter of the domain, built together from the settings.

    Stores
    ├── registry    FeedRegistry   which feeds exist (feed.registry)
    ├── editorial   Editorial      the editorial log: create, edit, retract (feed.editorial)
    ├── projection  Projection     log → public view + live stream (feed.projection)
    ├── public      PublicView     the public timeline (feed.public)
    ├── live        LiveStream     the live stream the web processes tail (feed.livestream)
    ├── retention   Retention      trim, replay, rebuild (feed.retention)
    ├── accounts    Accounts       users and API tokens (feed.accounts)
    ├── webhooks    WebhookStore   partners' webhooks (feed.webhooks)
    └── documents   DocumentCache  rendered Atom / RSS / JSON Feed (feed.docstore)

``Stores.from_settings`` is the one place the settings become store
parameters: the web app, the worker and the CLI all build their stores
through it.
"""

from __future__ import annotations

import dataclasses

from feed.accounts import Accounts
from feed.docstore import DocumentCache
from feed.durability import Durability
from feed.editorial import Editorial
from feed.livestream import LiveStream
from feed.projection import Projection
from feed.public import PublicView
from feed.redis_io import Client, Commands
from feed.registry import FeedRegistry
from feed.retention import Retention
from feed.settings import Settings
from feed.webhooks import WebhookStore


@dataclasses.dataclass(frozen=True, slots=True)
class Stores:
    redis: Commands
    """The client all of them share (redis-py's async client; replies are bytes)."""
    registry: FeedRegistry
    editorial: Editorial
    projection: Projection
    public: PublicView
    live: LiveStream
    retention: Retention
    accounts: Accounts
    webhooks: WebhookStore
    documents: DocumentCache

    @classmethod
    def build(
        cls,
        redis: Client,
        *,
        retention_seconds: int = 7 * 24 * 3600,
        retention_events: int = 10_000,
        live_retention_events: int = 10_000,
        webhook_allow_private: bool = False,
        durability: Durability | None = None,
    ) -> Stores:
        registry = FeedRegistry(redis)
        return cls(
            redis=redis,
            registry=registry,
            editorial=Editorial(redis, registry, durability or Durability()),
            projection=Projection(redis, live_retention_events=live_retention_events),
            public=PublicView(redis),
            live=LiveStream(redis),
            retention=Retention(
                redis,
                registry,
                retention_seconds=retention_seconds,
                retention_events=retention_events,
            ),
            accounts=Accounts(redis),
            webhooks=WebhookStore(redis, allow_private=webhook_allow_private),
            documents=DocumentCache(redis),
        )

    @classmethod
    def from_settings(cls, redis: Client, settings: Settings) -> Stores:
        return cls.build(
            redis,
            retention_seconds=settings.retention_seconds,
            retention_events=settings.retention_events,
            live_retention_events=settings.live_retention_events,
            webhook_allow_private=settings.webhook_allow_private,
            durability=settings.durability_policy(),
        )
