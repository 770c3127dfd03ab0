"""Untrusted images to RGB: the one mode conversion used by the app's uploads and the model service.

Pillow opens many modes (16-bit and float grayscale, palette with transparency, LA/RGBA, CMYK, bilevel);
SAM wants 8-bit RGB. Each conversion that changes what the user sees leaves a note saying so.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    """Any Pillow mode -> 'RGB'. Transparent pixels are composited on white, 16-bit is rescaled."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(img, dtype=np.float64)
        if mode == "F":
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        else:
            high = 65535.0 if values.max() > 255 else 255.0
            scaled = values / high * 255.0
        notes.append(f"Converted a {mode} (high bit depth) grayscale image to 8-bit RGB.")
        gray = np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2), "RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("PA", "LA", "La", "RGBa", "RGBA"):
        rgba = img.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            notes.append("Transparent areas were filled with white.")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode in ("1", "L"):
        notes.append("Grayscale image: shown as RGB with three equal channels.")
        return img.convert("RGB")
    if mode == "CMYK":
        notes.append("Converted from CMYK to RGB (colours may differ slightly from print software).")
        return img.convert("RGB")
    if mode != "RGB":
        return img.convert("RGB")
    return img
