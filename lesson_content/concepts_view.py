"""SAM 3's concepts, computed (outline §12 and Check 2): a phrase in, every instance out — with the presence
score first — scored against the scene's ground truth; the red-car comparison (SAM 1: clicks per car,
SAM 3: one phrase); the SAM 2 → SAM 3 gap table with parameters counted from the real configs.

    result = detect(processor, scene.image, "red car", threshold=0.5)
    result.presence, result.instances           # σ(presence logit); kept detections (mask, box, score)
    match = score_against(result, truth_masks(scene, "red car"))
    rows = gap_rows()                           # parameter counts from the builders on the 'meta' device

Works with any Sam3Processor of sam_core.sam3 (the embedded model or Meta's weights). Imports no Streamlit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from lesson_content import paper_claims as claims
from sam_core.masks import mask_iou
from sam_core.tracing import trace

MATCH_IOU = 0.5  # a detection counts as finding an instance at mask IoU >= 0.5 (the usual detection rule)


@dataclass
class Instance:
    mask: np.ndarray  # bool [H, W]
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    score: float  # σ(query logit) · σ(presence logit), what the threshold is applied to


@dataclass
class ConceptResult:
    phrase: str
    presence: float  # σ(presence logit): "is the concept in the image at all?"
    instances: list[Instance]
    query_scores: np.ndarray  # [Q] σ(logit) · presence of every query, kept or not (sorted, high first)
    threshold: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # phrase -> masks, wall time (image features already computed)


def _result(state: dict, phrase: str, threshold: float, timings_ms: dict[str, float], seconds: float) -> ConceptResult:
    """A ConceptResult from a processor state after a prompt (kept instances sorted by score, high first)."""
    if "outputs" not in state:
        return ConceptResult(phrase, 0.0, [], np.zeros(0), float(threshold), dict(timings_ms), seconds)
    out = state["outputs"]
    presence = float(out["presence_logit_dec"].sigmoid().reshape(-1)[0])
    scores = (out["pred_logits"].sigmoid().reshape(-1) * presence).float().cpu().numpy()
    masks = state["masks"].reshape(-1, *state["masks"].shape[-2:]).cpu().numpy().astype(bool)
    boxes = state["boxes"].float().cpu().numpy()
    kept = state["scores"].float().cpu().numpy()
    instances = [Instance(masks[i], tuple(float(v) for v in boxes[i]), float(kept[i])) for i in np.argsort(-kept)]
    return ConceptResult(phrase, presence, instances, np.sort(scores)[::-1], float(threshold), dict(timings_ms),
                         seconds)


def detect(processor, image: np.ndarray, phrase: str, threshold: float = 0.5, state: dict | None = None) -> ConceptResult:
    """Run one phrase on one image; pass `state` from processor.set_image to reuse the image features."""
    processor.confidence_threshold = float(threshold)
    with trace() as t:
        if state is None:
            state = processor.set_image(image)
        else:
            processor.reset_all_prompts(state)  # a phrase alone: no boxes left from an earlier prompt
        start = time.perf_counter()
        state = processor.set_text_prompt(phrase, state)
        seconds = time.perf_counter() - start
    return _result(state, phrase, threshold, t.timings_ms, seconds)


@dataclass(frozen=True)
class Match:
    truth: int  # instances in the ground truth
    found: int  # ground-truth instances matched by a detection at IoU >= MATCH_IOU
    false: int  # detections that match nothing
    ious: list[float]  # IoU of each matched pair


def score_against(result: ConceptResult, truth_masks: list[np.ndarray]) -> Match:
    """One-to-one matching of detections to ground-truth instances (Hungarian on IoU)."""
    from scipy.optimize import linear_sum_assignment

    dets = [inst.mask for inst in result.instances]
    if not dets or not truth_masks:
        return Match(len(truth_masks), 0, len(dets), [])
    table = np.array([[mask_iou(d, t) for t in truth_masks] for d in dets])
    rows, cols = linear_sum_assignment(-table)
    ious = [float(table[r, c]) for r, c in zip(rows, cols, strict=True) if table[r, c] >= MATCH_IOU]
    return Match(len(truth_masks), len(ious), len(dets) - len(ious), ious)


def truth_masks(scene, phrase: str) -> list[np.ndarray]:
    """Every ground-truth instance the phrase names in the scene (sam_core.scenes.concepts decides which)."""
    from sam_core.scenes.concepts import scene_concepts

    masks, _ = scene_concepts(scene).instances(phrase.strip().lower())
    return list(masks)


# ---- SAM 1 needs a click per instance ----------------------------------------------------------------------

@dataclass(frozen=True)
class ClickCount:
    instances: int
    clicks: int  # the simulated annotator's clicks, all instances together (target IoU or budget)
    reached: int  # instances that reached the annotator's target IoU
    seconds: float


def sam1_clicks(sam1_model, image: np.ndarray, truth_masks: list[np.ndarray]) -> ClickCount:
    """The simulated annotator segments every instance with SAM 1, one object at a time."""
    from sam_core.data_engine.annotator import annotate_object
    from sam_core.sam1.predictor import SamPredictor

    predictor = SamPredictor(sam1_model)
    start = time.perf_counter()
    with torch.inference_mode():
        predictor.set_image(image)
        results = [annotate_object(predictor, m) for m in truth_masks]
    return ClickCount(len(truth_masks), sum(r.clicks for r in results), sum(r.reached for r in results),
                      time.perf_counter() - start)


def sam1_clicks_on_scene(sam1_model, kind: str, seed: int, size: int, phrase: str) -> ClickCount:
    """sam1_clicks on every instance of `phrase` in a generated scene (cacheable by value)."""
    from .scene_targets import load_scene

    scene = load_scene(kind, int(seed), int(size))
    return sam1_clicks(sam1_model, scene.image, truth_masks(scene, phrase))


def loaded_counts(model) -> dict[str, int]:
    """Parameters per part of a loaded SAM 3 image model, and its number of queries ("queries")."""
    counts = {"vision encoder": _params(model.backbone.vision_backbone),
              "text encoder": _params(model.backbone.language_backbone),
              "geometry / exemplar encoder": _params(model.geometry_encoder),
              "fusion encoder": _params(model.transformer.encoder), "decoder": _params(model.transformer.decoder),
              "segmentation head": _params(model.segmentation_head), "scoring": _params(model.dot_prod_scoring)}
    counts["queries"] = int(model.transformer.decoder.num_queries)
    return counts


# ---- the SAM 2 -> SAM 3 gap, counted -----------------------------------------------------------------------

def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@lru_cache(maxsize=1)
def parameter_counts() -> dict[str, int]:
    """Parameters of SAM 2.1's four sizes and of SAM 3's image model and its parts (meta device, free)."""
    from sam_core.sam2.build import HIERA_SIZES, build_sam2_model
    from sam_core.sam3.build import SAM3_CONFIGS, build_sam3_from_config

    counts: dict[str, int] = {}
    with torch.device("meta"):
        for name, size in HIERA_SIZES.items():
            counts[f"sam2.1_{name}"] = _params(build_sam2_model(size))
        sam3 = build_sam3_from_config(SAM3_CONFIGS["sam3"])
    counts["sam3"] = _params(sam3)
    counts["sam3.vision"] = _params(sam3.backbone.vision_backbone)
    counts["sam3.text"] = _params(sam3.backbone.language_backbone)
    counts["sam3.detector_heads"] = counts["sam3"] - counts["sam3.vision"] - counts["sam3.text"]
    return counts


def gap_rows(counts: dict[str, int] | None = None) -> list[dict[str, str]]:
    """The SAM 2 -> SAM 3 table of seed 003 with its figures checked: counted from the builders, beside
    what the seed states."""
    c = counts or parameter_counts()
    sam2 = [v for k, v in c.items() if k.startswith("sam2.1_")]

    def m(n: float) -> str:
        return f"{n / 1e6:,.1f} M"

    return [
        {"": "prompt", "SAM 2": "points, boxes, masks on one object", "SAM 3": "a short noun phrase and/or exemplar boxes",
         "seed 003 says": "visual prompts vs natural language"},
        {"": "output", "SAM 2": "one masklet per clicked object", "SAM 3": "every instance: mask, box, score, ID",
         "seed 003 says": "—"},
        {"": "recognition", "SAM 2": "none: the click says where", "SAM 3": "presence head: is the concept here at all?",
         "seed 003 says": "geometric vs semantic"},
        {"": "parameters", "SAM 2": f"{m(min(sam2))} (tiny) - {m(max(sam2))} (large), counted",
         "SAM 3": f"{m(c['sam3'])} image model, counted",
         "seed 003 says": f"{claims.SEED003_SAM2_PARAMS_M:.0f} M vs {claims.SEED003_SAM3_PARAMS_M:.0f} M"},
        {"": "text encoder", "SAM 2": "none", "SAM 3": f"{m(c['sam3.text'])} ({c['sam3.text'] / c['sam3']:.0%} of the model), counted",
         "seed 003 says": f"{claims.SEED003_TEXT_ENCODER_PARAMS_M:.0f} M"},
        {"": "vision encoder", "SAM 2": "Hiera + FPN neck", "SAM 3": f"ViT + neck, {m(c['sam3.vision'])}, counted",
         "seed 003 says": "—"},
        {"": "interaction", "SAM 2": "point and click", "SAM 3": "a phrase per concept (not a conversation: longer "
         "requests need an agent with a language model in front)", "seed 003 says": "conversational"},
        {"": "video", "SAM 2": "memory bank + memory attention", "SAM 3": "SAM 2's tracker, fed by the detector",
         "seed 003 says": "—"},
    ]


def measure_cgf1(model, resolution: int, scenes: int) -> dict:
    """sam_core.evaluate_concepts on `scenes` held-out procedural scenes (no counting, no SAM 1 baseline):
    {"seen": {...cgF1, pmF1, IL_MCC...}, "held_out": {...}, "exemplar", "absent", "latency_ms", "config"}."""
    from sam_core.evaluate_concepts import ConceptModel, evaluate

    return evaluate(ConceptModel.around(model, resolution), scenes=scenes, counting_scenes=0, click_scenes=0)


def plan_claim_rows(counts: dict[str, int] | None = None, measured: dict | None = None) -> list[dict[str, str]]:
    """The plan's SAM 3 figures (quoted) beside what is counted from the real config and measured here."""
    from sam_core.scenes.concepts import HELD_OUT_PHRASES, TRAIN_PHRASES

    c = counts or parameter_counts()
    if measured is None:
        quality = "press the button to measure the same metric here"
    else:
        def cg(group: dict) -> str:  # cgF1 needs both present and absent pairs among these scenes
            return f"{group['cgF1']:.1f}" if "cgF1" in group else "n/a (too few phrases in these scenes)"

        seen, held = measured["seen"], measured["held_out"]
        detail = f" (pmF1 {seen['pmF1']:.3f} × IL_MCC {seen['IL_MCC']:.3f})" if "IL_MCC" in seen else ""
        quality = (f"loaded model, {measured['config']['scenes']} held-out procedural scenes (not SA-Co): cgF1 "
                   f"{cg(seen)} on trained phrases{detail}, {cg(held)} on held-out compositions")
    return [
        {"": "size", "the plan says": f"{claims.PLAN_SAM3_PARAMS_M:.0f} M parameters (~{claims.PLAN_SAM3_SIZE_GB} GB)",
         "here": f"{c['sam3'] / 1e6:,.1f} M counted from Meta's image-model config; in float32 (4 bytes each) "
                 f"{c['sam3'] * 4 / 1e9:.2f} GB"},
        {"": "quality", "the plan says": claims.PLAN_SAM3_QUALITY, "here": quality},
        {"": "data", "the plan says": claims.PLAN_SACO,
         "here": f"the embedded model: {len(TRAIN_PHRASES)} trained phrases on generated scenes "
                 f"({len(HELD_OUT_PHRASES)} more held out for testing)"},
    ]


FINE_TUNING: tuple[dict[str, str], ...] = (
    {"": "when (seed 003)", "SAM 2": "objects or scenes unlike SA-V; masks must be exact; fewer clicks per object",
     "SAM 3": "domain concepts, vocabulary or attributes the model misses; text-to-region grounding"},
    {"": "data", "SAM 2": "videos with masklets (per object, per frame masks)",
     "SAM 3": "images with every instance's mask per noun phrase (COCO-style with a noun_phrase field, seed 003), "
              "and phrases with no instance as negatives"},
    {"": "prompts in training", "SAM 2": "points and boxes sampled from the masks, correction clicks",
     "SAM 3": "the noun phrases themselves (and exemplar boxes)"},
    {"": "losses", "SAM 2": "focal + dice on masks, IoU regression, object-score cross-entropy",
     "SAM 3": "Hungarian matching; box L1 + GIoU, classification focal, presence BCE, mask focal + dice"},
    {"": "usually frozen", "SAM 2": "common practice: the image encoder (or all but the decoder and memory)",
     "SAM 3": "seed 003: the tracker (the detector and backbone are trained); the embedded model here: its image "
              "trunk in its first stages, nothing later (its model card)"},
    {"": "memory (seed 003's figures)", "SAM 2": claims.SEED003_SAM2_FINETUNE_MEMORY,
     "SAM 3": claims.SEED003_SAM3_FINETUNE_MEMORY},
    {"": "in this project", "SAM 2": "python -m sam_core.training.video (the embedded SAM 2, on generated clips)",
     "SAM 3": "python -m sam_core.training.concepts (the embedded SAM 3, on generated scenes' phrases)"},
)

SAM2_EXAMPLE = """\
{"video": "elephants_0007", "frames": 24,
 "objects": {"1": {"masks": {"0": "elephants_0007/000_obj1.png", "1": "elephants_0007/001_obj1.png"}}}}"""

SAM3_EXAMPLE = """\
{"images": [{"id": 42, "file_name": "street_0042.jpg", "width": 256, "height": 256}],
 "annotations": [
   {"id": 1, "image_id": 42, "noun_phrase": "red car", "bbox": [12, 80, 52, 40],
    "segmentation": {"size": [256, 256], "counts": "<RLE>"}},
   {"id": 2, "image_id": 42, "noun_phrase": "red car", "bbox": [150, 90, 60, 41],
    "segmentation": {"size": [256, 256], "counts": "<RLE>"}}],
 "phrases": [{"image_id": 42, "noun_phrase": "red car"},
             {"image_id": 42, "noun_phrase": "elephant"}]}"""


# ---- exports (Try it: Concepts) ------------------------------------------------------------------------------

def merged_mask(result: ConceptResult, shape: tuple[int, int]) -> np.ndarray:
    """bool [H, W]: the union of every kept instance (what seed 004's /segment/text returns)."""
    out = np.zeros(shape, dtype=bool)
    for inst in result.instances:
        out |= inst.mask
    return out


def _png(mask: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    return buffer.getvalue()


def detections_json(result: ConceptResult, image_name: str, model_name: str, boxes_prompt: list | None = None) -> dict:
    """Boxes [x0, y0, x1, y1] (pixels), scores and mask files of every kept instance, as JSON-ready data."""
    return {"image": image_name, "model": model_name, "phrase": result.phrase, "threshold": result.threshold,
            "presence": round(result.presence, 6), "exemplar_boxes": boxes_prompt or [],
            "detections": [{"id": i + 1, "score": round(inst.score, 6), "bbox": [round(v, 2) for v in inst.box],
                            "area": int(inst.mask.sum()), "mask": f"masks/instance_{i + 1:03d}.png"}
                           for i, inst in enumerate(result.instances)]}


def export_zip(result: ConceptResult, image_name: str, model_name: str, boxes_prompt: list | None = None) -> bytes:
    """A zip: masks/instance_NNN.png per instance, merged.png (their union), detections.json."""
    import io
    import json
    import zipfile

    buffer = io.BytesIO()
    shape = result.instances[0].mask.shape if result.instances else (1, 1)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, inst in enumerate(result.instances):
            archive.writestr(f"masks/instance_{i + 1:03d}.png", _png(inst.mask))
        archive.writestr("merged.png", _png(merged_mask(result, shape)))
        archive.writestr("detections.json", json.dumps(detections_json(result, image_name, model_name, boxes_prompt),
                                                       indent=1))
    return buffer.getvalue()


def detect_with_boxes(processor, image: np.ndarray, phrase: str, boxes: list[tuple[list[float], bool]],
                      threshold: float, state: dict) -> ConceptResult:
    """A phrase (may be empty) plus exemplar boxes ([x0, y0, x1, y1] pixels, positive?) on one image."""
    processor.reset_all_prompts(state)
    processor.confidence_threshold = float(threshold)
    h, w = image.shape[:2]
    start = time.perf_counter()
    with trace() as t:
        if phrase:
            state = processor.set_text_prompt(phrase, state)
        for (x0, y0, x1, y1), positive in boxes:
            box = [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]
            state = processor.add_geometric_prompt(box, positive, state)
    seconds = time.perf_counter() - start
    return _result(state, phrase, threshold, t.timings_ms, seconds)
