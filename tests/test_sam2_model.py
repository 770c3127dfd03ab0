"""SAM 2 model facts: parameter counts, Meta's checkpoint key sets, checkpoint loading and its errors."""

from __future__ import annotations

import pytest
import torch

from sam_core.sam2.build import HIERA_SIZES, build_sam2, build_sam2_model, release_options
from sam_core.weights.checkpoint import CheckpointError
from tests.test_sam2_oracle import META_CONFIGS, build_meta

# Meta's README: 38.9 / 46 / 80.8 / 224.4 M parameters
README_MILLIONS = {"hiera_tiny": 38.9, "hiera_small": 46.0, "hiera_base_plus": 80.8, "hiera_large": 224.4}


@pytest.mark.parametrize("model_type", sorted(HIERA_SIZES))
def test_parameter_counts_match_meta_readme(model_type):
    with torch.device("meta"):
        model = build_sam2_model(HIERA_SIZES[model_type])
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(millions - README_MILLIONS[model_type]) < 0.1, millions


def _assert_same_keys(model_type: str, release: str) -> None:
    meta = build_meta(model_type, 1024, video=False, release=release)
    with torch.device("meta"):
        ours = build_sam2_model(HIERA_SIZES[model_type], release_options(release))
    theirs, mine = meta.state_dict(), ours.state_dict()
    assert set(theirs) == set(mine)
    assert all(theirs[k].shape == mine[k].shape for k in theirs)


@pytest.mark.parametrize("release", ["2.0", "2.1"])
def test_tiny_key_set_is_metas(release):
    _assert_same_keys("hiera_tiny", release)


@pytest.mark.slow
@pytest.mark.parametrize("model_type", sorted(set(META_CONFIGS) - {"hiera_tiny"}))
@pytest.mark.parametrize("release", ["2.0", "2.1"])
def test_key_sets_are_metas(model_type, release):
    _assert_same_keys(model_type, release)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A random hiera_tiny state_dict saved as Meta does ({"model": sd}) and as safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = build_sam2("hiera_tiny", image_size=256)
    folder = tmp_path_factory.mktemp("ckpt")
    pt = folder / "sam2.1_hiera_tiny.pt"
    torch.save({"model": model.state_dict()}, pt)
    st = folder / "sam2.1_hiera_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(st))
    return model, pt, st


@pytest.mark.parametrize("which", ["pt", "safetensors"])
def test_checkpoint_round_trip(tiny_checkpoint, which):
    model, pt, st = tiny_checkpoint
    loaded = build_sam2("hiera_tiny", checkpoint=str(pt if which == "pt" else st), image_size=256)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_wrong_variant_is_named(tiny_checkpoint):
    _, pt, _ = tiny_checkpoint
    with pytest.raises(CheckpointError, match="SAM 2.1 hiera_tiny checkpoint, not hiera_small"):
        build_sam2("hiera_small", checkpoint=str(pt), image_size=256)
    with pytest.raises(CheckpointError, match="release='2.1'"):
        build_sam2("hiera_tiny", checkpoint=str(pt), image_size=256, release="2.0")


def test_unknown_model_type():
    with pytest.raises(ValueError, match="hiera_tiny"):
        build_sam2("hiera_huge")
