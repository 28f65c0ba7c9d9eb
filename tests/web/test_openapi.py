"""docs/openapi.yaml describes the publishing and read API as implemented."""

from __future__ import annotations

import re
from typing import Any

import yaml
from starlette.routing import Route

from feed.model import ENTRY_FIELDS
from feed.validate import CREATE_FIELDS, EDIT_FIELDS
from tests.conftest import ROOT
from web import api

SPEC_PATH = ROOT / "docs" / "openapi.yaml"


def spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return data


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            out += refs(value)
        return out
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def test_every_api_route_is_documented_with_its_methods() -> None:
    doc = spec()
    assert doc["openapi"].startswith("3.1")
    routes = [r for r in api.routes() if isinstance(r, Route)]
    assert routes
    for route in routes:
        assert route.path in doc["paths"], route.path
        item = doc["paths"][route.path]
        for method in route.methods or ():
            if method == "HEAD":
                continue
            operation = item.get(method.lower())
            assert operation is not None, f"{method} {route.path} is not documented"
            assert operation["responses"], f"{method} {route.path}"
            params = {
                (resolve(doc, p["$ref"]) if "$ref" in p else p)["name"]
                for p in item.get("parameters", [])
            }
            assert set(re.findall(r"{(\w+)}", route.path)) <= params, route.path


def test_documented_paths_exist() -> None:
    ours = {r.path for r in api.routes() if isinstance(r, Route)}
    documented = {p for p in spec()["paths"] if p.startswith("/api/v1/feeds/{feed}/entries")}
    assert documented == ours


def test_every_reference_resolves() -> None:
    doc = spec()
    found = refs(doc)
    assert len(found) > 20
    for ref in found:
        resolve(doc, ref)


def test_the_schemas_match_the_code() -> None:
    schemas = spec()["components"]["schemas"]
    assert list(schemas["Entry"]["properties"]) == list(ENTRY_FIELDS)
    assert set(schemas["Entry"]["required"]) == set(ENTRY_FIELDS)
    assert set(schemas["EntryCreate"]["properties"]) == set(CREATE_FIELDS)
    assert set(schemas["EntryEdit"]["properties"]) == set(EDIT_FIELDS)
    assert schemas["Entry"]["properties"]["headline"]["maxLength"] == 300
    assert set(schemas["Page"]["required"]) == {"feed", "entries", "cursor", "next"}
    problem = schemas["Problem"]["properties"]
    assert {"type", "title", "status", "detail", "field", "current_version"} == set(problem)
