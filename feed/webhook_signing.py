"""Webhook signatures: Standard Webhooks, plus the deprecated X-Newsfeed-* set.

Every delivery carries the Standard Webhooks headers (standardwebhooks.com),
so partners verify with a ready-made library (``standardwebhooks`` on PyPI,
npm and others) given the webhook's ``whsec_...`` secret:

    webhook-id:        <delivery id>          (the same on every retry)
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>

The key is the base64-decoded part of the secret after ``whsec_``. Until the
next minor release the old headers are sent too (``X-Newsfeed-Delivery``,
``-Event``, ``-Timestamp``, ``-Signature: sha256=<hex HMAC-SHA256(secret,
"<timestamp>.<body>")>`` keyed with the whole secret string), so a partner
can move to the standard verifier before they go; README, "Migrating from
the X-Newsfeed headers".

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
KEY_BYTES_MIN, KEY_BYTES_MAX = 24, 64


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def standard_key(secret: str) -> bytes | None:
    """The key bytes of a Standard Webhooks secret, or None if it is not one
    (``whsec_`` and strict base64 of 24-64 bytes)."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if KEY_BYTES_MIN <= len(key) <= KEY_BYTES_MAX else None


def signing_key(secret: str) -> bytes:
    """The key a delivery is signed with.

    A standard secret gives its decoded bytes. A secret registered before
    the Standard Webhooks signatures (``whsec_`` and URL-safe base64, or a
    partner's own string) gives what the reference verifiers derive from it
    (base64 decoding that skips the characters outside the alphabet), so a
    partner on the Python reference verifier keeps working; other languages'
    verifiers may decode such a secret differently, hence the README's
    advice to register such a webhook again for a standard secret.
    """
    key = standard_key(secret)
    if key is not None:
        return key
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(body + "==") or body.encode()
    except (binascii.Error, ValueError):
        return body.encode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (one ``v1`` signature)."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def legacy_sign(secret: str, timestamp: int, body: bytes) -> str:
    """The deprecated ``X-Newsfeed-Signature`` value for one attempt."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def legacy_verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a partner on the old headers does (constant-time)."""
    if not timestamp.isdigit():
        return False
    return hmac.compare_digest(legacy_sign(secret, int(timestamp), body), signature)


def headers(
    delivery_id: str, event: str, body: bytes, secret: str, timestamp: int
) -> dict[str, str]:
    """Every header of one attempt."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "newsfeed-webhooks/2",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(signing_key(secret), delivery_id, timestamp, body),
        # Deprecated: sent until the next minor release (see the module doc).
        "X-Newsfeed-Delivery": delivery_id,
        "X-Newsfeed-Event": event,
        "X-Newsfeed-Timestamp": str(timestamp),
        "X-Newsfeed-Signature": legacy_sign(secret, timestamp, body),
    }
