"""Partner isolation under backlog, and deliveries that cannot be attempted.

Real worker processes, a real receiver on loopback (private addresses
allowed for the test only).
"""

from __future__ import annotations

import time

import orjson
import standardwebhooks

from feed import keys
from feed.delivery_queue import DeliveryQueue
from feed.model import now_ms
from feed.stores import Stores
from feed.webhooks import Delivery, Webhook, WebhookStore
from tests.conftest import make_feed, seconds
from tests.workers.conftest import FAST_WEBHOOKS, Workers, eventually
from tests.workers.receiver import Receiver, always

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BACKLOG = 100_000
CHUNK = 2_000


async def fill_backlog(store: Stores, hooks: WebhookStore, hook: Webhook, n: int) -> None:
    """Queue ``n`` deliveries for ``hook`` through the dispatcher's own step
    (as if it had dispatched ``n`` live messages), in chunks."""
    body = orjson.dumps({"type": "publish", "feed": hook.feed, "entry": {"id": "x"}}).decode()
    created = now_ms()
    for start in range(0, n, CHUNK):
        pending = await hooks.pending(hook.feed)
        batch = [
            Delivery(hook.feed, hook.id, f"{hook.id}.backlog-{i}", "publish", body, created)
            for i in range(start, min(n, start + CHUNK))
        ]
        empty = type(pending)(pending.pos, pending.pos, [], pending.hooks, pending.epoch)
        assert await hooks.dispatch_batch(hook.feed, empty, batch)


async def test_a_timing_out_partner_with_100k_queued_does_not_delay_a_new_one(
    pstore: Stores, workers: Workers
) -> None:
    await make_feed(pstore, "news")
    await make_feed(pstore, "sport")
    hooks = WebhookStore(pstore.redis, allow_private=True)
    queue = DeliveryQueue(pstore.redis)
    async with Receiver().serving() as rx:
        # Partner A never answers: every attempt runs into the 2 s timeout.
        stuck = await hooks.add("news", rx.on("/stuck", always(200, delay=120)), SECRET)
        await fill_backlog(pstore, hooks, stuck, BACKLOG)
        assert await queue.depth(stuck) == BACKLOG
        env = {**FAST_WEBHOOKS, "NEWSFEED_WEBHOOK_MAX_AGE_SECONDS": "3600"}
        workers.start(**env)
        workers.start(**env)

        async def stuck_is_being_tried() -> bool:
            return rx.in_flight >= 2

        await eventually(stuck_is_being_tried, what="the workers to be busy with partner A")
        # Partner B (same feed) and C (another feed) register now.
        same = await hooks.add("news", rx.on("/same-feed", always(204)), SECRET)
        other = await hooks.add("sport", rx.on("/other-feed", always(204)), SECRET)
        started = time.monotonic()
        await pstore.editorial.create_entry("news", {"headline": "For B"}, actor="t")
        await pstore.editorial.create_entry("sport", {"headline": "For C"}, actor="t")

        async def both_delivered() -> bool:
            return bool(rx.at("/same-feed", 204)) and bool(rx.at("/other-feed", 204))

        # "Within seconds": the bound is generous for a busy machine, far
        # below the minutes the shared queue took.
        await eventually(both_delivered, within=10, what="B's and C's first deliveries")
        waited = time.monotonic() - started
        for r in (*rx.at("/same-feed"), *rx.at("/other-feed")):
            assert standardwebhooks.Webhook(SECRET).verify(r.body, r.headers)
        assert rx.at("/same-feed")[0].headers["webhook-id"].startswith(same.id + ".")
        assert rx.at("/other-feed")[0].headers["webhook-id"].startswith(other.id + ".")
        # A's backlog was real the whole time, and A got only its own share.
        assert await queue.depth(stuck) >= BACKLOG - 200
        assert rx.in_flight <= 2 * 4 + 2  # two workers x webhook_concurrency (+ B, C)
        print(f"first deliveries of B and C {waited:.2f}s after publishing (bound {seconds(10)}s)")


async def test_a_delivery_that_cannot_be_attempted_is_dead_lettered_with_the_reason(
    pstore: Stores, workers: Workers
) -> None:
    """Webhooks stored before the strict URL check (an earlier release): the
    worker dead-letters each delivery with the reason and goes on."""
    await make_feed(pstore, "news")
    hooks = WebhookStore(pstore.redis, allow_private=True)
    async with Receiver().serving() as rx:
        good = await hooks.add("news", rx.on("/good", always(204)), SECRET)
        bad_urls = {
            "wh_00000000000000a1": "https://ex.com/\x00",
            "wh_00000000000000a2": "https://xn--/",
        }
        for hook_id, url in bad_urls.items():
            legacy = Webhook(hook_id, "news", url, SECRET, "legacy", now_ms())
            await pstore.redis.hset(keys.webhooks("news"), hook_id, legacy.dumps())
        workers.start(**FAST_WEBHOOKS)
        await pstore.editorial.create_entry("news", {"headline": "One"}, actor="t")
        await pstore.editorial.create_entry("news", {"headline": "Two"}, actor="t")

        async def settled() -> bool:
            return len(await hooks.list_dead("news")) == 4 and len(rx.at("/good")) == 2

        await eventually(settled, what="four dead letters and two good deliveries")
        dead = await hooks.list_dead("news")
        assert {d["webhook_id"] for d in dead} == set(bad_urls)
        for d in dead:
            assert d["attempts"] == 1
            assert d["url"] == bad_urls[d["webhook_id"]]
            assert d["last_error"], d
        assert all(h.headers["webhook-id"].startswith(good.id) for h in rx.at("/good"))
        # Nothing left queued for the bad ones, and the worker did not crash.
        for hook_id in bad_urls:
            assert await pstore.redis.zcard(keys.webhook_queue("news", hook_id)) == 0
        popen = workers.procs[0].popen
        assert popen is not None and popen.poll() is None
        log = workers.logs()
        assert "Traceback" not in log, log[-3000:]
