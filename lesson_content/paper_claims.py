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

# The lesson plan (seeds/000, section 12 of the first draft) on SAM 3.
PLAN_SAM3_PARAMS_M = 840.0
PLAN_SAM3_SIZE_GB = 3.4  # "840M parameters (~3.4 GB)"
PLAN_SAM3_QUALITY = "doubles the segmentation quality (cgF1) of prior systems on the SA-Co benchmark"
PLAN_SACO = "SA-Co: 5.2M images, 52.5K videos, 4M+ unique noun phrases, ~1.4B masks"
PLAN_SAM3_MS_PER_IMAGE = 30.0  # "30 ms inference per image with 100+ detected objects on H200 GPU"
PLAN_SAM3_OBJECTS = 100
PLAN_SAM3_GPU = "H200"
PLAN_SOURCE = "the lesson plan (seeds/000)"

# The SAM2 -> SAM3 gap document (seeds/003), its table and architecture list.
SEED003_SAM2_PARAMS_M = 224.0
SEED003_SAM3_PARAMS_M = 848.0
SEED003_TEXT_ENCODER_PARAMS_M = 300.0
SEED003_SAM2_FINETUNE_MEMORY = "11-24 GB (batch 2-8)"  # its "Training Infrastructure" table
SEED003_SAM3_FINETUNE_MEMORY = "~18 GB at batch 1, with gradient accumulation"
SEED003_SOURCE = "the SAM2 -> SAM3 gap overview (seeds/003)"

# The SAM 2 paper (Ravi et al., 2024): interactive video segmentation with fewer interactions.
SAM2_FEWER_INTERACTIONS = 3.0
# The lesson plan (seeds/000, first draft section 9): "8x speedup for video annotations".
PLAN_SAM2_ANNOTATION_SPEEDUP = 8.0
SAM2_PAPER = "Ravi et al., SAM 2 (2024)"
