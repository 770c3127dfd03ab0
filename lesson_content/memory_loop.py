"""SAM 2's memory loop, two ways: the loop the lesson plan describes (section 11 b-e), written out as
pseudocode, and the sam_core functions that really run it, read from the modules themselves; plus the
memory encoder's parts, read from a loaded model. Imports no Streamlit.

The plan asks for "pseudocode showing the memory bank update loop" but gives none, so this pseudocode is
ours: it follows the plan's words and keeps its sizes (1024 px frames, a 64 x 64 grid, "N = 6" recent
frames), which the page labels as the plan's. The real code differs where the page's shapes table says.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

PLAN_LOOP_PSEUDOCODE = """\
# The memory loop as the lesson plan describes it (section 11), written out; sizes are the plan's.
bank = {}                                  # frame index -> memory tokens [4096, 64]
prompted = set(prompts)                    # frames the user clicked: never evicted
for t, frame in enumerate(video):          # streaming: one frame at a time, in order
    feats = image_encoder(frame)           # [3, 1024, 1024] -> [4096, 256]
    if bank:
        recent = [s for s in sorted(bank) if s not in prompted][-6:]   # the N = 6 most recent
        memory = torch.cat([bank[s] for s in sorted(prompted) + recent])  # [N_frames * 4096, 64]
        feats = cross_attention(q=feats, k=memory, v=memory)           # [4096, 256]
    tokens = prompt_encoder(prompts.get(t))    # [N_prompt, 256]; none on unprompted frames
    masks, iou = mask_decoder(feats, tokens)   # [3, 256, 256], [3]
    mask = masks[iou.argmax()]
    bank[t] = memory_encoder(mask, feats)      # downsample mask, add to features -> [4096, 64]
"""


def real_loop_source() -> dict[str, str]:
    """{name: source} of the sam_core functions one propagated frame runs through, in calling order."""
    from sam_core.sam2.memory_bank import gather_memories
    from sam_core.sam2.memory_encoder import MemoryEncoder
    from sam_core.sam2.sam2_base import SAM2Base
    from sam_core.sam2.video_predictor import SAM2VideoPredictor

    return {
        "SAM2VideoPredictor.propagate_in_video": inspect.getsource(SAM2VideoPredictor.propagate_in_video),
        "SAM2Base.track_step": inspect.getsource(SAM2Base.track_step),
        "SAM2Base._prepare_memory_conditioned_features":
            inspect.getsource(SAM2Base._prepare_memory_conditioned_features),
        "gather_memories": inspect.getsource(gather_memories),
        "SAM2Base._encode_new_memory": inspect.getsource(SAM2Base._encode_new_memory),
        "MemoryEncoder.forward": inspect.getsource(MemoryEncoder.forward),
    }


@dataclass(frozen=True)
class MemoryEncoderParts:
    """The memory encoder of one SAM 2 model: how a mask becomes a frame's memory."""

    mask_downsample: int  # the mask's side shrinks by this (strided convs), to the feature grid
    downsample_convs: int  # strided convolutions in the mask downsampler
    feature_channels: int  # the frame features' channels (= d_model), after a 1x1 conv
    fuser_blocks: int  # ConvNeXt-style blocks mixing features + mask
    memory_channels: int  # channels of the stored memory (mem_dim)


def memory_encoder_parts(model) -> MemoryEncoderParts:
    """Read the parts from a SAM 2 model (works on the 'meta' device)."""
    encoder = model.memory_encoder
    strided = [m for m in encoder.mask_downsampler.modules() if isinstance(m, nn.Conv2d) and m.stride[0] > 1]
    factor = 1
    for conv in strided:
        factor *= conv.stride[0]
    return MemoryEncoderParts(factor, len(strided), int(encoder.pix_feat_proj.out_channels),
                              len(encoder.fuser.layers), int(model.mem_dim))
