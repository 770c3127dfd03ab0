"""TinyViT (MobileSAM's "vit_t" image encoder): shapes, size, checkpoint layout, attention paths, and
equivalence with the reference implementation when it is installed.

The reference is MobileSAM's own `mobile_sam/modeling/tiny_vit_sam.py`, from the PyPI package
`mobilesam-mirror` (`pip install --no-deps mobilesam-mirror`). It imports timm, which cannot be installed
here without pulling a CUDA build of torch; the three timm helpers it needs are stubbed for that file only.
"""

from __future__ import annotations

import importlib.util
import itertools
import pathlib
import sys
import types

import pytest
import torch
from torch import nn

from sam_core.nn.attention import set_fused_attention
from sam_core.nn.windows import window_partition, window_unpartition
from sam_core.sam1.tiny_vit import TinyViT, build_tiny_vit_encoder
from sam_core.sam1.tiny_vit_blocks import WindowAttention
from tests.conftest import require

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "mobile_sam_image_encoder_keys.txt"
PREFIX = "image_encoder."

# Counted from the reference implementation (identical); head + norm_head = 320*1000 + 1000 + 2*320.
TOTAL_PARAMS = 6_065_532
CLASSIFIER_PARAMS = 321_640


def expected_state_dict_layout() -> dict[str, tuple[int, ...]]:
    layout = {}
    for line in FIXTURE.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape = line.split("\t")
        layout[key] = tuple(int(s) for s in shape.split(",") if s)
    return layout


@pytest.fixture(scope="module")
def encoder() -> TinyViT:
    torch.manual_seed(0)
    return build_tiny_vit_encoder()


def test_output_shape(encoder: TinyViT) -> None:
    assert encoder.img_size == 1024
    assert not encoder.training
    with torch.no_grad():
        out = encoder(torch.randn(1, 3, 1024, 1024))
    assert out.shape == (1, 256, 64, 64)
    assert torch.isfinite(out).all()


def test_grid_follows_input_size(encoder: TinyViT) -> None:
    with torch.no_grad():
        out = encoder(torch.randn(2, 3, 256, 256))  # windows get padded: 32x32 grid with 7x7 windows
    assert out.shape == (2, 256, 16, 16)


def test_parameter_count(encoder: TinyViT) -> None:
    total = sum(p.numel() for p in encoder.parameters())
    classifier = sum(p.numel() for m in (encoder.head, encoder.norm_head) for p in m.parameters())
    assert total == TOTAL_PARAMS
    assert classifier == CLASSIFIER_PARAMS  # stored in mobile_sam.pt, unused by SAM


def test_state_dict_matches_mobile_sam_checkpoint_layout(encoder: TinyViT) -> None:
    expected = expected_state_dict_layout()
    ours = {PREFIX + k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    assert len(expected) == 302
    assert sorted(set(ours) - set(expected)) == [], "keys mobile_sam.pt does not have"
    assert sorted(set(expected) - set(ours)) == [], "keys of mobile_sam.pt we do not have"
    assert ours == expected  # shapes too


def test_loads_a_mobile_sam_shaped_state_dict_strictly() -> None:
    torch.manual_seed(0)
    checkpoint = {k: torch.randn(shape) for k, shape in expected_state_dict_layout().items()}
    checkpoint["mask_decoder.iou_token.weight"] = torch.randn(1, 256)  # other parts of the file
    encoder_part = {k[len(PREFIX) :]: v for k, v in checkpoint.items() if k.startswith(PREFIX)}
    model = build_tiny_vit_encoder()
    model.load_state_dict(encoder_part, strict=True)
    bias = model.layers[2].blocks[0].attn.attention_biases
    assert torch.equal(bias, encoder_part["layers.2.blocks.0.attn.attention_biases"])


@pytest.mark.parametrize("window", [7, 14])
def test_bias_index_is_mobile_sam_first_appearance_order(window: int) -> None:
    points = list(itertools.product(range(window), range(window)))
    first_seen: dict[tuple[int, int], int] = {}
    idxs = []
    for (r1, c1), (r2, c2) in itertools.product(points, points):
        offset = (abs(r1 - r2), abs(c1 - c2))
        idxs.append(first_seen.setdefault(offset, len(first_seen)))
    attn = WindowAttention(dim=64, num_heads=2, window_size=window)
    assert attn.attention_biases.shape == (2, len(first_seen))
    assert torch.equal(attn.attention_bias_idxs, torch.tensor(idxs).view(window**2, window**2))


def test_fused_attention_equals_explicit_softmax() -> None:
    torch.manual_seed(0)
    attn = WindowAttention(dim=160, num_heads=5, window_size=14).eval()
    with torch.no_grad():
        attn.attention_biases.normal_(0, 2.0)
        tokens = torch.randn(6, 196, 160)
        attn.use_fused = True
        fused = attn(tokens)
        attn.use_fused = False
        explicit = attn(tokens)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)


def test_window_partition_round_trip() -> None:
    grid = torch.randn(2, 30, 30, 8)
    windows, padded_hw = window_partition(grid, 7)
    assert windows.shape == (2 * 5 * 5, 7, 7, 8) and padded_hw == (35, 35)
    assert torch.equal(windows[0], grid[0, :7, :7])
    assert torch.equal(windows[1], grid[0, :7, 7:14])  # windows numbered row by row
    assert torch.equal(window_unpartition(windows, 7, padded_hw, (30, 30)), grid)


# --- equivalence with MobileSAM's own code -------------------------------------------------------


def _timm_stub_modules() -> dict[str, types.ModuleType]:
    """Just what tiny_vit_sam.py imports from timm; DropPath is never built (drop_path_rate = 0)."""
    timm, models = types.ModuleType("timm"), types.ModuleType("timm.models")
    layers, registry = types.ModuleType("timm.models.layers"), types.ModuleType("timm.models.registry")
    layers.DropPath = nn.Identity
    layers.to_2tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    layers.trunc_normal_ = lambda tensor, std=1.0: nn.init.trunc_normal_(tensor, std=std)
    registry.register_model = lambda fn: fn
    return {
        "timm": timm,
        "timm.models": models,
        "timm.models.layers": layers,
        "timm.models.registry": registry,
    }


@pytest.fixture(scope="module")
def reference_encoder() -> nn.Module:
    spec = importlib.util.find_spec("mobile_sam")  # does not run the package's __init__ (needs torchvision)
    if spec is None or not spec.submodule_search_locations:
        require("mobile_sam")  # skips locally, fails under CI=true (imports only if it is installed)
    source = pathlib.Path(list(spec.submodule_search_locations)[0]) / "modeling" / "tiny_vit_sam.py"
    if not source.exists():
        pytest.skip(f"reference file missing: {source}")
    saved = {name: sys.modules.get(name) for name in _timm_stub_modules()}
    sys.modules.update(_timm_stub_modules())  # always: an installed timm imports torchvision
    try:
        module_spec = importlib.util.spec_from_file_location("_reference_tiny_vit_sam", source)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    finally:  # leave sys.modules as it was for other tests
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    # exactly build_sam_vit_t's arguments
    return module.TinyViT(
        img_size=1024,
        in_chans=3,
        num_classes=1000,
        embed_dims=[64, 128, 160, 320],
        depths=[2, 2, 6, 2],
        num_heads=[2, 4, 5, 10],
        window_sizes=[7, 7, 14, 7],
        mlp_ratio=4.0,
        drop_rate=0.0,
        drop_path_rate=0.0,
        use_checkpoint=False,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
        layer_lr_decay=0.8,
    )


def _random_state_dict(template: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Random weights of sensible scale, incl. BatchNorm statistics and strong attention biases."""
    torch.manual_seed(0)
    state = {}
    for key, value in template.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand_like(value) + 0.5
        elif key.endswith("running_mean") or (value.ndim == 1 and key.endswith("bias")):
            state[key] = 0.1 * torch.randn_like(value)
        elif value.ndim == 1:  # norm scales
            state[key] = 1.0 + 0.1 * torch.randn_like(value)
        elif "attention_biases" in key:
            state[key] = torch.randn_like(value)
        else:
            state[key] = torch.randn_like(value) / value[0].numel() ** 0.5
    return state


def test_key_set_equals_reference(reference_encoder: nn.Module, encoder: TinyViT) -> None:
    ref = {k: tuple(v.shape) for k, v in reference_encoder.state_dict().items()}
    assert ref == {k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    assert {PREFIX + k: s for k, s in ref.items()} == expected_state_dict_layout()  # the fixture is current
    assert sum(p.numel() for p in reference_encoder.parameters()) == TOTAL_PARAMS


@pytest.mark.slow  # three 1024-px forwards: ~4 s on 2 idle cores, 15 s+ when the machine is busy
def test_output_equals_reference_with_identical_weights(reference_encoder: nn.Module) -> None:
    state = _random_state_dict(reference_encoder.state_dict())
    reference_encoder.load_state_dict(state)
    reference_encoder.eval()  # after loading: the reference caches its bias table in eval()
    ours = build_tiny_vit_encoder()
    ours.load_state_dict(state)
    image = torch.randn(1, 3, 1024, 1024)
    with torch.no_grad():
        expected = reference_encoder(image)
        fused = ours(image)
        set_fused_attention(ours, False)
        explicit = ours(image)
    scale = expected.abs().max()
    assert (fused - expected).abs().max() / scale <= 1e-4
    # same attention operations as the reference; LayerNorm2d uses the fused layer_norm kernel (rounding ~1e-6)
    assert (explicit - expected).abs().max() / scale <= 1e-5
