"""SAM in the vision ecosystem (outline §14), computed on the loaded model: its frozen image features as a
backbone (a linear probe against raw pixels, and a feature-similarity map), and SAM as an annotation tool
(clicks per mask with the simulated annotator of the data engine).

    probe = feature_probe(model, kinds=("desk", "street"), train_per_kind=3, test_per_kind=2, first_seed=1_000_000)
    probe.sam.accuracy, probe.pixels.accuracy            # held-out cells labelled correctly
    sim = similarity_map(model, scene_a.image, (x, y), scene_b.image)   # cosine [grid, grid] per image
    cost = annotation_cost(model, "savanna", 1_000_000)  # clicks per object to IoU >= 0.9

SAM was trained without a single class name (its masks are class-agnostic), so a linear read-out that
recovers "car", "elephant", "apple" from its frozen embedding is evidence that the features carry what a
backbone needs. Scenes are held-out seeds (never seen in the embedded model's training). Imports no Streamlit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from sam_core.data_engine.annotator import TARGET_IOU, annotate_object
from sam_core.sam1.predictor import SamPredictor

from .scene_targets import gt_fraction_on_grid, load_scene

BACKGROUND = "background"
PROBE_SCENE_SIZE = 256  # the probe's scenes; the predictor resizes them to the model's input anyway
COVER = 0.5  # a cell is labelled with a class when that class covers at least half of it


# ---- cell labels ------------------------------------------------------------------------------------------------

def pixel_labels(scene) -> tuple[np.ndarray, list[str]]:
    """Per pixel, the class the lesson would name: the smallest object-level object covering it, else the
    smallest group (e.g. a person's head is "person"), else background. Returns (int [H, W], names)."""
    names = [BACKGROUND]
    labels = np.zeros(scene.image.shape[:2], dtype=np.int64)
    for level in ("group", "object"):  # objects painted last, so they win over their group
        for obj in sorted((o for o in scene.objects if o.level == level), key=lambda o: -o.area):
            if obj.name not in names:
                names.append(obj.name)
            labels[obj.mask] = names.index(obj.name)
    return labels, names


def cell_labels(scene, input_size: tuple[int, int], img_size: int, grid: int) -> list[str | None]:
    """One class name per embedding cell (row-major, grid * grid), or None where no class covers COVER."""
    labels, names = pixel_labels(scene)
    cover = np.stack([gt_fraction_on_grid(labels == i, input_size, img_size, grid) for i in range(len(names))])
    best = cover.argmax(0).ravel()
    share = cover.max(0).ravel()
    return [names[b] if s >= COVER else None for b, s in zip(best, share, strict=True)]


# ---- features -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SceneFeatures:
    kind: str
    seed: int
    sam: np.ndarray  # [grid * grid, C] the frozen image embedding, one row per cell
    pixels: np.ndarray  # [grid * grid, 3 * cell * cell] the raw RGB pixels of the same cells (the baseline)
    labels: list[str | None]
    grid: int
    encoder_ms: float


def scene_features(predictor: SamPredictor, kind: str, seed: int, size: int = PROBE_SCENE_SIZE) -> SceneFeatures:
    """Encode one scene once: embedding cells [grid * grid, C] and the same cells' raw pixels."""
    scene = load_scene(kind, int(seed), size)
    start = time.perf_counter()
    predictor.set_image(scene.image)
    embedding = predictor.get_image_embedding()[0]  # [C, grid, grid]
    encoder_ms = (time.perf_counter() - start) * 1000
    c, grid, _ = embedding.shape
    img_size = predictor.model.image_encoder.img_size
    h, w = predictor.input_size
    from PIL import Image

    resized = np.asarray(Image.fromarray(scene.image).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    padded = np.zeros((img_size, img_size, 3), dtype=np.float32)
    padded[:h, :w] = resized
    cell = img_size // grid
    patches = padded[: grid * cell, : grid * cell].reshape(grid, cell, grid, cell, 3).transpose(0, 2, 1, 3, 4)
    return SceneFeatures(kind, int(seed), embedding.permute(1, 2, 0).reshape(-1, c).float().cpu().numpy(),
                         patches.reshape(grid * grid, -1), cell_labels(scene, (h, w), img_size, grid), grid,
                         encoder_ms)


# ---- the linear probe ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeScore:
    features: str  # "SAM embedding" | "raw pixels"
    dims: int
    accuracy: float  # held-out cells whose class is predicted right
    balanced_accuracy: float  # the mean over classes of per-class recall (background does not dominate)
    recall: dict[str, float]  # per class, on held-out cells
    train_accuracy: float


@dataclass(frozen=True)
class ProbeResult:
    classes: list[str]
    train_cells: int
    test_cells: int
    train_scenes: list[tuple[str, int]]
    test_scenes: list[tuple[str, int]]
    grid: int
    sam: ProbeScore
    pixels: ProbeScore
    encoder_ms_median: float
    probe_s: float  # fitting both probes
    chance: float  # always answering the most common training class, on held-out cells


def fit_linear(x: np.ndarray, y: np.ndarray, classes: int, weight_decay: float = 1e-3,
                iterations: int = 60) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """Multinomial logistic regression (a linear layer + softmax cross-entropy, L2) fitted with L-BFGS on
    standardised features. Returns (weight [D, K], bias [K], mean [D], std [D])."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = torch.from_numpy((x - mean) / std).float()
    ys = torch.from_numpy(y)
    weight = torch.zeros(x.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ weight + bias, ys) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach(), mean, std


def _score(name: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
           classes: list[str]) -> ProbeScore:
    (x_train, y_train), (x_test, y_test) = train, test
    weight, bias, mean, std = fit_linear(x_train, y_train, len(classes))

    def predict(x: np.ndarray) -> np.ndarray:
        return (torch.from_numpy((x - mean) / std).float() @ weight + bias).argmax(1).numpy()

    predicted = predict(x_test)
    recall = {c: float((predicted[y_test == i] == i).mean()) for i, c in enumerate(classes) if (y_test == i).any()}
    return ProbeScore(name, int(x_train.shape[1]), float((predicted == y_test).mean()),
                      float(np.mean(list(recall.values()))), recall, float((predict(x_train) == y_train).mean()))


def _stack(scenes: list[SceneFeatures], attr: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows, ys = [], []
    for s in scenes:
        keep = [i for i, label in enumerate(s.labels) if label in classes]
        rows.append(getattr(s, attr)[keep])
        ys.extend(classes.index(s.labels[i]) for i in keep)
    return np.concatenate(rows), np.asarray(ys, dtype=np.int64)


def feature_probe(model, kinds: tuple[str, ...], train_per_kind: int, test_per_kind: int,
                  first_seed: int) -> ProbeResult:
    """Fit a linear classifier of cell class on frozen SAM features and, the baseline, on raw pixels of
    the same cells; train on `train_per_kind` scenes of each kind, score on the next `test_per_kind`."""
    predictor = SamPredictor(model)
    with torch.inference_mode():
        train = [scene_features(predictor, k, first_seed + i) for k in kinds for i in range(train_per_kind)]
        test = [scene_features(predictor, k, first_seed + train_per_kind + i) for k in kinds
                for i in range(test_per_kind)]
    seen = sorted({label for s in train for label in s.labels if label is not None})
    classes = [BACKGROUND] + [c for c in seen if c != BACKGROUND]
    start = time.perf_counter()
    scores = {attr: _score(name, _stack(train, attr, classes), _stack(test, attr, classes), classes)
              for attr, name in (("sam", "SAM embedding"), ("pixels", "raw pixels"))}
    probe_s = time.perf_counter() - start
    y_train = _stack(train, "sam", classes)[1]
    y_test = _stack(test, "sam", classes)[1]
    majority = int(np.bincount(y_train, minlength=len(classes)).argmax())
    return ProbeResult(classes, int(y_train.size), int(y_test.size), [(s.kind, s.seed) for s in train],
                       [(s.kind, s.seed) for s in test], train[0].grid, scores["sam"], scores["pixels"],
                       float(np.median([s.encoder_ms for s in train + test])), probe_s,
                       float((y_test == majority).mean()))


# ---- feature similarity ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimilarityMap:
    cell: tuple[int, int]  # (row, col) of the clicked cell on the query image's grid
    query: np.ndarray  # float [grid, grid]: cosine of every cell of the query image with the clicked cell
    other: np.ndarray  # float [grid, grid]: the same on the other image
    grid: int


def similarity_map(model, image: np.ndarray, click: tuple[int, int], other: np.ndarray) -> SimilarityMap:
    """Cosine similarity of the clicked cell's embedding vector with every cell of `image` and `other`."""
    predictor = SamPredictor(model)
    with torch.inference_mode():
        predictor.set_image(image)
        a = predictor.get_image_embedding()[0].float()
        scale = predictor.model.image_encoder.img_size / max(image.shape[:2])
        grid = a.shape[-1]
        cell_px = predictor.model.image_encoder.img_size / grid
        row = min(int(click[1] * scale / cell_px), grid - 1)
        col = min(int(click[0] * scale / cell_px), grid - 1)
        predictor.set_image(other)
        b = predictor.get_image_embedding()[0].float()
    q = torch.nn.functional.normalize(a[:, row, col], dim=0)

    def cosine(e: torch.Tensor) -> np.ndarray:
        return torch.einsum("c,chw->hw", q, torch.nn.functional.normalize(e, dim=0)).cpu().numpy()

    return SimilarityMap((row, col), cosine(a), cosine(b), grid)


# ---- SAM as an annotation tool --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectCost:
    name: str
    area: int
    clicks: int
    iou: float
    reached: bool


@dataclass(frozen=True)
class AnnotationCost:
    kind: str
    seed: int
    objects: list[ObjectCost]
    target_iou: float
    seconds: float  # the model's time for all of them here

    @property
    def clicks_per_mask(self) -> float:
        return float(np.mean([o.clicks for o in self.objects])) if self.objects else float("nan")

    @property
    def reached_share(self) -> float:
        return float(np.mean([o.reached for o in self.objects])) if self.objects else float("nan")


def annotation_cost(model, kind: str, seed: int, size: int = PROBE_SCENE_SIZE) -> AnnotationCost:
    """The simulated annotator labels every object-level object of one scene with the model's help."""
    scene = load_scene(kind, int(seed), size)
    predictor = SamPredictor(model)
    start = time.perf_counter()
    with torch.inference_mode():
        predictor.set_image(scene.image)
        rows = []
        for obj in (o for o in scene.objects if o.level == "object"):
            result = annotate_object(predictor, obj.mask)
            rows.append(ObjectCost(obj.name, obj.area, result.clicks, result.iou, result.reached))
    return AnnotationCost(kind, int(seed), rows, TARGET_IOU, time.perf_counter() - start)


def heat_overlay(image: np.ndarray, values: np.ndarray, alpha: float = 0.6, lo: float = 0.0,
                 hi: float = 1.0) -> np.ndarray:
    """The image (uint8 [H, W, 3]) with a [grid, grid] map in viridis blended over it, cell by cell.
    Assumes the square scene fills the encoder's padded input (true for the lesson's square scenes)."""
    from matplotlib import colormaps

    h, w = image.shape[:2]
    scaled = np.clip((np.asarray(values, dtype=np.float64) - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
    colours = (colormaps["viridis"](scaled)[..., :3] * 255).astype(np.float32)
    rows = np.minimum((np.arange(h) * values.shape[0]) // h, values.shape[0] - 1)
    cols = np.minimum((np.arange(w) * values.shape[1]) // w, values.shape[1] - 1)
    up = colours[rows][:, cols]
    return (image.astype(np.float32) * (1 - alpha) + up * alpha).astype(np.uint8)


FOUNDATION_MODELS: tuple[dict[str, str], ...] = (
    {"model": "GPT", "pretraining data": "web-scale text", "pretraining task": "predict the next token",
     "prompt": "text", "one model for": "language tasks"},
    {"model": "CLIP / SigLIP", "pretraining data": "image-caption pairs", "pretraining task":
     "match images with their captions (contrastive)", "prompt": "an image or a text", "one model for":
     "vision-language alignment"},
    {"model": "SAM", "pretraining data": "SA-1B: images with masks from the data engine", "pretraining task":
     "predict the mask a prompt asks for (focal + dice)", "prompt": "points, boxes, masks (SAM 3: phrases)",
     "one model for": "segmentation"},
)


def similarity_map_for_scenes(model, kind: str, seed: int, click: tuple[int, int]) -> SimilarityMap:
    """similarity_map on two held-out scenes of `kind`: seed (clicked) and seed + 1."""
    a = load_scene(kind, int(seed), PROBE_SCENE_SIZE)
    b = load_scene(kind, int(seed) + 1, PROBE_SCENE_SIZE)
    return similarity_map(model, a.image, click, b.image)
