"""The pure parts of webhooks: signature, retry schedule, which deliveries."""

from __future__ import annotations

import hashlib
import hmac
import random

import orjson
import pytest

from feed.errors import InvalidInput
from feed.livestream import LiveMessage
from feed.webhooks import (
    Webhook,
    backoff_delay,
    check_secret,
    check_url,
    deliveries,
    headers,
    sign,
    verify,
)


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"type":"publish"}'
    expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, 1_700_000_000, body) == f"sha256={expected}"
    assert verify("k" * 16, "1700000000", body, f"sha256={expected}")
    assert not verify("k" * 16, "1700000001", body, f"sha256={expected}")
    assert not verify("k" * 16, "1700000000", body + b" ", f"sha256={expected}")
    assert not verify("k" * 16, "nope", body, f"sha256={expected}")


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 30):
        ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
        samples = [backoff_delay(attempt, base=2.0, cap=600.0, rng=rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # full jitter spans the range
        assert min(samples) < ceiling * 0.2


def test_urls_and_secrets() -> None:
    assert check_url("https://partner.example/hooks?x=1") == "https://partner.example/hooks?x=1"
    for bad in ("ftp://x/", "https:///nohost", "//x/y", "http://a b/", "", None, 1, "h" * 3000):
        with pytest.raises(InvalidInput):
            check_url(bad)
    for private in (
        "http://127.0.0.1/",
        "http://localhost:8000/",
        "https://10.0.0.8/",
        "http://[fe80::1]/",
        "http://169.254.169.254/",
        "http://0.0.0.0/",
    ):
        with pytest.raises(InvalidInput, match="private"):
            check_url(private)
        assert check_url(private, allow_private=True) == private
    assert check_url("http://8.8.8.8/hook") == "http://8.8.8.8/hook"
    assert check_secret(None).startswith("whsec_")
    assert check_secret(None) != check_secret(None)
    with pytest.raises(InvalidInput):
        check_secret("short")
    with pytest.raises(InvalidInput):
        check_secret("x" * 15 + "\n")


def test_each_message_goes_to_the_webhooks_that_existed_then() -> None:
    old = Webhook("wh_0000000000000001", "news", "https://a.example/", "s" * 16, "", 1000)
    new = Webhook("wh_0000000000000002", "news", "https://b.example/", "s" * 16, "", 2000)
    entry = orjson.dumps({"id": "e1", "feed": "news", "version": 1})
    msgs = [
        LiveMessage((1500, 0), "publish", "e1", 1, entry),
        LiveMessage((2500, 3), "update", "e1", 2, entry),
    ]
    out = deliveries("news", "ab12", [old, new], msgs, now=9)
    assert [(d.webhook_id, d.delivery_id) for d in out] == [
        (old.id, f"{old.id}.1500-0"),
        (old.id, f"{old.id}.2500-3"),
        (new.id, f"{new.id}.2500-3"),
    ]
    body = orjson.loads(out[1].body)
    assert body == {
        "type": "update",
        "feed": "news",
        "cursor": "ab12.2500-3",
        "entry": {"id": "e1", "feed": "news", "version": 1},
    }
    assert out[1].job_id != out[1].next_attempt().job_id
    h = headers(out[0], "s" * 16, 1234)
    assert h["X-Newsfeed-Event"] == "publish" and h["X-Newsfeed-Timestamp"] == "1234"
    assert verify("s" * 16, "1234", out[0].body.encode(), h["X-Newsfeed-Signature"])
