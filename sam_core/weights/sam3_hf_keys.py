"""transformers `Sam3Model` keys -> sam_core.sam3 (Meta's) keys: the whole image detector.

The table is the inverse of transformers' public conversion script (`convert_sam3_video_to_hf.py`,
ORIGINAL_TO_CONVERTED_KEY_MAPPING), read right to left. What differs besides the names:

- transformers splits fused projections into q / k / v: the ViT's `qkv`, and every
  `nn.MultiheadAttention`'s `in_proj_weight` / `in_proj_bias` (text encoder, geometry encoder, fusion
  encoder, decoder, segmentation head); here they are concatenated back (q, k, v order);
- the ViT position table is stored without Meta's CLS row (never used; a zero row is put back);
- CLIP's `text_projection` is stored as a Linear weight (transposed);
- transformers' geometry encoder takes boxes only: the point-exemplar projections of Meta's
  (`geometry_encoder.points_*`) are not in a transformers checkpoint (see POINT_KEYS);
- the hub's `model.safetensors` is a `Sam3VideoModel`: the detector under `detector_model.`, the SAM 2-style
  tracker under `tracker_model.` and `tracker_neck.` (see hf_tracker_to_sam3_state_dict below).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

_VIT = "vision_encoder.backbone."
_TRUNK = "backbone.vision_backbone.trunk."
_TEXT = "text_encoder.text_model."
_CLIP = "backbone.language_backbone.encoder."

# Our keys a transformers checkpoint cannot carry: transformers' geometry encoder has no point path.
POINT_KEYS = tuple(f"geometry_encoder.points_{name}.{kind}" for name in ("direct_project", "pool_project",
                                                                          "pos_enc_project")
                   for kind in ("weight", "bias"))

# Attention modules: transformers name (q_proj / k_proj / v_proj, o_proj or CLIP's out_proj inside) -> Meta's
# module.
# Meta's are nn.MultiheadAttention (in_proj_*, out_proj) except the ViT's (qkv, proj).
_ATTENTION = [
    (rf"{re.escape(_VIT)}layers\.(\d+)\.attention", _TRUNK + r"blocks.\1.attn"),
    (rf"{re.escape(_TEXT)}encoder\.layers\.(\d+)\.self_attn", _CLIP + r"transformer.resblocks.\1.attn"),
    (r"geometry_encoder\.layers\.(\d+)\.self_attn", r"geometry_encoder.encode.\1.self_attn"),
    (r"geometry_encoder\.layers\.(\d+)\.cross_attn", r"geometry_encoder.encode.\1.cross_attn_image"),
    (r"detr_encoder\.layers\.(\d+)\.self_attn", r"transformer.encoder.layers.\1.self_attn"),
    (r"detr_encoder\.layers\.(\d+)\.cross_attn", r"transformer.encoder.layers.\1.cross_attn_image"),
    (r"detr_decoder\.layers\.(\d+)\.self_attn", r"transformer.decoder.layers.\1.self_attn"),
    (r"detr_decoder\.layers\.(\d+)\.text_cross_attn", r"transformer.decoder.layers.\1.ca_text"),
    (r"detr_decoder\.layers\.(\d+)\.vision_cross_attn", r"transformer.decoder.layers.\1.cross_attn"),
    (r"mask_decoder\.prompt_cross_attn", r"segmentation_head.cross_attend_prompt"),
]

# Everything else: a full-match rename (the parameter's suffix, `.weight` etc., follows the match).
_RENAMES = [
    # vision backbone (ViT) and its neck
    (rf"{re.escape(_VIT)}embeddings\.patch_embeddings\.projection", _TRUNK + "patch_embed.proj"),
    (rf"{re.escape(_VIT)}layer_norm", _TRUNK + "ln_pre"),
    (rf"{re.escape(_VIT)}layers\.(\d+)\.layer_norm(\d)", _TRUNK + r"blocks.\1.norm\2"),
    (rf"{re.escape(_VIT)}layers\.(\d+)\.mlp\.(fc\d)", _TRUNK + r"blocks.\1.mlp.\2"),
    (r"vision_encoder\.neck\.fpn_layers\.0\.scale_layers\.0", r"backbone.vision_backbone.convs.0.dconv_2x2_0"),
    (r"vision_encoder\.neck\.fpn_layers\.0\.scale_layers\.2", r"backbone.vision_backbone.convs.0.dconv_2x2_1"),
    (r"vision_encoder\.neck\.fpn_layers\.1\.scale_layers\.0", r"backbone.vision_backbone.convs.1.dconv_2x2"),
    (r"vision_encoder\.neck\.fpn_layers\.(\d+)\.proj1", r"backbone.vision_backbone.convs.\1.conv_1x1"),
    (r"vision_encoder\.neck\.fpn_layers\.(\d+)\.proj2", r"backbone.vision_backbone.convs.\1.conv_3x3"),
    # text encoder (CLIP) and the resizer to the detector width
    (rf"{re.escape(_TEXT)}embeddings\.token_embedding", _CLIP + "token_embedding"),
    (rf"{re.escape(_TEXT)}final_layer_norm", _CLIP + "ln_final"),
    (rf"{re.escape(_TEXT)}encoder\.layers\.(\d+)\.layer_norm(\d)", _CLIP + r"transformer.resblocks.\1.ln_\2"),
    (rf"{re.escape(_TEXT)}encoder\.layers\.(\d+)\.mlp\.fc1", _CLIP + r"transformer.resblocks.\1.mlp.c_fc"),
    (rf"{re.escape(_TEXT)}encoder\.layers\.(\d+)\.mlp\.fc2", _CLIP + r"transformer.resblocks.\1.mlp.c_proj"),
    (r"text_projection", "backbone.language_backbone.resizer"),
    # geometry / exemplar encoder
    (r"geometry_encoder\.layers\.(\d+)\.layer_norm(\d)", r"geometry_encoder.encode.\1.norm\2"),
    (r"geometry_encoder\.layers\.(\d+)\.mlp\.fc(\d)", r"geometry_encoder.encode.\1.linear\2"),
    (r"geometry_encoder\.vision_layer_norm", "geometry_encoder.img_pre_norm"),
    (r"geometry_encoder\.prompt_layer_norm", "geometry_encoder.norm"),
    (r"geometry_encoder\.output_layer_norm", "geometry_encoder.encode_norm"),
    (r"geometry_encoder\.(label_embed|cls_embed|final_proj|boxes_\w+)", r"geometry_encoder.\1"),
    # fusion encoder
    (r"detr_encoder\.layers\.(\d+)\.layer_norm(\d)", r"transformer.encoder.layers.\1.norm\2"),
    (r"detr_encoder\.layers\.(\d+)\.mlp\.fc(\d)", r"transformer.encoder.layers.\1.linear\2"),
    # decoder: Meta's norm1 follows the image cross-attention, norm2 the self-attention
    (r"detr_decoder\.layers\.(\d+)\.self_attn_layer_norm", r"transformer.decoder.layers.\1.norm2"),
    (r"detr_decoder\.layers\.(\d+)\.text_cross_attn_layer_norm", r"transformer.decoder.layers.\1.catext_norm"),
    (r"detr_decoder\.layers\.(\d+)\.vision_cross_attn_layer_norm", r"transformer.decoder.layers.\1.norm1"),
    (r"detr_decoder\.layers\.(\d+)\.mlp_layer_norm", r"transformer.decoder.layers.\1.norm3"),
    (r"detr_decoder\.layers\.(\d+)\.mlp\.fc(\d)", r"transformer.decoder.layers.\1.linear\2"),
    (r"detr_decoder\.output_layer_norm", "transformer.decoder.norm"),
    (r"detr_decoder\.presence_layer_norm", "transformer.decoder.presence_token_out_norm"),
    (r"detr_decoder\.(query_embed|reference_points|presence_token)", r"transformer.decoder.\1"),
    (r"detr_decoder\.box_head\.layer(\d)", lambda m: f"transformer.decoder.bbox_embed.layers.{int(m[1]) - 1}"),
    (r"detr_decoder\.presence_head\.layer(\d)",
     lambda m: f"transformer.decoder.presence_token_head.layers.{int(m[1]) - 1}"),
    (r"detr_decoder\.ref_point_head\.layer(\d)",
     lambda m: f"transformer.decoder.ref_point_head.layers.{int(m[1]) - 1}"),
    (r"detr_decoder\.box_rpb_embed_([xy])\.layer(\d)",
     lambda m: f"transformer.decoder.boxRPB_embed_{m[1]}.layers.{int(m[2]) - 1}"),
    # scoring
    (r"dot_product_scoring\.text_mlp\.layer(\d)", lambda m: f"dot_prod_scoring.prompt_mlp.layers.{int(m[1]) - 1}"),
    (r"dot_product_scoring\.text_mlp_out_norm", "dot_prod_scoring.prompt_mlp.out_norm"),
    (r"dot_product_scoring\.text_proj", "dot_prod_scoring.prompt_proj"),
    (r"dot_product_scoring\.query_proj", "dot_prod_scoring.hs_proj"),
    # segmentation head
    (r"mask_decoder\.pixel_decoder\.(conv_layers|norms)\.(\d+)", r"segmentation_head.pixel_decoder.\1.\2"),
    (r"mask_decoder\.mask_embedder\.layers\.(\d+)", r"segmentation_head.mask_predictor.mask_embed.layers.\1"),
    (r"mask_decoder\.instance_projection", "segmentation_head.instance_seg_head"),
    (r"mask_decoder\.semantic_projection", "segmentation_head.semantic_seg_head"),
    (r"mask_decoder\.prompt_cross_attn_norm", "segmentation_head.cross_attn_norm"),
]
_ATTENTION_RE = [(re.compile(rf"{src}\.(q|k|v|o|out)_proj\.(weight|bias)"), dst) for src, dst in _ATTENTION]
_RENAMES_RE = [(re.compile(rf"{src}\.(weight|bias)"), dst) for src, dst in _RENAMES]
_SPECIAL = {
    _VIT + "embeddings.position_embeddings": "backbone.vision_backbone.trunk.pos_embed",
    _TEXT + "embeddings.position_embedding.weight": _CLIP + "positional_embedding",
    "text_encoder.text_projection.weight": _CLIP + "text_projection",
}
_DETECTOR_PREFIX = "detector_model."
_TRACKER_PREFIXES = ("tracker_model.", "tracker_neck.")


def is_transformers_sam3_state_dict(state_dict: Mapping[str, object]) -> bool:
    """True for a transformers Sam3Model / Sam3VideoModel state dict (the hub's model.safetensors)."""
    return any(k.startswith((_VIT, _DETECTOR_PREFIX + _VIT)) for k in state_dict)


def _rename(regexes, key: str) -> tuple[str, str] | None:
    """(our module name, the matched suffix groups) for the first full match, or None."""
    for pattern, dst in regexes:
        if m := pattern.fullmatch(key):
            base = m.expand(dst) if isinstance(dst, str) else dst(m)
            return base, m
    return None


def hf_to_sam3_state_dict(hf: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Returns (state dict under sam_core.sam3 names, transformers keys not mapped).

    Arguments:
      hf: a transformers `Sam3Model` state dict, or a `Sam3VideoModel` one (detector under
        `detector_model.`, tracker under `tracker_model.` / `tracker_neck.`): the tracker's image head
        comes back under `tracker.` and `backbone.vision_backbone.sam2_convs.`, its video-only parts
        as unmapped.
    """
    if any(k.startswith(_DETECTOR_PREFIX) for k in hf):
        hf = {k[len(_DETECTOR_PREFIX):] if k.startswith(_DETECTOR_PREFIX) else k: v for k, v in hf.items()}
    out: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    # The hub file's tracker: its FPN (tracker_neck.*) and heads (tracker_model.*), named as in Sam3TrackerModel.
    tracker = {("vision_encoder.neck." + k[len("tracker_neck."):]) if k.startswith("tracker_neck.")
               else k[len("tracker_model."):]: k for k in hf if k.startswith(_TRACKER_PREFIXES)}
    if tracker:
        mapped, rest = hf_tracker_to_sam3_state_dict({short: hf[full] for short, full in tracker.items()})
        out.update(mapped)
        unmapped.extend(tracker[k] for k in rest)
        hf = {k: v for k, v in hf.items() if not k.startswith(_TRACKER_PREFIXES)}
    for key, value in hf.items():
        if key in _SPECIAL:
            if key.endswith("position_embeddings"):  # Meta's table has a CLS row it never uses
                value = torch.cat([value.new_zeros(1, 1, value.shape[-1]), value], dim=1)
            elif key == "text_encoder.text_projection.weight":
                value = value.T.contiguous()
            out[_SPECIAL[key]] = value
        elif hit := _rename(_ATTENTION_RE, key):
            base, m = hit
            which, kind = m.groups()[-2:]
            vit = base.startswith(_TRUNK)
            if which in ("o", "out"):
                out[f"{base}.{'proj' if vit else 'out_proj'}.{kind}"] = value
            elif which == "q":  # concatenate q, k, v once, at the q key
                stem = key[: -len(f"q_proj.{kind}")]
                fused = torch.cat([hf[f"{stem}{p}_proj.{kind}"] for p in "qkv"], dim=0)
                out[f"{base}.qkv.{kind}" if vit else f"{base}.in_proj_{kind}"] = fused
        elif hit := _rename(_RENAMES_RE, key):
            base, m = hit
            out[f"{base}.{m.groups()[-1]}"] = value
        else:
            unmapped.append(key)
    return out, unmapped


# --------------------------------------------------------------------------------------------------
# The tracker head (transformers' Sam3TrackerModel, or the hub file's tracker_model.* / tracker_neck.*)
# --------------------------------------------------------------------------------------------------
# transformers' SAM 2-style heads differ from Meta's (= sam_core.sam2's) as SamModel's do from SAM 1's
# (sam_core.weights.hf_keys), plus: attention `o_proj` (Meta: `out_proj`), the four point embeddings as
# one [4, C] table, and the object-score MLP split like the others (proj_in / layers.i / proj_out).
_TRACKER_IMAGE_PARTS = ("prompt_encoder.", "mask_decoder.", "no_memory_embedding", "shared_image_embedding.")
_SPLIT_MLP = re.compile(r"(?P<mlp>mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head|"
                        r"pred_obj_score_head|transformer\.layers\.\d+\.mlp))\.(?P<part>proj_in|proj_out|layers\.(?P<i>\d+))"
                        r"\.(?P<param>weight|bias)")


def _tracker_key(key: str, value: torch.Tensor, hf: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One Sam3TrackerModel key (no model prefix) -> {our key: tensor}; {} when it is not an image-head key."""
    from sam_core.weights.hf_keys import GAUSSIAN_HF_PROMPT, GAUSSIAN_HF_TOP, hf_to_original_key

    if key == "no_memory_embedding":
        return {"tracker.no_mem_embed": value}
    if key in (GAUSSIAN_HF_TOP, GAUSSIAN_HF_PROMPT):  # tied: one matrix for image and prompt encodings
        return {"tracker.sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": value}
    if key == "prompt_encoder.point_embed.weight":
        return {f"tracker.sam_prompt_encoder.point_embeddings.{i}.weight": value[i: i + 1]
                for i in range(value.shape[0])}
    if m := _SPLIT_MLP.fullmatch(key):
        hidden = sum(1 for k in hf if k.startswith(f"{m['mlp']}.layers.") and k.endswith(".weight"))
        index = 0 if m["part"] == "proj_in" else hidden + 1 if m["part"] == "proj_out" else int(m["i"]) + 1
        if m["mlp"].endswith(".mlp"):  # the two-way blocks' token MLP: SAM 1's MLPBlock in sam3 (lin1, lin2)
            return {f"tracker.sam_{m['mlp']}.lin{index + 1}.{m['param']}": value}
        return {f"tracker.sam_{m['mlp']}.layers.{index}.{m['param']}": value}
    if key.startswith(("prompt_encoder.", "mask_decoder.")):
        renamed = hf_to_original_key(key.replace(".o_proj.", ".out_proj."))
        return {"tracker.sam_" + renamed: value}
    return {}


def hf_tracker_to_sam3_state_dict(hf: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A transformers `Sam3TrackerModel` state dict -> (our keys, keys not mapped).

    Its `vision_encoder.backbone.*` is SAM 3's ViT (the detector's names), its `vision_encoder.neck.*`
    the tracker FPN (`backbone.vision_backbone.sam2_convs.*`), the heads go under `tracker.`. Video-only
    parts (memory attention, memory encoder, object pointers) come back unmapped.
    """
    from sam_core.weights.hf_keys import GAUSSIAN_HF_PROMPT, GAUSSIAN_HF_TOP

    top, prompt = hf.get(GAUSSIAN_HF_TOP), hf.get(GAUSSIAN_HF_PROMPT)
    if top is not None and prompt is not None and not top.is_meta and not torch.equal(top, prompt):
        raise ValueError(f"the tied Gaussian matrix differs between '{GAUSSIAN_HF_TOP}' and '{GAUSSIAN_HF_PROMPT}'; "
                         "SAM uses one matrix for the image and the prompt positional encodings")
    backbone = {k: v for k, v in hf.items() if k.startswith(_VIT)}
    out, unmapped = hf_to_sam3_state_dict(backbone)  # the shared ViT
    for key, value in hf.items():
        if key in backbone:
            continue
        if key.startswith("vision_encoder.neck.") and (hit := _rename(_RENAMES_RE, key)):
            base, m = hit
            out[f"{base}.{m.groups()[-1]}".replace(".convs.", ".sam2_convs.", 1)] = value
        elif key.startswith(_TRACKER_IMAGE_PARTS) and (mapped := _tracker_key(key, value, hf)):
            out.update(mapped)
        else:
            unmapped.append(key)
    return out, unmapped
