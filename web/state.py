"""``AppState``: what the lifespan builds, and the one typed way to reach it.

``web.app.create_app`` builds one ``AppState`` in its lifespan and stores it
on the Starlette app; every endpoint (HTTP or WebSocket) reaches it through
``state(conn)``, never through ``app.state`` directly. It lives in its own
module, not in ``web.app``: ``web.app`` imports every route module, so a
route module importing ``web.app`` back would be an import cycle.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import HTTPConnection

from feed.accounts import Accounts
from feed.admin_store import AdminStore
from feed.docstore import DocumentCache
from feed.media import MediaStore, PhotoIndex
from feed.redis_io import Client
from feed.settings import Settings
from feed.stores import Stores
from feed.webhooks import WebhookStore
from web.hub import Hub
from web.uploads import Uploads


@dataclasses.dataclass(frozen=True, slots=True)
class AppState:
    """The resources of one running app; created once in the lifespan."""

    settings: Settings
    store: Stores
    accounts: Accounts
    webhooks: WebhookStore
    documents: DocumentCache
    hub: Hub
    admin: AdminStore
    """Admin sessions, sign-in throttling and the audit log."""
    media: MediaStore
    """Photo files (the filesystem under the data directory by default)."""
    photos: PhotoIndex
    uploads: Uploads
    queue: Client | None = None
    """arq's queue Redis when it is not ``store.redis`` (a cluster): for /readyz."""


def state(conn: HTTPConnection) -> AppState:
    """The app's resources, for a request or a WebSocket."""
    nf: AppState = conn.app.state.nf
    return nf
