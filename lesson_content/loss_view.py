"""SAM's loss on real masks: the model's candidates for one click scored against the scene's ground truth.

Everything goes through `sam_core.losses` (the functions `sam_core.training` optimises) on the decoder's
low-res logits, in the frame training uses: the ground truth is resized with the image, padded like
the input and brought to the low-res side.

    gt = gt_low_res(target.mask, run)                     # float [S, S], S = low-res side
    scores, best = score_masks(run, gt, examples)         # per candidate: focal, dice, total, IoU ...
    log = embedded_training_log()                         # the embedded model's curves, or None

Imports no Streamlit.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .live_trace import TracedPrediction

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINING_LOGS = (REPO_ROOT / "assets" / "models" / "nano" / "training_log.csv",
                 REPO_ROOT / "assets" / "models" / "nano" / "training_log.json")
# The embedded model was trained in stages, each resuming the previous one's weights (model card).
STAGE_LOGS = (REPO_ROOT / "assets" / "models" / "nano" / "training_log.csv",
              REPO_ROOT / "assets" / "models" / "nano" / "training_log_stage2.csv",
              REPO_ROOT / "assets" / "models" / "nano" / "training_log_stage3.csv",
              REPO_ROOT / "assets" / "models" / "nano" / "training_log_stage4.csv")


def gt_low_res(mask: np.ndarray, run: TracedPrediction) -> np.ndarray:
    """A ground-truth mask [H, W] in the decoder's low-res frame: resized like the image (input_size),
    zero-padded to img_size x img_size, resized to the low-res side. Returns float 0/1 [side, side]."""
    side = run.low_res.shape[-1]
    h, w = run.input_size
    resized = np.asarray(Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR))
    padded = np.zeros((run.img_size, run.img_size), dtype=np.uint8)
    padded[:h, :w] = resized
    low = np.asarray(Image.fromarray(padded).resize((side, side), Image.Resampling.BILINEAR))
    return (low >= 128).astype(np.float32)


def foreground_fraction(mask: np.ndarray) -> float:
    """Share of pixels that are foreground (the class imbalance the focal loss is for)."""
    mask = np.asarray(mask, dtype=bool)
    return float(mask.sum() / mask.size)


@dataclass(frozen=True)
class MaskScore:
    """One candidate mask against one ground truth, every term of SAM's loss."""

    candidate: int  # 1-based, as the predictor returns them
    focal: float  # mean focal loss over the pixels
    dice: float
    total: float  # focal_weight * focal + dice_weight * dice
    actual_iou: float  # IoU of (logit > 0) with the ground truth
    pred_iou: float  # what the IoU head said
    iou_se: float  # (pred_iou - actual_iou)^2, the IoU-MSE term


def score_masks(run: TracedPrediction, gt: np.ndarray, examples: Mapping[str, Mapping[str, Any]]
                ) -> tuple[list[MaskScore], int]:
    """Score the returned candidates (run.low_res [M, S, S], run.scores [M]) against gt [S, S].

    Weights from [loss_weights], alpha and gamma from [focal_trace]. Returns (scores, index of the
    candidate the minimum-loss assignment keeps, 0-based).
    """
    import torch

    from sam_core import losses

    weights, focal_cfg = examples["loss_weights"], examples["focal_trace"]
    logits = torch.from_numpy(np.asarray(run.low_res, dtype=np.float32))[None]  # 1 x M x S x S
    target = torch.from_numpy(np.asarray(gt, dtype=np.float32))[None, None].expand_as(logits)
    focal = losses.focal_loss(logits, target, alpha=float(focal_cfg["alpha"]), gamma=float(focal_cfg["gamma"]))
    dice = losses.dice_loss(logits, target)
    total = float(weights["focal"]) * focal + float(weights["dice"]) * dice
    _, best = losses.min_loss_assignment(total)
    pred = torch.from_numpy(np.asarray(run.scores, dtype=np.float32))[None]
    actual = losses.actual_iou(logits, target)
    squared = losses.iou_mse(pred, logits, target)
    scores = [MaskScore(i + 1, float(focal[0, i]), float(dice[0, i]), float(total[0, i]), float(actual[0, i]),
                        float(pred[0, i]), float(squared[0, i])) for i in range(logits.shape[1])]
    return scores, int(best[0])


def loss_table(run: TracedPrediction, targets: Sequence[Any], examples: Mapping[str, Mapping[str, Any]]
               ) -> tuple[np.ndarray, list[int]]:
    """Total loss of every candidate against every ground-truth level at the click: [M, len(targets)],
    and for each target the candidate the minimum-loss assignment would keep."""
    table, winners = [], []
    for t in targets:
        scores, best = score_masks(run, gt_low_res(t.mask, run), examples)
        table.append([s.total for s in scores])
        winners.append(best)
    return np.array(table, dtype=np.float64).T.reshape(len(run.scores), len(targets)), winners


def training_log(paths: Sequence[Path] = TRAINING_LOGS) -> dict[str, np.ndarray] | None:
    """The embedded model's training curves (column -> values), from the CSV (or JSON) the trainer
    exports next to the weights; None when no log is there."""
    for path in paths:
        if not path.is_file():
            continue
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            if not rows:
                return None
            columns: dict[str, list[float]] = {name: [] for name in rows[0]}
            for row in rows:
                for name in columns:
                    try:
                        columns[name].append(float(row[name]))
                    except (TypeError, ValueError):
                        columns[name].append(float("nan"))
            return {name: np.asarray(values) for name, values in columns.items()}
        import json

        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list) and data:
            return {name: np.asarray([float(r.get(name, "nan")) for r in data]) for name in data[0]}
        if isinstance(data, dict):
            return {name: np.asarray(values, dtype=float) for name, values in data.items()}
    return None


def embedded_training_log(stages: Sequence[Path] = STAGE_LOGS) -> dict[str, np.ndarray] | None:
    """The embedded model's whole training, its stages' logs end to end: each later stage's step and
    wall_s continue from the previous stage's last row, and a column a stage lacks is NaN there.
    Also has "stage" (1, 2, ...) per row. None when no stage log is there."""
    logs = [log for log in (training_log((path,)) for path in stages if path.is_file()) if log]
    if not logs:
        return None
    names = list(dict.fromkeys(name for log in logs for name in log))
    joined: dict[str, list[np.ndarray]] = {name: [] for name in (*names, "stage")}
    step0 = wall0 = 0.0
    for number, log in enumerate(logs, start=1):
        rows = len(next(iter(log.values())))
        for name in names:
            values = log.get(name, np.full(rows, np.nan))
            joined[name].append(values + step0 if name == "step" else values + wall0 if name == "wall_s" else values)
        joined["stage"].append(np.full(rows, float(number)))
        step0 += float(log["step"][-1]) if "step" in log else 0.0
        wall0 += float(log["wall_s"][-1]) if "wall_s" in log else 0.0
    return {name: np.concatenate(parts) for name, parts in joined.items()}


def aux_summary(log: dict[str, np.ndarray], window: int) -> dict[str, float] | None:
    """First and last smoothed values of the dense auxiliary loss and its soft IoU (keys aux_first,
    aux_last, aux_iou_first, aux_iou_last); None when the log has no such loss (older logs, or a run
    with --aux-weight 0)."""
    if "aux" not in log or "aux_iou" not in log or not np.nanmax(np.abs(log["aux"]), initial=0.0) > 0:
        return None
    aux, iou = smooth(log["aux"], window), smooth(log["aux_iou"], window)
    return {"aux_first": float(aux[0]), "aux_last": float(aux[-1]),
            "aux_iou_first": float(iou[0]), "aux_iou_last": float(iou[-1])}


def sky_negatives(log: dict[str, np.ndarray], window: int = 20) -> dict[str, float] | None:
    """The sky scenes shown in training as negative examples (`python -m sam_core.training --sky-frac`): the mean
    predicted IoU on those no-object prompts over the last `window` rows that have it (sky_pred_last) and
    how many rows have it (sky_rows); None when the run had none (SAM's recipe, older logs)."""
    values = log.get("sky_pred_iou")
    if values is None or not np.isfinite(values).any():
        return None
    finite = np.asarray(values, dtype=np.float64)[np.isfinite(values)]
    return {"sky_pred_last": float(finite[-window:].mean()), "sky_rows": float(len(finite))}


def dense_phase(log: dict[str, np.ndarray]) -> dict[str, float] | None:
    """The encoder-only phase at the start of a run (`python -m sam_core.training --dense-frac`): the rows before the
    first one with a finite focal loss. Keys dense_steps (last step of the phase), dense_minutes (its wall
    time) and dense_aux_iou (the dense loss's soft IoU in its last row); None when the run had no such phase."""
    focal, steps = log.get("focal"), log.get("step")
    if focal is None or steps is None or "aux_iou" not in log or "wall_s" not in log:
        return None
    finite = np.flatnonzero(np.isfinite(focal))
    first = int(finite[0]) if finite.size else len(focal)
    if first == 0:
        return None
    last = first - 1
    return {"dense_steps": float(steps[last]), "dense_minutes": float(log["wall_s"][last]) / 60.0,
            "dense_aux_iou": float(log["aux_iou"][last])}


@dataclass(frozen=True)
class FocalRamp:
    start: float  # focal weight of the first logged row
    end: float  # focal weight of the last logged row
    ramp_from: float  # last step still at `start`
    ramp_to: float  # first step at `end`


def focal_ramp(log: dict[str, np.ndarray]) -> FocalRamp | None:
    """The focal-weight warm-up read from a training log with a `focal_weight` column; None when the
    weight never changed (or the log predates the column)."""
    weight, steps = log.get("focal_weight"), log.get("step")
    if weight is None or steps is None or not np.isfinite(weight).all() or len(weight) < 2:
        return None
    if np.allclose(weight, weight[0]):
        return None
    at_start = np.flatnonzero(np.isclose(weight, weight[0]))
    at_end = np.flatnonzero(np.isclose(weight, weight[-1]))
    return FocalRamp(float(weight[0]), float(weight[-1]), float(steps[at_start[-1]]), float(steps[at_end[0]]))


def weighted_focal(log: dict[str, np.ndarray], constant_weight: float) -> tuple[str, np.ndarray]:
    """(label, focal term as it entered the loss): per-row weight when the log has one, else the constant."""
    if "focal_weight" in log and np.isfinite(log["focal_weight"]).all():
        return "weight × focal", log["focal"] * log["focal_weight"]
    return f"{constant_weight:g} × focal", log["focal"] * constant_weight


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (NaNs ignored), for noisy per-step losses."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, v, 0.0))])  # prefix sums: a window is a difference
    counts = np.concatenate([[0], np.cumsum(finite)])
    end = np.arange(1, len(v) + 1)
    start = np.maximum(0, end - window)
    n = counts[end] - counts[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[end] - sums[start]) / np.maximum(n, 1), np.nan)


# ---- formulas (LaTeX), with the constants from sam_core.losses -----------------------

def loss_defaults() -> dict[str, float]:
    """alpha, gamma, smooth, focal_weight, dice_weight: sam_core.losses' constants (its functions' defaults)."""
    from sam_core import losses

    return {"alpha": losses.FOCAL_ALPHA, "gamma": losses.FOCAL_GAMMA, "smooth": losses.DICE_SMOOTH,
            "focal_weight": losses.FOCAL_WEIGHT, "dice_weight": losses.DICE_WEIGHT}


def formulas(focal_w: float, dice_w: float, smooth: float) -> dict[str, str]:
    """The loss formulas as LaTeX, split so no line is wider than a narrow column."""
    return {
        "focal": r"\mathcal{L}_{\text{focal}} = \frac{1}{HW} \sum_{i} -\,\alpha_t\,(1 - p_t)^{\gamma} \ln p_t",
        "p_t": r"p_t = \begin{cases} p & y = 1 \\ 1 - p & y = 0 \end{cases} \qquad "
               r"\alpha_t = \begin{cases} \alpha & y = 1 \\ 1 - \alpha & y = 0 \end{cases}",
        "dice": rf"\mathcal{{L}}_{{\text{{dice}}}} = 1 - \frac{{2 \sum_i p_i g_i + s}}{{\sum_i p_i + \sum_i g_i + s}},"
                rf"\qquad s = {smooth:g}",
        "mask": rf"\mathcal{{L}}_{{\text{{mask}}}} = {focal_w:g}\,\mathcal{{L}}_{{\text{{focal}}}} + "
                rf"{dice_w:g}\,\mathcal{{L}}_{{\text{{dice}}}}",
        "iou": r"\mathcal{L}_{\text{IoU}} = \big(\widehat{\text{IoU}} - \text{IoU}(\hat m > 0,\ g)\big)^2",
        "min": r"\mathcal{L} = \min_{k} \mathcal{L}_{\text{mask}}(\hat m_k, g) + "
               r"\frac{1}{M} \sum_{k} \mathcal{L}_{\text{IoU}}(k)",
    }
