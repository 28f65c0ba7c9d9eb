"""Users, roles, grants and API tokens, in Redis.

Passwords are hashed with argon2 (argon2-cffi); API tokens are random,
shown once, and stored only as their SHA-256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from typing import Any, Literal, TypeGuard

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from feed import keys
from feed.errors import Conflict, InvalidInput, NotFound
from feed.i18n import check_language
from feed.model import now_ms
from feed.redis_io import Client, Commands, as_str, translated

Role = Literal["admin", "editor", "contributor"]
ROLES: tuple[Role, ...] = ("admin", "editor", "contributor")
Scope = Literal["publish", "draft"]
"""What an API token may do: publish, or only write drafts and submit them."""


def is_role(value: str) -> TypeGuard[Role]:
    return value in ROLES


USERNAME_RE = re.compile(r"^[a-zA-Z0-9_.@-]{1,64}$")
TOKEN_PREFIX = "nft_"
_hasher = PasswordHasher()


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    feeds: frozenset[str]
    password_hash: str
    display_name: str = ""
    """The name in bylines ("Olena Kovalenko"); the user name when empty."""
    bio: str = ""
    """A short public bio (plain text)."""
    avatar: str = ""
    """A site-relative ``/media/<sha256>.jpg`` URL of a square avatar ('' for none)."""

    @property
    def byline(self) -> str:
        return self.display_name or self.name

    def can_edit(self, feed: str) -> bool:
        return self.role == "admin" or feed in self.feeds

    @property
    def may_publish(self) -> bool:
        """Editors and admins publish; a contributor only drafts (feed.review)."""
        return self.role != "contributor"

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    id: str
    feed: str
    name: str
    created_at: int
    scope: Scope = "publish"
    author: str | None = None
    """The user this token posts as (its byline), checked against the feed's users."""

    @property
    def actor(self) -> str:
        return f"token:{self.name}({self.id})"

    @property
    def may_publish(self) -> bool:
        return self.scope == "publish"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "feed": self.feed,
            "name": self.name,
            "created_at": self.created_at,
            "scope": self.scope,
            "author": self.author,
        }


def _scope(raw: bytes | None) -> Scope:
    return "draft" if raw == b"draft" else "publish"


AVATAR_URL_RE = re.compile(r"^/media/[0-9a-f]{64}\.jpg$")
DISPLAY_NAME_MAX = 80
BIO_MAX = 300


def profile_text(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", field=field)
    text = " ".join(value.split())
    if len(text) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text):
        raise InvalidInput(f"{field} contains control characters", field=field)
    return text


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise InvalidInput("a password needs at least 10 characters", field="password")
    return _hasher.hash(password)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, redis: Client) -> None:
        self.redis: Commands = redis

    # -- users --------------------------------------------------------------
    async def add_user(
        self, name: str, password: str, role: str = "editor", feeds: frozenset[str] = frozenset()
    ) -> User:
        """A new user; ``role`` and ``name`` are checked here (they come from forms)."""
        if not USERNAME_RE.match(name):
            raise InvalidInput("a user name is 1-64 letters, digits or _.@-", field="name")
        if not is_role(role):
            raise InvalidInput("role is admin, editor or contributor", field="role")
        user = User(name, role, frozenset(feeds), hash_password(password))
        async with translated():
            if not await self.redis.sadd(keys.USERS, name):
                raise Conflict(f"user {name!r} already exists")
            await self._save(user)
        return user

    async def _save(self, user: User) -> None:
        await self.redis.hset(
            keys.user(user.name),
            mapping={
                "password_hash": user.password_hash,
                "role": user.role,
                "feeds": orjson.dumps(sorted(user.feeds)),
                "display_name": user.display_name,
                "bio": user.bio,
                "avatar": user.avatar,
            },
        )

    async def get_user(self, name: str) -> User:
        if not USERNAME_RE.match(name):
            raise NotFound(f"no user {name!r}")
        async with translated():
            raw = await self.redis.hgetall(keys.user(name))
        if not raw:
            raise NotFound(f"no user {name!r}")
        return User(
            name,
            as_str(raw[b"role"]),  # type: ignore[arg-type]
            frozenset(orjson.loads(raw.get(b"feeds") or b"[]")),
            as_str(raw[b"password_hash"]),
            display_name=as_str(raw.get(b"display_name") or b""),
            bio=as_str(raw.get(b"bio") or b""),
            avatar=as_str(raw.get(b"avatar") or b""),
        )

    async def set_profile(self, name: str, display_name: Any, bio: Any) -> User:
        """Set the byline name and bio (plain text, one line each, bounded)."""
        user = dataclasses.replace(
            await self.get_user(name),
            display_name=profile_text(display_name, "display_name", DISPLAY_NAME_MAX),
            bio=profile_text(bio, "bio", BIO_MAX),
        )
        async with translated():
            await self._save(user)
        return user

    async def set_avatar(self, name: str, url: str) -> User:
        """Set (or with '' remove) the avatar: one of our own media URLs."""
        if url and not AVATAR_URL_RE.match(url):
            raise InvalidInput("an avatar is an uploaded image", field="avatar")
        user = dataclasses.replace(await self.get_user(name), avatar=url)
        async with translated():
            await self._save(user)
        return user

    async def colleague(self, feed: str, name: Any) -> User:
        """The user ``name`` if they work on ``feed`` (granted it, or an admin)."""
        if not isinstance(name, str) or not USERNAME_RE.match(name):
            raise InvalidInput("authors must be user names of the feed", field="authors")
        unknown = InvalidInput(f"no user {name!r} works on feed {feed!r}", field="authors")
        try:
            user = await self.get_user(name)
        except NotFound:
            raise unknown from None
        if not user.can_edit(feed):
            raise unknown
        return user

    async def ui_language(self, name: str) -> str:
        """The language this user chose for the admin pages ('en' if none)."""
        async with translated():
            raw = await self.redis.hget(keys.user(name), "ui_language")
        return as_str(raw) if raw else "en"

    async def set_ui_language(self, name: str, tag: str) -> str:
        tag = check_language(tag)
        await self.get_user(name)
        async with translated():
            await self.redis.hset(keys.user(name), "ui_language", tag)
        return tag

    async def list_users(self) -> list[User]:
        async with translated():
            names = sorted(as_str(n) for n in await self.redis.smembers(keys.USERS))
        return [await self.get_user(n) for n in names]

    async def set_grants(self, name: str, feeds: frozenset[str]) -> User:
        user = dataclasses.replace(await self.get_user(name), feeds=frozenset(feeds))
        async with translated():
            await self._save(user)
        return user

    async def set_role(self, name: str, role: str) -> User:
        if not is_role(role):
            raise InvalidInput("role is admin, editor or contributor", field="role")
        user = dataclasses.replace(await self.get_user(name), role=role)
        async with translated():
            await self._save(user)
        return user

    async def set_password(self, name: str, password: str) -> User:
        user = dataclasses.replace(await self.get_user(name), password_hash=hash_password(password))
        async with translated():
            await self._save(user)
        return user

    async def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches, else None (timing kept similar)."""
        try:
            user = await self.get_user(name)
        except NotFound:
            _hasher.hash(password)  # spend the same time as a real check
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            await self.set_password(name, password)
        return user

    # -- API tokens -----------------------------------------------------------
    async def create_token(
        self, feed: str, name: str, scope: str = "publish", author: str | None = None
    ) -> tuple[str, Token]:
        """A new token for one feed: (the secret, shown once; its record).

        ``author``: the user it posts as (its byline), who must work on the feed.
        """
        name = " ".join(str(name).split())[:100] or "token"
        if scope not in ("publish", "draft"):
            raise InvalidInput("a token's scope is publish or draft", field="scope")
        if author:
            author = (await self.colleague(feed, author)).name
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_digest(secret)
        token = Token(
            digest[:12],
            feed,
            name,
            now_ms(),
            "draft" if scope == "draft" else "publish",
            author=author or None,
        )
        async with translated():
            await self.redis.hset(
                keys.token(digest),
                mapping={
                    "id": token.id,
                    "feed": feed,
                    "name": name,
                    "created_at": token.created_at,
                    "scope": token.scope,
                    "author": token.author or "",
                },
            )
            await self.redis.sadd(keys.tokens(feed), digest)
        return secret, token

    async def token_for(self, secret: str) -> Token | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
            return None
        async with translated():
            raw = await self.redis.hgetall(keys.token(token_digest(secret)))
        if not raw:
            return None
        return Token(
            as_str(raw[b"id"]),
            as_str(raw[b"feed"]),
            as_str(raw[b"name"]),
            int(raw[b"created_at"]),
            _scope(raw.get(b"scope")),
            author=as_str(raw.get(b"author") or b"") or None,
        )

    async def list_tokens(self, feed: str) -> list[Token]:
        async with translated():
            digests = sorted(as_str(d) for d in await self.redis.smembers(keys.tokens(feed)))
            out = []
            for digest in digests:
                raw = await self.redis.hgetall(keys.token(digest))
                if raw:
                    out.append(
                        Token(
                            as_str(raw[b"id"]),
                            feed,
                            as_str(raw[b"name"]),
                            int(raw[b"created_at"]),
                            _scope(raw.get(b"scope")),
                            author=as_str(raw.get(b"author") or b"") or None,
                        )
                    )
        return out

    async def revoke_token(self, feed: str, token_id: str) -> None:
        async with translated():
            for digest in await self.redis.smembers(keys.tokens(feed)):
                if as_str(digest).startswith(token_id) and len(token_id) == 12:
                    await self.redis.delete(keys.token(as_str(digest)))
                    await self.redis.srem(keys.tokens(feed), digest)
                    return
        raise NotFound(f"no token {token_id!r} in feed {feed!r}")
