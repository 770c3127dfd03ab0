"""Browser end-to-end: the §10 data-engine page shows the paper's three stages, the committed run's three
stages measured here, and a live automatic-mask-generator result (grid points, filter counts, masks)."""

from __future__ import annotations

import pytest
from e2e_server import REPO, open_page, wait_idle

SCREENSHOTS = REPO / "tests" / "_screenshots"

pytestmark = pytest.mark.e2e


def test_data_engine_page_shows_stages_and_live_generator(app_server, page):
    open_page(page, app_server, "data_engine", timeout_ms=180_000)
    page.get_by_text("Three stages, as the SAM paper reports them", exact=True).wait_for(timeout=120_000)
    page.get_by_text("The same three stages, measured here", exact=True).wait_for(timeout=60_000)
    page.get_by_text("Segment everything, live", exact=True).wait_for(timeout=60_000)
    page.get_by_text("64 grid points").wait_for(timeout=180_000)  # the live 8 x 8 grid has run
    wait_idle(page, 180_000)
    tables = page.locator('[data-testid="stDataFrame"]')
    assert tables.count() >= 5  # paper, run, before/after, filters, live match
    assert page.get_by_text(" masks", exact=False).count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "data_engine.png"))
    for heading, name in (("Model ↔ data: one turn of the loop", "data_engine_measured"),
                          ("Segment everything, live", "data_engine_live")):
        page.get_by_text(heading, exact=True).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
