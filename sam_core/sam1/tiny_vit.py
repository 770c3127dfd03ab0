"""TinyViT-5M, the image encoder of MobileSAM (model type "vit_t"): SAM's 632M-parameter ViT-H distilled
into a 5.7M-parameter hybrid of convolutions and windowed attention (6.07M counting the unused ImageNet
head that the checkpoint carries) that produces the same kind of image embedding.

    image                                                              [B, 3, 1024, 1024]
      -> conv stem: two 3x3 stride-2 ConvBNs                             [B, 64, 256, 256]
      -> stage 0: 2 MBConv blocks, then merge (stride 2)                 [B, 128, 128, 128]
      -> stage 1: 2 TinyViT blocks, 7x7 windows, 4 heads, merge (/2)     [B, 160, 64, 64]
      -> stage 2: 6 TinyViT blocks, 14x14 windows, 5 heads, merge (/1)   [B, 320, 64, 64]
      -> stage 3: 2 TinyViT blocks, 7x7 windows, 10 heads                [B, 320, 64, 64]
      -> neck: 1x1 conv -> LayerNorm2d -> 3x3 conv -> LayerNorm2d        [B, 256, 64, 64]
    (shapes written [B, C, H, W]; from stage 0's merge on the code holds them channels-last, [B, H, W, C])

The output has the shape of SAM's ViT embedding, so the standard prompt encoder and mask decoder (width
256) sit on top unchanged. Module names follow MobileSAM's `tiny_vit_sam.py`, so the `image_encoder.*`
entries of `mobile_sam.pt` load with `load_state_dict(strict=True)`, including the classification
`norm_head` / `head` that TinyViT was pretrained with: SAM never calls them, but they are in the file.
The blocks live in `tiny_vit_blocks.py`.
"""

from __future__ import annotations

import torch
from torch import nn

from sam_core.nn.blocks import LayerNorm2d
from sam_core.sam1.tiny_vit_blocks import AttentionStage, ConvStage, ConvStem


class TinyViT(nn.Module):
    """TinyViT image encoder; the defaults are MobileSAM's (TinyViT-5M at 1024 px).

    Arguments:
      img_size: input side (1024, the size SAM resizes every image to).
      in_chans: image channels (3).
      num_classes: width of the unused ImageNet `head` (1000); kept so checkpoint keys match.
      embed_dims: channels of stages 0-3 ([64, 128, 160, 320] for the 5M model).
      depths: blocks per stage ([2, 2, 6, 2]); stage 0 blocks are MBConvs, the rest TinyViT blocks.
      num_heads: attention heads per stage ([2, 4, 5, 10]; head width 32 everywhere; stage 0 unused).
      window_sizes: attention window side per stage ([7, 7, 14, 7]; stage 0 unused).
      mlp_ratio: MLP hidden width / token width (4).
      drop_rate: dropout in the MLPs (0 in MobileSAM).
      drop_path_rate: stochastic depth, rising linearly to this value over all blocks (0 in MobileSAM).
      use_checkpoint: activation checkpointing while training (False).
      mbconv_expand_ratio: MBConv hidden width / width (4).
      local_conv_size: kernel of the depthwise conv between attention and MLP (3).
      out_chans: channels of the neck's output (256, SAM's prompt/decoder width).

    Stage i > 0 ends with a PatchMerging into stage i+1's width; the last of those merges uses stride 1
    (MobileSAM's change to TinyViT) so the grid stays at img_size / 16.
    """

    def __init__(
        self,
        img_size: int = 1024,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dims: tuple[int, ...] = (64, 128, 160, 320),
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (2, 4, 5, 10),
        window_sizes: tuple[int, ...] = (7, 7, 14, 7),
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        use_checkpoint: bool = False,
        mbconv_expand_ratio: float = 4.0,
        local_conv_size: int = 3,
        out_chans: int = 256,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.num_classes = num_classes
        num_stages = len(depths)
        self.patch_embed = ConvStem(in_chans, embed_dims[0])

        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()  # stochastic depth per block
        per_stage = [rates[sum(depths[:i]) : sum(depths[: i + 1])] for i in range(num_stages)]
        self.layers = nn.ModuleList()
        self.layers.append(
            ConvStage(
                embed_dims[0], depths[0], embed_dims[1], mbconv_expand_ratio, per_stage[0], use_checkpoint
            )
        )
        for i in range(1, num_stages):
            is_last = i == num_stages - 1
            self.layers.append(
                AttentionStage(
                    dim=embed_dims[i],
                    depth=depths[i],
                    num_heads=num_heads[i],
                    window_size=window_sizes[i],
                    mlp_ratio=mlp_ratio,
                    drop=drop_rate,
                    drop_path=per_stage[i],
                    local_conv_size=local_conv_size,
                    out_dim=None if is_last else embed_dims[i + 1],
                    merge_stride=1 if i == num_stages - 2 else 2,  # last merge keeps the 1/16 grid
                    use_checkpoint=use_checkpoint,
                )
            )

        # ImageNet classifier of the pretrained TinyViT. Unused by SAM; present only because
        # mobile_sam.pt stores it (image_encoder.norm_head.*, image_encoder.head.*).
        self.norm_head = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)

        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Arguments:
          x: normalised, padded images [B, 3, img_size, img_size].
        Returns:
          image embedding [B, out_chans, img_size / 16, img_size / 16]  ([B, 256, 64, 64] at 1024).
        Call `.eval()` first for inference: BatchNorm layers must use their stored statistics.
        """
        x = self.patch_embed(x)  # B x 64 x H/4 x W/4
        x = self.layers[0](x)  # B x H/8 x W/8 x 128   (channels-last from here on)
        for stage in self.layers[1:]:
            x = stage(x)  # ... -> B x H/16 x W/16 x 320
        return self.neck(x.permute(0, 3, 1, 2))  # BxHxWxC -> BxCxHxW -> B x 256 x H/16 x W/16


def _init_weights(module: nn.Module) -> None:
    """TinyViT's initialisation: truncated-normal Linear weights (std 0.02), zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def build_tiny_vit_encoder() -> TinyViT:
    """MobileSAM's image encoder ("vit_t"), in eval mode, randomly initialised.

    `sam_core.sam1.build` pairs it with SAM's prompt encoder and mask decoder at width 256 and loads the
    checkpoint; the encoder's keys are those of `mobile_sam.pt` with the `image_encoder.` prefix.
    """
    return TinyViT(
        img_size=1024,
        in_chans=3,
        num_classes=1000,
        embed_dims=(64, 128, 160, 320),
        depths=(2, 2, 6, 2),
        num_heads=(2, 4, 5, 10),
        window_sizes=(7, 7, 14, 7),
        mlp_ratio=4.0,
        drop_rate=0.0,
        drop_path_rate=0.0,
        use_checkpoint=False,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
        out_chans=256,
    ).eval()
