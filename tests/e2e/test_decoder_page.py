"""Browser end-to-end: on the mask-decoder page a click re-traces the decoder: the prompt token's
attention heat maps (head-averaged, per layer) and the masks forming change with the click."""

from __future__ import annotations

import re

import pytest
from e2e_server import COMPONENT_IFRAME, REPO, open_page, wait_idle

CLICK_CAPTION = re.compile(r"(Your click|The traced click of part 1) \(")  # the caption under the scene
SCREENSHOTS = REPO / "tests" / "_screenshots"

pytestmark = pytest.mark.e2e


def _image_sources(page, caption: str) -> list[str]:
    """src of every st.image whose caption is exactly `caption`."""
    return page.evaluate(
        """(caption) => [...document.querySelectorAll('[data-testid="stImage"], [data-testid="stFullScreenFrame"]')]
            .filter(e => (e.innerText || '').trim() === caption)
            .map(e => (e.querySelector('img') || {}).src).filter(Boolean)""", caption)


def test_click_on_decoder_page_shows_attention_and_masks(app_server, page):
    open_page(page, app_server, "decoder", timeout_ms=180_000)
    page.get_by_text("Where the prompt token looks").wait_for(timeout=120_000)
    frame = page.frame_locator(COMPONENT_IFRAME)
    image = frame.locator("#image")
    image.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        f"() => {{ const f = document.querySelector('{COMPONENT_IFRAME}');"
        " const i = f && f.contentDocument && f.contentDocument.getElementById('image');"
        " return i && i.complete && i.naturalWidth > 0 && f.getBoundingClientRect().height > 50; }",
        timeout=60_000)

    # Before the click: the config's click, its three head-averaged attention maps and the masks forming.
    # The page paints the click first and the maps after it, so wait for them (and the run) to finish.
    wait_idle(page, 120_000)
    for stage in ("layer 0", "layer 1", "final"):
        page.get_by_text(stage, exact=True).first.wait_for(timeout=120_000)
        assert page.get_by_text(stage, exact=True).count() >= 1
    assert page.get_by_text("mask token 1: logits > 0").count() == 1
    before_caption = page.get_by_text(CLICK_CAPTION).first.inner_text()
    before_maps = _image_sources(page, "layer 0")
    assert before_maps, "no head-averaged attention map for layer 0"

    # Click the right-hand side of the scene (the laptop, not the mug).
    box = image.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.45)
    after_caption = before_caption
    for _ in range(240):  # up to 2 minutes: the encoder may run, and the machine may be busy
        page.wait_for_timeout(500)
        after_caption = page.get_by_text(CLICK_CAPTION).first.inner_text()
        if after_caption != before_caption:
            break
    assert after_caption != before_caption, "the click was not traced"
    wait_idle(page, 120_000)
    after_maps = _image_sources(page, "layer 0")
    assert after_maps and after_maps != before_maps, "the attention heat map did not change with the click"
    assert page.get_by_text("mask token 1: logits > 0").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "decoder_after_click.png"))
