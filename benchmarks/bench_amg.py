"""Segment everything on the embedded model: `generate` time per grid side on a 256 px scene, and the same
generator logic run by Meta's SamAutomaticMaskGenerator (segment-anything 1.0, torchvision stubbed) on the
same predictor, side by side in one process. A benchmark, not a test: `python -m benchmarks.bench_amg`.
"""

from __future__ import annotations

import argparse
import time

from sam_core import build_sam
from sam_core.automatic_mask_generator import SamAutomaticMaskGenerator, points_per_batch_for
from sam_core.scenes import render_scene


def best_of(generator, image, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generator.generate(image)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--meta", action="store_true", help="also time Meta's generator (needs segment-anything)")
    args = parser.parse_args(argv)
    model = build_sam("nano")
    image = render_scene("street", 1_000_000, 256).image
    params = dict(pred_iou_thresh=0.7, stability_score_thresh=0.8)
    cpu_batch = points_per_batch_for(model.device)
    for side in args.sides:
        ours = SamAutomaticMaskGenerator(model, points_per_side=side, points_per_batch=cpu_batch, **params)
        n = len(ours.generate(image))
        line = f"{side} x {side}: sam_core {best_of(ours, image, args.repeats):.2f} s ({n} masks, batch {cpu_batch})"
        default = SamAutomaticMaskGenerator(model, points_per_side=side, **params)
        line += f", batch 64 (Meta's default) {best_of(default, image, args.repeats):.2f} s"
        if args.meta:
            from tests.amg_oracle_helpers import meta_generator

            meta = meta_generator(model, points_per_side=side, **params)
            line += f", Meta's generator (batch 64) {best_of(meta, image, args.repeats):.2f} s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
