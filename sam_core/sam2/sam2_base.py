"""SAM2Base: image encoder + memory attention + memory encoder + SAM-style prompt encoder and decoder.

Per frame (track_step): features of the image -> (prompted first frame) + no-memory embedding, or
memory attention over the bank -> prompt encoder + mask decoder -> masks, IoUs, object score, object
pointer -> memory encoder on the (high-res) mask -> a new memory for later frames. Where the object
score is negative the masks are set to NO_OBJ_SCORE, the pointer becomes the learned `no_obj_ptr`, and
the spatial memory gets `no_obj_embed_spatial` added (occlusion handling).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.nn.blocks import MLP
from sam_core.sam2.image_encoder import ImageEncoder
from sam_core.sam2.mask_decoder import MaskDecoder
from sam_core.sam2.memory_attention import MemoryAttention
from sam_core.sam2.memory_bank import gather_memories
from sam_core.sam2.memory_encoder import MemoryEncoder
from sam_core.sam2.prompt_encoder import PromptEncoder
from sam_core.sam2.transformer import build_two_way_transformer
from sam_core.tracing import record, timed

NO_OBJ_SCORE = -1024.0  # mask logit placed everywhere when the object is predicted absent


@dataclass(frozen=True)
class SAM2Options:
    """SAM 2.1's tracking options (Meta's names; the values of its sam2.1 configs + inference overrides)."""

    num_maskmem: int = 7  # memory slots: 1 prompted + 6 recent frames
    image_size: int = 1024
    backbone_stride: int = 16  # image embedding 64 x 64
    sigmoid_scale_for_mem_enc: float = 20.0  # memory-encoder mask input sigmoid * 20 - 10
    sigmoid_bias_for_mem_enc: float = -10.0
    binarize_mask_from_pts_for_mem_enc: bool = True  # clicked frames: the mask the user saw, binarised
    use_mask_input_as_output_without_sam: bool = True  # a mask prompt is taken as the output directly
    max_cond_frames_in_attn: int = -1  # attend to every prompted frame
    directly_add_no_mem_embed: bool = True  # prompted first frame: add no_mem_embed, skip memory attention
    use_high_res_features_in_sam: bool = True  # stride 4 / 8 skips into the decoder
    multimask_output_in_sam: bool = True  # 3 masks for a first click ...
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1  # ... i.e. for 0 or 1 prompt points
    multimask_output_for_tracking: bool = True  # and for tracked frames (best IoU kept)
    use_multimask_token_for_obj_ptr: bool = True
    iou_prediction_use_sigmoid: bool = True
    memory_temporal_stride_for_eval: int = 1
    non_overlap_masks_for_mem_enc: bool = False
    use_obj_ptrs_in_encoder: bool = True  # object pointers as extra memory tokens
    max_obj_ptrs_in_encoder: int = 16
    add_tpos_enc_to_obj_ptrs: bool = True
    proj_tpos_enc_in_obj_ptrs: bool = True
    use_signed_tpos_enc_to_obj_ptrs: bool = True
    only_obj_ptrs_in_the_past_for_eval: bool = True
    pred_obj_scores: bool = True  # the occlusion head
    pred_obj_scores_mlp: bool = True
    fixed_no_obj_ptr: bool = True
    soft_no_obj_ptr: bool = False
    use_mlp_for_obj_ptr_proj: bool = True
    no_obj_embed_spatial: bool = True
    dynamic_multimask_via_stability: bool = True  # Meta's build_sam2 post-processing overrides
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98


class SAM2Base(nn.Module):
    """The SAM 2 model; every SAM2Options field is also an attribute under Meta's name.

    Arguments:
      image_encoder: Hiera + FPN; memory_attention: 4 RoPE layers; memory_encoder: mask + features -> 64-d.
    """

    def __init__(
        self, image_encoder: ImageEncoder, memory_attention: MemoryAttention, memory_encoder: MemoryEncoder,
        options: SAM2Options = SAM2Options(),
    ) -> None:
        super().__init__()
        self.options = options
        for f in dataclasses.fields(options):
            setattr(self, f.name, getattr(options, f.name))
        self.image_encoder = image_encoder
        self.num_feature_levels = 3 if self.use_high_res_features_in_sam else 1
        if self.use_obj_ptrs_in_encoder:
            # a mask prompt -> stride-4 logits the decoder can read to produce a pointer
            self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.memory_attention = memory_attention
        self.hidden_dim = image_encoder.neck.d_model
        self.memory_encoder = memory_encoder
        out_proj = memory_encoder.out_proj
        self.mem_dim = out_proj.weight.shape[0] if isinstance(out_proj, nn.Conv2d) else self.hidden_dim
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(self.num_maskmem, 1, 1, self.mem_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, self.hidden_dim))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, self.hidden_dim))
        for p in (self.maskmem_tpos_enc, self.no_mem_embed, self.no_mem_pos_enc):
            nn.init.trunc_normal_(p, std=0.02)
        if self.pred_obj_scores and self.use_obj_ptrs_in_encoder:
            self.no_obj_ptr = nn.Parameter(torch.zeros(1, self.hidden_dim))
            nn.init.trunc_normal_(self.no_obj_ptr, std=0.02)
        if self.no_obj_embed_spatial:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, self.mem_dim))
            nn.init.trunc_normal_(self.no_obj_embed_spatial, std=0.02)
        else:
            self.no_obj_embed_spatial = None
        self._build_sam_heads()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _build_sam_heads(self) -> None:
        """SAM 1's prompt encoder and a SAM 2 mask decoder (hyperparameters from SAM), pointer projections."""
        self.sam_prompt_embed_dim = self.hidden_dim
        self.sam_image_embedding_size = self.image_size // self.backbone_stride
        size = self.sam_image_embedding_size
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=self.hidden_dim, image_embedding_size=(size, size),
            input_image_size=(self.image_size, self.image_size), mask_in_chans=16,
        )
        self.sam_mask_decoder = MaskDecoder(
            num_multimask_outputs=3,
            transformer=build_two_way_transformer(depth=2, embedding_dim=self.hidden_dim, mlp_dim=2048, num_heads=8),
            transformer_dim=self.hidden_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
            use_high_res_features=self.use_high_res_features_in_sam,
            iou_prediction_use_sigmoid=self.iou_prediction_use_sigmoid,
            pred_obj_scores=self.pred_obj_scores,
            pred_obj_scores_mlp=self.pred_obj_scores_mlp,
            use_multimask_token_for_obj_ptr=self.use_multimask_token_for_obj_ptr,
            dynamic_multimask_via_stability=self.dynamic_multimask_via_stability,
            dynamic_multimask_stability_delta=self.dynamic_multimask_stability_delta,
            dynamic_multimask_stability_thresh=self.dynamic_multimask_stability_thresh,
        )
        if self.use_obj_ptrs_in_encoder:
            c = self.hidden_dim
            self.obj_ptr_proj = MLP(c, c, c, 3) if self.use_mlp_for_obj_ptr_proj else nn.Linear(c, c)
        else:
            self.obj_ptr_proj = nn.Identity()
        self.obj_ptr_tpos_proj = (
            nn.Linear(self.hidden_dim, self.mem_dim) if self.proj_tpos_enc_in_obj_ptrs else nn.Identity()
        )

    def forward(self, *args, **kwargs):
        raise NotImplementedError("Use SAM2ImagePredictor or SAM2VideoPredictor for inference.")

    # ----- image features -------------------------------------------------------------------------
    def forward_image(self, img_batch: torch.Tensor) -> dict:
        """[B, 3, 1024, 1024] normalised -> the encoder's dict, levels 0 / 1 already through conv_s0 / conv_s1."""
        with timed("sam2.image_encoder"):
            backbone_out = self.image_encoder(img_batch)
        if self.use_high_res_features_in_sam:
            fpn = backbone_out["backbone_fpn"]
            fpn[0] = self.sam_mask_decoder.conv_s0(fpn[0])
            fpn[1] = self.sam_mask_decoder.conv_s1(fpn[1])
        return backbone_out

    def _prepare_backbone_features(self, backbone_out: dict):
        """-> (backbone_out, feats [HW, B, C] per level, pos encodings [HW, B, C], sizes (H, W)), finest first."""
        backbone_out = backbone_out.copy()
        assert len(backbone_out["backbone_fpn"]) == len(backbone_out["vision_pos_enc"])
        feature_maps = backbone_out["backbone_fpn"][-self.num_feature_levels :]
        pos_embeds = backbone_out["vision_pos_enc"][-self.num_feature_levels :]
        feat_sizes = [(x.shape[-2], x.shape[-1]) for x in pos_embeds]
        vision_feats = [x.flatten(2).permute(2, 0, 1) for x in feature_maps]  # B x C x H x W -> HW x B x C
        vision_pos_embeds = [x.flatten(2).permute(2, 0, 1) for x in pos_embeds]
        return backbone_out, vision_feats, vision_pos_embeds, feat_sizes

    # ----- SAM heads ----------------------------------------------------------------------------
    def _forward_sam_heads(
        self, backbone_features: torch.Tensor, point_inputs: dict | None = None,
        mask_inputs: torch.Tensor | None = None, high_res_features: list[torch.Tensor] | None = None,
        multimask_output: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """Prompt encoder + decoder on [B, C, 64, 64] features.

        point_inputs: {"point_coords": [B, P, 2] input-frame pixels, "point_labels": [B, P]} or None;
        mask_inputs: [B, 1, H, W] logits or None. Returns (low_res_multimasks [B, M, 256, 256],
        high_res_multimasks [B, M, 1024, 1024], ious [B, M], low_res_masks [B, 1, 256, 256] (best),
        high_res_masks, obj_ptr [B, C], object_score_logits [B, 1]).
        """
        b = backbone_features.shape[0]
        device = backbone_features.device
        if point_inputs is not None:
            coords, labels = point_inputs["point_coords"], point_inputs["point_labels"]
        else:  # no points: one padding point
            coords = torch.zeros(b, 1, 2, device=device)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=device)
        sam_mask_prompt = None
        if mask_inputs is not None:
            sam_mask_prompt = mask_inputs
            if mask_inputs.shape[-2:] != self.sam_prompt_encoder.mask_input_size:
                sam_mask_prompt = F.interpolate(
                    mask_inputs.float(), size=self.sam_prompt_encoder.mask_input_size,
                    align_corners=False, mode="bilinear", antialias=True,
                )
        with timed("sam2.mask_decoder"):
            sparse, dense = self.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=sam_mask_prompt)
            low_res_multimasks, ious, sam_output_tokens, object_score_logits = self.sam_mask_decoder(
                image_embeddings=backbone_features, image_pe=self.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=multimask_output, repeat_image=False, high_res_features=high_res_features,
            )
        is_obj_appearing = object_score_logits > 0
        if self.pred_obj_scores:
            # the mask for memory is a hard choice, consistent with what is shown
            low_res_multimasks = torch.where(is_obj_appearing[:, None, None], low_res_multimasks, NO_OBJ_SCORE)
        low_res_multimasks = low_res_multimasks.float()
        high_res_multimasks = F.interpolate(
            low_res_multimasks, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
        )
        sam_output_token = sam_output_tokens[:, 0]
        if multimask_output:
            best = torch.argmax(ious, dim=-1)
            rows = torch.arange(b, device=device)
            low_res_masks = low_res_multimasks[rows, best].unsqueeze(1)
            high_res_masks = high_res_multimasks[rows, best].unsqueeze(1)
            if sam_output_tokens.shape[1] > 1:
                sam_output_token = sam_output_tokens[rows, best]
        else:
            low_res_masks, high_res_masks = low_res_multimasks, high_res_multimasks

        obj_ptr = self.obj_ptr_proj(sam_output_token)
        if self.pred_obj_scores:
            appearing = object_score_logits.sigmoid() if self.soft_no_obj_ptr else is_obj_appearing.float()
            if self.fixed_no_obj_ptr:
                obj_ptr = appearing * obj_ptr
            obj_ptr = obj_ptr + (1 - appearing) * self.no_obj_ptr
        record("sam2.object_score_logits", object_score_logits)
        record("sam2.obj_ptr", obj_ptr)
        return (low_res_multimasks, high_res_multimasks, ious, low_res_masks, high_res_masks, obj_ptr,
                object_score_logits)

    def _use_mask_as_output(
        self, backbone_features: torch.Tensor, high_res_features: list[torch.Tensor] | None, mask_inputs: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """A mask prompt [B, 1, 1024, 1024] in {0, 1} becomes the output (logits -10 / +10); the decoder only
        supplies the object pointer. Same outputs as _forward_sam_heads: the low-res mask has the decoder's
        size, 4 x the embedding grid (Meta writes image_size // 4, the same number at stride 16; at the nano's
        stride 8 it would be half the decoder's, and a clip mixing mask- and click-prompted objects could not
        be batched)."""
        out_scale, out_bias = 20.0, -10.0
        mask_float = mask_inputs.float()
        high_res_masks = mask_float * out_scale + out_bias
        low_res = 4 * self.sam_image_embedding_size
        low_res_masks = F.interpolate(
            high_res_masks, size=(low_res, low_res),
            align_corners=False, mode="bilinear", antialias=True,
        )
        ious = mask_inputs.new_ones(mask_inputs.shape[0], 1).float()
        if not self.use_obj_ptrs_in_encoder:
            obj_ptr = torch.zeros(mask_inputs.shape[0], self.hidden_dim, device=mask_inputs.device)
        else:
            obj_ptr = self._forward_sam_heads(
                backbone_features, mask_inputs=self.mask_downsample(mask_float), high_res_features=high_res_features
            )[5]
        appearing = torch.any(mask_float.flatten(1) > 0.0, dim=1)[..., None].float()
        object_score_logits = out_scale * appearing + out_bias
        if self.pred_obj_scores:
            if self.fixed_no_obj_ptr:
                obj_ptr = appearing * obj_ptr
            obj_ptr = obj_ptr + (1 - appearing) * self.no_obj_ptr
        return low_res_masks, high_res_masks, ious, low_res_masks, high_res_masks, obj_ptr, object_score_logits

    # ----- memory ---------------------------------------------------------------------------------
    def _prepare_memory_conditioned_features(
        self, frame_idx: int, is_init_cond_frame: bool, current_vision_feats: list[torch.Tensor],
        current_vision_pos_embeds: list[torch.Tensor], feat_sizes: list[tuple[int, int]], output_dict: dict,
        num_frames: int, track_in_reverse: bool = False,
    ) -> torch.Tensor:
        """The frame's stride-16 features [HW, B, C] fused with the memory bank -> [B, C, H, W]."""
        b = current_vision_feats[-1].shape[1]
        c = self.hidden_dim
        h, w = feat_sizes[-1]
        device = current_vision_feats[-1].device
        if self.num_maskmem == 0:  # SAM on images: no memory
            return current_vision_feats[-1].permute(1, 2, 0).view(b, c, h, w)
        num_obj_ptr_tokens = 0
        if not is_init_cond_frame:
            bank = gather_memories(self, frame_idx, output_dict, num_frames, track_in_reverse, b, device)
            bank.record()
            memory, memory_pos, num_obj_ptr_tokens = bank.memory, bank.memory_pos, bank.num_obj_ptr_tokens
        else:
            if self.directly_add_no_mem_embed:
                pix_feat_with_mem = current_vision_feats[-1] + self.no_mem_embed
                return pix_feat_with_mem.permute(1, 2, 0).view(b, c, h, w)
            memory = self.no_mem_embed.expand(1, b, self.mem_dim)  # a dummy token: never an empty memory
            memory_pos = self.no_mem_pos_enc.expand(1, b, self.mem_dim)
        with timed("sam2.memory_attention"):
            pix_feat_with_mem = self.memory_attention(
                curr=current_vision_feats[-1], curr_pos=current_vision_pos_embeds[-1], memory=memory,
                memory_pos=memory_pos, num_obj_ptr_tokens=num_obj_ptr_tokens,
            )
        return pix_feat_with_mem.permute(1, 2, 0).view(b, c, h, w)  # HW x B x C -> B x C x H x W

    def _encode_new_memory(
        self, current_vision_feats: list[torch.Tensor], feat_sizes: list[tuple[int, int]],
        pred_masks_high_res: torch.Tensor, object_score_logits: torch.Tensor, is_mask_from_pts: bool,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Memory of this frame: ([B, 64, 64, 64], [its position encoding]) from features + mask logits."""
        b = current_vision_feats[-1].shape[1]
        h, w = feat_sizes[-1]
        pix_feat = current_vision_feats[-1].permute(1, 2, 0).view(b, self.hidden_dim, h, w)
        if self.non_overlap_masks_for_mem_enc and not self.training:
            pred_masks_high_res = self._apply_non_overlapping_constraints(pred_masks_high_res)
        if self.binarize_mask_from_pts_for_mem_enc and is_mask_from_pts and not self.training:
            mask_for_mem = (pred_masks_high_res > 0).float()
        else:
            mask_for_mem = torch.sigmoid(pred_masks_high_res)
        if self.sigmoid_scale_for_mem_enc != 1.0:
            mask_for_mem = mask_for_mem * self.sigmoid_scale_for_mem_enc
        if self.sigmoid_bias_for_mem_enc != 0.0:
            mask_for_mem = mask_for_mem + self.sigmoid_bias_for_mem_enc
        with timed("sam2.memory_encoder"):
            maskmem_out = self.memory_encoder(pix_feat, mask_for_mem, skip_mask_sigmoid=True)
        maskmem_features = maskmem_out["vision_features"]
        if self.no_obj_embed_spatial is not None:
            absent = 1 - (object_score_logits > 0).float()
            maskmem_features = maskmem_features + absent[..., None, None] * self.no_obj_embed_spatial[..., None, None]
        return maskmem_features, maskmem_out["vision_pos_enc"]

    def track_step(
        self, frame_idx: int, is_init_cond_frame: bool, current_vision_feats: list[torch.Tensor],
        current_vision_pos_embeds: list[torch.Tensor], feat_sizes: list[tuple[int, int]],
        point_inputs: dict | None, mask_inputs: torch.Tensor | None, output_dict: dict, num_frames: int,
        track_in_reverse: bool = False, run_mem_encoder: bool = True, prev_sam_mask_logits: torch.Tensor | None = None,
    ) -> dict:
        """One frame: memory-conditioned features -> SAM heads -> (optionally) the new memory.

        Returns {"point_inputs", "mask_inputs", "pred_masks" [B, 1, 256, 256], "pred_masks_high_res",
        "obj_ptr" [B, C], "object_score_logits" [B, 1], "maskmem_features", "maskmem_pos_enc"}.
        """
        current_out = {"point_inputs": point_inputs, "mask_inputs": mask_inputs}
        if len(current_vision_feats) > 1:  # HW x B x C -> B x C x H x W
            high_res_features = [
                x.permute(1, 2, 0).view(x.shape[1], x.shape[2], *s)
                for x, s in zip(current_vision_feats[:-1], feat_sizes[:-1], strict=True)
            ]
        else:
            high_res_features = None
        if mask_inputs is not None and self.use_mask_input_as_output_without_sam:
            pix_feat = current_vision_feats[-1].permute(1, 2, 0).view(-1, self.hidden_dim, *feat_sizes[-1])
            sam_outputs = self._use_mask_as_output(pix_feat, high_res_features, mask_inputs)
        else:
            pix_feat = self._prepare_memory_conditioned_features(
                frame_idx, is_init_cond_frame, current_vision_feats[-1:], current_vision_pos_embeds[-1:],
                feat_sizes[-1:], output_dict, num_frames, track_in_reverse,
            )
            if prev_sam_mask_logits is not None:  # earlier logits of this frame, with new clicks
                assert point_inputs is not None and mask_inputs is None
                mask_inputs = prev_sam_mask_logits
            sam_outputs = self._forward_sam_heads(
                pix_feat, point_inputs=point_inputs, mask_inputs=mask_inputs, high_res_features=high_res_features,
                multimask_output=self._use_multimask(is_init_cond_frame, point_inputs),
            )
        _, _, _, low_res_masks, high_res_masks, obj_ptr, object_score_logits = sam_outputs
        current_out["pred_masks"] = low_res_masks
        current_out["pred_masks_high_res"] = high_res_masks
        current_out["obj_ptr"] = obj_ptr
        current_out["object_score_logits"] = object_score_logits
        if run_mem_encoder and self.num_maskmem > 0:
            current_out["maskmem_features"], current_out["maskmem_pos_enc"] = self._encode_new_memory(
                current_vision_feats, feat_sizes, high_res_masks, object_score_logits, point_inputs is not None
            )
        else:
            current_out["maskmem_features"] = None
            current_out["maskmem_pos_enc"] = None
        return current_out

    def _use_multimask(self, is_init_cond_frame: bool, point_inputs: dict | None) -> bool:
        """3 masks on a first click (0-1 points) of a prompted frame, and (SAM 2.1) on tracked frames."""
        num_pts = 0 if point_inputs is None else point_inputs["point_labels"].shape[1]
        return (
            self.multimask_output_in_sam
            and (is_init_cond_frame or self.multimask_output_for_tracking)
            and (self.multimask_min_pt_num <= num_pts <= self.multimask_max_pt_num)
        )

    def _apply_non_overlapping_constraints(self, pred_masks: torch.Tensor) -> torch.Tensor:
        """Keep only the highest-scoring object per pixel; the others' logits are clamped to <= -10."""
        if pred_masks.shape[0] == 1:
            return pred_masks
        max_obj_inds = torch.argmax(pred_masks, dim=0, keepdim=True)
        batch_obj_inds = torch.arange(pred_masks.shape[0], device=pred_masks.device)[:, None, None, None]
        return torch.where(max_obj_inds == batch_obj_inds, pred_masks, torch.clamp(pred_masks, max=-10.0))
