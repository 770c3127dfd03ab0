"""Pages 05-08 (decoder, putting it together, loss, Check 1) render without exception under AppTest,
and the loss page's focal trace follows [focal_trace] from an override file ($SAM_LESSON_EXAMPLES).

The model is a TEST FIXTURE: build_sam("nano")-shaped random weights passed through SAM_CHECKPOINT.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import clear_streamlit_caches

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app.py"
PAGES_B = ["lesson_pages/sam1/decoder.py", "lesson_pages/sam1/together.py", "lesson_pages/sam1/loss.py",
           "lesson_pages/sam1/check1.py"]








def run_page(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page)
    at.run()
    return at


def test_pages_are_in_the_page_table():
    from lesson_content.page_table import PAGES

    files = [row.file for row in PAGES]
    for page in PAGES_B:
        assert page in files, f"{page} is not in lesson_content/page_table.py"


@pytest.mark.parametrize("page", PAGES_B)
def test_page_renders(with_model, page):
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_pages_render_without_a_model(monkeypatch, tmp_path):
    import ui.session

    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    monkeypatch.setattr(ui.session, "NANO_WEIGHTS", tmp_path / "missing.safetensors")
    for page in PAGES_B:
        at = run_page(page)
        assert not at.exception, (page, [e.value for e in at.exception])


def test_decoder_page_shows_the_traced_shapes(with_model):
    from sam_core.sam1.build import NANO_DECODER

    at = run_page("lesson_pages/sam1/decoder.py")
    text = "\n".join(m.value for m in at.markdown)
    assert "7 tokens of width 128" in text  # nano: 5 output tokens + click + padding point, width 128
    tables = [t.value for t in at.table] + [d.value for d in at.dataframe]
    grid = NANO_DECODER.embedding_grid  # nano: 32 x 32 = 1024 image positions
    assert any(f"1 x 4 x 7 x {grid * grid}" in t.to_string() for t in tables)  # token->image weights, from the trace
    assert any("1 x 8 x 7 x 4096" in t.to_string() for t in tables)  # SAM's own decoder configuration


def _override_examples(monkeypatch, tmp_path, checkpoint, toml: str) -> None:
    """The random nano SAM as the model and `toml` as the instructor's override file; fresh caches."""
    override = tmp_path / "examples.toml"
    override.write_text(toml, encoding="utf-8")
    monkeypatch.setenv("SAM_CHECKPOINT", str(checkpoint))
    monkeypatch.setenv("SAM_MODEL_TYPE", "nano")
    monkeypatch.setenv("SAM_LESSON_EXAMPLES", str(override))
    clear_streamlit_caches()


def test_loss_page_follows_an_override_file(monkeypatch, tmp_path, random_nano_checkpoint):
    from lesson_content.focal_trace import focal_trace

    _override_examples(monkeypatch, tmp_path, random_nano_checkpoint, "[focal_trace]\np_easy = 0.9\np_hard = 0.2\n")
    expected = focal_trace({"p_easy": 0.9, "p_hard": 0.2, "gamma": 2.0, "alpha": 0.25}).values
    default = focal_trace({"p_easy": 0.95, "p_hard": 0.1, "gamma": 2.0, "alpha": 0.25}).values
    at = run_page("lesson_pages/sam1/loss.py")
    assert not at.exception, [e.value for e in at.exception]
    text = "\n".join(m.value for m in at.markdown)
    assert f"= {expected['easy_loss']}$" in text
    assert f"= {expected['hard_loss']}$" in text
    assert f"**{expected['ratio']}×**" in text
    assert f"**{default['ratio']}×** as much" not in text  # the default pixels' ratio is gone
    # The plan's own figures (plan_focal) stay beside, unchanged.
    info = "\n".join(i.value for i in at.info)
    assert "**14,545×**" in info and "14,600" in info
    clear_streamlit_caches()


def test_check1_waits_for_the_answers(with_model):
    at = run_page("lesson_pages/sam1/check1.py")
    assert not at.exception, [e.value for e in at.exception]
    assert any("Answer first" in i.value for i in at.info)  # nothing verified before the answers are in
    assert not any("Answer: once" in m.value for m in at.markdown)


@pytest.mark.slow
def test_check1_verifies_live_after_submit(with_model):
    at = run_page("lesson_pages/sam1/check1.py")
    at.radio(key="check1_q1").set_value(at.radio(key="check1_q1").options[0])
    at.number_input(key="check1_q2").set_value(400.0)
    at.radio(key="check1_q3").set_value(at.radio(key="check1_q3").options[1])
    at.radio(key="check1_q4").set_value(at.radio(key="check1_q4").options[2])
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = "\n".join(m.value for m in at.markdown)
    assert "**1 image-encoder run**" in text  # counted by sam_core.tracing over [timing_check] clicks
    from lesson_content.examples import default_examples

    timing = default_examples()["timing_check"]
    claim = timing["encoder_ms_claim"] + timing["clicks"] * timing["decoder_ms_claim"]
    assert f"= **{claim:,.0f} ms**" in text  # the plan's 150 + N x 50, from [timing_check]
    assert len(at.success) == 4  # the four answers above are the right ones


def test_sam3_page_probes_the_encoders_for_colour(monkeypatch, tmp_path, random_nano_checkpoint):
    """The SAM 3 page's colour probe runs on the instructor's number of scenes (an override file) and shows the
    mean pixel colour beside the SAM 1 encoder (the test's random nano) and the loaded SAM 3's trunk."""
    from sam_core.sam3.nano import NANO_SAM3_WEIGHTS

    if not NANO_SAM3_WEIGHTS.is_file():
        pytest.skip("embedded SAM 3 weights missing")
    _override_examples(monkeypatch, tmp_path, random_nano_checkpoint,
                       "[concepts]\ncolour_probe_scenes = 8\norchard_seed = 1000003\ncgf1_scenes = 2\n")
    at = run_page("lesson_pages/sam3/concepts.py")
    composed = next(t.value for t in at.table if "needs" in t.value.columns)  # seed 003's phrases, asked live
    assert list(composed["phrase"])[0] == "ripe red apples"
    from sam_core.scenes import render_scene

    orchard = render_scene("orchard", 1_000_003)  # the override's scene, not the default one
    ripe = sum(o.name == "apple" and o.mask.any() and o.attributes["ripeness"] == "ripe" for o in orchard.objects)
    assert list(composed["truth (scene)"])[0] == str(ripe)
    next(b for b in at.button if b.label == "Measure cgF1 on 2 held-out scenes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    claims = next(t.value for t in at.table if "the plan says" in t.value.columns)
    assert "2 held-out procedural scenes (not SA-Co): cgF1" in " ".join(claims["here"])
    button = next(b for b in at.button if b.label.startswith("Probe the encoders on 8 street scenes"))
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "features" in d.value.columns)
    assert list(table["features"])[0] == "mean pixel colour"
    assert any(name.startswith("SAM 3 image trunk") for name in table["features"])
    assert any(name.startswith("SAM 1 image encoder") for name in table["features"])
    text = "\n".join(m.value for m in at.markdown)
    assert "cars of" in text and "pixel colour in **" in text
    clear_streamlit_caches()


def test_sam2_page_shows_the_three_click_masks_and_tracks_from_a_chosen_one(monkeypatch, tmp_path,
                                                                           random_nano_checkpoint):
    """The clicked frame's three masks with predicted and actual IoU, the kept one marked; tracking from a mask
    the student picks (SAM 2's add_new_mask) on an 8-frame clip of the instructor's override file."""
    from sam_core.sam2.nano import NANO_SAM2_WEIGHTS

    if not NANO_SAM2_WEIGHTS.is_file():
        pytest.skip("embedded SAM 2 weights missing")
    _override_examples(monkeypatch, tmp_path, random_nano_checkpoint, "[video_memory]\nframes = 8\n")
    at = run_page("lesson_pages/sam2/memory.py")
    assert not at.exception, [e.value for e in at.exception]
    assert any("three masks" in h.value for h in at.subheader)
    text = "\n".join(m.value for m in at.markdown)
    assert "SAM 2 keeps the\nhighest, here mask" in text or "SAM 2 keeps the highest, here mask" in text
    radio = next(r for r in at.radio if r.label == "Track from")
    assert radio.options[0].startswith("SAM 2's choice") and len(radio.options) == 4
    radio.set_value(radio.options[1]).run()
    next(b for b in at.button if b.label.startswith("Propagate through the clip")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Propagated 8 frames" in "\n".join(m.value for m in at.markdown)
    assert any(h.value.startswith("The memory loop") for h in at.header)
    codes = [c.value for c in at.code]
    assert any("bank[t] = memory_encoder(mask, feats)" in c for c in codes)  # the plan's loop
    assert any("def track_step" in c for c in codes) and any("def gather_memories" in c for c in codes)
    text = "\n".join(m.value for m in at.markdown)
    assert "strided convolutions that shrink it" in text and "**added element-wise**" in text
    clear_streamlit_caches()
