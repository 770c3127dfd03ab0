"""One training clip through the nano SAM 2 and SAM 2's loss (Ravi et al. 2024, section 4 and appendix).

Frame 0 is the conditioning frame (its prompt: a click, a box or the mask). Frames 1..T-1 are tracked:
memory attention over the bank of earlier frames, the decoder without prompts, a new memory. On up to
`max_correction_frames` random tracked frames a corrective click is sampled from the error region of the
tracked prediction and the decoder runs again with it (and the previous logits as mask input); that
frame then joins the bank as a conditioning frame (SAM 2's training adds corrected frames as
conditioning frames). Gradients flow through the whole clip (memories and pointers included).

Loss per frame and object, summed over the decoder passes of the frame, averaged over frames x objects:

    20 focal + 1 dice  (the minimum over the multimask outputs when there are 3)   on visible frames only
  + 1 x |IoU prediction - actual IoU|   (SAM 2.1's L1; --iou-loss mse: squared)  every output, visible frames only
  + 1 x BCE(object score logit, visible)                                          on every frame

`frame_step` mirrors SAM2Base.track_step and keeps what the loss needs (the multimask outputs, IoUs).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sam_core.losses import actual_iou, dice_loss, focal_loss, min_loss_assignment
from sam_core.sam2.sam2_base import SAM2Base
from sam_core.training.data import correction_points
from sam_core.training.video.clips import Clip
from sam_core.training.video.config import VideoTrainConfig


def frame_step(model: SAM2Base, t: int, is_init_cond: bool, feats: torch.Tensor, pos: torch.Tensor,
               size: tuple[int, int], point_inputs: dict | None, mask_inputs: torch.Tensor | None,
               output_dict: dict, num_frames: int, prev_logits: torch.Tensor | None = None):
    """One frame for B objects. feats, pos: [HW, B, C]. Returns (memory-bank entry, low-res multimask logits
    [B, M, h, w], predicted IoUs [B, M], object-score logits [B, 1])."""
    b = feats.shape[1]
    if mask_inputs is not None and model.use_mask_input_as_output_without_sam:
        pix = feats.permute(1, 2, 0).reshape(b, model.hidden_dim, *size)
        outs = model._use_mask_as_output(pix, None, mask_inputs)
    else:
        pix = model._prepare_memory_conditioned_features(t, is_init_cond, [feats], [pos], [size], output_dict,
                                                         num_frames)
        outs = model._forward_sam_heads(pix, point_inputs=point_inputs, mask_inputs=prev_logits,
                                        multimask_output=model._use_multimask(is_init_cond, point_inputs))
    low_multi, _, ious, low, high, obj_ptr, score = outs
    mem, mem_pos = model._encode_new_memory([feats], [size], high, score, point_inputs is not None)
    entry = {"pred_masks": low, "obj_ptr": obj_ptr, "object_score_logits": score,
             "maskmem_features": mem, "maskmem_pos_enc": mem_pos}
    return entry, low_multi, ious, score


def frame_loss(cfg: VideoTrainConfig, logits: torch.Tensor, ious: torch.Tensor, score: torch.Tensor,
               target: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """logits [B, M, h, w] low-res, target [B, 1, S, S] bool, visible [B] -> (loss [B], stats)."""
    tgt = F.interpolate(target.float(), size=logits.shape[-2:], mode="bilinear", align_corners=False)
    tgt = (tgt > 0.5).float().expand_as(logits)
    focal = focal_loss(logits, tgt)
    dice = dice_loss(logits, tgt)
    per_mask = cfg.focal_weight * focal + cfg.dice_weight * dice  # B x M
    best_loss, best = min_loss_assignment(per_mask)
    with torch.no_grad():
        actual = actual_iou(logits, tgt)  # [B, M]
    abs_err = (ious - actual).abs()
    iou_err = (abs_err if cfg.iou_loss == "l1" else abs_err**2).mean(-1)
    vis = visible.float()
    score_loss = F.binary_cross_entropy_with_logits(score[:, 0], vis, reduction="none")
    loss = vis * (best_loss + cfg.iou_weight * iou_err) + cfg.score_weight * score_loss
    rows = torch.arange(logits.shape[0])
    picked = ious.detach().argmax(-1)  # the output inference keeps: the highest predicted IoU
    return loss, {"iou": actual[rows, best], "iou_selected": actual[rows, picked],
                  "iou_abs_err": abs_err.detach().mean(-1)}


def run_clip(model: SAM2Base, clip: Clip, cfg: VideoTrainConfig, rng: np.random.Generator, gen: torch.Generator,
             device: torch.device) -> tuple[torch.Tensor, dict]:
    """The clip's mean loss (a scalar with grad) and its stats (train J on visible frames, on visible tracked
    frames, on frame 0; object-score accuracy and its recall on hidden frames)."""
    images = clip.images.to(device)
    num_frames, b = images.shape[0], clip.masks.shape[0]
    with torch.set_grad_enabled(cfg.train_encoder and model.training):
        backbone = model.forward_image(images)
    _, vision_feats, vision_pos, sizes = model._prepare_backbone_features(backbone)
    feats_all, pos_all, size = vision_feats[-1], vision_pos[-1], sizes[-1]  # HW x T x C
    masks, visible = clip.masks.to(device), clip.visible.to(device)
    n_corr = int(rng.integers(0, cfg.max_correction_frames + 1))
    corrected = set(rng.choice(np.arange(1, num_frames), size=min(n_corr, num_frames - 1), replace=False).tolist())
    output_dict: dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
    losses, ious, score_ok, vis_list, head_err = [], [], [], [], []
    for t in range(num_frames):
        feats = feats_all[:, t : t + 1].expand(-1, b, -1)
        pos = pos_all[:, t : t + 1].expand(-1, b, -1)
        if t == 0:
            pi, mi = clip.point_inputs, clip.mask_inputs
            pi = None if pi is None else {k: v.to(device) for k, v in pi.items()}
            mi = None if mi is None else mi.to(device)
            entry, logits, pred_iou, score = frame_step(model, 0, True, feats, pos, size, pi, mi, output_dict,
                                                        num_frames)
            output_dict["cond_frame_outputs"][0] = entry
        else:
            entry, logits, pred_iou, score = frame_step(model, t, False, feats, pos, size, None, None, output_dict,
                                                        num_frames)
        loss, st = frame_loss(cfg, logits, pred_iou, score, masks[:, t], visible[:, t])
        losses.append(loss)
        ious.append(st["iou"])
        head_err.append(st["iou_abs_err"])
        if t == 0:
            first_selected = st["iou_selected"]
        vis_list.append(visible[:, t])
        score_ok.append(((score[:, 0] > 0) == visible[:, t]).float())
        if t in corrected:
            high = F.interpolate(entry["pred_masks"].detach(), size=masks.shape[-2:], mode="bilinear",
                                 align_corners=False)
            xy, label = correction_points(high, masks[:, t].float(), gen)
            label = torch.where(label < 0, torch.zeros_like(label), label)  # exact: a harmless negative click
            pi = {"point_coords": xy[:, None].to(device), "point_labels": label[:, None].to(torch.int32).to(device)}
            prev = torch.clamp(entry["pred_masks"].detach(), -32.0, 32.0)
            entry, logits, pred_iou, score = frame_step(model, t, False, feats, pos, size, pi, None, output_dict,
                                                        num_frames, prev_logits=prev)
            loss, _ = frame_loss(cfg, logits, pred_iou, score, masks[:, t], visible[:, t])
            losses.append(loss)
            output_dict["cond_frame_outputs"][t] = entry
        else:
            if t > 0:
                output_dict["non_cond_frame_outputs"][t] = entry
    total = torch.stack(losses).mean()
    iou_t, vis_t = torch.stack(ious), torch.stack(vis_list)
    hidden = ~vis_t
    score_t = torch.stack(score_ok)
    stats = {
        "loss": float(total.detach()),
        "j_visible": float(iou_t[vis_t].mean()) if vis_t.any() else float("nan"),
        "j_first": float(iou_t[0].mean()),
        # frame 0 again, the output the IoU head picks (what inference shows) instead of the min-loss one
        "j_first_selected": float(first_selected.mean()),
        "iou_head_abs_err": float(torch.stack(head_err)[vis_t].mean()) if vis_t.any() else float("nan"),
        # J on visible tracked frames only (frame 0 left out): the number that says whether the memory is used
        "j_tracked": float(iou_t[1:][vis_t[1:]].mean()) if vis_t[1:].any() else float("nan"),
        "score_acc": float(score_t.mean()),
        "hidden_recall": float(score_t[hidden].mean()) if hidden.any() else float("nan"),
        "corrections": len(corrected),
    }
    return total, stats
