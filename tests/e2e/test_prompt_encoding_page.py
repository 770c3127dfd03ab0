"""Browser end-to-end: on the prompt-encoding page a click on the image becomes the traced click, and the
traced numbers (the table's p_x) follow it."""

from __future__ import annotations

import re

import pytest
from e2e_server import COMPONENT_IFRAME, REPO, open_page, wait_idle

SCREENSHOTS = REPO / "tests" / "_screenshots"

pytestmark = pytest.mark.e2e


def _traced_click(page) -> tuple[int, int] | None:
    match = re.search(r"The traced click is \((\d+), (\d+)\)", page.inner_text("body"))
    return (int(match.group(1)), int(match.group(2))) if match else None


def test_click_on_prompt_page_is_traced(app_server, page):
    open_page(page, app_server, "prompt_encoding", timeout_ms=180_000)
    page.get_by_text("The traced click is").wait_for(timeout=120_000)
    before = _traced_click(page)
    assert before is not None
    image = page.frame_locator(COMPONENT_IFRAME).locator("#image")
    image.wait_for(state="visible", timeout=60_000)
    box = image.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.85)
    after = before
    for _ in range(240):  # up to 2 minutes on a busy machine
        page.wait_for_timeout(500)
        after = _traced_click(page) or before
        if after != before:
            break
    assert after != before, "the click was not traced"
    wait_idle(page, 120_000)
    side = 1024  # the default [prompt_click] image_size the scene is rendered at
    assert abs(after[0] - 0.1 * side) < 15 and abs(after[1] - 0.85 * side) < 15
    body = page.inner_text("body")
    assert "your click" in body
    assert f"{after[0] / side:.5f}" in body  # the plan's p_x = x / S in the side-by-side table
    assert page.locator('[data-testid="stException"]').count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "prompt_encoding_after_click.png"))
