"""SAM's architecture (outline section 5): three components, shapes from the loaded model beside real SAM
ViT-H's, and "heavy encoder once, light decoder per prompt" measured live.

Computation: lesson_content/architecture.py; text: lesson_content/prose/architecture.md.
"""

import altair as alt
import pandas as pd
import streamlit as st

from lesson_content import architecture, segmentation_primer
from lesson_content.prose import render
from lesson_content.scene_targets import load_scene
from ui import page, session

k = page.PageKeys("architecture")

examples = session.get_examples()
timing_cfg, click_cfg, scene_cfg = examples["timing_check"], examples["prompt_click"], examples["scene"]


@st.cache_resource(show_spinner="Reading real SAM ViT-H's shapes (built on the meta device, no weights) ...")
def reference_summary():
    return architecture.reference_summary()


st.title("SAM's architecture")
model, info = session.current_model()
ref = reference_summary()
summary = page.model_cached(architecture.summary_for, info.model_type) if model is not None else ref
if model is None:
    st.warning(f"No model is running ({info.message or info.status}); both columns show real SAM.", icon=":material/hourglass_empty:")

st.markdown(render("architecture.intro", model_name=info.name, ref_name=ref.name,
                   ref_params_m=ref.total_params / 1e6))

st.dataframe(pd.DataFrame(architecture.shape_rows(summary, ref)), hide_index=True, width="stretch")

dark = page.dark_theme()
_, diagram_col, _ = st.columns([1, 4, 1])
diagram_col.graphviz_chart(architecture.dot_diagram(summary, ref, dark=dark), width="stretch")
st.caption(render("architecture.diagram_caption"))

st.markdown(render(
    "architecture.encoder", ref_name=ref.name, ref_size=ref.input_size, ref_grid=ref.grid,
    ref_width=ref.image_embedding[1], ref_encoder_params_m=ref.params["image_encoder"] / 1e6,
    model_encoder_type=summary.encoder_type, model_size=summary.input_size, model_grid=summary.grid,
    model_width=summary.image_embedding[1]))
st.markdown(render("architecture.prompt_encoder", ref_name=ref.name, ref_prompt_params=ref.params["prompt_encoder"],
                   box_tokens=summary.box_tokens[1]))
st.markdown(render(
    "architecture.decoder", decoder_depth=summary.decoder_depth, mask_tokens=summary.mask_tokens,
    multimask=summary.multimask_outputs, low_res=ref.low_res_masks[-1], model_low_res=summary.low_res_masks[-1],
    ref_name=ref.name, model_name=info.name, ref_decoder_params_m=ref.params["mask_decoder"] / 1e6))

st.warning(render(
    "architecture.not_unet", decoder_depth=ref.decoder_depth, tokens=ref.decoder_tokens,
    grid=ref.grid, model_grid=summary.grid, model_name=info.name, upscale_convs=ref.upscale_convs, ref_name=ref.name,
    decoder_pct=100 * ref.params["mask_decoder"] / ref.total_params), icon=":material/warning:")

# ---- heavy encoder once, light decoder per prompt -------------------------------------------------------
st.header("Heavy encoder once, light decoder per prompt")
clicks = int(timing_cfg["clicks"])
claim_total, claim_naive = architecture.claimed_totals(clicks, timing_cfg["encoder_ms_claim"],
                                                       timing_cfg["decoder_ms_claim"])
claims = dict(ref_name=ref.name, enc_claim=timing_cfg["encoder_ms_claim"], dec_claim=timing_cfg["decoder_ms_claim"],
              clicks=clicks, claim_total=claim_total,
              claim_per=timing_cfg["encoder_ms_claim"] + timing_cfg["decoder_ms_claim"], claim_naive=claim_naive)

if model is None:
    st.markdown(render("architecture.claims", **claims))
    st.stop()



def measure(model, kind: str, seed: int, size: int, clicks: int, run: int) -> architecture.Amortization:
    """Timings belong to the machine, not the student: shared by sessions until "Measure again"."""
    scene = load_scene(kind, seed, size)
    points = segmentation_primer.object_clicks(scene, clicks) or [(scene.size // 2, scene.size // 2)] * clicks
    return architecture.measure_amortization(model, scene.image, points, encoder_runs=3)


timing_image_side = int(click_cfg["image_size"])
if st.button("Measure again", key=k("measure")):
    st.session_state[k("run")] = st.session_state.get(k("run"), 0) + 1  # a new cache entry: measured again
with st.spinner(f"Encoding the scene, then {clicks} clicks ..."):
    timing = page.model_cached(measure, scene_cfg["kind"], scene_cfg["seed"], click_cfg["image_size"], clicks,
                               st.session_state.get(k("run"), 0))

st.markdown(render(
    "architecture.amortization" if timing.ratio > 1 else "architecture.amortization_noisy", device=timing.device, enc_ms=timing.encoder_median, enc_runs=len(timing.encoder_ms),
    clicks=timing.n_clicks, click_ms=timing.click_median, ratio=timing.ratio, amortized=timing.amortized_total,
    naive=timing.naive_total))
split = timing.split_medians
st.markdown(render("architecture.click_split", clicks=timing.n_clicks, click_ms=timing.click_median,
                   prompt_ms=split["prompt encoder"], decoder_ms=split["mask decoder"],
                   rest_ms=split["upsampling + rest"], image_h=timing_image_side, image_w=timing_image_side,
                   low_res=summary.low_res_masks[-1]))
st.caption(page.measured_label(timing))

steps = list(range(0, timing.n_clicks + 1))
rows = []
for n in steps:
    rows.append({"clicks": n, "design": "encoder once (SAM)",
                 "ms": timing.encoder_median + n * timing.click_median})
    rows.append({"clicks": n, "design": "encoder every click", "ms": n * (timing.encoder_median + timing.click_median)})
chart = (
    alt.Chart(pd.DataFrame(rows))
    .mark_line(point=True)
    .encode(x=alt.X("clicks:Q", axis=alt.Axis(tickMinStep=1), title="clicks on the same image"),
            y=alt.Y("ms:Q", title="total time (ms), measured"),
            color=alt.Color("design:N", title=None, legend=alt.Legend(orient="top")))
    .properties(height=260)
)
st.altair_chart(chart, width="stretch")
with st.expander("Every timing of this measurement"):
    st.dataframe(pd.DataFrame({
        "step": ["encode (each run)"] * len(timing.encoder_ms) + [f"click {i + 1}" for i in range(timing.n_clicks)],
        "ms": list(timing.encoder_ms) + list(timing.click_ms),
        "of which decoder ms": [None] * len(timing.encoder_ms) + list(timing.mask_decoder_ms),
    }).round(1), hide_index=True, width="stretch")

st.markdown(render("architecture.claims", **claims))
st.success(render("architecture.of_course"), icon=":material/lightbulb:")
