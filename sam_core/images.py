"""Untrusted images to RGB: the checks and the mode conversion shared by the app's uploads and the service.

Bounded work first. A small file can cost a lot: a progressive JPEG with thousands of scans takes
minutes to decode, a PNG of millions of empty chunks tens of seconds, an ICO can hide a huge PNG
behind a small directory entry, a 16-bit or RGBA image needs several bytes per pixel. So before
anything is decoded, `structure_problem` reads the container (JPEG markers, PNG chunks, the ICO
directory) and `decoded_bytes` the memory the decoded image will take; both are cheap and refuse the
file with a reason. Then Pillow decodes, and SAM wants 8-bit RGB: `to_rgb` converts any mode (16-bit
and float grayscale, palette with transparency, LA/RGBA, CMYK, bilevel), each visible change noted.
"""

from __future__ import annotations

import struct

import numpy as np
from PIL import Image

MAX_JPEG_SCANS = 100  # a progressive photo has about 10; each scan is one more pass over all pixels
MAX_JPEG_SCAN_MEGAPIXELS = 600  # scans x megapixels: a 40 MP progressive photo with 15 scans still fits
MAX_PNG_CHUNKS = 1000  # chunks other than image data (IDAT, fdAT); real files have a few dozen
MAX_ICO_ENTRIES = 64  # icons in one .ico; real ones have up to about 10 sizes
MAX_DECODED_BYTES = 128 * 2**20  # Pillow's decoded image; a 32 MP RGB photo (Pillow keeps 4 bytes/pixel)
MODEL_SIDE = 1024  # SAM resizes the longest side to this (sam_core.sam1.build: image_encoder.img_size)
MIN_MODEL_SIDE = 16  # ... and the shortest side must still cover one 16 px patch there
MAX_ASPECT_RATIO = MODEL_SIDE // MIN_MODEL_SIDE  # 64 : 1; a 16 x 9400 strip would be 2 px high

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DATA_CHUNKS = (b"IDAT", b"fdAT")


def structure_problem(data: bytes, max_pixels: int) -> str | None:
    """Why the container of `data` is refused before decoding (a phrase, "the JPEG has ..."), or None.

    Reads markers only: JPEG start-of-scan markers (0xFFDA cannot occur inside entropy-coded data, which
    stuffs every 0xFF with 0x00), PNG chunk headers up to MAX_PNG_CHUNKS, the ICO directory and the
    PNG or BMP header of each icon. Time: one pass over the bytes at most.
    """
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_problem(data)
    if data[:8] == _PNG_SIGNATURE:
        return _png_problem(data, max_pixels)
    if data[:4] == b"\x00\x00\x01\x00":
        return _ico_problem(data, max_pixels)
    return None


def _jpeg_problem(data: bytes) -> str | None:
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        return f"the JPEG has {scans} scans (at most {MAX_JPEG_SCANS}): decoding it would take minutes"
    frame = max(data.find(b"\xff\xc2"), data.find(b"\xff\xc0"), data.find(b"\xff\xc1"))
    if frame >= 0 and len(data) >= frame + 9:
        height, width = struct.unpack(">HH", data[frame + 5:frame + 9])
        if scans * width * height / 1e6 > MAX_JPEG_SCAN_MEGAPIXELS:
            return (f"the JPEG has {scans} scans over {width} x {height} pixels: decoding it would take "
                    "too long")
    return None


def _png_header(data: bytes, offset: int) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's IHDR at `offset`, or None."""
    ihdr = data[offset + 8:offset + 8 + 8 + 13]
    if len(ihdr) < 21 or ihdr[4:8] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", ihdr[8:18])
    return width, height, depth, colour


def _png_problem(data: bytes, max_pixels: int) -> str | None:
    header = _png_header(data, 0)
    if header is not None and header[0] * header[1] > max_pixels:
        return (f"the PNG declares {header[0]} x {header[1]} pixels; at most {max_pixels / 1e6:.0f} MP are accepted "
                "(decompression bombs declare far more than they hold)")
    offset, others = 8, 0
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IEND":
            break
        if kind not in _PNG_DATA_CHUNKS:
            others += 1
            if others > MAX_PNG_CHUNKS:
                return f"the PNG has more than {MAX_PNG_CHUNKS} metadata chunks (a chunk flood)"
        offset += 12 + length
    return None


def _ico_problem(data: bytes, max_pixels: int) -> str | None:
    count = struct.unpack("<H", data[4:6])[0] if len(data) >= 6 else 0
    if count > MAX_ICO_ENTRIES:
        return f"the ICO file lists {count} icons (at most {MAX_ICO_ENTRIES})"
    for index in range(count):
        entry = data[6 + 16 * index:6 + 16 * (index + 1)]
        if len(entry) < 16:
            return "the ICO directory is truncated"
        offset = struct.unpack("<I", entry[12:16])[0]
        if data[offset:offset + 8] == _PNG_SIGNATURE:
            header = _png_header(data, offset)
            width, height = (header[0], header[1]) if header else (0, 0)
        else:  # a BMP without its file header: BITMAPINFOHEADER, height counts the AND mask too
            info = data[offset:offset + 12]
            width, height = struct.unpack("<ii", info[4:12]) if len(info) == 12 else (0, 0)
            width, height = abs(width), abs(height) // 2
        if width * height > max_pixels:
            return f"the ICO file hides a {width} x {height} pixel image (at most {max_pixels / 1e6:.0f} MP)"
    return None


_HIGH_BIT_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
# Bytes per pixel: decoded, plus the copy the conversion to 8 bits makes at full size (16-bit: a uint16
# copy; palette and bilevel: RGB(A), because Pillow resizes them with NEAREST only). Others: 4, as Pillow
# keeps RGB in 4 bytes per pixel.
_BYTES_PER_PIXEL = {"1": 1 + 4, "L": 1, "P": 1 + 4, "I;16": 2 + 2, "I;16B": 2 + 2, "I;16L": 2 + 2, "I;16N": 2 + 2}


def decoded_bytes(img: Image.Image) -> int:
    """Memory that decoding `img` (not loaded yet) needs: width x height x bytes per pixel of its mode."""
    width, height = img.size
    return width * height * _BYTES_PER_PIXEL.get(img.mode, 4)


def aspect_problem(width: int, height: int) -> str | None:
    """Why an image this shape is refused: its short side would vanish at the model's input size."""
    if min(width, height) * MAX_ASPECT_RATIO < max(width, height):
        return (f"the image is {width} x {height} pixels, an aspect ratio above {MAX_ASPECT_RATIO} : 1: at "
                f"the model's {MODEL_SIDE} px its short side would be under {MIN_MODEL_SIDE} px")
    return None


# EXIF orientation (tag 0x0112) -> the transpose that turns the image upright; other values are invalid.
ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def exif_orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8), 1 when missing, broken or invalid (no rotation then, and no note)."""
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the image
        return 1
    return value if value in ORIENTATION_TRANSPOSE else 1


def to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    """Any Pillow mode -> 'RGB'. Transparent pixels are composited on white, 16-bit is rescaled."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        values = np.asarray(img)  # uint16: integer shifts, no float copy of the image
        gray = (values >> 8).astype(np.uint8) if values.max() > 255 else values.astype(np.uint8)
        notes.append(f"Converted a {mode} (high bit depth) grayscale image to 8-bit RGB.")
        return Image.fromarray(gray, "L").convert("RGB")
    if mode in _HIGH_BIT_DEPTH:
        # float32, not float64: 4 bytes per pixel (callers downscale before converting when they can).
        values = np.asarray(img, dtype=np.float32)
        if mode == "F":
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            scaled = (values - low) * np.float32(255.0 / (high - low)) if high > low else np.zeros_like(values)
        else:
            high = 65535.0 if values.max() > 255 else 255.0
            scaled = values * np.float32(255.0 / high)
        notes.append(f"Converted a {mode} (high bit depth) grayscale image to 8-bit RGB.")
        gray = np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
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
