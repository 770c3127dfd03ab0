"""Hostile input against the real server: every bad request is a 4xx JSON error with a message.

No 5xx, no traceback in any answer or in the server's log, and the server still answers afterwards.
The server runs with small limits (2 MiB requests, 1 MP images) so the oversized cases stay cheap.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from sam_core.serve.client import SamServiceClient, encode_multipart
from sam_core.serve.local import LocalServer
from tests.serve_fixtures import model_args, tiny_weights

TOKEN = "hostile-test-token-" + "h" * 16


def encoded(img: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def gif_claiming(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b"," + struct.pack("<HHHH", 0, 0, width,
                                                                                                   height) + b"\x00\x02\x02D\x01\x00;"


RNG = np.random.default_rng(0)
PHOTO = Image.fromarray(RNG.integers(0, 255, (120, 160, 3), dtype=np.uint8))
PNG = encoded(PHOTO, "PNG")
JPEG = encoded(PHOTO, "JPEG")
OK_POINT = {"points": [[10, 10]]}

# (id, path, fields, files): each must be refused with a 4xx and a message.
CASES: list[tuple[str, str, dict, dict]] = []


def case(name: str, path: str = "/predict/mask", fields: dict | None = None, files: dict | None = None) -> None:
    CASES.append((name, path, OK_POINT if fields is None else fields, {"image": PNG} if files is None else files))


# -- images
case("zero-byte image", files={"image": b""})
for seed, length in enumerate((1, 16, 500, 5000, 60000)):
    case(f"random bytes {length}", files={"image": np.random.default_rng(seed).bytes(length)})
for name, data in {"text": b"hello, I am not an image", "html": b"<html><body>x</body></html>",
                   "json": b'{"image": true}', "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj",
                   "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "svg": b"<svg xmlns='x'/>",
                   "zip": b"PK\x03\x04" + b"\0" * 40, "elf": b"\x7fELF" + b"\0" * 60}.items():
    case(f"not an image: {name}", files={"image": data})
for cut in (8, 30, 60, len(PNG) // 3, len(PNG) // 2):
    case(f"truncated png at {cut}", files={"image": PNG[:cut]})
for cut in (4, 100, 400, len(JPEG) // 2):
    case(f"truncated jpeg at {cut}", files={"image": JPEG[:cut]})
case("png bomb 100000^2", files={"image": png_claiming(100_000, 100_000)})
case("png bomb 30000^2", files={"image": png_claiming(30_000, 30_000)})
case("png over pixel limit 2000x1000", files={"image": png_claiming(2000, 1000)})
case("gif bomb 65535^2", files={"image": gif_claiming(65535, 65535)})
case("huge request body 3 MiB", files={"image": b"\x89PNG" + bytes(3 * 2**20)})
case("tiny 4x4 image", files={"image": encoded(Image.new("RGB", (4, 4)), "PNG")})
case("thin 1x1000 image", files={"image": encoded(Image.new("RGB", (1000, 1)), "PNG")})
case("16 x 60000 strip (vanishes when resized)", files={"image": encoded(Image.new("RGB", (60000, 16)), "PNG")})
case("60000 x 16 strip", files={"image": encoded(Image.new("RGB", (16, 60000)), "PNG")})
case("image sent as a text field", fields={**OK_POINT, "image": "a picture"}, files={})
# -- points
for name, points in {"not json": "[[1, 2", "a string": '"abc"', "an object": '{"x": 1}', "flat pair": "[10, 10]",
                     "empty list": "[]", "one number": "[[1]]", "three numbers": "[[1, 2, 3]]",
                     "strings": '[["1", "2"]]', "booleans": "[[true, false]]", "null": "[[null, 1]]",
                     "NaN": "[[NaN, 10]]", "Infinity": "[[Infinity, 10]]", "-Infinity": "[[10, -Infinity]]",
                     "1e999": "[[1e999, 10]]", "negative x": "[[-1, 10]]", "x beyond width": "[[161, 10]]",
                     "y beyond height": "[[10, 121]]", "far away": "[[1e9, 1e9]]", "65 points": json.dumps([[1, 1]] * 65),
                     "100k points": json.dumps([[1, 1]] * 100_000), "180k points (field > 1 MiB)": "[[1,1]," * 180_000,
                     "10^6 points (body > limit)": "[[1,1]," * 10**6, "nested": "[" * 5000 + "]" * 5000}.items():
    case(f"points: {name}", fields={"points": points})
# -- labels
for name, labels in {"two for one point": "[1, 1]", "label 2": "[2]", "label -1": "[-1]", "string": '["1"]',
                     "boolean": "[true]", "not json": "[1,", "labels without points": None}.items():
    fields = {"labels": labels} if labels is not None else {"labels": "[1]"}
    case(f"labels: {name}", fields=fields if labels is None else {**OK_POINT, **fields})
# -- boxes
for name, box in {"three numbers": "[0.5, 0.5, 0.2]", "pixels not normalised": "[80, 60, 40, 30]",
                  "zero width": "[0.5, 0.5, 0, 0.2]", "negative height": "[0.5, 0.5, 0.2, -0.2]",
                  "left of the image": "[0.05, 0.5, 0.2, 0.2]", "below the image": "[0.5, 0.95, 0.2, 0.2]",
                  "two boxes": "[[0.5, 0.5, 0.1, 0.1], [0.2, 0.2, 0.1, 0.1]]", "NaN": "[NaN, 0.5, 0.1, 0.1]",
                  "strings": '["a", "b", "c", "d"]', "object": '{"cx": 0.5}', "bigger than image": "[0.5, 0.5, 1.5, 1.5]"
                  }.items():
    case(f"boxes: {name}", fields={"boxes": box})
# -- other fields and missing ones
case("multimask not a boolean", fields={**OK_POINT, "multimask": "maybe"})
case("response_format unknown", fields={**OK_POINT, "response_format": "xml"})
case("png response with multimask", fields={**OK_POINT, "multimask": "true", "response_format": "png"})
case("no prompt at all", fields={})
case("no image at all", files={})
case("nothing at all", fields={}, files={})
case("image and session id", fields={**OK_POINT, "session_id": "x" * 32})
case("image and image_path", fields={**OK_POINT, "image_path": "ok.png"})
case("unknown field (misspelt)", fields={**OK_POINT, "point": "[[1, 1]]"})
case("unknown field start_frame_idx", fields={**OK_POINT, "start_frame_idx": "0"})
# -- sessions
for name, session_id in {"unknown": "A" * 32, "empty": "", "very long": "s" * 10_000, "unicode": "séssion-☃",
                         "traversal": "../../etc/passwd", "sql": "' OR 1=1 --"}.items():
    case(f"session id {name}", fields={**OK_POINT, "session_id": session_id}, files={})
case("image/stop without id", "/image/stop", fields={}, files={})
case("image/stop unknown id", "/image/stop", fields={"session_id": "B" * 32}, files={})
case("image/start without image", "/image/start", fields={}, files={})
case("image/start corrupt image", "/image/start", fields={}, files={"image": b"\x89PNG\r\n\x1a\nxx"})
case("image/start unknown field", "/image/start", fields={"points": "[[1, 1]]"})
# -- server paths
for name, path in {"parent": "../outside.png", "deep parent": "class/../../outside.png", "absolute": "/etc/passwd",
                   "proc": "/proc/self/environ", "home": "~/.bashrc", "symlink out": "link_out.png",
                   "NUL byte": "class/a.png\x00.txt", "folder": "class", "missing": "class/none.png",
                   "corrupt file": "class/corrupt.png", "backslashes": "..\\..\\etc\\passwd", "empty": ""}.items():
    case(f"image_path {name}", fields={**OK_POINT, "image_path": path}, files={})
# -- export
for name, objects in {"not json": "[{", "not a list": '{"points": [[1, 1]]}', "empty list": "[]",
                      "item not an object": "[1]", "unknown key": '[{"point": [[1, 1]]}]',
                      "no prompt": '[{"name": "x"}]', "labels without points": '[{"labels": [1]}]',
                      "duplicate ids": '[{"obj_id": 1, "points": [[1, 1]]}, {"obj_id": 1, "points": [[2, 2]]}]',
                      "id zero": '[{"obj_id": 0, "points": [[1, 1]]}]', "id string": '[{"obj_id": "1", "points": [[1, 1]]}]',
                      "id boolean": '[{"obj_id": true, "points": [[1, 1]]}]', "long name": json.dumps([{"name": "n" * 65, "points": [[1, 1]]}]),
                      "33 objects": json.dumps([{"points": [[1, 1]]}] * 33), "point outside": '[{"points": [[999, 1]]}]',
                      "box outside": '[{"box": [0.9, 0.9, 0.5, 0.5]}]'}.items():
    case(f"export: {name}", "/export", fields={"objects": objects})
case("export without objects", "/export", fields={})

# -- SAM 3: /detect and /segment/text (same checks on both)
for path in ("/detect", "/segment/text"):
    short = path.strip("/").replace("/", "_")
    for name, fields in {
        "no text and no box": {}, "empty text": {"text": ""}, "blank text": {"text": "   "},
        "text of 10000 chars": {"text": "apple " * 1700}, "control characters": {"text": "ripe\x00apple"},
        "confidence NaN": {"text": "apple", "confidence": "nan"}, "confidence text": {"text": "apple", "confidence": "high"},
        "confidence 2": {"text": "apple", "confidence": "2"}, "confidence -1": {"text": "apple", "confidence": "-1"},
        "confidence inf": {"text": "apple", "confidence": "inf"},
        "box outside": {"text": "apple", "boxes": "[0.95, 0.5, 0.3, 0.3]"}, "box NaN": {"boxes": "[NaN, 0.5, 0.1, 0.1]"},
        "box not json": {"boxes": "[0.5,"}, "box pixels": {"boxes": "[80, 60, 40, 30]"},
        "10^5 boxes": {"boxes": json.dumps([[0.5, 0.5, 0.1, 0.1]] * 100_000)},
        "17 boxes": {"boxes": json.dumps([[0.5, 0.5, 0.1, 0.1]] * 17)},
        "labels for 2 of 1 box": {"boxes": "[0.5, 0.5, 0.1, 0.1]", "box_labels": "[1, 0]"},
        "label 3": {"boxes": "[0.5, 0.5, 0.1, 0.1]", "box_labels": "[3]"},
        "labels without boxes": {"text": "apple", "box_labels": "[1]"},
        "unknown field": {"text": "apple", "prompt": "apple"}, "points are not SAM 3's": {"text": "a", **OK_POINT},
        "image and image_path": {"text": "apple", "image_path": "ok.png"},
    }.items():
        case(f"{short}: {name}", path, fields=fields)
    for name, data in {"zero-byte image": b"", "corrupt image": PNG[:60], "bomb": png_claiming(100_000, 100_000),
                       "not an image": b"hello"}.items():
        case(f"{short}: {name}", path, fields={"text": "apple"}, files={"image": data})
    case(f"{short}: no image", path, fields={"text": "apple"}, files={})
    case(f"{short}: image_path traversal", path, fields={"text": "apple", "image_path": "../outside.png"}, files={})
# -- SAM 2: /track/start
FRAME = {"frames": PNG}
for name, fields, files in (
    ("nothing", {}, {}), ("frames and video_path", {"video_path": "clip"}, FRAME),
    ("own session id", {"session_id": "my-session"}, FRAME), ("zero-byte frame", {}, {"frames": b""}),
    ("corrupt frame", {}, {"frames": PNG[:50]}), ("bomb frame", {}, {"frames": png_claiming(100_000, 100_000)}),
    ("frames of two sizes", {}, [("frames", PNG), ("frames", encoded(Image.new("RGB", (64, 64)), "PNG"))]),
    ("13 frames (limit 12)", {}, [("frames", PNG)] * 13), ("unknown field", {"fps": "30"}, FRAME),
    ("video bomb: 12 small PNGs of 1000 x 1000", {}, [("frames", encoded(Image.new("RGB", (1000, 1000)), "PNG"))] * 12),
    ("image instead of frames", {}, {"image": PNG}),
):
    case(f"track/start: {name}", "/track/start", fields=fields, files=files)
for name, video_path in {"parent": "../outside.png", "deep parent": "clip/../../outside.png",
                         "absolute": "/etc/passwd", "proc": "/proc/self/environ", "home": "~/.bashrc",
                         "NUL byte": "clip\x00", "missing": "nowhere", "a single image": "clip/00000.png",
                         "symlink out": "link_out.png", "folder with a link out": "linked_clip",
                         "empty folder": "empty", "backslashes": "..\\..\\etc", "empty": ""}.items():
    case(f"track/start video_path {name}", "/track/start", fields={"video_path": video_path}, files={})
# -- SAM 2: /track/prompt, /track/propagate, /track/stop ("{SID}": a live session of this token)
for name, fields in {
    "unknown session": {"session_id": "C" * 32, **OK_POINT}, "no session": OK_POINT,
    "traversal session": {"session_id": "../../etc/passwd", **OK_POINT},
    "text on SAM 2": {"session_id": "{SID}", "text": "apple"}, "frame 99": {"session_id": "{SID}", **OK_POINT, "frame_idx": "99"},
    "frame -1": {"session_id": "{SID}", **OK_POINT, "frame_idx": "-1"}, "frame text": {"session_id": "{SID}", **OK_POINT, "frame_idx": "x"},
    "obj_id 0": {"session_id": "{SID}", **OK_POINT, "obj_id": "0"}, "obj_id huge": {"session_id": "{SID}", **OK_POINT, "obj_id": "10000001"},
    "obj_id float": {"session_id": "{SID}", **OK_POINT, "obj_id": "1.5"},
    "points NaN": {"session_id": "{SID}", "points": "[[NaN, 1]]"}, "point outside": {"session_id": "{SID}", "points": "[[500, 1]]"},
    "10^6 points": {"session_id": "{SID}", "points": "[[1,1]," * 10**6}, "box outside": {"session_id": "{SID}", "boxes": "[0.9, 0.9, 0.5, 0.5]"},
    "no prompt": {"session_id": "{SID}"}, "labels only": {"session_id": "{SID}", "labels": "[1]"},
    "unknown field": {"session_id": "{SID}", **OK_POINT, "point": "[[1, 1]]"},
}.items():
    case(f"track/prompt: {name}", "/track/prompt", fields=fields, files={})
for name, fields in {
    "unknown session": {"session_id": "D" * 32}, "no session": {},
    "no prompt yet": {"session_id": "{SID}"}, "direction sideways": {"session_id": "{SID}", "direction": "sideways"},
    "max_frames -5": {"session_id": "{SID}", "max_frames": "-5"}, "max_frames text": {"session_id": "{SID}", "max_frames": "all"},
    "start_frame 1000": {"session_id": "{SID}", "start_frame": "1000"}, "start_frame_idx (seed's typo)": {"session_id": "{SID}", "start_frame_idx": "0"},
}.items():
    case(f"track/propagate: {name}", "/track/propagate", fields=fields, files={})
case("track/export: unknown session", "/track/export", fields={"session_id": "F" * 32}, files={})
case("track/export: nothing tracked yet", "/track/export", fields={"session_id": "{SID}"}, files={})
case("track/export: image session", "/track/export", fields={"session_id": "{IMAGE_SID}"}, files={})
case("track/stop: unknown session", "/track/stop", fields={"session_id": "E" * 32}, files={})
case("track/stop: no session", "/track/stop", fields={}, files={})
case("track/stop: image session id kind", "/track/stop", fields={"session_id": "{IMAGE_SID}"}, files={})


@pytest.fixture(scope="module")
def media_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    (root / "class").mkdir()
    (root / "class" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    (root.parent / "outside.png").write_bytes(PNG)
    os.symlink(root.parent / "outside.png", root / "link_out.png")
    for folder in ("clip", "linked_clip", "empty"):
        (root / folder).mkdir()
    (root / "clip" / "00000.png").write_bytes(PNG)
    (root / "linked_clip" / "00000.png").write_bytes(PNG)
    os.symlink(root.parent / "outside.png", root / "linked_clip" / "00001.png")
    return root


@pytest.fixture(scope="module")
def server(media_root, tmp_path_factory):
    args = ["--model", "nano", "--token", TOKEN, "--media-root", str(media_root), "--max-request-mb", "2",
            "--max-image-mp", "1", *model_args(*tiny_weights(tmp_path_factory)),
            "--max-video-frames", "12", "--max-video-mp", "5"]
    with LocalServer(args, nice=5, startup_timeout_s=120) as running:
        yield running


@pytest.fixture(scope="module")
def live_sessions(client):
    """A video session without a prompt and an image session of this token, for the "{SID}" cases."""
    return {"{SID}": client.track_start([PNG, PNG])["session_id"],
            "{IMAGE_SID}": client.start_image(PNG).session_id}


@pytest.fixture(scope="module")
def client(server):
    return SamServiceClient(server.url, token=TOKEN, timeout=60)


def assert_refused(status: int, body: bytes, name: str) -> None:
    assert 400 <= status < 500, f"{name}: status {status}: {body[:300]!r}"
    assert b"Traceback" not in body and len(body) < 4000, f"{name}: {body[:300]!r}"
    detail = json.loads(body)["detail"]
    assert isinstance(detail, str) and len(detail) > 8, f"{name}: {detail!r}"


def test_there_are_over_a_hundred_cases():
    assert len(CASES) >= 100
    assert sum(path != "/predict/mask" for _, path, _, _ in CASES) >= 100  # besides /predict/mask


@pytest.mark.parametrize("name, path, fields, files", CASES, ids=[c[0] for c in CASES])
def test_bad_request_is_a_4xx_with_a_message(client, live_sessions, name, path, fields, files):
    fields = {key: live_sessions.get(value, value) if isinstance(value, str) else value
              for key, value in fields.items()}
    status, _, body = client.request("POST", path, fields, files)
    assert_refused(status, body, name)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-xxxxxxxxxxxx"},
                                     {"Authorization": "Basic " + TOKEN}, {"Authorization": "Bearer"},
                                     {"Authorization": TOKEN}, {"Authorization": "Bearer " + TOKEN + "x"}])
def test_bad_tokens_are_401(server, headers):
    status, _, body = SamServiceClient(server.url).request("POST", "/predict/mask", OK_POINT, {"image": PNG},
                                                           headers=headers)
    assert status == 401
    assert_refused(status, body, str(headers))


@pytest.mark.parametrize("method, path, content_type, body", [
    ("GET", "/predict/mask", None, None), ("POST", "/health", None, None), ("GET", "/nope", None, None),
    ("DELETE", "/image/stop", None, None),
    ("POST", "/predict/mask", "application/json", b'{"points": [[1, 1]]}'),
    ("POST", "/predict/mask", "application/x-www-form-urlencoded", b"points=%5B%5B1%2C1%5D%5D"),
    ("POST", "/predict/mask", "multipart/form-data; boundary=xyz", b"--xyz\r\ngarbage"),
    ("POST", "/predict/mask", "multipart/form-data", b"no boundary"),
    ("POST", "/export", "text/plain", b"objects"),
])
def test_wrong_methods_routes_and_bodies(client, method, path, content_type, body):
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, answer = client.request(method, path, headers=headers) if body is None else \
        _raw(client, method, path, body, headers)
    assert_refused(status, answer, f"{method} {path} {content_type}")


def _raw(client: SamServiceClient, method: str, path: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    host, port = client.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request(method, path, body=body, headers={**headers, "Authorization": f"Bearer {TOKEN}"})
    response = connection.getresponse()
    answer = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return answer


def test_chunked_body_without_length_is_411(client):
    body, content_type = encode_multipart(OK_POINT, {"image": PNG})
    host, port = client.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("POST", "/predict/mask", body=iter([body]), encode_chunked=True,
                       headers={"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}",
                                "Transfer-Encoding": "chunked"})
    response = connection.getresponse()
    assert response.status == 411
    assert_refused(response.status, response.read(), "chunked")
    connection.close()


def test_server_survived_without_errors(server, client):
    """Runs last: the server still answers correctly and logged no 5xx and no traceback."""
    result = client.predict_mask(PNG, points=[[10, 10]], multimask=True)
    assert result.masks.shape == (3, 120, 160)
    log = server.log()
    assert "Traceback" not in log and "unexpected error" not in log
    assert " 500 " not in log and " 503 " not in log
    assert log.count('"POST /predict/mask HTTP/1.1" 4') > 100
    assert log.count('"POST /track/') >= 40 and log.count('"POST /detect HTTP/1.1" 4') >= 20
