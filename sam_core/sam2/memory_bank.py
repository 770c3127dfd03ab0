"""The memory bank: which past frames and object pointers the current frame attends to.

For a frame t that is not an initial prompted frame:
- spatial memories: every conditioning (prompted) frame, with temporal slot 0, then the
  num_maskmem - 1 = 6 most recent tracked frames t-1 .. t-6 (t+1 .. t+6 in reverse), slot 6 for t-1 down
  to slot 1 for t-6 (each slot adds its learned `maskmem_tpos_enc` to the memory's position encoding);
- object pointers: those of the prompted frames (only the past ones during evaluation) and of up to
  max_obj_ptrs_in_encoder - 1 = 15 recent frames, each with a sine encoding of its signed frame offset
  / 15, projected to 64 dims; each 256-d pointer is split into 4 tokens of 64.
The keys are laid out [memory frame 1 (HW tokens), memory frame 2, ..., pointer tokens].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sam_core.sam2.position_encoding import get_1d_sine_pe
from sam_core.tracing import record


def select_closest_cond_frames(
    frame_idx: int, cond_frame_outputs: dict[int, dict], max_cond_frame_num: int
) -> tuple[dict[int, dict], dict[int, dict]]:
    """Keep at most max_cond_frame_num prompted frames (-1: all): the closest before and after frame_idx,
    then the temporally closest others. Returns (selected, unselected)."""
    if max_cond_frame_num == -1 or len(cond_frame_outputs) <= max_cond_frame_num:
        return cond_frame_outputs, {}
    assert max_cond_frame_num >= 2, "we should allow using 2+ conditioning frames"
    selected: dict[int, dict] = {}
    idx_before = max((t for t in cond_frame_outputs if t < frame_idx), default=None)
    if idx_before is not None:
        selected[idx_before] = cond_frame_outputs[idx_before]
    idx_after = min((t for t in cond_frame_outputs if t >= frame_idx), default=None)
    if idx_after is not None:
        selected[idx_after] = cond_frame_outputs[idx_after]
    num_remain = max_cond_frame_num - len(selected)
    others = sorted((t for t in cond_frame_outputs if t not in selected), key=lambda t: abs(t - frame_idx))
    selected.update((t, cond_frame_outputs[t]) for t in others[:num_remain])
    unselected = {t: v for t, v in cond_frame_outputs.items() if t not in selected}
    return selected, unselected


@dataclass
class MemoryBank:
    """What one frame attends to, sequence first as the memory attention takes it.

    memory, memory_pos: [M, B, 64]; num_obj_ptr_tokens: pointer tokens at the end of the keys.
    frames: (frame index, "prompted" | "recent", temporal slot) per spatial memory, in key order;
    pointer_frames: the frame index of each object pointer (4 tokens each at 256/64), in key order.
    """

    memory: torch.Tensor
    memory_pos: torch.Tensor
    num_obj_ptr_tokens: int
    frames: list[tuple[int, str, int]] = field(default_factory=list)
    pointer_frames: list[int] = field(default_factory=list)
    tokens_per_frame: int = 0

    def key_source_frames(self) -> torch.Tensor:
        """[M] int64: the frame each key came from (memory pixels, then pointer tokens)."""
        sources = [t for t, _, _ in self.frames for _ in range(self.tokens_per_frame)]
        tokens_per_pointer = self.num_obj_ptr_tokens // max(len(self.pointer_frames), 1)
        sources += [t for t in self.pointer_frames for _ in range(tokens_per_pointer)]
        return torch.tensor(sources, dtype=torch.int64)

    def record(self) -> None:
        """Store the bank's layout in the active trace (if any)."""
        record("memory_bank.key_source_frame", self.key_source_frames())
        is_pointer = torch.zeros(self.memory.shape[0], dtype=torch.bool)
        if self.num_obj_ptr_tokens:
            is_pointer[-self.num_obj_ptr_tokens :] = True
        record("memory_bank.key_is_pointer", is_pointer)
        record("memory_bank.frames", torch.tensor([t for t, _, _ in self.frames], dtype=torch.int64))
        record("memory_bank.frame_is_prompted", torch.tensor([kind == "prompted" for _, kind, _ in self.frames]))
        record("memory_bank.frame_slot", torch.tensor([slot for _, _, slot in self.frames], dtype=torch.int64))
        record("memory_bank.pointer_frames", torch.tensor(self.pointer_frames, dtype=torch.int64))


def _recent_frame(frame_idx: int, t_rel: int, stride: int, reverse: bool) -> int:
    """The frame t_rel steps back (forward when reverse) in the bank; stride r > 1 skips frames (r = 1 here)."""
    if t_rel == 1:
        return frame_idx + 1 if reverse else frame_idx - 1
    if not reverse:
        return ((frame_idx - 2) // stride) * stride - (t_rel - 2) * stride
    return -(-(frame_idx + 2) // stride) * stride + (t_rel - 2) * stride


def gather_memories(
    model, frame_idx: int, output_dict: dict, num_frames: int, track_in_reverse: bool, batch: int,
    device: torch.device,
) -> MemoryBank:
    """Assemble the bank for frame_idx from output_dict ({"cond_frame_outputs", "non_cond_frame_outputs"}).

    model: the SAM2Base (its num_maskmem, maskmem_tpos_enc, obj_ptr_tpos_proj and flags).
    """
    to_cat_memory, to_cat_pos = [], []
    frames: list[tuple[int, str, int]] = []
    cond_outputs = output_dict["cond_frame_outputs"]
    assert len(cond_outputs) > 0
    selected_cond, unselected_cond = select_closest_cond_frames(frame_idx, cond_outputs, model.max_cond_frames_in_attn)
    t_pos_and_prevs = [(0, t, "prompted", out) for t, out in selected_cond.items()]
    stride = 1 if model.training else model.memory_temporal_stride_for_eval
    for t_pos in range(1, model.num_maskmem):
        prev_idx = _recent_frame(frame_idx, model.num_maskmem - t_pos, stride, track_in_reverse)
        out = output_dict["non_cond_frame_outputs"].get(prev_idx, unselected_cond.get(prev_idx))
        t_pos_and_prevs.append((t_pos, prev_idx, "recent", out))

    tokens_per_frame = 0
    for t_pos, t, kind, prev in t_pos_and_prevs:
        if prev is None:
            continue  # before the start of the video / not tracked yet
        # stored in bf16 (possibly on the CPU); widened back exactly (Meta relies on torch.cat promoting it
        # against the fp32 pointers, which fails when a frame has no pointer)
        feats = prev["maskmem_features"].to(device, model.maskmem_tpos_enc.dtype)
        to_cat_memory.append(feats.flatten(2).permute(2, 0, 1))  # B x 64 x H x W -> HW x B x 64
        tokens_per_frame = feats.shape[-2] * feats.shape[-1]
        enc = prev["maskmem_pos_enc"][-1].to(device).flatten(2).permute(2, 0, 1)
        to_cat_pos.append(enc + model.maskmem_tpos_enc[model.num_maskmem - t_pos - 1])
        frames.append((t, kind, t_pos))

    pointer_frames: list[int] = []
    num_obj_ptr_tokens = 0
    if model.use_obj_ptrs_in_encoder:
        max_ptrs = min(num_frames, model.max_obj_ptrs_in_encoder)
        if not model.training and model.only_obj_ptrs_in_the_past_for_eval:
            ptr_cond = {t: o for t, o in selected_cond.items() if (t >= frame_idx if track_in_reverse else t <= frame_idx)}
        else:
            ptr_cond = selected_cond
        sign = -1 if track_in_reverse else 1
        offset = (lambda t: (frame_idx - t) * sign) if model.use_signed_tpos_enc_to_obj_ptrs else (
            lambda t: abs(frame_idx - t)
        )
        pos_and_ptrs = [(offset(t), out["obj_ptr"], t) for t, out in ptr_cond.items()]
        for t_diff in range(1, max_ptrs):
            t = frame_idx + t_diff if track_in_reverse else frame_idx - t_diff
            if t < 0 or (num_frames is not None and t >= num_frames):
                break
            out = output_dict["non_cond_frame_outputs"].get(t, unselected_cond.get(t))
            if out is not None:
                pos_and_ptrs.append((t_diff, out["obj_ptr"], t))
        if pos_and_ptrs:
            pos_list, ptr_list, pointer_frames = (list(x) for x in zip(*pos_and_ptrs, strict=True))
            obj_ptrs = torch.stack(ptr_list, dim=0)  # P x B x C
            c, mem_dim = model.hidden_dim, model.mem_dim
            if model.add_tpos_enc_to_obj_ptrs:
                t_diff_max = max_ptrs - 1
                tpos_dim = c if model.proj_tpos_enc_in_obj_ptrs else mem_dim
                obj_pos = torch.tensor(pos_list, device=device)
                obj_pos = model.obj_ptr_tpos_proj(get_1d_sine_pe(obj_pos / t_diff_max, dim=tpos_dim))
                obj_pos = obj_pos.unsqueeze(1).expand(-1, batch, mem_dim)
            else:
                obj_pos = obj_ptrs.new_zeros(len(pos_list), batch, mem_dim)
            if mem_dim < c:  # split each 256-d pointer into 4 tokens of 64
                obj_ptrs = obj_ptrs.reshape(-1, batch, c // mem_dim, mem_dim).permute(0, 2, 1, 3).flatten(0, 1)
                obj_pos = obj_pos.repeat_interleave(c // mem_dim, dim=0)
            to_cat_memory.append(obj_ptrs)
            to_cat_pos.append(obj_pos)
            num_obj_ptr_tokens = obj_ptrs.shape[0]

    return MemoryBank(
        memory=torch.cat(to_cat_memory, dim=0),
        memory_pos=torch.cat(to_cat_pos, dim=0),
        num_obj_ptr_tokens=num_obj_ptr_tokens,
        frames=frames,
        pointer_frames=pointer_frames,
        tokens_per_frame=tokens_per_frame,
    )
