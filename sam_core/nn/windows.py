"""Window partition for windowed attention (SAM's ViT, TinyViT): cut a token grid into square windows
that attend only among themselves, and paste the windows back.

    [B, H, W, C] -> zero-pad bottom/right to Hp, Wp (multiples of the window side)
                 -> [B * (Hp / win) * (Wp / win), win, win, C]          (window_partition)
                 -> ... attention inside each window ...
                 -> [B, H, W, C], padding cut off                      (window_unpartition)
Windows are numbered row by row, as in Meta's `image_encoder.py` and MobileSAM's `tiny_vit_sam.py`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def window_partition(x: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> (windows [B * n_windows, window_size, window_size, C], padded size (Hp, Wp)).

    Padding positions are zeros: in the ViT they enter the attention as keys, as in Meta's code.
    """
    b, h, w, c = x.shape
    pad_h = (window_size - h % window_size) % window_size
    pad_w = (window_size - w % window_size) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window_size, window_size, wp // window_size, window_size, c)
    x = x.permute(0, 1, 3, 2, 4, 5)  # B x nH x win x nW x win x C -> B x nH x nW x win x win x C
    return x.reshape(-1, window_size, window_size, c), (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window_size: int, padded_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Inverse of window_partition: [B * n_windows, window_size, window_size, C] -> [B, H, W, C].

    Arguments:
      padded_hw: (Hp, Wp) returned by window_partition; hw: the original (H, W).
    """
    hp, wp = padded_hw
    h, w = hw
    b = windows.shape[0] // ((hp // window_size) * (wp // window_size))
    x = windows.view(b, hp // window_size, wp // window_size, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)  # B x nH x win x nW x win x C -> B x Hp x Wp x C
    if hp > h or wp > w:
        x = x[:, :h, :w, :].contiguous()
    return x
