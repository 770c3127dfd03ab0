"""Check 2 (outline §13), verified live: "elephant" on savanna scenes (the count against the truth, and
nothing on a street), what the image encoder costs when each image gets one prompt, and the occluded
elephant kept by SAM 2's memory. Imports no Streamlit.

    counts = elephant_counts(processor, first_seed=1_000_000, scenes=6, size=256)
    timing = one_prompt_costs(processor, scene.image, "elephant")
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .concepts_view import detect, score_against, truth_masks
from .scene_targets import load_scene


@dataclass(frozen=True)
class SceneCount:
    kind: str
    seed: int
    truth: int
    detected: int
    found: int  # detections matched to a true instance (IoU >= 0.5)
    presence: float


def elephant_counts(processor, first_seed: int, scenes: int, size: int, phrase: str = "elephant",
                    negative_kind: str = "street") -> list[SceneCount]:
    """The phrase on `scenes` savanna scenes from first_seed, then on one scene of `negative_kind`."""
    rows = []
    plan = [("savanna", first_seed + i) for i in range(scenes)] + [(negative_kind, first_seed)]
    for kind, seed in plan:
        scene = load_scene(kind, seed, size)
        result = detect(processor, scene.image, phrase, processor.confidence_threshold)
        truth = truth_masks(scene, phrase)
        match = score_against(result, truth)
        rows.append(SceneCount(kind, seed, len(truth), len(result.instances), match.found, result.presence))
    return rows


@dataclass(frozen=True)
class PromptCosts:
    image_ms: float  # the vision encoder, once per image
    prompt_ms: float  # one phrase on that image (text encoder + fusion + decoder + heads)

    @property
    def encoder_share(self) -> float:
        return self.image_ms / (self.image_ms + self.prompt_ms)


def one_prompt_costs(processor, image: np.ndarray, phrase: str, repeats: int = 3) -> PromptCosts:
    """Median times of set_image and of one set_text_prompt on it (the batch case: one prompt per image)."""
    image_times, prompt_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        state = processor.set_image(image)
        image_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        processor.set_text_prompt(phrase, state)
        prompt_times.append(time.perf_counter() - start)
    return PromptCosts(1000 * float(np.median(image_times)), 1000 * float(np.median(prompt_times)))
