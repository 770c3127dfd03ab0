"""The SAM 2 -> SAM 3 overview's compositional phrases (seeds/003), asked live on an orchard scene, each
beside the answer the scene's ground truth gives where it can give one. Imports no Streamlit.

    rows = composition_rows(processor, render_scene("orchard", 1_000_000), threshold=0.5)

The scene knows each apple's ripeness ("ripe", "unripe", "damaged") and colour, so "ripe red apples" and
"healthy fruit but not green apples" have exact answers; "near the tree trunk" is a spatial relation the scene
does not define, so that row has no ground truth. SAM 3 is trained on short noun phrases; negation and
relations are beyond it (the SAM 3 paper hands such requests to a language-model agent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lesson_content import concepts_view as cv


@dataclass(frozen=True)
class Composition:
    phrase: str  # seed 003's words
    needs: str  # what reading the phrase takes
    answer: Callable | None  # SceneObject -> bool: is it an instance? None: the scene cannot say


def _apple(obj) -> bool:
    return obj.name == "apple" and obj.mask.any()


COMPOSITIONS = (
    Composition("ripe red apples", "two attributes together",
                lambda o: _apple(o) and o.attributes.get("ripeness") == "ripe" and o.attributes.get("color") == "red"),
    Composition("healthy fruit but not green apples", "negation",
                lambda o: _apple(o) and o.attributes.get("ripeness") != "damaged" and o.attributes.get("color") != "green"),
    Composition("damaged apples near the tree trunk", "a spatial relation", None),
)


def composition_rows(processor, scene, threshold: float) -> list[dict]:
    """One row per composition: presence, instances kept, and (where the scene defines it) the truth."""
    state = processor.set_image(scene.image)
    rows = []
    for comp in COMPOSITIONS:
        result = cv.detect(processor, scene.image, comp.phrase, threshold, state=state)
        row = {"phrase": comp.phrase, "needs": comp.needs, "presence": round(result.presence, 3),
               "instances kept": len(result.instances)}
        if comp.answer is None:
            row["truth (scene)"], row[f"found (IoU ≥ {cv.MATCH_IOU})"] = "not defined by the scene", "–"
        else:
            truth = [o.mask for o in scene.objects if comp.answer(o)]
            row["truth (scene)"] = str(len(truth))
            row[f"found (IoU ≥ {cv.MATCH_IOU})"] = str(cv.score_against(result, truth).found)
        rows.append(row)
    return rows
