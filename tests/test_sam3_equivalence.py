"""sam_core.sam3 against Meta's sam3 (PyPI 0.1.4) on identical random tiny weights, fp32 on the CPU."""

from __future__ import annotations

import pytest
import torch

from sam_core.sam3.build import SAM3_CONFIGS, build_sam3_from_config
from sam_core.sam3.geometry_encoder import GeometricPrompt
from sam_core.sam3.processor import TEXT_FOR_BOXES_ONLY, Sam3Processor
from sam_core.sam3.tokenizer import DEFAULT_BPE_PATH
from tests.sam3_oracle import build_meta_image_model, meta_find_stage, no_pin_memory

TOLERANCE = 1e-4
OUTPUTS = ("pred_logits", "pred_boxes", "presence_logit_dec", "pred_masks", "semantic_seg")
# phrase, then (box cx cy w h, positive?) exemplars; "visual" is the phrase Meta uses for boxes alone.
CASES = {
    "text": ("a red car", []),
    "text+positive_box": ("a red car", [([0.5, 0.5, 0.4, 0.3], True)]),
    "text+negative_box": ("a red car", [([0.3, 0.6, 0.2, 0.2], False)]),
    "box_alone": (TEXT_FOR_BOXES_ONLY, [([0.62, 0.4, 0.3, 0.5], True)]),
    "text+two_boxes": ("ripe apple", [([0.5, 0.5, 0.4, 0.3], True), ([0.1, 0.9, 0.15, 0.1], False)]),
}


@pytest.fixture(scope="module")
def models():
    cfg = SAM3_CONFIGS["tiny"]
    torch.manual_seed(0)
    meta = build_meta_image_model(cfg, str(DEFAULT_BPE_PATH))
    with torch.no_grad():  # Meta zero-initialises some layers (box head); perturb everything
        for p in meta.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours = build_sam3_from_config(cfg)
    ours.load_state_dict(meta.state_dict(), strict=True)
    return cfg, meta, ours


def test_same_keys_and_shapes(models):
    _, meta, ours = models
    meta_sd, our_sd = meta.state_dict(), ours.state_dict()
    assert set(meta_sd) == set(our_sd)
    assert all(meta_sd[k].shape == our_sd[k].shape for k in meta_sd)


@pytest.mark.parametrize("case", list(CASES))
def test_grounding_matches_meta(models, case):
    cfg, meta, ours = models
    phrase, boxes = CASES[case]
    torch.manual_seed(1)
    image = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad(), no_pin_memory():
        meta_bb = meta.backbone.forward_image(image)
        meta_bb.update(meta.backbone.forward_text([phrase], device="cpu"))
        our_bb = ours.backbone.forward_image(image)
        our_bb.update(ours.backbone.forward_text([phrase], device="cpu"))
        meta_prompt, our_prompt = meta._get_dummy_prompt(), GeometricPrompt.empty(1)
        for box, label in boxes:
            box_t, label_t = torch.tensor(box).view(1, 1, 4), torch.tensor([label]).view(1, 1)
            meta_prompt.append_boxes(box_t, label_t)
            our_prompt.append_boxes(box_t, label_t)
        expected = meta.forward_grounding(backbone_out=meta_bb, find_input=meta_find_stage(),
                                          geometric_prompt=meta_prompt, find_target=None)
        got = ours.forward_grounding(our_bb, our_prompt)
    for name in OUTPUTS:
        assert got[name].shape == expected[name].shape, name
        err = (got[name] - expected[name]).abs().max().item()
        assert err <= TOLERANCE, f"{case} {name}: max abs diff {err:.2e}"


def test_processor_scores_are_logit_times_presence(models):
    """Sam3Processor keeps σ(logit)·σ(presence) > threshold, Meta's rule (0.5 by default)."""
    cfg, _, ours = models
    processor = Sam3Processor(ours, resolution=cfg.image_size, confidence_threshold=0.0)
    state = processor.set_image(torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8))
    state = processor.set_text_prompt("a red car", state)
    out = state["outputs"]
    probs = (out["pred_logits"].sigmoid() * out["presence_logit_dec"].sigmoid().unsqueeze(1))[0, :, 0]
    assert torch.allclose(state["scores"], probs)
    assert state["masks"].shape == (cfg.num_queries, 1, 50, 70) and state["boxes"].shape == (cfg.num_queries, 4)
    median = probs.median().item()
    state = processor.set_confidence_threshold(median, state)
    assert len(state["scores"]) == int((probs > median).sum()) and bool((state["scores"] > median).all())
    assert Sam3Processor(ours).confidence_threshold == 0.5
    processor.reset_all_prompts(state)
    assert "scores" not in state and "language_features" not in state["backbone_out"]


def _meta_processor(meta, threshold: float):
    """Meta's Sam3Processor on the CPU. Its __init__ builds torchvision v2 transforms (absent here) for
    set_image only; every other method is used as is, so the object is made without __init__ and given
    the attributes __init__ sets; set_image's backbone pass is done by the test on the same pixels."""
    from sam3.model.sam3_image_processor import Sam3Processor as MetaProcessor

    processor = object.__new__(MetaProcessor)
    processor.model, processor.resolution, processor.device = meta, SAM3_CONFIGS["tiny"].image_size, "cpu"
    processor.confidence_threshold = threshold
    processor.find_stage = meta_find_stage()
    return processor


def test_processor_session_matches_metas_processor(models):
    """Seed 004's API, call by call: text, + positive box, + negative box, new threshold, reset, box alone.
    state["masks_logits"], "masks", "boxes", "scores" equal Meta's after every call."""
    cfg, meta, ours = models
    theirs, mine = _meta_processor(meta, 0.0), Sam3Processor(ours, resolution=cfg.image_size, confidence_threshold=0.0)
    torch.manual_seed(3)
    pixels = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    with torch.inference_mode(), no_pin_memory():
        meta_state = {"backbone_out": meta.backbone.forward_image(pixels), "original_height": 50, "original_width": 70}
    our_state = {"backbone_out": ours.backbone.forward_image(pixels), "original_height": 50, "original_width": 70}
    steps = [
        ("set_text_prompt", ("a red car",)),
        ("add_geometric_prompt", ([0.5, 0.5, 0.4, 0.3], True)),
        ("add_geometric_prompt", ([0.2, 0.7, 0.2, 0.2], False)),
        ("set_confidence_threshold", None),  # the median score: half the detections stay
        ("reset_all_prompts", ()),
        ("set_confidence_threshold", (0.0,)),  # no results to filter: only the threshold changes
        ("add_geometric_prompt", ([0.6, 0.4, 0.3, 0.5], True)),  # no phrase: both use "visual"
    ]
    for name, args in steps:
        if args is None:
            args = (float(our_state["scores"].median()),)
        with no_pin_memory():
            meta_state = getattr(theirs, name)(*args, meta_state) or meta_state
            our_state = getattr(mine, name)(*args, our_state) or our_state
        if "scores" not in meta_state:  # after the reset
            assert set(meta_state) == set(our_state) - {"outputs"} and mine.confidence_threshold == theirs.confidence_threshold
            continue
        assert 0 < len(our_state["scores"]) <= cfg.num_queries
        for key in ("masks_logits", "masks", "boxes", "scores"):
            assert our_state[key].shape == meta_state[key].shape, (name, key)
            if key == "masks":
                disagree = (our_state[key] != meta_state[key]).float().mean().item()
                assert disagree <= 1e-3, (name, key, disagree)  # pixels within 1e-4 of 0.5 may flip
            else:
                err = (our_state[key] - meta_state[key]).abs().max().item()
                assert err <= TOLERANCE * max(1.0, float(meta_state[key].abs().max())), (name, key, err)
