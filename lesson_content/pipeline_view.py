"""Putting it together: one click traced end to end with timings, the prompt types, multi-mask output
against the ground truth, zero-shot on a photograph, and the sky (the negative example).

Each function takes the (shared, never modified) model, makes its OWN SamPredictor, and returns plain
numpy, so the page can cache the result for every session. Imports no Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sam_core.masks import interior_point, mask_iou

from . import scene_targets as targets
from .live_trace import TracedPrediction, traced_predict


def _predictor(model):
    from sam_core.sam1.predictor import SamPredictor

    return SamPredictor(model)


# ---- one click, end to end -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    name: str
    what: str
    shapes: str
    ms: float


def end_to_end(model, image: np.ndarray, click: tuple[int, int]) -> tuple[list[Step], TracedPrediction]:
    """set_image + one click, all inside one trace: each stage with its shapes and measured time."""
    predictor = _predictor(model)
    run = traced_predict(predictor, points=[click], labels=[1], image=image)
    emb = tuple(predictor.get_image_embedding().shape)
    sparse = run.shape("prompt.sparse_embeddings") if "prompt.sparse_embeddings" in run.records else ()
    dense = run.shape("prompt.dense_embeddings") if "prompt.dense_embeddings" in run.records else ()

    def dims(shape) -> str:
        return " × ".join(str(v) for v in shape)

    h, w = run.original_size
    ih, iw = run.input_size
    steps = [
        Step("image encoder", "resize the longest side, pad, run the image encoder (once per image)",
             f"[{h} × {w} × 3] → [{ih} × {iw}] padded to [{run.img_size} × {run.img_size}] → [{dims(emb)}]",
             run.timings_ms.get("image_encoder", float("nan"))),
        Step("prompt encoder", "the click → Fourier features + a learned foreground vector; no mask → a learned dense vector",
             f"click → sparse [{dims(sparse)}], dense [{dims(dense)}]", run.timings_ms.get("prompt_encoder", float("nan"))),
        Step("mask decoder", "two-way transformer, upscaling, hypernetwork dot products, IoU head",
             f"tokens [{dims(run.shape('decoder.tokens_in'))}] → logits [{dims(run.low_res.shape)}], "
             f"IoU [{len(run.scores)}]", run.timings_ms.get("mask_decoder", float("nan"))),
        Step("post-processing", "upsample the logits to the image, threshold at 0",
             f"[{dims(run.low_res.shape)}] → masks [{dims(run.masks.shape)}]", run.timings_ms.get("postprocess", float("nan"))),
    ]
    return steps, run


# ---- prompt types -------------------------------------------------------------------------------------------

@dataclass
class PromptCase:
    title: str
    points: list[tuple[int, int]]
    labels: list[int]
    box: tuple[int, int, int, int] | None
    used_mask_input: bool
    mask: np.ndarray  # bool [H, W]: the best (or only) mask
    score: float  # its predicted IoU
    iou: float  # its IoU with the target
    low_res: np.ndarray = field(repr=False, default=None)  # [S, S] low-res logits of that mask
    single_iou: float | None = None  # several points: the actual IoU of the single-mask output (mask token 0)
    single_score: float | None = None  # ... and its predicted IoU


def background_point(scene, target) -> tuple[int, int] | None:
    """A pixel that is NOT the target but close to it: inside its parent (the saucer under the mug),
    else just outside its bounding box."""
    if target.parent is not None:
        rest = scene.objects[target.parent].mask & ~target.mask
        if rest.sum() >= 9:
            return interior_point(rest)
    x0, y0, x1, y1 = target.bbox
    h, w = target.mask.shape
    for x, y in ((x1 + 4, (y0 + y1) // 2), (x0 - 5, (y0 + y1) // 2), ((x0 + x1) // 2, y1 + 4)):
        if 0 <= x < w and 0 <= y < h and not target.mask[y, x]:
            return (int(x), int(y))
    return None


def prompt_cases(model, scene, target, click: tuple[int, int] | None = None) -> list[PromptCase]:
    """The same object four ways: a point (`click`, else the target's most interior pixel); points
    (foreground + background); a box; and the first answer fed back as mask_input (refinement).

    Every case keeps the best of SAM's three masks by predicted IoU. Meta's predictor returns the single
    mask (token 0) for several points; that answer is kept beside it (`single_iou`), since a small model's
    single-mask token can be much weaker than its best multimask answer."""
    predictor = _predictor(model)
    predictor.set_image(np.ascontiguousarray(scene.image))
    fg = tuple(int(v) for v in click) if click is not None else interior_point(target.mask)
    cases: list[PromptCase] = []

    def predict(points, labels, box, mask_input, multimask):
        return predictor.predict(
            point_coords=np.asarray(points, dtype=np.float32) if points else None,
            point_labels=np.asarray(labels, dtype=np.int64) if points else None,
            box=np.asarray(box, dtype=np.float32) if box is not None else None,
            mask_input=mask_input, multimask_output=multimask)

    def add(title, points, labels, box=None, mask_input=None, multimask=True, with_single=False):
        masks, scores, low = predict(points, labels, box, mask_input, multimask)
        best = int(np.argmax(scores))
        single_iou = single_score = None
        if with_single:
            one, one_score, _ = predict(points, labels, box, mask_input, False)
            single_iou, single_score = mask_iou(one[0], target.mask), float(one_score[0])
        cases.append(PromptCase(title, list(points), list(labels), box, mask_input is not None, masks[best],
                                float(scores[best]), mask_iou(masks[best], target.mask), low[best],
                                single_iou, single_score))

    add("one foreground point", [fg], [1])
    bg = background_point(scene, target)
    if bg is not None:
        add("+ a background point", [fg, bg], [1, 0], with_single=True)
    x0, y0, x1, y1 = target.bbox
    add("a box", [], [], box=(x0, y0, x1 - 1, y1 - 1), with_single=True)
    add("the point again, with the first answer as mask_input", [fg], [1], mask_input=cases[0].low_res[None],
        with_single=True)
    return cases


# ---- multi-mask output against the ground truth --------------------------------------------------------------

@dataclass
class MultiMask:
    click: tuple[int, int]
    run: TracedPrediction
    targets: list  # SceneObjects at the click, smallest first
    iou: np.ndarray  # [3 masks, len(targets)]
    matches: list  # scene_targets.Match per mask


def multimask(model, scene, click: tuple[int, int]) -> MultiMask:
    predictor = _predictor(model)
    run = traced_predict(predictor, points=[click], labels=[1], image=scene.image)
    hits = scene.targets_at(*click)
    table = targets.iou_table(run.masks, hits)
    return MultiMask(click, run, hits, table, targets.best_matches(table))


# ---- zero-shot and the sky ------------------------------------------------------------------------------------

def single_click(model, image: np.ndarray, click: tuple[int, int]) -> TracedPrediction:
    """Three masks for one click on any image (a photograph, the sky)."""
    return traced_predict(_predictor(model), points=[click], labels=[1], image=image)


def coverage(mask: np.ndarray) -> float:
    mask = np.asarray(mask, dtype=bool)
    return float(mask.sum() / mask.size)
