"""The lesson's end (§14-16): the ecosystem page's computations (linear probe, similarity, annotation cost),
the summary's takeaways and the SAM 1 → SAM 2 lineage read from the builders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lesson_content import ecosystem as eco
from lesson_content import wrap_up
from lesson_content.page_table import OUTLINE
from lesson_content.scene_targets import load_scene


@pytest.fixture(scope="module")
def nano():
    from sam_core.sam1.build import NANO_WEIGHTS, build_sam

    if not NANO_WEIGHTS.is_file():
        pytest.skip("committed nano weights missing")
    torch.manual_seed(0)
    return build_sam("nano", checkpoint=str(NANO_WEIGHTS)).eval()


def test_cell_labels_follow_the_ground_truth():
    scene = load_scene("savanna", 1_000_000, 256)
    labels, names = eco.pixel_labels(scene)
    assert names[0] == eco.BACKGROUND and "elephant" in names
    elephant = scene.find("elephant")[0]
    assert (labels[elephant.mask] == names.index("elephant")).all()
    cells = eco.cell_labels(scene, (256, 256), 256, 32)
    assert len(cells) == 32 * 32 and "elephant" in cells and eco.BACKGROUND in cells


def test_probe_on_trained_features_beats_raw_pixels(nano):
    torch.set_num_threads(1)
    probe = eco.feature_probe(nano, ("street", "savanna"), 2, 1, 1_000_000)
    assert probe.train_cells > 1000 and probe.test_cells > 500
    assert probe.sam.dims == 128 and probe.pixels.dims == 3 * 8 * 8
    # measured: SAM features ~0.97 / balanced ~0.87 vs raw pixels ~0.76 / ~0.23 (five kinds)
    assert probe.sam.balanced_accuracy > probe.pixels.balanced_accuracy + 0.2
    assert probe.sam.accuracy > probe.chance


def test_similarity_is_one_at_the_clicked_cell(nano):
    a = load_scene("savanna", 1_000_000, 256)
    sim = eco.similarity_map_for_scenes(nano, "savanna", 1_000_000, (40, 200))
    assert sim.query.shape == (32, 32) and sim.other.shape == (32, 32)
    assert sim.cell == (200 // 8, 40 // 8)
    assert sim.query[sim.cell] == pytest.approx(1.0, abs=1e-5)
    overlay = eco.heat_overlay(a.image, sim.query)
    assert overlay.shape == a.image.shape and overlay.dtype == np.uint8


def test_annotation_cost_counts_clicks(nano):
    cost = eco.annotation_cost(nano, "savanna", 1_000_000)
    assert cost.objects and all(1 <= o.clicks <= 10 for o in cost.objects)
    assert all(o.reached == (o.iou >= cost.target_iou) for o in cost.objects)


def test_lineage_sam2_reuses_sam1_prompt_encoder_and_transformer():
    rows = {r.component: r for r in wrap_up.lineage()}
    prompt, transformer, decoder = rows["prompt encoder"], rows["two-way transformer"], rows["mask decoder (all of it)"]
    assert prompt.new == 0 and prompt.reused_share == 1.0 and wrap_up.is_subclass_of_sam1(prompt.sam2_class)
    assert transformer.new == 0 and transformer.renamed > 0 and transformer.reused_share == 1.0
    assert set(decoder.new_keys) == {"obj_score_token", "pred_obj_score_head", "conv_s0", "conv_s1"}
    assert decoder.same + decoder.renamed == decoder.sam1_total


def test_sam3_click_path_is_sam2s_prompt_encoder_and_mask_decoder():
    prompt, decoder = wrap_up.sam3_click_lineage()
    assert prompt.sam2_class == "sam_core.sam2.prompt_encoder.PromptEncoder" and prompt.reused_share == 1.0
    assert decoder.sam2_class == "sam_core.sam2.mask_decoder.MaskDecoder"
    assert decoder.new == 0 and decoder.renamed > 0 and decoder.reused_share == 1.0  # only the MLP names differ


def test_every_takeaway_has_text_and_real_sections():
    from lesson_content.prose import template

    numbers = {s.number for s in OUTLINE}
    for t in wrap_up.TAKEAWAYS:
        assert template(f"summary.{t.key}") and set(t.sections) <= numbers
    assert wrap_up.pages_for(wrap_up.TAKEAWAYS[0])  # §3 has its page


def test_ecosystem_page_fits_the_probe(with_model):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("lesson_pages/wrap_up/ecosystem.py")
    at.run()
    assert not at.exception
    at.button(key="ecosystem_probe_button").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("held-out cells" in m.value for m in at.markdown)
