"""Concept data from the procedural scenes: which noun phrases are in a scene (every instance's mask and
box), which are not (negatives for SAM 3's presence head), the phrase vocabulary, and a split that holds
out whole compositions.

A phrase names every object it describes. Each object answers to its own phrase ("red car") and, for the
countable things, to its bare noun ("car"): so "car" means every car, "red car" only the red ones.

The split holds out COMPOSITIONS: phrases never used as a training prompt although each of their words is
(e.g. "green car": "green" is trained in "green coffee mug", "car" in "red car"). Objects of a held-out
phrase still appear in training images, prompted by their noun ("car") or not at all; they are never
a presence negative, an exemplar target or a prompt there. A phrase that contains a held-out composition
("green car window") is held out with it.

API
---
- ``VOCABULARY``: every phrase, sorted; ``HELD_OUT_PHRASES``, ``TRAIN_PHRASES`` (the rest).
- ``phrases_of(obj) -> tuple[str, ...]``: the phrases one ``SceneObject`` answers to.
- ``scene_concepts(scene) -> SceneConcepts``: ``present`` {phrase: object indices}, ``absent`` phrases,
  ``instances(phrase) -> (masks bool [N, H, W], boxes int [N, 4] xyxy)``.
- ``exemplar_prompt(concepts, phrase, rng) -> Exemplar``: a box on one instance of ``phrase`` and the
  targets it stands for ("all like this one": every instance with that instance's own phrase).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam_core.scenes.base import Scene, SceneObject
from sam_core.scenes.desk import COVERS, LAPTOPS, MUGS, PENS
from sam_core.scenes.orchard import RIPENESS
from sam_core.scenes.person import BUTTONS, SHIRTS, TROUSERS
from sam_core.scenes.street import CARS

# An object's bare noun as a phrase, for the names a person counts ("every car"). Parts shared by
# different wholes ("trunk": tree or elephant) and groups have no bare noun.
NOUN_PHRASES = {"car": "car", "window": "car window", "wheel": "car wheel", "apple": "apple",
                "elephant": "elephant", "tree": "tree", "laptop": "laptop", "notebook": "notebook",
                "pen": "pen", "mug": "coffee mug", "saucer": "saucer", "shirt": "shirt", "button": "shirt button",
                "person": "person", "kerb": "kerb", "leg": "leg", "arm": "arm", "head": "head", "leaf": "green leaf",
                "road": "road", "ear": "elephant ear", "handle": "mug handle", "screen": "laptop screen",
                "keyboard": "laptop keyboard"}

# Each object's own phrase, as the scene modules build it (one home: the scene's colour tables).
OWN_PHRASES = (
    [f"{c} car" for c in CARS] + [f"{c} car window" for c in CARS]
    + [f"{c} laptop" for c in LAPTOPS] + [f"{c} coffee mug" for c in MUGS] + [f"{c} mug on a saucer" for c in MUGS]
    + [f"{c} saucer" for c in MUGS] + [f"{c} notebook" for c in COVERS] + [f"{c} pen" for c in PENS]
    + [f"{c} shirt" for c in SHIRTS] + [f"person in a {c} shirt" for c in SHIRTS]
    + [f"{c} shirt button" for c in BUTTONS] + [f"leg in {c} trousers" for c in TROUSERS]
    + [f"{r} apple" for r in RIPENESS]
    + ["apple tree", "acacia tree", "tree trunk", "baby elephant", "grey elephant", "elephant trunk", "far kerb", "near kerb"]
)
VOCABULARY: tuple[str, ...] = tuple(sorted(set(OWN_PHRASES) | set(NOUN_PHRASES.values())))

# The held-out compositions: attribute and noun each trained elsewhere, never together.
HELD_OUT_COMPOSITIONS = ("green car", "yellow coffee mug", "red notebook", "white laptop", "grey shirt",
                         "black pen", "brown shirt button")
HELD_OUT_PHRASES: tuple[str, ...] = tuple(sorted(
    p for p in VOCABULARY if any(f" {c} " in f" {p} " for c in HELD_OUT_COMPOSITIONS)))
TRAIN_PHRASES: tuple[str, ...] = tuple(p for p in VOCABULARY if p not in HELD_OUT_PHRASES)


def phrases_of(obj: SceneObject) -> tuple[str, ...]:
    """The phrases `obj` answers to: its own phrase and, if it has one, its bare noun."""
    noun = NOUN_PHRASES.get(obj.name)
    return (obj.phrase,) if noun is None or noun == obj.phrase else (obj.phrase, noun)


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), inclusive-exclusive pixels, of a non-empty bool mask [H, W]."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


@dataclass
class SceneConcepts:
    """A scene's concepts: `present` maps each phrase in it to its object indices (scene order); `absent`
    lists every vocabulary phrase not in it (the presence negatives)."""

    scene: Scene
    present: dict[str, list[int]]
    absent: tuple[str, ...]

    def instances(self, phrase: str) -> tuple[np.ndarray, np.ndarray]:
        """Every instance of `phrase`: masks bool [N, H, W] and boxes int [N, 4] xyxy (N = 0 if absent)."""
        size = self.scene.size
        idx = self.present.get(phrase, [])
        if not idx:
            return np.zeros((0, size, size), bool), np.zeros((0, 4), np.int64)
        masks = np.stack([self.scene.objects[i].mask for i in idx])
        return masks, np.array([box_of(m) for m in masks], np.int64)


def scene_concepts(scene: Scene) -> SceneConcepts:
    """The present phrases (with their objects) and absent phrases of `scene`."""
    present: dict[str, list[int]] = {}
    for i, obj in enumerate(scene.objects):
        for phrase in phrases_of(obj):
            present.setdefault(phrase, []).append(i)
    return SceneConcepts(scene, present, tuple(p for p in VOCABULARY if p not in present))


@dataclass(frozen=True)
class Exemplar:
    """A box on one instance (`box` xyxy pixels, object `source`) and what it asks for: `targets`, the
    object indices of every instance with the source's own phrase, `phrase`."""

    box: tuple[int, int, int, int]
    source: int
    phrase: str
    targets: tuple[int, ...]


def exemplar_prompt(concepts: SceneConcepts, phrase: str, rng: np.random.Generator) -> Exemplar:
    """A box on a random instance of `phrase` (which must be present): "all like this one"."""
    source = int(rng.choice(concepts.present[phrase]))
    own = concepts.scene.objects[source].phrase
    return Exemplar(box_of(concepts.scene.objects[source].mask), source, own, tuple(concepts.present[own]))


__all__ = ["HELD_OUT_COMPOSITIONS", "HELD_OUT_PHRASES", "NOUN_PHRASES", "TRAIN_PHRASES", "VOCABULARY", "Exemplar",
           "SceneConcepts", "box_of", "exemplar_prompt", "phrases_of", "scene_concepts"]
