"""SAM in the vision ecosystem (outline §14): SAM as an annotation tool (clicks per mask, measured with the
simulated annotator), SAM's frozen features as a backbone (a linear probe against raw pixels, a similarity
map), and the foundation-model pattern. Computation: lesson_content/ecosystem.py; text: prose/ecosystem.md.
"""

import numpy as np
import streamlit as st

from lesson_content import ecosystem as eco
from lesson_content import paper_claims as claims
from lesson_content.prose import render
from lesson_content.scene_targets import load_scene
from sam_core.data_engine.annotator import MAX_CLICKS
from sam_core.masks import interior_point
from sam_core.scenes import TRAIN_KINDS
from ui import page, session, widgets

k = page.PageKeys("ecosystem")
cfg = session.get_examples()["ecosystem"]
model, info = session.current_model()

st.title("SAM in the vision ecosystem")
st.markdown(render("ecosystem.intro", model_name=info.name))
if model is None:
    st.warning(info.message or "No model is loaded: the measurements on this page need one.")

# ---- annotation tool ---------------------------------------------------------------------------------------------
st.header("An annotation tool")
if model is not None:
    cost = page.model_cached(eco.annotation_cost, cfg["annotation_kind"], int(cfg["annotation_seed"]))
    st.markdown(render("ecosystem.annotation", kind=cost.kind, clicks_per_mask=cost.clicks_per_mask,
                       reached=sum(o.reached for o in cost.objects), objects=len(cost.objects),
                       target_iou=cost.target_iou, budget=MAX_CLICKS, seconds=cost.seconds,
                       first_s=claims.SECONDS_PER_MASK_FIRST, last_s=claims.SECONDS_PER_MASK_LAST,
                       coco=claims.COCO_SPEEDUP, paper=claims.SAM_PAPER))
    st.dataframe([{"object": o.name, "area (px)": o.area, "clicks": o.clicks, "IoU reached": round(o.iou, 3),
                   "≥ target": "yes" if o.reached else "no"} for o in cost.objects], hide_index=True)

# ---- backbone: linear probe ------------------------------------------------------------------------------------
st.header("A backbone")
n_train, n_test = int(cfg["probe_train_per_kind"]), int(cfg["probe_test_per_kind"])
st.markdown(render("ecosystem.backbone", train_scenes=n_train * len(TRAIN_KINDS), test_scenes=n_test * len(TRAIN_KINDS)))
if model is not None:
    if st.button("Fit the linear probes (one encoder run per scene)", key=k("probe_button")):
        st.session_state[k("probe")] = True
    if st.session_state.get(k("probe")):
        with st.spinner("Encoding scenes and fitting two linear probes…"):
            probe = page.model_cached(eco.feature_probe, TRAIN_KINDS, n_train, n_test, int(cfg["probe_first_seed"]))
        st.markdown(render("ecosystem.backbone_result", test_cells=probe.test_cells, classes=len(probe.classes),
                           sam_dims=probe.sam.dims, sam_acc=probe.sam.accuracy, sam_bal=probe.sam.balanced_accuracy,
                           pix_dims=probe.pixels.dims, pix_acc=probe.pixels.accuracy,
                           pix_bal=probe.pixels.balanced_accuracy, chance=probe.chance,
                           scenes=len(probe.train_scenes) + len(probe.test_scenes),
                           encoder_ms=probe.encoder_ms_median, probe_s=probe.probe_s))
        st.dataframe([{"class": c, "recall, SAM features": round(probe.sam.recall.get(c, float("nan")), 3),
                       "recall, raw pixels": round(probe.pixels.recall.get(c, float("nan")), 3)}
                      for c in probe.classes], hide_index=True)

# ---- backbone: similarity map ------------------------------------------------------------------------------------
st.subheader("Where the features agree")
st.markdown(render("ecosystem.similarity"))
if model is not None:
    seed = int(cfg["probe_first_seed"])
    scene_a = load_scene(cfg["similarity_kind"], seed, eco.PROBE_SCENE_SIZE)
    scene_b = load_scene(cfg["similarity_kind"], seed + 1, eco.PROBE_SCENE_SIZE)
    (x, y), _ = page.config_click(k, (cfg["similarity_kind"], seed), interior_point(max(
        scene_a.objects, key=lambda o: o.area if o.level == "object" else 0).mask), scene_a.image.shape[:2])
    sim = page.model_cached(eco.similarity_map_for_scenes, cfg["similarity_kind"], seed, (x, y))
    left, right = st.columns(2)
    with left:
        st.caption(f"Click here: the cell at row {sim.cell[0]}, column {sim.cell[1]} of the {sim.grid}×{sim.grid} grid")
        widgets.clickable_image(eco.heat_overlay(scene_a.image, sim.query), key=k("canvas"), points=[(x, y)],
                                labels=[1], drag=False, max_display_side=420)
    with right:
        st.caption(f"Another scene (seed {seed + 1}): max similarity {float(np.max(sim.other)):.2f}")
        st.image(eco.heat_overlay(scene_b.image, sim.other), width="stretch")

# ---- the pattern ---------------------------------------------------------------------------------------------------
st.header("The foundation-model pattern")
st.markdown(render("ecosystem.pattern"))
st.table(list(eco.FOUNDATION_MODELS))
st.markdown(render("ecosystem.pattern_note", sa1b_images=claims.SA1B_IMAGES_MILLIONS,
                   sa1b_masks=claims.SA1B_MASKS_BILLIONS))
