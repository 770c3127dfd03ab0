"""Time sam_core against Meta's segment-anything 1.0 on the same ViT-B weights (interleaved runs).

    python -m benchmarks.bench_vs_official --clicks 30 --images 3

Prints medians and the ratio ours / official for SamPredictor.predict (per click) and set_image.
Not a test: timings depend on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from sam_core import SamPredictor
from sam_core.sam1.build import build_reference_sam
from tests.torchvision_stub import install_torchvision_stub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    install_torchvision_stub()
    import segment_anything

    torch.manual_seed(0)
    official = segment_anything.sam_model_registry["vit_b"]().eval()
    ours = build_reference_sam("vit_b")
    ours.load_state_dict(official.state_dict())
    reference, predictor = segment_anything.SamPredictor(official), SamPredictor(ours)

    rng = np.random.default_rng(0)
    set_times = {"official": [], "sam_core": []}
    for i in range(args.images):
        image = rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8)
        order = [("official", reference), ("sam_core", predictor)]
        if i % 2:
            order.reverse()
        for name, p in order:
            start = time.perf_counter()
            p.set_image(image)
            set_times[name].append(time.perf_counter() - start)

    click_times = {"official": [], "sam_core": []}
    for i in range(args.clicks + 3):
        xy = rng.uniform([0, 0], [1024, 768], size=(1, 2))
        order = [("official", reference), ("sam_core", predictor)]
        if i % 2:
            order.reverse()
        for name, p in order:
            start = time.perf_counter()
            p.predict(point_coords=xy, point_labels=np.array([1]), multimask_output=True)
            if i >= 3:  # warm-up
                click_times[name].append(time.perf_counter() - start)

    result = {
        "threads": args.threads,
        "predict_ms_median": {k: 1000 * statistics.median(v) for k, v in click_times.items()},
        "set_image_s_median": {k: statistics.median(v) for k, v in set_times.items()},
    }
    result["predict_ratio"] = result["predict_ms_median"]["sam_core"] / result["predict_ms_median"]["official"]
    result["set_image_ratio"] = result["set_image_s_median"]["sam_core"] / result["set_image_s_median"]["official"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
