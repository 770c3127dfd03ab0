"""Procedural scenes: the training data of the embedded SAM and the lesson's examples.

API
---
- ``SCENE_KINDS = ("desk", "person", "street", "orchard", "savanna", "sky")``
- ``render_scene(kind, seed, size=256) -> Scene``: a deterministic (same kind + seed + size -> same
  pixels and masks) square RGB scene, numpy + PIL only, about 2-5 ms at 256 px on an idle 2-core CPU
  (the first call per size builds the cached noise bank: ~0.1 s at 256, ~2 s at 1024).
- ``Scene``: ``kind``, ``seed``, ``image`` (uint8 [H, W, 3] RGB), ``objects`` (list of ``SceneObject``);
  ``targets_at(x, y)`` every object whose mask contains pixel (x=col, y=row), smallest first;
  ``find(name)`` all objects with that name; ``size``; ``index_of(obj)``.
- ``SceneObject``: ``name`` ("mug", "handle", "apple", ...), ``phrase`` ("white coffee mug",
  "ripe apple"), ``level`` in {"part", "object", "group"}, ``mask`` bool [H, W] (the VISIBLE pixels
  after occlusion), ``parent`` (index into ``objects`` of the enclosing object, or None),
  ``attributes`` (dict, e.g. {"color": "red"} or {"ripeness": "ripe", "color": "red"}); ``area``, ``bbox``.

Hierarchy: a child's mask is always a subset of its parent's (part <= object <= group); objects with
fewer than ~12 visible pixels at the requested size are dropped (with their descendants).

Scenes
------
- desk: "laptop" (parts "screen", "keyboard"), "mug_saucer" (group) > "mug" (object; body + handle) >
  "handle" (part), and "saucer"; "notebook", "pen"; wooden desk, wall.
- person: "person" (group) > "shirt" (object) > "button" (3-5 parts); "head", "arm", "leg" parts of the
  person; a room behind.
- street: "road", "kerb", "tree" (> "trunk"), 2-5 "car"s ("red car", ...; parts "window", "wheel")
  that may occlude one another.
- orchard: "tree" (group) > "trunk", "leaf" parts and "apple" objects; apples are ripe (red), unripe
  (green) or damaged (brown spots): phrases "ripe apple" / "unripe apple" / "damaged apple",
  attributes {"ripeness": ...}; every orchard scene has at least one of each (some may be occluded).
- savanna: 2-4 "elephant"s (parts "ear", "trunk") on grass, sometimes an acacia "tree" (> "trunk":
  the name is shared with the elephant's trunk, the phrases differ); some overlap.
- sky: gradients and clouds, no objects (the negative example: no object boundaries).

How it is drawn (see ``canvas.py``): materials painted back to front into a 2x label map with PIL,
reduced by majority vote; masks come from the label map and the image is shaded from it (colour,
gradients, value-noise textures from a cached bank, anti-aliased edges, sensor noise), so image and
masks agree exactly. ``python -m sam_core.scenes.preview --out DIR`` writes a contact sheet.

Splits (``splits.py``, re-exported here): ``HELD_OUT_SEED`` (training seeds are below it, evaluation
seeds from it up), ``TRAIN_KINDS`` (every kind but sky) and ``LEVELS`` ("part", "object", "group").
"""

from __future__ import annotations

import zlib

import numpy as np

from .base import Scene, SceneObject
from .canvas import Canvas
from .desk import draw_desk
from .orchard import draw_orchard
from .person import draw_person
from .savanna import draw_savanna
from .sky import draw_sky
from .street import draw_street

SCENE_KINDS = ("desk", "person", "street", "orchard", "savanna", "sky")

_DRAW = {"desk": draw_desk, "person": draw_person, "street": draw_street, "orchard": draw_orchard,
         "savanna": draw_savanna, "sky": draw_sky}


def render_scene(kind: str, seed: int, size: int = 256) -> Scene:
    """Render scene `kind` (one of SCENE_KINDS) for `seed` as a size x size RGB image with its objects."""
    if kind not in _DRAW:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {SCENE_KINDS}")
    size = int(size)
    if size < 16:
        raise ValueError("size must be at least 16")
    salt = zlib.crc32(kind.encode())
    rng = np.random.default_rng([salt, int(seed) & 0xFFFFFFFFFFFFFFFF])
    cv = Canvas(size, rng)
    _DRAW[kind](cv, rng)
    noise = float(rng.uniform(1.5, 4.5))
    image, objects = cv.render(noise=noise)
    return Scene(kind=kind, seed=int(seed), image=image, objects=objects)


from .splits import HELD_OUT_SEED, LEVELS, TRAIN_KINDS  # noqa: E402 - splits reads SCENE_KINDS above

__all__ = ["HELD_OUT_SEED", "LEVELS", "SCENE_KINDS", "TRAIN_KINDS", "Scene", "SceneObject", "render_scene"]
