"""The shared sidebar drawn by app.py on every page: model, device, instructor mode, last timings."""

from __future__ import annotations

import streamlit as st
import torch

from sam_core.device import device_report
from sam_core.sam1.build import sam_model_registry
from sam_core.weights import download
from sam_core.weights.registry import ModelSpec
from ui import model_server, session, widgets

EMBEDDED = "nano (embedded)"
LOCAL_FILE = "Local checkpoint file ..."


def _human_size(num_bytes: float) -> str:
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def _spec_summary(spec: ModelSpec) -> str:
    """"358 MiB, Apache-2.0" for the model picker."""
    return f"{spec.size_label}, {spec.licence}"


def fetch_with_progress(name: str, progress_bar, status) -> str | None:
    """Download a registry model through sam_core.weights.download.fetch_checkpoint, driving a progress bar.

    Returns the local path, or None after showing the error (offline, hash mismatch, ...).
    """

    def on_progress(done: int, total: int | None) -> None:
        text = f"{_human_size(done)} of {_human_size(total)}" if total else "downloading ..."
        progress_bar.progress(min(max(done / total, 0.0), 1.0) if total else 0.0, text=text)

    try:
        path = download.fetch_checkpoint(name, progress=on_progress)
    except download.OfflineError as error:
        status.error(f"Offline: {error}")
        return None
    except download.CheckpointError as error:
        status.error(f"Download failed: {error}")
        return None
    progress_bar.progress(1.0, text="done")
    return str(path)


def _model_picker():
    """The model selectbox and its status; returns (model, info) resolved once for this run."""
    registry = session.known_models()
    options = [EMBEDDED, *registry.keys(), *([LOCAL_FILE] if session.local_paths_allowed() else [])]
    choice = st.selectbox(
        "Model", options, key="app_model_select",
        format_func=lambda o: o if o in (EMBEDDED, LOCAL_FILE) else f"{o} ({_spec_summary(registry[o])})",
        help="The embedded nano model was trained in this project and works offline. Known models are "
        "downloaded once into the Hugging Face cache.",
    )
    if choice == EMBEDDED:
        session.set_model_choice("embedded", "nano")
    elif choice == LOCAL_FILE:
        if session.class_mode():  # the operator's folder, by name: no server path is typed or shown
            path = st.selectbox("Checkpoint", session.local_checkpoints(), key="app_model_file") or ""
        else:
            path = st.text_input("Checkpoint path", key="app_model_path",
                                 placeholder="/path/to/sam_vit_b_01ec64.pth")
        types = [t for t in sam_model_registry if t != "default"]
        model_type = st.selectbox("Architecture", types, key="app_model_path_type")
        session.set_model_choice("path", model_type, path)
    else:
        session.set_model_choice("registry", choice)

    model, info = session.resolve_model()
    if info.status == "not_downloaded":
        spec = registry[info.name]
        if st.button(f"Download {info.name} ({spec.size_label})", key="app_download", type="primary"):
            bar = st.progress(0.0, text="starting ...")
            status = st.empty()
            path = fetch_with_progress(info.name, bar, status)
            if path:
                session.remember_download(info.name, path)
                st.rerun()
        else:
            st.caption(info.message)
    elif info.status == "no_weights":
        st.warning("**No weights yet.** The embedded nano model is still being trained. Pick a known "
                   "model above and download it, or load a local checkpoint.", icon=":material/hourglass_empty:")
    elif info.status == "error":
        st.error(info.message)
    return model, info


def _device_picker() -> None:
    options = ["auto", "cpu"]
    if torch.cuda.is_available():
        options.append("cuda")
    if torch.backends.mps.is_available():
        options.append("mps")
    st.selectbox("Device", options, key=session.DEVICE_KEY,
                 help="auto: CUDA if present, else Apple MPS, else the CPU.")
    device, warning = session.device_choice()
    if warning:
        st.warning(warning)
    st.caption(f"Running on **{device}**")
    with st.expander("Device report"):
        st.json(device_report())


def render_sidebar():
    """Draw the shared sidebar. Returns a placeholder for the timings (filled after the page ran)."""
    with st.sidebar:
        st.subheader("Model")
        _model_picker()  # the device widget's value is already in session_state: order does not matter
        _device_picker()
        model_server.render_choice()  # the Segment page's clicks on a shared model service
        st.toggle("Instructor mode", key=session.INSTRUCTOR_KEY,
                  help="Shows, on each part-1 page, the traced examples it computes from, with a link to the "
                       "Instructor page that edits them.")
        placeholder = st.empty()
    st.session_state[_TIMINGS_SLOT] = placeholder  # pages' fragments refresh it (render_timings())
    return placeholder


_TIMINGS_SLOT = "_ui_timings_placeholder"


def render_timings(placeholder=None) -> None:
    """Show the encoder / decoder times of this session's last predictor call in the sidebar.

    app.py calls it after the page ran; a page's st.fragment calls it with no argument after a click
    (a fragment rerun does not run app.py), which refills the same sidebar slot.
    """
    placeholder = placeholder if placeholder is not None else st.session_state.get(_TIMINGS_SLOT)
    if placeholder is None:
        return
    predictor = session.last_predictor()
    timings = predictor.last_timings_ms if predictor is not None else {}
    _, info = session.current_model()
    with placeholder.container():
        st.caption(f"Model: **{info.name}** on {info.device}")
        if timings:
            st.caption(f"Last call: {widgets.format_timings(timings)}")
