"""SAM 3's registry entries and download path against a local fake hub (loopback, no real network).

The hub serves facebook/sam3 only to accounts whose access request was approved. For anyone else it
answers ``401`` (not logged in) or ``403`` (logged in, not approved) with ``X-Error-Code: GatedRepo``,
which huggingface_hub raises as ``GatedRepoError``; the student must then read how to get access.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sam_core.weights import download as dl
from sam_core.weights.checkpoint import CheckpointError
from sam_core.weights.registry_sam3 import SAM3_LICENCE, SAM3_REPO, SAM3_SPECS, gated_access_message


class GatedHub:
    """Answers every request like the hub does for a gated repository the caller may not read."""

    def __init__(self, status: int) -> None:
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _refuse(self) -> None:
                hub.requests.append(self.path)
                self.send_response(status)
                self.send_header("X-Error-Code", "GatedRepo")
                self.send_header("X-Error-Message", f"Access to model {SAM3_REPO} is restricted. You must have "
                                                    "access to it and be authenticated to access it. Please log in.")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_GET = _refuse

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GatedHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_registry_lists_both_official_files():
    by_file = {spec.filename: spec for spec in SAM3_SPECS}
    assert set(by_file) == {"sam3.pt", "model.safetensors"}
    assert by_file["sam3.pt"].format == "original" and by_file["model.safetensors"].format == "transformers"
    for spec in SAM3_SPECS:
        assert dl.KNOWN_MODELS[spec.name] is spec
        assert spec.repo_id == SAM3_REPO and spec.family == "sam3" and spec.licence == SAM3_LICENCE
        assert spec.sha256 is None and spec.size_bytes is None  # not confirmable offline: never guessed
        assert "text" in spec.capabilities and spec.model_type == "sam3"


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("name", [spec.name for spec in SAM3_SPECS])
def test_gated_repository_explains_how_to_get_access(name, status, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with GatedHub(status) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        with pytest.raises(CheckpointError) as info:
            dl.fetch_checkpoint(name, cache_dir=tmp_path, timeout=5)
    message = str(info.value)
    assert gated_access_message() in message and name in message
    assert "hf auth login" in message and "request access" in message and SAM3_LICENCE in message
    assert any("/facebook/sam3/resolve/" in path for path in hub.requests)
    assert not any(tmp_path.rglob("*.pt")) and not any(tmp_path.rglob("*.safetensors"))


def test_cli_prints_the_gated_message(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SAM_CHECKPOINT", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with GatedHub(401) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        assert dl.main(["sam3", "--cache-dir", str(tmp_path)]) == 1
    assert "hf auth login" in capsys.readouterr().err
