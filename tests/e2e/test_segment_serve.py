"""Browser end-to-end through the model service: the Segment page's clicks answered by `python -m sam_core.serve`.

A student switches on the sidebar's "Model server", is told the server needs a token, pastes it, sees
"Connected", clicks the image and gets the three masks from the server (its log shows the image
uploaded once and one /predict/mask per click); when the server goes away the next click says so on
the page, without a traceback. Screenshots: tests/_screenshots/segment_served_*.png.
"""

from __future__ import annotations

import os

import pytest
from e2e_server import COMPONENT_IFRAME, REPO, model_env, open_page, streamlit_server, wait_idle

from sam_core.serve.local import LocalServer, free_port

if os.environ.get("CI", "").lower() == "true":
    from playwright.sync_api import expect
else:
    expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.e2e
SCREENSHOTS = REPO / "tests" / "_screenshots"
TOKEN = "class-token-" + "c" * 20
SERVE_PORT = 8621  # this port, if free


def _port() -> int:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", SERVE_PORT))
        except OSError:
            return free_port()
    return SERVE_PORT


def _click_centre(page) -> None:
    page.wait_for_function(
        f"() => {{ const f = document.querySelector('{COMPONENT_IFRAME}');"
        " const i = f && f.contentDocument && f.contentDocument.getElementById('image');"
        " return i && i.complete && i.naturalWidth > 0 && f.getBoundingClientRect().height > 50; }",
        timeout=60_000)
    box = page.locator(COMPONENT_IFRAME).bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.45)  # the laptop


def test_segment_page_through_the_model_server(browser, tmp_path):
    env = model_env(tmp_path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    server = LocalServer(["--model", "nano", "--token", TOKEN], env=env, port=_port(), nice=5).start()
    try:
        with streamlit_server({**env, "SAM_SERVER_URL": server.url}) as base:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            open_page(page, base, "segment")
            page.get_by_text("Scene", exact=True).click()  # a desk scene: the embedded model's own world
            wait_idle(page)
            sidebar = page.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text("Model server", exact=True).click()
            wait_idle(page)
            expect(sidebar.get_by_text("needs an access token")).to_be_visible(timeout=30_000)
            sidebar.get_by_text("needs an access token").scroll_into_view_if_needed()
            sidebar.screenshot(path=str(SCREENSHOTS / "segment_served_sidebar_token.png"))
            token_box = sidebar.get_by_role("textbox", name="Access token")
            token_box.fill(TOKEN)
            token_box.press("Enter")
            wait_idle(page)
            expect(sidebar.get_by_text("Connected:")).to_be_visible(timeout=30_000)
            wait_idle(page)
            sidebar.get_by_text("Connected:").scroll_into_view_if_needed()
            sidebar.screenshot(path=str(SCREENSHOTS / "segment_served_sidebar_connected.png"))
            _click_centre(page)
            expect(page.get_by_text("IoU score")).to_have_count(3, timeout=60_000)
            expect(page.get_by_text("server round trip")).to_be_visible(timeout=30_000)
            wait_idle(page)
            page.screenshot(path=str(SCREENSHOTS / "segment_served_click.png"))
            log = server.log()
            assert log.count("POST /image/start") == 1 and log.count("POST /predict/mask") == 1

            server.stop()  # the instructor's server goes away mid-lesson
            _click_centre(page)
            expect(page.get_by_text("did not answer")).to_be_visible(timeout=60_000)
            wait_idle(page)
            page.screenshot(path=str(SCREENSHOTS / "segment_served_down.png"))
            assert page.locator('[data-testid="stException"]').count() == 0
            page.reload()
            open_page(page, base, "segment")
            assert not errors, errors
            page.close()
    finally:
        server.stop()
