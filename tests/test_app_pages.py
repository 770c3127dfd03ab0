"""Every page in app.py's PAGES renders without exception (AppTest), with and without a model.

The page list is read from app.py's source, so a page added there is tested here automatically.
The model is a TEST FIXTURE: `build_sam("nano")`-shaped random weights written to a temp file and
passed through SAM_CHECKPOINT; the app's own default stays the committed embedded weights.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app.py"


def page_entries() -> list[tuple[str, str, str]]:
    """(section, page file, title) for each st.Page in app.py's PAGES list, in order (parsed, not run)."""
    tree = ast.parse(APP.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGES" for t in node.targets):
            assert isinstance(node.value, ast.List), "PAGES must stay one list literal"
            entries = []
            for element in node.value.elts:
                section, call = element.elts
                keywords = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords
                            if isinstance(kw.value, ast.Constant)}
                entries.append((ast.literal_eval(section), ast.literal_eval(call.args[0]), keywords.get("title", "")))
            return entries
    raise AssertionError("app.py has no PAGES list")


PAGE_ENTRIES = page_entries()
PAGE_IDS = [Path(p).stem for _, p, _ in PAGE_ENTRIES]


@pytest.fixture(autouse=True)
def app_router_only(monkeypatch):
    """What `import ui` does in the real server (see ui/__init__.py): app.py's st.navigation is the only
    router. AppTest resets Streamlit's "pages directory" flag before every run, so re-apply it here."""
    from streamlit.runtime.pages_manager import PagesManager

    original_init = PagesManager.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)






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
    pages = [p for _, p, _ in PAGE_ENTRIES]
    assert pages[0] == "pages/00_home.py"
    assert ("Try it", "pages/segment.py", "Segment") in PAGE_ENTRIES
    assert {s for s, _, _ in PAGE_ENTRIES} <= {"Lesson", "Try it", "Instructor"}
    for page in pages:
        assert (REPO / page).is_file(), f"{page} is listed in PAGES but missing"


def test_url_paths_equal_file_names_so_deep_links_work_on_a_fresh_server():
    """On a fresh server the first request runs in Streamlit's old pages/ mode until `import ui` switches
    it off (ui/__init__.py). A deep link then only finds pages whose url_path is what that mode derives
    from the file name ("04_prompt_encoding.py" -> "prompt_encoding"); any other url_path shows
    'Page not found'. So every url_path must be the file's derived name (the default page lives at /)."""
    from streamlit.source_util import page_icon_and_name

    tree = ast.parse(APP.read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", None) == "Page"]
    assert calls
    for call in calls:
        path = ast.literal_eval(call.args[0])
        keywords = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
        derived = page_icon_and_name(Path(path))[1]
        if "url_path" in keywords:
            assert keywords["url_path"] == derived, f"{path}: use url_path={derived!r}"


@pytest.mark.parametrize("page", [p for _, p, _ in PAGE_ENTRIES], ids=PAGE_IDS)
def test_page_renders_with_model(page, with_model):
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("page", [p for _, p, _ in PAGE_ENTRIES], ids=PAGE_IDS)
def test_page_renders_without_weights(page, without_model):
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]


def first_run():
    """The app's first run (the default page, Home)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_segment_no_weights_state(without_model):
    at = run_page("pages/segment.py")
    assert any("No weights yet" in w.value for w in at.warning)
    assert any("No weights yet" in w.value for w in at.sidebar.warning)


def test_segment_click_gives_three_masks(with_model):
    # What streamlit_image_coordinates sends for a click at displayed (100, 80) on a 451 px wide image.
    click = {"x1": 100, "y1": 80, "x2": 100, "y2": 80, "width": 451, "height": 300, "unix_time": 1}
    at = run_page("pages/segment.py", {"segment_canvas": click})
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
    click = {"x1": 200, "y1": 150, "x2": 200, "y2": 150, "width": 451, "height": 300, "unix_time": 2}
    at = run_page("pages/segment.py", {"segment_canvas": click, "segment_multimask": False,
                                       "segment_mode": "Background point"})
    assert not at.exception, [e.value for e in at.exception]
    assert sum("IoU score" in m.value for m in at.markdown) == 1
    assert at.session_state["segment_labels"] == [0]


def test_segment_box_by_drag(with_model):
    drag = {"x1": 50, "y1": 40, "x2": 300, "y2": 200, "width": 451, "height": 300, "unix_time": 3}
    at = run_page("pages/segment.py", {"segment_canvas": drag, "segment_mode": "Box"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["segment_box"] == [50.0, 40.0, 300.0, 200.0]


def test_sidebar_shows_model_and_device(with_model):
    at = run_page("pages/segment.py")
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
    at = run_page("pages/segment.py")
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
    at = run_page("pages/00_home.py")
    at.sidebar.selectbox(key="app_model_select").set_value("sam_vit_h").run()
    at.sidebar.button(key="app_download").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Offline" in e.value for e in at.sidebar.error)


def test_local_checkpoint_path(monkeypatch, random_nano_checkpoint, tmp_path):
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    at = run_page("pages/00_home.py")
    at.sidebar.selectbox(key="app_model_select").set_value("Local checkpoint file ...").run()
    at.sidebar.text_input(key="app_model_path").set_value(str(tmp_path / "nope.pth")).run()
    assert any("No file at" in e.value for e in at.sidebar.error)
    at.sidebar.selectbox(key="app_model_path_type").set_value("nano").run()
    at.sidebar.text_input(key="app_model_path").set_value(str(random_nano_checkpoint)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Ready" in s.value for s in at.success)


def test_segment_scene_and_upload_sources(with_model):
    at = run_page("pages/segment.py", {"segment_source": "Scene"})
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="segment_source").set_value("Upload").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Upload a photo" in i.value for i in at.info)
