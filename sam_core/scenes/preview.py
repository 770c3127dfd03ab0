"""Contact sheet of the procedural scenes with mask outlines: one row per kind, a few seeds per row.

    python -m sam_core.scenes.preview --out DIR [--seeds 4] [--size 256] [--level all|part|object|group]

writes DIR/scenes_preview.png (the images with every object's outline, coloured by level: part = yellow,
object = cyan, group = magenta) and prints per-kind render times.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import SCENE_KINDS, render_scene

LEVEL_COLORS = {"part": (255, 230, 0), "object": (0, 230, 255), "group": (255, 0, 200)}


def outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` with a 4-neighbour outside the mask."""
    m = np.pad(mask, 1)
    inner = m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask & ~inner


def annotate(scene, level: str = "all") -> np.ndarray:
    img = scene.image.copy()
    for obj in sorted(scene.objects, key=lambda o: -o.area):
        if level != "all" and obj.level != level:
            continue
        img[outline(obj.mask)] = LEVEL_COLORS.get(obj.level, (255, 255, 255))
    return img


def contact_sheet(seeds: int = 4, size: int = 256, level: str = "all", raw: bool = True) -> np.ndarray:
    rows = []
    for kind in SCENE_KINDS:
        tiles = []
        for seed in range(seeds):
            sc = render_scene(kind, seed, size)
            if raw:
                tiles.append(sc.image)
            tiles.append(annotate(sc, level))
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1))
    return np.concatenate(rows, 0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--level", default="all", choices=["all", "part", "object", "group"])
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sheet = contact_sheet(args.seeds, args.size, args.level)
    path = args.out / "scenes_preview.png"
    Image.fromarray(sheet).save(path)
    print(path)
    for kind in SCENE_KINDS:
        t = []
        for seed in range(20):
            t0 = time.perf_counter()
            render_scene(kind, seed, args.size)
            t.append((time.perf_counter() - t0) * 1e3)
        print(f"{kind:8s} median {np.median(t):6.2f} ms  max {np.max(t):6.2f} ms")


if __name__ == "__main__":
    main()
