"""Load SAM checkpoints safely and explain, in one sentence, why a file does not fit.

Checkpoints are untrusted input (a student may pick any file), so:
- ``.safetensors`` files are read with ``safetensors`` (no code at all);
- ``.pth/.pt/.bin`` files are read with ``torch.load(map_location="cpu", weights_only=True)``: a pickle
  that references code (``os.system``, a custom class, ...) is refused, never executed;
- anything else (empty, truncated, random bytes, an image, an HTML error page saved instead of the file,
  a Git LFS pointer) gets a ``CheckpointError`` that says what the file looks like;
- files over 4 GiB are refused unless explicitly allowed (the largest SAM 1 checkpoint, ViT-H, is 2.4 GiB).

The result is always ``{original segment_anything key: tensor}``: common containers are unwrapped
(``{"model": sd}``, ``{"state_dict": sd}``, ``module.`` prefixes) and ``transformers`` ``SamModel`` keys
are renamed (see ``sam_core.weights.hf_keys``). ``check_compatible`` compares a state_dict with a model's keys
and names the model type the checkpoint actually belongs to.
"""

from __future__ import annotations

import json
import pickle
import struct
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from sam_core.weights.hf_keys import hf_to_original_state_dict, is_transformers_state_dict

__all__ = [
    "CheckpointError",
    "MAX_CHECKPOINT_BYTES",
    "load_state_dict",
    "detect_model_type",
    "describe_state_dict",
    "check_compatible",
]

MAX_CHECKPOINT_BYTES = 4 * 1024**3  # 4 GiB: ViT-H (2.4 GiB) fits, a mistaken multi-GB file does not
_CONTAINER_KEYS = ("model", "state_dict", "model_state_dict", "module", "net", "weights")
_TORCH_SUFFIXES = {".pth", ".pt", ".bin", ".ckpt"}
_HF_DIR_FILES = ("model.safetensors", "pytorch_model.bin")

# (encoder depth, encoder width) of Meta's ViT image encoders -> model type
_VIT_TYPES = {(12, 768): "vit_b", (24, 1024): "vit_l", (32, 1280): "vit_h"}


class CheckpointError(ValueError):
    """A checkpoint file cannot be used: missing, unreadable, unsafe, or made for another model."""


# --------------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------------


def _human(n_bytes: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n_bytes} bytes"  # unreachable


def _sniff(head: bytes, size: int) -> str:
    """Name the content type from the first bytes: 'zip', 'pickle', 'safetensors' or a description."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "pickle"
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 0 < header_len <= 100 * 1024**2:
            return "safetensors"
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith((b"GIF87a", b"GIF89a")) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return "an image"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        return "a web page (HTML), probably an error page saved instead of the file"
    if stripped.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the weights themselves (run `git lfs pull`)"
    if stripped.startswith((b"{", b"[")):
        return "a JSON/text file"
    return "unrecognised data"


def _load_safetensors(path: Path, size: int) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    with path.open("rb") as f:
        head = f.read(8)
    (header_len,) = struct.unpack("<Q", head) if len(head) == 8 else (size,)
    if 8 + header_len > size:
        raise CheckpointError(
            f"{path.name} is truncated: its safetensors header says {header_len} bytes of header, "
            f"but the file has only {size} bytes (an interrupted download?)"
        )
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{path.name} is not a readable safetensors file ({e}); it may be truncated or corrupt"
        ) from None


def _load_torch(path: Path, kind: str) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": we report our own error
            # mmap (zip format only): tensors are paged in from the file instead of copied into memory
            # first, so loading ViT-H (2.4 GiB) into a model does not need twice its size in RAM.
            return torch.load(path, map_location="cpu", weights_only=True, mmap=kind == "zip")
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" in text:
            detail = next((line.strip() for line in text.splitlines() if "GLOBAL" in line), "")
            reason = f" ({detail})" if detail else ""
            raise CheckpointError(
                f"{path.name} contains Python objects other than tensors{reason}; sam_core refuses to run "
                "code from a checkpoint. If you trust the file, load it yourself and re-save "
                "model.state_dict() with torch.save or safetensors."
            ) from None
        raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint ({text})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, struct.error) as e:
        first = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
        hint = "truncated or corrupt (an interrupted download?)" if kind == "zip" else "corrupt"
        raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint: {hint} [{first}]") from None


def _unwrap(obj: object, name: str) -> dict[str, torch.Tensor]:
    """Find the tensor dict inside common checkpoint containers ({"model": sd}, {"state_dict": sd}, ...)."""
    for _ in range(4):
        if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
            if inner is None:
                break
            obj = inner
        else:
            break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name} holds a {type(obj).__name__}, not a state_dict (a dict of tensors)")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        keys = ", ".join(map(str, list(obj)[:5]))
        raise CheckpointError(f"{name} contains no tensors (top-level keys: {keys or 'none'})")
    for prefix in ("module.", "model."):  # DataParallel / Lightning-style wrappers
        if all(k.startswith(prefix) for k in tensors):
            stripped = {k[len(prefix) :]: v for k, v in tensors.items()}
            if any(k.startswith(("image_encoder.", "vision_encoder.", "mask_decoder.")) for k in stripped):
                tensors = stripped
    return tensors


def load_state_dict(
    path: str | Path, *, max_bytes: int | None = MAX_CHECKPOINT_BYTES, map_transformers: bool = True
) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into ``{original segment_anything key: CPU tensor}``.

    Arguments:
      path: a ``.safetensors``, ``.pth``/``.pt``/``.bin``/``.ckpt`` file, or a directory written by
        ``SamModel.save_pretrained`` (``model.safetensors`` or ``pytorch_model.bin`` inside). The format
        is recognised from the file's first bytes; the suffix only decides ambiguous cases.
      max_bytes: refuse larger files (default 4 GiB); ``None`` allows any size.
      map_transformers: rename ``transformers`` ``SamModel`` keys to the original names.
    Returns:
      dict of tensors on the CPU, in the dtype stored in the file.
    Raises:
      CheckpointError: missing file, too large, empty, truncated, not a checkpoint, a pickle that needs
        code, no tensors inside, or an inconsistent transformers checkpoint.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        found = next((path / n for n in _HF_DIR_FILES if (path / n).is_file()), None)
        if found is None:
            raise CheckpointError(f"{path} is a folder without {' or '.join(_HF_DIR_FILES)} inside")
        path = found
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes); the download or copy did not finish")
    if max_bytes is not None and size > max_bytes:
        raise CheckpointError(
            f"{path.name} is {_human(size)}, more than the {_human(max_bytes)} allowed for a SAM "
            "checkpoint; pass max_bytes=None if this file is really meant"
        )
    with path.open("rb") as f:
        head = f.read(64)
    kind = _sniff(head, size)
    suffix = path.suffix.lower()
    if kind == "safetensors" or (suffix == ".safetensors" and kind not in ("zip", "pickle")):
        if kind != "safetensors" and not kind.startswith("unrecognised"):
            raise CheckpointError(f"{path.name} is {kind}, not a safetensors checkpoint")
        raw: object = _load_safetensors(path, size)
    elif kind in ("zip", "pickle"):
        raw = _load_torch(path, kind)
    else:
        expected = "a PyTorch or safetensors checkpoint"
        if suffix in _TORCH_SUFFIXES:
            expected = f"a PyTorch checkpoint as its '{suffix}' suffix says"
        raise CheckpointError(f"{path.name} is {kind} ({size} bytes), not {expected}")
    state_dict = _unwrap(raw, path.name)
    if map_transformers and is_transformers_state_dict(state_dict):
        try:
            state_dict = hf_to_original_state_dict(state_dict)
        except ValueError as e:
            raise CheckpointError(f"{path.name}: inconsistent transformers checkpoint: {e}") from None
    return state_dict


# --------------------------------------------------------------------------------------------------
# What is this checkpoint, and does it fit?
# --------------------------------------------------------------------------------------------------


def _shape_of(value: object) -> tuple[int, ...] | None:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (torch.Size, tuple, list)):
        return tuple(int(d) for d in value)
    return None


def _vit_geometry(
    keys: Iterable[str], shapes: Mapping[str, tuple[int, ...] | None]
) -> tuple[int, int] | None:
    blocks = {int(k.split(".")[2]) for k in keys if k.startswith("image_encoder.blocks.")}
    width_shape = shapes.get("image_encoder.patch_embed.proj.weight")
    if not blocks or not width_shape:
        return None
    return len(blocks), width_shape[0]


def detect_model_type(state_dict: Mapping[str, object]) -> str | None:
    """Guess the model type of a state_dict (values: tensors or shapes).

    Returns:
      "vit_b" / "vit_l" / "vit_h" (Meta's ViT encoders, from block count and width), "vit_t" (MobileSAM's
      TinyViT: ``image_encoder.layers.*`` / ``patch_embed.seq.*``), "nano" (this project's small model:
      decoder width 128), or None when unrecognisable.
    """
    keys = list(state_dict)
    shapes = {k: _shape_of(v) for k, v in state_dict.items()}
    decoder = shapes.get("mask_decoder.iou_token.weight")
    if decoder is not None and len(decoder) == 2 and decoder[1] == 128:
        return "nano"
    if any(k.startswith(("image_encoder.layers.", "image_encoder.patch_embed.seq.")) for k in keys):
        return "vit_t"
    geometry = _vit_geometry(keys, shapes)
    return _VIT_TYPES.get(geometry) if geometry else None


def describe_state_dict(state_dict: Mapping[str, object]) -> str:
    """One phrase about what a state_dict holds, e.g. "a vit_b checkpoint (12 ViT blocks, width 768)"."""
    keys = list(state_dict)
    shapes = {k: _shape_of(v) for k, v in state_dict.items()}
    kind = detect_model_type(state_dict)
    geometry = _vit_geometry(keys, shapes)
    detail = f" ({geometry[0]} ViT blocks, width {geometry[1]})" if geometry else ""
    if kind:
        return f"a {kind} checkpoint{detail}"
    if geometry:
        return f"an unknown ViT variant{detail}"
    if not any(k.startswith(("image_encoder.", "prompt_encoder.", "mask_decoder.")) for k in keys):
        return f"not a SAM checkpoint (keys such as {', '.join(keys[:3])})"
    return "an unrecognised SAM variant"


def check_compatible(
    state_dict: Mapping[str, object],
    model_type: str,
    expected_keys: Mapping[str, object] | Iterable[str],
    *,
    max_listed: int = 5,
) -> None:
    """Raise ``CheckpointError`` unless ``state_dict`` loads into a model of ``model_type`` as is.

    Arguments:
      state_dict: the checkpoint (original key names), e.g. from ``load_state_dict``.
      model_type: the type the caller built ("vit_b", "nano", ...), named in the message.
      expected_keys: the model's ``state_dict()`` or ``state_dict().keys()`` (keys and shapes checked),
        or any iterable of key names (keys only).
      max_listed: how many missing / unexpected keys to name.
    Raises:
      CheckpointError: naming the expected type, the detected type (if recognisable), the first few
        missing and unexpected keys, and the first shape mismatch.
    """
    if not isinstance(expected_keys, Mapping) and isinstance(
        getattr(expected_keys, "mapping", None), Mapping
    ):
        expected_keys = expected_keys.mapping  # model.state_dict().keys() still knows its dict (shapes)
    expected_shapes = (
        {k: _shape_of(v) for k, v in expected_keys.items()}
        if isinstance(expected_keys, Mapping)
        else dict.fromkeys(expected_keys)
    )
    got = set(state_dict)
    missing = [k for k in expected_shapes if k not in got]
    unexpected = [k for k in state_dict if k not in expected_shapes]
    mismatch = None
    for key, want in expected_shapes.items():
        have = _shape_of(state_dict.get(key)) if key in got else None
        if want is not None and have is not None and have != want:
            mismatch = (key, have, want)
            break
    if not (missing or unexpected or mismatch):
        return
    detected = detect_model_type(state_dict)
    parts = [
        f"this checkpoint does not fit model type '{model_type}': it is {describe_state_dict(state_dict)}"
    ]
    if detected and detected != model_type:
        parts[0] += f"; choose model type '{detected}' for it, or a '{model_type}' checkpoint"
    if missing:
        listed = ", ".join(missing[:max_listed]) + (", ..." if len(missing) > max_listed else "")
        parts.append(f"{len(missing)} missing keys: {listed}")
    if unexpected:
        listed = ", ".join(unexpected[:max_listed]) + (", ..." if len(unexpected) > max_listed else "")
        parts.append(f"{len(unexpected)} unexpected keys: {listed}")
    if mismatch:
        key, have, want = mismatch
        parts.append(
            f"first shape mismatch: {key} is {list(have)} in the checkpoint, {list(want)} in the model"
        )
    raise CheckpointError("; ".join(parts))
