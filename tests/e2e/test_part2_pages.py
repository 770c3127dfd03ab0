"""Browser end-to-end on part 2, with the embedded SAM 2 / SAM 3 (issue 20's acceptance; the two model-quality
checks are expected failures while the embedded models are undertrained):
- SAM 2 page: propagate from the default click; later frames get masks and the object score dips while
  the elephant is hidden (the page's own sentence states both figures; the chart is drawn);
- SAM 3 page: "red car" keeps as many instances as the street scene has red cars; "elephant" on the
  street keeps none;
- Try it: Video: a click, propagate, export: the zip's manifest lists every frame.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from e2e_server import COMPONENT_IFRAME, REPO, open_page, wait_idle

SCREENSHOTS = REPO / "tests" / "_screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _click_image(page, fx: float = 0.5, fy: float = 0.5) -> None:
    image = page.frame_locator(COMPONENT_IFRAME).first.locator("#image")
    image.wait_for(state="visible", timeout=60_000)
    box = image.bounding_box()
    page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)


def _propagated_sentence(page, app_server) -> str:
    open_page(page, app_server, "sam2_memory", timeout_ms=180_000)
    page.get_by_role("button", name="Propagate through the clip (forward and back)").click()
    page.get_by_text("The plan's trace and the real shapes").wait_for(timeout=180_000)
    wait_idle(page, 180_000)
    text = page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()
    return next(t for t in text if t.startswith("Propagated"))


def test_sam2_page_propagates_and_reports_the_occlusion(app_server, page):
    run = _propagated_sentence(page, app_server)
    assert re.search(r'hidden frames it said "hidden" on (\d+)%', run), run
    assert re.search(r'the object score said "visible" on (\d+)%', run), run
    assert page.get_by_text("predicted mask (object score").count() >= 1  # the frame view after the run
    assert page.locator('[data-testid="stImage"]').count() >= 3  # clip frame, mask frame, attention maps
    assert page.locator('[data-testid="stException"]').count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sam2_memory_after_propagate.png"), full_page=True)


@pytest.mark.xfail(reason="issue 20 acceptance not met yet: the embedded SAM 2 is undertrained (model card, stage 3); "
                          "on this clip (savanna seed 4) its IoU head keeps the worst of the clicked frame's 3 masks (IoU 0.09; "
                          "the best has 0.58: model card, 'The IoU head picks the wrong mask'), and its object score "
                          "says 'visible' on every frame, the 8 hidden ones included", strict=False)
def test_sam2_object_score_dips_while_hidden(app_server, page):
    run = _propagated_sentence(page, app_server)
    assert int(re.search(r'hidden frames it said "hidden" on (\d+)%', run).group(1)) >= 50, run
    assert int(re.search(r'the object score said "visible" on (\d+)%', run).group(1)) >= 50, run


def _kept_and_truth(page) -> tuple[int, int]:
    caption = page.get_by_text(re.compile(r'instance\(s\) kept')).first.inner_text()
    kept = int(re.search(r": (\d+) instance", caption).group(1))
    truth_text = page.get_by_text(re.compile(r"ground truth has")).first.inner_text()
    truth = int(re.search(r"ground truth has (\d+) instance", truth_text).group(1))
    return kept, truth


def _open_sam3(page, app_server) -> tuple[int, int]:
    open_page(page, app_server, "sam3_concepts", timeout_ms=180_000)
    page.get_by_text("instance(s) kept").first.wait_for(timeout=120_000)
    return _kept_and_truth(page)  # the default: "red car" on the street scene


def test_sam3_page_no_elephant_on_a_street(app_server, page):
    kept, truth = _open_sam3(page, app_server)
    assert truth >= 1  # the default scene has a red car to find
    box = page.get_by_label("Or type a noun phrase")
    box.fill("elephant")
    box.press("Enter")
    page.get_by_text('"elephant":').first.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    assert _kept_and_truth(page) == (0, 0)
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.mark.xfail(reason="issue 20 acceptance not met yet: the embedded SAM 3 cannot tell colours apart (model card, "
                          "stage 6: presence AUC by colour 0.49-0.54, benchmarks.colour_phrases); on this street scene "
                          "'red car' gets presence 0.54 and its best query scores 0.34 (0.63 x 0.54)", strict=False)
def test_sam3_page_red_car_finds_every_red_car(app_server, page):
    kept, truth = _open_sam3(page, app_server)
    assert truth >= 1 and kept == truth, (kept, truth)


def test_video_export_lists_every_frame(app_server, page):
    open_page(page, app_server, "try_video", timeout_ms=180_000)
    _click_image(page, 0.6, 0.7)
    wait_idle(page, 120_000)
    page.get_by_role("button", name="Propagate", exact=True).click()
    page.get_by_text("Last propagation").wait_for(timeout=180_000)
    wait_idle(page, 120_000)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name=re.compile("Export masks")).click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    manifest = json.loads(archive.read("manifest.json"))
    assert {entry["frame"] for entry in manifest["masks"]} == set(range(manifest["frames"]))
    assert all(entry["mask"] in archive.namelist() for entry in manifest["masks"])
