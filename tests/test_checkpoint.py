"""Checkpoint loading: refusal of unsafe / broken files, containers, transformers key mapping, compatibility."""

from __future__ import annotations

import builtins
import pickle
import random

import pytest
import torch
from safetensors.torch import save_file
from torchvision_stub import install_torchvision_stub

from sam_core.weights.checkpoint import CheckpointError, check_compatible, detect_model_type, load_state_dict
from sam_core.weights.hf_keys import GAUSSIAN_HF_PROMPT, GAUSSIAN_HF_TOP, hf_to_original_state_dict

SMALL = {
    "image_encoder.pos_embed": torch.arange(6.0).reshape(1, 2, 3),
    "mask_decoder.iou_token.weight": torch.ones(1, 4),
}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class _WritesAFile:
    """Unpickling this would create `target` (open(target, "w")): the loader must never do it."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (builtins.open, (self.target, "w"))


# ------------------------------------------------------------------ unsafe and broken files


@pytest.mark.parametrize("container", ["torch_zip", "legacy_pickle"])
def test_pickle_with_code_is_refused_and_never_run(tmp_path, container):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pth"
    payload = {"model": dict(SMALL), "extra": _WritesAFile(target)}
    if container == "torch_zip":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    with pytest.raises(CheckpointError, match="refuses to run code"):
        load_state_dict(path)
    assert not target.exists()


def test_truncated_torch_file(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"model": {"w": torch.randn(64, 64)}}, good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_state_dict(bad)


def test_truncated_safetensors(tmp_path):
    good = tmp_path / "good.safetensors"
    save_file({"w": torch.randn(64, 64)}, str(good))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load_state_dict(bad)


def test_random_bytes(tmp_path):
    rng = random.Random(0)
    data = bytes([0x42]) + bytes(rng.getrandbits(8) for _ in range(4095))
    for suffix in (".pth", ".safetensors", ".bin"):
        path = tmp_path / f"noise{suffix}"
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=f"noise{suffix}"):
            load_state_dict(path)


def test_jpeg_html_lfs_empty_missing(tmp_path):
    from PIL import Image

    jpeg = tmp_path / "photo.pth"
    Image.new("RGB", (16, 16), (200, 10, 10)).save(jpeg, format="JPEG")
    with pytest.raises(CheckpointError, match="JPEG image"):
        load_state_dict(jpeg)
    page = tmp_path / "sam.pth"
    page.write_text("<!DOCTYPE html><html><body>Access denied</body></html>")
    with pytest.raises(CheckpointError, match="HTML"):
        load_state_dict(page)
    lfs = tmp_path / "lfs.safetensors"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(CheckpointError, match="Git LFS pointer"):
        load_state_dict(lfs)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_state_dict(empty)
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_state_dict(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="folder without"):
        load_state_dict(tmp_path)


def test_size_limit(tmp_path):
    path = tmp_path / "big.safetensors"
    save_file({"w": torch.zeros(1024)}, str(path))
    with pytest.raises(CheckpointError, match="allowed for a SAM checkpoint"):
        load_state_dict(path, max_bytes=1000)
    assert load_state_dict(path, max_bytes=None)["w"].shape == (1024,)


def test_no_tensors(tmp_path):
    path = tmp_path / "meta.pth"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(CheckpointError, match="contains no tensors"):
        load_state_dict(path)


# ------------------------------------------------------------------ good files and containers


def test_safetensors_round_trip(tmp_path):
    path = tmp_path / "sam.safetensors"
    save_file(SMALL, str(path))
    _assert_same(load_state_dict(path), SMALL)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"model": sd},
        lambda sd: {"state_dict": sd, "epoch": 7, "optimizer": {"lr": 1e-4}},
        lambda sd: {"checkpoint": 1, "model_state_dict": sd},
        lambda sd: {"model": {"module": sd}},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
    ],
    ids=["plain", "model", "state_dict", "model_state_dict", "nested", "module_prefix"],
)
def test_container_unwrapping(tmp_path, wrap):
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(dict(SMALL)), path)
    _assert_same(load_state_dict(path), SMALL)


# ------------------------------------------------------------------ transformers <-> original


@pytest.fixture(scope="module")
def models():
    """(official segment_anything vit_b, transformers SamModel) with independent random weights."""
    install_torchvision_stub()
    from segment_anything import build_sam_vit_b
    from transformers import SamConfig, SamModel

    torch.manual_seed(0)
    return build_sam_vit_b().eval(), SamModel(SamConfig()).eval()


def test_hf_mapping_complete_against_official_vit_b(models):
    official, hf = models
    hf_sd = hf.state_dict()
    assert GAUSSIAN_HF_TOP in hf_sd and GAUSSIAN_HF_PROMPT in hf_sd  # the tied pair, in memory
    mapped = hf_to_original_state_dict(hf_sd)
    want = official.state_dict()
    assert len(mapped) == len(want) == len(hf_sd) - 1  # every key exactly once; the tied copy dropped
    assert set(mapped) == set(want)
    assert [k for k in want if mapped[k].shape != want[k].shape] == []
    assert detect_model_type(mapped) == "vit_b"


def test_hf_weights_give_same_decoder_output(models):
    """Same weights, same prompts -> same masks: catches swapped layers that names and shapes cannot."""
    official, hf = models
    official.load_state_dict(hf_to_original_state_dict(hf.state_dict()), strict=True)
    torch.manual_seed(1)
    embedding = torch.randn(1, 256, 64, 64)
    points = torch.tensor([[[342.0, 517.0], [600.0, 200.0]]])
    labels = torch.tensor([[1, 0]])
    with torch.no_grad():
        sparse, dense = official.prompt_encoder(points=(points, labels), boxes=None, masks=None)
        logits, iou = official.mask_decoder(
            image_embeddings=embedding,
            image_pe=official.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
        )
        out = hf(
            image_embeddings=embedding,
            input_points=points[:, None],
            input_labels=labels[:, None],
            multimask_output=True,
        )
    torch.testing.assert_close(logits, out.pred_masks[:, 0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(iou, out.iou_scores[:, 0], atol=1e-5, rtol=1e-5)


def test_save_pretrained_folder_loads_with_original_keys(models, tmp_path):
    official, hf = models
    hf.save_pretrained(tmp_path / "sam-hf")
    loaded = load_state_dict(tmp_path / "sam-hf")  # folder: model.safetensors inside
    assert set(loaded) == set(official.state_dict())
    torch.testing.assert_close(
        loaded["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"],
        hf.shared_image_embedding.positional_embedding,
    )
    check_compatible(loaded, "vit_b", official.state_dict())


def test_tied_gaussian_copies_must_agree(models):
    _, hf = models
    sd = dict(hf.state_dict())
    sd[GAUSSIAN_HF_PROMPT] = sd[GAUSSIAN_HF_PROMPT] + 1
    with pytest.raises(ValueError, match="tied Gaussian matrix"):
        hf_to_original_state_dict(sd)
    only_prompt = {k: v for k, v in hf.state_dict().items() if k != GAUSSIAN_HF_TOP}
    assert "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix" in hf_to_original_state_dict(
        only_prompt
    )


# ------------------------------------------------------------------ compatibility messages


@pytest.fixture(scope="module")
def meta_state_dicts():
    """Official vit_b / vit_h state_dicts on the meta device: shapes without memory."""
    install_torchvision_stub()
    from segment_anything import build_sam_vit_b, build_sam_vit_h

    with torch.device("meta"):
        return build_sam_vit_b().state_dict(), build_sam_vit_h().state_dict()


def test_vit_b_checkpoint_checked_as_vit_h_names_both(meta_state_dicts):
    vit_b, vit_h = meta_state_dicts
    assert detect_model_type(vit_b) == "vit_b" and detect_model_type(vit_h) == "vit_h"
    with pytest.raises(CheckpointError) as err:
        check_compatible(vit_b, "vit_h", vit_h)
    msg = str(err.value)
    assert "'vit_h'" in msg and "a vit_b checkpoint (12 ViT blocks, width 768)" in msg
    assert "choose model type 'vit_b'" in msg
    assert "missing keys: image_encoder.blocks.12." in msg
    assert "first shape mismatch: image_encoder.pos_embed is [1, 64, 64, 768] in the checkpoint" in msg
    check_compatible(vit_h, "vit_h", vit_h)  # fits: no exception
    check_compatible(vit_h, "vit_h", vit_h.keys())  # keys view: shapes still known


def test_check_compatible_keys_only_and_unexpected(meta_state_dicts):
    vit_b, _ = meta_state_dicts
    extra = dict(vit_b)
    extra["adapter.weight"] = torch.zeros(3)
    del extra["mask_decoder.iou_token.weight"]
    with pytest.raises(CheckpointError) as err:
        check_compatible(extra, "vit_b", list(vit_b))
    msg = str(err.value)
    assert (
        "1 missing keys: mask_decoder.iou_token.weight" in msg and "1 unexpected keys: adapter.weight" in msg
    )
    assert "choose model type" not in msg  # same type: no advice to switch


def test_detects_vit_t_and_nano():
    tiny = {
        "image_encoder.patch_embed.seq.0.c.weight": torch.zeros(32, 3, 3, 3),
        "image_encoder.layers.0.x": torch.zeros(1),
    }
    assert detect_model_type(tiny) == "vit_t"
    nano = {"mask_decoder.iou_token.weight": torch.Size([1, 128]), "image_encoder.stem.weight": (16, 3, 3, 3)}
    assert detect_model_type(nano) == "nano"
    with pytest.raises(CheckpointError, match="'vit_b'.*a nano checkpoint.*choose model type 'nano'"):
        check_compatible(nano, "vit_b", ["mask_decoder.iou_token.weight"])
    assert detect_model_type({"fc.weight": torch.zeros(2)}) is None
