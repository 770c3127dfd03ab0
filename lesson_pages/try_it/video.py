"""Try it: Video. A generated clip or an upload; up to three objects with positive / negative clicks on any
frame; propagate forward, backward or both with a progress bar; scrub the result; correct with more clicks
and propagate again; remove an object or start over (SAM 2's remove_object / reset_state); export a zip of
PNG masks per frame per object plus manifest.json.
Computation: lesson_content/video_tracking.py; uploads: ui/video_upload.py.
"""

import streamlit as st

from lesson_content import video_tracking as vt
from ui import model_server, page, part2_models, video_upload, widgets

k = page.PageKeys("tryvideo")
st.title("Video: click once, track through the clip")
st.caption("Click an object on any frame, propagate, scrub, correct, propagate again. Up to "
           f"{vt.MAX_OBJECTS} objects.")

predictor, status = (model_server.video_predictor() if model_server.status().state != "off"  # sidebar choice
                     else part2_models.sam2_video_predictor())
source = st.radio("Video", ["Generated clip", "Upload"], horizontal=True, key=k("source"))
frames, video_name = None, ""
if source == "Generated clip":
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    kind = row.selectbox("Scene", ("savanna", "street", "desk", "orchard", "person"), key=k("kind"), width=180)
    seed = row.number_input("Seed", 0, 2_000_000_000, 1, key=k("seed"), width=160)
    length = row.slider("Frames", 8, video_upload.MAX_FRAMES, 24, key=k("frames"), width=220)
    frames, video_name = list(page.generated_clip(kind, int(seed), int(length), 256).frames), f"{kind}_{seed}_{length}f"
    clip_id = page.generated_clip_key(kind, seed, length, 256)
else:
    upload = st.file_uploader(f"Your video: {video_upload.LIMITS_TEXT}", key=k("upload"),
                              type=["zip", "mp4", "webm", "mov", "mkv", "avi"])
    if upload is not None:
        cache = st.session_state.get(k("upload_cache"))
        if cache is None or cache[0] != upload.file_id:
            cache = (upload.file_id, *video_upload.load_video_upload(upload.getvalue(), upload.name))
            st.session_state[k("upload_cache")] = cache
        clip_id, frames, note = cache  # a new upload (even of the same name) gets a new file_id: a new session
        if frames is None:
            st.error(note)
        elif note:
            st.info(note)
        video_name = upload.name.rsplit(".", 1)[0][:40] or "upload"
if frames is None:
    st.stop()
if not status.ready:
    st.image(frames[0], width="stretch")
    st.warning(status.message)
    st.stop()

session_key = (status.cache_key, clip_id, len(frames), frames[0].shape)
stored = st.session_state.get(k("session"))
if stored is None or stored[0] != session_key:
    # the frames' encoder outputs are computed in the background from now on (a generated clip's are shared)
    features = (part2_models.frame_features(predictor, status, clip_id, frames) if source == "Generated clip"
                else part2_models.private_frame_features(predictor, frames))
    with st.spinner("Reading the video ..."):
        stored = (session_key, vt.TrackingSession(predictor, frames, frame_features=features))
    st.session_state[k("session")] = stored
tracking: vt.TrackingSession = stored[1]

controls = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
frame = controls.slider("Frame", 0, tracking.num_frames - 1, 0, key=k("frame"), width=360)
obj_id = controls.radio("Object", list(range(1, vt.MAX_OBJECTS + 1)), horizontal=True, key=k("obj"), width="content")
positive = controls.toggle("Positive click", value=True, key=k("positive"))

click = widgets.pending_click(k("canvas"), frames[frame].shape[:2])
if click is not None:
    try:
        tracking.click(frame, obj_id, click.x0, click.y0, positive)
    except ValueError as error:
        st.warning(str(error))

shown = frames[frame]
for oid, mask in sorted(tracking.masks.get(frame, {}).items()):
    shown = widgets.mask_overlay(shown, mask, widgets.MASK_COLORS[(oid - 1) % len(widgets.MASK_COLORS)])
clicks = tracking.prompts.get((frame, obj_id), [])
left, right = st.columns([3, 2])
with left:
    widgets.clickable_image(shown, key=k("canvas"), points=[(x, y) for x, y, _ in clicks],
                            labels=[label for _, _, label in clicks], drag=False)
with right:
    direction = st.radio("Propagate", vt.DIRECTIONS, index=2, horizontal=True, key=k("direction"))
    if st.button("Propagate", type="primary", key=k("propagate"), disabled=not tracking.prompts):
        bar = st.progress(0.0, text="Propagating ...")
        import time

        start = time.perf_counter()
        for done, total in tracking.propagate(direction):
            bar.progress(done / total, text=f"Frame {done} of {total}")
        bar.empty()
        st.session_state[k("last_run")] = (time.perf_counter() - start, tracking.num_frames)
        st.rerun()
    last = st.session_state.get(k("last_run"))
    if last is not None:
        st.caption(f"Last propagation: {last[0]:.2f} s for {last[1]} frames on {status.name}.")
    st.markdown("**Prompts**: " + ("; ".join(f"object {o} on frame {f}: {len(c)} click(s)"
                                               for (f, o), c in sorted(tracking.prompts.items())) or "none yet"))
    tracked = sorted(tracking.masks)
    st.caption(f"Masks on {len(tracked)} of {tracking.num_frames} frames.")
    edit = st.container(horizontal=True, gap="small")
    help_text = None if tracking.can_edit_objects else "not available through the model server"
    if edit.button(f"Remove object {obj_id}", key=k("remove"), help=help_text,
                   disabled=not tracking.can_edit_objects or obj_id not in tracking.objects):
        tracking.remove_object(obj_id)
        st.rerun()
    if edit.button("Start over", key=k("reset"), help=help_text,
                   disabled=not tracking.can_edit_objects or not tracking.prompts):
        tracking.reset()
        st.rerun()
    if tracking.prompts:
        st.download_button("Export masks (zip: PNG per frame per object + manifest.json)",
                           tracking.export_zip(video_name, status.name), file_name=f"{video_name}_masks.zip",
                           mime="application/zip", key=k("export"))
