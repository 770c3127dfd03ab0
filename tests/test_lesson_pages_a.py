"""Lesson pages 01-04 and the Instructor page render (AppTest), and their numbers follow the config.

The model is a test fixture: nano-shaped random weights passed through SAM_CHECKPOINT (the numbers the
pages trace do not depend on training, only on the formula and the checkpoint's Gaussian matrix).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lesson_content.page_table import page as page_row
from tests.conftest import clear_streamlit_caches

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app.py"
PAGES = ["start", "segmentation", "architecture", "prompt_encoding", "instructor"]  # url paths
TIMEOUT = 240  # the first run of a page builds the ViT-H reference on the meta device; CI machines are busy








def run_page(url_path: str):
    """The page as the app shows it: app.py's router and sidebar, then the page."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page_row(url_path).file).run()
    return at


def page_text(at) -> str:
    parts = [m.value for m in at.markdown] + [latex.value for latex in at.latex]
    for kind in ("info", "warning", "success", "error", "caption"):
        parts += [e.value for e in getattr(at, kind)]
    return "\n".join(parts)


@pytest.mark.parametrize("name", PAGES)
def test_page_runs_without_exception(with_model, name):
    at = run_page(name)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("name", PAGES)
def test_page_runs_without_a_model(monkeypatch, tmp_path, name):
    monkeypatch.setenv("SAM_CHECKPOINT", str(tmp_path / "missing.safetensors"))
    monkeypatch.delenv("SAM_LESSON_EXAMPLES", raising=False)
    clear_streamlit_caches()
    at = run_page(name)
    assert not at.exception, [e.value for e in at.exception]


def test_prompt_page_follows_the_examples_file(with_model, monkeypatch, tmp_path):
    override = tmp_path / "examples.toml"
    override.write_text("[prompt_click]\nx = 100\ny = 900\n")
    monkeypatch.setenv("SAM_LESSON_EXAMPLES", str(override))
    clear_streamlit_caches()
    at = run_page("prompt_encoding")
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    cos_py = f"{math.cos(math.pi * 900 / 1024):.4f}"
    sin_px = f"{math.sin(math.pi * 100 / 1024):.4f}"
    assert f"\\cos(\\pi p_y) = {cos_py}" in text
    assert f"\\sin(\\pi p_x) = {sin_px}" in text
    assert "(100, 900)" in text
    # and the default click is gone
    assert f"{math.cos(math.pi * 517 / 1024):.4f}" not in text


def test_prompt_page_default_click_shows_the_corrected_erratum(with_model):
    at = run_page("prompt_encoding")
    text = page_text(at)
    assert "\\cos(\\pi p_y) = -0.0153" in text
    assert "-0.016" not in text


def test_architecture_page_shows_loaded_and_vit_h_shapes(with_model):
    from sam_core.sam1.build import NANO_DECODER, SAM_DECODER

    at = run_page("architecture")
    assert not at.exception
    frames = [df.value for df in at.dataframe]
    flat = "\n".join(frame.to_string() for frame in frames)
    assert "1024" in flat and "256" in flat  # ViT-H input and width
    assert "128" in flat  # nano width
    shapes = frames[0].set_index("stage")
    ref_side, nano_side = SAM_DECODER.image_size, NANO_DECODER.image_size
    assert shapes.loc["image input", "SAM ViT-H"] == f"3 × {ref_side} × {ref_side}"
    assert shapes.loc["image input", "loaded model"] == f"3 × {nano_side} × {nano_side}"
    grid, width = NANO_DECODER.embedding_grid, NANO_DECODER.prompt_embed_dim
    assert shapes.loc["image embedding", "loaded model"] == f"{width} × {grid} × {grid}"
    ref_grid = SAM_DECODER.embedding_grid
    assert shapes.loc["image embedding", "SAM ViT-H"] == f"{SAM_DECODER.prompt_embed_dim} × {ref_grid} × {ref_grid}"
    assert shapes.loc["prompt tokens: one click (+ padding)", "loaded model"] == f"2 × {width}"


def test_instructor_page_applies_a_new_click(with_model):
    at = run_page("instructor")
    assert not at.exception
    at.number_input(key="instructor_prompt_click_x").set_value(100)
    at.number_input(key="instructor_prompt_click_y").set_value(900).run()
    assert not at.exception
    preview = "\n".join(df.value.to_string() for df in at.dataframe)
    assert f"{math.cos(math.pi * 900 / 1024):.4f}" in preview  # the preview shows the new cos(pi p_y)
    at.button(key="instructor_apply").click().run()
    assert not at.exception
    examples = at.session_state["app_examples"]
    assert examples["prompt_click"]["x"] == 100 and examples["prompt_click"]["y"] == 900


def test_instructor_page_reports_cross_field_errors(with_model):
    at = run_page("instructor")
    at.number_input(key="instructor_box_prompt_x1").set_value(10).run()  # x1 < x0
    assert any("x0 < x1" in e.value for e in at.error)
    assert at.button(key="instructor_apply").disabled


def test_an_applied_change_goes_into_the_address_and_a_new_session_reads_it(with_model):
    at = run_page("instructor")
    at.number_input(key="instructor_prompt_click_y").set_value(900).run()
    at.button(key="instructor_apply").click().run()
    assert not at.exception
    link = at.query_params.get("examples")
    link = link[0] if isinstance(link, list) else link
    assert link, "the applied change must be in the page address (a reload keeps it)"

    from streamlit.testing.v1 import AppTest

    clear_streamlit_caches()
    fresh = AppTest.from_file(str(APP), default_timeout=TIMEOUT)  # a reload: a new session, same address
    fresh.query_params["examples"] = link
    fresh.run()
    fresh.switch_page(page_row("instructor").file).run()
    assert not fresh.exception
    assert fresh.session_state["app_examples"]["prompt_click"]["y"] == 900

    other = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()  # another student, no link
    other.switch_page(page_row("instructor").file).run()
    assert other.session_state["app_examples"]["prompt_click"]["y"] == 517


def test_publish_needs_the_token_and_reaches_new_sessions(with_model, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from lesson_content import examples as ex

    monkeypatch.setenv(ex.PUBLISHED_ENV_VAR, str(tmp_path / "published.json"))
    monkeypatch.setenv(ex.TOKEN_ENV_VAR, "s3cret")
    at = run_page("instructor")
    at.number_input(key="instructor_prompt_click_x").set_value(600).run()
    at.button(key="instructor_apply").click().run()
    at.text_input(key="instructor_who").input("Dr Lee").run()
    at.text_input(key="instructor_token").input("wrong").run()
    at.button(key="instructor_publish").click().run()
    assert any("token" in e.value for e in at.error) and not (tmp_path / "published.json").exists()
    at.text_input(key="instructor_token").input("s3cret").run()
    at.button(key="instructor_publish").click().run()
    assert not at.exception
    record, errors = ex.read_published()
    assert not errors and record["by"] == "Dr Lee" and record["changes"] == {"prompt_click": {"x": 600}}

    student = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()  # a new session, no link
    student.switch_page(page_row("instructor").file).run()
    assert student.session_state["app_examples"]["prompt_click"]["x"] == 600

    assert ex.unpublish("s3cret") is None and ex.read_published() == (None, [])
    clear_streamlit_caches()
    later = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    later.switch_page(page_row("instructor").file).run()
    assert later.session_state["app_examples"]["prompt_click"]["x"] == 342
