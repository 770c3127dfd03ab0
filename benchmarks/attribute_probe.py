"""Benchmark (not a test): do the embedded models' image encoders still say what colour an object is?

    python -m benchmarks.attribute_probe [--scenes 60] [--sam3-checkpoint PATH] [--json]

The linear colour probe of lesson_content/colour_probe.py (5-fold cross-validation; nouns: car, mug, notebook,
laptop, shirt), on the mean pixel colour, the embedded SAM 3's image trunk (a copy of the nano SAM's image
encoder, frozen or fine-tuned in concept training) and the embedded SAM 1's image encoder. Chance is
1 / (number of colours). A trunk far below the mean pixel colour has lost colour, and no head on top of it
can tell "red car" from "blue car".
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch

from lesson_content.colour_probe import (
    PROBED_NOUNS,
    colour_probe,
    sam1_feature_fn,
    sam3_trunk_feature_fn,
)
from sam_core.scenes.splits import HELD_OUT_SEED


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", type=int, default=60, help="scenes per kind (street, desk, person)")
    p.add_argument("--first-seed", type=int, default=HELD_OUT_SEED)
    p.add_argument("--sam3-checkpoint", default=None, help="a sam3_nano .safetensors (default: the committed one)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from sam_core.sam1.build import build_sam
    from sam_core.sam3.build import build_sam3

    encoders = {"SAM 3 nano trunk": sam3_trunk_feature_fn(build_sam3("nano", args.sam3_checkpoint, device="cpu").eval()),
                "SAM 1 nano encoder": sam1_feature_fn(build_sam("nano", device="cpu").eval())}
    result = colour_probe(encoders, PROBED_NOUNS, args.scenes, args.first_seed)
    if args.json:
        print(json.dumps({noun: dataclasses.asdict(r) | {"chance": round(r.chance, 3)} for noun, r in result.items()}))
    else:
        for noun, r in result.items():
            print(f"{noun:9s} {r.objects:4d} objects, {len(r.colours)} colours (chance {r.chance:.3f}): "
                  + ", ".join(f"{name} {acc:.3f}" for name, acc in r.accuracy.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
