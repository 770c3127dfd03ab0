"""Is the nano SAM 2 using its memory? `python -m sam_core.training.video.diagnose WEIGHTS [WEIGHTS ...]`

Runs training clips (seeded, the training distribution: frame 0 prompted, frames 1..T-1 tracked, no
correction clicks) through a sam2_nano checkpoint and reports, over the tracked frames:

- `attention_entropy`: the last memory-attention layer's cross-attention entropy over the bank, as a
  fraction of the uniform spread's (log of the number of memory tokens). Near 1: a blur of the whole
  bank, which cannot say *where* the object is.
- `largest_weight`: the mean (over queries) of the largest attention weight.
- `object_difference`: with 2 objects in a clip, ||F_1 - F_2|| / ||F_1|| of their memory-conditioned
  features (the frame is the same, only the memories differ). Near 0: the memory changes nothing.
- `empty_masks`: the fraction of visible tracked objects predicted as an empty mask.
- `j_tracked`: mean J on visible tracked frames.

This is how the flat start of stage 2 was diagnosed (the model card of assets/models/sam2_nano).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import torch
import torch.nn.functional as F

from sam_core.sam2.sam2_base import SAM2Base
from sam_core.tracing import trace
from sam_core.training.video.clips import Clip, sample_clip
from sam_core.training.video.episode import frame_step

DIAGNOSIS_SEED = 123


def _cross_attention_name(model: SAM2Base) -> str:
    return f"memory_attention.layer{len(model.memory_attention.layers) - 1}.cross_attn"


def clip_memory_use(model: SAM2Base, clip: Clip) -> dict[str, list[float]]:
    """Per tracked frame (and object) measurements of one clip; see the module docstring."""
    name = _cross_attention_name(model)
    out: dict[str, list[float]] = {k: [] for k in ("attention_entropy", "largest_weight", "object_difference",
                                                   "empty_masks", "j_tracked")}
    num_frames, b = clip.images.shape[0], clip.masks.shape[0]
    with torch.no_grad():
        _, feats_levels, pos_levels, sizes = model._prepare_backbone_features(model.forward_image(clip.images))
        feats_all, pos_all, size = feats_levels[-1], pos_levels[-1], sizes[-1]
        bank: dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        for t in range(num_frames):
            feats, pos = feats_all[:, t : t + 1].expand(-1, b, -1), pos_all[:, t : t + 1].expand(-1, b, -1)
            if t == 0:
                entry, *_ = frame_step(model, 0, True, feats, pos, size, clip.point_inputs, clip.mask_inputs, bank,
                                       num_frames)
                bank["cond_frame_outputs"][0] = entry
                continue
            with trace(only=(name,)) as tr:
                entry, *_ = frame_step(model, t, False, feats, pos, size, None, None, bank, num_frames)
            weights = tr.records[name][:, 0]  # B x queries x memory tokens (1 head)
            entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1).mean()
            out["attention_entropy"].append(float(entropy / math.log(weights.shape[-1])))
            out["largest_weight"].append(float(weights.max(-1).values.mean()))
            if b == 2:
                conditioned = model._prepare_memory_conditioned_features(t, False, [feats], [pos], [size], bank,
                                                                         num_frames)
                out["object_difference"].append(float((conditioned[0] - conditioned[1]).norm() /
                                                       conditioned[0].norm()))
            bank["non_cond_frame_outputs"][t] = entry
            pred = F.interpolate(entry["pred_masks"], size=clip.masks.shape[-2:], mode="bilinear",
                                 align_corners=False)[:, 0] > 0
            truth = clip.masks[:, t, 0]
            for i in range(b):
                if clip.visible[i, t]:
                    union = int((pred[i] | truth[i]).sum())
                    out["empty_masks"].append(float(pred[i].sum() == 0))
                    out["j_tracked"].append(float((pred[i] & truth[i]).sum()) / max(union, 1))
    return out


def memory_use(model: SAM2Base, clips: int = 6, seed: int = DIAGNOSIS_SEED, frames: int = 8) -> dict[str, float]:
    """clip_memory_use averaged over `clips` seeded training clips (2 objects where the scene has them)."""
    model.eval()
    totals: dict[str, list[float]] = {}
    for s in range(clips):
        rng = np.random.default_rng([seed, s])
        clip = sample_clip(rng, torch.Generator().manual_seed(s), frames, 2)
        for key, values in clip_memory_use(model, clip).items():
            totals.setdefault(key, []).extend(values)
    summary = {key: round(float(np.mean(values)), 4) if values else float("nan") for key, values in totals.items()}
    summary["tracked_frames"] = len(totals["attention_entropy"])
    return summary


def main(argv: list[str] | None = None) -> int:
    from sam_core.sam2.nano import NanoSAM2Base, build_sam2_nano

    parser = argparse.ArgumentParser(prog="python -m sam_core.training.video.diagnose", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="+", help="sam2_nano .safetensors files")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--seed", type=int, default=DIAGNOSIS_SEED)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for path in args.weights:
        model = build_sam2_nano(path, model_class=NanoSAM2Base)
        print(json.dumps({"weights": path, **memory_use(model, args.clips, args.seed)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
