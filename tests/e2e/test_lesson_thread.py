"""Part 1 in a real browser: one traced click on every page, instructor changes that last, publishing.

The traced click's coordinates appear on each part-1 page; an instructor's change (made with the
Instructor page's form) reaches the pages, survives a reload (it lives in the page address), stays out of
a second browser context until it is published, and reaches it after.
"""

from __future__ import annotations

import re

import pytest
from e2e_server import model_env, open_page, streamlit_server, wait_idle

from lesson_content.examples import PUBLISHED_ENV_VAR, TOKEN_ENV_VAR, default_examples

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
THREAD_PAGES = ["segmentation", "prompt_encoding", "decoder", "together", "loss"]  # url paths that trace the click
TOKEN = "e2e-instructor-token"
NEW_Y = 900


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def shows_click(page, x: int, y: int) -> bool:
    return re.search(rf"\({x},\s*{y}\)", main_text(page)) is not None


@pytest.fixture(scope="module")
def class_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("thread")
    env = {**model_env(folder), TOKEN_ENV_VAR: TOKEN, PUBLISHED_ENV_VAR: str(folder / "published.json")}
    with streamlit_server(env) as base:
        yield base


def test_one_click_through_part1_and_instructor_changes_that_last(class_server, browser):
    click = default_examples()["prompt_click"]
    x, y = click["x"], click["y"]
    instructor = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    for url in THREAD_PAGES:
        open_page(instructor, class_server, url)
        wait_idle(instructor, timeout_ms=180_000)
        assert shows_click(instructor, x, y), f"{url} does not show the traced click ({x}, {y})"

    # the instructor changes the click with the form and applies it
    open_page(instructor, class_server, "instructor")
    wait_idle(instructor)
    field = instructor.get_by_label("y", exact=True).first
    field.fill(str(NEW_Y))
    field.press("Enter")
    wait_idle(instructor)
    instructor.get_by_role("button", name="Apply to my session").click()
    wait_idle(instructor)
    assert "examples=" in instructor.url, "the applied change is not in the page address"

    # every part-1 page follows it, through the sidebar, and a reload keeps it
    for url in THREAD_PAGES:
        instructor.locator('[data-testid="stSidebar"]').locator(f'a[href$="/{url}"], a[href*="/{url}?"]').first.click()
        wait_idle(instructor, timeout_ms=180_000)
        assert shows_click(instructor, x, NEW_Y), f"{url} does not follow the instructor's click"
    instructor.reload()
    wait_idle(instructor, timeout_ms=180_000)
    assert shows_click(instructor, x, NEW_Y), "a reload lost the instructor's change"

    # a student (another browser context, no link) does not see it until it is published
    student = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    open_page(student, class_server, "prompt_encoding")
    wait_idle(student, timeout_ms=180_000)
    assert shows_click(student, x, y) and not shows_click(student, x, NEW_Y)

    open_page(instructor, class_server, "instructor" + instructor.url[instructor.url.index("?"):])
    wait_idle(instructor)
    instructor.get_by_label("Your name (stored with the publication)").fill("E2E instructor")
    instructor.get_by_label("Instructor token").fill(TOKEN)
    instructor.get_by_label("Instructor token").press("Enter")
    wait_idle(instructor)
    instructor.get_by_role("button", name="Publish my session's examples").click()
    wait_idle(instructor)
    assert "Published by" in main_text(instructor)

    student.reload()
    wait_idle(student, timeout_ms=180_000)
    assert shows_click(student, x, NEW_Y), "the published click did not reach a new student session"
