"""Every page in the page table (lesson_content/page_table.py) renders without exception (AppTest),
with and without a model, through app.py's router; a page added to the table is tested here automatically.
The model is a TEST FIXTURE: `build_sam("nano")`-shaped random weights written to a temp file and
passed through SAM_CHECKPOINT; the app's own default stays the committed embedded weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lesson_content.page_table import PAGES, page

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app.py"
PAGE_IDS = [row.url_path for row in PAGES]
SEGMENT = page("segment").file
HOME = page("home").file


@pytest.fixture
def without_model(monkeypatch, tmp_path):
    """No weights at all: the embedded file missing and no override."""
    import ui.session

    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    monkeypatch.setattr(ui.session, "NANO_WEIGHTS", tmp_path / "missing.safetensors")


def run_page(page: str, session_state: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page)
    for key, value in (session_state or {}).items():
        at.session_state[key] = value
    at.run()
    return at


def test_pages_list_shape():
    assert PAGES[0].file == "lesson_pages/home.py" and PAGES[0].default
    assert [row for row in PAGES if row.default] == [PAGES[0]]
    assert ("Try it", "lesson_pages/try_it/segment.py", "Segment") in [(r.section, r.file, r.title) for r in PAGES]
    assert {row.section for row in PAGES} <= {"Lesson", "Try it", "Instructor"}
    for row in PAGES:
        assert row.path.is_file(), f"{row.file} is listed in PAGES but missing"
    # every lesson section 1-9 has a page; the map lists all 16 outline sections in order
    from lesson_content.page_table import lesson_map

    entries = lesson_map()
    assert [e.section.number for e in entries] == list(range(1, 17))
    assert all(e.ready for e in entries[:9])


def test_no_pages_folder_so_deep_links_go_through_the_router(monkeypatch):
    """Streamlit runs a process in its old "pages directory" mode while a folder named pages/ sits next to
    the main script; a deep link (/segment) on a fresh server would then run the page on its own (no
    router, no sidebar). The pages live in lesson_pages/, so that mode never starts: nothing to patch."""
    from streamlit.runtime.pages_manager import PagesManager

    assert not (REPO / "pages").exists()
    assert "uses_pages_directory" not in (REPO / "ui" / "__init__.py").read_text()
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)  # as in a fresh process
    PagesManager(str(APP))
    assert PagesManager.uses_pages_directory is False
    urls = [row.url_path for row in PAGES]
    assert len(set(urls)) == len(urls) and all(u and "/" not in u for u in urls)


@pytest.mark.parametrize("row", PAGES, ids=PAGE_IDS)
def test_page_renders_with_model(row, with_model):
    at = run_page(row.file)
    assert not at.exception, [e.value for e in at.exception]
    assert row.default or at.title[0].value.startswith(row.title), (row.title, at.title[0].value)  # routed there


@pytest.mark.parametrize("row", PAGES, ids=PAGE_IDS)
def test_page_renders_without_weights(row, without_model):
    at = run_page(row.file)
    assert not at.exception, [e.value for e in at.exception]


def first_run():
    """The app's first run (the default page, Home)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_segment_no_weights_state(without_model):
    at = run_page(SEGMENT)
    assert any("No weights yet" in w.value for w in at.warning)
    assert any("No weights yet" in w.value for w in at.sidebar.warning)


def test_segment_click_gives_three_masks(with_model):
    # What ui.click_log sends for a click at displayed (100, 80) on a 451 px wide image.
    click = {"x1": 100, "y1": 80, "x2": 100, "y2": 80, "width": 451, "height": 300, "unix_time": 1, "seq": 1}
    at = run_page(SEGMENT, {"segment_canvas": {"log_id": "t", "events": [click]}})
    assert not at.exception, [e.value for e in at.exception]
    texts = [m.value for m in at.markdown]
    assert sum("IoU score" in t for t in texts) == 3, texts
    assert any("★ best" in t for t in texts)
    assert at.session_state["segment_points"] == [[100.0, 80.0]]
    assert at.session_state["segment_labels"] == [1]
    # Undo removes the point again.
    at.button(key="segment_undo").click().run()
    assert at.session_state["segment_points"] == []


def test_segment_single_mask_and_background_point(with_model):
    click = {"x1": 200, "y1": 150, "x2": 200, "y2": 150, "width": 451, "height": 300, "unix_time": 2, "seq": 1}
    at = run_page(SEGMENT, {"segment_canvas": {"log_id": "t", "events": [click]}, "segment_multimask": False,
                                       "segment_mode": "Background point"})
    assert not at.exception, [e.value for e in at.exception]
    assert sum("IoU score" in m.value for m in at.markdown) == 1
    assert at.session_state["segment_labels"] == [0]


def test_segment_box_by_drag(with_model):
    drag = {"x1": 50, "y1": 40, "x2": 300, "y2": 200, "width": 451, "height": 300, "unix_time": 3, "seq": 1}
    at = run_page(SEGMENT, {"segment_canvas": {"log_id": "t", "events": [drag]}, "segment_mode": "Box"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["segment_box"] == [50.0, 40.0, 300.0, 200.0]


def test_sidebar_shows_model_and_device(with_model):
    at = run_page(SEGMENT)
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Running on" in captions
    assert at.sidebar.toggle(key="app_instructor") is not None


@pytest.fixture
def fake_hub(monkeypatch, random_nano_checkpoint, tmp_path):
    """sam_core.weights.download.fetch_checkpoint replaced by a local fake: nothing cached until downloaded."""
    import sam_core.weights.download as download
    import ui.session

    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    monkeypatch.setattr(ui.session, "NANO_WEIGHTS", tmp_path / "missing.safetensors")
    monkeypatch.setattr(ui.session, "registry_model_type", lambda name: "nano")  # random nano weights
    calls = []

    def fake_fetch(name, *, progress=None, offline=None, **kwargs):
        calls.append((name, offline))
        if offline:
            raise download.OfflineError(f"{name} is not in the cache")
        if name == "sam_vit_h":
            raise download.OfflineError("the hub cannot be reached")
        for done in (0, 500, 1000):
            progress(done, 1000)
        return random_nano_checkpoint

    monkeypatch.setattr(download, "fetch_checkpoint", fake_fetch)
    return calls


def test_sidebar_download_with_progress(fake_hub):
    at = run_page(SEGMENT)
    at.sidebar.selectbox(key="app_model_select").set_value("mobile_sam").run()
    assert not at.exception, [e.value for e in at.exception]
    download = at.sidebar.button(key="app_download")
    assert "mobile_sam" in download.label
    download.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert ("mobile_sam", None) in fake_hub
    # After the download the model is ready: the Segment page offers clicks, no "no weights" state.
    assert not any("No weights yet" in w.value for w in at.warning)
    assert "mobile_sam" in " ".join(c.value for c in at.sidebar.caption)


def test_sidebar_download_offline_is_a_message(fake_hub):
    at = run_page(HOME)
    at.sidebar.selectbox(key="app_model_select").set_value("sam_vit_h").run()
    at.sidebar.button(key="app_download").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Offline" in e.value for e in at.sidebar.error)


def test_local_checkpoint_path(monkeypatch, random_nano_checkpoint, tmp_path):
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    at = run_page(HOME)
    at.sidebar.selectbox(key="app_model_select").set_value("Local checkpoint file ...").run()
    at.sidebar.text_input(key="app_model_path").set_value(str(tmp_path / "nope.pth")).run()
    assert any("No file at" in e.value for e in at.sidebar.error)
    at.sidebar.selectbox(key="app_model_path_type").set_value("nano").run()
    at.sidebar.text_input(key="app_model_path").set_value(str(random_nano_checkpoint)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Ready" in s.value for s in at.success)


def test_segment_scene_and_upload_sources(with_model):
    at = run_page(SEGMENT, {"segment_source": "Scene"})
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="segment_source").set_value("Upload").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Upload a photo" in i.value for i in at.info)


EXTRA_PAGE = """
import streamlit as st

st.title("An extra page")
st.markdown("added with one row")
"""

ROUTER_WITH_EXTRA_ROW = """
import streamlit as st

from lesson_content.page_table import PAGES, PageRow
from ui.navigation import navigation_sections

extra = PageRow("Try it", (), "Extra", {file!r}, "extra", ":material/star:")
st.navigation(navigation_sections((*PAGES, extra))).run()
"""


def test_one_more_row_is_one_more_page(tmp_path, without_model):
    """Adding a page = one PageRow + one page file: the navigation built from the table finds it."""
    from streamlit.testing.v1 import AppTest

    page_file = tmp_path / "extra.py"
    page_file.write_text(EXTRA_PAGE)
    main = tmp_path / "router.py"
    main.write_text(ROUTER_WITH_EXTRA_ROW.format(file=str(page_file)))
    at = AppTest.from_file(str(main), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "How Segment Anything works"  # the table's default page still opens first
    at.switch_page(str(page_file)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "An extra page"
    assert [m.value for m in at.markdown] == ["added with one row"]
