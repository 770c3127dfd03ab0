"""Does an image encoder still know what colour an object is? A linear colour probe (SAM 2 -> SAM 3, §12).

"red car" needs colour. For every object of a probed noun (street: car; desk: mug, notebook, laptop; person:
shirt) with a `color` attribute, an encoder's features are averaged over the embedding-grid cells the object
covers at least half, and a linear classifier (ecosystem.fit_linear: multinomial logistic regression, L-BFGS)
predicts the colour, scored by k-fold cross-validation. The reference is the same probe on the object's mean
pixel colour (3 numbers): what a linear probe can do when the colour is kept.

    encoders = {"SAM 1 image encoder": sam1_feature_fn(sam1_model)}
    result = colour_probe(encoders, PROBED_NOUNS, scenes=40, first_seed=1_000_000)
    result["car"].accuracy["mean pixel colour"], result["car"].accuracy["SAM 1 image encoder"]

Used by the SAM 3 page and by `python -m benchmarks.attribute_probe`. Imports no Streamlit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lesson_content.ecosystem import fit_linear
from sam_core.scenes import render_scene

FeatureFn = Callable[[np.ndarray], torch.Tensor]  # uint8 image [H, W, 3] -> features [C, h, w]
PROBED_NOUNS = {"street": ("car",), "desk": ("mug", "notebook", "laptop"), "person": ("shirt",)}
PIXELS = "mean pixel colour"
FOLDS = 5  # cross-validation folds
MIN_OBJECTS = 20  # nouns with fewer probed objects (or a single colour) are left out


@dataclass(frozen=True)
class ColourProbe:
    noun: str
    objects: int
    colours: list[str]
    accuracy: dict[str, float]  # feature set -> cross-validated accuracy (PIXELS first)

    @property
    def chance(self) -> float:
        return 1.0 / len(self.colours)


def pooled_features(features: torch.Tensor, mask: np.ndarray) -> np.ndarray | None:
    """features [C, h, w], mask [H, W] bool -> [C], the mean over the cells at least half covered (None if none)."""
    cover = F.adaptive_avg_pool2d(torch.from_numpy(mask.astype(np.float32))[None, None], features.shape[-2:])[0, 0]
    cells = cover >= 0.5
    if not cells.any():
        return None
    return features[:, cells].mean(1).float().numpy()


def cross_validated_accuracy(x: np.ndarray, labels: list[str], folds: int = FOLDS, seed: int = 0) -> float:
    """k-fold accuracy of fit_linear on x [N, D] -> labels [N] (folds drawn from a seeded permutation)."""
    classes = sorted(set(labels))
    y = np.array([classes.index(c) for c in labels], dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    correct = 0
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        weight, bias, mean, std = fit_linear(x[train], y[train], len(classes), iterations=200)
        predicted = (torch.from_numpy((x[test] - mean) / std).float() @ weight + bias).argmax(1).numpy()
        correct += int((predicted == y[test]).sum())
    return correct / len(y)


def colour_probe(encoders: dict[str, FeatureFn], nouns: dict[str, tuple[str, ...]], scenes: int, first_seed: int,
                 size: int = 256) -> dict[str, ColourProbe]:
    """{noun: ColourProbe} over `scenes` scenes of each kind in `nouns` (seeds first_seed, first_seed + 1, ...)."""
    rows: dict[str, dict[str, list]] = {}
    with torch.inference_mode():
        for kind, probed in nouns.items():
            for seed in range(first_seed, first_seed + scenes):
                scene = render_scene(kind, seed, size)
                objects = [o for o in scene.objects if o.name in probed and "color" in o.attributes]
                if not objects:
                    continue
                maps = {name: fn(scene.image) for name, fn in encoders.items()}
                for obj in objects:
                    pooled = {name: pooled_features(m, obj.mask) for name, m in maps.items()}
                    if any(v is None for v in pooled.values()):
                        continue
                    row = rows.setdefault(obj.name, {"labels": [], PIXELS: [], **{name: [] for name in encoders}})
                    row["labels"].append(obj.attributes["color"])
                    row[PIXELS].append(scene.image[obj.mask].mean(0).astype(np.float64))
                    for name, v in pooled.items():
                        row[name].append(v)
    out = {}
    for noun, row in rows.items():
        colours = sorted(set(row["labels"]))
        if len(colours) < 2 or len(row["labels"]) < MIN_OBJECTS:
            continue
        accuracy = {name: cross_validated_accuracy(np.array(row[name]), row["labels"]) for name in (PIXELS, *encoders)}
        out[noun] = ColourProbe(noun, len(row["labels"]), colours, accuracy)
    return out


def sam1_feature_fn(model) -> FeatureFn:
    """A SAM 1 model's image embedding [256 or 128, 64 or 32, 64 or 32] of an image (resized as SamPredictor does)."""
    from sam_core.sam1.predictor import SamPredictor

    predictor = SamPredictor(model)

    def features(image: np.ndarray) -> torch.Tensor:
        predictor.set_image(image)
        return predictor.get_image_embedding()[0].cpu()

    return features


def sam3_trunk_feature_fn(model) -> FeatureFn:
    """A SAM 3 model's vision trunk output (before the neck) of an image at the model's resolution."""
    from sam_core.sam3.processor import preprocess_image

    trunk = model.backbone.vision_backbone.trunk
    resolution = int(getattr(model, "image_size", 0) or 1008)
    device = next(model.parameters()).device

    def features(image: np.ndarray) -> torch.Tensor:
        pixels, _, _ = preprocess_image(image, resolution, device)
        return trunk(pixels)[-1][0].float().cpu()

    return features


QUICK_INPUT_PX = 256  # on a CPU, only encoders with inputs this small run over dozens of scenes in seconds


def lesson_encoders(sam3_model, sam3_name: str, sam1_model, sam1_name: str, device: str
                    ) -> tuple[dict[str, FeatureFn], list[str]]:
    """The encoders the SAM 3 page probes: the loaded SAM 3's trunk and the loaded SAM 1's encoder, each only
    if it is quick here (input <= QUICK_INPUT_PX px, or an accelerator). Returns (encoders, notes on the
    ones left out)."""
    encoders: dict[str, FeatureFn] = {}
    notes: list[str] = []
    for label, model, name, size in (
        ("SAM 3 image trunk", sam3_model, sam3_name, getattr(sam3_model, "image_size", None)),
        ("SAM 1 image encoder", sam1_model, sam1_name, getattr(sam1_model, "img_size", None)),
    ):
        if model is None or size is None:
            continue
        if size > QUICK_INPUT_PX and device == "cpu":
            notes.append(f"{label} of {name} left out: its {size} px input would take minutes over these scenes "
                         "on a CPU")
            continue
        make = sam3_trunk_feature_fn if label.startswith("SAM 3") else sam1_feature_fn
        encoders[f"{label} ({name})"] = make(model)
    return encoders, notes
