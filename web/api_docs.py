"""The OpenAPI document, served by the app, and a page a person can read.

    GET /openapi.yaml   the document as written (docs/openapi.yaml)
    GET /openapi.json   the same, as JSON
    GET /api/docs       an HTML page rendered on the server from it: one
                        section per tag, each operation with its parameters
                        and responses; self-contained (inline CSS, no script,
                        nothing from another origin)

The document is read once: ``docs/openapi.yaml`` of the source tree (an
editable install, a checkout), else ``web/openapi.yaml`` (the Docker image
copies it there before installing). Without either the three paths are a
404 problem saying so.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import jinja2
import orjson
import yaml
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import NotFound

WEB = Path(__file__).resolve().parent
CANDIDATES = (WEB.parent / "docs" / "openapi.yaml", WEB / "openapi.yaml")
METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def _document() -> tuple[bytes, dict[str, Any]] | None:
    for path in CANDIDATES:
        if path.is_file():
            raw = path.read_bytes()
            return raw, yaml.safe_load(raw)
    return None


def document() -> tuple[bytes, dict[str, Any]]:
    found = _document()
    if found is None:
        raise NotFound("the OpenAPI document is not installed with this server")
    return found


def _headers(raw: bytes) -> dict[str, str]:
    return {
        "Cache-Control": "public, max-age=300",
        "ETag": '"' + hashlib.sha256(raw).hexdigest()[:20] + '"',
        "Access-Control-Allow-Origin": "*",
    }


async def openapi_yaml(request: Request) -> Response:
    raw, _ = document()
    return Response(raw, media_type="application/yaml", headers=_headers(raw))


async def openapi_json(request: Request) -> Response:
    raw, spec = document()
    return Response(orjson.dumps(spec), media_type="application/json", headers=_headers(raw))


def _schema_text(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    kind = schema.get("type", "")
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if kind == "array":
        return f"array of {_schema_text(schema.get('items'))}"
    return str(kind)


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    target: Any = spec
    for part in ref[2:].split("/"):
        target = target[part]
    return dict(target)


def outline(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations grouped by tag, in the document's order."""
    tags: dict[str, dict[str, Any]] = {
        t["name"]: {"name": t["name"], "description": t.get("description", ""), "operations": []}
        for t in spec.get("tags", [])
    }
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [_resolve(spec, p) for p in [*shared, *op.get("parameters", [])]]
            responses = [
                {"status": code, "description": _resolve(spec, r).get("description", "")}
                for code, r in sorted(op.get("responses", {}).items())
            ]
            entry = {
                "id": op.get("operationId", f"{method}-{path}"),
                "method": method,
                "path": path,
                "summary": op.get("summary", ""),
                "description": op.get("description", ""),
                "security": bool(op.get("security")),
                "parameters": [
                    {
                        "name": p.get("name", ""),
                        "in": p.get("in", ""),
                        "required": p.get("required", False),
                        "deprecated": p.get("deprecated", False),
                        "schema": _schema_text(p.get("schema")),
                        "description": p.get("description", ""),
                    }
                    for p in params
                ],
                "body": sorted(op.get("requestBody", {}).get("content", {})),
                "responses": responses,
            }
            for tag in op.get("tags", ["other"]):
                tags.setdefault(tag, {"name": tag, "description": "", "operations": []})
                tags[tag]["operations"].append(entry)
    return [t for t in tags.values() if t["operations"]]


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("web", "templates"), autoescape=True)


async def api_docs(request: Request) -> Response:
    raw, spec = document()
    html = _ENV.get_template("api_docs.html").render(info=spec.get("info", {}), tags=outline(spec))
    headers = _headers(raw)
    headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'"
    )
    return HTMLResponse(html, headers=headers)


def routes() -> list[BaseRoute]:
    return [
        Route("/openapi.yaml", openapi_yaml, methods=["GET", "HEAD"]),
        Route("/openapi.json", openapi_json, methods=["GET", "HEAD"]),
        Route("/api/docs", api_docs, methods=["GET", "HEAD"]),
    ]
