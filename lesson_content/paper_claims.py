"""Figures that papers and the lesson plan state, quoted (never measured here), each with its source.

Pages show them labelled as claims, beside what this machine measures. Imports no Streamlit.
"""

from __future__ import annotations

# Kirillov et al., "Segment Anything" (2023), section 4 (data engine) and section 5 (SA-1B).
SA1B_IMAGES_MILLIONS = 11.0
SA1B_MASKS_BILLIONS = 1.1
SECONDS_PER_MASK_FIRST = 34.0  # assisted-manual stage, at its start
SECONDS_PER_MASK_LAST = 14.0  # assisted-manual stage, at its end
COCO_SPEEDUP = 6.5  # "14 seconds is 6.5x faster than mask annotation for COCO"
SAM_PAPER = "Kirillov et al., Segment Anything (2023)"
