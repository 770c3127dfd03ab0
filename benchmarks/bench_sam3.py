"""Time sam_core.sam3 against Meta's sam3 0.1.4 on the same tiny random weights (interleaved runs).

    python -m benchmarks.bench_sam3 --repeats 20

Times forward_image (backbone), forward_grounding (text prompt; text + exemplar box) and the whole
forward (image + text + grounding with a box) for both, interleaved: each repeat runs official and
ours back to back, alternating which goes first. Prints medians, minima and the median of the
per-repeat ratios ours / official (the statistic least disturbed by a busy machine).
Not a test: timings depend on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from sam_core.sam3.build import SAM3_CONFIGS, build_sam3_from_config
from sam_core.sam3.geometry_encoder import GeometricPrompt
from sam_core.sam3.tokenizer import DEFAULT_BPE_PATH
from tests.sam3_oracle import build_meta_image_model, meta_find_stage, no_pin_memory


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--config", default="tiny", choices=sorted(SAM3_CONFIGS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = SAM3_CONFIGS[args.config]
    torch.manual_seed(0)
    official = build_meta_image_model(cfg, str(DEFAULT_BPE_PATH))
    ours = build_sam3_from_config(cfg)
    ours.load_state_dict(official.state_dict())
    image = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    box, label = torch.tensor([0.5, 0.5, 0.4, 0.3]).view(1, 1, 4), torch.tensor([True]).view(1, 1)

    def official_grounding(bb, with_box):
        prompt = official._get_dummy_prompt()
        if with_box:
            prompt.append_boxes(box, label)
        official.forward_grounding(backbone_out=bb, find_input=meta_find_stage(), geometric_prompt=prompt,
                                   find_target=None)

    def our_grounding(bb, with_box):
        prompt = GeometricPrompt.empty(1)
        if with_box:
            prompt.append_boxes(box, label)
        ours.forward_grounding(bb, prompt)

    def official_full():
        bb = official.backbone.forward_image(image)
        bb.update(official.backbone.forward_text(["a red car"], device="cpu"))
        official_grounding(bb, True)

    def our_full():
        bb = ours.backbone.forward_image(image)
        bb.update(ours.backbone.forward_text(["a red car"], device="cpu"))
        our_grounding(bb, True)

    times: dict[str, dict[str, list[float]]] = {
        k: {"official": [], "sam_core": []}
        for k in ("forward_image", "grounding_text", "grounding_text_box", "full_forward")}
    with torch.inference_mode(), no_pin_memory():
        meta_bb = official.backbone.forward_image(image)
        meta_bb.update(official.backbone.forward_text(["a red car"], device="cpu"))
        our_bb = ours.backbone.forward_image(image)
        our_bb.update(ours.backbone.forward_text(["a red car"], device="cpu"))
        for _ in range(3):  # warm-up
            official_grounding(meta_bb, True)
            our_grounding(our_bb, True)
        for repeat in range(args.repeats):
            pairs = {
                "forward_image": (lambda: official.backbone.forward_image(image),
                                  lambda: ours.backbone.forward_image(image)),
                "grounding_text": (lambda: official_grounding(meta_bb, False), lambda: our_grounding(our_bb, False)),
                "grounding_text_box": (lambda: official_grounding(meta_bb, True), lambda: our_grounding(our_bb, True)),
                "full_forward": (official_full, our_full),
            }
            for key, (theirs, mine) in pairs.items():
                order = (("official", theirs), ("sam_core", mine))
                for who, fn in order if repeat % 2 == 0 else order[::-1]:
                    times[key][who].append(_ms(fn))
    report = {}
    for key, both in times.items():
        med = {who: statistics.median(v) for who, v in both.items()}
        paired = statistics.median(o / t for o, t in zip(both["sam_core"], both["official"], strict=True))
        report[key] = {"official_ms": round(med["official"], 2), "sam_core_ms": round(med["sam_core"], 2),
                       "official_min_ms": round(min(both["official"]), 2),
                       "sam_core_min_ms": round(min(both["sam_core"]), 2),
                       "ratio_of_medians": round(med["sam_core"] / med["official"], 3),
                       "median_paired_ratio": round(paired, 3)}
    print(json.dumps({"config": args.config, "threads": args.threads, "repeats": args.repeats, **report}, indent=2))


if __name__ == "__main__":
    main()
