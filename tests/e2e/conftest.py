"""Browser end-to-end fixtures: a live `streamlit run app.py` server and a headless Debian chromium.

Skipped with a reason when chromium or playwright is missing, except in CI (CI=true), where that fails.
"""

from __future__ import annotations

import os

import pytest
from e2e_server import CHROMIUM_ARGS, chromium_missing_reason, chromium_path, model_env, streamlit_server


def pytest_collection_modifyitems(config, items):
    reason = chromium_missing_reason()
    if reason is None or os.environ.get("CI", "").lower() == "true":
        return  # in CI the app_server fixture fails loudly instead
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"browser test skipped: {reason}"))


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    reason = chromium_missing_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    with streamlit_server(model_env(tmp_path_factory.mktemp("e2e_weights"))) as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()
