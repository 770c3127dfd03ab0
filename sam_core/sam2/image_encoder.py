"""SAM 2's image encoder: Hiera trunk + FPN neck.

The neck projects each trunk stage to d_model = 256 channels with a 1x1 conv (`convs[0]` takes the
coarsest stage). Top-down: for levels in fpn_top_down_levels (tiny: the two coarsest), the coarser
result is upsampled 2x (nearest) and added. Every level gets a sine position encoding. `scalp` = 1 drops
the coarsest (stride-32) level, leaving strides 4, 8, 16: the stride-16 map is the image embedding the
memory attention and the decoder use; strides 4 and 8 are the decoder's high-resolution features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.sam2.hiera import Hiera
from sam_core.sam2.position_encoding import PositionEmbeddingSine


class FpnNeck(nn.Module):
    """Feature pyramid without output convs.

    Arguments:
      position_encoding: the sine encoding applied to every output level.
      d_model: output channels; backbone_channel_list: trunk widths, coarsest first.
      fpn_interp_model: upsampling mode; fuse_type: "sum" or "avg";
      fpn_top_down_levels: levels (0 = finest) that receive top-down features (None: all).
    """

    def __init__(
        self,
        position_encoding: PositionEmbeddingSine,
        d_model: int,
        backbone_channel_list: list[int],
        fpn_interp_model: str = "bilinear",
        fuse_type: str = "sum",
        fpn_top_down_levels: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.position_encoding = position_encoding
        self.backbone_channel_list = backbone_channel_list
        self.d_model = d_model
        self.convs = nn.ModuleList()
        for dim in backbone_channel_list:
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(dim, d_model, kernel_size=1))
            self.convs.append(lateral)
        self.fpn_interp_model = fpn_interp_model
        assert fuse_type in ("sum", "avg")
        self.fuse_type = fuse_type
        levels = range(len(self.convs)) if fpn_top_down_levels is None else fpn_top_down_levels
        self.fpn_top_down_levels = list(levels)

    def forward(self, xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """xs: trunk stages, finest first -> (features [B, d, H_l, W_l], position encodings), finest first."""
        n = len(self.convs) - 1
        out: list[torch.Tensor] = [None] * len(self.convs)  # type: ignore[list-item]
        pos: list[torch.Tensor] = [None] * len(self.convs)  # type: ignore[list-item]
        prev = None
        for i in range(n, -1, -1):  # coarsest (i = n) to finest
            lateral = self.convs[n - i](xs[i])
            if i in self.fpn_top_down_levels and prev is not None:
                align = None if self.fpn_interp_model == "nearest" else False
                top_down = F.interpolate(
                    prev.to(torch.float32), scale_factor=2.0, mode=self.fpn_interp_model,
                    align_corners=align, antialias=False,
                )
                prev = lateral + top_down
                if self.fuse_type == "avg":
                    prev = prev / 2
            else:
                prev = lateral
            out[i] = prev
            pos[i] = self.position_encoding(prev).to(prev.dtype)
        return out, pos


class ImageEncoder(nn.Module):
    """Trunk + neck; returns Meta's dict of vision features.

    Returns {"vision_features": [B, 256, 64, 64], "vision_pos_enc": per-level encodings,
    "backbone_fpn": per-level features (strides 4, 8, 16 after the scalp)}.
    """

    def __init__(self, trunk: Hiera, neck: FpnNeck, scalp: int = 0) -> None:
        super().__init__()
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp
        assert trunk.channel_list == neck.backbone_channel_list, (
            f"trunk channels {trunk.channel_list} != neck channels {neck.backbone_channel_list}"
        )

    def forward(self, sample: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        features, pos = self.neck(self.trunk(sample))
        if self.scalp > 0:
            features, pos = features[: -self.scalp], pos[: -self.scalp]  # drop the coarsest levels
        return {"vision_features": features[-1], "vision_pos_enc": pos, "backbone_fpn": features}
