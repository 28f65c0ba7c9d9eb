"""Shared helpers of the admin page tests: users, sign-in over HTTP, routes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator

import httpx
from starlette.routing import Mount, Route

from feed.accounts import Accounts
from feed.settings import Settings
from tests.conftest import SECRET
from web.admin import PUBLIC_ROUTES
from web.app import create_app

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
NONCE_RE = re.compile(r'name="nonce" value="([^"]+)"')


async def add_user(
    accounts: Accounts, name: str, role: str = "editor", feeds: tuple[str, ...] = ()
) -> None:
    await accounts.add_user(name, PASSWORD, role, frozenset(feeds))


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/admin/login")
    return await client.post(
        "/admin/login",
        data={"name": name, "password": password, "csrf_token": csrf_of(page.text)},
    )


@contextlib.asynccontextmanager
async def signed_in(base_url: str, name: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in as ``name`` and its session's CSRF token."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await sign_in(client, name)
        assert response.status_code == 303, response.text
        dashboard = await client.get("/admin/", headers={"Accept": "text/html"})
        assert dashboard.status_code == 200
        yield client, csrf_of(dashboard.text)


def admin_routes() -> Iterator[tuple[str, str, str]]:
    """(route name or path, method, path template) of every route under /admin."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", secret_key=SECRET))
    mounts = [r for r in app.routes if isinstance(r, Mount) and r.path == "/admin"]
    assert len(mounts) == 1
    for route in mounts[0].routes:
        assert isinstance(route, Route), route
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield route.name, method, "/admin" + route.path


def concrete(template: str, feed: str = "news", entry: str = "x", **extra: str) -> str:
    values = {
        "feed": feed,
        "id": entry,
        "token": "0" * 12,
        "hook": "wh_" + "0" * 16,
        "name": "someone",
        **extra,
    }
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], template)


def public(name: str) -> bool:
    return name in PUBLIC_ROUTES
