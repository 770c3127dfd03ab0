"""The shared drawing machinery: a label map painted with PIL at 2x, then shaded with numpy.

Scenes are written in "design pixels" (a 256 x 256 frame) and scale to any output size. Drawing paints
*material ids* (uint8 labels) back to front into a 2x label map, so occlusion is just paint order. At
render time the 2x map is reduced to the output size by majority vote (ties go to the first sub-pixel
in raster order), every object's mask is the set of output pixels whose label belongs to the object or
one of its descendants (so part <= object <= group holds exactly), and the image is computed from the
labels: per-material colour x shading (linear + radial gradient) x texture from the cached noise bank.
Pixels whose 2x sub-pixels disagree get the mean colour of their 4 sub-pixels (anti-aliasing).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .base import SceneObject
from .textures import COARSE, FBM, GAUSS, N_FIELDS, noise_bank, pixel_grid

MIN_AREA = 12  # objects with fewer visible pixels (at the output size) are dropped


def jitter(rng: np.random.Generator, rgb, amount: float = 12.0) -> tuple[float, float, float]:
    """A colour near `rgb`: a shared brightness shift plus a small per-channel one."""
    base = np.asarray(rgb, np.float32)
    out = base + rng.normal(0, amount * 0.6) + rng.normal(0, amount * 0.4, 3)
    return tuple(float(v) for v in np.clip(out, 0, 255))


def darker(rgb, f: float) -> tuple[float, float, float]:
    return tuple(float(v) * f for v in rgb)


def ellipse_pts(cx, cy, rx, ry, angle: float = 0.0, n: int = 28, a0: float = 0.0, a1: float = 2 * math.pi):
    t = np.linspace(a0, a1, n, endpoint=(a1 - a0) < 2 * math.pi - 1e-6)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return list(zip((cx + c * x - s * y).tolist(), (cy + s * x + c * y).tolist(), strict=True))


def rect_pts(cx, cy, w, h, angle: float = 0.0):
    c, s = math.cos(angle), math.sin(angle)
    out = []
    for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        out.append((cx + c * dx - s * dy, cy + s * dx + c * dy))
    return out


def blob_pts(rng: np.random.Generator, cx, cy, rx, ry, wobble: float = 0.15, n: int = 24):
    """An irregular closed blob (smooth random radius) around (cx, cy)."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = np.ones(n)
    for k in (2, 3, 5):
        r += wobble / k * 2 * np.cos(k * t + rng.uniform(0, 2 * math.pi))
    return list(zip((cx + rx * r * np.cos(t)).tolist(), (cy + ry * r * np.sin(t)).tolist(), strict=True))


class Canvas:
    """Materials + a 2x label map + an object list; `render()` returns (image, objects)."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.rng = rng
        self.s = 2.0 * size / 256.0  # design px -> 2x label-map px (times the view zoom)
        self.zoom, self.ox, self.oy = 1.0, 0.0, 0.0  # view: design (x, y) -> (x * zoom + ox, y * zoom + oy)
        self.lab = Image.new("L", (2 * size, 2 * size), 0)
        self.draw = ImageDraw.Draw(self.lab)
        self.mats: list[tuple] = []
        self.objs: list[dict] = []

    def set_view(self, rng: np.random.Generator, max_zoom: float, pan: float = 1.0) -> None:
        """Zoom into the design frame by a random factor in [1, max_zoom] and pan by up to `pan` of the
        room the zoom leaves (so the image stays covered). Call before drawing anything."""
        z = float(rng.uniform(1.0, max_zoom))
        room = 128.0 * (z - 1.0) * pan
        self.zoom = z
        self.ox = 128.0 - 128.0 * z + float(rng.uniform(-room, room))
        self.oy = 128.0 - 128.0 * z + float(rng.uniform(-room, room))
        self.s = 2.0 * self.size / 256.0 * z

    # ---- materials ---------------------------------------------------------------------------
    def material(self, color, *, tex: int = FBM, amp=8.0, tex2: int = COARSE, amp2: float = 0.06,
                 center=(128.0, 128.0), radius: float = 128.0, grad=(0.0, 0.0), radial: float = 0.0) -> int:
        """A material id. Colour = color * shade * (1 + amp2 * tex2) + amp * tex, where
        shade = 1 + grad . d + radial * |d|^2 and d = (pixel - center) / radius (design px)."""
        if len(self.mats) >= 255:
            raise RuntimeError("too many materials in one scene")
        z = self.zoom
        center = (center[0] * z + self.ox, center[1] * z + self.oy)
        radius = radius * z
        amp3 = np.broadcast_to(np.asarray(amp, np.float32), (3,))
        size = self.size
        ox, oy = (int(v) for v in self.rng.integers(0, size, 2))
        ox2, oy2 = (int(v) for v in self.rng.integers(0, size, 2))
        plane = 4 * size * size
        self.mats.append((tuple(float(c) for c in color), tuple(amp3.tolist()), float(amp2),
                          float(center[0]), float(center[1]), 1.0 / max(float(radius), 1e-3),
                          float(grad[0]), float(grad[1]), float(radial),
                          tex * plane + oy * 2 * size + ox, tex2 * plane + oy2 * 2 * size + ox2))
        return len(self.mats) - 1

    def shadow_of(self, mat: int, f: float = 0.6) -> int:
        """A darker copy of a material (cast shadows on a surface)."""
        m = list(self.mats[mat])
        m[0] = darker(m[0], f)
        m[1] = tuple(v * f for v in m[1])
        self.mats.append(tuple(m))
        return len(self.mats) - 1

    # ---- painting (design coordinates) -------------------------------------------------------
    def _sc(self, pts):
        s, ox, oy = self.s, self.ox * self.s / self.zoom, self.oy * self.s / self.zoom
        return [(x * s + ox, y * s + oy) for x, y in pts]

    def _box(self, x0, y0, x1, y1):
        (a, b), (c, d) = self._sc([(x0, y0), (x1, y1)])
        return (a, b, c, d)

    def fill(self, mat: int) -> None:
        self.draw.rectangle((0, 0, self.lab.width, self.lab.height), fill=mat)

    def poly(self, pts, mat: int) -> None:
        self.draw.polygon(self._sc(pts), fill=mat)

    def ellipse(self, cx, cy, rx, ry, mat: int, angle: float = 0.0) -> None:
        if angle == 0.0:
            self.draw.ellipse(self._box(cx - rx, cy - ry, cx + rx, cy + ry), fill=mat)
        else:
            self.poly(ellipse_pts(cx, cy, rx, ry, angle), mat)

    def ring(self, cx, cy, rx, ry, width, mat: int) -> None:
        self.draw.ellipse(self._box(cx - rx, cy - ry, cx + rx, cy + ry), outline=mat,
                          width=max(1, round(width * self.s)))

    def rect(self, x0, y0, x1, y1, mat: int) -> None:
        a, b, c, d = self._box(x0, y0, x1, y1)
        self.draw.rectangle((a, b, max(a, c - 1), max(b, d - 1)), fill=mat)

    def line(self, pts, width: float, mat: int, round_caps: bool = True) -> None:
        self.draw.line(self._sc(pts), fill=mat, width=max(1, round(width * self.s)), joint="curve")
        if round_caps:
            r = width / 2
            for x, y in (pts[0], pts[-1]):
                self.draw.ellipse(self._box(x - r, y - r, x + r, y + r), fill=mat)

    # ---- objects ----------------------------------------------------------------------------
    def obj(self, name: str, phrase: str, level: str, labels, parent: int | None = None, **attrs) -> int:
        """Declare an object made of these material ids (plus, at render, all its descendants')."""
        self.objs.append(dict(name=name, phrase=phrase, level=level, labels=set(labels), parent=parent,
                              attributes=attrs))
        return len(self.objs) - 1

    # ---- render -----------------------------------------------------------------------------
    def _tables(self) -> tuple[np.ndarray, ...]:
        """Per-material lookup tables, with the shading expanded as a + b*x + c*y + d*(x^2 + y^2)."""
        cols = list(zip(*self.mats, strict=True))
        cx, cy, ir, gx, gy, gr = (np.asarray(col, np.float64) for col in cols[3:9])
        d = gr * ir * ir
        a = 1.0 - gx * cx * ir - gy * cy * ir + d * (cx * cx + cy * cy)
        b = gx * ir - 2.0 * d * cx
        c = gy * ir - 2.0 * d * cy
        base = np.asarray(cols[0], np.float32).T.copy()  # [3, M]
        amp = np.asarray(cols[1], np.float32).T.copy()
        f32 = [np.ascontiguousarray(v, np.float32) for v in (a, b, c, d, cols[2])]
        return (base, amp, *f32, np.asarray(cols[9], np.intp), np.asarray(cols[10], np.intp))

    def _shade(self, li: np.ndarray, xd, yd, r2, idx2, tables) -> np.ndarray:
        """Colour planes [3, N] for pixels with material ids `li` (intp) at design coords (xd, yd)."""
        base, amp, a, b, c, d, amp2, off1, off2 = tables
        bank = noise_bank(self.size).reshape(-1)
        take = np.take
        shade = take(a, li) + take(b, li) * xd + take(c, li) * yd + take(d, li) * r2
        shade *= 1.0 + take(amp2, li) * take(bank, take(off2, li) + idx2)
        t1 = take(bank, take(off1, li) + idx2)
        out = np.empty((3, li.size), np.float32)
        for ch in range(3):
            np.multiply(take(base[ch], li), shade, out=out[ch])
            out[ch] += take(amp[ch], li) * t1
        return out

    def render(self, noise: float = 3.0) -> tuple[np.ndarray, list[SceneObject]]:
        size = self.size
        lab2 = np.asarray(self.lab)
        a, b, c, d = lab2[0::2, 0::2], lab2[0::2, 1::2], lab2[1::2, 0::2], lab2[1::2, 1::2]
        mixed = (a != b) | (a != c) | (a != d)
        lab1 = np.ascontiguousarray(a).ravel()
        rows, cols_ = np.nonzero(mixed)
        mix_idx = rows * size + cols_
        if mix_idx.size:
            subs = np.stack([a[rows, cols_], b[rows, cols_], c[rows, cols_], d[rows, cols_]], 1)
            counts = (subs[:, :, None] == subs[:, None, :]).sum(2)
            lab1[mix_idx] = subs[np.arange(len(mix_idx)), counts.argmax(1)]
        tables = self._tables()
        xd, yd, r2, idx2 = pixel_grid(size)
        img = self._shade(lab1.astype(np.intp), xd, yd, r2, idx2, tables)
        if mix_idx.size:
            sub_args = (xd[mix_idx], yd[mix_idx], r2[mix_idx], idx2[mix_idx], tables)
            acc = self._shade(subs[:, 0].astype(np.intp), *sub_args)
            for k in range(1, 4):
                acc += self._shade(subs[:, k].astype(np.intp), *sub_args)
            img[:, mix_idx] = acc * 0.25
        # sensor noise and a global white balance / exposure jitter
        rng = self.rng
        oy, ox = (int(v) for v in rng.integers(0, size, 2))
        g = noise_bank(size)[GAUSS, oy:oy + size, ox:ox + size].ravel() * np.float32(noise)
        wb = (1.0 + rng.normal(0, 0.03, 3)) * rng.uniform(0.92, 1.08)
        image = np.empty((size, size, 3), np.uint8)
        for ch in range(3):
            plane = img[ch]
            plane *= np.float32(wb[ch])
            plane += g
            np.clip(plane, 0, 255, out=plane)
            image[:, :, ch] = plane.reshape(size, size)
        return image, self._objects(lab1.reshape(size, size))

    def _objects(self, lab_img: np.ndarray) -> list[SceneObject]:
        n = len(self.objs)
        labels = [set(o["labels"]) for o in self.objs]
        # propagate labels to all ancestors
        for i in range(n):
            p = self.objs[i]["parent"]
            seen = 0
            while p is not None and seen < n:
                labels[p] |= self.objs[i]["labels"]
                p = self.objs[p]["parent"]
                seen += 1
        min_area = MIN_AREA if self.size >= 128 else max(2, round(MIN_AREA * self.size / 128))
        masks, keep = [], []
        for i in range(n):
            ids = sorted(labels[i])
            if len(ids) <= 6:
                m = lab_img == ids[0] if ids else np.zeros(lab_img.shape, bool)
                for k in ids[1:]:
                    m |= lab_img == k
            else:
                lut = np.zeros(256, bool)
                lut[ids] = True
                m = np.take(lut, lab_img.astype(np.intp))
            masks.append(m)
            keep.append(int(np.count_nonzero(m)) >= min_area)
        # an object is kept only if it and all its ancestors are kept
        new_index: dict[int, int] = {}
        out: list[SceneObject] = []
        for i in range(n):
            p, ok = self.objs[i]["parent"], keep[i]
            while ok and p is not None:
                ok = keep[p]
                p = self.objs[p]["parent"]
            if not ok:
                continue
            o = self.objs[i]
            new_index[i] = len(out)
            out.append(SceneObject(o["name"], o["phrase"], o["level"], masks[i], o["parent"], dict(o["attributes"])))
        for obj in out:
            if obj.parent is not None:
                obj.parent = new_index[obj.parent]
        return out


__all__ = ["Canvas", "MIN_AREA", "N_FIELDS", "blob_pts", "darker", "ellipse_pts", "jitter", "rect_pts"]
