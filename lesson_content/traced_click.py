"""The one traced click of part 1: the instructor's [prompt_click] on the [scene], followed through every page.

The primer, prompt encoding, the decoder, "Putting it together", the loss and Check 1 all trace this
click on this scene (same pixels, same image size), so a student follows one click from the pixel
through the encoder, the tokens and the decoder to the masks and their loss. What the click hits is
read from the scene generator's ground truth; a click on no object is said so, never replaced.

    thread = traced_click(examples)          # examples: lesson_content.examples.load_examples()
    thread.scene.image                       # uint8 [S, S, 3], S = [prompt_click] image_size
    thread.point                             # (x, y) pixels of that image
    thread.target                            # the object hit (object level first), None on background
    thread.describe()                        # "the grey elephant" / "no object (the background)"

Imports no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lesson_content.scene_targets import load_scene

# Background words per scene kind: what a box around an object of that scene contains besides it.
BACKGROUND_WORDS = {
    "desk": "desk and wall",
    "person": "wall and floor",
    "street": "road, pavement and sky",
    "orchard": "grass, leaves and sky",
    "savanna": "grass and sky",
    "sky": "sky",
}


@dataclass(frozen=True)
class TracedClick:
    scene: Any  # sam_core.scenes Scene: .image uint8 [S, S, 3], .objects, .targets_at(x, y)
    kind: str
    seed: int
    size: int  # side of the square scene in pixels ([prompt_click] image_size)
    point: tuple[int, int]  # (x, y) in pixels of the scene
    target: Any | None  # the scene object under the click (object level preferred), None on background
    hits: tuple  # every ground-truth segment under the click, smallest first (part, object, group)

    @property
    def hit(self) -> bool:
        return self.target is not None

    @property
    def config_id(self) -> tuple:
        """Identifies the traced example: a page drops a student's own click when it changes."""
        return (self.kind, self.seed, self.size, self.point)

    def describe(self) -> str:
        """What the click is on, in words for the prose."""
        return f"the {self.target.phrase}" if self.target is not None else "no object (the background)"

    @property
    def background_words(self) -> str:
        return BACKGROUND_WORDS.get(self.kind, "background")


def object_at(scene, x: int, y: int, level: str = "object"):
    """The segment under (x, y) at `level` ("object" beats "part" and "group"), else the smallest hit, else None."""
    hits = scene.targets_at(int(x), int(y))
    for obj in hits:
        if obj.level == level:
            return obj
    return hits[0] if hits else None


def traced_click(examples: Mapping[str, Mapping[str, Any]]) -> TracedClick:
    """The instructor's click on the instructor's scene (both from the traced examples)."""
    click, scene_cfg = examples["prompt_click"], examples["scene"]
    size = int(click["image_size"])
    scene = load_scene(scene_cfg["kind"], int(scene_cfg["seed"]), size)
    x, y = int(click["x"]), int(click["y"])
    return TracedClick(scene=scene, kind=scene_cfg["kind"], seed=int(scene_cfg["seed"]), size=size, point=(x, y),
                       target=object_at(scene, x, y), hits=tuple(scene.targets_at(x, y)))


def at_point(thread: TracedClick, x: int, y: int) -> TracedClick:
    """The same scene clicked elsewhere (a student's own click on a page)."""
    return TracedClick(scene=thread.scene, kind=thread.kind, seed=thread.seed, size=thread.size, point=(int(x), int(y)),
                       target=object_at(thread.scene, x, y), hits=tuple(thread.scene.targets_at(int(x), int(y))))
