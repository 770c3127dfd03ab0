"""`python -m sam_core.data_engine [--out assets/data_engine/run.json] [--images-per-stage 3] ...`

Runs one turn of the data engine with the embedded model (`engine.run`) and writes its JSON: the stage
table, per-image rows, the fine-tune curve and the before / after on held-out scenes. Every EngineConfig
field is a flag (`finetune_steps` -> `--finetune-steps`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch

from sam_core.data_engine.engine import EngineConfig, run
from sam_core.sam1.build import build_sam

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "assets" / "data_engine" / "run.json"


def parse_args(argv: list[str] | None) -> tuple[EngineConfig, Path, str | None, int | None]:
    parser = argparse.ArgumentParser(prog="python -m sam_core.data_engine", description=__doc__.splitlines()[2])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--checkpoint", default=None, help="nano weights (default: the embedded ones)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    for f in fields(EngineConfig):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = parser.parse_args(argv)
    cfg = EngineConfig(**{f.name: getattr(args, f.name) for f in fields(EngineConfig)})
    return cfg, args.out, args.checkpoint, args.threads


def main(argv: list[str] | None = None) -> int:
    cfg, out, checkpoint, threads = parse_args(argv)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    model = build_sam("nano", checkpoint=checkpoint)

    def progress(stage: str, done: int, total: int) -> None:
        print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)

    result = run(model, cfg, progress)
    result["checkpoint"] = checkpoint or "embedded nano"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    for row in result["stages"]:
        print(f"{row['stage']:16s} images {row['images']}  masks {row['masks']:3d}  clicks {row['clicks']:3d}")
    for when in ("before", "after"):
        m = result[when]
        print(f"{when:6s} clicks/object {m['clicks_per_object']:.2f}  first-click IoU {m['first_click_iou']:.3f}  "
              f"P/R@0.5 {m['iou_0.5']['precision']:.2f}/{m['iou_0.5']['recall']:.2f}")
    print(f"wrote {out} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
