"""The admin's feed pages (admin only): create a feed, its settings, API
tokens, embed snippets and webhooks (register, delete, dead letters).

Each action is written to the feed's audit stream. Secrets (a new API token,
a new webhook's signing secret) are shown once, in the response to the POST
that made them, never stored in the session. The webhook registry and
delivery are feed.webhooks / workers.delivery; this module only moves forms
in and out.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from feed.errors import InvalidInput, NotFound
from feed.registry import check_slug, check_timezone
from feed.webhooks import Webhook
from web import bylines
from web.admin_auth import Ctx, Guard
from web.admin_render import flash, form_field
from web.embed import iframe_html
from web.pages import site_base

DEAD_SHOWN = 10


def embed_snippets(base: str, feed: str, title: str) -> dict[str, str]:
    """The copy-paste snippets; the iframe one is the oEmbed snippet (self-sizing)."""
    return {
        "script": (
            f'<div data-newsfeed="{feed}"></div><script async src="{base}/embed.js"></script>'
        ),
        "iframe": iframe_html(base, feed, title, 400, 600),
    }


async def create_feed(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    slug = form_field(form, "slug", 64).lower()
    try:
        check_slug(slug)
        tz = check_timezone(form_field(form, "timezone") or "UTC")
        meta = await ctx.store.registry.create_feed(
            slug,
            form_field(form, "title", 200) or slug,
            tz,
            form_field(form, "language", 35) or "en",
        )
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse("/admin/", 303)
    await ctx.admin.record(ctx.user.actor, "feed.create", feed=slug, title=meta.title)
    flash(request, f"Feed {slug} created.")
    return RedirectResponse(f"/admin/feeds/{slug}/settings", 303)


async def settings_page(
    request: Request,
    ctx: Ctx,
    *,
    status: int = 200,
    new_token: str | None = None,
    new_webhook: Webhook | None = None,
) -> Response:
    assert ctx.feed is not None
    feed = ctx.feed
    tokens = await ctx.accounts.list_tokens(feed.slug)
    hooks = ctx.webhooks
    return ctx.ui.page(
        request,
        "settings.html",
        status,
        title=f"Settings: {feed.title}",
        user=ctx.user,
        feed=feed,
        tokens=tokens,
        new_token=new_token,
        colleagues=await bylines.colleagues(ctx.accounts, feed.slug),
        new_webhook=new_webhook,
        webhooks=await hooks.all(feed.slug),
        dead=await hooks.list_dead(feed.slug, DEAD_SHOWN),
        dead_count=await hooks.count_dead(feed.slug),
        snippets=embed_snippets(site_base(request), feed.slug, feed.title),
        pair_choices=[
            m
            for m in [
                await ctx.store.registry.get_feed(s) for s in await ctx.store.registry.list_feeds()
            ]
            if m.slug != feed.slug and m.language != feed.language
        ],
    )


async def show_settings(request: Request, ctx: Ctx) -> Response:
    return await settings_page(request, ctx)


async def save_settings(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    form = await request.form()
    title, tz = form_field(form, "title", 200), form_field(form, "timezone", 64)
    lang = form_field(form, "language", 35)
    try:
        meta = await ctx.store.registry.update_feed(
            ctx.feed.slug, title=title or None, timezone=tz or None, language=lang or None
        )
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
    else:
        await ctx.admin.record(
            ctx.user.actor,
            "feed.update",
            feed=meta.slug,
            title=meta.title,
            timezone=meta.timezone,
            language=meta.language,
        )
        flash(request, "Feed settings saved.")
    return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings", 303)


async def create_token(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    form = await request.form()
    name = form_field(form, "name", 100) or "token"
    scope = "draft" if form_field(form, "scope", 16) == "draft" else "publish"
    try:
        secret, token = await ctx.accounts.create_token(
            ctx.feed.slug, name, scope, form_field(form, "author", 64) or None
        )
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings", 303)
    await ctx.admin.record(
        ctx.user.actor,
        "token.create",
        feed=ctx.feed.slug,
        token=token.id,
        name=token.name,
        scope=token.scope,
    )
    return await settings_page(request, ctx, status=201, new_token=secret)


async def revoke_token(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    token_id = request.path_params["token"]
    try:
        await ctx.accounts.revoke_token(ctx.feed.slug, token_id)
    except NotFound as exc:
        flash(request, exc.detail, "warn")
    else:
        await ctx.admin.record(ctx.user.actor, "token.revoke", feed=ctx.feed.slug, token=token_id)
        flash(request, f"Token {token_id} revoked; requests with it now get 401.")
    return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings", 303)


async def create_webhook(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    form = await request.form()
    url = form.get("url")
    description = form.get("description")
    try:
        hook = await ctx.webhooks.add(
            ctx.feed.slug,
            url.strip() if isinstance(url, str) else None,
            None,
            description.strip()[:200] if isinstance(description, str) else "",
        )
    except InvalidInput as exc:
        flash(request, exc.detail, "warn")
        return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings#webhooks", 303)
    await ctx.admin.record(
        ctx.user.actor, "webhook.create", feed=ctx.feed.slug, webhook=hook.id, url=hook.url
    )
    return await settings_page(request, ctx, status=201, new_webhook=hook)


async def delete_webhook(request: Request, ctx: Ctx) -> Response:
    assert ctx.feed is not None
    hook_id = request.path_params["hook"]
    hook = await ctx.webhooks.get(ctx.feed.slug, hook_id)
    try:
        if hook is None:
            raise NotFound(f"no webhook {hook_id!r}")
        await ctx.webhooks.delete(ctx.feed.slug, hook_id)
    except (NotFound, InvalidInput) as exc:
        flash(request, exc.detail, "warn")
    else:
        await ctx.admin.record(
            ctx.user.actor, "webhook.delete", feed=ctx.feed.slug, webhook=hook_id, url=hook.url
        )
        flash(request, f"Webhook {hook.url} deleted; it gets no more deliveries.")
    return RedirectResponse(f"/admin/feeds/{ctx.feed.slug}/settings#webhooks", 303)


def routes(guard: Guard) -> list[BaseRoute]:
    return [
        Route("/feeds", guard(create_feed, admin_only=True), methods=["POST"]),
        Route("/feeds/{feed}/settings", guard(show_settings, admin_only=True), methods=["GET"]),
        Route("/feeds/{feed}/settings", guard(save_settings, admin_only=True), methods=["POST"]),
        Route("/feeds/{feed}/tokens", guard(create_token, admin_only=True), methods=["POST"]),
        Route(
            "/feeds/{feed}/tokens/{token}/revoke",
            guard(revoke_token, admin_only=True),
            methods=["POST"],
        ),
        Route("/feeds/{feed}/webhooks", guard(create_webhook, admin_only=True), methods=["POST"]),
        Route(
            "/feeds/{feed}/webhooks/{hook}/delete",
            guard(delete_webhook, admin_only=True),
            methods=["POST"],
        ),
    ]
