"""The Segment page's "Segment everything" mode: the automatic mask generator on the student's image, its
filters as sliders, the masks as a coloured overlay, and an export (a PNG per mask + a JSON manifest, zipped).

Images are reduced to EVERYTHING_MAX_SIDE first: the generator keeps up to 3 x points_per_batch full-size
masks at once (a 12-megapixel photo would need gigabytes). Results are kept per session, keyed by the
model, the image and the settings, so moving a slider back costs nothing.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import streamlit as st
from PIL import Image

from lesson_content.data_engine_view import filter_rows, overlay
from sam_core.automatic_mask_generator import SamAutomaticMaskGenerator, points_per_batch_for
from ui import session, widgets
from ui.page import PageKeys

EVERYTHING_MAX_SIDE = 512  # px: the embedded model sees 256, Meta's ViTs 1024; masks are kept at this size


def mode_toggle(k: PageKeys) -> bool:
    """The switch between clicking (the page's own mode) and segment everything."""
    return st.toggle("Segment everything", key=k("everything"),
                     help="The automatic mask generator: a grid of single clicks, filtered and de-duplicated "
                     "(SamAutomaticMaskGenerator).")


def _settings(k: PageKeys) -> dict:
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    return {"points_per_side": row.select_slider("Grid side", [8, 16, 32], value=16, key=k("ev_grid"), width=180),
            "pred_iou_thresh": row.slider("Predicted IoU >", 0.0, 1.0, 0.7, 0.01, key=k("ev_iou"), width=180),
            "stability_score_thresh": row.slider("Stability ≥", 0.0, 1.0, 0.8, 0.01, key=k("ev_stab"), width=180),
            "box_nms_thresh": row.slider("Box NMS IoU", 0.05, 1.0, 0.7, 0.05, key=k("ev_nms"), width=180),
            "min_mask_region_area": row.number_input("Min region (px)", 0, 10_000, 0, key=k("ev_area"), width=150)}


def export_zip(records: list[dict], image_name: str, settings: dict) -> bytes:
    """A zip: <image>_mask<i>.png (white = mask) for every mask and manifest.json (area, bbox, scores)."""
    buffer = io.BytesIO()
    manifest = {"image": image_name, "settings": settings, "masks": []}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, record in enumerate(records):
            png = io.BytesIO()
            Image.fromarray(record["segmentation"].astype(np.uint8) * 255).save(png, format="PNG")
            name = f"{image_name}_mask{i + 1}.png"
            archive.writestr(name, png.getvalue())
            manifest["masks"].append({"file": name, **{key: record[key] for key in (
                "area", "bbox", "predicted_iou", "stability_score", "point_coords", "crop_box")}})
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
    return buffer.getvalue()


def render(image: np.ndarray, image_name: str, model, k: PageKeys) -> None:
    """The whole mode: settings, the run with a progress bar, the overlay, the filter counts, the export."""
    if model is None:  # clicks go to the model service, which has no generator endpoint
        st.info("Segment everything runs on this app's own model: switch the sidebar's model server off.")
        return
    settings = _settings(k)
    small, _ = widgets.downscale_for_display(image, EVERYTHING_MAX_SIDE)
    _, info = session.current_model()
    cache_key = (info.cache_key, session.image_hash(small), tuple(sorted(settings.items())))
    cached = st.session_state.get(k("ev_result"))
    if cached is None or cached[0] != cache_key:
        bar = st.progress(0.0, text="Decoding the grid ...")
        generator = SamAutomaticMaskGenerator(model, points_per_batch=points_per_batch_for(model.device),
                                              **{key: (int(v) if isinstance(v, int) else float(v))
                                                 for key, v in settings.items()})
        records = generator.generate(small, progress=lambda d, t: bar.progress(d / t, text=f"point batch {d}/{t}"))
        bar.empty()
        cached = (cache_key, records, dict(generator.last_counts))
        st.session_state[k("ev_result")] = cached
    _, records, counts = cached
    left, right = st.columns([3, 2])
    left.image(overlay(small, [r["segmentation"] for r in records]), width="stretch",
               caption=f"{len(records)} masks · {small.shape[1]} x {small.shape[0]} px")
    with right:
        st.markdown("**What each filter kept**")
        st.dataframe(filter_rows(counts), hide_index=True)
        if records:
            st.download_button(f"Download {len(records)} masks (PNG + JSON, zip)",
                               export_zip(records, image_name, settings), file_name=f"{image_name}_masks.zip",
                               mime="application/zip", key=k("ev_download"), on_click="ignore")
