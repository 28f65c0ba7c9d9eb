"""Rendering for the admin page: Jinja2 (autoescaped), times, headers, assets, forms."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from feed import i18n
from feed.i18n import N_
from feed.model import to_rfc3339

WEB = Path(__file__).resolve().parent
ASSETS = ("admin.css", "admin.js")
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def page_headers(request: Request) -> dict[str, str]:
    """No caching, no framing, no inline script, no third parties."""
    host = request.headers.get("host", "")
    connect = "'self'"
    if host and all(c.isalnum() or c in ".-:[]" for c in host):
        connect += f" ws://{host} wss://{host}"
    csp = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def _strftime(dt: datetime, fmt: str, lang: i18n.Language | None) -> str:
    """strftime, with ``%b`` (the month) in the editor's language (CLDR)."""
    if lang is not None and "%b" in fmt:
        fmt = fmt.replace("%b", lang.month(dt).replace("%", "%%"))
    return dt.strftime(fmt)


def local_time(
    ms: int | None,
    tz: str = "UTC",
    fmt: str = "%d %b %H:%M",
    lang: i18n.Language | None = None,
) -> str:
    if ms is None:
        return ""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZoneInfo(tz))
    return _strftime(dt, fmt, lang)


def when(ms: int | None, tz: str = "UTC", lang: i18n.Language | None = None) -> str:
    """The time as the reader page shows it: the short clock of the language
    (``10:11 AM`` in English, ``10:11`` in Ukrainian; the admin passes the
    editor's), after the day unless it is today."""
    if ms is None:
        return ""
    zone = ZoneInfo(tz)
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone)
    speech = lang or i18n.language("en")
    shown = speech.time(dt)
    if dt.date() == datetime.now(tz=zone).date():
        return shown
    return f"{_strftime(dt, '%d %b', lang)} {shown}"


def input_time(ms: int | None, tz: str) -> str:
    """A value for <input type=datetime-local> in the feed's time zone."""
    return local_time(ms, tz, "%Y-%m-%dT%H:%M") if ms else ""


def parse_input_time(text: str, tz: str) -> str:
    """A datetime-local value in the feed's zone, as RFC 3339 UTC; ValueError if bad."""
    dt = datetime.strptime(text.strip()[:16], "%Y-%m-%dT%H:%M").replace(tzinfo=ZoneInfo(tz))
    return to_rfc3339(int(dt.timestamp() * 1000))


class Assets:
    """admin.css and admin.js from web/static, served with a content hash."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for name in ASSETS:
            body = (WEB / "static" / name).read_bytes()
            version = hashlib.blake2b(body, digest_size=8).hexdigest()
            self.files[name] = (body, TYPES[Path(name).suffix], version)

    def url(self, name: str) -> str:
        return f"/admin/static/{name}?v={self.files[name][2]}"

    async def endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.files:
            return Response("not found", status_code=404, media_type="text/plain")
        body, media_type, version = self.files[name]
        immutable = request.query_params.get("v") == version
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return Response(
            body,
            media_type=media_type,
            headers={
                "Cache-Control": cache,
                "ETag": f'"{version}"',
                "X-Content-Type-Options": "nosniff",
            },
        )


# Flash messages are English; these heads ("Published: <headline>") are
# translated when shown, the editor's own text after them never is.
FLASH_HEADS = (
    N_("Posted"),
    N_("Scheduled"),
    N_("Draft saved"),
    N_("Submitted for review"),
    N_("Published"),
    N_("Sent back"),
    N_("Saved"),
    N_("Retracted"),
    N_("Pinned"),
    N_("Unpinned"),
    N_("Edit"),
    N_("Settings"),
    N_("Password not changed"),
)
FLASH_WHOLE = (
    N_("Nothing changed."),
    N_("Signed out."),
    N_("Already posted; the repeated submit was ignored."),
    N_("Translation linked."),
    N_("Translation unlinked."),
    N_("Language set."),
    # page titles
    N_("Feeds"),
    N_("Audit log"),
    N_("Not allowed"),
    N_("Sign in"),
    N_("Changed by someone else"),
    N_("Retract?"),
    N_("Users"),
    N_("Your profile"),
)


def translate_flash(lang: i18n.Language, text: str) -> str:
    whole = lang.gettext(text)
    if whole != text:
        return whole
    head, sep, rest = text.partition(": ")
    if sep and head in FLASH_HEADS:
        return f"{lang.gettext(head)}: {rest}"
    return text


def script_messages(lang: i18n.Language) -> dict[str, str]:
    """The strings admin.js shows, in the editor's language."""
    t = lang
    return {
        "also_here": t.gettext("Also here: %(names)s"),
        "is_editing": t.gettext("%(names)s is editing this update"),
        "are_editing": t.gettext("%(names)s are editing this update"),
        "editing": t.gettext("%(name)s editing"),
        "live": t.gettext("live"),
        "auto_refresh": t.gettext("auto-refresh"),
        "offline": t.gettext("offline, retrying"),
        "signed_out": t.gettext("signed out"),
        "retry_post": t.gettext("Retry post"),
        "copied": t.gettext("Copied"),
        "readers_one": t.gettext("1 reader now"),
        "readers_many": t.gettext("%(n)s readers now"),
        "uploading": t.gettext("Uploading…"),
        "photo_ready": t.gettext("Photo ready (%(w)s×%(h)s)."),  # noqa: RUF001
        "not_attached": t.gettext("Not attached: %(error)s"),
        "no_photo": t.gettext("No photo."),
        "wait_upload": t.gettext("Wait for the photo to finish uploading."),
        "avatar_saved": t.gettext("Avatar saved."),
        "not_saved": t.gettext("Not saved: %(error)s"),
        "upload_failed": t.gettext("the upload failed"),
    }


def ui_language(request: Request) -> i18n.Language:
    """The editor's language for this request: chosen per user, kept in the session."""
    tag = request.session.get("lang") if "session" in request.scope else None
    return i18n.language(tag if isinstance(tag, str) else None)


class UI:
    """The Jinja environments (one per language) and the page renderer, built once per app."""

    def __init__(self) -> None:
        self.assets = Assets()
        self._envs: dict[str, jinja2.Environment] = {}

    def env(self, lang: i18n.Language) -> jinja2.Environment:
        env = self._envs.get(lang.tag)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(WEB / "templates")),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
            env.globals["asset"] = self.assets.url
            env.globals["languages"] = list(i18n.choices())
            env.globals["ui_lang"] = lang.tag
            env.globals["ui_messages"] = orjson.dumps(script_messages(lang)).decode()
            env.filters["local"] = functools.partial(local_time, lang=lang)
            env.filters["input_time"] = input_time
            env.filters["when"] = functools.partial(when, lang=lang)
            env.filters["rfc3339"] = to_rfc3339
            self._envs[lang.tag] = env
        return env

    def render(self, template: str, lang: i18n.Language | None = None, **context: Any) -> str:
        env = self.env(lang or i18n.language(None))
        return env.get_template(f"admin/{template}").render(**context)

    def page(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        context.setdefault("flash", _pop_flash(request))
        context.setdefault("user", None)
        context.setdefault("csrf", request.session.get("csrf", ""))
        context.setdefault("feed", None)
        context.setdefault("title", "")
        lang = ui_language(request)
        context["title"] = translate_flash(lang, str(context["title"]))
        if context["flash"] is not None:
            kind, text = context["flash"]
            context["flash"] = (kind, translate_flash(lang, text))
        html = self.render(template, lang=lang, request=request, **context)
        return HTMLResponse(html, status_code=status, headers=page_headers(request))


def form_field(form: FormData, name: str, limit: int = 300) -> str:
    """A short text field of a form, trimmed; "" if absent or a file."""
    value = form.get(name)
    return value[:limit].strip() if isinstance(value, str) else ""


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = [kind, message[:300]]


def _pop_flash(request: Request) -> tuple[str, str] | None:
    raw = request.session.pop("flash", None) if "flash" in request.session else None
    if isinstance(raw, list) and len(raw) == 2:
        return str(raw[0]), str(raw[1])
    return None
