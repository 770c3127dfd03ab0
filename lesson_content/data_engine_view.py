"""§10 The SA-1B data engine: the paper's figures (each with its source), ratios computed from them, the
committed run of `python -m sam_core.data_engine`, and the generator live on one scene. Imports no Streamlit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sam_core.automatic_mask_generator import SamAutomaticMaskGenerator
from sam_core.data_engine.engine import STAGES, EngineConfig, generator_for
from sam_core.data_engine.stages import match_masks
from sam_core.sam1.sam import Sam
from sam_core.scenes import render_scene

RUN_PATH = Path(__file__).resolve().parent.parent / "assets" / "data_engine" / "run.json"
SAM_PAPER = "Kirillov et al. 2023, Segment Anything, §4 (data engine) and §5 (dataset)"


@dataclass(frozen=True)
class Figure:
    """A stated figure and where it is stated."""

    value: float
    source: str


# SA-1B's stages as the SAM paper states them.
PAPER_STAGES = {
    "assisted_manual": {"images": Figure(120_000, SAM_PAPER + " §4"), "masks": Figure(4_300_000, SAM_PAPER + " §4"),
                        "seconds_per_mask_start": Figure(34, SAM_PAPER + " §4"),
                        "seconds_per_mask_end": Figure(14, SAM_PAPER + " §4"),
                        "masks_per_image_start": Figure(20, SAM_PAPER + " §4"),
                        "masks_per_image_end": Figure(44, SAM_PAPER + " §4"),
                        "retrainings": Figure(6, SAM_PAPER + " §4")},
    "semi_automatic": {"images": Figure(180_000, SAM_PAPER + " §4"), "masks": Figure(5_900_000, SAM_PAPER + " §4"),
                       "seconds_per_mask_end": Figure(34, SAM_PAPER + " §4 (the remaining, harder objects)"),
                       "masks_per_image_end": Figure(72, SAM_PAPER + " §4 (automatic masks included)"),
                       "retrainings": Figure(5, SAM_PAPER + " §4")},
    "fully_automatic": {"images": Figure(11_000_000, SAM_PAPER + " §4"),
                        "masks": Figure(1_100_000_000, SAM_PAPER + " §4"),
                        "grid_side": Figure(32, SAM_PAPER + " §4 (a 32 x 32 grid of points)")},
}
SA1B = {"images": Figure(11_000_000, SAM_PAPER + " §5"), "masks": Figure(1_100_000_000, SAM_PAPER + " §5"),
        "automatic_share": Figure(0.991, SAM_PAPER + " §5 (99.1% of the masks are fully automatic)")}
# The datasets the ratios are taken against.
OPEN_IMAGES = {"images": Figure(1_000_000, SAM_PAPER + " §5: Open Images, the largest earlier dataset (~1M images)"),
               "masks": Figure(2_700_000, "Open Images V5 segmentation (Benenson et al. 2019): ~2.7M masks")}
COCO = {"images": Figure(160_000, "the lesson plan's COCO figure (~860K masks on 160K images)"),
        "masks": Figure(860_000, "the lesson plan's COCO figure (~860K masks on 160K images)")}
PAPER_MASK_RATIO = Figure(400, SAM_PAPER + " §5: '400x more masks than ... Open Images'")
STAGE_TITLES = {"assisted_manual": "Assisted-manual", "semi_automatic": "Semi-automatic",
                "fully_automatic": "Fully automatic"}


def ratios() -> dict[str, float]:
    """SA-1B against Open Images (the paper's 400x) and COCO (the plan's comparison), computed."""
    return {"masks_vs_open_images": SA1B["masks"].value / OPEN_IMAGES["masks"].value,
            "images_vs_open_images": SA1B["images"].value / OPEN_IMAGES["images"].value,
            "masks_vs_coco": SA1B["masks"].value / COCO["masks"].value,
            "images_vs_coco": SA1B["images"].value / COCO["images"].value,
            "masks_per_image_sa1b": SA1B["masks"].value / SA1B["images"].value,
            "masks_per_image_coco": COCO["masks"].value / COCO["images"].value,
            "paper_ratio": PAPER_MASK_RATIO.value}


def paper_table() -> list[dict]:
    """One row per stage: images, masks, masks per image (computed) and the stated time per mask."""
    rows = []
    for stage in STAGES:
        f = PAPER_STAGES[stage]
        rows.append({"stage": STAGE_TITLES[stage], "images": int(f["images"].value), "masks": int(f["masks"].value),
                     "masks per image (computed)": round(f["masks"].value / f["images"].value, 1),
                     "seconds per mask (stated)": (f["seconds_per_mask_end"].value if "seconds_per_mask_end" in f
                                                   else "none: no annotator"),
                     "source": f["images"].source})
    return rows


def load_run(path: Path = RUN_PATH) -> dict | None:
    """The committed run.json (None when it has not been produced)."""
    return json.loads(path.read_text()) if path.exists() else None


def run_table(run: dict) -> list[dict]:
    """The measured stage table: images, objects, masks, clicks per mask, precision / recall."""
    rows = []
    for row in run["stages"]:
        out = {"stage": STAGE_TITLES[row["stage"]], "images": row["images"], "objects": row["objects"],
               "masks": row["masks"], "clicks": row["clicks"],
               "clicks per mask": None if row["clicks_per_mask"] is None or not row["clicks"] else
               round(row["clicks_per_mask"], 2)}
        for t in ("0.5", "0.75"):
            entry = row.get(f"iou_{t}")
            out[f"precision @{t}"] = None if entry is None or entry["precision"] is None else round(entry["precision"], 3)
            out[f"recall @{t}"] = None if entry is None or entry["recall"] is None else round(entry["recall"], 3)
        out["seconds"] = round(row["seconds"], 1)
        rows.append(out)
    return rows


def before_after(run: dict) -> list[dict]:
    """The round's before / after on the held-out scenes."""
    rows = []
    for when, label in (("before", "round 0 (embedded model)"), ("after", "round 1 (fine-tuned on the engine's masks)")):
        m = run[when]
        rows.append({"model": label, "clicks per object": round(m["clicks_per_object"], 3),
                     "objects reaching the target IoU": f"{m['reached']} / {m['objects']}",
                     "first-click IoU": round(m["first_click_iou"], 4),
                     "precision @0.5": round(m["iou_0.5"]["precision"] or 0.0, 3),
                     "recall @0.5": round(m["iou_0.5"]["recall"] or 0.0, 3),
                     "recall @0.75": round(m["iou_0.75"]["recall"] or 0.0, 3)})
    return rows


def finetune_curve(run: dict) -> tuple[list[int], list[float]]:
    curve = run["finetune_curve"]
    return [c["step"] for c in curve], [c["loss"] for c in curve]


@dataclass
class LiveResult:
    """The generator on one scene: the grid, the per-filter counts, the final masks and their match."""

    image: np.ndarray  # uint8 [H, W, 3]
    grid_points: np.ndarray  # [N, 2] (x, y) pixels
    counts: dict[str, int]  # masks left after each stage of the generator
    records: list[dict]  # the generator's output (binary masks)
    match: dict  # stages.fully_automatic's precision / recall against the scene's ground truth


def live_generate(model: Sam, kind: str, seed: int, points_per_side: int, pred_iou_thresh: float,
                  stability_score_thresh: float, box_nms_thresh: float, progress=None) -> LiveResult:
    """Run the automatic mask generator on a scene the student picks (256 px) and measure it."""
    cfg = EngineConfig(points_per_side=points_per_side, pred_iou_thresh=pred_iou_thresh,
                       stability_score_thresh=stability_score_thresh)
    scene = render_scene(kind, seed, cfg.size)
    generator: SamAutomaticMaskGenerator = generator_for(model, cfg)
    generator.box_nms_thresh = box_nms_thresh
    records = generator.generate(scene.image, progress=progress)
    counts = dict(generator.last_counts)
    predicted = [r["segmentation"] for r in records]
    match = match_masks(predicted, scene)
    grid = generator.point_grids[0] * np.array(scene.image.shape[:2])[None, ::-1]
    return LiveResult(scene.image, grid, counts, records, match)


FILTER_STEPS = (("grid_points", "grid points (one click each)"), ("predicted", "masks predicted (3 per point)"),
                ("pred_iou", "after predicted IoU > threshold"), ("stability", "after stability >= threshold"),
                ("crop_edge", "after the crop-edge filter"), ("box_nms", "after box NMS (final)"))


def filter_rows(counts: dict[str, int]) -> list[dict]:
    """What each filter kept and removed, in the generator's order."""
    rows, previous = [], None
    for key, label in FILTER_STEPS:
        n = counts.get(key, 0)
        removed = None if previous is None or key == "predicted" else previous - n
        rows.append({"step": label, "masks": n, "removed": removed})
        previous = n
    return rows


def overlay(image: np.ndarray, masks: list[np.ndarray], alpha: float = 0.55, seed: int = 0) -> np.ndarray:
    """uint8 [H, W, 3]: every mask painted in its own colour, largest first so small ones stay visible."""
    rng = np.random.default_rng(seed)
    out = image.astype(np.float32).copy()
    for mask in sorted(masks, key=lambda m: -int(m.sum())):
        colour = rng.integers(40, 256, size=3).astype(np.float32)
        out[mask] = (1 - alpha) * out[mask] + alpha * colour
    return out.clip(0, 255).astype(np.uint8)


def paper_values() -> dict:
    """The values the 'paper' and 'stages' prose sections show."""
    manual, semi = PAPER_STAGES["assisted_manual"], PAPER_STAGES["semi_automatic"]
    return {**ratios(), "source": SAM_PAPER, "coco_masks": COCO["masks"].value, "coco_images": COCO["images"].value,
            "manual_start": manual["seconds_per_mask_start"].value, "manual_end": manual["seconds_per_mask_end"].value,
            "semi_seconds": semi["seconds_per_mask_end"].value,
            "grid": int(PAPER_STAGES["fully_automatic"]["grid_side"].value),
            "automatic_share": SA1B["automatic_share"].value}


def run_values(run: dict) -> dict:
    """The values the 'measured' and 'loop' prose sections show, and the round's verdict in words."""
    cfg, before, after = run["config"], run["before"], run["after"]
    better = {"fewer clicks per object": after["clicks_per_object"] < before["clicks_per_object"],
              "a better first-click mask": after["first_click_iou"] > before["first_click_iou"],
              "a higher automatic recall": after["iou_0.5"]["recall"] > before["iou_0.5"]["recall"]}
    gained = [name for name, ok in better.items() if ok]
    lost = [name.replace("fewer", "more").replace("better", "worse").replace("higher", "lower")
            for name, ok in better.items() if not ok]
    short = (f"one round of {cfg['finetune_steps']} steps on {run['training_masks']} masks, measured on "
             f"{cfg['eval_images']} scenes, is too small to tell a trend; SAM's rounds used hundreds of "
             "thousands of images")
    if not lost:
        verdict = f"In this run the round helped: {', '.join(gained)}."
    elif not gained:
        verdict = f"In this run the round did not help ({', '.join(lost)}): {short}."
    else:
        verdict = f"In this run the round gave {', '.join(gained)} but {', '.join(lost)}: {short}."
    return {"target_iou": run["target_iou"], "max_clicks": run["max_clicks"],
            "images_per_stage": cfg["images_per_stage"], "grid_side": cfg["points_per_side"],
            "pred_iou": cfg["pred_iou_thresh"], "stability": cfg["stability_score_thresh"],
            "seconds": run["seconds"], "training_masks": run["training_masks"], "steps": cfg["finetune_steps"],
            "eval_images": cfg["eval_images"], "clicks_before": before["clicks_per_object"],
            "clicks_after": after["clicks_per_object"], "iou_before": before["first_click_iou"],
            "iou_after": after["first_click_iou"], "recall_before": before["iou_0.5"]["recall"],
            "recall_after": after["iou_0.5"]["recall"], "verdict": verdict}


def grid_image(image: np.ndarray, points: np.ndarray, radius: int = 2) -> np.ndarray:
    """uint8 [H, W, 3]: the image with each grid point [N, 2] (x, y) as a small yellow square."""
    out = image.copy()
    h, w = image.shape[:2]
    for x, y in np.asarray(points).round().astype(int):
        out[max(0, y - radius):min(h, y + radius + 1), max(0, x - radius):min(w, x + radius + 1)] = (255, 215, 0)
    return out


def live_match_rows(match: dict) -> list[dict]:
    """Precision and recall of the live masks against the scene's ground truth, per IoU threshold."""
    rows = []
    for key in [k for k in match if k.startswith("iou_")]:
        m = match[key]
        rows.append({"IoU threshold": key[4:], "masks": match["predicted"], "objects": match["objects"],
                     "precision": round(m["matched_predicted"] / match["predicted"], 3) if match["predicted"] else None,
                     "recall": round(m["matched_objects"] / match["objects"], 3) if match["objects"] else None})
    return rows
