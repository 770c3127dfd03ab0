"""Segment: click an image, get SAM's three candidate masks with their predicted IoU scores."""

import io

import numpy as np
import streamlit as st
from PIL import Image

from sam_core.prompts import BACKGROUND, FOREGROUND
from ui import images, model_server, segment_everything, session, sidebar, widgets
from ui.page import PageKeys
from ui.prompt_state import PromptState

k = PageKeys("segment")
MODES = {"Foreground point": FOREGROUND, "Background point": BACKGROUND, "Box": None}  # None: a box

st.title("Segment")
st.caption(
    "Click the image: the prompt encoder turns your click into tokens, the mask decoder returns three "
    "candidate masks (part, object, whole) and its own estimate of each mask's IoU."
)

# ---- choose an image --------------------------------------------------------------------------------
source_options = ["Photo", "Scene", "Upload"] if images.scene_kinds() else ["Photo", "Upload"]
# Horizontal containers wrap on narrow screens instead of squeezing the widgets.
picker = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
source = picker.radio("Image", source_options, key=k("source"), horizontal=True, width="content")
image, image_name, note = None, "", ""
if source == "Photo":
    name = picker.selectbox("Photo", list(images.BUNDLED_IMAGES), key=k("photo"), width=340,
                               format_func=lambda n: images.BUNDLED_IMAGES[n][1])
    image, image_name = images.load_bundled(name), name
elif source == "Scene":
    kind = picker.selectbox("Scene", images.scene_kinds(), key=k("scene"), width=200)
    seed = picker.number_input("Seed", 0, 9999, 0, key=k("seed"), width=140)
    try:
        image, image_name = images.load_scene(kind, int(seed)), f"{kind}_{seed}"
    except Exception as error:
        st.error(f"The scene could not be rendered: {type(error).__name__}: {error}")
else:
    upload = picker.file_uploader("Your image", key=k("upload"), width=420,
                                     type=["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"])
    if upload is not None:
        cache = st.session_state.get(k("upload_cache"))
        if cache is None or cache[0] != upload.file_id:
            decoded, message = images.load_upload(upload.getvalue())
            if decoded is not None:
                decoded.flags.writeable = False  # kept for this session; read-only lets ui memoise it
            cache = (upload.file_id, decoded, message)
            st.session_state[k("upload_cache")] = cache
        _, image, note = cache
        image_name = upload.name.rsplit(".", 1)[0] or "upload"
        if image is None:
            st.error(note)
        elif note:
            st.info(note)
    else:
        st.info("Upload a photo (PNG, JPEG, GIF, BMP, TIFF or WebP). It stays in your session only.")

if image is None:
    st.stop()

# ---- prompts: reset when the image changes ------------------------------------------------------------
PromptState(st.session_state, k.prefix).start_image(session.image_hash(image))

# ---- the model ------------------------------------------------------------------------------------------
remote = model_server.status().state != "off"  # the sidebar's "Model server": clicks go to the service
predictor_for = model_server.predictor_for if remote else session.predictor_for
model, info = (None, None) if remote else session.current_model()
if model is None and not remote:
    if info.status == "no_weights":
        st.warning(
            "**No weights yet.** The embedded nano model has not been trained yet, so there is nothing "
            "to click with. Use the **Download** button in the sidebar for a known model (MobileSAM "
            "or SAM ViT-B), or load a local checkpoint there.", icon=":material/hourglass_empty:")
    else:
        st.warning(info.message, icon=":material/warning:")
    st.image(image, caption=f"{image_name}: {image.shape[1]} x {image.shape[0]} px", width="stretch")
    st.stop()


# Encode as soon as the image is shown, so the first click only runs the light decoder.
with st.spinner("Encoding the image (once per image) ..."):
    predictor_for(image)


@st.fragment
def interact(image: np.ndarray, image_name: str) -> None:
    """The interactive part. A click reruns only this fragment: not app.py's sidebar, not the picker."""
    # ---- apply a new click before drawing, so the image shows its result right away --------------------
    prompts = PromptState(st.session_state, k.prefix)
    click = widgets.pending_click(k("canvas"), image.shape[:2])
    if click is not None:
        prompts.apply(click, MODES[st.session_state.get(k("mode"), next(iter(MODES)))])
    points, labels, box = prompts.points, prompts.labels, prompts.box

    controls = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    mode = controls.radio("Click adds", list(MODES), key=k("mode"), horizontal=True, width="content",
                          help="Box: drag across the object, or click two opposite corners.")
    multimask = controls.toggle("Three masks", value=True, key=k("multimask"), width="content",
                                help="On: the decoder's three mask tokens (part, object, whole). Off: the "
                                "single-mask token.")
    controls.button("Undo", key=k("undo"), on_click=prompts.undo, icon=":material/undo:",
                    disabled=not prompts.can_undo)
    controls.button("Clear", key=k("clear"), on_click=prompts.clear, icon=":material/clear_all:")

    predictor = predictor_for(image)  # the same embedding: the image hash is memoised
    masks, scores = None, None
    if prompts.has_prompt:
        masks, scores, _ = predictor.predict(
            point_coords=np.array(points, dtype=np.float32) if points else None,
            point_labels=np.array(labels, dtype=np.int64) if points else None,
            box=np.array(box, dtype=np.float32) if box is not None else None,
            multimask_output=multimask,
        )
    best = int(np.argmax(scores)) if scores is not None else 0
    chosen = min(st.session_state.get(k("chosen"), best), len(scores) - 1) if scores is not None else 0
    if click is not None and scores is not None:
        chosen = best  # a new prompt shows its best mask first
        st.session_state[k("chosen")] = best

    # ---- draw -----------------------------------------------------------------------------------------------
    left, right = st.columns([3, 2])
    with left:
        widgets.clickable_image(
            image, key=k("canvas"), points=points, labels=labels, box=box,
            mask=masks[chosen] if masks is not None else None,
            mask_color=widgets.MASK_COLORS[chosen % len(widgets.MASK_COLORS)],
            pending_corner=prompts.corner, drag=MODES[mode] is None,
        )
        hint = {FOREGROUND: "Click on the object you want.", BACKGROUND: "Click where the mask should NOT be.",
                None: "Drag a box around the object (or click two opposite corners)."}[MODES[mode]]
        st.caption(f"{hint} Points: {len(points)} · box: {'yes' if box is not None else 'no'} · "
                   f"{image.shape[1]} x {image.shape[0]} px")

    with right:
        if masks is None:
            st.info("No prompt yet: click the image to get masks.", icon=":material/touch_app:")
        else:
            st.markdown(f"**{len(scores)} candidate mask{'s' if len(scores) > 1 else ''}** "
                        "(the score is the decoder's predicted IoU)")
            small, _ = widgets.downscale_for_display(image, 320)  # memoised per image
            columns = st.columns(len(scores))
            for index, column in enumerate(columns):
                color = widgets.MASK_COLORS[index % len(widgets.MASK_COLORS)]
                thumb = widgets.mask_overlay(small, widgets.resize_mask(masks[index], small.shape[:2]), color)
                star = " ★ best" if index == best else ""
                column.image(thumb, width="stretch", output_format="JPEG")
                column.markdown(f"Mask {index + 1}  \nIoU score **{scores[index]:.3f}**{star}")
                column.button("Show", key=k(f"show_{index}"), width="stretch",
                              type="primary" if index == chosen else "secondary",
                              on_click=st.session_state.__setitem__, args=(k("chosen"), index))
            buffer = io.BytesIO()
            Image.fromarray(masks[chosen].astype(np.uint8) * 255).save(buffer, format="PNG", compress_level=1)
            st.download_button(f"Download mask {chosen + 1} as PNG", buffer.getvalue(),
                               file_name=f"{image_name}_mask{chosen + 1}.png", mime="image/png", key=k("download"),
                               on_click="ignore")  # downloading needs no rerun
            if predictor.last_timings_ms:
                st.caption("Measured: " + widgets.format_timings(predictor.last_timings_ms))

        sidebar.render_timings()  # the fragment does not rerun app.py, so refresh the sidebar's timings


if segment_everything.mode_toggle(k):  # the automatic mask generator instead of clicks
    segment_everything.render(image, image_name, model, k)
    st.stop()
interact(image, image_name)
