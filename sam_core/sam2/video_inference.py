"""The per-frame machinery behind SAM2VideoPredictor (Meta's private helpers, same names and state).

The inference state is Meta's dict: per object index, "output_dict_per_obj" holds
{"cond_frame_outputs": {frame: out}, "non_cond_frame_outputs": {frame: out}} — the memory bank's
source — and "temp_output_dict_per_obj" the outputs of clicks not yet encoded into memory. Each
object is tracked as its own batch of 1; the image features of the last frame are cached.
Spatial memories are stored in bfloat16 (as Meta does, on every device), on `storage_device`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sam_core.sam2.sam2_base import NO_OBJ_SCORE, SAM2Base


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a tensor; non_blocking only where it means something (CUDA)."""
    return x.to(device, non_blocking=device.type == "cuda")


class SAM2VideoInference(SAM2Base):
    """SAM2Base plus the frame-level steps of video inference.

    Arguments (besides SAM2Base's): fill_hole_area: fill background holes up to this area in low-res
    masks (0: off; Meta's needs a CUDA extension and skips it on the CPU); non_overlap_masks: keep one
    object per pixel in outputs; clear_non_cond_mem_around_input: drop tracked memories around a new
    prompt; add_all_frames_to_correct_as_cond: corrected frames become conditioning frames.
    """

    def __init__(
        self, *args, fill_hole_area: int = 0, non_overlap_masks: bool = False,
        clear_non_cond_mem_around_input: bool = False, add_all_frames_to_correct_as_cond: bool = False, **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fill_hole_area = fill_hole_area
        self.non_overlap_masks = non_overlap_masks
        self.clear_non_cond_mem_around_input = clear_non_cond_mem_around_input
        self.add_all_frames_to_correct_as_cond = add_all_frames_to_correct_as_cond

    def _obj_id_to_idx(self, inference_state: dict, obj_id) -> int:
        """Client object id -> model-side index (a new id gets the next index and empty stores)."""
        obj_idx = inference_state["obj_id_to_idx"].get(obj_id)
        if obj_idx is not None:
            return obj_idx
        obj_idx = len(inference_state["obj_id_to_idx"])
        inference_state["obj_id_to_idx"][obj_id] = obj_idx
        inference_state["obj_idx_to_id"][obj_idx] = obj_id
        inference_state["obj_ids"] = list(inference_state["obj_id_to_idx"])
        inference_state["point_inputs_per_obj"][obj_idx] = {}
        inference_state["mask_inputs_per_obj"][obj_idx] = {}
        inference_state["output_dict_per_obj"][obj_idx] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        inference_state["temp_output_dict_per_obj"][obj_idx] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        inference_state["frames_tracked_per_obj"][obj_idx] = {}
        return obj_idx

    def _obj_idx_to_id(self, inference_state: dict, obj_idx: int):
        return inference_state["obj_idx_to_id"][obj_idx]

    def _get_obj_num(self, inference_state: dict) -> int:
        return len(inference_state["obj_idx_to_id"])

    def _encode_frame(self, inference_state: dict, frame_idx: int) -> tuple[torch.Tensor, dict]:
        """(image [1, 3, S, S], backbone_out) of one frame: the image encoder's run."""
        image = to_device(inference_state["images"][frame_idx], inference_state["device"]).float().unsqueeze(0)
        return image, self.forward_image(image)

    def _get_image_feature(self, inference_state: dict, frame_idx: int, batch_size: int):
        """(image, backbone_out, vision_feats, vision_pos_embeds, feat_sizes) of a frame, cached per frame."""
        image, backbone_out = inference_state["cached_features"].get(frame_idx, (None, None))
        store = inference_state.get("frame_features")  # encode_frames' outputs, if the caller has them
        if backbone_out is None and store is not None:
            image, backbone_out = store.get(frame_idx, (None, None))
        if backbone_out is None:
            image, backbone_out = self._encode_frame(inference_state, frame_idx)
            inference_state["cached_features"] = {frame_idx: (image, backbone_out)}  # only the latest frame
        expanded = {
            "backbone_fpn": [f.expand(batch_size, -1, -1, -1) for f in backbone_out["backbone_fpn"]],
            "vision_pos_enc": [p.expand(batch_size, -1, -1, -1) for p in backbone_out["vision_pos_enc"]],
        }
        return (image.expand(batch_size, -1, -1, -1),) + self._prepare_backbone_features(expanded)

    def _get_maskmem_pos_enc(self, inference_state: dict, current_out: dict) -> list[torch.Tensor] | None:
        """The memory position encoding is the same for every frame and object: cached as a constant."""
        out_enc = current_out["maskmem_pos_enc"]
        if out_enc is None:
            return None
        constants = inference_state["constants"]
        if "maskmem_pos_enc" not in constants:
            constants["maskmem_pos_enc"] = [x[0:1].clone() for x in out_enc]
        batch_size = out_enc[0].shape[0]
        return [x.expand(batch_size, -1, -1, -1) for x in constants["maskmem_pos_enc"]]

    def _fill_holes(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """Background components of area <= fill_hole_area become foreground (logit 0.1), per mask."""
        from scipy import ndimage  # connected components on the CPU (Meta uses a CUDA kernel)

        filled = mask_logits.clone()
        for i in range(mask_logits.shape[0]):
            background = (mask_logits[i, 0] <= 0).cpu().numpy()
            labels, count = ndimage.label(background, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
            if count == 0:
                continue
            areas = ndimage.sum_labels(background, labels, index=range(1, count + 1))
            small = torch.from_numpy((areas <= self.fill_hole_area)[labels - 1] & (labels > 0))
            filled[i, 0] = torch.where(small.to(filled.device), 0.1, filled[i, 0])
        return filled

    def _run_single_frame_inference(
        self, inference_state: dict, output_dict: dict, frame_idx: int, batch_size: int, is_init_cond_frame: bool,
        point_inputs: dict | None, mask_inputs: torch.Tensor | None, reverse: bool, run_mem_encoder: bool,
        prev_sam_mask_logits: torch.Tensor | None = None,
    ) -> tuple[dict, torch.Tensor]:
        """track_step on one frame for one object slice -> (compact output for storage, low-res masks)."""
        _, _, vision_feats, vision_pos_embeds, feat_sizes = self._get_image_feature(inference_state, frame_idx, batch_size)
        assert point_inputs is None or mask_inputs is None
        current_out = self.track_step(
            frame_idx=frame_idx, is_init_cond_frame=is_init_cond_frame, current_vision_feats=vision_feats,
            current_vision_pos_embeds=vision_pos_embeds, feat_sizes=feat_sizes, point_inputs=point_inputs,
            mask_inputs=mask_inputs, output_dict=output_dict, num_frames=inference_state["num_frames"],
            track_in_reverse=reverse, run_mem_encoder=run_mem_encoder, prev_sam_mask_logits=prev_sam_mask_logits,
        )
        storage_device = inference_state["storage_device"]
        maskmem_features = current_out["maskmem_features"]
        if maskmem_features is not None:
            maskmem_features = to_device(maskmem_features.to(torch.bfloat16), storage_device)
        pred_masks_gpu = current_out["pred_masks"]
        if self.fill_hole_area > 0:
            pred_masks_gpu = self._fill_holes(pred_masks_gpu)
        compact = {
            "maskmem_features": maskmem_features,
            "maskmem_pos_enc": self._get_maskmem_pos_enc(inference_state, current_out),
            "pred_masks": to_device(pred_masks_gpu, storage_device),
            "obj_ptr": current_out["obj_ptr"],
            "object_score_logits": current_out["object_score_logits"],
        }
        return compact, pred_masks_gpu

    def _run_memory_encoder(
        self, inference_state: dict, frame_idx: int, batch_size: int, high_res_masks: torch.Tensor,
        object_score_logits: torch.Tensor, is_mask_from_pts: bool,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encode a (consolidated) mask of a frame into its memory, stored like _run_single_frame_inference's."""
        _, _, vision_feats, _, feat_sizes = self._get_image_feature(inference_state, frame_idx, batch_size)
        maskmem_features, maskmem_pos_enc = self._encode_new_memory(
            vision_feats, feat_sizes, high_res_masks, object_score_logits, is_mask_from_pts
        )
        maskmem_features = to_device(maskmem_features.to(torch.bfloat16), inference_state["storage_device"])
        return maskmem_features, self._get_maskmem_pos_enc(inference_state, {"maskmem_pos_enc": maskmem_pos_enc})

    def _get_orig_video_res_output(self, inference_state: dict, any_res_masks: torch.Tensor):
        """Masks at any size -> (them on the device, them resized to the video's height x width)."""
        any_res_masks = to_device(any_res_masks, inference_state["device"])
        size = (inference_state["video_height"], inference_state["video_width"])
        if any_res_masks.shape[-2:] == size:
            video_res_masks = any_res_masks
        else:
            video_res_masks = F.interpolate(any_res_masks, size=size, mode="bilinear", align_corners=False)
        if self.non_overlap_masks:
            video_res_masks = self._apply_non_overlapping_constraints(video_res_masks)
        return any_res_masks, video_res_masks

    def _consolidate_temp_output_across_obj(
        self, inference_state: dict, frame_idx: int, is_cond: bool, consolidate_at_video_res: bool = False
    ) -> dict:
        """Every object's latest mask on a frame in one [N_obj, 1, H, W] tensor (NO_OBJ_SCORE where none)."""
        batch_size = self._get_obj_num(inference_state)
        storage_key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
        if consolidate_at_video_res:
            size = (inference_state["video_height"], inference_state["video_width"])
            key = "pred_masks_video_res"
        else:
            size = (self.image_size // 4, self.image_size // 4)
            key = "pred_masks"
        consolidated = torch.full(
            (batch_size, 1, *size), NO_OBJ_SCORE, dtype=torch.float32, device=inference_state["storage_device"]
        )
        for obj_idx in range(batch_size):
            out = inference_state["temp_output_dict_per_obj"][obj_idx][storage_key].get(frame_idx)
            obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
            if out is None:
                out = obj_output_dict["cond_frame_outputs"].get(frame_idx)
            if out is None:
                out = obj_output_dict["non_cond_frame_outputs"].get(frame_idx)
            if out is None:
                continue
            obj_mask = out["pred_masks"]
            if obj_mask.shape[-2:] != size:
                obj_mask = F.interpolate(obj_mask, size=size, mode="bilinear", align_corners=False)
            consolidated[obj_idx : obj_idx + 1] = obj_mask
        return {key: consolidated}

    def _clear_obj_non_cond_mem_around_input(self, inference_state: dict, frame_idx: int, obj_idx: int) -> None:
        """Forget one object's tracked memories within num_maskmem frames of a new prompt."""
        r = self.memory_temporal_stride_for_eval
        non_cond = inference_state["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"]
        for t in range(frame_idx - r * self.num_maskmem, frame_idx + r * self.num_maskmem + 1):
            non_cond.pop(t, None)

    def propagate_in_video_preflight(self, inference_state: dict) -> None:
        """Encode every pending click output into memory and move it into the memory bank."""
        batch_size = self._get_obj_num(inference_state)
        if batch_size == 0:
            raise RuntimeError("No input points or masks are provided for any object; please add inputs first.")
        for obj_idx in range(batch_size):
            obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
            obj_temp_output_dict = inference_state["temp_output_dict_per_obj"][obj_idx]
            for is_cond in (False, True):
                storage_key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
                for frame_idx, out in obj_temp_output_dict[storage_key].items():
                    if out["maskmem_features"] is None:  # clicks are encoded only now
                        high_res_masks = F.interpolate(
                            to_device(out["pred_masks"], inference_state["device"]),
                            size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                        )
                        out["maskmem_features"], out["maskmem_pos_enc"] = self._run_memory_encoder(
                            inference_state, frame_idx, 1, high_res_masks, out["object_score_logits"], True
                        )
                    obj_output_dict[storage_key][frame_idx] = out
                    if self.clear_non_cond_mem_around_input:
                        self._clear_obj_non_cond_mem_around_input(inference_state, frame_idx, obj_idx)
                obj_temp_output_dict[storage_key].clear()
            if len(obj_output_dict["cond_frame_outputs"]) == 0:
                obj_id = self._obj_idx_to_id(inference_state, obj_idx)
                raise RuntimeError(f"No input points or masks are provided for object id {obj_id}; please add inputs first.")
            for frame_idx in obj_output_dict["cond_frame_outputs"]:  # a prompted frame is not also "recent"
                obj_output_dict["non_cond_frame_outputs"].pop(frame_idx, None)
