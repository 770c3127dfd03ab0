"""Start `streamlit run app.py` on 127.0.0.1 and drive it with Debian's chromium through Playwright.

Shared by the e2e tests (tests/e2e/) and the click-latency benchmark (tests/bench_click_latency.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
COMPONENT_IFRAME = 'iframe[title*="streamlit_image_coordinates"], iframe[title$=".click_log"]'
sys.path.insert(0, str(REPO))  # the page table and the nano weights path come from the project itself

from lesson_content.page_table import PAGES  # noqa: E402
from sam_core.sam1.build import NANO_WEIGHTS  # noqa: E402


def page_urls() -> list[tuple[str, str, str]]:
    """(section, page file, url_path) for every row of the page table.

    url_path is "" for the default page (served at the app's root URL)."""
    return [(row.section, row.file, "" if row.default else row.url_path) for row in PAGES]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def random_nano_checkpoint(folder: Path) -> Path:
    """TEST FIXTURE: build_sam("nano")-shaped random weights (used only while the real ones are missing)."""
    import torch
    from safetensors.torch import save_file

    from sam_core.sam1.build import sam_model_registry

    torch.manual_seed(0)
    model = sam_model_registry["nano"]()
    path = folder / "random_nano.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def model_env(folder: Path) -> dict[str, str]:
    """Environment for the server: the embedded weights if committed, else the random test fixture."""
    if NANO_WEIGHTS.exists():
        return {}
    return {"SAM_CHECKPOINT": str(random_nano_checkpoint(folder)), "SAM_MODEL_TYPE": "nano"}


@contextlib.contextmanager
def streamlit_server(extra_env: dict[str, str] | None = None, timeout_s: float = 90.0) -> Iterator[str]:
    """Run the app on a free port; yield its base URL ("http://127.0.0.1:PORT"); stop it afterwards."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    log = tempfile.NamedTemporaryFile("w+", prefix="streamlit_", suffix=".log", delete=False)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
               "--server.runOnSave", "false"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not become healthy within {timeout_s} s")
            time.sleep(0.25)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here (None if they can)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing (pip install playwright)"
    return None


def chromium_path() -> str:
    return CHROMIUM if Path(CHROMIUM).exists() else (shutil.which("chromium") or CHROMIUM)


def wait_idle(page, timeout_ms: float = 60_000, settle_ms: int = 400) -> None:
    """Wait until the Streamlit script has finished running and stayed finished for settle_ms.

    "notRunning" alone is not enough: between a run and the rerun it requests (st.rerun, the first
    request on a fresh server) the state is briefly "notRunning" while the page is still half drawn.
    """
    page.evaluate("() => { window.__idleSince = null; }")
    page.wait_for_function(
        """(settle) => {
            const app = document.querySelector('[data-test-script-state]');
            const idle = app && app.getAttribute('data-test-script-state') === 'notRunning'
                && !document.querySelector('[data-testid="stSpinner"]');
            if (!idle) { window.__idleSince = null; return false; }
            if (!window.__idleSince) { window.__idleSince = Date.now(); }
            return Date.now() - window.__idleSince >= settle;
        }""", arg=settle_ms, timeout=timeout_ms, polling=50)


def open_page(page, base: str, url_path: str, theme: str | None = None, timeout_ms: float = 90_000) -> None:
    query = f"?embed_options={theme}_theme" if theme else ""
    page.goto(f"{base}/{url_path}{query}", wait_until="domcontentloaded", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    if page.get_by_text("Page not found").count():
        raise AssertionError(f"Streamlit says 'Page not found' for /{url_path}")


# JavaScript run inside the component's iframe. ARM_NEXT_IMAGE_JS stores a promise in window.__shown
# that resolves with the time (Date.now()) at which the image next shows a NEW picture (src changed and
# decoded); `frame.evaluate("() => window.__shown")` waits for it. (A promise returned directly would
# make evaluate wait before the click is even made.)
ARM_NEXT_IMAGE_JS = """
() => { window.__shown = new Promise((resolve) => {
  const img = document.getElementById("image");
  const old = img.src;
  const done = () => resolve(Date.now());
  const observer = new MutationObserver(() => {
    if (img.src !== old) {
      observer.disconnect();
      img.decode().then(done, done);
    }
  });
  observer.observe(img, {attributes: true, attributeFilter: ["src"]});
}); }
"""

MOUSEDOWN_TIME_JS = """
() => { window.__lastDown = null;
  document.getElementById("image").addEventListener("mousedown", () => { window.__lastDown = Date.now(); },
                                                    {capture: true}); }
"""
