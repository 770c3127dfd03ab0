"""transformers' SAM 2 names -> Meta's: every key of every size and release, and a safetensors round trip.

The transformers models are built on the meta device from the configs of transformers' own conversion
script (convert_sam2_video_to_hf.py::get_config), so no weights are downloaded.
"""

from __future__ import annotations

import pytest
import torch

from sam_core.sam2.build import HIERA_SIZES, build_sam2, build_sam2_model, release_options
from sam_core.weights.sam2_hf_keys import is_sam2_transformers_state_dict, sam2_hf_to_original_state_dict
from tests.conftest import require


def hf_video_config(model_type: str, image_size: int = 1024, release: str = "2.1"):
    """transformers' Sam2VideoConfig of one of HIERA_SIZES (read from our HieraSize, as get_config spells it)."""
    transformers = require("transformers")
    size = HIERA_SIZES[model_type]
    widths = [size.embed_dim * 2**i for i in range(4)]
    backbone = transformers.Sam2HieraDetConfig(
        hidden_size=size.embed_dim, embed_dim_per_stage=widths,
        num_attention_heads_per_stage=[size.num_heads * 2**i for i in range(4)], blocks_per_stage=list(size.stages),
        global_attention_blocks=list(size.global_att_blocks),
        window_positional_embedding_background_size=list(size.window_pos_embed_bkg_spatial_size),
        window_size_per_stage=list(size.window_spec), image_size=[image_size, image_size],
    )
    vision = transformers.Sam2VisionConfig(
        backbone_config=backbone, backbone_channel_list=widths[::-1],
        backbone_feature_sizes=[[image_size // s] * 2 for s in (4, 8, 16)],
    )
    sam2_1 = release == "2.1"
    return transformers.Sam2VideoConfig(
        vision_config=vision, prompt_encoder_config=transformers.Sam2VideoPromptEncoderConfig(image_size=image_size),
        mask_decoder_config=transformers.Sam2VideoMaskDecoderConfig(), image_size=image_size,
        memory_attention_rope_feat_sizes=[image_size // 16] * 2,
        enable_temporal_pos_encoding_for_object_pointers=sam2_1, enable_occlusion_spatial_embedding=sam2_1,
    )


def hf_image_config(model_type: str, image_size: int = 1024):
    """transformers' Sam2Config (image model) with the same vision / prompt / decoder parts."""
    transformers = require("transformers")
    video = hf_video_config(model_type, image_size)
    return transformers.Sam2Config(
        vision_config=video.vision_config.to_dict(),
        prompt_encoder_config=transformers.Sam2PromptEncoderConfig(image_size=image_size),
        mask_decoder_config=transformers.Sam2MaskDecoderConfig(),
    )


def tie_gaussians_(hf_model) -> None:
    """As the conversion script does: the image-wide and the prompt Gaussian matrix are one tensor."""
    with torch.no_grad():
        hf_model.shared_image_embedding.positional_embedding.copy_(
            hf_model.prompt_encoder.shared_embedding.positional_embedding
        )


def _assert_maps_onto_ours(model_type: str, release: str) -> None:
    transformers = require("transformers")
    with torch.device("meta"):
        hf = transformers.Sam2VideoModel(hf_video_config(model_type, release=release)).state_dict()
        ours = build_sam2_model(HIERA_SIZES[model_type], release_options(release)).state_dict()
    assert is_sam2_transformers_state_dict(hf) and not is_sam2_transformers_state_dict(ours)
    mapped = sam2_hf_to_original_state_dict(hf)
    assert sorted(set(mapped) ^ set(ours)) == []
    assert [k for k in ours if mapped[k].shape != ours[k].shape] == []


@pytest.mark.parametrize("release", ["2.0", "2.1"])
def test_tiny_transformers_keys_map_onto_ours(release):
    _assert_maps_onto_ours("hiera_tiny", release)


@pytest.mark.slow
@pytest.mark.parametrize("model_type", sorted(set(HIERA_SIZES) - {"hiera_tiny"}))
def test_every_size_maps_onto_ours(model_type):
    _assert_maps_onto_ours(model_type, "2.1")


def test_transformers_safetensors_loads_through_build_sam2(tmp_path):
    """A random transformers-format file (as on the hub) loads strictly, tensor for tensor."""
    transformers = require("transformers")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    hf = transformers.Sam2VideoModel(hf_video_config("hiera_tiny", image_size=256)).eval()
    tie_gaussians_(hf)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, str(path))
    ours = build_sam2("hiera_tiny", checkpoint=str(path), image_size=256)
    hf_sd = hf.state_dict()
    assert torch.equal(ours.no_mem_embed, hf_sd["no_memory_embedding"])
    assert torch.equal(ours.sam_prompt_encoder.point_embeddings[2].weight, hf_sd["prompt_encoder.point_embed.weight"][2:3])
    assert torch.equal(ours.obj_ptr_proj.layers[2].weight, hf_sd["object_pointer_proj.proj_out.weight"])
    encoder = ours.memory_encoder.mask_downsampler.encoder
    assert torch.equal(encoder[12].weight, hf_sd["memory_encoder.mask_downsampler.final_conv.weight"])
    assert torch.equal(encoder[4].weight, hf_sd["memory_encoder.mask_downsampler.layers.1.layer_norm.weight"])


def test_inconsistent_gaussian_copies_are_an_error():
    sd = {
        "prompt_encoder.shared_embedding.positional_embedding": torch.zeros(2, 4),
        "shared_image_embedding.positional_embedding": torch.ones(2, 4),
    }
    with pytest.raises(ValueError, match="differ"):
        sam2_hf_to_original_state_dict(sd)
