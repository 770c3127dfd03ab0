"""Fetch checkpoint files: a local path, the ``SAM_CHECKPOINT`` override, or the Hugging Face hub cache.

``fetch_checkpoint(name_or_path)`` resolves, in this order:
  1. an existing local file (or ``SamModel.save_pretrained`` folder) given as ``name_or_path``;
  2. ``SAM_CHECKPOINT``: a path used for every model, or ``name=path;name=path`` per registry name;
  3. the embedded ``nano`` weights shipped in ``assets/``;
  4. ``huggingface_hub.hf_hub_download`` into the shared hub cache (``cache_dir`` / ``HF_HUB_CACHE``),
     then the registry's size and SHA-256 are checked.

It never hangs without network: with ``HF_HUB_OFFLINE=1``, ``offline=True``, or when a 1.5 s probe of
the endpoint (``HF_ENDPOINT``, read at call time) gets no answer, only the local cache is consulted, and
a miss raises ``OfflineError`` telling the student how to get the file onto this machine.

Note on resuming: huggingface_hub 2.x retries and resumes (HTTP Range) a download interrupted within
one call, but deletes its process-unique partial file when the call fails, so an aborted download
starts over next time. Progress: pass ``progress(done_bytes, total_bytes)`` (the app draws a bar);
the CLI shows tqdm: ``python -m sam_core.weights.download NAME``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm as _tqdm

from sam_core.weights.checkpoint import CheckpointError
from sam_core.weights.registry import KNOWN_MODELS, ModelSpec, get_spec

__all__ = [
    "OfflineError",
    "fetch_checkpoint",
    "probe_endpoint",
    "sha256_file",
    "hub_endpoint",
    "is_offline_env",
]

ProgressFn = Callable[[int, "int | None"], None]
PROBE_TIMEOUT_S = 1.5
_TRUE = {"1", "true", "yes", "on"}
_VERIFIED: dict[tuple[str, int, int], str] = {}  # (realpath, size, mtime_ns) -> sha256, per process


class OfflineError(CheckpointError):
    """The weights are not on this machine and the hub cannot be reached (or offline mode is on)."""


def hub_endpoint() -> str:
    """The hub URL in effect now: ``HF_ENDPOINT`` if set (tests point it at a local fake), else huggingface.co."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def is_offline_env() -> bool:
    """True if ``HF_HUB_OFFLINE`` is set now or was set when huggingface_hub was imported."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE or bool(constants.HF_HUB_OFFLINE)


def probe_endpoint(endpoint: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Ask ``endpoint`` for any HTTP answer within ``timeout`` seconds (DNS included).

    Returns:
      None if the endpoint answered (any status code), else a short reason ("connection refused", ...).
    """
    result: list[str | None] = []

    def ask() -> None:
        try:
            request = urllib.request.Request(endpoint + "/", method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                pass
            result.append(None)
        except urllib.error.HTTPError:
            result.append(None)  # it answered, with an error status: reachable
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            result.append(str(reason) or type(e).__name__)

    thread = threading.Thread(target=ask, name="sam-hub-probe", daemon=True)  # daemon: DNS may outlive us
    thread.start()
    thread.join(timeout)
    if not result:
        return f"no answer within {timeout:g} s"
    return result[0]


def sha256_file(path: Path, chunk_bytes: int = 8 * 1024**2) -> str:
    """SHA-256 hex digest of a file, streamed in 8 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, spec: ModelSpec) -> None:
    """Check size and SHA-256 against the registry; raise CheckpointError naming the mismatch."""
    stat = path.stat()
    if spec.size_bytes is not None and stat.st_size != spec.size_bytes:
        raise CheckpointError(
            f"{spec.name}: {path} is {stat.st_size:,} bytes but {spec.size_bytes:,} bytes were expected "
            "(an incomplete or different file); fetch it again with force_download=True (CLI: --force)"
        )
    if spec.sha256 is None:
        return
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    actual = _VERIFIED.get(key) or sha256_file(path)
    if actual != spec.sha256.lower():
        raise CheckpointError(
            f"{spec.name}: SHA-256 of {path} is {actual}, expected {spec.sha256} (corrupt or tampered "
            "file); fetch it again with force_download=True (CLI: --force)"
        )
    _VERIFIED[key] = actual


def _tqdm_class(progress: ProgressFn | None, show_bar: bool, min_interval_s: float = 0.1):
    """A tqdm subclass for ``hf_hub_download(tqdm_class=...)`` that also reports to ``progress``."""

    class ProgressTqdm(_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            if not show_bar:
                kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)
            self._last_report = 0.0
            self._report(force=True)

        def _report(self, force: bool = False) -> None:
            if progress is None:
                return
            total = int(self.total) if self.total else None
            now = time.monotonic()
            if (
                force
                or (total is not None and self._done >= total)
                or now - self._last_report >= min_interval_s
            ):
                self._last_report = now
                progress(self._done, total)

        def update(self, n=1):
            self._done += int(n or 0)  # counted here: a disabled tqdm does not count
            result = super().update(n)
            self._report()
            return result

    return ProgressTqdm


def checkpoint_from_env(name: str) -> Path | None:
    """The ``SAM_CHECKPOINT`` path for registry model ``name``, or None when the variable is unset.

    The variable is one path for every model, or ``name=path;name=path`` (recognised when its first key is
    a registry name, so a path that contains "=" still works). The one parser of SAM_CHECKPOINT.
    """
    value = os.environ.get("SAM_CHECKPOINT", "").strip()
    if not value:
        return None
    first = value.split("=", 1)[0].strip()
    if "=" in value and first in KNOWN_MODELS:
        pairs = dict(item.split("=", 1) for item in value.split(";") if "=" in item)
        chosen = {k.strip(): v.strip() for k, v in pairs.items()}.get(name)
        return Path(chosen).expanduser() if chosen else None
    return Path(value).expanduser()


def _offline_message(spec: ModelSpec, reason: str) -> str:
    sources = f"{spec.hub_url}" + (f" (or the publisher's copy {spec.source_url})" if spec.source_url else "")
    return (
        f"Cannot download '{spec.name}' ({spec.size_label}): {reason}, and it is not in the local cache.\n"
        "To use these weights on this machine:\n"
        f"  1. on a computer with internet, download {sources};\n"
        "  2. copy the file to this machine and choose it as a local checkpoint file in the app,\n"
        "     or start the app with SAM_CHECKPOINT=/path/to/file.\n"
        f"  (Or run `python -m sam_core.weights.download {spec.name}` there and copy the Hugging Face cache folder.)\n"
        "The embedded 'nano' model works without network."
    )


def fetch_checkpoint(
    name_or_path: str | os.PathLike,
    *,
    progress: ProgressFn | None = None,
    offline: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    timeout: float = 10.0,
    verify: bool = True,
    force_download: bool = False,
    show_progress_bar: bool = False,
    probe_timeout: float = PROBE_TIMEOUT_S,
) -> Path:
    """Local path of a checkpoint file, downloading it into the hub cache if needed.

    Arguments:
      name_or_path: a registry name (``sam_core.weights.registry.KNOWN_MODELS``) or a local file / folder.
      progress: ``progress(done_bytes, total_bytes_or_None)``, called as bytes arrive (throttled to 10/s).
      offline: True: cache only; False: skip the probe and try the hub; None: decide from
        ``HF_HUB_OFFLINE`` and a ``probe_timeout`` connectivity probe.
      cache_dir: hub cache folder (default: huggingface_hub's, ``HF_HUB_CACHE``).
      timeout: seconds to wait for the hub's metadata answer once it is known to be reachable.
      verify: check the registry's size and SHA-256 (hash memoised per process).
      force_download: download again even if cached (e.g. after a hash mismatch).
      show_progress_bar: draw a tqdm bar on stderr (the CLI does).
    Returns:
      Path to the file (inside the hub cache for hub models).
    Raises:
      OfflineError: not cached and the hub cannot be reached / offline mode.
      CheckpointError: unknown name, missing local file, hub error, size or hash mismatch.
    """
    local = Path(name_or_path).expanduser()
    if local.exists():
        return local.resolve()
    name = str(name_or_path)
    if name not in KNOWN_MODELS:
        if isinstance(name_or_path, os.PathLike) or os.sep in name or local.suffix:
            raise CheckpointError(f"no checkpoint file at {local}")
        raise CheckpointError(
            f"unknown model '{name}'; known models: {', '.join(KNOWN_MODELS)}, or a file path"
        )
    spec = get_spec(name)

    override = checkpoint_from_env(name)
    if override is not None:
        if not override.exists():
            raise CheckpointError(f"SAM_CHECKPOINT points to {override}, which does not exist")
        return override.resolve()

    if spec.is_local:
        assert spec.local_path is not None
        if not spec.local_path.is_file():
            raise CheckpointError(
                f"the embedded '{spec.name}' weights are missing at {spec.local_path}; "
                "restore them from the repository (git checkout/pull) or retrain them"
            )
        return spec.local_path

    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    reason = None
    if offline is True:
        reason = "offline mode is on"
    elif offline is None:
        reason = "HF_HUB_OFFLINE=1 is set" if is_offline_env() else None
        if reason is None:
            failure = probe_endpoint(endpoint, probe_timeout)
            reason = f"cannot reach {endpoint} ({failure})" if failure else None

    if reason is not None:
        # A pure file-system lookup: hf_hub_download(local_files_only=True) would still build request
        # headers, and huggingface_hub 2.x fetches a telemetry registry from the hub while doing so
        # (up to 3 s, once per process), which would break the "offline answers within 2 s" promise.
        cached = try_to_load_from_cache(
            spec.repo_id, spec.filename, cache_dir=cache_dir, revision=spec.revision
        )
        if not isinstance(cached, str):
            raise OfflineError(_offline_message(spec, reason))
        path = Path(cached)
        if verify:
            _verify(path, spec)
        return path

    try:
        path = Path(
            hf_hub_download(
                repo_id=spec.repo_id,
                filename=spec.filename,
                revision=spec.revision,
                cache_dir=cache_dir,
                endpoint=endpoint,
                etag_timeout=timeout,
                force_download=force_download,
                tqdm_class=_tqdm_class(progress, show_progress_bar),
            )
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        raise OfflineError(_offline_message(spec, reason or f"the hub did not answer ({e})")) from None
    except GatedRepoError:  # before RepositoryNotFoundError, its base class: say how to get access
        from sam_core.weights.registry_sam3 import gated_access_message

        raise CheckpointError(f"'{spec.name}': {gated_access_message(spec.repo_id, spec.licence)}") from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
        raise CheckpointError(
            f"'{spec.name}': {spec.filename} was not found in {spec.repo_id}@{spec.revision} on {endpoint} "
            f"({type(e).__name__}); the mirror may have moved. Download {spec.source_url or spec.hub_url} "
            "by hand and pass its path."
        ) from None
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", "?")
        raise CheckpointError(
            f"'{spec.name}': the hub answered HTTP {status} ({str(e).splitlines()[0]})"
        ) from None
    except Exception as e:  # noqa: BLE001 - network drops, disk full, consistency check: one clear message
        raise CheckpointError(f"'{spec.name}': download failed: {type(e).__name__}: {e}") from None
    if verify:
        _verify(path, spec)
    return path


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m sam_core.weights.download NAME|PATH [--cache-dir DIR] [--offline] [--force] [--no-verify]``."""
    parser = argparse.ArgumentParser(prog="python -m sam_core.weights.download", description=__doc__.split("\n")[0])
    parser.add_argument("name", nargs="?", help=f"one of: {', '.join(KNOWN_MODELS)}; or a local file")
    parser.add_argument("--cache-dir", default=None, help="hub cache folder (default: HF_HUB_CACHE)")
    parser.add_argument("--offline", action="store_true", help="use the local cache only")
    parser.add_argument("--force", action="store_true", help="download again even if cached")
    parser.add_argument("--no-verify", action="store_true", help="skip the size / SHA-256 check")
    parser.add_argument("--list", action="store_true", help="list the known models and exit")
    args = parser.parse_args(argv)
    if args.list or not args.name:
        for spec in KNOWN_MODELS.values():
            where = spec.filename if spec.is_local else f"{spec.repo_id}/{spec.filename}"
            print(f"{spec.name:14s} {spec.model_type:6s} {spec.size_label:>12s}  {where}")
        return 0 if args.list else 2
    try:
        path = fetch_checkpoint(
            args.name,
            offline=True if args.offline else None,
            cache_dir=args.cache_dir,
            verify=not args.no_verify,
            force_download=args.force,
            show_progress_bar=True,
        )
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
