"""sam_core: a faithful, readable Segment Anything (SAM 1, MobileSAM) plus the lesson's small model.

    from sam_core import build_sam, SamPredictor
    predictor = SamPredictor(build_sam("vit_b", checkpoint="sam_vit_b_01ec64.pth"))
    predictor.set_image(image)                                  # heavy: once per image
    masks, scores, logits = predictor.predict(point_coords=[[x, y]], point_labels=[1])   # light
"""

from sam_core.sam1.build import build_sam, sam_model_registry
from sam_core.sam1.predictor import SamPredictor
from sam_core.sam1.sam import Sam

__all__ = ["Sam", "SamPredictor", "build_sam", "sam_model_registry"]
