"""The segmentation problem (outline section 3) and the hook (section 4).

Live: a label, a box and a mask of the same generated scene. Computation: lesson_content/segmentation_primer.py;
text: lesson_content/prose/segmentation.md.
"""

import streamlit as st

from lesson_content import segmentation_primer as primer
from lesson_content import traced_click as tc
from lesson_content.prose import render
from sam_core.masks import tight_box
from ui import page, session, widgets

examples = session.get_examples()

st.title("The segmentation problem")
page.instructor_note(examples, ("prompt_click", "scene"))
st.markdown(render("segmentation.intro"))

try:
    with st.spinner("Drawing the scene ..."):
        thread = tc.traced_click(examples)
except Exception as error:
    thread = None
    st.error(f"The scene could not be rendered: {type(error).__name__}: {error}")

model, info = session.current_model()
run = None
if thread is not None and model is not None:
    try:
        run = page.traced_prediction(thread.scene.image, points=[thread.point], labels=[1])
    except Exception as error:
        st.error(f"The model could not segment the scene: {type(error).__name__}: {error}")
elif model is None:
    st.warning(f"No model is running ({info.message or info.status}). The panels show the scene "
               "generator's own outline instead of SAM's answer.", icon=":material/hourglass_empty:")

if thread is not None:
    scene, click, target = thread.scene, thread.point, thread.target
    result = primer.primer_result(target, click, run.masks, run.scores) if run is not None else None
    if target is None:
        st.info(render("segmentation.miss", x=click[0], y=click[1], size=thread.size, kind=thread.kind),
                icon=":material/touch_app:")
    if result is not None:
        label, box, mask = result.label, result.box, result.mask
    elif target is not None:  # no model: the generator's ground truth, said so above
        label, mask, box = target.phrase, target.mask, tight_box(target.mask)
    else:
        label, mask, box = None, None, None

    shown, scale = widgets.downscale_for_display(scene.image, 560)
    panels = st.columns(4 if target is not None else 3)
    with panels[0]:
        st.markdown("**Classification**")
        st.image(shown, width="stretch")
        st.markdown(f"### “{label}”" if label else "### (no object here)")
    with panels[1]:
        st.markdown("**Detection**")
        st.image(widgets.draw_prompts(shown, box=box, scale=scale) if box is not None else shown, width="stretch")
        if box is not None:
            st.caption(f"box ({box[0]}, {box[1]}) – ({box[2]}, {box[3]})"
                       + (", the extent of SAM's mask" if result is not None else ", the true outline's extent"))
    with panels[2]:
        st.markdown("**Segmentation** (SAM)" if result is not None else "**Segmentation** (true outline)")
        picture = widgets.mask_overlay(shown, widgets.resize_mask(mask, shown.shape[:2])) if mask is not None else shown
        st.image(widgets.draw_prompts(picture, points=[click], labels=[1], scale=scale), width="stretch")
        if mask is not None:
            st.caption(f"mask of {int(mask.sum()):,} pixels" + ("" if result is not None else " (generator's outline)"))
    if target is not None:
        with panels[3]:
            st.markdown("**True outline** (the generator's)")
            truth = widgets.mask_overlay(shown, widgets.resize_mask(target.mask, shown.shape[:2]),
                                         widgets.MASK_COLORS[1 % len(widgets.MASK_COLORS)])
            st.image(truth, width="stretch")
            st.caption(f"{target.area:,} pixels, drawn by the scene generator")

    if result is not None and target is not None:
        st.markdown(render(
            "segmentation.panels_caption", label=result.label, box_w=box[2] - box[0] + 1, box_h=box[3] - box[1] + 1,
            mask_area=result.mask_area, click_x=click[0], click_y=click[1], score=result.score,
            true_iou=result.true_mask_iou, verdict=primer.agreement_words(result.true_mask_iou)))
        st.markdown(render("segmentation.richest", box_area=result.box_area,
                           background_pct=100 * result.background_in_box, background=thread.background_words,
                           target=target.name, true_background_pct=100 * primer.true_box_background(target)))
    elif result is None and target is not None:
        st.markdown(render("segmentation.richest", box_area=primer.box_area(box),
                           background_pct=100 * primer.true_box_background(target), background=thread.background_words,
                           target=target.name, true_background_pct=100 * primer.true_box_background(target)))
    if label:
        st.caption(render("segmentation.label_source", label=label))

class_name = thread.target.name if thread is not None and thread.hit else "dog"  # a miss: the plan's example word
st.warning(render("segmentation.not_classifier", class_name=class_name), icon=":material/content_cut:")

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
