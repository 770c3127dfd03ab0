"""The ViTDet "simple FPN" neck and the vision-language backbone that pairs it with the text encoder.

From the single 72 x 72 trunk map the neck makes four maps of d_model channels at scales 4, 2, 1 and
0.5 (288, 144, 72 and 36 on a side). SAM 3 then drops the coarsest (`scalp = 1`): the detector uses
the 72 x 72 map, and the segmentation head adds the 288 and 144 maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

import torch
from torch import nn

from sam_core.sam3.common import PositionEmbeddingSine
from sam_core.sam3.vit import ViT


def _scale_branch(dim: int, d_model: int, scale: float) -> nn.Sequential:
    """One FPN level: resample the trunk map by `scale`, then 1x1 and 3x3 convolutions to d_model."""
    branch = nn.Sequential()
    if scale == 4.0:
        branch.add_module("dconv_2x2_0", nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2))
        branch.add_module("gelu", nn.GELU())
        branch.add_module("dconv_2x2_1", nn.ConvTranspose2d(dim // 2, dim // 4, kernel_size=2, stride=2))
        out_dim = dim // 4
    elif scale == 2.0:
        branch.add_module("dconv_2x2", nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2))
        out_dim = dim // 2
    elif scale == 1.0:
        out_dim = dim
    elif scale == 0.5:
        branch.add_module("maxpool_2x2", nn.MaxPool2d(kernel_size=2, stride=2))
        out_dim = dim
    else:
        raise NotImplementedError(f"scale_factor={scale} is not supported")
    branch.add_module("conv_1x1", nn.Conv2d(out_dim, d_model, kernel_size=1))
    branch.add_module("conv_3x3", nn.Conv2d(d_model, d_model, kernel_size=3, padding=1))
    return branch


class Sam3DualViTDetNeck(nn.Module):
    """Trunk + FPN branches. `sam2_convs` (a second, identical set) feeds the SAM 2-style tracker head.

    forward: [B, 3, S, S] -> (maps, position encodings, tracker maps, their encodings), each a list of
    [B, d_model, h_i, w_i]; the last two are None without `sam2_convs` (Meta's Sam3DualViTDetNeck).
    """

    def __init__(self, trunk: ViT, d_model: int, scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 add_sam2_neck: bool = False) -> None:
        super().__init__()
        self.trunk = trunk
        self.position_encoding = PositionEmbeddingSine(d_model)
        dim = trunk.channel_list[-1]
        self.convs = nn.ModuleList(_scale_branch(dim, d_model, s) for s in scale_factors)
        self.sam2_convs = deepcopy(self.convs) if add_sam2_neck else None

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor],
                                                     list[torch.Tensor] | None, list[torch.Tensor] | None]:
        x = self.trunk(images)[-1]
        maps = [conv(x) for conv in self.convs]
        pos = [self.position_encoding(m).to(m.dtype) for m in maps]
        if self.sam2_convs is None:
            return maps, pos, None, None
        tracker_maps = [conv(x) for conv in self.sam2_convs]
        return maps, pos, tracker_maps, [self.position_encoding(m).to(m.dtype) for m in tracker_maps]


class SAM3VLBackbone(nn.Module):
    """The vision backbone and the text encoder side by side (no fusion here; the encoder fuses).

    Arguments:
      visual: the neck (with its trunk); text: the VETextEncoder.
      scalp: how many of the coarsest FPN levels to drop (1 in SAM 3).
    """

    def __init__(self, visual: Sam3DualViTDetNeck, text: nn.Module, scalp: int = 1) -> None:
        super().__init__()
        self.vision_backbone = visual
        self.language_backbone = text
        self.scalp = scalp

    def forward_image(self, images: torch.Tensor) -> dict:
        """[B, 3, S, S] normalised images -> {"vision_features", "vision_pos_enc", "backbone_fpn",
        "sam2_backbone_out"}; the last is the tracker neck's {"vision_features", "vision_pos_enc",
        "backbone_fpn"} (levels 288, 144, 72 for 1008 px), or None when the neck has no tracker branch."""
        maps, pos, tracker_maps, tracker_pos = self.vision_backbone(images)
        if self.scalp > 0:
            maps, pos = maps[: -self.scalp], pos[: -self.scalp]
        tracker_out = None
        if tracker_maps is not None:
            if self.scalp > 0:
                tracker_maps, tracker_pos = tracker_maps[: -self.scalp], tracker_pos[: -self.scalp]
            tracker_out = {"vision_features": tracker_maps[-1], "vision_pos_enc": tracker_pos,
                           "backbone_fpn": tracker_maps}
        return {"vision_features": maps[-1], "vision_pos_enc": pos, "backbone_fpn": maps,
                "sam2_backbone_out": tracker_out}

    def forward_text(self, captions: list[str], device: torch.device | str | None = None) -> dict:
        """Phrases -> {"language_features": [L, B, d], "language_mask": [B, L] (True = padding),
        "language_embeds": [L, B, width] token embeddings before the transformer}."""
        mask, memory, embeds = self.language_backbone(captions, device=device)
        return {"language_features": memory, "language_mask": mask, "language_embeds": embeds}
