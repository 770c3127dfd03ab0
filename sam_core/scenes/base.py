"""The data types a rendered scene is made of: `Scene` and `SceneObject`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LEVELS = ("part", "object", "group")


@dataclass
class SceneObject:
    """One ground-truth segment of a scene.

    name: short class name ("mug", "handle", "apple", ...); phrase: a noun phrase with attributes
    ("white coffee mug", "ripe apple"); level: "part" | "object" | "group"; mask: bool [H, W], the
    VISIBLE pixels after occlusion; parent: index in `Scene.objects` of the enclosing object (the
    child's mask is a subset of the parent's), or None; attributes: e.g. {"color": "red"}.
    """

    name: str
    phrase: str
    level: str
    mask: np.ndarray
    parent: int | None = None
    attributes: dict = field(default_factory=dict)

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), inclusive-exclusive, in pixels."""
        rows = np.flatnonzero(self.mask.any(1))
        cols = np.flatnonzero(self.mask.any(0))
        if rows.size == 0:
            return (0, 0, 0, 0)
        return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


@dataclass
class Scene:
    """A rendered scene: RGB uint8 image [H, W, 3] and its ground-truth objects."""

    kind: str
    seed: int
    image: np.ndarray
    objects: list[SceneObject]

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    def targets_at(self, x: int, y: int) -> list[SceneObject]:
        """Every object whose mask contains pixel (x=col, y=row), smallest first (part, object, group)."""
        h, w = self.image.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            return []
        hits = [o for o in self.objects if o.mask[y, x]]
        return sorted(hits, key=lambda o: o.area)

    def find(self, name: str) -> list[SceneObject]:
        """All objects with this `name` (e.g. "apple"), in scene order."""
        return [o for o in self.objects if o.name == name]

    def index_of(self, obj: SceneObject) -> int:
        for i, o in enumerate(self.objects):
            if o is obj:
                return i
        raise ValueError("object not in this scene")
