"""SAM 3 (image): concept prompts (a noun phrase and/or exemplar boxes) -> every instance's mask,
box and score, with a presence head. Module names follow Meta's `sam3` so official weights load."""

from sam_core.sam3.build import SAM3_CONFIGS, Sam3Config, build_sam3
from sam_core.sam3.processor import Sam3Processor

__all__ = ["SAM3_CONFIGS", "Sam3Config", "Sam3Processor", "build_sam3"]
