"""Setting a feed's language: the settings page (admin) and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

from feed.accounts import Accounts
from feed.stores import Stores
from tests.conftest import ROOT, Services, seconds
from tests.web.admin_util import add_user, signed_in


async def test_admin_sets_a_feeds_language(
    services: Services, store: Stores, accounts: Accounts
) -> None:
    await add_user(accounts, "chief", "admin")
    async with signed_in(services.base_url, "chief") as (admin, csrf):
        r = await admin.post(
            "/admin/feeds",
            data={"csrf_token": csrf, "slug": "uk-desk", "title": "Київ", "language": "uk"},
        )
        assert r.status_code == 303
        assert (await store.registry.get_feed("uk-desk")).language == "uk"
        page = (await admin.get("/admin/feeds/uk-desk/settings")).text
        assert '<option value="uk" selected>Українська (uk)</option>' in page
        assert '<option value="en">English (en)</option>' in page
        for bad in ("de", "klingon", "en_GB"):
            await admin.post(
                "/admin/feeds/uk-desk/settings",
                data={"csrf_token": csrf, "title": "Київ", "language": bad},
            )
            assert (await store.registry.get_feed("uk-desk")).language == "uk", bad
        await admin.post(
            "/admin/feeds/uk-desk/settings",
            data={"csrf_token": csrf, "title": "Kyiv", "language": "en-GB"},
        )
        assert (await store.registry.get_feed("uk-desk")).language == "en-GB"
        audit = (await admin.get("/admin/feeds/uk-desk/audit")).text
        assert "en-GB" in audit
        # an unknown language in the create form creates nothing
        await admin.post(
            "/admin/feeds", data={"csrf_token": csrf, "slug": "de-desk", "language": "de"}
        )
        assert "de-desk" not in await store.registry.list_feeds()
        page = (await admin.get("/admin/")).text
        assert "UTC · en-GB" in page


def _cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, REDIS_URL=redis_url, NEWSFEED_SECRET_KEY="k" * 32)
    return subprocess.run(
        [sys.executable, "-m", "newsfeed", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=seconds(60),
    )


async def test_cli_creates_and_changes_a_feeds_language(redis_url: str, store: Stores) -> None:
    made = _cli(
        redis_url, "feed", "create", "kyiv-uk", "--timezone", "Europe/Kyiv", "--language", "uk"
    )
    assert made.returncode == 0, made.stderr
    assert (await store.registry.get_feed("kyiv-uk")).language == "uk"
    listed = _cli(redis_url, "feed", "list")
    assert "kyiv-uk\tEurope/Kyiv\tuk\tkyiv-uk" in listed.stdout
    refused = _cli(redis_url, "feed", "set", "kyiv-uk", "--language", "de")
    assert refused.returncode != 0 and "de" in refused.stderr and "Traceback" not in refused.stderr
    assert (await store.registry.get_feed("kyiv-uk")).language == "uk"
    changed = _cli(redis_url, "feed", "set", "kyiv-uk", "--language", "en", "--title", "Kyiv")
    assert changed.returncode == 0, changed.stderr
    meta = await store.registry.get_feed("kyiv-uk")
    assert (meta.language, meta.title, meta.timezone) == ("en", "Kyiv", "Europe/Kyiv")
    bad = _cli(redis_url, "feed", "create", "other", "--language", "xx-YY-ZZ")
    assert bad.returncode != 0 and "other" not in await store.registry.list_feeds()
