"""Choose an image: a bundled photo, a generated scene or an upload (decoded safely by ui.images), kept
per session. Used by the Try-it pages.

    image, name = pick_image(PageKeys("concepts"), sources=("Scene", "Photo", "Upload"))   # None if none yet
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import images


def pick_image(keys, sources: tuple[str, ...] = ("Scene", "Photo", "Upload"), default_kind: str | None = None,
               scene_size: int = 512) -> tuple[np.ndarray | None, str]:
    """Widgets to choose an image; returns (uint8 [H, W, 3] read-only, a short name) or (None, "")."""
    available = [s for s in sources if s != "Scene" or images.scene_kinds()]
    picker = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    source = picker.radio("Image", available, key=keys("source"), horizontal=True, width="content")
    if source == "Photo":
        name = picker.selectbox("Photo", list(images.BUNDLED_IMAGES), key=keys("photo"), width=340,
                                format_func=lambda n: images.BUNDLED_IMAGES[n][1])
        return images.load_bundled(name), name
    if source == "Scene":
        kinds = images.scene_kinds()
        kind = picker.selectbox("Scene", kinds, key=keys("scene"), width=200,
                                index=kinds.index(default_kind) if default_kind in kinds else 0)
        seed = picker.number_input("Seed", 0, 2_000_000_000, 1_000_000, key=keys("seed"), width=160)
        try:
            return images.load_scene(kind, int(seed), scene_size), f"{kind}_{seed}"
        except Exception as error:
            st.error(f"The scene could not be rendered: {type(error).__name__}: {error}")
            return None, ""
    upload = picker.file_uploader("Your image", key=keys("upload"), width=420,
                                  type=["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"])
    if upload is None:
        st.info("Upload a photo (PNG, JPEG, GIF, BMP, TIFF or WebP). It stays in your session only.")
        return None, ""
    cache = st.session_state.get(keys("upload_cache"))
    if cache is None or cache[0] != upload.file_id:
        decoded, message = images.load_upload(upload.getvalue())
        if decoded is not None:
            decoded.flags.writeable = False
        cache = (upload.file_id, decoded, message)
        st.session_state[keys("upload_cache")] = cache
    _, image, note = cache
    if image is None:
        st.error(note)
        return None, ""
    if note:
        st.info(note)
    return image, upload.name.rsplit(".", 1)[0][:40] or "upload"
