"""Benchmark (not a test): click -> mask visible latency in a real browser, p50 / p95 over N clicks.

    python tests/bench_click_latency.py                # 25 clicks on the Segment page, cat photo
    python tests/bench_click_latency.py --clicks 40 --json out.json

Starts `streamlit run app.py` on 127.0.0.1 (embedded nano weights if committed, else a random-weights
TEST FIXTURE of the same shape, which costs the same time), opens the Segment page in Debian's chromium
and, for each click: records the time of the real mousedown inside the component's iframe and the time
the image element shows a NEW picture (src changed and decoded), both with the iframe's Date.now().
Each click is undone afterwards (not timed), so every timed click is a fresh one-point prompt.
Target (DESIGN.md): p50 <= 100 ms, p95 <= 200 ms with the embedded model on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent / "e2e"), str(Path(__file__).resolve().parents[1])]

from e2e_server import (  # noqa: E402
    ARM_NEXT_IMAGE_JS,
    CHROMIUM_ARGS,
    COMPONENT_IFRAME,
    MOUSEDOWN_TIME_JS,
    chromium_missing_reason,
    chromium_path,
    model_env,
    open_page,
    streamlit_server,
    wait_idle,
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def component_frame(page):
    handle = page.wait_for_selector(COMPONENT_IFRAME, timeout=60_000)
    frame = handle.content_frame()
    frame.wait_for_selector("#image", timeout=60_000)
    frame.wait_for_function("() => { const i = document.getElementById('image');"
                            " return i.complete && i.naturalWidth > 0; }", timeout=60_000)
    return frame


def run(clicks: int, width: int, seed: int) -> dict:
    from playwright.sync_api import sync_playwright

    rng = random.Random(seed)
    latencies: list[float] = []
    server_ms: list[str] = []
    model_ms: list[float] = []  # prompt encoder + mask decoder + postprocess of each click (server side)
    with tempfile.TemporaryDirectory() as folder, streamlit_server(model_env(Path(folder))) as base, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 1000})
        open_page(page, base, "segment")
        for index in range(clicks + 1):  # the first click is a warm-up (not counted)
            frame = component_frame(page)
            frame.evaluate(MOUSEDOWN_TIME_JS)
            frame.evaluate(ARM_NEXT_IMAGE_JS)  # window.__shown: resolves when the new image shows
            box = page.locator(COMPONENT_IFRAME).bounding_box()
            x = box["x"] + box["width"] * rng.uniform(0.2, 0.8)
            y = box["y"] + box["height"] * rng.uniform(0.2, 0.8)
            page.mouse.click(x, y)
            shown_at = frame.evaluate("() => window.__shown")
            down_at = frame.evaluate("() => window.__lastDown")
            wait_idle(page)
            if index > 0:
                latencies.append(float(shown_at - down_at))
                caption = page.get_by_text("Measured:").first
                text = caption.inner_text() if caption.count() else ""
                server_ms.append(text)
                per_click = [float(m) for m in re.findall(
                    r"(?:prompt encoder|mask decoder|postprocess) ([\d.]+) ms", text)]
                model_ms.append(sum(per_click))
            page.locator(".st-key-segment_undo button").click()
            wait_idle(page)
            page.wait_for_timeout(200)  # let the undo's new picture arrive before the next timed click
        browser.close()
    return {
        "clicks": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "min_ms": round(min(latencies), 1),
        "max_ms": round(max(latencies), 1),
        "model_p50_ms": round(percentile(model_ms, 0.50), 1) if model_ms else None,
        "other_p50_ms": round(percentile([t - m for t, m in zip(latencies, model_ms, strict=False)], 0.50), 1)
        if model_ms else None,
        "latencies_ms": [round(v, 1) for v in latencies],
        "model_ms": [round(v, 1) for v in model_ms],
        "last_server_timings": server_ms[-1] if server_ms else "",
        "viewport_width": width,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=25, help="timed clicks (>= 20 for a p95)")
    parser.add_argument("--width", type=int, default=1400, help="browser viewport width")
    parser.add_argument("--seed", type=int, default=0, help="seed of the click positions")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    reason = chromium_missing_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    result = run(args.clicks, args.width, args.seed)
    print(f"click -> mask visible over {result['clicks']} clicks: p50 {result['p50_ms']} ms, "
          f"p95 {result['p95_ms']} ms (min {result['min_ms']}, max {result['max_ms']})")
    print(f"of which the model (prompt encoder + decoder + postprocess), p50: {result['model_p50_ms']} ms; "
          f"everything else (Streamlit rerun, drawing, transfer, browser), p50: {result['other_p50_ms']} ms")
    print(f"server side, last click: {result['last_server_timings']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
