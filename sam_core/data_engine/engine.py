"""One turn of SA-1B's data engine on the procedural scenes: annotate, generate, retrain, measure again.

    round 0 model --(assisted-manual, semi-automatic, fully automatic on unlabelled scenes)--> engine masks
    engine masks --(fine-tune: SAM's interactive episode, the engine's masks as targets)--> round 1 model
    both models --(the same measurements on held-out scenes)--> clicks per mask, precision / recall

The annotator sees the scenes' exact ground truth (a simulated human); the fully automatic stage does not,
and its masks go into the fine-tune unchecked, as SA-1B's automatic masks did. Everything is seeded:
the same config gives the same run.json figures (timings aside).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sam_core.automatic_mask_generator import SamAutomaticMaskGenerator, points_per_batch_for
from sam_core.data_engine.annotator import MAX_CLICKS, TARGET_IOU
from sam_core.data_engine.stages import assisted_manual, fully_automatic, semi_automatic
from sam_core.sam1.predictor import SamPredictor
from sam_core.sam1.sam import Sam
from sam_core.scenes import Scene, render_scene
from sam_core.scenes.splits import HELD_OUT_SEED, TRAIN_KINDS
from sam_core.training.data import Batch
from sam_core.training.episode import interactive_loss
from sam_core.training.model_setup import build_optimizer

# Engine scenes: seeds no training run drew (< HELD_OUT_SEED) and no evaluation reads (HELD_OUT_SEED + i,
# i < 100k): "unlabelled images" the model has never seen. The before/after figures use HELD_OUT_SEED + i.
ENGINE_SEED = HELD_OUT_SEED + 2_000_000

STAGES = ("assisted_manual", "semi_automatic", "fully_automatic")

# progress(stage name, done, total)
Progress = Callable[[str, int, int], None]


@dataclass
class EngineConfig:
    seed: int = 0  # fine-tune randomness (which engine mask is a target, the prompts); scenes are fixed seeds
    images_per_stage: int = 2  # engine scenes per stage, kinds in TRAIN_KINDS order: ~1 min a scene, loaded 2 cores
    eval_images: int = 3  # held-out scenes measured before and after (desk, person, street)
    size: int = 256  # the embedded model's input side
    points_per_side: int = 16  # 16 x 16 grid: 256 prompts (Meta's 32 x 32 costs 4x, finds ~1.5x the masks)
    pred_iou_thresh: float = 0.7  # Meta's 0.88 keeps 0-1 masks on the embedded model (soft edges)
    stability_score_thresh: float = 0.8  # Meta's 0.95 keeps none: the nano logits ramp slowly across edges
    finetune_steps: int = 60  # one scene x `prompts` engine masks per step: ~1-2 min on the loaded 2-core CPU
    prompts: int = 8  # engine masks per step (the training recipe's 8)
    rounds: int = 2  # first prompt + one correction click (the training recipe)
    lr: float = 1e-4  # a 10th of the recipe's peak: a fine-tune of trained weights, not a restart
    weight_decay: float = 0.05  # the recipe's AdamW decay


def engine_scenes(cfg: EngineConfig) -> dict[str, list[Scene]]:
    """Disjoint unlabelled scenes for each stage: kinds cycle through TRAIN_KINDS."""
    out, i = {}, 0
    for stage in STAGES:
        out[stage] = []
        for _ in range(cfg.images_per_stage):
            out[stage].append(render_scene(TRAIN_KINDS[i % len(TRAIN_KINDS)], ENGINE_SEED + i, cfg.size))
            i += 1
    return out


def eval_scenes(cfg: EngineConfig) -> list[Scene]:
    return [render_scene(TRAIN_KINDS[i % len(TRAIN_KINDS)], HELD_OUT_SEED + i, cfg.size) for i in range(cfg.eval_images)]


def generator_for(model: Sam, cfg: EngineConfig) -> SamAutomaticMaskGenerator:
    return SamAutomaticMaskGenerator(model, points_per_side=cfg.points_per_side, pred_iou_thresh=cfg.pred_iou_thresh,
                                     stability_score_thresh=cfg.stability_score_thresh,
                                     points_per_batch=points_per_batch_for(model.device))


def _sum(rows: list[dict], key: str) -> int:
    return int(sum(r[key] for r in rows))


def run_stages(model: Sam, cfg: EngineConfig, progress: Progress | None = None):
    """The three stages on their engine scenes. Returns (table rows, per-image rows, the engine's masks
    as (scene, [masks bool [H, W]]) pairs for the fine-tune)."""
    predictor, generator = SamPredictor(model), generator_for(model, cfg)
    scenes = engine_scenes(cfg)
    table, per_image, engine_masks = [], {}, []
    for stage in STAGES:
        rows, start = [], time.perf_counter()
        for k, scene in enumerate(scenes[stage]):
            if stage == "assisted_manual":
                row = assisted_manual(predictor, scene)
            elif stage == "semi_automatic":
                row = semi_automatic(predictor, generator, scene)
            else:
                row = fully_automatic(generator, scene)
                row["masks"] = row["predicted"]
            masks = row.pop("mask_list")
            engine_masks.append((scene, masks))
            rows.append({"kind": scene.kind, "seed": scene.seed, **row})
            if progress is not None:
                progress(stage, k + 1, len(scenes[stage]))
        per_image[stage] = rows
        clicks = _sum(rows, "clicks") if stage != "fully_automatic" else 0
        masks_made = _sum(rows, "masks")
        summary = {"stage": stage, "images": len(rows), "objects": _sum(rows, "objects"), "masks": masks_made,
                   "clicks": clicks, "clicks_per_mask": clicks / masks_made if masks_made else None,
                   "seconds": time.perf_counter() - start}
        if stage == "fully_automatic":
            summary.update(precision_recall(rows))
        table.append(summary)
    return table, per_image, engine_masks


def precision_recall(rows: list[dict]) -> dict:
    """Pooled over images: precision = matched predictions / predictions, recall = matched objects / objects,
    at each IoU threshold, overall and per object size."""
    out = {}
    predicted, objects = _sum(rows, "predicted"), _sum(rows, "objects")
    for key in [k for k in rows[0] if k.startswith("iou_")]:
        entry = {"precision": _sum([r[key] for r in rows], "matched_predicted") / predicted if predicted else None,
                 "recall": _sum([r[key] for r in rows], "matched_objects") / objects if objects else None,
                 "by_size": {}}
        for size in rows[0][key]["by_size"]:
            cells = [r[key]["by_size"][size] for r in rows]
            p, o = _sum(cells, "predicted"), _sum(cells, "objects")
            entry["by_size"][size] = {"predicted": p, "objects": o,
                                      "precision": _sum(cells, "matched_predicted") / p if p else None,
                                      "recall": _sum(cells, "matched_objects") / o if o else None}
        out[key] = entry
    return out


def measure(model: Sam, cfg: EngineConfig, progress: Progress | None = None, label: str = "measure") -> dict:
    """The same model on the held-out scenes: assisted-manual clicks per object and the generator's
    precision / recall (the before / after of a round)."""
    predictor, generator = SamPredictor(model), generator_for(model, cfg)
    manual, auto = [], []
    scenes = eval_scenes(cfg)
    for k, scene in enumerate(scenes):
        row = assisted_manual(predictor, scene)
        row.pop("mask_list")
        manual.append(row)
        row = fully_automatic(generator, scene)
        row.pop("mask_list")
        auto.append(row)
        if progress is not None:
            progress(label, k + 1, len(scenes))
    objects = _sum(manual, "objects")
    return {"images": len(scenes), "objects": objects, "clicks": _sum(manual, "clicks"),
            "clicks_per_object": _sum(manual, "clicks") / objects, "reached": _sum(manual, "masks"),
            "first_click_iou": float(np.mean([v for r in manual for v in r["first_click_iou"]])),
            "predicted": _sum(auto, "predicted"), **precision_recall(auto)}


def finetune(model: Sam, engine_masks: list[tuple[Scene, list[np.ndarray]]], cfg: EngineConfig,
             progress: Progress | None = None) -> tuple[Sam, list[dict]]:
    """A copy of `model` trained for cfg.finetune_steps steps of SAM's interactive episode
    (`training.episode.interactive_loss`) with the engine's masks as targets. Returns (model, loss curve)."""
    pool = [(scene, masks) for scene, masks in engine_masks if masks]
    tuned = copy.deepcopy(model).train()
    optimizer = build_optimizer(list(tuned.named_parameters()), cfg.lr, cfg.weight_decay, encoder_lr_mult=1.0)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    curve = []
    for step in range(cfg.finetune_steps):
        scene, masks = pool[int(rng.integers(len(pool)))]
        chosen = rng.choice(len(masks), size=min(cfg.prompts, len(masks)), replace=False)
        targets = torch.from_numpy(np.stack([masks[i] for i in chosen])).unsqueeze(1).float()  # [n, 1, S, S]
        batch = Batch(images=torch.from_numpy(scene.image).permute(2, 0, 1).float()[None],  # [1, 3, S, S]
                      targets=targets, image_index=torch.zeros(len(chosen), dtype=torch.long),
                      levels=["object"] * len(chosen), object_masks=[], object_levels=[])
        loss, stats = interactive_loss(tuned, batch, gen, cfg.rounds)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tuned.parameters(), 1.0)
        optimizer.step()
        curve.append({"step": step + 1, "loss": stats["total"], "train_iou": stats["iou_last"]})
        if progress is not None:
            progress("finetune", step + 1, cfg.finetune_steps)
    return tuned.eval(), curve


def run(model: Sam, cfg: EngineConfig, progress: Progress | None = None) -> dict:
    """The whole turn: stages with the round-0 model, fine-tune, before / after on held-out scenes."""
    t0 = time.perf_counter()
    before = measure(model, cfg, progress, "measure_before")
    table, per_image, engine_masks = run_stages(model, cfg, progress)
    tuned, curve = finetune(model, engine_masks, cfg, progress)
    after = measure(tuned, cfg, progress, "measure_after")
    return {"config": asdict(cfg), "target_iou": TARGET_IOU, "max_clicks": MAX_CLICKS,
            "engine_seed": ENGINE_SEED, "held_out_seed": HELD_OUT_SEED,
            "stages": table, "per_image": per_image,
            "training_masks": int(sum(len(m) for _, m in engine_masks)),
            "finetune_curve": curve, "before": before, "after": after,
            "seconds": time.perf_counter() - t0, "torch": torch.__version__}
