"""Benchmark (not a test): do an image encoder's features still say what colour an object is?

    python -m benchmarks.attribute_probe [--scenes 120] [--sam3-checkpoint PATH] [--json]

"red car" needs colour. For every object of `--scenes` held-out scenes per noun (street: car; desk: mug,
notebook, laptop; person: shirt, by the scene's `color` attribute), the features are averaged over the
embedding-grid cells the object covers (cells >= half covered), and a linear classifier (multinomial logistic
regression, L-BFGS, small L2) predicts the colour, scored by 5-fold cross-validation. Feature sets:
- `sam3_trunk`: the embedded SAM 3's image trunk (a copy of the nano SAM's image encoder, frozen or fine-tuned
  in concept training), [128, 32, 32];
- `sam1_encoder`: the embedded SAM 1's image encoder (`assets/models/nano`), [128, 32, 32];
- `mean_rgb`: the object's mean pixel colour, 3 numbers: the reference for what a linear probe can do.
Chance is about 1 / (number of colours). A trunk far below `mean_rgb` has lost colour, and no head on top of
it can tell "red car" from "blue car".
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from sam_core.scenes import render_scene
from sam_core.scenes.splits import HELD_OUT_SEED

PROBED = {"street": ("car",), "desk": ("mug", "notebook", "laptop"), "person": ("shirt",)}


def pooled_features(features: torch.Tensor, mask: np.ndarray) -> np.ndarray | None:
    """features [C, h, w], mask [H, W] bool -> [C], the mean over the cells at least half covered (None if none)."""
    cover = F.adaptive_avg_pool2d(torch.from_numpy(mask.astype(np.float32))[None, None], features.shape[-2:])[0, 0]
    cells = cover >= 0.5
    if not cells.any():
        return None
    return features[:, cells].mean(1).numpy()


def probe_accuracy(x: np.ndarray, labels: list[str], folds: int = 5, seed: int = 0) -> float:
    """5-fold accuracy of a multinomial logistic regression on standardised x [N, D] -> labels [N]."""
    classes = sorted(set(labels))
    y = np.array([classes.index(c) for c in labels])
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    order = np.random.default_rng(seed).permutation(len(y))
    correct = 0
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        xt, yt = torch.tensor(x[train], dtype=torch.float32), torch.tensor(y[train])
        weight = torch.zeros(x.shape[1], len(classes), requires_grad=True)
        bias = torch.zeros(len(classes), requires_grad=True)
        opt = torch.optim.LBFGS([weight, bias], max_iter=200)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(xt @ weight + bias, yt) + 1e-3 * weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            pred = (torch.tensor(x[test], dtype=torch.float32) @ weight + bias).argmax(1).numpy()
        correct += int((pred == y[test]).sum())
    return correct / len(y)


def encoders(sam3_checkpoint: str | None) -> dict:
    """name -> function(image uint8 [H, W, 3]) -> features [C, h, w]."""
    from sam_core.sam1.build import build_sam
    from sam_core.sam3.build import build_sam3
    from sam_core.sam3.processor import preprocess_image

    sam3 = build_sam3("nano", sam3_checkpoint, device="cpu").eval()
    sam1 = build_sam("nano", device="cpu").eval()
    trunk = sam3.backbone.vision_backbone.trunk

    def sam3_trunk(image):
        pixels, _, _ = preprocess_image(image, image.shape[0], "cpu")
        return trunk(pixels)[-1][0]

    def sam1_encoder(image):
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        return sam1.image_encoder(sam1.preprocess(pixels))[0]

    return {"sam3_trunk": sam3_trunk, "sam1_encoder": sam1_encoder}


def measure(scenes: int, first_seed: int = HELD_OUT_SEED, size: int = 256, sam3_checkpoint: str | None = None) -> dict:
    """{noun: {"objects", "colours", "chance", "<feature set>": accuracy, ...}} over `scenes` scenes per kind."""
    feats = encoders(sam3_checkpoint)
    rows: dict[str, dict[str, list]] = {}
    with torch.no_grad():
        for kind, nouns in PROBED.items():
            for seed in range(first_seed, first_seed + scenes):
                scene = render_scene(kind, seed, size)
                maps = {name: f(scene.image) for name, f in feats.items()}
                for obj in scene.objects:
                    if obj.name not in nouns or "color" not in obj.attributes:
                        continue
                    pooled = {name: pooled_features(m, obj.mask) for name, m in maps.items()}
                    if any(v is None for v in pooled.values()):
                        continue
                    row = rows.setdefault(obj.name, {"labels": [], "mean_rgb": [], **{n: [] for n in feats}})
                    row["labels"].append(obj.attributes["color"])
                    row["mean_rgb"].append(scene.image[obj.mask].mean(0))
                    for name, v in pooled.items():
                        row[name].append(v)
    out = {}
    for noun, row in rows.items():
        colours = sorted(set(row["labels"]))
        if len(colours) < 2 or len(row["labels"]) < 20:
            continue
        out[noun] = {"objects": len(row["labels"]), "colours": colours, "chance": round(1 / len(colours), 3),
                     **{name: round(probe_accuracy(np.array(row[name]), row["labels"]), 3)
                        for name in ("mean_rgb", *feats)}}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", type=int, default=120, help="scenes per kind (street, desk, person)")
    p.add_argument("--first-seed", type=int, default=HELD_OUT_SEED)
    p.add_argument("--sam3-checkpoint", default=None, help="a sam3_nano .safetensors (default: the committed one)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = measure(args.scenes, args.first_seed, sam3_checkpoint=args.sam3_checkpoint)
    if args.json:
        print(json.dumps(result))
    else:
        for noun, r in result.items():
            print(f"{noun:9s} {r['objects']:4d} objects, {len(r['colours'])} colours (chance {r['chance']}): "
                  + ", ".join(f"{k} {r[k]}" for k in ("mean_rgb", "sam3_trunk", "sam1_encoder")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
