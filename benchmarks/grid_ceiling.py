"""Benchmark (not a test): box IoU per scene kind and level against what an embedding grid can draw.

    python -m benchmarks.grid_ceiling [--checkpoint PATH] [--scenes 120] [--json]

For every target of `--scenes` held-out scenes (sky skipped; up to 4 targets per scene, as
sam_core.training.evaluate picks them): the model's IoU for the tight-box prompt, and two *grid ceilings*. A
ceiling is the ground-truth mask averaged over cells of a grid (32 x 32: the nano embedding; 128 x 128:
its low-res masks), bilinearly upsampled back and thresholded at 0.5. Roughly, it is the best IoU a mask
painted at that grid's resolution reaches. A model under the 32 x 32 ceiling is not drawing detail finer
than its embedding grid.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from sam_core.masks import mask_iou, tight_box
from sam_core.sam1.predictor import SamPredictor
from sam_core.scenes import SCENE_KINDS, render_scene
from sam_core.scenes.splits import HELD_OUT_SEED
from sam_core.training.evaluate import load_model, pick_targets


def grid_ceiling(mask: np.ndarray, grid: int) -> float:
    """IoU of `mask` [H, W] bool with itself averaged to grid x grid, upsampled (bilinear), > 0.5."""
    gt = torch.from_numpy(mask.astype(np.float32))[None, None]
    coarse = F.adaptive_avg_pool2d(gt, grid)
    back = F.interpolate(coarse, size=mask.shape, mode="bilinear", align_corners=False)
    return mask_iou(back[0, 0].numpy() > 0.5, mask)


def measure(model, scenes: int, first_seed: int = HELD_OUT_SEED, size: int = 256) -> list[dict]:
    """One row per (kind, level): targets, mean box IoU, mean 32 x 32 and 128 x 128 ceilings, median area."""
    predictor = SamPredictor(model)
    by_key: dict[tuple[str, str], list[tuple[float, float, float, int]]] = {}
    for i in range(scenes):
        kind = SCENE_KINDS[i % len(SCENE_KINDS)]
        if kind == "sky":
            continue
        scene = render_scene(kind, first_seed + i, size)
        predictor.set_image(scene.image)
        for obj in pick_targets(scene, min_area=20, max_targets=4):
            box = np.array(tight_box(obj.mask), dtype=float)
            masks, _, _ = predictor.predict(box=box, multimask_output=False)
            by_key.setdefault((kind, obj.level), []).append(
                (mask_iou(masks[0], obj.mask), grid_ceiling(obj.mask, 32), grid_ceiling(obj.mask, 128), int(obj.area)))
    rows = []
    for (kind, level), vals in sorted(by_key.items()):
        v = np.array(vals, dtype=float)
        rows.append({"kind": kind, "level": level, "targets": len(vals), "box_iou": round(v[:, 0].mean(), 3),
                     "ceiling_32": round(v[:, 1].mean(), 3), "ceiling_128": round(v[:, 2].mean(), 3),
                     "median_area_px": int(np.median(v[:, 3]))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: the embedded nano weights")
    parser.add_argument("--scenes", type=int, default=120)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = measure(load_model("nano", args.checkpoint), args.scenes)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'kind':8} {'level':7} {'n':>4} {'box IoU':>8} {'ceil 32':>8} {'ceil 128':>9} {'area':>6}")
    for r in rows:
        print(f"{r['kind']:8} {r['level']:7} {r['targets']:4d} {r['box_iou']:8.3f} {r['ceiling_32']:8.3f} "
              f"{r['ceiling_128']:9.3f} {r['median_area_px']:6d}")


if __name__ == "__main__":
    main()
