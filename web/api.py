"""The publishing API (bearer token) and the public read API (CORS, cacheable)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from feed.accounts import Token
from feed.errors import (
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionRequired,
    Unauthorized,
    UnsupportedMediaType,
)
from feed.model import Entry, to_rfc3339
from feed.stores import Stores
from feed.trail import trail
from web import bylines, embed_refs, metrics, photo_refs
from web.state import state

MAX_BODY = 64 * 1024
PAGE_MAX = 100
ETAG_RE = re.compile(r'^\s*(?:W/)?"(\d{1,9})(?:\.([0-9a-f]{16}))?"\s*$')
JSON_TYPES = ("application/json", "application/merge-patch+json")
PUBLIC_CACHE = "public, max-age=2, stale-while-revalidate=30"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


def public_response(request: Request, data: Any) -> Response:
    """A cacheable, CORS-open JSON response with a strong ETag and 304 support."""
    body = orjson.dumps(data)
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {
        "Cache-Control": PUBLIC_CACHE,
        "ETag": etag,
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "ETag",
        "Vary": "Accept-Encoding",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def authorize(request: Request, feed: str) -> Token:
    """The API token of the request, which must be granted ``feed``."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized("an Authorization: Bearer <token> header is required")
    token: Token | None = await state(request).accounts.token_for(secret.strip())
    if token is None:
        raise Unauthorized("the token is unknown or revoked")
    if token.feed != feed:
        raise Forbidden(f"the token is not granted feed {feed!r}")
    return token


async def read_json(request: Request) -> Any:
    """The request's JSON body: 415 unless JSON, 413 beyond ``MAX_BODY`` bytes."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in JSON_TYPES:
        raise UnsupportedMediaType(
            "send the entry as Content-Type: application/json", field="Content-Type"
        )
    length = request.headers.get("content-length")
    too_large = f"the request body is larger than {MAX_BODY} bytes"
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise PayloadTooLarge(too_large, field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(too_large, field="body")
    body = b"".join(chunks)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}", field="body") from None


def entity_tag(entry: Entry) -> str:
    """The entry's ETag: its version and the digest of that exact content.

    ``"3.1f0c9a2b7d4e5f60"``: the number says which version, the digest
    which content it was, so an ``If-Match`` echoing it fails (412) if the
    store came back from an older copy and handed the number out again for
    other content. ``If-Match: "3"`` (the number alone) is accepted too and
    compares the number only.
    """
    return f'"{entry.version}.{entry.tag()}"'


def if_match(request: Request) -> tuple[int, str | None] | None:
    """(version, digest or None) from ``If-Match`` (None when absent; 422 if malformed)."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    match = ETAG_RE.match(raw)
    if not match:
        raise InvalidInput(
            'If-Match must be the ETag of the entry, like "3.1f0c9a2b7d4e5f60", '
            'or its version alone, like "3"',
            field="If-Match",
        )
    return int(match.group(1)), match.group(2)


def required_if_match(request: Request) -> tuple[int, str | None]:
    precondition = if_match(request)
    if precondition is None:
        raise PreconditionRequired(
            'an If-Match: "<ETag>" header is required to edit an entry', field="If-Match"
        )
    return precondition


def entry_response(
    entry: Entry, status: int = 200, extra: dict[str, str] | None = None
) -> Response:
    headers = {"ETag": entity_tag(entry), "Cache-Control": "no-store"}
    headers.update(extra or {})
    return json_response(entry.to_json(), status, headers)


# -- publishing -------------------------------------------------------------
# The token is checked first: it is granted one existing feed, so the store's
# own feed check (404 for a feed deleted since) costs no extra round trip.
async def create_entry(request: Request) -> Response:
    feed = request.path_params["feed"]
    store = state(request).store
    token = await authorize(request, feed)
    data = await read_json(request)
    data = await bylines.resolve(state(request).accounts, feed, data, default=token.author)
    data = await photo_refs.resolve(state(request).photos, feed, data)
    data = embed_refs.resolve(state(request).settings, data)
    entry, created = await store.editorial.create_entry(
        feed,
        data,
        actor=token.actor,
        idempotency_key=request.headers.get("idempotency-key"),
        may_publish=token.may_publish,
    )
    extra = {"Location": f"/api/v1/feeds/{feed}/entries/{entry.id}"}
    if created:
        metrics.PUBLISHED.labels("create").inc()
    else:
        extra["Idempotent-Replayed"] = "true"
    return entry_response(entry, 201, extra)


async def edit_entry(request: Request) -> Response:
    feed, entry_id = request.path_params["feed"], request.path_params["id"]
    store = state(request).store
    token = await authorize(request, feed)
    version, tag = required_if_match(request)
    data = await read_json(request)
    data = await bylines.resolve(state(request).accounts, feed, data, default=None)
    data = await photo_refs.resolve(state(request).photos, feed, data)
    data = embed_refs.resolve(state(request).settings, data)
    entry = await store.editorial.edit_entry(
        feed,
        entry_id,
        data,
        if_match=version,
        if_tag=tag,
        actor=token.actor,
        may_publish=token.may_publish,
    )
    metrics.PUBLISHED.labels("edit").inc()
    return entry_response(entry)


async def retract_entry(request: Request) -> Response:
    feed, entry_id = request.path_params["feed"], request.path_params["id"]
    store = state(request).store
    token = await authorize(request, feed)
    precondition = if_match(request)
    entry = await store.editorial.retract_entry(
        feed,
        entry_id,
        if_match=None if precondition is None else precondition[0],
        if_tag=None if precondition is None else precondition[1],
        actor=token.actor,
        may_publish=token.may_publish,
    )
    metrics.PUBLISHED.labels("retract").inc()
    return entry_response(entry)


# -- public reads -------------------------------------------------------------
async def list_entries(request: Request) -> Response:
    feed = request.path_params["feed"]
    store = state(request).store
    await store.registry.get_feed(feed)
    raw_limit = request.query_params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= PAGE_MAX:
        raise InvalidInput(f"limit must be an integer from 1 to {PAGE_MAX}", field="limit")
    before = request.query_params.get("before") or None
    if before is not None and not re.fullmatch(r"[01]:\d{13}:[0-9a-z]{1,40}", before):
        raise InvalidInput("before must be the 'next' value of a previous page", field="before")
    raw_key = request.query_params.get("key_events", "")
    if raw_key not in ("", "true", "false", "1", "0"):
        raise InvalidInput("key_events must be true or false", field="key_events")
    page = await store.public.read_timeline(
        feed, limit=int(raw_limit), before=before, key_events=raw_key in ("true", "1")
    )
    return public_response(
        request,
        {
            "feed": feed,
            "entries": [e.to_json() for e in page.entries],
            "cursor": str(page.cursor),
            "next": page.next,
        },
    )


async def get_entry(request: Request) -> Response:
    feed, entry_id = request.path_params["feed"], request.path_params["id"]
    store = state(request).store
    entry = await _public_or_gone(store, feed, entry_id)
    return public_response(request, entry.to_json())


async def entry_history(request: Request) -> Response:
    feed, entry_id = request.path_params["feed"], request.path_params["id"]
    store = state(request).store
    await _public_or_gone(store, feed, entry_id)
    events = await store.editorial.history(feed, entry_id)
    marks = {step.version: step.mark for step in trail(events)}
    versions = [
        {
            "version": e.entry.version,
            "kind": e.kind,
            "at": to_rfc3339(e.at),
            "changes": list(e.changes),
            "mark": marks.get(e.entry.version),
            "entry": e.entry.to_json(),
        }
        for e in events
        if e.entry.status == "published"
    ]
    return public_response(request, {"id": entry_id, "feed": feed, "versions": versions})


async def _public_or_gone(store: Stores, feed: str, entry_id: str) -> Entry:
    await store.registry.get_feed(feed)
    try:
        return await store.public.public_entry(feed, entry_id)
    except NotFound:
        try:
            current = await store.editorial.get_entry(feed, entry_id)
        except NotFound:
            raise NotFound(f"no entry {entry_id!r} in feed {feed!r}") from None
        if current.status == "retracted" and await _was_public(store, feed, entry_id):
            raise Gone(f"entry {entry_id!r} was retracted") from None
        raise NotFound(f"no entry {entry_id!r} in feed {feed!r}") from None


async def _was_public(store: Stores, feed: str, entry_id: str) -> bool:
    """Whether readers ever saw the entry (a never-published one stays 404)."""
    events = await store.editorial.history(feed, entry_id)
    return any(e.entry.status == "published" for e in events)


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/feeds/{feed}/entries", list_entries, methods=["GET"]),
        Route("/api/v1/feeds/{feed}/entries", create_entry, methods=["POST"]),
        Route("/api/v1/feeds/{feed}/entries/{id}", get_entry, methods=["GET"]),
        Route("/api/v1/feeds/{feed}/entries/{id}", edit_entry, methods=["PATCH"]),
        Route("/api/v1/feeds/{feed}/entries/{id}", retract_entry, methods=["DELETE"]),
        Route("/api/v1/feeds/{feed}/entries/{id}/history", entry_history, methods=["GET"]),
    ]
