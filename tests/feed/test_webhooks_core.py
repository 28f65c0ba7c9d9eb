"""The pure parts of webhooks: signatures (checked with the Standard Webhooks
reference verifier), URL and secret rules, retry schedule, which deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import time

import orjson
import pytest
import standardwebhooks

from feed.errors import InvalidInput
from feed.livestream import LiveMessage
from feed.webhook_signing import headers, legacy_sign, legacy_verify, new_secret, signing_key
from feed.webhooks import (
    Delivery,
    Webhook,
    backoff_delay,
    check_secret,
    check_url,
    deliveries,
)


def test_the_reference_verifier_accepts_our_signature_and_nothing_else() -> None:
    secret = new_secret()
    body = b'{"type":"publish","feed":"news"}'
    now = int(time.time())
    sent = headers("wh_1.1700000000000-0", "publish", body, secret, now)
    verifier = standardwebhooks.Webhook(secret)
    assert verifier.verify(body, sent) == orjson.loads(body)
    for tampered in (
        {**sent, "webhook-id": "wh_1.1700000000000-1"},
        {**sent, "webhook-timestamp": str(now + 1)},
    ):
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            verifier.verify(body, tampered)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        verifier.verify(body + b" ", sent)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new_secret()).verify(body, sent)
    old = headers("wh_1.1-0", "publish", body, secret, now - 3600)
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
        verifier.verify(body, old)


def test_a_secret_from_before_the_standard_still_verifies_with_the_reference() -> None:
    legacy = "whsec_" + "Ab-_9" * 8  # URL-safe base64, as the previous release generated
    body = b"{}"
    sent = headers("wh_1.1-0", "update", body, legacy, int(time.time()))
    assert standardwebhooks.Webhook(legacy).verify(body, sent) == {}
    assert signing_key(legacy)


def test_the_deprecated_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"type":"publish"}'
    expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert legacy_sign("k" * 16, 1_700_000_000, body) == f"sha256={expected}"
    assert legacy_verify("k" * 16, "1700000000", body, f"sha256={expected}")
    assert not legacy_verify("k" * 16, "1700000001", body, f"sha256={expected}")
    assert not legacy_verify("k" * 16, "1700000000", body + b" ", f"sha256={expected}")
    assert not legacy_verify("k" * 16, "nope", body, f"sha256={expected}")


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
    # What no client can send to: refused for everyone, private addresses allowed or not.
    for unsendable in (
        "https://ex.com/\u0000",
        "https://ex.com/a\u0007b",
        "https://ex.com/\x7f",
        "https://xn--/",
        "https://xn--zz-.com/",
        "https://-bad-.example/",
        "https://a..example/",
        "https://" + "a" * 64 + ".example/",
        "https://ex.com:0/",
        "https://user:pass@ex.com/",
        "https://ex.com\u2028/",
        "https://exa\u00a0mple.com/",
    ):
        for allow in (False, True):
            with pytest.raises(InvalidInput):
                check_url(unsendable, allow_private=allow)
    for fine in (
        "https://b\u00fccher.example/hook",
        "https://xn--bcher-kva.example/hook",
        "https://p.example/p\u00e4th?q=1#frag",
        "https://ex.com./hook",
        "http://[2001:4860:4860::8888]:8443/h",
    ):
        assert check_url(fine) == fine
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
    assert len(base64.b64decode(check_secret(None)[6:], validate=True)) == 32
    mine = "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert check_secret(mine) == mine
    for bad in (
        "short",
        "x" * 15 + "\n",
        "partner-secret-0123456789",  # not the Standard Webhooks form
        "whsec_" + base64.b64encode(b"k" * 23).decode(),  # too short a key
        "whsec_" + base64.urlsafe_b64encode(b"\xfb" * 30).decode(),  # not standard base64
        42,
    ):
        with pytest.raises(InvalidInput):
            check_secret(bad)


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
    assert out[1].next_attempt().attempt == 2
    # A rescheduled record keeps why it failed (a dead letter made later, when
    # its time ran out in the queue, reports that error, not just "expired").
    failed = out[1].next_attempt("HTTP 500")
    assert (failed.attempt, failed.last_error) == (2, "HTTP 500")
    assert Delivery.loads("news", old.id, failed.delivery_id, failed.dumps()) == failed
    h = headers(out[0].delivery_id, out[0].event, out[0].body.encode(), "s" * 16, 1234)
    assert h["X-Newsfeed-Event"] == "publish" and h["X-Newsfeed-Timestamp"] == "1234"
    assert h["webhook-id"] == h["X-Newsfeed-Delivery"] == out[0].delivery_id
    assert legacy_verify("s" * 16, "1234", out[0].body.encode(), h["X-Newsfeed-Signature"])
