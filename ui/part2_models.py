"""The SAM 2 and SAM 3 models of the lesson's second part, loaded once and shared by every session.

Default: the embedded models (`sam_core.sam2.nano`, `sam_core.sam3.nano`), trained here, no network.
Instructor overrides (environment): SAM2_CHECKPOINT=<Meta's sam2.1_hiera_*.pt or a transformers
safetensors> with SAM2_MODEL_TYPE=<hiera_tiny | hiera_small | hiera_base_plus | hiera_large>;
SAM3_CHECKPOINT=<Meta's sam3.pt>. Nothing here mutates a shared model: per-student state (video
inference states, image states) lives in the pages' session_state.

    predictor, status = sam2_video_predictor()   # (SAM2VideoPredictor | None, Part2Status)
    processor, status = sam3_processor()         # (Sam3Processor | None, Part2Status); set_image is per call
    store = frame_features(predictor, status, clip_key, frames)  # a clip's encoder outputs, shared, filled
                                                                  # in the background
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import streamlit as st

from ui import session


@dataclass(frozen=True)
class Part2Status:
    name: str  # "SAM 2 nano (embedded)", "SAM 2.1 hiera_tiny (sam2.1_hiera_tiny.pt)"
    ready: bool
    message: str = ""  # why it is not ready, in words a student can act on
    cache_key: str = ""  # model identity for st.cache_data keys
    embedded: bool = False  # the embedded nano model trained here (its training logs are in assets/)


def _freeze(model):
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@st.cache_resource(show_spinner="Loading SAM 2 ...", max_entries=2)
def _load_sam2(checkpoint: str | None, model_type: str, device: str):
    from sam_core.sam2.build import build_sam2_video_predictor

    if checkpoint is None:
        return _freeze(build_sam2_video_predictor("nano", device=device))
    return _freeze(build_sam2_video_predictor(model_type, checkpoint=checkpoint, device=device))


@st.cache_resource(show_spinner="Loading SAM 3 ...", max_entries=2)
def _load_sam3(checkpoint: str | None, device: str):
    from sam_core.sam3.build import build_sam3

    if checkpoint is None:
        return _freeze(build_sam3("nano", device=device))
    return _freeze(build_sam3("sam3", checkpoint=checkpoint, device=device))


class _FrameEncoding:
    """One clip's image-encoder outputs, computed once in a background thread and shared by every session:
    `store` fills frame by frame (predictor.encode_frames); a propagation reads what is there and encodes
    the rest itself, so it never waits for this thread."""

    def __init__(self, predictor, frames: list) -> None:
        self.store: dict = {}
        self.error = ""
        # not a daemon: an interpreter that exits waits the second or two it needs (torch aborts if killed mid-op)
        threading.Thread(target=self._run, args=(predictor, frames), daemon=False, name="frame-encoding").start()

    def _run(self, predictor, frames: list) -> None:
        import torch

        torch.set_num_threads(session.torch_threads())
        try:
            predictor.encode_frames(predictor.init_state(frames), self.store)
        except Exception as error:  # the store stays partial: propagation encodes the missing frames itself
            self.error = f"{type(error).__name__}: {error}"


@st.cache_resource(show_spinner=False, max_entries=4)
def _frame_encoding(model_key: str, clip_key: tuple, _predictor, _frames: list) -> _FrameEncoding:
    return _FrameEncoding(_predictor, _frames)


def frame_features(predictor, status: Part2Status, clip_key: tuple, frames: list) -> dict | None:
    """The shared store of `frames`' encoder outputs for `predictor` (its encoding starts in the background on
    the first call), or None for a predictor without `encode_frames` (the model server's).
    clip_key must identify the frames' content (a generated clip's settings, an upload's digest)."""
    if not hasattr(predictor, "encode_frames"):
        return None
    return _frame_encoding(status.cache_key, clip_key, predictor, list(frames)).store


def private_frame_features(predictor, frames: list) -> dict | None:
    """As frame_features, for one student's own video (an upload): a new store, encoded in the background,
    kept by the caller's session and shared with no one."""
    if not hasattr(predictor, "encode_frames"):
        return None
    return _FrameEncoding(predictor, list(frames)).store


def _embedded_file(module: str, attribute: str):
    """The embedded weights' path from its module (None when that module or file is not there)."""
    import importlib

    try:
        path = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):
        return None
    return path


def sam2_video_predictor():
    """(SAM2VideoPredictor | None, Part2Status) for this run's device."""
    session.current_model()  # also sets this thread's torch threads (1 on a small shared machine)
    device = session.resolve_device()
    checkpoint = os.environ.get("SAM2_CHECKPOINT") or None
    model_type = os.environ.get("SAM2_MODEL_TYPE", "hiera_base_plus")
    if checkpoint is None:
        weights = _embedded_file("sam_core.sam2.nano", "NANO_SAM2_WEIGHTS")
        name = "SAM 2 nano (embedded)"
        if weights is None or not weights.is_file():
            return None, Part2Status(name, False, "The embedded SAM 2 weights are not in this copy of the app "
                                     "(assets/models/sam2_nano/). Train them with `python -m sam_core.training.video`, "
                                     "or set SAM2_CHECKPOINT to Meta's SAM 2.1 checkpoint.")
    else:
        family = "SAM 2" if model_type == "nano" else "SAM 2.1"
        name = f"{family} {model_type} ({os.path.basename(checkpoint)})"
    key = f"sam2|{checkpoint}|{model_type}|{device}"
    try:
        return _load_sam2(checkpoint, model_type, device), Part2Status(name, True, cache_key=key,
                                                                      embedded=checkpoint is None)
    except Exception as error:  # a mismatched or corrupt checkpoint: say so, keep the app running
        return None, Part2Status(name, False, f"Could not load {name}: {type(error).__name__}: {error}")


def sam3_processor(threshold: float = 0.5):
    """(Sam3Processor | None, Part2Status); a new light processor per call around the shared model."""
    from sam_core.sam3.processor import Sam3Processor

    session.current_model()  # also sets this thread's torch threads (1 on a small shared machine)
    device = session.resolve_device()
    checkpoint = os.environ.get("SAM3_CHECKPOINT") or None
    if checkpoint is None:
        weights = _embedded_file("sam_core.sam3.nano", "NANO_SAM3_WEIGHTS")
        name = "SAM 3 nano (embedded)"
        if weights is None or not weights.is_file():
            return None, Part2Status(name, False, "The embedded SAM 3 weights are not in this copy of the app "
                                     "(assets/models/sam3_nano/). Train them with `python -m sam_core.training.concepts`, "
                                     "or set SAM3_CHECKPOINT to Meta's sam3.pt (gated: request access on the hub).")
    else:
        name = f"SAM 3 ({os.path.basename(checkpoint)})"
    key = f"sam3|{checkpoint}|{device}"
    try:
        model = _load_sam3(checkpoint, device)
    except Exception as error:
        return None, Part2Status(name, False, f"Could not load {name}: {type(error).__name__}: {error}")
    resolution = int(getattr(model, "image_size", 0) or getattr(model.backbone, "image_size", 1008))
    return Sam3Processor(model, resolution=resolution, confidence_threshold=threshold), Part2Status(
        name, True, cache_key=key)


@st.cache_data(show_spinner="Probing the encoders for colour ...", max_entries=4)
def colour_probe(sam3_key: str, sam1_key: str, scenes: int, first_seed: int, _encoders: dict):
    """lesson_content.colour_probe.colour_probe on street cars, shared by the sessions (keyed by the models and
    the settings; `_encoders` are that pair's feature functions)."""
    from lesson_content.colour_probe import colour_probe as probe

    return probe(_encoders, {"street": ("car",)}, scenes, first_seed)
