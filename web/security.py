"""Security headers for the HTML pages: CSP, nosniff, Referrer-Policy.

Pages carry no inline script (JSON-LD sits in ``<script type=
"application/ld+json">``, which is data, not code), so ``script-src 'self'``
holds. The live script connects back to the same host over ws/wss. Only the
iframe page ``/embed/{feed}`` may be framed by other sites.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?$")


def csp(host: str | None, *, frameable: bool) -> str:
    connect = "'self'"
    if host and _HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: https:",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors *" if frameable else "frame-ancestors 'none'",
        )
    )


def secure(request: Request, response: Response, *, frameable: bool = False) -> Response:
    """Add the page security headers to ``response`` and return it."""
    response.headers["Content-Security-Policy"] = csp(
        request.headers.get("host"), frameable=frameable
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    if not frameable:
        response.headers["X-Frame-Options"] = "DENY"
    return response
