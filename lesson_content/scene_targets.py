"""Clicks and ground truth on the generated scenes: where to click, and how well a mask matches.

The traced-example config names a scene (kind, seed) and an object by name ("mug", "button"), never a
pixel: the scene generator places objects by seed, so the click is derived from the ground truth
(the object's most interior pixel, or a pixel on the boundary between two objects).

    scene = load_scene("desk", 0)
    x, y = sam_core.masks.interior_point(first(scene, "handle").mask)
    table = iou_table(masks, scene.targets_at(x, y))    # [n_masks, n_targets]

IoU and the interior click come from sam_core.masks (one convention for training, evaluation and pages).

Imports no Streamlit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from sam_core.masks import iou_matrix

SCENE_SIZE = 512  # rendered side in pixels; the predictor resizes to the model's input anyway


@functools.lru_cache(maxsize=16)
def load_scene(kind: str, seed: int, size: int = SCENE_SIZE):
    """sam_core.scenes.render_scene, cached (deterministic: same kind, seed, size -> same scene)."""
    from sam_core.scenes import render_scene

    scene = render_scene(kind, int(seed), size=size)
    scene.image.flags.writeable = False
    return scene


def first(scene, name: str):
    """The first object called `name` in the scene, or None."""
    found = scene.find(name)
    return found[0] if found else None


def largest_object(scene):
    """The scene's largest object-level segment (else its largest segment of any level), None if empty."""
    objects = [o for o in scene.objects if o.level == "object"] or list(scene.objects)
    return max(objects, key=lambda o: o.area) if objects else None


def target_or_largest(scene, name: str):
    """The object the config names, else the scene's largest object (a seed without one), else None."""
    return first(scene, name) or largest_object(scene)


def _nearest_to_centroid(mask: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(mask)
    cy, cx = rows.mean(), cols.mean()
    i = int(np.argmin((rows - cy) ** 2 + (cols - cx) ** 2))
    return int(cols[i]), int(rows[i])


def boundary_point(mask_a: np.ndarray, mask_b: np.ndarray) -> tuple[int, int] | None:
    """(x, y) of a pixel of `mask_a` that touches `mask_b` (4-neighbours), in the middle of the contact
    line; None when the two do not touch. The click that is ambiguous between the two objects."""
    a = np.asarray(mask_a, dtype=bool) & ~np.asarray(mask_b, dtype=bool)
    b = np.asarray(mask_b, dtype=bool)
    near_b = np.zeros_like(b)
    near_b[1:, :] |= b[:-1, :]
    near_b[:-1, :] |= b[1:, :]
    near_b[:, 1:] |= b[:, :-1]
    near_b[:, :-1] |= b[:, 1:]
    contact = a & near_b
    if not contact.any():
        return None
    return _nearest_to_centroid(contact)


def iou_table(masks: np.ndarray, targets) -> np.ndarray:
    """IoU of every predicted mask [C, H, W] against every ground-truth object: [C, len(targets)]."""
    return iou_matrix(masks, [t.mask for t in targets])


@dataclass(frozen=True)
class Match:
    """Which ground-truth segment a predicted mask matches best."""

    mask_index: int
    target_index: int  # index into the targets list, -1 when no target overlaps at all
    iou: float


def best_matches(table: np.ndarray) -> list[Match]:
    """For each predicted mask (row), the ground-truth target (column) with the highest IoU."""
    out = []
    for i, row in enumerate(table):
        if row.size == 0 or row.max() <= 0:
            out.append(Match(i, -1, 0.0))
        else:
            j = int(np.argmax(row))
            out.append(Match(i, j, float(row[j])))
    return out


def gt_fraction_on_grid(mask: np.ndarray, input_size: tuple[int, int], img_size: int, grid: int) -> np.ndarray:
    """The share of each cell of the encoder's grid x grid embedding that a ground-truth mask covers.

    The predictor resizes the image to `input_size` (longest side img_size) and pads bottom/right to
    img_size x img_size; the embedding's grid cells tile that padded square. Returns float [grid, grid].
    """
    from PIL import Image

    h, w = input_size
    resized = np.asarray(Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR),
                         dtype=np.float64) / 255.0
    padded = np.zeros((img_size, img_size))
    padded[:h, :w] = resized
    cell = img_size // grid
    return padded[: grid * cell, : grid * cell].reshape(grid, cell, grid, cell).mean(axis=(1, 3))
