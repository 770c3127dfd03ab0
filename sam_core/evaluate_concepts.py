r"""The concept benchmark on held-out scenes: `python -m sam_core.evaluate_concepts --model nano --json`.

As in the SAM 3 paper (SA-Co), per (image, phrase) pair the model's detections (score > 0.5) are compared
with every instance of the phrase:

    pmF1   = mean over τ ∈ {0.50, 0.55, ..., 0.95} of the micro-F1 2TP / (2TP + FP + FN) over the
             POSITIVE pairs, predictions matched one-to-one to instances (Hungarian on mask IoU, IoU ≥ τ)
    IL_MCC = Matthews correlation of "anything detected" with "the phrase is in the image", over all pairs
    cgF1   = 100 · pmF1 · IL_MCC

reported for seen phrases (TRAIN_PHRASES), held-out compositions (HELD_OUT_PHRASES) and exemplar prompts
(a box on one instance, text "visual": every instance with its phrase); for absent phrases alone, the
rate of pairs with any detection. Negatives per scene: every absent phrase that shares its noun with a
present one ("blue car" where the cars are red: the hard case), plus `random_negatives` others.
Also: counting accuracy on savanna scenes ("elephant": exact count), the SAM 1 click baseline (clicks the
simulated annotator needs with the nano SAM to get every instance of a phrase, one object at a time) and
latency (median set_image and text -> masks).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from sam_core.scenes import HELD_OUT_SEED, TRAIN_KINDS, render_scene
from sam_core.scenes.concepts import HELD_OUT_PHRASES, TRAIN_PHRASES, exemplar_prompt, scene_concepts

IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))
SCORE_THRESHOLD = 0.5  # Meta's processor default


def mask_iou_matrix(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """bool [P, H, W], [G, H, W] -> [P, G] IoU (0 where the union is empty)."""
    p = pred.reshape(len(pred), -1).astype(np.float32)
    g = truth.reshape(len(truth), -1).astype(np.float32)
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def match_counts(pred: np.ndarray, truth: np.ndarray) -> dict[float, tuple[int, int, int]]:
    """{τ: (TP, FP, FN)} for one pair, one-to-one matching that maximises the total IoU."""
    if len(pred) == 0 or len(truth) == 0:
        return {t: (0, len(pred), len(truth)) for t in IOU_THRESHOLDS}
    iou = mask_iou_matrix(pred, truth)
    rows, cols = linear_sum_assignment(-iou)
    matched = iou[rows, cols]
    out = {}
    for t in IOU_THRESHOLDS:
        tp = int((matched >= t).sum())
        out[t] = (tp, len(pred) - tp, len(truth) - tp)
    return out


def matthews(tp: int, fp: int, fn: int, tn: int) -> float:
    denom = np.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denom) if denom > 0 else 0.0


@dataclass
class ConceptScore:
    """Accumulates pairs: positive pairs' match counts per τ, and the image-level confusion."""

    counts: dict = field(default_factory=lambda: {t: [0, 0, 0] for t in IOU_THRESHOLDS})
    il: list = field(default_factory=lambda: [0, 0, 0, 0])  # TP, FP, FN, TN of "anything detected"
    pairs: int = 0

    def add(self, pred: np.ndarray, truth: np.ndarray) -> None:
        self.pairs += 1
        detected, present = len(pred) > 0, len(truth) > 0
        self.il[0 if detected and present else 1 if detected else 2 if present else 3] += 1
        if present:
            for t, (tp, fp, fn) in match_counts(pred, truth).items():
                c = self.counts[t]
                c[0], c[1], c[2] = c[0] + tp, c[1] + fp, c[2] + fn

    def summary(self) -> dict:
        f1s = [2 * tp / max(1, 2 * tp + fp + fn) for tp, fp, fn in self.counts.values()]
        pm_f1 = float(np.mean(f1s))
        tp, fp, fn, tn = self.il
        il_mcc = matthews(tp, fp, fn, tn)
        out = {"pairs": self.pairs, "positive_pairs": tp + fn, "negative_pairs": fp + tn,
               "pmF1": round(pm_f1, 4), "pmF1@0.5": round(f1s[0], 4),
               "IL_recall": round(tp / max(1, tp + fn), 4)}
        if fp + tn and tp + fn:
            out.update(IL_MCC=round(il_mcc, 4), cgF1=round(100 * pm_f1 * il_mcc, 2))
        if fp + tn:
            out["false_positive_rate"] = round(fp / (fp + tn), 4)
        return out


class ConceptModel:
    """The SAM 3 processor with a per-call API: set_image(rgb), detect(text, box=None) -> bool masks [N, H, W]."""

    def __init__(self, model_type: str = "nano", checkpoint: str | None = None) -> None:
        from sam_core.sam3.build import build_sam3
        from sam_core.sam3.nano import NANO_RESOLUTION
        from sam_core.sam3.processor import Sam3Processor

        model = build_sam3(model_type, checkpoint=checkpoint)
        resolution = NANO_RESOLUTION if model_type == "nano" else model.image_size
        self.processor = Sam3Processor(model, resolution=resolution, confidence_threshold=SCORE_THRESHOLD)
        self.state: dict = {}

    @classmethod
    def around(cls, model, resolution: int) -> ConceptModel:
        """The same per-call API on an already loaded SAM 3 model (its own processor, Meta's threshold)."""
        from sam_core.sam3.processor import Sam3Processor

        wrapper = cls.__new__(cls)
        wrapper.processor = Sam3Processor(model, resolution=resolution, confidence_threshold=SCORE_THRESHOLD)
        wrapper.state = {}
        return wrapper

    def set_image(self, image: np.ndarray) -> None:
        self.state = self.processor.set_image(image)

    def detect(self, text: str, box: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every detection of `text` (and/or an exemplar box, pixels xyxy): (masks bool [N, H, W], scores [N])."""
        self.processor.reset_all_prompts(self.state)
        if box is None:
            state = self.processor.set_text_prompt(text, self.state)
        else:
            h, w = self.state["original_height"], self.state["original_width"]
            x0, y0, x1, y1 = box
            if text:
                self.state["backbone_out"].update(
                    self.processor.model.backbone.forward_text([text], device=self.processor.device))
            state = self.processor.add_geometric_prompt(
                [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h], True, self.state)
        return state["masks"][:, 0].cpu().numpy(), state["scores"].cpu().numpy()


def scene_seeds(first_seed: int, scenes: int) -> list[tuple[str, int]]:
    """`scenes` held-out (kind, seed) pairs, the kinds in turn."""
    return [(TRAIN_KINDS[i % len(TRAIN_KINDS)], first_seed + i) for i in range(scenes)]


def negatives(concepts, phrases: set[str], rng: np.random.Generator, random_negatives: int) -> list[str]:
    nouns = {p.split()[-1] for p in concepts.present}
    absent = [p for p in concepts.absent if p in phrases]
    hard = [p for p in absent if p.split()[-1] in nouns]
    others = [p for p in absent if p not in hard]
    picked = list(rng.choice(others, min(random_negatives, len(others)), replace=False)) if others else []
    return hard + [str(p) for p in picked]


def evaluate(model: ConceptModel, first_seed: int = HELD_OUT_SEED, scenes: int = 60, random_negatives: int = 3,
             counting_scenes: int = 20, click_scenes: int = 6) -> dict:
    """The benchmark (see the module docstring); every figure is computed here, nothing is stored."""
    groups = {"seen": ConceptScore(), "held_out": ConceptScore(), "exemplar": ConceptScore(),
              "absent": ConceptScore()}
    sets = {"seen": set(TRAIN_PHRASES), "held_out": set(HELD_OUT_PHRASES)}
    set_image_ms, prompt_ms = [], []
    for kind, seed in scene_seeds(first_seed, scenes):
        scene = render_scene(kind, seed)
        concepts = scene_concepts(scene)
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        model.set_image(scene.image)
        set_image_ms.append(1000 * (time.perf_counter() - t0))
        for name, phrases in sets.items():
            present = [p for p in concepts.present if p in phrases]
            for phrase in present + negatives(concepts, phrases, rng, random_negatives):
                t0 = time.perf_counter()
                pred, _ = model.detect(phrase)
                prompt_ms.append(1000 * (time.perf_counter() - t0))
                truth = concepts.instances(phrase)[0]
                groups[name].add(pred, truth)
                if len(truth) == 0:
                    groups["absent"].add(pred, truth)
        own = sorted({scene.objects[i].phrase for i in range(len(scene.objects))} & sets["seen"])
        for phrase in own:
            ex = exemplar_prompt(concepts, phrase, rng)
            pred, _ = model.detect("visual", box=ex.box)
            groups["exemplar"].add(pred, np.stack([scene.objects[i].mask for i in ex.targets]))
    out = {name: g.summary() for name, g in groups.items()}
    if counting_scenes > 0:
        out["counting"] = counting(model, first_seed, counting_scenes)
    if click_scenes > 0:
        out["sam1_clicks"] = sam1_click_baseline(model, first_seed, click_scenes)
    out["latency_ms"] = {"set_image_median": round(statistics.median(set_image_ms), 1),
                         "text_to_masks_median": round(statistics.median(prompt_ms), 1)}
    out["config"] = {"first_seed": first_seed, "scenes": scenes, "random_negatives": random_negatives}
    return out


def counting(model: ConceptModel, first_seed: int, n: int) -> dict:
    """Savanna scenes, prompt "elephant": the fraction with exactly the right number of detections."""
    exact, errors = 0, []
    for i in range(n):
        scene = render_scene("savanna", first_seed + i)
        model.set_image(scene.image)
        found = len(model.detect("elephant")[0])
        truth = len(scene.find("elephant"))
        exact += found == truth
        errors.append(abs(found - truth))
    return {"scenes": n, "exact_count_accuracy": round(exact / max(1, n), 4),
            "mean_abs_error": round(float(np.mean(errors)) if errors else 0.0, 3)}


def sam1_click_baseline(model: ConceptModel, first_seed: int, n: int, phrase_noun: str = "car") -> dict:
    """Street scenes: clicks the simulated annotator needs with the nano SAM 1 for every car (one object at a
    time, IoU 0.9 or 10 clicks each), against one phrase for SAM 3 (its pmF1@0.5 on those pairs)."""
    from sam_core.data_engine.annotator import annotate_object
    from sam_core.sam1.build import build_sam
    from sam_core.sam1.predictor import SamPredictor

    predictor = SamPredictor(build_sam("nano"))
    clicks, instances, score = [], 0, ConceptScore()
    for i in range(n):
        scene = render_scene("street", first_seed + i)
        concepts = scene_concepts(scene)
        truth = concepts.instances(phrase_noun)[0]
        predictor.set_image(scene.image)
        clicks.append(sum(annotate_object(predictor, m).clicks for m in truth))
        instances += len(truth)
        model.set_image(scene.image)
        score.add(model.detect(phrase_noun)[0], truth)
    return {"phrase": phrase_noun, "scenes": n, "instances": instances,
            "sam1_clicks_per_scene": round(float(np.mean(clicks)), 2),
            "sam1_clicks_per_instance": round(sum(clicks) / max(1, instances), 2),
            "sam3_prompts_per_scene": 1, "sam3_pmF1@0.5": score.summary()["pmF1@0.5"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam_core.evaluate_concepts", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="nano")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--first-seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--counting-scenes", type=int, default=20)
    parser.add_argument("--click-scenes", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.first_seed < HELD_OUT_SEED:
        parser.error(f"--first-seed must be >= {HELD_OUT_SEED} (the held-out seeds)")
    import torch

    torch.set_num_threads(args.threads)
    result = evaluate(ConceptModel(args.model, args.checkpoint), args.first_seed, args.scenes,
                      counting_scenes=args.counting_scenes, click_scenes=args.click_scenes)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
