"""docs/openapi.yaml documents the webhook and feed-document routes and the
request a partner's webhook receives, as implemented."""

from __future__ import annotations

import re

import orjson
from starlette.routing import Route

from feed.livestream import LiveMessage
from feed.webhook_signing import headers, new_secret
from feed.webhooks import event_body, reset_body
from tests.web.test_openapi import spec
from web import syndication, webhook_api


def test_webhook_and_document_routes_are_documented() -> None:
    doc = spec()
    for route in [*webhook_api.routes(), *syndication.routes()]:
        assert isinstance(route, Route)
        assert route.path in doc["paths"], route.path
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in doc["paths"][route.path], f"{method} {route.path}"


def test_the_delivery_contract_matches_the_code() -> None:
    operation = spec()["webhooks"]["feedEvent"]["post"]
    documented = {p["name"] for p in operation["parameters"]}
    sent = headers("wh_1.1-0", "publish", b"{}", new_secret(), 1)
    assert {h for h in sent if h.startswith(("X-Newsfeed-", "webhook-"))} == documented
    for p in operation["parameters"]:
        schema = p["schema"]
        if "pattern" in schema:
            assert re.match(schema["pattern"], sent[p["name"]]), p["name"]
    schemas = spec()["components"]["schemas"]
    assert {m["$ref"].rsplit("/", 1)[1] for m in schemas["WebhookEvent"]["oneOf"]} == {
        "WebhookEntryEvent",
        "WebhookReset",
    }
    message = LiveMessage((1, 0), "update", "e1", 2, b'{"id": "e1"}')
    for name, body in (
        ("WebhookEntryEvent", event_body("news", "ab12", message)),
        ("WebhookReset", reset_body("news", "cd34", "ab12")),
    ):
        sent_body = orjson.loads(body)
        assert set(sent_body) == set(schemas[name]["required"]) == set(schemas[name]["properties"])
        types = schemas[name]["properties"]["type"]
        assert sent_body["type"] in types.get("enum", [types.get("const")])
