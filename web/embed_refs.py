"""An entry's ``embed`` request, checked against the provider allow-list.

``{"url": "<post URL>"}`` becomes a pending embed (``feed.model.Embed``) of
the provider whose URL scheme it matches (``feed.embeds``), else a 422 naming
``embed`` and nothing is written; ``null`` removes the embed. The card itself
is fetched later by a worker, never while the request waits.
"""

from __future__ import annotations

from typing import Any

from feed import embeds
from feed.settings import Settings


def resolve(settings: Settings, data: Any) -> Any:
    if not isinstance(data, dict) or data.get("embed") is None:
        return data
    return {**data, "embed": embeds.requested(data["embed"], settings.oembed_extra)}
