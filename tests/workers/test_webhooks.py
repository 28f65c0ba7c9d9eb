"""Webhooks to a local receiver: signed (verified with the Standard Webhooks
reference verifier), retried after 500s, dead-lettered, and one slow partner
never holds back another."""

from __future__ import annotations

import asyncio

import orjson
import standardwebhooks

from feed.stores import Stores
from feed.webhook_signing import legacy_verify
from feed.webhooks import WebhookStore
from tests.conftest import make_feed
from tests.workers.conftest import FAST_WEBHOOKS, Workers, eventually
from tests.workers.receiver import Receiver, always

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WRONG = "whsec_" + "A" * 32


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return legacy_verify(secret, timestamp, body, signature)


async def test_deliveries_are_signed_and_carry_the_live_message(
    pstore: Stores, workers: Workers
) -> None:
    await make_feed(pstore, "news")
    hooks = WebhookStore(pstore.redis, allow_private=True)
    async with Receiver().serving() as rx:
        hook = await hooks.add("news", rx.on("/hook", always(204)), SECRET)
        workers.start(**FAST_WEBHOOKS)
        entry, _ = await pstore.editorial.create_entry(
            "news", {"headline": "Talks in <Istanbul>"}, actor="t"
        )
        await pstore.editorial.edit_entry(
            "news", entry.id, {"headline": "Talks end", "mark_updated": True}, if_match=1, actor="t"
        )
        await pstore.editorial.retract_entry("news", entry.id, if_match=2, actor="t")

        async def three() -> bool:
            return len(rx.at("/hook")) >= 3

        await eventually(three, what="three deliveries")
        await asyncio.sleep(0.3)
        got = rx.at("/hook")
        assert len(got) == 3, "each event is delivered once to a healthy partner"
        by_version = sorted(got, key=lambda r: orjson.loads(r.body)["entry"]["version"])
        assert [r.headers["x-newsfeed-event"] for r in by_version] == [
            "publish",
            "update",
            "retract",
        ]
        assert len({r.headers["x-newsfeed-delivery"] for r in got}) == 3
        reference = standardwebhooks.Webhook(SECRET)
        for r in got:
            assert reference.verify(r.body, r.headers) == orjson.loads(r.body)
            assert r.headers["webhook-id"] == r.headers["x-newsfeed-delivery"]
            try:
                standardwebhooks.Webhook(WRONG).verify(r.body, r.headers)
                raise AssertionError("verified with the wrong secret")
            except standardwebhooks.WebhookVerificationError:
                pass
            assert r.headers["content-type"] == "application/json"
            assert r.headers["x-newsfeed-signature"].startswith("sha256=")
            assert verify(
                SECRET, r.headers["x-newsfeed-timestamp"], r.body, r.headers["x-newsfeed-signature"]
            )
            assert not verify(
                WRONG,
                r.headers["x-newsfeed-timestamp"],
                r.body,
                r.headers["x-newsfeed-signature"],
            )
            body = orjson.loads(r.body)
            assert body["feed"] == "news" and body["type"] == r.headers["x-newsfeed-event"]
            assert body["entry"]["id"] == entry.id
            assert r.headers["x-newsfeed-delivery"].startswith(hook.id + ".")
            assert body["cursor"].endswith(r.headers["x-newsfeed-delivery"].split(".", 1)[1])
        publish = orjson.loads(by_version[0].body)
        assert publish["entry"]["headline"] == "Talks in <Istanbul>"
        assert orjson.loads(by_version[2].body)["entry"] == {
            "id": entry.id,
            "feed": "news",
            "version": 3,
            "status": "retracted",
        }


async def test_a_500_is_retried_and_a_dead_partner_is_dead_lettered(
    pstore: Stores, workers: Workers
) -> None:
    await make_feed(pstore, "news")
    hooks = WebhookStore(pstore.redis, allow_private=True)
    async with Receiver().serving() as rx:
        # Fails twice per delivery, then accepts.
        flaky = await hooks.add(
            "news", rx.on("/flaky", lambda n, h: (500 if n <= 2 else 200, 0.0)), SECRET
        )
        dead = await hooks.add("news", rx.on("/dead", always(500)), SECRET)
        workers.start(**FAST_WEBHOOKS)
        entry, _ = await pstore.editorial.create_entry("news", {"headline": "Breaking"}, actor="t")

        async def flaky_delivered() -> bool:
            return len(rx.at("/flaky", 200)) == 1

        await eventually(flaky_delivered, what="the flaky partner to get it")
        attempts = rx.at("/flaky")
        assert [r.status for r in attempts] == [500, 500, 200]
        assert len({r.headers["x-newsfeed-delivery"] for r in attempts}) == 1
        assert all(
            verify(
                SECRET, r.headers["x-newsfeed-timestamp"], r.body, r.headers["x-newsfeed-signature"]
            )
            for r in attempts
        )

        async def dead_lettered() -> bool:
            return bool(await hooks.list_dead("news"))

        await eventually(dead_lettered, within=30, what="a dead letter")
        (letter,) = await hooks.list_dead("news")
        assert letter["webhook_id"] == dead.id
        assert letter["delivery_id"] == rx.at("/dead")[0].headers["x-newsfeed-delivery"]
        assert letter["last_error"] == "HTTP 500"
        assert letter["attempts"] == len(rx.at("/dead")) >= 2
        assert orjson.loads(letter["body"])["entry"]["id"] == entry.id
        # No more attempts once dead-lettered; the flaky partner is not in it.
        seen = len(rx.at("/dead"))
        await asyncio.sleep(1.0)
        assert len(rx.at("/dead")) == seen
        assert all(d["webhook_id"] != flaky.id for d in await hooks.list_dead("news"))


async def test_a_slow_partner_does_not_hold_back_another(pstore: Stores, workers: Workers) -> None:
    await make_feed(pstore, "news")
    hooks = WebhookStore(pstore.redis, allow_private=True)
    async with Receiver().serving() as rx:
        await hooks.add("news", rx.on("/slow", always(200, delay=30)), SECRET)
        await hooks.add("news", rx.on("/fast", always(200)), SECRET)
        workers.start(**{**FAST_WEBHOOKS, "NEWSFEED_WEBHOOK_TIMEOUT_SECONDS": "20"})
        for i in range(20):
            await pstore.editorial.create_entry("news", {"headline": f"Update {i}"}, actor="t")

        async def fast_has_all() -> bool:
            return len(rx.at("/fast", 200)) >= 20

        await eventually(fast_has_all, what="the fast partner to get every event")
        # ... while the slow partner has not answered a single one yet.
        assert rx.at("/slow") == []
        assert 1 <= rx.in_flight <= 4  # the per-webhook concurrency bound


async def test_a_private_destination_is_not_called(pstore: Stores, workers: Workers) -> None:
    """Without NEWSFEED_WEBHOOK_ALLOW_PRIVATE the worker resolves the host
    before each request and never calls a loopback/private address."""
    await make_feed(pstore, "news")
    hooks = WebhookStore(pstore.redis, allow_private=True)  # as if registered elsewhere
    async with Receiver().serving() as rx:
        await hooks.add("news", rx.on("/internal", always(200)), SECRET)
        env = {k: v for k, v in FAST_WEBHOOKS.items() if k != "NEWSFEED_WEBHOOK_ALLOW_PRIVATE"}
        workers.start(**env)
        await pstore.editorial.create_entry("news", {"headline": "Breaking"}, actor="t")

        async def dead_lettered() -> bool:
            return bool(await hooks.list_dead("news"))

        await eventually(dead_lettered, what="the blocked delivery to be dead-lettered")
        (letter,) = await hooks.list_dead("news")
        assert letter["last_error"].startswith("blocked: 127.0.0.1")
        assert letter["attempts"] == 1
        assert rx.received == []
