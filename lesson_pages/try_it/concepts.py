"""Try it: Concepts. A scene, a photo or an upload; a noun phrase and/or exemplar boxes (drag on the image;
positive = "more like this", negative = "not like this"); the threshold; every instance as an overlay and a
table; exports: a zip of PNG masks, the merged mask and detections.json (boxes, scores).
Computation: lesson_content/concepts_view.py.
"""

import json

import streamlit as st

from lesson_content import concepts_view as cv
from ui import image_picker, model_server, page, part2_models, widgets

k = page.PageKeys("tryconcepts")
MAX_BOXES = 8

st.title("Concepts: say what to segment")
st.caption("Type what you want segmented — every instance comes back with a mask, a box and a score. Drag a "
           "box around one example to add an exemplar.")
image, image_name = image_picker.pick_image(k, default_kind="street", scene_size=256)
if image is None:
    st.stop()

controls = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
phrase = controls.text_input("Noun phrase", value="red car", max_chars=60, key=k("phrase"), width=260).strip()
threshold = controls.slider("Threshold", 0.0, 1.0, 0.5, 0.05, key=k("threshold"), width=260)
positive = controls.toggle("Next box is a positive exemplar", value=True, key=k("positive"))
if controls.button("Clear boxes", key=k("clear")):
    st.session_state[k("boxes")] = []

remote = model_server.status().state != "off"  # the sidebar's "Model server": /detect answers
processor, status = (None, model_server.part2_status("detect", "sam3")) if remote else \
    part2_models.sam3_processor(threshold)
if not status.ready:
    st.image(image, width="stretch")
    st.warning(status.message)
    st.stop()

boxes = st.session_state.setdefault(k("boxes"), [])
click = widgets.pending_click(k("canvas"), image.shape[:2])
if click is not None and click.kind == "box" and len(boxes) < MAX_BOXES:
    boxes.append((list(click.box), bool(positive)))
elif click is not None and click.kind == "box":
    st.warning(f"At most {MAX_BOXES} exemplar boxes.")

state_key = (status.cache_key, image_name, image.shape)
stored = st.session_state.get(k("image_state"))
if stored is None or stored[0] != state_key:
    stored = (state_key, None if remote else processor.set_image(image))
    st.session_state[k("image_state")] = stored
    st.session_state[k("boxes")] = boxes = []  # a new image: the old exemplars do not apply
if not phrase and not boxes:
    widgets.clickable_image(image, key=k("canvas"), drag=True)
    st.info("Type a phrase or drag a box.")
    st.stop()
result = model_server.detect_concepts(image, phrase, boxes, threshold) if remote else \
    cv.detect_with_boxes(processor, image, phrase, boxes, threshold, stored[1])

shown = image
for i, inst in enumerate(result.instances):
    shown = widgets.mask_overlay(shown, inst.mask, widgets.MASK_COLORS[i % len(widgets.MASK_COLORS)])
for box, _ in boxes:
    shown = widgets.draw_prompts(shown, box=box)
left, right = st.columns([3, 2])
with left:
    widgets.clickable_image(shown, key=k("canvas"), drag=True)
with right:
    st.metric("Presence probability", f"{result.presence:.3f}")
    st.markdown(f"**{len(result.instances)}** instance(s) above {threshold:.2f}; phrase → masks "
                f"{result.seconds * 1000:.0f} ms on {status.name}.")
    if boxes:
        st.caption("Exemplar boxes: " + "; ".join(f"{'+' if p else '−'} {[round(v) for v in b]}" for b, p in boxes))
    if not result.instances and len(result.query_scores):
        st.info(f"No instance above {threshold:.2f}: the best query scored {result.query_scores[0]:.3f}. "
                "Lower the threshold to see what the model proposes.")
    st.dataframe([{"ID": i + 1, "score": round(inst.score, 3), "box": [round(v) for v in inst.box],
                   "area (px)": int(inst.mask.sum())} for i, inst in enumerate(result.instances)], hide_index=True)
    exemplars = [{"box": [round(v, 1) for v in b], "positive": p} for b, p in boxes]
    st.download_button("Download masks (zip: PNG per instance, merged.png, detections.json)",
                       cv.export_zip(result, image_name, status.name, exemplars),
                       file_name=f"{image_name}_concepts.zip", mime="application/zip", key=k("zip"))
    st.download_button("Download detections.json", json.dumps(cv.detections_json(result, image_name, status.name,
                                                                                 exemplars), indent=1),
                       file_name=f"{image_name}_detections.json", mime="application/json", key=k("json"))
