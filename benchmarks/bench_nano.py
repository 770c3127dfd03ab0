"""Benchmark (not a test): the embedded nano model's set_image and predict times on this machine.

    python -m benchmarks.bench_nano [--checkpoint PATH] [--threads N] [--runs 30]

Median over runs of SamPredictor.set_image (a 512 px scene) and SamPredictor.predict (one click,
multimask, masks back at 512 px). Targets (DESIGN.md): set_image <= 100 ms, predict <= 15 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from sam_core import SamPredictor, build_sam
from sam_core.scenes import render_scene
from sam_core.scenes.splits import HELD_OUT_SEED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = SamPredictor(build_sam("nano", checkpoint=args.checkpoint))
    rng = np.random.default_rng(0)
    first_seed = 2 * HELD_OUT_SEED  # held out from training, and apart from the evaluation's first seeds
    images = [render_scene(kind, first_seed + i, args.size).image for i, kind in enumerate(("desk", "street", "orchard"))]
    set_ms, predict_ms = [], []
    for i in range(args.runs + 2):
        start = time.perf_counter()
        predictor.set_image(images[i % len(images)])
        if i >= 2:
            set_ms.append(1000 * (time.perf_counter() - start))
        for _ in range(3):
            xy = rng.uniform(0, args.size, size=(1, 2))
            start = time.perf_counter()
            predictor.predict(point_coords=xy, point_labels=np.array([1]))
            if i >= 2:
                predict_ms.append(1000 * (time.perf_counter() - start))
    print(json.dumps({
        "threads": args.threads,
        "image_px": args.size,
        "set_image_ms_median": round(statistics.median(set_ms), 1),
        "predict_ms_median": round(statistics.median(predict_ms), 1),
        "predict_ms_p95": round(sorted(predict_ms)[int(0.95 * (len(predict_ms) - 1))], 1),
    }))


if __name__ == "__main__":
    main()
