"""A generator of hostile image files (issue 23): what an attacker or a clumsy student uploads.

    cases = hostile_images()          # {name: bytes}, >= 200 files, made in about a second
    scan_bomb(), chunk_flood(), ...   # the named ones, also used by their own tests

Every file is made here from code (nothing downloaded); sizes are chosen so the corpus stays small in
memory except for the few named files that are big on purpose (the chunk flood is 38 MB, as measured
in the issue).
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
from PIL import Image


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_raw(width: int, height: int, depth: int, colour: int, rows: bytes, extra: bytes = b"") -> bytes:
    """A PNG from raw filtered rows (each row starts with its filter byte), compressed hard: tiny files."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra
            + png_chunk(b"IDAT", zlib.compress(rows, 9)) + png_chunk(b"IEND", b""))


def photo(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width, 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, width)[None, :]
    base[..., 1] = np.linspace(0, 255, height)[:, None]
    base[..., 2] = rng.integers(0, 255, (height, width))
    return Image.fromarray(base)


# ---- the named files of the issue -------------------------------------------------------------------

def scan_bomb(scans: int = 3000, side: int = 1024) -> bytes:
    """A progressive JPEG with its smallest scan repeated until it has `scans` scans: a few hundred KB
    whose decoding runs a pass over all side x side pixels per scan (the issue's 45 s file)."""
    smooth = Image.fromarray(np.asarray(photo(side, side))[..., :2].repeat(2, axis=2)[..., :3])
    data = encode(smooth, "JPEG", progressive=True, quality=90)
    starts = [m.start() for m in re.finditer(b"\xff\xda", data)] + [len(data) - 2]
    segments = [data[begin:end] for begin, end in zip(starts, starts[1:], strict=False)]
    smallest = min(segments, key=len)
    return data[:-2] + smallest * (scans - len(segments)) + b"\xff\xd9"


def chunk_flood(chunks: int = 3_200_000) -> bytes:
    """A valid 32 x 32 PNG followed... preceded by `chunks` empty private chunks (38 MB for 3.2 M)."""
    empty = png_chunk(b"prVt", b"")
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
    rows = b"".join(b"\0" + bytes(32 * 3) for _ in range(32))
    return (b"\x89PNG\r\n\x1a\n" + ihdr + empty * chunks + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def png16_gray(width: int = 6000, height: int = 6000) -> bytes:
    """16-bit grayscale, all zero: about 77 KB on disk, 72 MB decoded (the issue's +1.2 GB file)."""
    row = b"\0" + bytes(2 * width)
    return png_raw(width, height, 16, 0, row * height)


def png_rgba(width: int = 6300, height: int = 6300) -> bytes:
    """8-bit RGBA, all transparent: about 150 KB on disk, 159 MB decoded (the issue's +0.9 GB file)."""
    row = b"\0" + bytes(4 * width)
    return png_raw(width, height, 8, 6, row * height)


def ico_hiding_png(width: int = 10_000, height: int = 8_800) -> bytes:
    """An ICO whose directory says 256 x 256 but whose icon is an 88-megapixel PNG."""
    inner = png_raw(width, height, 8, 0, (b"\0" + bytes(width)) * height)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(inner), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + inner


def thin_strip(width: int = 16, height: int = 9400) -> bytes:
    """An image above the 16 px minimum on both sides whose aspect ratio leaves 2 px at the model's size."""
    return encode(Image.new("RGB", (width, height), (120, 60, 30)), "PNG")


NAMED = {"scan_bomb": scan_bomb, "chunk_flood": chunk_flood, "png16_gray": png16_gray, "png_rgba": png_rgba,
         "ico_hiding_png": ico_hiding_png, "thin_strip": thin_strip}


# ---- the corpus --------------------------------------------------------------------------------------

def _valid_files() -> dict[str, bytes]:
    img = photo()
    return {
        "png": encode(img, "PNG"), "jpeg": encode(img, "JPEG"), "jpeg_progressive": encode(img, "JPEG", progressive=True),
        "gif": encode(img.convert("P"), "GIF"), "bmp": encode(img, "BMP"), "tiff": encode(img, "TIFF"),
        "tiff_lzw": encode(img, "TIFF", compression="tiff_lzw"), "webp": encode(img, "WEBP"),
        "ico": encode(img, "ICO"), "tga": encode(img, "TGA"), "ppm": encode(img, "PPM"),
    }


def hostile_images() -> dict[str, bytes]:
    """>= 200 hostile files by name: truncated, corrupted, lying headers, odd modes, EXIF, animations,
    polyglots, non-images, the named bombs (small versions, except where noted)."""
    cases: dict[str, bytes] = {}
    valid = _valid_files()
    rng = np.random.default_rng(23)
    for fmt, data in valid.items():
        for fraction in (0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99):
            cases[f"truncated_{fmt}_{fraction}"] = data[: int(len(data) * fraction)]
        for seed in range(6):
            corrupt = bytearray(data)
            for position in rng.integers(8, len(data), 12):
                corrupt[position] = int(rng.integers(0, 256))
            cases[f"corrupt_{fmt}_{seed}"] = bytes(corrupt)
        cases[f"{fmt}_twice"] = data + data
        cases[f"{fmt}_zip_polyglot"] = data + b"PK\x03\x04" + bytes(60)
    # Headers that lie about the size.
    for width, height in ((60_000, 60_000), (8_000, 8_000), (2**31 - 1, 1), (1, 2**31 - 1), (0, 0), (7000, 6000)):
        ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        cases[f"png_claims_{width}x{height}"] = (b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
                                               + png_chunk(b"IEND", b""))
    for width, height in ((65535, 65535), (40_000, 2), (16, 16)):
        gif = bytearray(valid["gif"])
        gif[6:10] = struct.pack("<HH", width, height)
        cases[f"gif_claims_{width}x{height}"] = bytes(gif)
    for width, height in ((100_000, 100_000), (-64, 64), (64, -100_000)):
        bmp = bytearray(valid["bmp"])
        bmp[18:26] = struct.pack("<ii", width, height)
        cases[f"bmp_claims_{width}x{height}"] = bytes(bmp)
    # Odd bit depths and modes, small.
    img = photo()
    for mode in ("1", "L", "LA", "P", "PA", "RGBA", "CMYK", "I", "F", "I;16"):
        try:
            converted = img.convert(mode) if mode not in ("I;16", "PA") else (
                Image.fromarray((np.asarray(img.convert("L"), np.uint16) * 257)) if mode == "I;16"
                else img.convert("P").convert("PA"))
        except ValueError:
            continue
        for fmt in ("PNG", "TIFF", "WEBP", "JPEG"):
            try:
                cases[f"mode_{mode}_{fmt}"] = encode(converted, fmt)
            except (OSError, ValueError, KeyError):
                pass
    palette = img.convert("P")
    palette.info["transparency"] = 0
    cases["palette_transparency_png"] = encode(palette, "PNG", transparency=0)
    # EXIF orientations, the eight valid ones and invalid ones.
    for value in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 65535):
        exif = Image.Exif()
        exif[0x0112] = value
        cases[f"exif_orientation_{value}"] = encode(img, "JPEG", exif=exif)
    cases["exif_garbage"] = valid["jpeg"][:2] + b"\xff\xe1\x00\x10Exif\x00\x00" + bytes(8) + valid["jpeg"][2:]
    # Animations.
    frames = [photo(seed=seed) for seed in range(5)]
    for fmt in ("GIF", "PNG", "WEBP"):
        cases[f"animated_{fmt}"] = encode(frames[0], fmt, save_all=True, append_images=frames[1:])
    cases["gif_many_frames"] = encode(Image.new("P", (16, 16)), "GIF", save_all=True,
                                      append_images=[Image.new("P", (16, 16), i % 256) for i in range(1, 1500)])
    # Sizes at the edges.
    for width, height in ((1, 1), (15, 15), (16, 16), (16, 2000), (2000, 16), (16, 1024), (16, 9400), (9400, 16)):
        cases[f"size_{width}x{height}"] = encode(Image.new("RGB", (width, height), (10, 200, 10)), "PNG")
    # Bombs and floods, small and quick to make.
    cases["scan_bomb_small"] = scan_bomb(150, 256)
    cases["scan_bomb"] = scan_bomb()
    cases["chunk_flood_small"] = chunk_flood(5_000)
    cases["png_many_text_chunks"] = png_raw(16, 16, 8, 0, (b"\0" + bytes(16)) * 16,
                                            extra=png_chunk(b"tEXt", b"k\0" + b"v" * 100) * 2000)
    cases["png_ztxt_bomb"] = png_raw(16, 16, 8, 0, (b"\0" + bytes(16)) * 16,
                                     extra=png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"A" * 10_000_000, 9)))
    cases["png16_gray"] = png16_gray(3000, 3000)
    cases["png_rgba"] = png_rgba(6300, 6300)
    cases["ico_hiding_png"] = ico_hiding_png(10_000, 8_800)
    cases["ico_many_entries"] = struct.pack("<HHH", 0, 1, 500) + bytes(16 * 500)
    cases["ico_bmp_huge"] = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, 40, 22) \
        + struct.pack("<IiiHHII", 40, 20_000, 40_000, 1, 32, 0, 0) + bytes(16)
    # Not images at all.
    for name, data in {
        "empty": b"", "text": b"hello, this is not an image\n" * 20, "html": b"<html><script>alert(1)</script></html>",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "eps": b"%!PS-Adobe-3.0 EPSF-3.0\nshowpage\n",
        "zip": b"PK\x03\x04" + bytes(100), "elf": b"\x7fELF" + bytes(60), "pickle": b"\x80\x04\x95" + bytes(20),
        "nul": bytes(1000), "ff": b"\xff" * 1000, "jpeg_soi_only": b"\xff\xd8\xff", "png_sig_only": b"\x89PNG\r\n\x1a\n",
    }.items():
        cases[f"not_image_{name}"] = data
    for seed in range(10):
        cases[f"random_{seed}"] = np.random.default_rng(1000 + seed).integers(0, 256, 2000, np.uint8).tobytes()
    return cases
