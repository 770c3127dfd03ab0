"""The lesson plan's revised outline (sections 1-16) and the app page that teaches each section.

Pages are named by their file prefix ("01" -> pages/01_*.py); `page_file` finds the file if it exists,
so the map shows what is built and what is still to come. Imports no Streamlit.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


class OutlineSection(NamedTuple):
    number: int  # section number in the plan's "Revision -- Depth Rework" outline
    title: str
    page_prefix: str | None  # "01" for pages/01_*.py; None: no page planned yet
    what: str  # one line: what the student does there


OUTLINE: tuple[OutlineSection, ...] = (
    OutlineSection(1, "Context and constraints", "01", "what this lesson is and is not about"),
    OutlineSection(2, "Recap: ViT, cross-attention, encoder-decoder", "01", "reactivate the building blocks"),
    OutlineSection(3, "The segmentation problem", "02", "label vs box vs mask on one image, live"),
    OutlineSection(4, "Hook: the segmentation bottleneck", "02", "one cutter per shape vs a programmable cutter"),
    OutlineSection(5, "SAM's architecture", "03", "three components, their shapes, encoder once vs decoder per click"),
    OutlineSection(6, "Prompt encoding: from clicks to tokens", "04", "the Fourier formula traced on your click"),
    OutlineSection(7, "Mask decoder: the two-layer transformer", "05", "tokens, three attentions per layer, masks"),
    OutlineSection(7, "Putting it all together: click to mask", "06", "one click traced end to end"),
    OutlineSection(8, "Loss: focal + dice, minimum-loss assignment", "07", "why a hard pixel outweighs an easy one"),
    OutlineSection(9, "Check 1: predict and verify", "08", "answer, then check against the live model"),
    OutlineSection(10, "The SA-1B data engine", None, "model and data improve each other"),
    OutlineSection(11, "SAM 2: memory for video", None, "cross-attention over past frames"),
    OutlineSection(12, "SAM 3: concepts and language", None, "describe to segment every instance"),
    OutlineSection(13, "Check 2: transfer", None, "the wildlife-camera scenario"),
    OutlineSection(14, "SAM in the vision ecosystem", None, "the foundation-model pattern, a third time"),
    OutlineSection(15, "Summary", None, "the takeaways"),
    OutlineSection(16, "Next step", None, "where to go from here"),
)


def page_file(prefix: str | None) -> Path | None:
    """pages/<prefix>_*.py if it exists (the first match), else None."""
    if prefix is None:
        return None
    matches = sorted(PAGES_DIR.glob(f"{prefix}_*.py"))
    return matches[0] if matches else None
