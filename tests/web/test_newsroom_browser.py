"""Key events and public corrections end to end in real Chromium.

An editor marks an update a key event on the admin page, then corrects it
with a note; the reader page and an embed on another origin (Shadow DOM and
iframe) follow each step live, and the permalink page shows the trail with
the word-level difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feed.accounts import Accounts
from feed.stores import Stores
from tests.conftest import Services, make_feed
from tests.feed.test_images import jpeg_with_gps
from tests.web.admin_util import add_user
from tests.web.test_admin_browser import open_as
from tests.web.test_reader_browser import PARTNER_PAGE, new_page, partner_site, until

T = 20_000


async def until_loaded(img: Any) -> None:
    """The image really loaded (from the media path, on whatever origin shows it)."""
    for _ in range(200):
        if await img.evaluate("i => i.complete && i.naturalWidth > 0"):
            return
        await img.page.wait_for_timeout(50)
    raise AssertionError("the photo did not load")


async def test_an_editor_marks_a_key_event_and_corrects_it_readers_see_each_step(
    browser: Any, services: Services, store: Stores, accounts: Accounts, tmp_path: Path
) -> None:
    await make_feed(store, "news", timezone="Europe/Kyiv")
    await add_user(accounts, "ed", "editor", ("news",))
    await add_user(accounts, "olena", "editor", ("news",))
    await add_user(accounts, "outsider", "editor", ())
    await accounts.set_profile("ed", "Ed Wood", "Night editor.")
    await accounts.set_profile("olena", "Olena Kovalenko", "Kyiv correspondent.")
    base = services.base_url
    frame = f'<iframe id="frame" src="{base}/embed/news" title="News Feed"></iframe>'
    (tmp_path / "index.html").write_text(
        PARTNER_PAGE.format(base=base, attrs='data-limit="5"', extra=frame)
    )
    editor = await open_as(browser, base, "ed")
    try:
        with partner_site(tmp_path) as origin:
            async with (
                new_page(browser) as reader,
                new_page(browser, viewport={"width": 1100, "height": 1000}) as partner,
            ):
                await reader.goto(base + "/feeds/news")
                await partner.goto(origin + "/index.html")
                await reader.wait_for_selector('.nf-column[data-nf-state="live"]', timeout=T)
                await partner.wait_for_selector(
                    '#embed .nf-column[data-nf-state="live"]', timeout=T
                )
                iframe = partner.frame_locator("#frame")
                await iframe.locator('.nf-column[data-nf-state="live"]').wait_for(timeout=T)
                assert await reader.locator(".nf-keys").is_hidden()

                # 1. post an update, crediting a colleague (the poster is ticked already)
                credits = editor.locator("fieldset.byline label")
                assert await credits.all_inner_texts() == ["Ed Wood", "Olena Kovalenko"]
                assert await editor.locator("input[name=authors][value=ed]").is_checked()
                await editor.check("input[name=authors][value=olena]")
                # attach a photo (a JPEG with the reporter's GPS position in it)
                shot = tmp_path / "scene.jpg"
                shot.write_bytes(jpeg_with_gps())
                await editor.set_input_files("[data-photo-file]", str(shot))
                await editor.locator(".photo-status", has_text="Photo ready").wait_for()
                assert await editor.locator("fieldset.photo img.preview").is_visible()
                assert (
                    await editor.locator("input[name=photo_alt]").get_attribute("required")
                    is not None
                )
                await editor.fill("input[name=photo_alt]", "Firefighters at a damaged house")
                await editor.fill("input[name=photo_caption]", "Podil district, 6 a.m.")
                await editor.fill("input[name=photo_credit]", "Olena Kovalenko")
                await editor.fill("input[name=headline]", "Three injured in strike on Kyiv")
                await editor.fill("textarea[name=body]", "Three people were injured overnight.")
                await editor.click("button#post")
                await editor.wait_for_url("**/admin/feeds/news?e=*")
                entry_id = editor.url.split("?e=")[1]
                views = [reader.locator(f"#e-{entry_id}"),
                         partner.locator(f"#embed #e-{entry_id}"),
                         iframe.locator(f"#e-{entry_id}")]  # fmt: skip
                for view in views:
                    await view.wait_for(timeout=T)
                    byline = await view.locator(".nf-byline").inner_text()
                    assert byline == "By Ed Wood and Olena Kovalenko"
                    img = view.locator(".nf-photo img")
                    assert await img.get_attribute("alt") == "Firefighters at a damaged house"
                    assert await img.get_attribute("loading") == "lazy"
                    assert (
                        await img.get_attribute("width"),
                        await img.get_attribute("height"),
                    ) == (
                        "1280",
                        "720",
                    )
                    assert "Photo: Olena Kovalenko" in await view.locator("figcaption").inner_text()
                    await until_loaded(img)

                # 2. mark it a key event with a label: the list above each column follows
                await editor.goto(f"/admin/feeds/news/entries/{entry_id}")
                await editor.check("input[name=key_event]")
                await editor.fill("input[name=key_label]", "Strike on Kyiv")
                await editor.click("button:has-text('Save')")
                await editor.locator(".flash", has_text="Saved").wait_for()
                keys = [reader.locator(".nf-keys"), partner.locator("#embed .nf-keys"),
                        iframe.locator(".nf-keys")]  # fmt: skip
                for key_list, view in zip(keys, views, strict=True):
                    line = key_list.locator(f'.nf-key-item[data-id="{entry_id}"]')
                    await line.wait_for(timeout=T)
                    assert await line.locator(".nf-key-label").text_content() == "Strike on Kyiv"
                    assert (await line.locator("a").get_attribute("href") or "").endswith(
                        f"/feeds/news/entries/{entry_id}"
                    )
                    await view.locator(".nf-key").wait_for(timeout=T)
                # on the reader page the line scrolls to the update in the column
                await reader.locator(f'.nf-key-item[data-id="{entry_id}"] a').click()
                await until(reader, f"document.activeElement.id === 'e-{entry_id}'")
                assert reader.url.endswith("/feeds/news")

                # 3. correct it with a note
                await editor.goto(f"/admin/feeds/news/entries/{entry_id}")
                await editor.fill("input[name=headline]", "Four injured in strike on Kyiv")
                await editor.fill("textarea[name=body]", "Four people were injured overnight.")
                note = "An earlier version misstated the number of people injured."
                await editor.fill("textarea[name=correction]", note)
                await editor.click("button:has-text('Save')")
                await editor.locator(".flash", has_text="Saved").wait_for()
                for view in views:
                    correction = view.locator(".nf-correction")
                    await correction.wait_for(timeout=T)
                    assert note in await correction.inner_text()
                    assert "Four people" in await view.inner_text()
                    assert await view.locator(".nf-updated").count() == 0  # the mark is the note

                # 4. unmark the key event: it leaves every list
                await editor.goto(f"/admin/feeds/news/entries/{entry_id}")
                await editor.uncheck("input[name=key_event]")
                await editor.click("button:has-text('Save')")
                await editor.locator(".flash", has_text="Saved").wait_for()
                for key_list in keys:
                    await key_list.locator(f'[data-id="{entry_id}"]').wait_for(
                        state="detached", timeout=T
                    )
                await reader.locator(".nf-keys").wait_for(state="hidden", timeout=T)

                # 5. the permalink page: the trail with the word-level difference
                await reader.locator(f"#e-{entry_id} .nf-trail-link").click()
                await reader.wait_for_url(f"**/feeds/news/entries/{entry_id}#trail")
                trail = reader.locator("#trail")
                steps = trail.locator(".nf-step")
                assert await steps.count() == 2
                first = steps.first
                assert "Correction" in await first.locator(".nf-step-mark").inner_text()
                assert await first.locator(".nf-step-note").inner_text() == note
                assert await first.locator(".nf-diff-headline del").all_inner_texts() == ["Three"]
                assert await first.locator(".nf-diff-headline ins").all_inner_texts() == ["Four"]
                assert await first.locator(".nf-diff-text del").all_inner_texts() == ["Three"]
                assert "First published" in await steps.nth(1).inner_text()
                assert reader.errors == [] and partner.errors == []
    finally:
        await editor.context.close()
