"""The shared sidebar drawn by app.py on every page: model, device, instructor mode, last timings."""

from __future__ import annotations

import inspect
from typing import Any

import streamlit as st

from ui import session, widgets

EMBEDDED = "nano (embedded)"
LOCAL_FILE = "Local checkpoint file ..."


def _human_size(num_bytes: Any) -> str:
    try:
        value = float(num_bytes)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def _spec_summary(spec: Any) -> str:
    parts = []
    size = session._spec_field(spec, "size_bytes", "size", "num_bytes")
    if size:
        parts.append(getattr(spec, "size_label", None) or _human_size(size))
    licence = session._spec_field(spec, "licence", "license")
    if licence:
        parts.append(str(licence))
    return ", ".join(parts)


def fetch_with_progress(name: str, progress_bar, status) -> str | None:
    """Download a registry model through sam_core.weights.download.fetch_checkpoint, driving a progress bar.

    Returns the local path, or None after showing the error (offline, hash mismatch, ...).
    """
    try:
        from sam_core.weights import download
    except Exception as error:
        status.error(f"Downloads are not available: {error}")
        return None

    def on_progress(done: Any = 0, total: Any = None, *_: Any, **__: Any) -> None:
        try:
            done_f, total_f = float(done), float(total) if total else 0.0
        except (TypeError, ValueError):
            return
        fraction = done_f / total_f if total_f > 0 else (done_f if done_f <= 1.0 else 0.0)
        text = f"{_human_size(done_f)} of {_human_size(total_f)}" if total_f > 0 else "downloading ..."
        progress_bar.progress(min(max(fraction, 0.0), 1.0), text=text)

    fetch = download.fetch_checkpoint
    parameters = inspect.signature(fetch).parameters
    kwargs = {}
    for candidate in ("progress", "progress_callback", "on_progress", "callback"):
        if candidate in parameters:
            kwargs[candidate] = on_progress
            break
    offline_error = getattr(download, "OfflineError", ())
    try:
        path = fetch(name, **kwargs)
    except Exception as error:
        if offline_error and isinstance(error, offline_error):
            status.error(f"Offline: {error}")
        else:
            status.error(f"Download failed: {type(error).__name__}: {error}")
        return None
    progress_bar.progress(1.0, text="done")
    return str(path)


def _model_picker() -> None:
    # Shipped weights (nano) are the EMBEDDED entry; the rest are downloadable.
    registry = {name: spec for name, spec in session.known_models().items()
                if not getattr(spec, "is_local", False)}
    options = [EMBEDDED, *registry.keys(), LOCAL_FILE]
    choice = st.selectbox(
        "Model", options, key="app_model_select",
        format_func=lambda o: o if o in (EMBEDDED, LOCAL_FILE) else f"{o} ({_spec_summary(registry[o])})".replace(" ()", ""),
        help="The embedded nano model was trained in this project and works offline. Known models are "
        "downloaded once into the Hugging Face cache.",
    )
    if choice == EMBEDDED:
        session.set_model_choice("embedded", "nano")
    elif choice == LOCAL_FILE:
        path = st.text_input("Checkpoint path", key="app_model_path",
                             placeholder="/path/to/sam_vit_b_01ec64.pth")
        try:
            from sam_core.sam1.build import sam_model_registry

            types = [t for t in sam_model_registry if t != "default"]
        except Exception:
            types = ["vit_b", "vit_l", "vit_h", "vit_t", "nano"]
        model_type = st.selectbox("Architecture", types, key="app_model_path_type")
        session.set_model_choice("path", model_type, path)
    else:
        session.set_model_choice("registry", choice)

    info = session.model_info()
    if info.status == "not_downloaded":
        spec = registry.get(info.name)
        size = _spec_summary(spec)
        if st.button(f"Download {info.name}" + (f" ({size})" if size else ""), key="app_download",
                     type="primary"):
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
    elif info.status in ("error", "unavailable"):
        st.error(info.message)


def _device_picker() -> None:
    options = ["auto", "cpu"]
    try:
        import torch

        if torch.cuda.is_available():
            options.append("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            options.append("mps")
    except Exception:
        pass
    st.selectbox("Device", options, key=session.DEVICE_KEY,
                 help="auto: CUDA if present, else Apple MPS, else the CPU.")
    device, warning = session.device_choice()
    if warning:
        st.warning(warning)
    st.caption(f"Running on **{device}**")
    try:
        from sam_core.device import device_report

        report = device_report()
    except Exception:
        report = None
    if report:
        with st.expander("Device report"):
            if isinstance(report, dict):
                st.json(report)
            else:
                st.code(str(report), language=None)


def render_sidebar():
    """Draw the shared sidebar. Returns a placeholder for the timings (filled after the page ran)."""
    with st.sidebar:
        st.subheader("Model")
        _model_picker()
        _device_picker()
        st.toggle("Instructor mode", key=session.INSTRUCTOR_KEY,
                  help="Shows the traced-example editor and the raw numbers behind every page.")
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
    timings = getattr(predictor, "last_timings_ms", None) or {}
    info = session.model_info()
    with placeholder.container():
        st.caption(f"Model: **{info.name}** on {info.device}")
        if timings:
            st.caption(f"Last call: {widgets.format_timings(timings)}")
