"""train_log.csv: one row every `--log-every` steps, means over the steps since the last row.

Columns (LOG_FIELDS): step, wall_s, lr, focal_weight (the schedule's values at the row's step); focal,
dice, iou_mse, total (the loss terms of the masks the loss chose), iou_part / iou_object / iou_group
(first-round train IoU per granularity), iou_first / iou_last (train IoU after the first prompt and after
the last correction), aux / aux_iou (the dense loss and its soft IoU), sky_pred_iou (the mean predicted
IoU on sky prompts), s_per_step. The decoder's columns are NaN in the encoder-only phase, and a column is
empty in a row whose steps had none of it (a sky step has no mask stats, an object step no sky_pred_iou).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sam_core.scenes.splits import LEVELS

LOG_FIELDS = ["step", "wall_s", "lr", "focal_weight", "focal", "dice", "iou_mse", "total",
              "iou_part", "iou_object", "iou_group", "iou_first", "iou_last", "aux", "aux_iou",
              "sky_pred_iou", "s_per_step"]
STAT_KEYS = ("focal", "dice", "iou_mse", "total", "iou_first", "iou_last", "aux", "aux_iou", "sky_pred_iou")


class StatSums:
    """A worker's sums of each step's stats since the last log row: {k: sum, "n_" + k: steps that had k,
    "lv_" + level: [first-round IoUs]} and the number of steps."""

    def __init__(self) -> None:
        self.sums: dict = {}
        self.steps = 0

    def add(self, stats: dict) -> None:
        for k in STAT_KEYS:
            if stats[k] is not None:
                self.sums[k] = self.sums.get(k, 0.0) + stats[k]
                self.sums["n_" + k] = self.sums.get("n_" + k, 0) + 1
        for lv, vals in stats["level_iou"].items():
            self.sums.setdefault("lv_" + lv, []).extend(vals)
        self.steps += 1


class TrainLog:
    """train_log.csv (appended to, so a resumed run continues it) and the console line for each row."""

    def __init__(self, path: Path) -> None:
        new = not path.exists()
        self.file = path.open("a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=LOG_FIELDS)
        if new:
            self.writer.writeheader()

    def write(self, step: int, wall_s: float, lr: float, fw: float, s_per_step: float,
              every: list[tuple[dict, int]]) -> None:
        """One row from the workers' (sums since the last row, steps) pairs: means over the steps that
        have each stat (a sky step has no mask stats, an object step no sky_pred_iou); "" when none do."""
        row = {"step": step, "wall_s": round(wall_s, 1), "lr": f"{lr:.3e}", "focal_weight": round(fw, 3),
               "s_per_step": round(s_per_step, 3)}
        for k in STAT_KEYS:
            n = sum(acc.get("n_" + k, 0) for acc, _ in every)
            row[k] = round(sum(acc.get(k, 0.0) for acc, _ in every) / n, 5) if n else ""
        for lv in LEVELS:
            vals = [v for acc, _ in every for v in acc.get("lv_" + lv, [])]
            row["iou_" + lv] = round(float(np.mean(vals)), 4) if vals else ""
        self.writer.writerow(row)
        self.file.flush()
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)

    def close(self) -> None:
        self.file.close()


def truncate_log(path: Path, step: int) -> None:
    """Drop the rows after `step` (a resumed run continues from its last checkpoint, not its last row)."""
    if not path.exists():
        return
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)
