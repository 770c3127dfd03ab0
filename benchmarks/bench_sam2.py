"""Speed of sam_core's SAM 2 vs Meta's sam2 on the same random weights, interleaved runs (a benchmark, not a test).

    python benchmarks/bench_sam2.py --image-size 256 --frames 6 --repeats 3

Reports the median time of image-predictor `predict` and of one propagated video frame, and the ratio
ours / Meta's (target <= 1.0). Needs Meta's sam2 (see tests/test_sam2_oracle.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam_core.sam2.image_predictor import SAM2ImagePredictor  # noqa: E402
from sam_core.sam2.video_predictor import SAM2VideoPredictor  # noqa: E402
from tests.test_sam2_oracle import build_meta, ours_like, randomize_, require_oracle  # noqa: E402
from tests.test_sam2_video_equivalence import make_video_folder  # noqa: E402


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_predict(image_size: int, repeats: int) -> tuple[float, float]:
    meta_cls, _ = require_oracle()
    meta = build_meta("hiera_tiny", image_size, video=False)
    randomize_(meta)
    ours = ours_like(meta, "hiera_tiny", image_size)
    image = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    predictors = {"meta": meta_cls(meta), "ours": SAM2ImagePredictor(ours)}
    predictors["meta"]._bb_feat_sizes = [(image_size // s, image_size // s) for s in (4, 8, 16)]
    for p in predictors.values():
        p.set_image(image)
    times: dict[str, list[float]] = {"meta": [], "ours": []}
    for _ in range(repeats * 10):
        for name, p in predictors.items():  # interleaved
            times[name].append(_time(lambda p=p: p.predict(point_coords=np.array([[300, 200]]), point_labels=np.array([1]))))
    return statistics.median(times["ours"]), statistics.median(times["meta"])


def bench_propagate(image_size: int, repeats: int) -> tuple[float, float]:
    meta = build_meta("hiera_tiny", image_size, video=True)
    randomize_(meta)
    ours = ours_like(meta, "hiera_tiny", image_size, model_class=SAM2VideoPredictor)
    folder = Path(tempfile.mkdtemp())
    make_video_folder(folder)
    times: dict[str, list[float]] = {"meta": [], "ours": []}
    for _ in range(repeats):
        for name, model in (("meta", meta), ("ours", ours)):
            state = model.init_state(str(folder))
            model.add_new_points_or_box(state, 0, 1, points=[[22, 42]], labels=[1])
            generator = model.propagate_in_video(state)
            next(generator)  # the prompted frame (no tracking work)
            start = time.perf_counter()
            count = sum(1 for _ in generator)
            times[name].append((time.perf_counter() - start) / count)
    return statistics.median(times["ours"]), statistics.median(times["meta"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["predict", "propagate"], help="run one of the two benchmarks")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.only != "propagate":
        ours, meta = bench_predict(args.image_size, args.repeats)
        print(f"predict: ours {ours * 1e3:.2f} ms, Meta {meta * 1e3:.2f} ms, ratio {ours / meta:.2f}")
    if args.only == "predict":
        return
    ours, meta = bench_propagate(args.image_size, args.repeats)
    print(f"propagated frame: ours {ours * 1e3:.1f} ms, Meta {meta * 1e3:.1f} ms, ratio {ours / meta:.2f}")


if __name__ == "__main__":
    main()
