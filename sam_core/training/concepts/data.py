"""Training prompts for the concept model: per scene a few phrases, present or absent, and exemplar boxes.

Per image, each prompt is one of (probabilities in `PromptMix`):
- a present phrase (text only): targets = every instance of it;
- an absent phrase (a presence negative): no targets; half of them "hard", sharing the noun of a present
  phrase ("blue car" where only red cars are);
- an exemplar: a box on one instance, with the text "visual" or with the instance's phrase; targets =
  every instance with that instance's own phrase ("all like this one").
With probability `PromptMix.paired` an image's first two prompts are instead a contrast pair: a present
attributed phrase and the same phrase with another first word, absent ("red car" / "blue car" on one image),
so that one step's presence loss can only fall by reading the attribute.
Only TRAIN_PHRASES are ever prompted; scenes are training seeds (< HELD_OUT_SEED) of TRAIN_KINDS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sam_core.sam3.processor import TEXT_FOR_BOXES_ONLY
from sam_core.scenes import HELD_OUT_SEED, TRAIN_KINDS, render_scene
from sam_core.scenes.concepts import TRAIN_PHRASES, SceneConcepts, exemplar_prompt, scene_concepts
from sam_core.training.concepts.alignment import Region, scene_regions

TRAIN_SET = frozenset(TRAIN_PHRASES)


@dataclass(frozen=True)
class PromptMix:
    positive: float = 0.5  # text prompts of a present phrase
    negative: float = 0.3  # absent phrases (presence negatives)
    hard_negative: float = 0.5  # of the negatives: same noun as a present phrase, other attribute
    paired: float = 0.0  # share of images whose first two prompts are a contrast pair (contrast_pair)
    # the rest are exemplar prompts, half of them with their phrase as text


@dataclass
class ConceptPrompt:
    """One prompt on image `image_index`: `text`, optional exemplar `box` (x0, y0, x1, y1 pixels), and the
    targets: masks bool [N, H, W], boxes float [N, 4] normalised (cx, cy, w, h); N = 0 if absent."""

    image_index: int
    text: str
    box: tuple[int, int, int, int] | None
    masks: np.ndarray
    boxes: np.ndarray
    kind: str  # "positive" | "negative" | "exemplar"

    @property
    def present(self) -> bool:
        return len(self.masks) > 0


def xyxy_to_cxcywh(boxes: np.ndarray, size: int) -> np.ndarray:
    """[N, 4] pixel (x0, y0, x1, y1) -> [N, 4] normalised (cx, cy, w, h)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4) / float(size)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def _targets(concepts: SceneConcepts, indices) -> tuple[np.ndarray, np.ndarray]:
    size = concepts.scene.size
    if not indices:
        return np.zeros((0, size, size), bool), np.zeros((0, 4), np.float32)
    masks = np.stack([concepts.scene.objects[i].mask for i in indices])
    boxes = np.array([concepts.scene.objects[i].bbox for i in indices])
    return masks, xyxy_to_cxcywh(boxes, size)


def sample_prompt(concepts: SceneConcepts, image_index: int, rng: np.random.Generator,
                  mix: PromptMix = PromptMix()) -> ConceptPrompt:
    """One training prompt on `concepts.scene` (see the module docstring)."""
    present = [p for p in concepts.present if p in TRAIN_SET]
    absent = [p for p in concepts.absent if p in TRAIN_SET]
    u = rng.random()
    if u < mix.positive or not absent:
        phrase = present[int(rng.integers(len(present)))]
        masks, boxes = _targets(concepts, concepts.present[phrase])
        return ConceptPrompt(image_index, phrase, None, masks, boxes, "positive")
    if u < mix.positive + mix.negative:
        nouns = {p.split()[-1] for p in present}
        hard = [p for p in absent if p.split()[-1] in nouns]
        pool = hard if hard and rng.random() < mix.hard_negative else absent
        masks, boxes = _targets(concepts, [])
        return ConceptPrompt(image_index, pool[int(rng.integers(len(pool)))], None, masks, boxes, "negative")
    sources = [p for p in present if any(concepts.scene.objects[i].phrase in TRAIN_SET for i in concepts.present[p])]
    for _ in range(8):
        ex = exemplar_prompt(concepts, sources[int(rng.integers(len(sources)))], rng)
        if ex.phrase in TRAIN_SET:
            break
    masks, boxes = _targets(concepts, list(ex.targets))
    text = ex.phrase if rng.random() < 0.5 else TEXT_FOR_BOXES_ONLY
    return ConceptPrompt(image_index, text, ex.box, masks, boxes, "exemplar")


def contrast_pairs(concepts: SceneConcepts) -> list[tuple[str, str]]:
    """(present, absent) training phrases that differ only in their first word ("red car", "blue car")."""
    present = [p for p in concepts.present if p in TRAIN_SET]
    absent = [p for p in concepts.absent if p in TRAIN_SET]
    return [(p, q) for p in present for q in absent
            if len(p.split()) > 1 and q.split()[1:] == p.split()[1:] and q.split()[0] != p.split()[0]]


def contrast_pair(concepts: SceneConcepts, image_index: int, rng: np.random.Generator
                  ) -> list[ConceptPrompt] | None:
    """A present phrase and its absent contrast (both text-only prompts), or None if the scene has none."""
    pairs = contrast_pairs(concepts)
    if not pairs:
        return None
    present, absent = pairs[int(rng.integers(len(pairs)))]
    masks, boxes = _targets(concepts, concepts.present[present])
    no_masks, no_boxes = _targets(concepts, [])
    return [ConceptPrompt(image_index, present, None, masks, boxes, "positive"),
            ConceptPrompt(image_index, absent, None, no_masks, no_boxes, "negative")]


@dataclass
class ConceptBatch:
    """images uint8 [B, H, W, 3]; prompts: K prompts over them (each names its image); regions: the images'
    objects of training phrases (for the alignment loss, alignment.py)."""

    images: np.ndarray
    prompts: list[ConceptPrompt]
    regions: list[Region]


def sample_batch(step: int, seed: int, n_images: int, prompts_per_image: int,
                 mix: PromptMix = PromptMix()) -> ConceptBatch:
    """The batch of training step `step` (a pure function of (seed, step): a resumed run sees the same data)."""
    rng = np.random.default_rng([seed, step])
    images, prompts, regions = [], [], []
    for i in range(n_images):
        kind = TRAIN_KINDS[int(rng.integers(len(TRAIN_KINDS)))]
        scene = render_scene(kind, int(rng.integers(HELD_OUT_SEED)))
        concepts = scene_concepts(scene)
        images.append(scene.image)
        pair = contrast_pair(concepts, i, rng) if mix.paired > 0 and rng.random() < mix.paired else None
        pair = (pair or [])[:prompts_per_image]
        prompts += pair + [sample_prompt(concepts, i, rng, mix) for _ in range(prompts_per_image - len(pair))]
        regions += scene_regions(scene, i)
    return ConceptBatch(np.stack(images), prompts, regions)


def images_to_tensor(images: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """uint8 [B, H, W, 3] (already at the model's resolution) -> [B, 3, H, W] in [-1, 1] (SAM 3's)."""
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float()
    return (x / 255.0 - 0.5) / 0.5
