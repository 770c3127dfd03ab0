"""Untrusted image bytes -> RGB uint8 [H, W, 3], with the same checks as the app's ``ui/images.py``.

The app's loader cannot be imported here (sam_core never imports ui), so its checks are repeated with
the server's limits as arguments: only formats Pillow decodes itself (no Ghostscript), the declared
pixel count checked before decoding (decompression bombs), Pillow's own bomb warning made an error,
the first frame of an animation, EXIF orientation applied, and every mode (1, L, P, LA, RGBA, CMYK,
16-bit, float) converted to RGB. Unlike the app it never downscales: masks come back at the size the
client sent, so its coordinates stay valid.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

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
from sam_core.serve.errors import ApiError

ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "ICO", "TGA")


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # uint8 [H, W, 3]
    notes: tuple[str, ...]  # what was changed ("rotated upright ...")


def decode_image(data: bytes, *, max_pixels: int, min_side: int,
                 max_decoded_bytes: int = MAX_DECODED_BYTES) -> DecodedImage:
    """Decode an untrusted image.

    Arguments:
      data: the raw file bytes (the request-size limit has already bounded their length).
      max_pixels: refuse images that declare more pixels than this (checked before decoding).
      min_side: refuse images with a side shorter than this.
      max_decoded_bytes: refuse images whose decoded form would need more memory (sam_core.images).
    Returns:
      DecodedImage(rgb [H, W, 3] uint8, notes).
    Raises:
      ApiError 422 (empty, not an image, corrupt, truncated, too small) or 413 (too many pixels, bomb).
    """
    if not data:
        raise ApiError(422, "the image file is empty")
    problem = structure_problem(data, max_pixels)
    if problem:
        raise ApiError(413, problem)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = img.size
            if width * height > max_pixels:
                raise ApiError(413, f"the image declares {width} x {height} pixels; this server accepts at most "
                                    f"{max_pixels / 1e6:.1f} MP")
            if min(width, height) < min_side:
                raise ApiError(422, f"the image is {width} x {height} pixels; at least {min_side} px per side "
                                    "is needed")
            problem = aspect_problem(width, height)
            if problem:
                raise ApiError(422, problem)
            if getattr(img, "is_animated", False):  # not n_frames: that walks every frame of a GIF
                notes.append("animated image: the first frame was used")
            need = decoded_bytes(img)
            if need > max_decoded_bytes:
                raise ApiError(413, f"decoding this {width} x {height} {img.mode} image would need "
                                    f"{need / 2**20:.0f} MB; this server accepts at most "
                                    f"{max_decoded_bytes // 2**20} MB")
            img.load()
            orientation = exif_orientation(img)  # after load: a PNG's eXIf chunk may follow the pixels
            if orientation != 1:
                img = img.transpose(ORIENTATION_TRANSPOSE[orientation])
                notes.append("rotated upright according to the EXIF orientation")
            img = to_rgb(img, notes)
            rgb = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(413, "the image declares an enormous size (a possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ApiError(422, "the file is not an image this server reads (PNG, JPEG, GIF, BMP, TIFF, WebP)") from None
    except Exception as error:  # noqa: BLE001 - any decoder failure is the file's fault, not the server's
        kind = "truncated" if "truncated" in str(error).lower() else "corrupt"
        raise ApiError(422, f"the image file is {kind} and could not be decoded ({type(error).__name__})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ApiError(422, f"unexpected image layout {rgb.shape}")
    return DecodedImage(rgb, tuple(notes))
