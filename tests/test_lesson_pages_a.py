"""Lesson pages 01-04 and the Instructor page render (AppTest), and their numbers follow the config.

The model is a test fixture: nano-shaped random weights passed through SAM_CHECKPOINT (the numbers the
pages trace do not depend on training, only on the formula and the checkpoint's Gaussian matrix).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import clear_streamlit_caches

REPO = Path(__file__).resolve().parent.parent
PAGES = ["01_start.py", "02_segmentation.py", "03_architecture.py", "04_prompt_encoding.py", "09_instructor.py"]
TIMEOUT = 240  # the first run of a page builds the ViT-H reference on the meta device; CI machines are busy








def run_page(name: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / name), default_timeout=TIMEOUT)
    at.run()
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
    at = run_page("04_prompt_encoding.py")
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
    at = run_page("04_prompt_encoding.py")
    text = page_text(at)
    assert "\\cos(\\pi p_y) = -0.0153" in text
    assert "-0.016" not in text


def test_architecture_page_shows_loaded_and_vit_h_shapes(with_model):
    at = run_page("03_architecture.py")
    assert not at.exception
    frames = [df.value for df in at.dataframe]
    flat = "\n".join(frame.to_string() for frame in frames)
    assert "1024" in flat and "256" in flat  # ViT-H input and width
    assert "128" in flat  # nano width


def test_instructor_page_applies_a_new_click(with_model):
    at = run_page("09_instructor.py")
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
    at = run_page("09_instructor.py")
    at.number_input(key="instructor_box_prompt_x1").set_value(10).run()  # x1 < x0
    assert any("x0 < x1" in e.value for e in at.error)
    assert at.button(key="instructor_apply").disabled
