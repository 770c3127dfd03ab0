"""Untrusted uploads: every bad or unusual file gets a clear message or a clean RGB image, never an exception."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ui import images
from ui.images import load_upload


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def gradient(width: int = 64, height: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                           np.full((height, width, 1), 128, np.float32)], axis=2).astype(np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but holds almost no data (a decompression-bomb header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def assert_rgb(result, shape=None):
    image, message = result
    assert image is not None, message
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    if shape is not None:
        assert image.shape[:2] == shape
    return image, message


def assert_refused(result, *words):
    image, message = result
    assert image is None
    assert message and isinstance(message, str)
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def test_plain_rgb_png_and_jpeg():
    rgb = gradient()
    image, message = assert_rgb(load_upload(encode(Image.fromarray(rgb), "PNG")), (48, 64))
    assert np.array_equal(image, rgb) and message == ""
    assert_rgb(load_upload(encode(Image.fromarray(rgb), "JPEG", quality=90)), (48, 64))


def test_not_an_image():
    assert_refused(load_upload(b"hello, this is a text file\n" * 20), "not an image")
    assert_refused(load_upload(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n" * 10), "not an image")


def test_empty_file():
    assert_refused(load_upload(b""), "empty")


def test_postscript_is_not_decoded():
    # EPS would make Pillow start Ghostscript on untrusted input; it is not an allowed format.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n"
    assert_refused(load_upload(eps), "not an image")


def test_corrupt_data_after_valid_header():
    data = bytearray(encode(Image.fromarray(gradient()), "PNG"))
    data[60:] = bytes(len(data) - 60)  # zero everything after the first chunks
    assert_refused(load_upload(bytes(data)))


def test_truncated_jpeg():
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)), "JPEG")
    assert_refused(load_upload(data[: len(data) // 2]), "truncated")


def test_decompression_bomb_header_is_refused_before_decoding():
    # Far beyond Pillow's own limit: Pillow refuses at open(), nothing is decoded.
    assert_refused(load_upload(png_header_only(60_000, 60_000)), "bomb")
    # Under Pillow's limit but over ours (40 MP): refused from the header, before decoding.
    assert_refused(load_upload(png_header_only(8_000, 8_000)), "8000 x 8000", "at most")


def test_pillow_bomb_error_is_caught(monkeypatch):
    # Our own pixel limit off, Pillow's limit tiny: Pillow's DecompressionBombError/Warning is handled.
    monkeypatch.setattr(images, "MAX_PIXELS", 10**12)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert_refused(load_upload(encode(Image.fromarray(gradient(64, 48)), "PNG")), "bomb")  # warning range
    assert_refused(load_upload(encode(Image.fromarray(gradient(100, 100)), "PNG")), "bomb")  # error range


def test_tiny_image():
    assert_refused(load_upload(encode(Image.new("RGB", (8, 8), "red"), "PNG")), "8 x 8")
    assert_refused(load_upload(encode(Image.new("RGB", (200, 10), "red"), "PNG")), "16")


def test_huge_image_is_downscaled_with_a_note():
    img = Image.new("RGB", (3000, 1200), (10, 200, 30))
    image, message = assert_rgb(load_upload(encode(img, "PNG")))
    assert max(image.shape[:2]) == 2048 and image.shape[:2] == (819, 2048)
    assert "downscaled" in message.lower()
    assert tuple(image[400, 1000]) == (10, 200, 30)


def test_large_jpeg_uses_draft_decoding():
    img = Image.fromarray(np.full((2000, 4400, 3), 90, np.uint8))
    image, message = assert_rgb(load_upload(encode(img, "JPEG", quality=70)))
    assert max(image.shape[:2]) <= 2048 and "downscaled" in message.lower()


def test_grayscale_and_bilevel():
    gray = Image.fromarray(gradient()[:, :, 0])
    image, message = assert_rgb(load_upload(encode(gray, "PNG")), (48, 64))
    assert np.array_equal(image[:, :, 0], image[:, :, 1]) and "grayscale" in message.lower()
    assert_rgb(load_upload(encode(gray.convert("1"), "PNG")), (48, 64))


def test_16bit_grayscale_png():
    values = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    img = Image.fromarray(values)  # mode I;16
    image, message = assert_rgb(load_upload(encode(img, "PNG")), (48, 64))
    assert image[0, 0, 0] == 0 and image[-1, -1, 0] == 255
    assert "8-bit" in message


def test_float_tiff():
    img = Image.fromarray(np.linspace(-1, 1, 32 * 32, dtype=np.float32).reshape(32, 32), mode="F")
    image, _ = assert_rgb(load_upload(encode(img, "TIFF")), (32, 32))
    assert image.min() == 0 and image.max() == 255


def test_rgba_is_composited_on_white():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[:16, :, 3] = 255  # ... opaque in the top half, fully transparent in the bottom half
    image, message = assert_rgb(load_upload(encode(Image.fromarray(rgba, "RGBA"), "PNG")), (32, 32))
    assert tuple(image[0, 0]) == (255, 0, 0)
    assert tuple(image[31, 31]) == (255, 255, 255)
    assert "white" in message.lower()


def test_gray_alpha():
    la = Image.fromarray(np.stack([np.full((20, 20), 50, np.uint8), np.zeros((20, 20), np.uint8)], 2), "LA")
    image, _ = assert_rgb(load_upload(encode(la, "PNG")), (20, 20))
    assert tuple(image[5, 5]) == (255, 255, 255)


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (40, 30), (0, 255, 255, 0))  # pure red in CMYK
    image, message = assert_rgb(load_upload(encode(cmyk, "JPEG")), (30, 40))
    r, g, b = image[15, 20].astype(int)
    assert r > 200 and g < 60 and b < 60
    assert "cmyk" in message.lower()


def test_palette_png_with_and_without_transparency():
    palette = Image.fromarray(gradient()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    assert_rgb(load_upload(encode(palette, "PNG")), (48, 64))
    transparent = Image.new("P", (32, 32), 0)
    transparent.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    transparent.paste(1, (0, 0, 16, 32))
    image, _ = assert_rgb(load_upload(encode(transparent, "PNG", transparency=0)), (32, 32))
    assert tuple(image[0, 0]) == (255, 0, 0) and tuple(image[0, 31]) == (255, 255, 255)


def test_exif_rotated_jpeg_is_turned_upright():
    img = Image.new("RGB", (60, 20), (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, 10, 20))  # red stripe on the stored image's left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image, message = assert_rgb(load_upload(encode(img, "JPEG", exif=exif.tobytes(), quality=95)), (60, 20))
    assert "exif" in message.lower()
    r, g, b = image[2, 10].astype(int)  # the stripe is now along the top
    assert r > 200 and g < 80 and b < 80


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (32, 32), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image, message = assert_rgb(load_upload(data), (32, 32))
    assert "animated" in message.lower() and "first frame" in message  # not counted: that decodes them all
    assert image[16, 16, 0] > 200 and image[16, 16, 1] < 50


def test_file_too_large(monkeypatch):
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", 1000)
    assert_refused(load_upload(b"\0" * 2000), "limit")


@pytest.mark.parametrize("seed", range(30))
def test_random_garbage_never_raises(seed):
    rng = np.random.default_rng(seed)
    base = encode(Image.fromarray(gradient()), ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"][seed % 6])
    data = bytearray(base)
    for index in rng.integers(0, len(data), size=1 + seed):  # flip some bytes
        data[index] = int(rng.integers(0, 256))
    image, message = load_upload(bytes(data))
    assert (image is None and message) or (image.dtype == np.uint8 and image.shape[2] == 3)


def test_bundled_images_load_without_skimage():
    for name in images.BUNDLED_IMAGES:
        image = images.load_bundled(name)
        assert image.dtype == np.uint8 and image.shape[2] == 3 and min(image.shape[:2]) >= 256
        assert not image.flags.writeable  # shared across sessions: read-only
    total = sum((images.ASSETS_DIR / f).stat().st_size for f, _ in images.BUNDLED_IMAGES.values())
    assert total <= 1.5 * 2**20
    attribution = (images.ASSETS_DIR / "ATTRIBUTION.md").read_text()
    for filename, _ in images.BUNDLED_IMAGES.values():
        assert filename in attribution
