"""§10 The SA-1B data engine: the paper's three stages with their sources, the same stages measured here
(the committed `python -m sam_core.data_engine` run), the model <-> data loop as a curve, and the
automatic mask generator live on a scene the student picks.
Computation: lesson_content/data_engine_view.py; text: lesson_content/prose/data_engine.md.
"""

import numpy as np
import streamlit as st

from lesson_content import data_engine_view as view
from lesson_content import plots
from lesson_content.prose import render
from sam_core.scenes.splits import HELD_OUT_SEED, TRAIN_KINDS
from ui import page, session

k = page.PageKeys("data_engine")
dark = page.dark_theme()

st.title("The SA-1B data engine")
st.markdown(render("data_engine.intro"))

# ---- the paper -------------------------------------------------------------------------------------------
st.header("Three stages, as the SAM paper reports them")
st.markdown(render("data_engine.paper", **view.paper_values()))
st.dataframe(view.paper_table(), hide_index=True)
st.markdown(render("data_engine.stages", **view.paper_values()))

# ---- measured here ----------------------------------------------------------------------------------------
st.header("The same three stages, measured here")
run = view.load_run()
if run is None:
    st.warning("No committed run yet: `python -m sam_core.data_engine` writes assets/data_engine/run.json.")
else:
    values = view.run_values(run)
    st.markdown(render("data_engine.measured", **values))
    st.dataframe(view.run_table(run), hide_index=True)
    st.subheader("Model ↔ data: one turn of the loop")
    st.markdown(render("data_engine.loop", **values))
    st.dataframe(view.before_after(run), hide_index=True)
    steps, losses = view.finetune_curve(run)
    st.image(plots.png(plots.line_plot, np.array(steps), {"training loss": np.array(losses)}, xlabel="fine-tune step",
                              ylabel="loss", title="Fine-tune on the engine's masks", dark=dark), width="content")

# ---- live --------------------------------------------------------------------------------------------------
st.header("Segment everything, live")
st.markdown(render("data_engine.live"))
model, info = session.current_model()
if model is None:
    st.warning(info.message)
    st.stop()
row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
kind = row.selectbox("Scene", TRAIN_KINDS, key=k("kind"), width=160)
seed = row.number_input("Held-out seed", HELD_OUT_SEED, HELD_OUT_SEED + 9999, HELD_OUT_SEED, key=k("seed"),
                        width=180)
grid = row.select_slider("Grid side", [8, 16, 32], value=8, key=k("grid"), width=200)
iou_t = row.slider("Predicted IoU >", 0.0, 1.0, 0.7, 0.05, key=k("iou"), width=200)
stab_t = row.slider("Stability ≥", 0.0, 1.0, 0.8, 0.05, key=k("stab"), width=200)
nms_t = row.slider("Box NMS IoU", 0.1, 1.0, 0.7, 0.05, key=k("nms"), width=200)

bar = st.progress(0.0, text="Decoding the grid ...")
result = view.live_generate(model, kind, int(seed), int(grid), float(iou_t), float(stab_t), float(nms_t),
                            progress=lambda done, total: bar.progress(done / total, text=f"point batch {done}/{total}"))
bar.empty()
left, right = st.columns(2)
with left:
    st.image(view.grid_image(result.image, result.grid_points), caption=f"{len(result.grid_points)} grid points",
             width="stretch")
    st.dataframe(view.filter_rows(result.counts), hide_index=True)
with right:
    st.image(view.overlay(result.image, [r["segmentation"] for r in result.records]),
             caption=f"{len(result.records)} masks", width="stretch")
    st.dataframe(view.live_match_rows(result.match), hide_index=True)
