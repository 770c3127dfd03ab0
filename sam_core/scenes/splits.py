"""The one home of the data splits: which scenes training may see, which are held out, and the levels.

- Scene seeds < HELD_OUT_SEED are training seeds; seeds >= HELD_OUT_SEED are held out for evaluation
  (`sam_core.training.evaluate` starts there), so no evaluated scene was ever trained on.
- TRAIN_KINDS: every scene kind but "sky", the negative example with no objects (training can add sky
  scenes as no-object prompts with `--sky-frac`; evaluation reports them apart).
- LEVELS: the granularities of a scene's objects, from fine to coarse (a part lies inside its object,
  an object inside its group), as SAM's three multimask outputs tend to specialise.
"""

from __future__ import annotations

from sam_core.scenes import SCENE_KINDS

HELD_OUT_SEED = 1_000_000
NEGATIVE_KINDS = ("sky",)
TRAIN_KINDS = tuple(k for k in SCENE_KINDS if k not in NEGATIVE_KINDS)
LEVELS = ("part", "object", "group")

__all__ = ["HELD_OUT_SEED", "LEVELS", "NEGATIVE_KINDS", "TRAIN_KINDS"]
