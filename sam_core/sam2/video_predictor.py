"""SAM2VideoPredictor: Meta's video API — init_state, prompts per frame and object, propagate.

    state = predictor.init_state(frames)                     # list of RGB frames, a folder, or an mp4
    _, obj_ids, masks = predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[x, y]], labels=[1])
    for frame_idx, obj_ids, masks in predictor.propagate_in_video(state):   # masks [N_obj, 1, H, W] logits
        ...

A click only runs the decoder (run_mem_encoder=False); propagation first encodes every prompted frame
into memory (preflight), then tracks each object frame by frame. Trace one propagated frame with
`with sam_core.tracing.trace() as t: next(generator)`: memory-attention weights per layer, which frame
each key came from (`memory_bank.key_source_frame`), the bank's frames and slots, object scores, timings.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sam_core.device import bf16_autocast
from sam_core.prompts import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT
from sam_core.sam2.video_frames import load_video_frames
from sam_core.sam2.video_inference import SAM2VideoInference, to_device
from sam_core.tracing import record


def concat_points(old_point_inputs: dict | None, new_points: torch.Tensor, new_labels: torch.Tensor) -> dict:
    """Append new points [1, N, 2] and labels [1, N] to a frame's previous ones."""
    if old_point_inputs is None:
        return {"point_coords": new_points, "point_labels": new_labels}
    return {
        "point_coords": torch.cat([old_point_inputs["point_coords"], new_points], dim=1),
        "point_labels": torch.cat([old_point_inputs["point_labels"], new_labels], dim=1),
    }


class SAM2VideoPredictor(SAM2VideoInference):
    """The SAM 2 model with the interactive video API (build it with sam_core.sam2.build_sam2_video_predictor).

    On CUDA every call runs under bfloat16 autocast, as Meta runs it (``use_bf16_autocast = False`` to turn it
    off); returned masks are always float32. CPU and MPS compute in float32.
    """

    use_bf16_autocast = True

    @torch.inference_mode()
    @bf16_autocast
    def init_state(
        self, video_path: str | os.PathLike | Sequence[Image.Image | np.ndarray], offload_video_to_cpu: bool = False,
        offload_state_to_cpu: bool = False, frame_features: dict | None = None,
    ) -> dict:
        """A fresh inference state for a video; the first frame's features are computed at once.

        frame_features (ours, not Meta's): a store filled by `encode_frames` for the same frames, read-only
        here; frames found in it skip the image encoder (it may be filled while this state is in use).
        """
        device = self.device
        images, video_height, video_width = load_video_frames(video_path, self.image_size)
        if not offload_video_to_cpu:
            images = images.to(device)
        state = {
            "images": images, "num_frames": len(images), "offload_video_to_cpu": offload_video_to_cpu,
            "offload_state_to_cpu": offload_state_to_cpu, "video_height": video_height, "video_width": video_width,
            "device": device, "storage_device": torch.device("cpu") if offload_state_to_cpu else device,
            "point_inputs_per_obj": {}, "mask_inputs_per_obj": {}, "cached_features": {}, "constants": {},
            "obj_id_to_idx": OrderedDict(), "obj_idx_to_id": OrderedDict(), "obj_ids": [],
            "output_dict_per_obj": {}, "temp_output_dict_per_obj": {}, "frames_tracked_per_obj": {},
            "frame_features": frame_features,
        }
        self._get_image_feature(state, frame_idx=0, batch_size=1)
        return state

    @torch.inference_mode()
    @bf16_autocast
    def encode_frames(self, inference_state: dict, store: dict, should_stop=None) -> dict:
        """Run the image encoder once on every frame of `inference_state` not yet in `store` and keep each
        output there: store[frame] = (image [1, 3, S, S], backbone_out). Ours, not Meta's (Meta's state keeps
        the latest frame only): the encoder's output does not depend on the prompts, so every later
        propagation of the same frames (any clicks, any student) can reuse it. should_stop() -> True ends early.
        """
        for frame_idx in range(inference_state["num_frames"]):
            if should_stop is not None and should_stop():
                break
            if frame_idx in store:
                continue
            store[frame_idx] = self._encode_frame(inference_state, frame_idx)
        return store

    def _prompt_bookkeeping(self, state: dict, obj_idx: int, frame_idx: int) -> tuple[bool, bool, bool, str]:
        """(is_init_cond_frame, reverse, is_cond, storage_key) for a new prompt on frame_idx."""
        tracked = state["frames_tracked_per_obj"][obj_idx]
        is_init_cond_frame = frame_idx not in tracked  # a frame not tracked yet starts a new track
        reverse = False if is_init_cond_frame else tracked[frame_idx]["reverse"]
        is_cond = is_init_cond_frame or self.add_all_frames_to_correct_as_cond
        return is_init_cond_frame, reverse, is_cond, "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"

    def _frame_output(self, state: dict, frame_idx: int, is_cond: bool):
        consolidated = self._consolidate_temp_output_across_obj(state, frame_idx, is_cond, consolidate_at_video_res=True)
        _, video_res_masks = self._get_orig_video_res_output(state, consolidated["pred_masks_video_res"])
        return frame_idx, state["obj_ids"], video_res_masks.float()  # float32 even under bf16 autocast

    @torch.inference_mode()
    @bf16_autocast
    def add_new_points_or_box(
        self, inference_state: dict, frame_idx: int, obj_id, points=None, labels=None, clear_old_points: bool = True,
        normalize_coords: bool = True, box=None,
    ) -> tuple[int, list, torch.Tensor]:
        """Clicks ([N, 2] x, y in video pixels; labels 1 / 0) and/or a box [4] for one object on one frame.

        Returns (frame_idx, obj_ids, video_res_masks [N_obj, 1, H, W] logits) for that frame.
        """
        obj_idx = self._obj_id_to_idx(inference_state, obj_id)
        if (points is not None) != (labels is not None):
            raise ValueError("points and labels must be provided together")
        if points is None and box is None:
            raise ValueError("at least one of points or box must be provided as input")
        points = torch.zeros(0, 2) if points is None else torch.as_tensor(points, dtype=torch.float32)
        labels = torch.zeros(0, dtype=torch.int32) if labels is None else torch.as_tensor(labels, dtype=torch.int32)
        points = points.unsqueeze(0) if points.dim() == 2 else points  # 1 x N x 2
        labels = labels.unsqueeze(0) if labels.dim() == 1 else labels
        if box is not None:
            if not clear_old_points:
                raise ValueError("cannot add a box without clearing old points (the box must come first); "
                                 "use clear_old_points=True")
            box_coords = torch.as_tensor(box, dtype=torch.float32).reshape(1, 2, 2)
            box_labels = torch.tensor([[BOX_TOP_LEFT, BOX_BOTTOM_RIGHT]], dtype=torch.int32)
            points = torch.cat([box_coords, points], dim=1)
            labels = torch.cat([box_labels, labels], dim=1)
        if normalize_coords:
            points = points / torch.tensor([inference_state["video_width"], inference_state["video_height"]])
        points = (points * self.image_size).to(inference_state["device"])
        labels = labels.to(inference_state["device"])

        point_inputs_per_frame = inference_state["point_inputs_per_obj"][obj_idx]
        previous = None if clear_old_points else point_inputs_per_frame.get(frame_idx)
        point_inputs = concat_points(previous, points, labels)
        point_inputs_per_frame[frame_idx] = point_inputs
        inference_state["mask_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        is_init_cond_frame, reverse, is_cond, storage_key = self._prompt_bookkeeping(inference_state, obj_idx, frame_idx)

        # the frame's previous logits go in as a mask prompt with the new clicks
        obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
        obj_temp_output_dict = inference_state["temp_output_dict_per_obj"][obj_idx]
        prev_out = obj_temp_output_dict[storage_key].get(frame_idx)
        if prev_out is None:
            prev_out = obj_output_dict["cond_frame_outputs"].get(frame_idx)
        if prev_out is None:
            prev_out = obj_output_dict["non_cond_frame_outputs"].get(frame_idx)
        prev_sam_mask_logits = None
        if prev_out is not None and prev_out["pred_masks"] is not None:
            prev_sam_mask_logits = torch.clamp(to_device(prev_out["pred_masks"], inference_state["device"]), -32.0, 32.0)
        current_out, _ = self._run_single_frame_inference(
            inference_state, obj_output_dict, frame_idx, 1, is_init_cond_frame, point_inputs, None, reverse,
            run_mem_encoder=False, prev_sam_mask_logits=prev_sam_mask_logits,
        )
        obj_temp_output_dict[storage_key][frame_idx] = current_out
        return self._frame_output(inference_state, frame_idx, is_cond)

    def add_new_points(self, *args, **kwargs):
        """Deprecated name of add_new_points_or_box (kept as in Meta's API)."""
        return self.add_new_points_or_box(*args, **kwargs)

    @torch.inference_mode()
    @bf16_autocast
    def add_new_mask(self, inference_state: dict, frame_idx: int, obj_id, mask) -> tuple[int, list, torch.Tensor]:
        """A binary mask [H, W] for one object on one frame (taken as that frame's output)."""
        obj_idx = self._obj_id_to_idx(inference_state, obj_id)
        mask = torch.as_tensor(mask, dtype=torch.bool) if not isinstance(mask, torch.Tensor) else mask
        assert mask.dim() == 2
        mask_inputs = mask[None, None].float().to(inference_state["device"])
        if mask.shape != (self.image_size, self.image_size):
            mask_inputs = F.interpolate(
                mask_inputs, size=(self.image_size, self.image_size), align_corners=False, mode="bilinear", antialias=True
            )
            mask_inputs = (mask_inputs >= 0.5).float()
        inference_state["mask_inputs_per_obj"][obj_idx][frame_idx] = mask_inputs
        inference_state["point_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        is_init_cond_frame, reverse, is_cond, storage_key = self._prompt_bookkeeping(inference_state, obj_idx, frame_idx)
        current_out, _ = self._run_single_frame_inference(
            inference_state, inference_state["output_dict_per_obj"][obj_idx], frame_idx, 1, is_init_cond_frame,
            None, mask_inputs, reverse, run_mem_encoder=False,
        )
        inference_state["temp_output_dict_per_obj"][obj_idx][storage_key][frame_idx] = current_out
        return self._frame_output(inference_state, frame_idx, is_cond)

    @torch.inference_mode()
    @bf16_autocast
    def propagate_in_video(
        self, inference_state: dict, start_frame_idx: int | None = None, max_frame_num_to_track: int | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[int, list, torch.Tensor]]:
        """Yield (frame_idx, obj_ids, video_res_masks [N_obj, 1, H, W] logits) frame by frame.

        Starts at the earliest prompted frame (or start_frame_idx); reverse runs towards frame 0.
        """
        self.propagate_in_video_preflight(inference_state)
        obj_ids = inference_state["obj_ids"]
        num_frames = inference_state["num_frames"]
        batch_size = self._get_obj_num(inference_state)
        if start_frame_idx is None:
            start_frame_idx = min(
                t for out in inference_state["output_dict_per_obj"].values() for t in out["cond_frame_outputs"]
            )
        if max_frame_num_to_track is None:
            max_frame_num_to_track = num_frames
        if reverse:
            end_frame_idx = max(start_frame_idx - max_frame_num_to_track, 0)
            order = range(start_frame_idx, end_frame_idx - 1, -1) if start_frame_idx > 0 else []
        else:
            end_frame_idx = min(start_frame_idx + max_frame_num_to_track, num_frames - 1)
            order = range(start_frame_idx, end_frame_idx + 1)

        for frame_idx in order:
            pred_masks_per_obj = []
            for obj_idx in range(batch_size):
                obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
                if frame_idx in obj_output_dict["cond_frame_outputs"]:  # a prompted frame: its output is kept
                    current_out = obj_output_dict["cond_frame_outputs"][frame_idx]
                    pred_masks = to_device(current_out["pred_masks"], inference_state["device"])
                    if self.clear_non_cond_mem_around_input:
                        self._clear_obj_non_cond_mem_around_input(inference_state, frame_idx, obj_idx)
                else:
                    current_out, pred_masks = self._run_single_frame_inference(
                        inference_state, obj_output_dict, frame_idx, 1, False, None, None, reverse, run_mem_encoder=True
                    )
                    obj_output_dict["non_cond_frame_outputs"][frame_idx] = current_out
                record(f"video.obj{obj_idx}.object_score_logits", current_out["object_score_logits"])
                inference_state["frames_tracked_per_obj"][obj_idx][frame_idx] = {"reverse": reverse}
                pred_masks_per_obj.append(pred_masks)
            all_pred_masks = torch.cat(pred_masks_per_obj, dim=0)
            _, video_res_masks = self._get_orig_video_res_output(inference_state, all_pred_masks)
            yield frame_idx, obj_ids, video_res_masks.float()  # float32 even under bf16 autocast

    @torch.inference_mode()
    @bf16_autocast
    def clear_all_prompts_in_frame(self, inference_state: dict, frame_idx: int, obj_id, need_output: bool = True):
        """Remove one object's clicks / mask on a frame (its output becomes an ordinary tracked one)."""
        obj_idx = self._obj_id_to_idx(inference_state, obj_id)
        inference_state["point_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        inference_state["mask_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        temp = inference_state["temp_output_dict_per_obj"]
        temp[obj_idx]["cond_frame_outputs"].pop(frame_idx, None)
        temp[obj_idx]["non_cond_frame_outputs"].pop(frame_idx, None)
        obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
        out = obj_output_dict["cond_frame_outputs"].pop(frame_idx, None)
        if out is not None:
            obj_output_dict["non_cond_frame_outputs"][frame_idx] = out
            inference_state["frames_tracked_per_obj"][obj_idx].pop(frame_idx, None)
        if not need_output:
            return None
        is_cond = any(frame_idx in d["cond_frame_outputs"] for d in temp.values())
        return self._frame_output(inference_state, frame_idx, is_cond)

    @torch.inference_mode()
    def reset_state(self, inference_state: dict) -> None:
        """Forget every object, prompt and tracking result (the video and its cached features stay)."""
        for key in ("obj_id_to_idx", "obj_idx_to_id", "point_inputs_per_obj", "mask_inputs_per_obj",
                    "output_dict_per_obj", "temp_output_dict_per_obj", "frames_tracked_per_obj"):
            inference_state[key].clear()
        inference_state["obj_ids"].clear()

    @torch.inference_mode()
    @bf16_autocast
    def remove_object(self, inference_state: dict, obj_id, strict: bool = False, need_output: bool = True):
        """Drop one object; the others keep their results and are re-indexed. Returns (obj_ids, updated_frames)."""
        old_idx = inference_state["obj_id_to_idx"].get(obj_id)
        updated_frames: list[tuple[int, torch.Tensor]] = []
        if old_idx is None:
            if not strict:
                return inference_state["obj_ids"], updated_frames
            raise RuntimeError(f"Cannot remove object id {obj_id} as it doesn't exist. "
                               f"All existing object ids: {inference_state['obj_ids']}.")
        if len(inference_state["obj_id_to_idx"]) == 1:
            self.reset_state(inference_state)
            return inference_state["obj_ids"], updated_frames
        input_frames = set(inference_state["point_inputs_per_obj"][old_idx]) | set(
            inference_state["mask_inputs_per_obj"][old_idx]
        )
        for frame_idx in input_frames:
            self.clear_all_prompts_in_frame(inference_state, frame_idx, obj_id, need_output=False)
        old_ids = inference_state["obj_ids"]
        remaining = [i for i in range(len(old_ids)) if i != old_idx]
        new_ids = [old_ids[i] for i in remaining]
        old_to_new = {old: new for new, old in enumerate(remaining)}
        inference_state["obj_id_to_idx"] = OrderedDict((o, i) for i, o in enumerate(new_ids))
        inference_state["obj_idx_to_id"] = OrderedDict(enumerate(new_ids))
        inference_state["obj_ids"] = new_ids
        for key in ("point_inputs_per_obj", "mask_inputs_per_obj", "output_dict_per_obj",
                    "temp_output_dict_per_obj", "frames_tracked_per_obj"):
            container = inference_state[key]
            items = {old_to_new[k]: v for k, v in container.items() if k in old_to_new}
            container.clear()
            container.update(items)
        if need_output:
            temp = inference_state["temp_output_dict_per_obj"]
            for frame_idx in input_frames:
                is_cond = any(frame_idx in d["cond_frame_outputs"] for d in temp.values())
                updated_frames.append(self._frame_output(inference_state, frame_idx, is_cond)[::2])
        return inference_state["obj_ids"], updated_frames
