"""Nothing a student does is lost (issue 23): fast clicks, a reload, a server restart.

One server on a fixed port (E2E_WORK_PORT, default 8523), so the same tab can reconnect after the
server is killed and started again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from e2e_server import COMPONENT_IFRAME, REPO, model_env, open_page, wait_idle
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PORT = int(os.environ.get("E2E_WORK_PORT", "8523"))
BASE = f"http://127.0.0.1:{PORT}"


def start_server(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(PORT), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=log_path.open("a"),
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{BASE}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("streamlit did not start")


def stop_server(process: subprocess.Popen) -> None:
    process.kill()  # a crash, not a clean shutdown
    process.wait(timeout=20)


def image_box(page):
    page.wait_for_function(
        f"() => {{ const f = document.querySelector('{COMPONENT_IFRAME}');"
        " const i = f && f.contentDocument && f.contentDocument.getElementById('image');"
        " return i && i.complete && i.naturalWidth > 0 && f.getBoundingClientRect().height > 50; }",
        timeout=60_000)
    return page.locator(COMPONENT_IFRAME).bounding_box()


@pytest.fixture
def server_env(tmp_path):
    return {**model_env(tmp_path), "SAM_LESSON_WORK_DIR": str(tmp_path / "work"), "PYTHONUNBUFFERED": "1"}


def test_fast_clicks_reload_and_restart_lose_nothing(browser, server_env, tmp_path):
    log_path = tmp_path / "streamlit.log"
    process = start_server(server_env, log_path)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        open_page(page, BASE, "segment")
        box = image_box(page)
        # Ten clicks in under 2 s, at ten different places.
        started = time.monotonic()
        for index in range(10):
            page.mouse.click(box["x"] + box["width"] * (0.2 + 0.06 * index), box["y"] + box["height"] * 0.5)
            page.wait_for_timeout(60)
        elapsed = time.monotonic() - started
        assert elapsed < 2.5, elapsed
        expect(page.get_by_text("Points: 10")).to_be_visible(timeout=60_000)
        wait_idle(page)
        assert "work=" in page.url, page.url

        # A reload: a new Streamlit session finds the work under the tab's token.
        page.reload(wait_until="domcontentloaded")
        expect(page.get_by_text("Restored your work")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Points: 10")).to_be_visible(timeout=30_000)
        wait_idle(page)

        # A crash and restart: the same tab reconnects; its next click lands on the restored work.
        stop_server(process)
        process = start_server(server_env, log_path)
        healthy = time.monotonic()
        # Python's cold start (importing torch and the app: ~2 s idle, ~9 s on the loaded 2-core build
        # machine) is paid by any app's first run; a throwaway tab on the home page pays it first, so the
        # figure below is what the restore itself costs: reconnect, full rerun, restore, the new click.
        warm = context.browser.new_context().new_page()
        open_page(warm, BASE, "")
        warm.context.close()
        restarted = time.monotonic()
        box = image_box(page)
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3)
        try:
            expect(page.get_by_text("Points: 11")).to_be_visible(timeout=30_000)
        except AssertionError:
            page.screenshot(path=str(tmp_path / "after_restart.png"))
            print(log_path.read_text()[-3000:])
            raise
        back_after_s = time.monotonic() - restarted
        expect(page.get_by_text("IoU score")).to_have_count(3, timeout=30_000)
        print(f"10 clicks in {elapsed:.2f} s; the 11th click after the restart shown {back_after_s:.2f} s "
              f"after the server was warm ({restarted - healthy:.2f} s of cold start before that)")
        assert back_after_s < 5.0, back_after_s
        wait_idle(page)

        # Another tab (no token) starts empty: nothing of this student reaches it.
        other = context.browser.new_context().new_page()
        open_page(other, BASE, "segment")
        image_box(other)
        expect(other.get_by_text("Points: 0")).to_be_visible(timeout=30_000)
        other.context.close()
    finally:
        context.close()
        stop_server(process)


def test_an_upload_and_its_points_survive_a_restart_and_start_over_forgets(browser, server_env, tmp_path):
    import io

    from PIL import Image

    log_path = tmp_path / "streamlit.log"
    process = start_server(server_env, log_path)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        open_page(page, BASE, "segment")
        page.get_by_text("Upload", exact=True).click()
        wait_idle(page)
        buffer = io.BytesIO()
        Image.new("RGB", (320, 240), (30, 160, 90)).save(buffer, format="PNG")
        (tmp_path / "mine.png").write_bytes(buffer.getvalue())
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tmp_path / "mine.png"))
        box = image_box(page)
        for fraction in (0.3, 0.6):
            page.mouse.click(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.5)
            page.wait_for_timeout(100)
        expect(page.get_by_text("Points: 2")).to_be_visible(timeout=60_000)
        wait_idle(page)
        stop_server(process)
        process = start_server(server_env, log_path)
        page.reload(wait_until="domcontentloaded")  # the uploader is empty now; the kept image is not
        expect(page.get_by_text("Restored your work")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Points: 2")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("320 x 240 px")).to_be_visible()
        wait_idle(page)
        page.get_by_role("button", name="Start over").click()
        expect(page.get_by_text("Points: 0")).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.reload(wait_until="domcontentloaded")
        wait_idle(page)
        expect(page.get_by_text("Restored your work")).to_have_count(0)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
        stop_server(process)
