"""fetch_checkpoint against a local fake of the Hugging Face hub (loopback only, no real network).

The fake serves what huggingface_hub 2.x's ``hf_hub_download`` asks for (read from its source,
``file_download.py``: ``get_hf_file_metadata`` + ``http_get``):

- ``HEAD {endpoint}/{repo_id}/resolve/{revision}/{filename}`` -> like the hub for an LFS file: ``302``
  with ``X-Repo-Commit`` (40 hex), ``X-Linked-Etag`` (the file's sha256), ``X-Linked-Size`` and a
  ``Location`` on another host (``localhost`` instead of ``127.0.0.1``, as the hub redirects to its CDN),
  so the metadata is read from this response and the redirect is not followed;
- ``GET {Location}`` -> ``200`` with the bytes (``206`` for a ``Range`` request);
- unknown repo / file -> ``404`` with ``X-Error-Code: RepoNotFound`` / ``EntryNotFound``.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sam_core.weights import download as dl
from sam_core.weights.checkpoint import CheckpointError
from sam_core.weights.download import OfflineError, fetch_checkpoint
from sam_core.weights.registry import ModelSpec

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "lesson/fake-sam"
FILENAME = "checkpoints/fake.pth"
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
PAYLOAD_SIZE = len(PAYLOAD)


class FakeHub:
    """A threading HTTP server imitating the hub's resolve + CDN endpoints; stops itself after `lifetime_s`."""

    def __init__(self, files: dict[tuple[str, str], bytes], lifetime_s: float = 60.0):
        self.files = files
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _not_found(self, code: str) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _resolve(self, head: bool) -> None:
                parts = self.path.split("/resolve/", 1)
                repo = parts[0].lstrip("/")
                if len(parts) != 2 or repo not in {r for r, _ in hub.files}:
                    return self._not_found("RepoNotFound")
                _revision, _, filename = parts[1].partition("/")
                data = hub.files.get((repo, filename))
                if data is None:
                    return self._not_found("EntryNotFound")
                sha = hashlib.sha256(data).hexdigest()
                self.send_response(302)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("ETag", '"0000redirect"')
                self.send_header("Location", f"http://localhost:{hub.port}/cdn/{sha}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _cdn(self, head: bool) -> None:
                sha = self.path.rsplit("/", 1)[-1]
                data = next((d for d in hub.files.values() if hashlib.sha256(d).hexdigest() == sha), None)
                if data is None:
                    return self._not_found("EntryNotFound")
                start = 0
                range_header = self.headers.get("Range")
                if range_header and range_header.startswith("bytes="):
                    start = int(range_header[6:].split("-")[0])
                body = data[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{sha}"')
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _dispatch(self, head: bool) -> None:
                hub.requests.append((self.command, self.path))
                if self.path.startswith("/cdn/"):
                    return self._cdn(head)
                if "/resolve/" in self.path:
                    return self._resolve(head)
                if self.path == "/":  # the connectivity probe
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._not_found("RepoNotFound")

            def do_HEAD(self):
                self._dispatch(head=True)

            def do_GET(self):
                self._dispatch(head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timer = threading.Timer(lifetime_s, self.stop)  # the server stops itself if a test hangs
        self._timer.daemon = True

    def start(self) -> FakeHub:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        self.server.shutdown()
        self.server.server_close()


def _spec(size=PAYLOAD_SIZE, sha=PAYLOAD_SHA, filename=FILENAME, repo=REPO) -> ModelSpec:
    return ModelSpec(
        name="fake_sam",
        model_type="vit_b",
        repo_id=repo,
        filename=filename,
        size_bytes=size,
        sha256=sha,
        licence="test",
        format="original",
        description="fake",
        source_url="https://example.invalid/fake.pth",
    )


@pytest.fixture
def hub(monkeypatch):
    server = FakeHub({(REPO, FILENAME): PAYLOAD}).start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield server
    server.stop()


@pytest.fixture
def register(monkeypatch):
    def _register(spec: ModelSpec) -> ModelSpec:
        monkeypatch.setitem(dl.KNOWN_MODELS, spec.name, spec)
        return spec

    return _register


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_then_cache_hit(hub, register, tmp_path):
    register(_spec())
    calls = []
    path = fetch_checkpoint("fake_sam", cache_dir=tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert path.read_bytes() == PAYLOAD
    assert calls and calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert all(d <= len(PAYLOAD) for d, _ in calls)
    gets = [r for r in hub.requests if r[0] == "GET" and r[1].startswith("/cdn/")]
    assert len(gets) == 1

    again = fetch_checkpoint("fake_sam", cache_dir=tmp_path)
    assert again == path
    assert len([r for r in hub.requests if r[0] == "GET" and r[1].startswith("/cdn/")]) == 1  # cache hit

    hub.stop()  # offline afterwards: the cached copy is still found, quickly
    start = time.monotonic()
    assert fetch_checkpoint("fake_sam", cache_dir=tmp_path) == path
    assert time.monotonic() - start < 2.0


def test_size_mismatch_names_both_sizes(hub, register, tmp_path):
    register(_spec(size=len(PAYLOAD) + 1))
    with pytest.raises(CheckpointError) as err:
        fetch_checkpoint("fake_sam", cache_dir=tmp_path)
    msg = str(err.value)
    assert f"{len(PAYLOAD):,} bytes" in msg and f"{len(PAYLOAD) + 1:,} bytes" in msg


def test_sha_mismatch(hub, register, tmp_path):
    register(_spec(sha="f" * 64))
    with pytest.raises(CheckpointError, match="SHA-256") as err:
        fetch_checkpoint("fake_sam", cache_dir=tmp_path)
    assert PAYLOAD_SHA in str(err.value) and "f" * 64 in str(err.value)


def test_missing_file_on_hub(hub, register, tmp_path):
    register(_spec(filename="checkpoints/missing.pth"))
    with pytest.raises(CheckpointError, match="not found in lesson/fake-sam"):
        fetch_checkpoint("fake_sam", cache_dir=tmp_path)


def test_offline_env_answers_fast_with_instructions(hub, register, tmp_path, monkeypatch):
    register(_spec())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(OfflineError) as err:
        fetch_checkpoint("fake_sam", cache_dir=tmp_path)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0
    msg = str(err.value)
    assert "HF_HUB_OFFLINE" in msg and "SAM_CHECKPOINT" in msg and "computer with internet" in msg
    assert "https://example.invalid/fake.pth" in msg and "nano" in msg
    assert hub.requests == []  # not a single request


def test_unreachable_endpoint_answers_fast(register, tmp_path, monkeypatch):
    register(_spec())
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    with pytest.raises(OfflineError, match="cannot reach"):
        fetch_checkpoint("fake_sam", cache_dir=tmp_path)
    assert time.monotonic() - start < 2.0


def test_silent_endpoint_answers_fast(register, tmp_path, monkeypatch):
    """A host that accepts the connection but never answers (a black-holing proxy) is offline too."""
    register(_spec())
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
        start = time.monotonic()
        with pytest.raises(OfflineError, match="no answer within|timed out"):  # read vs connect time-out
            fetch_checkpoint("fake_sam", cache_dir=tmp_path)
        assert time.monotonic() - start < 2.0


def test_local_path_and_env_override(tmp_path, monkeypatch, register):
    register(_spec())
    local = tmp_path / "mine.pth"
    local.write_bytes(b"x")
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    assert fetch_checkpoint(local) == local.resolve()
    assert fetch_checkpoint(str(local)) == local.resolve()

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the override needs no network
    monkeypatch.setenv("SAM_CHECKPOINT", str(local))
    assert fetch_checkpoint("fake_sam") == local.resolve()
    monkeypatch.setenv("SAM_CHECKPOINT", f"fake_sam={local};sam_vit_h=/nowhere.pth")
    assert fetch_checkpoint("fake_sam") == local.resolve()
    monkeypatch.setenv("SAM_CHECKPOINT", str(tmp_path / "gone.pth"))
    with pytest.raises(CheckpointError, match="SAM_CHECKPOINT points to"):
        fetch_checkpoint("fake_sam")


def test_unknown_name_and_missing_path(monkeypatch):
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    with pytest.raises(CheckpointError, match="unknown model 'sam_vit_z'.*sam_vit_b"):
        fetch_checkpoint("sam_vit_z")
    with pytest.raises(CheckpointError, match="no checkpoint file at"):
        fetch_checkpoint("/nowhere/sam.pth")


def test_cli_prints_path(hub, register, tmp_path, capsys):
    register(_spec())
    assert dl.main(["fake_sam", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip()
    assert Path(out).read_bytes() == PAYLOAD
    assert dl.main(["sam_vit_z"]) == 1
    assert "unknown model" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["sam2.1_hiera_tiny", "sam2.1_hiera_large", "sam3"])
def test_sam2_and_sam3_entries_download_through_the_same_path(name, tmp_path, monkeypatch):
    """The SAM 2 / SAM 3 registry entries (their real repo and file names) go through the hub cache, with
    progress, like SAM 1's; the fake hub serves a payload under exactly those names."""
    spec = dl.KNOWN_MODELS[name]
    assert spec.family == ("sam3" if name == "sam3" else "sam2")
    server = FakeHub({(spec.repo_id, spec.filename): PAYLOAD}).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        calls = []
        path = fetch_checkpoint(name, cache_dir=tmp_path, progress=lambda d, t: calls.append((d, t)))
        assert path.read_bytes() == PAYLOAD and path.name == Path(spec.filename).name
        assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    finally:
        server.stop()
