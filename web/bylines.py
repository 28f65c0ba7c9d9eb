"""Bylines: the user names a request gives become the entry's authors.

Every name must be a colleague of the feed (granted it, or an admin); each
becomes ``{"id": user name, "name": display name}`` as the user's profile has
it now. A new entry without ``authors`` is by its poster: the signed-in
editor, or the user the API token posts as (a token without an author posts
without a byline).
"""

from __future__ import annotations

from typing import Any

from feed.accounts import Accounts, User
from feed.errors import InvalidInput
from feed.validate import AUTHORS_MAX


async def resolve(accounts: Accounts, feed: str, data: Any, *, default: str | None) -> Any:
    """``data`` with its ``authors`` resolved (and the default filled in when given)."""
    if not isinstance(data, dict):
        return data  # the validator says what is wrong with it
    if "authors" not in data:
        if default is None:
            return data
        names: Any = [default]
    else:
        names = data["authors"]
    if names is None:
        names = []
    if not isinstance(names, list) or len(names) > AUTHORS_MAX:
        raise InvalidInput(
            f"authors must be a list of at most {AUTHORS_MAX} user names", field="authors"
        )
    if len(set(map(str, names))) != len(names):
        raise InvalidInput("authors must name distinct users", field="authors")
    authors = []
    for name in names:
        user = await accounts.colleague(feed, name)
        authors.append({"id": user.name, "name": user.byline, "avatar": user.avatar or None})
    return {**data, "authors": authors}


async def colleagues(accounts: Accounts, feed: str) -> list[User]:
    """The users who can be credited on the feed's updates (granted it, or admins)."""
    users = await accounts.list_users()
    return [u for u in users if u.can_edit(feed)]
