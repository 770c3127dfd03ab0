"""RoIAlign in plain torch, the same numbers as torchvision.ops.roi_align(aligned=False, sampling_ratio=-1).

Each box is cut into out x out bins; each bin averages ceil(box_size / out) x ceil(box_size / out)
bilinear samples taken at the centres of a regular sub-grid. torchvision's sampling rules are kept:
a sample more than one pixel outside the map reads 0, one within a pixel is clamped to the border.
Bilinear interpolation is separable, so every box's samples are two small matrix products,
A_y · F · A_xᵀ, instead of a gather per sample.
"""

from __future__ import annotations

import math

import torch


def _axis_weights(start: float, size: float, bins: int, samples: int, length: int, device, dtype) -> torch.Tensor:
    """[bins * samples, length] bilinear weights of the sample coordinates along one axis."""
    bin_size = size / bins
    steps = torch.arange(bins * samples, device=device, dtype=dtype)
    coords = start + (steps // samples) * bin_size + ((steps % samples) + 0.5) * bin_size / samples
    valid = (coords >= -1.0) & (coords <= length)
    coords = coords.clamp(min=0)
    low = coords.floor().long()
    at_edge = low >= length - 1
    low = torch.where(at_edge, torch.full_like(low, length - 1), low)
    high = torch.where(at_edge, low, low + 1)
    coords = torch.where(at_edge, low.to(dtype), coords)
    frac = coords - low.to(dtype)
    weights = torch.zeros(bins * samples, length, device=device, dtype=dtype)
    weights.scatter_add_(1, low[:, None], (1 - frac)[:, None])
    weights.scatter_add_(1, high[:, None], frac[:, None])
    return weights * valid[:, None].to(dtype)


def roi_align(features: torch.Tensor, boxes: list[torch.Tensor], output_size: int) -> torch.Tensor:
    """Pool every box of every image to output_size x output_size.

    Arguments:
      features: [B, C, H, W].
      boxes: B tensors [K_b, 4] of (x0, y0, x1, y1) in feature-map pixels.
    Returns:
      [sum K_b, C, output_size, output_size], boxes in order (image 0's first).
    """
    _, channels, height, width = features.shape
    pooled = []
    for image, image_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in image_boxes.tolist():
            box_w, box_h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
            samples_h, samples_w = math.ceil(box_h / output_size), math.ceil(box_w / output_size)
            weights_y = _axis_weights(y0, box_h, output_size, samples_h, height, features.device, features.dtype)
            weights_x = _axis_weights(x0, box_w, output_size, samples_w, width, features.device, features.dtype)
            samples = weights_y @ features[image] @ weights_x.T  # C x (out * sh) x (out * sw)
            samples = samples.view(channels, output_size, samples_h, output_size, samples_w)
            pooled.append(samples.mean(dim=(2, 4)))
    if not pooled:
        return features.new_zeros(0, channels, output_size, output_size)
    return torch.stack(pooled)
