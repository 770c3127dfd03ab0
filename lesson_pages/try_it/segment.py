"""Segment: click an image, get SAM's three candidate masks with their predicted IoU scores."""

import functools
import io

import numpy as np
import streamlit as st
from PIL import Image

from sam_core.prompts import BACKGROUND, FOREGROUND
from ui import (
    click_log,
    images,
    model_queue,
    model_server,
    segment_everything,
    session,
    sidebar,
    widgets,
    work_store,
)
from ui.page import PageKeys
from ui.prompt_state import MAX_POINTS, PromptState

k = PageKeys("segment")
MODES = {"Foreground point": FOREGROUND, "Background point": BACKGROUND, "Box": None}  # None: a box

st.title("Segment")
st.caption(
    "Click the image: the prompt encoder turns your click into tokens, the mask decoder returns three "
    "candidate masks (part, object, whole) and its own estimate of each mask's IoU."
)

# ---- the student's saved work (a reload or a server restart): widget values first ----------------------
source_options = ["Photo", "Scene", "Upload"] if images.scene_kinds() else ["Photo", "Upload"]
work = work_store.PageWork(k.prefix, {  # each saved value checked against what the widget accepts now
    "source": lambda v: v in source_options, "photo": lambda v: v in images.BUNDLED_IMAGES,
    "scene": lambda v: v in images.scene_kinds(), "seed": lambda v: type(v) is int and 0 <= v <= 9999,
    "mode": lambda v: v in MODES, "multimask": lambda v: type(v) is bool,
    "chosen": lambda v: type(v) is int and 0 <= v < 3})
saved = work.restore_widgets()
store = work.store

# ---- choose an image --------------------------------------------------------------------------------
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
        else:
            if note:
                st.info(note)
            if store.put_image(image, session.image_hash(image)):  # kept for a reload (bounded, expiring)
                st.session_state[k("upload_kept")] = {"hash": session.image_hash(image), "name": image_name}
    elif saved and saved.get("upload") and k("upload_kept") not in st.session_state:
        st.session_state[k("upload_kept")] = saved["upload"]  # the uploader is empty after a reload
    kept = st.session_state.get(k("upload_kept"))
    if upload is None and kept:
        image = store.get_image(kept.get("hash", ""))
        image_name = str(kept.get("name", "upload"))[:80]
        if image is None:
            st.session_state.pop(k("upload_kept"))
    if upload is None and image is None:
        st.info("Upload a photo (PNG, JPEG, GIF, BMP, TIFF or WebP). It is kept for this browser tab only "
                "(a reload brings it back), and deleted after a few days.")

if image is None:
    st.stop()

# ---- prompts: reset when the image changes, restored once after a reload ------------------------------
prompts = PromptState(st.session_state, k.prefix)
prompts.start_image(session.image_hash(image))
if saved:
    work.consumed()
    if prompts.restore(saved.get("prompts", {})):
        st.session_state[click_log.applied_key(k("canvas"))] = saved.get("applied")  # no click twice
        st.toast(f"Restored your work: {image_name} with {len(prompts.points)} point(s)"
                 f"{' and a box' if prompts.box else ''}.", icon=":material/restore:")
        st.session_state[k("restored_note")] = True


def save_work() -> None:
    """Keep this page's state under the tab's token (ui.work_store): a reload or restart brings it back."""
    state = work.widget_values()
    state["seed"] = int(state["seed"]) if state["seed"] is not None else None
    state.update(prompts=PromptState(st.session_state, k.prefix).as_dict(),
                 applied=st.session_state.get(click_log.applied_key(k("canvas"))),
                 upload=st.session_state.get(k("upload_kept")) if source == "Upload" else None)
    work.save(state)


def forget_work() -> None:
    """The "Start over" button: forget the saved work and every prompt (the image choice stays)."""
    work.forget()
    PromptState(st.session_state, k.prefix).clear()
    st.session_state.pop(k("upload_kept"), None)
    st.session_state.pop(k("restored_note"), None)


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
    # Every click since the last run, in order (ui.click_log: fast clicks are queued, not lost).
    prompts = PromptState(st.session_state, k.prefix)
    clicks = click_log.pending_clicks(k("canvas"), image.shape[:2])
    label = MODES[st.session_state.get(k("mode"), next(iter(MODES)))]
    refused = sum(not prompts.apply(click, label) for click in clicks)
    click = clicks[-1] if clicks else None
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
    if st.session_state.get(k("restored_note")):
        controls.button("Start over", key=k("forget"), on_click=forget_work, icon=":material/restart_alt:",
                        help="Your image and prompts were restored from before a reload. This forgets them.")
    notices = st.container()  # always here, so a notice never moves the canvas (its iframe would restart)
    if refused:
        notices.warning(f"At most {MAX_POINTS} points: {refused} click(s) were not added. Undo or clear first.")

    predictor = predictor_for(image)  # the same embedding: the image hash is memoised
    masks, scores = None, None
    if prompts.has_prompt:
        # Local: on the model's worker, where students' calls queue instead of competing for the cores.
        predict = predictor.predict if remote else functools.partial(session.predict, predictor)
        try:
            masks, scores, _ = predict(
                point_coords=np.array(points, dtype=np.float32) if points else None,
                point_labels=np.array(labels, dtype=np.int64) if points else None,
                box=np.array(box, dtype=np.float32) if box is not None else None,
                multimask_output=multimask,
            )
        except model_queue.ModelBusyError as busy:
            notices.warning(str(busy), icon=":material/hourglass_empty:")
    best = int(np.argmax(scores)) if scores is not None else 0
    chosen = min(st.session_state.get(k("chosen"), best), len(scores) - 1) if scores is not None else 0
    if click is not None and scores is not None:
        chosen = best  # a new prompt shows its best mask first
        st.session_state[k("chosen")] = best

    # ---- draw -----------------------------------------------------------------------------------------------
    left, right = st.columns([3, 2])
    with left:
        click_log.clickable_log_image(
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
    save_work()


if segment_everything.mode_toggle(k):  # the automatic mask generator instead of clicks
    segment_everything.render(image, image_name, model, k)
    st.stop()
click_log.watchdog(k("canvas"))  # outside the fragment: see ui.click_log
interact(image, image_name)
