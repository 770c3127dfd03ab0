"""SAM 3 pieces checked on their own: RoIAlign against a brute-force loop, tokenizer ids against
Meta's tokenizer, the full-size model's parameters and keys against Meta's, tracing."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
import torch

from sam_core import tracing
from sam_core.sam3.build import SAM3_CONFIGS, build_sam3, build_sam3_from_config
from sam_core.sam3.roi_align import roi_align
from sam_core.sam3.tokenizer import DEFAULT_BPE_PATH, SimpleTokenizer
from tests.sam3_oracle import build_meta_image_model_on_meta_device, import_meta_sam3, roi_align_reference

PHRASES = [
    "a red car", "ripe apple", "unripe apples", "damaged apple", "elephant", "the person's shirt",
    "shirt buttons", "a laptop on a desk", "mug on a saucer", "plain blue sky", "yellow school bus",
    "two dogs playing", "striped cat", "traffic light", "visual", "Zebra Crossing", "cars parked on the street",
    "it's a 3d-printed part!", "café au lait", "naïve résumé", "über-cool robot", "100 red balloons",
    "a   dog\twith  spaces ", "&amp; ampersand", "日本の寿司", "emoji 🍎 apple", "don't we'll they're",
    "x" * 200, "", "O'Neil's bike",
]


def test_roi_align_matches_brute_force_reference():
    torch.manual_seed(0)
    features = torch.randn(2, 5, 9, 11)
    boxes = [torch.tensor([[0.0, 0.0, 11.0, 9.0], [2.3, 1.7, 6.9, 8.2], [-1.5, -0.8, 3.0, 2.0]]),
             torch.tensor([[8.0, 6.0, 12.5, 10.4], [4.0, 4.0, 4.2, 4.1]])]
    got = roi_align(features, boxes, 7)
    expected = roi_align_reference(features, boxes, 7)
    assert got.shape == (5, 5, 7, 7)
    assert (got - expected).abs().max().item() < 1e-5


def test_tokenizer_ids_equal_metas():
    import_meta_sam3()
    from sam3.model.tokenizer_ve import SimpleTokenizer as MetaTokenizer

    ours, meta = SimpleTokenizer(), MetaTokenizer(bpe_path=str(DEFAULT_BPE_PATH))
    for phrase in PHRASES:
        assert ours.encode(phrase) == meta.encode(phrase), phrase
    assert torch.equal(ours(PHRASES, context_length=32), meta(PHRASES, context_length=32))
    assert ours.decode(ours.encode("ripe apple")).strip() == "ripe apple"


def test_full_size_matches_metas_parameters_and_keys():
    cfg = SAM3_CONFIGS["sam3"]
    with torch.device("meta"):
        ours = build_sam3_from_config(cfg)
    meta = build_meta_image_model_on_meta_device(cfg, str(DEFAULT_BPE_PATH))

    def count(model, prefix=""):
        return sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefix))

    assert count(ours) == count(meta) == 840_509_750
    assert round(count(ours, "backbone.vision_backbone") / 1e6, 1) == 454.0
    ours_sd, meta_sd = ours.state_dict(), meta.state_dict()
    assert set(ours_sd) == set(meta_sd)
    assert all(ours_sd[k].shape == meta_sd[k].shape for k in ours_sd)


def test_full_size_interactive_model_matches_metas_keys():
    """enable_inst_interactivity: Meta's tracker neck (sam2_convs) and the tracker's image head, whose
    sam3.pt names are `tracker.*` (Meta's builder loads them as `inst_interactive_predictor.model.*`)."""
    cfg = SAM3_CONFIGS["sam3"]
    with torch.device("meta"):
        ours = build_sam3_from_config(cfg, enable_inst_interactivity=True)
    meta = build_meta_image_model_on_meta_device(cfg, str(DEFAULT_BPE_PATH), interactive=True)
    prefix = "inst_interactive_predictor.model."
    meta_sd = {("tracker." + k[len(prefix):]) if k.startswith(prefix) else k: v for k, v in meta.state_dict().items()}
    ours_sd = ours.state_dict()
    assert set(ours_sd) == set(meta_sd)
    assert all(ours_sd[k].shape == meta_sd[k].shape for k in ours_sd)
    extra = sum(p.numel() for n, p in ours.named_parameters() if n.startswith(("tracker.", "backbone.vision_backbone.sam2")))
    assert sum(p.numel() for p in ours.parameters()) == 840_509_750 + extra
    assert sum(p.numel() for p in meta.parameters()) == 840_509_750 + extra


def test_tracing_records_stages_without_changing_results():
    torch.manual_seed(0)
    model = build_sam3("tiny")
    from sam_core.sam3.processor import Sam3Processor

    processor = Sam3Processor(model, resolution=SAM3_CONFIGS["tiny"].image_size, confidence_threshold=0.0)
    image = torch.randint(0, 256, (3, 40, 40), dtype=torch.uint8)
    plain = processor.set_text_prompt("a red car", processor.set_image(image))["outputs"]
    with tracing.trace() as t:
        traced = processor.set_text_prompt("a red car", processor.set_image(image))["outputs"]
    for name in ("pred_logits", "pred_boxes", "presence_logit_dec", "pred_masks"):
        assert torch.allclose(plain[name], traced[name], atol=1e-5), name
    layers = SAM3_CONFIGS["tiny"].decoder_layers
    assert t.records["sam3.text.token_ids"][0, 0].item() == 49406
    assert t.records["sam3.text.features"].shape == (32, 1, 32)
    assert t.records["sam3.presence_logit"].shape == (1, 1)
    for i in range(layers):
        assert t.records[f"sam3.decoder.layer{i}.boxes"].shape == (1, 10, 4)
        assert t.records[f"sam3.decoder.layer{i}.query_logits"].shape == (1, 10)
        assert t.records[f"sam3.decoder.layer{i}.query_to_prompt"].shape[-1] == 32 + 1  # text + CLS
        assert t.records[f"sam3.decoder.layer{i}.query_to_image"].shape[-1] == 8 * 8
    assert torch.allclose(t.records[f"sam3.decoder.layer{layers - 1}.boxes"], traced["pred_boxes"], atol=1e-6)
    for stage in ("sam3.image_encoder", "sam3.text_encoder", "sam3.fusion_encoder", "sam3.decoder",
                  "sam3.segmentation_head"):
        assert t.timings_ms[stage] >= 0.0


def test_unknown_model_type_and_bad_checkpoint(tmp_path):
    with pytest.raises(KeyError):
        build_sam3("huge")
    bad = build_sam3_from_config(SAM3_CONFIGS["tiny"]).state_dict()
    bad.pop("transformer.decoder.query_embed.weight")
    path = tmp_path / "bad.pt"
    torch.save({"model": {f"detector.{k}": v for k, v in bad.items()}}, path)
    with pytest.raises(RuntimeError, match="query_embed"):
        build_sam3("tiny", checkpoint=path)


def test_official_layout_checkpoint_loads(tmp_path):
    """sam3.pt layout: {"model": {"detector.*", "tracker.*"}}; detector keys load, tracker keys are set aside."""
    source = build_sam3_from_config(SAM3_CONFIGS["tiny"])
    state = {f"detector.{k}": v for k, v in source.state_dict().items()}
    state["tracker.maskmem_backbone.fake.weight"] = torch.zeros(1)
    path = tmp_path / "sam3.pt"
    torch.save({"model": state}, path)
    loaded = build_sam3("tiny", checkpoint=path)
    for k, v in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_registry_entry_and_gated_message():
    from sam_core.weights.registry import ModelSpec
    from sam_core.weights.registry_sam3 import SAM3_SPECS, gated_access_message

    assert [spec.filename for spec in SAM3_SPECS] == ["sam3.pt", "model.safetensors"]
    for spec in SAM3_SPECS:
        assert isinstance(spec, ModelSpec) and spec.repo_id == "facebook/sam3"
        assert spec.licence == "SAM License" and spec.model_type in SAM3_CONFIGS
    message = gated_access_message()
    assert "hf auth login" in message and "request access" in message


CUDA_ONLY = re.compile(r"\.cuda\(|pin_memory|non_blocking|device\(\s*[\"']cuda|autocast\(\s*[\"']cuda|torch\.cuda\.")


def test_no_cuda_only_calls_in_sam3_sources():
    """Seed 004 section 5.8 lists what breaks SAM 3 off CUDA; none of it may appear in sam_core/sam3."""
    import sam_core.sam3

    offenders = []
    for path in Path(sam_core.sam3.__file__).parent.glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if CUDA_ONLY.search(line.split("#")[0]):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def test_bf16_checkpoint_becomes_float32_off_cuda_and_processor_asks_autocast_for_its_device(tmp_path, monkeypatch):
    source = build_sam3_from_config(SAM3_CONFIGS["tiny"])
    path = tmp_path / "bf16.pt"
    torch.save({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in source.state_dict().items()}, path)
    model = build_sam3("tiny", checkpoint=path)  # device=None: cuda -> mps -> cpu; this machine: cpu
    assert model.device.type == "cpu"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    from sam_core.sam3 import processor as processor_module

    asked = []
    real = processor_module.autocast_context

    def spy(device, enabled_bf16):
        asked.append((torch.device(device).type, enabled_bf16))
        return real(device, enabled_bf16)

    monkeypatch.setattr(processor_module, "autocast_context", spy)
    processor = processor_module.Sam3Processor(model, resolution=SAM3_CONFIGS["tiny"].image_size)
    state = processor.set_text_prompt("a red car", processor.set_image(torch.zeros(3, 20, 20, dtype=torch.uint8)))
    assert asked and all(entry == ("cpu", True) for entry in asked)  # bf16 requested, granted on CUDA only
    assert isinstance(real("cpu", True), contextlib.nullcontext)
    assert state["scores"].dtype == state["masks_logits"].dtype == torch.float32  # no autocast off CUDA
