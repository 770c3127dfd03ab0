"""Benchmark (not a test): can the embedded SAM 3 tell "red car" from "blue car"? Presence by colour phrase.

    python -m benchmarks.colour_phrases [--checkpoint W] [--scenes 40] [--threads 2]

On held-out scenes of the probed kinds (lesson_content.colour_probe.PROBED_NOUNS), every training phrase
"<colour> <noun>" of a probed noun is asked; the presence probability sigma(presence_logit) is split by
whether the scene has such an object. Reported per noun: the AUC of presence (present vs absent: 0.5 =
colour-blind, 1.0 = always ranks a present colour above an absent one), the mean presence each way, and
the image-level accuracy of "any detection above 0.5" (what the page shows).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from lesson_content.colour_probe import PROBED_NOUNS
from sam_core.scenes import HELD_OUT_SEED, render_scene
from sam_core.scenes.concepts import NOUN_PHRASES, TRAIN_PHRASES, scene_concepts


def colour_phrases(noun: str) -> list[str]:
    """The training phrases "<colour> <noun phrase>" (one attribute word before the noun phrase)."""
    base = NOUN_PHRASES[noun]
    return [p for p in TRAIN_PHRASES if p.endswith(" " + base) and len(p.split()) == len(base.split()) + 1]


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a present phrase's score > an absent one's), ties counted half (Mann-Whitney)."""
    if not positive or not negative:
        return float("nan")
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


def measure(checkpoint: str | None, scenes: int, first_seed: int = HELD_OUT_SEED) -> dict:
    from sam_core.sam3.nano import NANO_RESOLUTION, NANO_SAM3_WEIGHTS, build_sam3_nano
    from sam_core.sam3.processor import Sam3Processor

    processor = Sam3Processor(build_sam3_nano(checkpoint or NANO_SAM3_WEIGHTS), resolution=NANO_RESOLUTION)
    report = {}
    for kind, nouns in PROBED_NOUNS.items():
        rows = {noun: {"present": [], "absent": [], "hits": 0, "asked": 0} for noun in nouns}
        for seed in range(first_seed, first_seed + scenes):
            scene = render_scene(kind, seed)
            present = scene_concepts(scene).present
            state = processor.set_image(scene.image)
            for noun in nouns:
                for phrase in colour_phrases(noun):
                    out = processor.set_text_prompt(phrase, state)
                    presence = float(out["outputs"]["presence_logit_dec"].sigmoid().reshape(-1)[0])
                    is_present = phrase in present
                    rows[noun]["present" if is_present else "absent"].append(presence)
                    rows[noun]["hits"] += int((len(out["scores"]) > 0) == is_present)
                    rows[noun]["asked"] += 1
        for noun, r in rows.items():
            report[noun] = {"auc": round(auc(r["present"], r["absent"]), 3), "phrases": len(colour_phrases(noun)),
                            "presence_when_present": round(float(np.mean(r["present"])), 3) if r["present"] else None,
                            "presence_when_absent": round(float(np.mean(r["absent"])), 3) if r["absent"] else None,
                            "image_accuracy": round(r["hits"] / max(1, r["asked"]), 3)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a sam3_nano .safetensors (default: the committed one)")
    parser.add_argument("--scenes", type=int, default=40, help="held-out scenes per kind")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with torch.inference_mode():
        print(json.dumps(measure(args.checkpoint, args.scenes), indent=1))


if __name__ == "__main__":
    main()
