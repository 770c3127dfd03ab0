"""What one training step sees: scenes with their target masks, and the prompts sampled from them.

Scenes are rendered on the fly (`sam_core.scenes.render_scene`, training seeds < HELD_OUT_SEED); each
target is an object at a random granularity (uniform over the levels the scene has, then an object of
that level uniformly). Prompts follow SAM's interactive recipe (Kirillov et al. 2023, appendix A):
- first prompt: a point uniform in the target, or its box with Gaussian noise on each coordinate
  (std 10% of the side, clipped to 20 px);
- correction clicks: a point uniform in the error region of the previous prediction (a missed pixel is a
  foreground click, a spurious one a background click).
With `nested` > 0 (`--nested-frac`), that share of the targets is drawn the other way round: an object
inside another first (a button, a shirt, a handle), its first click inside it, and the target uniform over
it and its ancestors (button, shirt, person). SAM's recipe clicks uniformly inside the target, so a click on a button almost never has to
mean the whole person (the button is ~1% of the person), and the multimask outputs never learn to offer it.
Random draws come from the step's numpy / torch generators (on the CPU, then moved to the batch's
device), so the data of a step depends only on its seed, on every device.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from sam_core.device import to_device
from sam_core.prompts import BACKGROUND, FOREGROUND, PADDING
from sam_core.scenes import render_scene
from sam_core.scenes.splits import HELD_OUT_SEED, LEVELS, TRAIN_KINDS

NO_OBJECT = "none"  # the level of a no-object target (a prompt on a sky scene: nothing to segment)


@dataclass
class Batch:
    images: torch.Tensor  # [B, 3, S, S] float 0-255
    targets: torch.Tensor  # [N, 1, S, S] float 0/1, N = B * prompts (all 0 for a no-object target)
    image_index: torch.Tensor  # [N] which image each target belongs to
    levels: list[str]  # [N] granularity of each target (NO_OBJECT: a prompt on a scene without objects)
    object_masks: list[torch.Tensor]  # [B] x [K_b, S, S] bool: every object of image b (for the dense loss)
    object_levels: list[list[str]]  # [B] x [K_b] their granularities
    click_regions: torch.Tensor | None = None  # [N, 1, S, S] where each first click falls (None: the targets)

    def to(self, device: torch.device) -> Batch:
        """The same batch on `device` (asynchronous copies on CUDA only)."""
        regions = None if self.click_regions is None else to_device(self.click_regions, device)
        return replace(self, images=to_device(self.images, device), targets=to_device(self.targets, device),
                       image_index=to_device(self.image_index, device),
                       object_masks=[to_device(m, device) for m in self.object_masks], click_regions=regions)

    @property
    def first_click_masks(self) -> torch.Tensor:
        """[N, S, S] bool: where each target's first click is drawn."""
        return (self.targets if self.click_regions is None else self.click_regions)[:, 0] > 0.5


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [S, S, 3] (possibly a flipped view) -> float [3, S, S]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()


def ancestry(objects: list, i: int) -> list:
    """[objects[i], its parent, the parent's parent, ...] (every mask contains the one before it)."""
    chain = [objects[i]]
    while chain[-1].parent is not None:
        chain.append(objects[chain[-1].parent])
    return chain


def sample_batch(rng: np.random.Generator, batch: int, prompts: int, size: int, kinds=TRAIN_KINDS,
                 nested: float = 0.0) -> Batch:
    """Render `batch` scenes (seeds < HELD_OUT_SEED) and pick `prompts` targets in each (`nested`: the share
    of targets picked as a part's ancestor, clicked inside the part; see the module docstring)."""
    images, targets, index, levels, regions = [], [], [], [], []
    object_masks, object_levels = [], []
    b = 0
    while b < batch:
        kind = kinds[int(rng.integers(len(kinds)))]
        scene = render_scene(kind, int(rng.integers(HELD_OUT_SEED)), size)
        by_level = {lv: [o for o in scene.objects if o.level == lv] for lv in LEVELS}
        present = [lv for lv in LEVELS if by_level[lv]]
        if not present:
            continue
        flip = rng.random() < 0.5  # cheap augmentation: horizontal flip
        images.append(_image_tensor(scene.image[:, ::-1] if flip else scene.image))
        every = np.stack([o.mask for o in scene.objects])
        object_masks.append(torch.from_numpy(np.ascontiguousarray(every[:, :, ::-1] if flip else every)))
        object_levels.append([o.level for o in scene.objects])
        nested_parts = [i for i, o in enumerate(scene.objects) if o.parent is not None and o.mask.any()]
        chosen: set[int] = set()
        for _ in range(prompts):
            region = None
            if nested > 0 and nested_parts and rng.random() < nested:
                chain = ancestry(scene.objects, nested_parts[int(rng.integers(len(nested_parts)))])
                obj, region = chain[int(rng.integers(len(chain)))], chain[0].mask
                level = obj.level
            else:
                for _attempt in range(4):  # prefer distinct targets: the same image must give different masks
                    level = present[int(rng.integers(len(present)))]
                    obj = by_level[level][int(rng.integers(len(by_level[level])))]
                    if id(obj) not in chosen:
                        break
            chosen.add(id(obj))
            mask = obj.mask[:, ::-1] if flip else obj.mask
            targets.append(torch.from_numpy(np.ascontiguousarray(mask)))
            if nested > 0:
                region = mask if region is None else (region[:, ::-1] if flip else region)
                regions.append(torch.from_numpy(np.ascontiguousarray(region)))
            index.append(b)
            levels.append(level)
        b += 1
    return Batch(
        images=torch.stack(images),
        targets=torch.stack(targets).unsqueeze(1).float() if targets else torch.zeros(0, 1, size, size),
        image_index=torch.tensor(index, dtype=torch.long),
        levels=levels,
        object_masks=object_masks,
        object_levels=object_levels,
        click_regions=torch.stack(regions).unsqueeze(1).float() if nested > 0 and regions else None,
    )


def sample_no_object_batch(rng: np.random.Generator, batch: int, prompts: int, size: int) -> Batch:
    """`batch` sky scenes (seeds < HELD_OUT_SEED) with `prompts` no-object targets each (empty masks).

    The negative examples of `--sky-frac`: a click or box on a sky scene has no object to find, so the IoU
    head is trained to predict 0 there and the masks get no loss (see episode.interactive_loss)."""
    images = []
    for _ in range(batch):
        scene = render_scene("sky", int(rng.integers(HELD_OUT_SEED)), size)
        images.append(_image_tensor(scene.image[:, ::-1] if rng.random() < 0.5 else scene.image))
    n = batch * prompts
    return Batch(
        images=torch.stack(images),
        targets=torch.zeros(n, 1, size, size),
        image_index=torch.arange(batch).repeat_interleave(prompts),
        levels=[NO_OBJECT] * n,
        object_masks=[torch.zeros(0, size, size, dtype=torch.bool) for _ in range(batch)],
        object_levels=[[] for _ in range(batch)],
    )


def random_prompts(n: int, size: int, gen: torch.Generator,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts with no target to come from: points uniform over the image [n, 2] and boxes [n, 4]
    (x0, y0, x1, y1) with a uniform centre and sides uniform in [size/16, size/2]."""
    points = torch.rand(n, 2, generator=gen) * (size - 1)
    centre = torch.rand(n, 2, generator=gen) * (size - 1)
    half = size / 32 + torch.rand(n, 2, generator=gen) * (size / 4 - size / 32)
    boxes = torch.cat([centre - half, centre + half], 1).clamp(0, size - 1)
    return points.to(device), boxes.to(device)


def sample_points_in(masks: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One pixel uniformly from each mask: masks [N, H, W] bool -> (x, y) [N, 2] float; empty -> centre.

    The r-th set pixel (r uniform) found by binary search in the running count: ~8x faster than
    torch.multinomial over H*W weights."""
    n, h, w = masks.shape
    running = masks.reshape(n, -1).cumsum(1, dtype=torch.int32)  # [N, H*W]
    count = running[:, -1]
    r = (torch.rand(n, generator=gen).to(masks.device) * count).long().clamp(min=0)
    r = torch.minimum(r, (count - 1).clamp(min=0).long())
    idx = torch.searchsorted(running, (r + 1).to(torch.int32).unsqueeze(1)).squeeze(1)
    idx = torch.where(count > 0, idx, torch.full_like(idx, (h // 2) * w + w // 2))
    return torch.stack([(idx % w).float(), (idx // w).float()], dim=1)


def noisy_boxes(masks: torch.Tensor, gen: torch.Generator, noise: float = 0.1, max_px: float = 20.0) -> torch.Tensor:
    """Tight boxes of masks [N, H, W] with N(0, noise * side) on each coordinate, clipped to max_px.

    Boxes are (x0, y0, x1, y1) [N, 4], max corner inclusive before the noise (`sam_core.masks.tight_box`)."""
    n, h, w = masks.shape
    rows, cols = masks.any(2), masks.any(1)
    ar_h, ar_w = torch.arange(h, device=masks.device), torch.arange(w, device=masks.device)
    big = 10**6
    y0 = torch.where(rows, ar_h, big).min(1).values
    y1 = torch.where(rows, ar_h, -1).max(1).values
    x0 = torch.where(cols, ar_w, big).min(1).values
    x1 = torch.where(cols, ar_w, -1).max(1).values
    box = torch.stack([x0, y0, x1, y1], 1).float()
    side = torch.stack([x1 - x0, y1 - y0, x1 - x0, y1 - y0], 1).float().clamp(min=1)
    jitter = (torch.randn(n, 4, generator=gen).to(masks.device) * noise * side).clamp(-max_px, max_px)
    box = box + jitter
    box[:, 0::2] = box[:, 0::2].clamp(0, w - 1)
    box[:, 1::2] = box[:, 1::2].clamp(0, h - 1)
    x_lo, x_hi = torch.minimum(box[:, 0], box[:, 2]), torch.maximum(box[:, 0], box[:, 2])
    y_lo, y_hi = torch.minimum(box[:, 1], box[:, 3]), torch.maximum(box[:, 1], box[:, 3])
    return torch.stack([x_lo, y_lo, x_hi, y_hi], 1)


def correction_points(
    logits: torch.Tensor, targets: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A click uniform in each error region: logits, targets [N, 1, H, W] -> (xy [N, 2], label [N]).

    Label FOREGROUND (1) where the model missed target pixels, BACKGROUND (0) where it claimed background;
    PADDING (-1, not a point) when the prediction is already exact.
    """
    gt = targets[:, 0] > 0.5
    err = (logits[:, 0] > 0) != gt
    xy = sample_points_in(err, gen)
    n = xy.shape[0]
    x, y = xy[:, 0].long(), xy[:, 1].long()
    label = torch.where(gt[torch.arange(n, device=gt.device), y, x], FOREGROUND, BACKGROUND).float()
    label[err.reshape(n, -1).sum(1) == 0] = float(PADDING)
    return xy, label
