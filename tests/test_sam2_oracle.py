"""Meta's sam2 package as a test oracle: import it (with a torchvision stand-in), build it, copy weights.

PyPI `sam2==1.1.0` holds Meta's facebookresearch/sam2 code; install it without its torch/torchvision
pins (they would replace the CPU torch):
    SAM2_BUILD_CUDA=0 pip install --no-build-isolation --no-deps sam2==1.1.0 hydra-core iopath
Under CI=true a missing oracle fails instead of skipping.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sam_core.sam2.build import HIERA_SIZES, build_sam2_model, release_options
from sam_core.sam2.sam2_base import SAM2Base
from tests.torchvision_stub import install_torchvision_stub

META_CONFIGS = {
    "hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "hiera_base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "hiera_large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
# What Meta's build_sam2 / build_sam2_video_predictor add to the yaml configs at inference.
IMAGE_OVERRIDES = [
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
]
VIDEO_OVERRIDES = [
    "++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor",
    *IMAGE_OVERRIDES,
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=0",  # its hole filling needs a CUDA extension; ours has none either
]


class _ToTensor(nn.Module):
    def forward(self, x):  # HWC uint8 array -> CHW float in [0, 1], like torchvision's ToTensor
        return torch.from_numpy(x).permute(2, 0, 1).float() / 255.0


class _Resize(nn.Module):
    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = [int(size[0]), int(size[1])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # torchvision's tensor path: bilinear, antialias
        return F.interpolate(x[None], size=self.size, mode="bilinear", align_corners=False, antialias=True)[0]


class _Normalize(nn.Module):
    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def require_oracle():
    """Import Meta's sam2 (skip, or fail under CI=true, when it is not installed)."""
    install_torchvision_stub()
    transforms = sys.modules.get("torchvision.transforms")
    if transforms is not None and not hasattr(transforms, "Resize"):
        transforms.ToTensor, transforms.Resize, transforms.Normalize = _ToTensor, _Resize, _Normalize
    try:
        import sam2  # noqa: F401
        from sam2.sam2_image_predictor import SAM2ImagePredictor
        from sam2.sam2_video_predictor import SAM2VideoPredictor
    except ImportError as error:
        message = f"Meta's sam2 package is not importable ({error}); see tests/test_sam2_oracle.py"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SAM2ImagePredictor, SAM2VideoPredictor


def build_meta(model_type: str, image_size: int, video: bool, device: str = "cpu", release: str = "2.1"):
    """Meta's model from its own yaml config (randomly initialised), in eval mode."""
    require_oracle()
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    if not GlobalHydra.instance().is_initialized():
        initialize_config_module("sam2", version_base="1.2")
    overrides = (VIDEO_OVERRIDES if video else IMAGE_OVERRIDES) + [f"++model.image_size={image_size}"]
    config = META_CONFIGS[model_type]
    if release == "2.0":
        config = config.replace("sam2.1/sam2.1_", "sam2/sam2_")
    cfg = compose(config_name=config, overrides=overrides)
    OmegaConf.resolve(cfg)
    with torch.device(device):
        model = instantiate(cfg.model, _recursive_=True)
    return model.eval()


def randomize_(model: nn.Module, seed: int = 0, scale: float = 0.02) -> None:
    """Perturb every parameter (zero-initialised ones and the 1e-6 layer scales included), reproducibly."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.add_(torch.randn(p.shape, generator=generator) * scale)


def ours_like(meta_model, model_type: str, image_size: int, model_class=SAM2Base) -> SAM2Base:
    """Our model of the same layout with Meta's weights loaded strictly (no renaming)."""
    ours = build_sam2_model(HIERA_SIZES[model_type], release_options("2.1", image_size), model_class=model_class)
    ours.load_state_dict(meta_model.state_dict(), strict=True)
    return ours.eval()


def test_oracle_imports():
    image_cls, video_cls = require_oracle()
    assert image_cls.__module__ == "sam2.sam2_image_predictor"
    assert video_cls.__module__ == "sam2.sam2_video_predictor"
