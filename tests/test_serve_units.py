"""Unit tests of the model service's parts: config safety, session store, path guard, fields, image decoding."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from sam_core.serve.config import ServerConfig, is_loopback_host, media_root_from, tokens_from
from sam_core.serve.errors import ApiError
from sam_core.serve.fields import (
    DEFAULT_CONFIDENCE,
    box_xyxy_to_cxcywh,
    decode_mask_png,
    mask_png,
    masks_to_base64,
    parse_box,
    parse_confidence,
    parse_json_field,
    parse_labels,
    parse_points,
)
from sam_core.serve.images import decode_image
from sam_core.serve.security import resolve_media_path
from sam_core.serve.sessions import (
    SessionForbidden,
    SessionLimit,
    SessionNotFound,
    SessionStore,
    SessionWrongKind,
)

TOKEN = "a" * 24


# ---- config -----------------------------------------------------------------------------------
@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True),
                                            ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                            ("::", False), ("192.168.1.5", False), ("gpu-box.local", False)])
def test_loopback_detection(host, loopback):
    assert is_loopback_host(host) is loopback


def test_non_loopback_without_token_refused():
    with pytest.raises(ValueError, match="without an access token"):
        ServerConfig(host="0.0.0.0").check_safe()
    ServerConfig(host="0.0.0.0", tokens=(TOKEN,)).check_safe()
    ServerConfig().check_safe()  # loopback: no token needed


def test_weak_token_wildcard_cors_and_missing_media_root_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 16"):
        ServerConfig(tokens=("short",)).check_safe()
    with pytest.raises(ValueError, match="CORS"):
        ServerConfig(cors_origins=("*",)).check_safe()
    with pytest.raises(ValueError, match="not a folder"):
        ServerConfig(media_root=tmp_path / "absent").check_safe()


def test_tokens_and_media_root_from_flags_or_environment(tmp_path):
    assert tokens_from(["x" * 16, "x" * 16, "y" * 16], {}) == ("x" * 16, "y" * 16)
    assert tokens_from(None, {"SAM_SERVE_TOKEN": " p,q ,"}) == ("p", "q")
    assert tokens_from(None, {}) == ()
    token_file = tmp_path / "class.tokens"
    token_file.write_text("# group tokens\n" + "g1" * 8 + "\n\n" + "g2" * 8 + "  # second group\n")
    assert tokens_from(None, {"SAM_SERVE_TOKEN": "ignored"}, token_file) == ("g1" * 8, "g2" * 8)
    assert media_root_from(None, {"SAM_MEDIA_ROOT": str(tmp_path)}) == tmp_path.resolve()
    assert media_root_from(None, {}) is None


# ---- session store ----------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_store(**limits) -> tuple[SessionStore, Clock]:
    clock = Clock()
    settings = {"max_sessions": 4, "max_per_owner": 3, "max_frames": 10, "ttl_s": 60.0, **limits}
    return SessionStore(clock=clock, **settings), clock


def test_session_ids_are_unguessable_and_owned():
    store, _ = make_store()
    ids = {store.create("A", "image", object()).session_id for _ in range(3)}
    assert len(ids) == 3 and all(len(i) >= 32 for i in ids)
    session_id = next(iter(ids))
    assert store.get(session_id, "A").owner == "A"
    with pytest.raises(SessionForbidden):
        store.get(session_id, "B")
    with pytest.raises(SessionForbidden):
        store.close(session_id, "B")
    with pytest.raises(SessionWrongKind):
        store.get(session_id, "A", kind="video")
    with pytest.raises(SessionNotFound):
        store.get("not-a-session", "A")


def test_session_limits_per_server_per_owner_and_frames():
    store, _ = make_store()
    for _ in range(3):
        store.create("A", "image", None)
    with pytest.raises(SessionLimit, match="this token"):
        store.create("A", "image", None)
    store.create("B", "image", None)
    with pytest.raises(SessionLimit, match="4 sessions"):
        store.create("C", "image", None)
    frames_store, _ = make_store(max_frames=10)
    frames_store.create("A", "video", None, frames=8)
    with pytest.raises(SessionLimit, match="frames"):
        frames_store.create("B", "video", None, frames=3)
    assert frames_store.frames_held == 8


def test_idle_sessions_expire_and_use_renews_lifetime():
    freed = []
    store, clock = make_store(ttl_s=60.0)
    kept = store.create("A", "image", "kept", on_close=freed.append)
    idle = store.create("A", "image", "idle", on_close=freed.append)
    clock.now = 50.0
    store.get(kept.session_id, "A")
    clock.now = 100.0  # idle unused for 100 s, kept for 50 s
    assert store.sweep() == 1 and freed == ["idle"]
    with pytest.raises(SessionNotFound):
        store.get(idle.session_id, "A")
    assert store.get(kept.session_id, "A").payload == "kept"


def test_close_frees_and_forgets():
    freed = []
    store, _ = make_store()
    session = store.create("A", "video", "frames", frames=5, on_close=freed.append)
    store.close(session.session_id, "A")
    assert freed == ["frames"] and len(store) == 0 and store.frames_held == 0
    with pytest.raises(SessionNotFound):
        store.close(session.session_id, "A")


def test_failing_on_close_does_not_stop_the_others():
    def boom(_):
        raise RuntimeError("cannot free")

    freed = []
    store, _ = make_store()
    store.create("A", "image", 1, on_close=boom)
    store.create("A", "image", 2, on_close=freed.append)
    store.close_all()
    assert freed == [2] and len(store) == 0


# ---- media path guard -------------------------------------------------------------------------
@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    (root / "class").mkdir(parents=True)
    (root / "class" / "desk.png").write_bytes(b"png")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "link_out.txt")
    os.symlink(root / "class" / "desk.png", root / "link_in.png")
    return root


def test_media_paths_inside_root_resolve(media):
    assert resolve_media_path(media, "class/desk.png") == (media / "class" / "desk.png").resolve()
    assert resolve_media_path(media, "class/../class/./desk.png").name == "desk.png"
    assert resolve_media_path(media, "link_in.png").name == "desk.png"


@pytest.mark.parametrize("requested, status", [
    ("../secret.txt", 403), ("class/../../secret.txt", 403), ("link_out.txt", 403),
    ("/etc/passwd", 403), (str("/tmp"), 403), ("~/secret.txt", 403), ("\\etc\\passwd", 403),
    ("", 400), ("   ", 400), ("class/desk.png\x00.txt", 400), ("a/" * 600, 400),
    ("class", 404), ("class/absent.png", 404), ("%2e%2e/secret.txt", 404),
])
def test_media_path_traversal_refused(media, requested, status):
    with pytest.raises(ApiError) as caught:
        resolve_media_path(media, requested)
    assert caught.value.status == status and caught.value.message


def test_no_media_root_reads_nothing(media):
    with pytest.raises(ApiError) as caught:
        resolve_media_path(None, "class/desk.png")
    assert caught.value.status == 403


# ---- fields -----------------------------------------------------------------------------------
def test_json_field_refuses_nan_infinity_and_garbage():
    assert parse_json_field("points", "[[1, 2]]") == [[1, 2]]
    for text in ("[[NaN, 1]]", "[Infinity]", "[-Infinity]", "[[1,", "{'a': 1}", "[" * 100_000):
        with pytest.raises(ApiError) as caught:
            parse_json_field("points", text)
        assert caught.value.status == 422 and "points" in caught.value.message


def test_points_must_be_finite_pairs_inside_the_image():
    assert parse_points([[0, 0], [100, 50.5]], 100, 60, 8).tolist() == [[0, 0], [100, 50.5]]
    for bad in ([1, 2], [], [[1]], [["1", "2"]], [[True, 3]], [[1e400, 3]], [[-1, 3]], [[101, 3]],
                [[3, 61]], "[[1, 2]]", [[1, 2]] * 9):
        with pytest.raises(ApiError):
            parse_points(bad, 100, 60, 8)


def test_labels_default_to_foreground_and_must_match():
    assert parse_labels(None, 3).tolist() == [1, 1, 1]
    assert parse_labels([1, 0], 2).tolist() == [1, 0]
    for bad in ([1], [2, 1], [True, 1], ["1", 0], 1):
        with pytest.raises(ApiError):
            parse_labels(bad, 2)


def test_box_cxcywh_normalised_to_pixels_and_back():
    box = parse_box([0.5, 0.5, 0.5, 0.25], 200, 100)
    assert box.tolist() == [50.0, 37.5, 150.0, 62.5]
    assert parse_box([[0.5, 0.5, 1.0, 1.0]], 200, 100).tolist() == [0, 0, 200, 100]
    assert box_xyxy_to_cxcywh((50, 37.5, 150, 62.5), 200, 100) == [0.5, 0.5, 0.5, 0.25]
    for bad in ([0.5, 0.5, 0.5], [0.5, 0.5, 0, 0.2], [0.9, 0.5, 0.4, 0.2], [0.1, 0.5, -0.2, 0.2],
                [[0.5, 0.5, 0.1, 0.1], [0.2, 0.2, 0.1, 0.1]], [0.5, 0.5, 2, 2], ["a", 0, 0, 0], {"cx": 1}):
        with pytest.raises(ApiError):
            parse_box(bad, 200, 100)


def test_confidence_defaults_to_half():
    assert DEFAULT_CONFIDENCE == 0.5 and parse_confidence(None) == 0.5 and parse_confidence(0.25) == 0.25
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ApiError):
            parse_confidence(bad)


def test_mask_png_roundtrip_keeps_h_w():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 7, 11)) > 0.5
    encoded = masks_to_base64(masks)
    assert len(encoded) == 3
    import base64

    decoded = np.stack([decode_mask_png(base64.b64decode(e)) for e in encoded])
    assert decoded.shape == (3, 7, 11) and (decoded == masks).all()
    with pytest.raises(ValueError):
        mask_png(masks[None])  # [1, N, H, W]: the seed's [N, 1, H, W] shape bug is refused


# ---- untrusted images -------------------------------------------------------------------------
def encode(img: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels but carries almost no data (a bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


LIMITS = {"max_pixels": 1_000_000, "min_side": 16}


@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "RGBA", "CMYK", "I;16", "I", "F"])
def test_every_mode_becomes_rgb(mode):
    img = Image.fromarray((np.arange(32 * 24) % 251).reshape(24, 32).astype(np.uint8)).convert(mode)
    decoded = decode_image(encode(img, "TIFF"), **LIMITS)
    assert decoded.rgb.shape == (24, 32, 3) and decoded.rgb.dtype == np.uint8


def test_exif_rotation_and_animation_reported():
    img = Image.new("RGB", (40, 20), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    decoded = decode_image(encode(img, "JPEG", exif=exif), **LIMITS)
    assert decoded.rgb.shape == (40, 20, 3) and any("EXIF" in n for n in decoded.notes)
    frames = [Image.new("RGB", (20, 20), (80 * i, 0, 0)) for i in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert any("first frame" in n for n in decode_image(gif.getvalue(), **LIMITS).notes)


@pytest.mark.parametrize("data, status, words", [
    (b"", 422, "empty"),
    (b"not an image at all", 422, "not an image"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n", 422, "not an image"),
    (png_claiming(100_000, 100_000), 413, "decompression bomb"),
    (png_claiming(2000, 1000), 413, "at most"),
    (encode(Image.new("RGB", (8, 40))), 422, "at least 16"),
])
def test_hostile_images_refused(data, status, words):
    with pytest.raises(ApiError) as caught:
        decode_image(data, **LIMITS)
    assert caught.value.status == status and words in caught.value.message


def test_truncated_images_refused():
    full = encode(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    for cut in (8, 33, 100, len(full) // 2, len(full) - 40):  # (cutting only IEND leaves a whole image)
        with pytest.raises(ApiError) as caught:
            decode_image(full[:cut], **LIMITS)
        assert caught.value.status == 422


# ---- loading the SAM 3 and SAM 2 models: every refusal names the fix ----------------------------
def test_model_loaders_refuse_with_a_reason(tmp_path):
    from sam_core.serve.engine_sam3 import load_concept_engine
    from sam_core.serve.engine_video import load_video_engine

    sizes = dict(max_pixels=10**6, min_side=16)
    video = dict(image_size=256, max_frames=8, max_file_bytes=2**20, max_video_pixels=10**7, **sizes)
    for call, words in (
        (lambda: load_concept_engine("nope", None, "cpu", cache_size=1, **sizes), "unknown SAM 3 model"),
        (lambda: load_concept_engine("sam_vit_b", None, "cpu", cache_size=1, **sizes), "sam1 model, not a SAM 3"),
        (lambda: load_concept_engine("tiny", None, "cpu", cache_size=1, **sizes), "give --concept-checkpoint"),
        (lambda: load_video_engine("nope", None, "cpu", **video), "unknown SAM 2 model"),
        (lambda: load_video_engine("sam3", None, "cpu", **video), "sam3 model, not a SAM 2"),
        (lambda: load_video_engine("hiera_tiny", None, "cpu", **video), "give --video-checkpoint"),
    ):
        with pytest.raises(ValueError, match=words):
            call()


def test_wrong_checkpoint_for_the_concept_size_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    from sam_core.serve.engine_sam3 import load_concept_engine

    path = tmp_path / "not_sam3.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ValueError, match="does not fit"):
        load_concept_engine("tiny", path, "cpu", cache_size=1, max_pixels=10**6, min_side=16)


def test_max_frames_sentinel_and_text_fields():
    from sam_core.serve.fields import parse_max_frames, parse_text

    assert parse_max_frames(None) is None and parse_max_frames(-1) is None  # the seed's -1 means "all"
    assert parse_max_frames(0) == 0 and parse_max_frames(5) == 5
    with pytest.raises(ApiError):
        parse_max_frames(-2)
    assert parse_text("  ripe apple ", required=True) == "ripe apple"
    assert parse_text(None, required=False) is None
    for bad in ("", "   ", "a" * 201, "ripe\x00apple", "line\nbreak"):
        with pytest.raises(ApiError):
            parse_text(bad, required=True)
