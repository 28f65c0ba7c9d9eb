"""An entry's ``photo`` reference, completed from the feed's photo index."""

from __future__ import annotations

from typing import Any

from feed.errors import InvalidInput
from feed.media import PhotoIndex


async def resolve(index: PhotoIndex, feed: str, data: Any) -> Any:
    """``data`` with its ``photo`` reference completed from the feed's photo index.

    ``{"id", "alt", "caption", "credit"}`` becomes the whole manifest plus
    those texts (checked by the validator); an id this feed never uploaded
    is a 422 naming ``photo``. ``null`` removes the photo.
    """
    if not isinstance(data, dict) or data.get("photo") is None:
        return data
    ref = data["photo"]
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
        raise InvalidInput(
            'photo must be {"id", "alt", "caption", "credit"} with the id of an upload',
            field="photo",
        )
    extra = set(ref) - {"id", "alt", "caption", "credit"}
    if extra:
        raise InvalidInput(f"unknown photo field {sorted(extra)[0]!r}", field="photo")
    manifest = await index.get(feed, ref["id"])
    if manifest is None:
        raise InvalidInput(f"no photo {ref['id'][:40]!r} was uploaded to this feed", field="photo")
    photo = {
        **manifest,
        "alt": ref.get("alt"),
        "caption": ref.get("caption"),
        "credit": ref.get("credit"),
    }
    return {**data, "photo": photo}
