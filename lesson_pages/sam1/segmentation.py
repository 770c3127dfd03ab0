"""The segmentation problem (outline section 3) and the hook (section 4).

Live: a label, a box and a mask of the same generated scene. Computation: lesson_content/segmentation_primer.py;
text: lesson_content/prose/segmentation.md.
"""

import numpy as np
import streamlit as st

from lesson_content import segmentation_primer as primer
from lesson_content.prose import render
from lesson_content.scene_targets import load_scene
from sam_core.masks import tight_box
from ui import page, session, widgets

examples = session.get_examples()
click_cfg, scene_cfg = examples["prompt_click"], examples["scene"]

st.title("The segmentation problem")
st.markdown(render("segmentation.intro"))

try:
    with st.spinner("Drawing the scene ..."):
        scene = load_scene(scene_cfg["kind"], scene_cfg["seed"], click_cfg["image_size"])
except Exception as error:
    scene = None
    st.error(f"The scene could not be rendered: {type(error).__name__}: {error}")

model, info = session.current_model()
result = None
if scene is not None and model is not None:
    try:
        prompt = primer.primer_prompt(scene, (click_cfg["x"], click_cfg["y"]))
        if prompt is not None:
            target, click = prompt
            run = page.traced_prediction(scene.image, points=[click], labels=[1])
            result = primer.primer_result(target, click, run.masks, run.scores)
    except Exception as error:
        st.error(f"The model could not segment the scene: {type(error).__name__}: {error}")
elif model is None:
    st.warning(f"No model is running ({info.message or info.status}). The panels show the scene "
               "generator's own outline instead of SAM's answer.", icon=":material/hourglass_empty:")

if scene is not None:
    if result is not None:
        label, box, mask, click = result.label, result.box, result.mask, result.click
    else:  # no model: fall back to the generator's ground truth, said so above
        target, click = primer.primer_prompt(scene, (click_cfg["x"], click_cfg["y"]))
        label, mask = target.phrase, target.mask
        box = tight_box(target.mask)

    shown, scale = widgets.downscale_for_display(scene.image, 520)
    panels = st.columns(3)
    with panels[0]:
        st.markdown("**Classification**")
        st.image(shown, width="stretch")
        st.markdown(f"### “{label}”")
    with panels[1]:
        st.markdown("**Detection**")
        st.image(widgets.draw_prompts(shown, box=box, scale=scale), width="stretch")
        st.caption(f"box ({box[0]}, {box[1]}) – ({box[2]}, {box[3]})")
    with panels[2]:
        st.markdown("**Segmentation**")
        overlay = widgets.mask_overlay(shown, widgets.resize_mask(mask, shown.shape[:2]))
        st.image(widgets.draw_prompts(overlay, points=[click], labels=[1], scale=scale), width="stretch")
        st.caption(f"mask of {int(np.sum(mask)):,} pixels" + ("" if result is not None else " (generator's outline)"))

    if result is not None:
        st.markdown(render(
            "segmentation.panels_caption", label=result.label, box_w=box[2] - box[0] + 1, box_h=box[3] - box[1] + 1,
            mask_area=result.mask_area, click_x=click[0], click_y=click[1], score=result.score,
            true_iou=result.true_mask_iou))
        background = result.background_in_box
        box_area = result.box_area
    else:
        box_area = primer.box_area(box)
        background = 1.0 - float(np.sum(mask)) / max(box_area, 1)
    st.markdown(render("segmentation.richest", box_area=box_area, background_pct=100 * background))
    st.caption(render("segmentation.label_source", label=label))

st.warning(render("segmentation.not_classifier"), icon=":material/content_cut:")

st.subheader("Semantic, instance, panoptic")
st.markdown(render("segmentation.variants"))

st.header("Hook: the segmentation bottleneck")
st.markdown(render("segmentation.hook"))
st.markdown(render("segmentation.gpt"))
st.subheader("The universal cookie cutter")
st.markdown(render("segmentation.cookie_1"))
st.markdown(render("segmentation.cookie_2"))
st.success(render("segmentation.what_if"), icon=":material/lightbulb:")
st.subheader("One core, three generations")
st.markdown(render("segmentation.evolution"))
