"""Browser end-to-end: the real app in Debian's chromium. Click the image, a mask appears; screenshots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from e2e_server import COMPONENT_IFRAME, REPO, open_page, page_urls, wait_idle

if os.environ.get("CI", "").lower() == "true":
    from playwright.sync_api import expect  # in CI a missing playwright is an error, not a skip
else:
    expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

SCREENSHOTS = REPO / "tests" / "_screenshots"

pytestmark = pytest.mark.e2e


def _component_image_ready(page):
    page.wait_for_function(
        f"() => {{ const f = document.querySelector('{COMPONENT_IFRAME}');"
        " const i = f && f.contentDocument && f.contentDocument.getElementById('image');"
        " return i && i.complete && i.naturalWidth > 0 && f.getBoundingClientRect().height > 50; }",
        timeout=60_000)
    return page.locator(COMPONENT_IFRAME).bounding_box()


def test_click_on_segment_page_shows_masks(app_server, page):
    open_page(page, app_server, "segment")
    box = _component_image_ready(page)
    expect(page.get_by_text("No prompt yet")).to_be_visible(timeout=30_000)
    before = page.screenshot()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(page.get_by_text("IoU score")).to_have_count(3, timeout=60_000)  # the three masks' scores
    expect(page.get_by_text("★ best")).to_have_count(1)
    expect(page.get_by_text("Download mask")).to_have_count(1)
    expect(page.get_by_text("Points: 1")).to_be_visible()
    wait_idle(page)
    after = page.screenshot()
    assert after != before
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "segment_after_click.png").write_bytes(after)


def test_box_by_drag_on_a_scene(app_server, page):
    open_page(page, app_server, "segment")
    page.get_by_text("Scene", exact=True).click()
    wait_idle(page)
    page.get_by_text("Box", exact=True).click()
    wait_idle(page)
    box = _component_image_ready(page)
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7, steps=5)
    page.mouse.up()
    expect(page.get_by_text("box: yes")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("IoU score")).to_have_count(3, timeout=60_000)
    wait_idle(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "segment_scene_box.png"))


def test_bad_upload_is_a_message_and_a_good_one_works(app_server, page, tmp_path):
    import io

    from PIL import Image

    open_page(page, app_server, "segment")
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    uploader.set_input_files(str(tmp_path / "broken.png"))
    expect(page.get_by_text(re.compile("truncated|could not be decoded|not an image"))).to_be_visible(
        timeout=60_000)
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 200), (200, 30, 30, 128)).save(buffer, format="PNG")
    (tmp_path / "good.png").write_bytes(buffer.getvalue())
    uploader.set_input_files(str(tmp_path / "good.png"))
    expect(page.get_by_text("filled with white")).to_be_visible(timeout=60_000)
    box = _component_image_ready(page)
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(page.get_by_text("IoU score")).to_have_count(3, timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_deep_link_on_a_fresh_server_goes_through_the_router(browser, tmp_path):
    """The FIRST request to a new server is a deep link: it must still get app.py's router and sidebar
    (Streamlit would otherwise run pages/ in its old mode: no sidebar, auto-named pages)."""
    from e2e_server import model_env, streamlit_server

    with streamlit_server(model_env(tmp_path)) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            open_page(page, base, "segment")
            expect(page.get_by_role("heading", name="Segment")).to_be_visible()
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar.get_by_text("Instructor mode")).to_be_visible()  # app.py's shared sidebar ran
            expect(sidebar.get_by_text("Try it")).to_be_visible()  # st.navigation's sections, not pages/
        finally:
            page.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", [1400, 900])
def test_screenshot_every_page(app_server, browser, width, theme):
    """Writes tests/_screenshots/<page>_<width>_<theme>.png for every page in PAGES (look at them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 1000},
                                  color_scheme="dark" if theme == "dark" else "light")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        for _, path, url_path in page_urls():
            open_page(page, app_server, url_path, theme=theme)
            exceptions = page.locator('[data-testid="stException"]')
            assert exceptions.count() == 0, f"{path}: {exceptions.first.inner_text()}"
            # The page scrolls inside Streamlit's main container: grow the viewport to the whole page.
            height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                                   " return m ? m.scrollHeight : document.body.scrollHeight; }")
            page.set_viewport_size({"width": width, "height": int(min(max(height, 900), 8000))})
            page.wait_for_timeout(500)  # let images and iframes paint at the new size
            page.screenshot(path=str(SCREENSHOTS / f"{Path(path).stem}_{width}_{theme}.png"))
            page.set_viewport_size({"width": width, "height": 1000})
    finally:
        context.close()
    assert not errors, errors
