"""Benchmark (not a test): a class on one server. N browser sessions click the Segment page at once.

    python tests/bench_class_load.py --sessions 1 4 8 16 --clicks 20 --json out.json
    python tests/bench_class_load.py --repo /work/main ...      # the same against another checkout

One `streamlit run app.py` on 127.0.0.1 per session count; N contexts of one headless chromium (async
Playwright) open the Segment page on the cat photo; each clicks `--clicks` times at random places,
waiting for each click's new picture (click -> mask latency: the real mousedown in the component's
iframe to the image showing a new, decoded src, both on the iframe's clock). Afterwards every session
must show exactly its own number of points (no lost click, nothing of another session) and no
exception box. Prints p50 / p95 per session count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent / "e2e"), str(Path(__file__).resolve().parents[1])]

import e2e_server  # noqa: E402
from e2e_server import ARM_NEXT_IMAGE_JS, CHROMIUM_ARGS, COMPONENT_IFRAME, MOUSEDOWN_TIME_JS  # noqa: E402

IDLE_JS = """() => { const a = document.querySelector('[data-test-script-state]');
  return a && a.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stSpinner"]'); }"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def one_session(browser, base: str, clicks: int, seed: int, latencies: list[float]) -> dict:
    rng = random.Random(seed)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    result = {"errors": 0, "points_expected": clicks, "points_shown": None}
    try:
        await page.goto(f"{base}/segment", wait_until="domcontentloaded", timeout=180_000)
        handle = await page.wait_for_selector(COMPONENT_IFRAME, timeout=180_000)
        frame = await handle.content_frame()
        await frame.wait_for_function("() => { const i = document.getElementById('image');"
                                      " return i && i.complete && i.naturalWidth > 0; }", timeout=180_000)
        await page.wait_for_function(IDLE_JS, timeout=180_000)
        for _ in range(clicks):
            handle = await page.wait_for_selector(COMPONENT_IFRAME, timeout=60_000)
            frame = await handle.content_frame()
            await frame.evaluate(MOUSEDOWN_TIME_JS)
            await frame.evaluate(ARM_NEXT_IMAGE_JS)
            box = await handle.bounding_box()
            await page.mouse.click(box["x"] + box["width"] * rng.uniform(0.15, 0.85),
                                   box["y"] + box["height"] * rng.uniform(0.15, 0.85))
            try:
                shown_at = await frame.evaluate("() => window.__shown")
                down_at = await frame.evaluate("() => window.__lastDown")
                latencies.append(float(shown_at - down_at))
            except Exception as error:  # noqa: BLE001 - the iframe was replaced: no time for this click
                result["detached"] = result.get("detached", 0) + 1
                result["error_detail"] = str(error)[:120]
            await page.wait_for_function(IDLE_JS, timeout=120_000)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = await page.inner_text("body")
            if f"Points: {clicks}" in text:
                break
            await asyncio.sleep(0.25)
        marker = text.split("Points: ", 1)[1].split(" ", 1)[0] if "Points: " in text else "?"
        result["points_shown"] = int(marker) if marker.isdigit() else None
        result["errors"] = await page.locator('[data-testid="stException"]').count()
    except Exception as error:  # noqa: BLE001 - counted and reported
        result["errors"] += 1
        result["error"] = f"{type(error).__name__}: {str(error)[:200]}"
    finally:
        await context.close()
    return result


async def run_class(base: str, sessions: int, clicks: int) -> dict:
    from playwright.async_api import async_playwright

    latencies: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=e2e_server.chromium_path(), args=CHROMIUM_ARGS)
        started = time.monotonic()
        results = await asyncio.gather(*(one_session(browser, base, clicks, seed, latencies)
                                         for seed in range(sessions)))
        wall = time.monotonic() - started
        await browser.close()
    lost = sum(max(0, clicks - (r["points_shown"] or 0)) for r in results)
    leaks = sum(1 for r in results if (r["points_shown"] or 0) > clicks)
    return {"sessions": sessions, "clicks_per_session": clicks, "clicks": len(latencies),
            "p50_ms": round(percentile(latencies, 0.5), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
            "errors": sum(r["errors"] for r in results), "lost_clicks": lost, "leaks": leaks,
            "detached_frames": sum(r.get("detached", 0) for r in results),
            "wall_s": round(wall, 1), "failures": [r["error"] for r in results if "error" in r][:3]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--repo", type=Path, default=e2e_server.REPO, help="checkout to serve")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    reason = e2e_server.chromium_missing_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    e2e_server.REPO = args.repo.resolve()  # streamlit_server runs app.py from here
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        env = {**e2e_server.model_env(Path(folder)), "SAM_LESSON_WORK_DIR": str(Path(folder) / "work")}
        for sessions in args.sessions:
            with e2e_server.streamlit_server(env) as base:
                row = asyncio.run(run_class(base, sessions, args.clicks))
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"repo": str(args.repo), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
