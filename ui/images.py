"""Images for the pages: untrusted uploads, the bundled photographs, and procedural scenes.

Everything here returns RGB uint8 arrays shaped [H, W, 3], the format `SamPredictor.set_image` takes.
`load_upload` never raises: a student's file is untrusted, so every failure becomes a message.
"""

from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sam_core.images import (
    MAX_DECODED_BYTES,
    ORIENTATION_TRANSPOSE,
    aspect_problem,
    decoded_bytes,
    exif_orientation,
    structure_problem,
    to_rgb,
)

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets" / "images"

MAX_UPLOAD_BYTES = 40 * 1024 * 1024  # larger files are refused before Pillow sees them
MAX_PIXELS = 40_000_000  # refuse to decode more than this (a 40 MP photo); bombs claim far more
MAX_SIDE = 2048  # the longest side is downscaled to this; SAM resizes to 1024 anyway
MIN_SIDE = 16  # smaller than one 16 px ViT patch: nothing to segment

# Only formats that Pillow decodes itself. EPS/PS would start Ghostscript on untrusted input.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "ICO", "TGA")

# Photographs and their descriptions; licences are in assets/images/ATTRIBUTION.md.
BUNDLED_IMAGES: dict[str, tuple[str, str]] = {
    "cat": ("cat.jpg", "Chelsea the cat (CC0, Stefan van der Walt)"),
    "coffee": ("coffee.jpg", "A cup of coffee on a saucer (CC0, Rachel Michetti)"),
    "astronaut": ("astronaut.jpg", "Astronaut Eileen Collins (public domain, NASA)"),
    "rocket": ("rocket.jpg", "Falcon 9 launch (public domain, SpaceX)"),
}


def _sentence(phrase: str) -> str:
    return phrase[0].upper() + phrase[1:] + "."


def load_upload(data: bytes, max_side: int = MAX_SIDE) -> tuple[np.ndarray | None, str]:
    """Decode an untrusted upload into an RGB uint8 [H, W, 3] array, with bounded time and memory.

    The container is checked before decoding (sam_core.images: JPEG scans, PNG chunks, ICO contents,
    declared pixels, the memory the decoded image needs, the aspect ratio the model will see); the
    image is downscaled in its own mode before any conversion, so a conversion costs little.
    Arguments:
      data: the raw bytes of the uploaded file.
      max_side: the longest side is downscaled to at most this many pixels.
    Returns:
      (image, message): on success the image and a note on what was changed ("" if nothing);
      on failure None and a message that says why. Never raises.
    """
    if not data:
        return None, "The file is empty."
    if len(data) > MAX_UPLOAD_BYTES:
        return None, f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB."
    problem = structure_problem(data, MAX_PIXELS)
    if problem:
        return None, _sentence(problem) + " It was refused."
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # Pillow warns (rather than fails) between MAX_IMAGE_PIXELS and twice that: make it fail.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = img.size
            if width * height > MAX_PIXELS:
                return None, (
                    f"The image claims {width} x {height} pixels ({width * height / 1e6:.0f} MP); "
                    f"the limit is {MAX_PIXELS / 1e6:.0f} MP. Please downscale it first."
                )
            if min(width, height) < MIN_SIDE:
                return None, (
                    f"The image is only {width} x {height} pixels; at least {MIN_SIDE} px per side "
                    "is needed."
                )
            problem = aspect_problem(width, height)
            if problem:
                return None, _sentence(problem) + " Please crop it."
            if getattr(img, "is_animated", False):  # not n_frames: that walks every frame of a GIF
                notes.append("Animated image: using the first frame.")
            if img.format == "JPEG" and max(width, height) > 2 * max_side:
                img.draft("RGB", (max_side, max_side))  # decode JPEGs at a reduced scale: less time, memory
            need = decoded_bytes(img)
            if need > MAX_DECODED_BYTES:
                return None, (
                    f"Decoding this {width} x {height} {img.mode} image would need {need / 2**20:.0f} MB of "
                    f"memory; the limit is {MAX_DECODED_BYTES // 2**20} MB. Please save it smaller (or as "
                    "an 8-bit RGB JPEG or PNG)."
                )
            img.load()
            orientation = exif_orientation(img)  # after load: a PNG's eXIf chunk may follow the pixels
            if img.mode in ("1", "P"):
                img = to_rgb(img, notes)  # Pillow resizes these with NEAREST only: convert first
            if max(img.size) > max_side:
                img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # in its own mode: cheap
            if orientation != 1:
                img = img.transpose(ORIENTATION_TRANSPOSE[orientation])
                notes.append("Rotated upright according to the camera's EXIF orientation.")
            img = to_rgb(img, notes)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, "The image declares an enormous size (a possible decompression bomb); it was refused."
    except UnidentifiedImageError:
        return None, (
            "This file is not an image this app can read. Please upload a PNG, JPEG, GIF, BMP, TIFF "
            "or WebP file."
        )
    except MemoryError:
        return None, "The image needs more memory to decode than this server can give it."
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        if "truncated" in str(error).lower():
            return None, "The image file is truncated (the upload may have been cut off)."
        return None, f"The image could not be decoded ({type(error).__name__}: {error})."
    except Exception as error:  # never let a malformed file crash the page
        return None, f"The image could not be decoded ({type(error).__name__})."

    if img.size != (width, height) and max(width, height) > max_side:
        notes.append(f"Downscaled from {width} x {height} to {img.size[0]} x {img.size[1]} pixels.")
    rgb = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        return None, f"Unexpected image layout {rgb.shape}."
    if min(rgb.shape[:2]) < MIN_SIDE:
        return None, f"After downscaling the image is {rgb.shape[1]} x {rgb.shape[0]} pixels; too thin to segment."
    return rgb, " ".join(notes)


@functools.lru_cache(maxsize=16)
def load_bundled(name: str) -> np.ndarray:
    """One of BUNDLED_IMAGES as a read-only RGB uint8 [H, W, 3] array (shared: do not modify)."""
    filename, _ = BUNDLED_IMAGES[name]
    with Image.open(ASSETS_DIR / filename) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    rgb.flags.writeable = False
    return rgb


def scene_kinds() -> list[str]:
    """The procedural scene kinds from sam_core.scenes, or [] while that package is missing."""
    try:
        from sam_core.scenes import SCENE_KINDS
    except Exception:
        return []
    return list(SCENE_KINDS)


@functools.lru_cache(maxsize=32)
def load_scene(kind: str, seed: int = 0, size: int = 512) -> np.ndarray:
    """A procedural scene rendered by sam_core.scenes as a read-only RGB uint8 [size, size, 3] array."""
    from sam_core.scenes import render_scene

    scene = render_scene(kind, seed, size=size)
    image = scene.image if hasattr(scene, "image") else scene
    rgb = np.asarray(image)
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb * (255.0 if rgb.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    rgb = np.ascontiguousarray(rgb[:, :, :3]).copy()
    rgb.flags.writeable = False
    return rgb
