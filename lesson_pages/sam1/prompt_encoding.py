"""Prompt encoding (outline section 6): the plan's Fourier formula and SAM's real path on the same click.

Click the image to trace your own click; the instructor's [prompt_click] is the default.
Computation: lesson_content/prompt_encoding.py; text: lesson_content/prose/prompt_encoding.md.
"""

import math

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from lesson_content import prompt_encoding as pe
from lesson_content import traced_click as tc
from lesson_content.architecture import reference_config
from lesson_content.prose import render
from ui import page, session, widgets

k = page.PageKeys("prompt")
examples = session.get_examples()
cfg, scene_cfg, box_cfg = examples["prompt_click"], examples["scene"], examples["box_prompt"]
fourier = examples["fourier"]
size, bands, plan_bands = cfg["image_size"], fourier["bands_shown"], fourier["plan_bands"]
ref = reference_config()
ref_name = "SAM ViT-H"

st.title("Prompt encoding: from clicks to tokens")
page.instructor_note(examples, ("prompt_click", "scene", "box_prompt", "fourier"))

# ---- which click: the student's, else the instructor's -------------------------------------------------
try:
    thread = tc.traced_click(examples)
    scene = thread.scene
except Exception as error:
    thread = scene = None
    st.error(f"The scene could not be rendered: {type(error).__name__}: {error}")
config_id = thread.config_id if thread is not None else (cfg["x"], cfg["y"], size)
(x, y), students = page.config_click(k, config_id, (cfg["x"], cfg["y"]), (size, size))
click_source = "your click" if students else "the traced click of part 1, followed on every page"
on_what = tc.at_point(thread, x, y).describe() if thread is not None else "the image"

model, info = session.current_model()
traced = None
if model is not None and scene is not None:
    try:
        traced = page.traced_prediction(scene.image, points=[(x, y)], labels=[1])
    except Exception as error:
        st.error(f"The live model failed on this click: {type(error).__name__}: {error}")

dim = model.prompt_encoder.embed_dim if model is not None else ref["decoder_width"]
st.markdown(render("prompt_encoding.intro", dim=dim, ref_dim=ref["decoder_width"], ref_name=ref_name))

if scene is not None:
    left, right = st.columns([3, 2])
    best = int(np.argmax(traced.scores)) if traced is not None else None
    with left:
        widgets.clickable_image(scene.image, key=k("canvas"), points=[(x, y)], labels=[1],
                                mask=traced.masks[best] if traced is not None else None, drag=False,
                                max_display_side=640)
    with right:
        if traced is not None:
            st.markdown(render("prompt_encoding.click", x=x, y=y, image_size=size, click_source=click_source,
                               target=on_what,
                               n_masks=len(traced.scores), score=float(traced.scores[best])))
        else:
            st.markdown(f"The traced click is **({x}, {y})** on a {size} × {size} image ({click_source}).")
            st.warning(f"No model is running ({info.message or info.status}): the plan's formula is traced "
                       "below, SAM's real path needs a checkpoint.", icon=":material/hourglass_empty:")
        if students:
            st.button("Back to the instructor's click", key=k("reset"), on_click=page.back_to_config_click,
                      args=(k,))

# ---- the plan's formula vs SAM's real path, side by side ----------------------------------------------
click = pe.plan_click(x, y, size)
terms = pe.plan_terms(x, y, size, bands)
t = {(term.band, term.coord, term.fn): term for term in terms}
angle_py = math.pi * click.p_y_float
cos_py = t[0, "y", "cos"].exact
plan_values = dict(
    x=x, y=y, image_size=size, plan_bands=plan_bands, plan_dims=4 * plan_bands, plan_proj=ref["decoder_width"],
    p_x_latex=click.p_x_latex, p_y_latex=click.p_y_latex, p_x=click.p_x_float, p_y=click.p_y_float,
    sin_px=t[0, "x", "sin"].exact, cos_px=t[0, "x", "cos"].exact, sin_py=t[0, "y", "sin"].exact, cos_py=cos_py,
    cos_py_word="negative" if cos_py < 0 else ("positive" if cos_py > 0 else "zero"),
    side=pe.side_of_half_pi(angle_py), angle_py=angle_py, half_pi=math.pi / 2, gap=abs(angle_py - math.pi / 2),
    p_x_rounded=f"{click.p_x_rounded:.{pe.PLAN_ROUND_DIGITS}f}", p_y_rounded=f"{click.p_y_rounded:.{pe.PLAN_ROUND_DIGITS}f}",
    sin_px_rounded=t[0, "x", "sin"].at_rounded_p, cos_py_rounded=t[0, "y", "cos"].at_rounded_p,
)

real = pe.real_point_from_model(model, x, y, size) if model is not None else None

# Side by side: the same click through both encodings, one row per step (a table stays readable when the
# page is narrow; the derivations follow below, full width).
st.header("One click, two encodings")
rows = pe.side_by_side(x, y, size, plan_bands, real, ref["decoder_width"])
header = "| step | the lesson plan | SAM (the loaded model) |\n|---|---|---|\n"
st.markdown(header + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows))

st.markdown(render("prompt_encoding.plan_formula", **plan_values))
st.markdown(render("prompt_encoding.plan_trace", **plan_values))
st.markdown(render("prompt_encoding.plan_sign", **plan_values))
st.markdown(render("prompt_encoding.plan_rounding", **plan_values))

g = real.gaussian_matrix if real is not None else None
st.markdown(render("prompt_encoding.sam_formula", pixel_centre=float(pe.PIXEL_CENTRE),
                   g_rows=g.shape[0] if g is not None else 2, g_cols=g.shape[1] if g is not None else dim // 2,
                   dim=dim))
if real is not None:
    st.markdown(render("prompt_encoding.sam_trace", input_size=real.input_size, cx=real.coords_input[0],
                       cy=real.coords_input[1], p0=real.p[0], p1=real.p[1], u0=real.u[0], u1=real.u[1]))
    blocks = [real.angle_block(j) for j in range(min(bands, real.angles.shape[0]))]
    st.latex("\\begin{aligned}" + " \\\\[4pt]\n".join(blocks) + "\\end{aligned}")
(_, _), (ref_px, ref_py) = pe.sam_normalize(x, y, size, ref["image_size"])
st.markdown(render("prompt_encoding.sam_ref", ref_name=ref_name, ref_size=ref["image_size"], x=x, y=y,
                   pixel_centre=float(pe.PIXEL_CENTRE),
                   ref_p_x_latex=f"{pe.sp.latex(ref_px)} \\approx {float(ref_px):.6f}",
                   ref_p_y_latex=f"{pe.sp.latex(ref_py)} \\approx {float(ref_py):.6f}",
                   ref_g_cols=ref["decoder_width"] // 2, ref_dim=ref["decoder_width"]))

st.markdown(f"**The plan's first {bands} bands on this click**, exact (sympy), at the plan's rounded "
            f"$p$ ({plan_values['p_x_rounded']}, {plan_values['p_y_rounded']}), and in float32:")
st.dataframe(pd.DataFrame([{
    "band k": term.band, "term": term.text, "exact argument": term.plain, "exact value": f"{term.exact:+.6f}",
    "at rounded p": f"{term.at_rounded_p:+.6f}", "float32": f"{term.float32:+.6f}",
} for term in terms]), hide_index=True, width="stretch")

# ---- the real vector, type embedding, padding ---------------------------------------------------------
if traced is not None and real is not None:
    st.header("The whole vector, from the live trace")
    records = traced.records
    vector = records["prompt.point_pe"][0, 0]
    half = vector.shape[0] // 2
    st.markdown(render("prompt_encoding.vector", dim=vector.shape[0], half_dim=half,
                       max_diff=float(np.abs(vector - real.pe).max())))
    frame = pd.DataFrame({"index": np.arange(vector.shape[0]), "value": vector,
                          "half": ["sin" if i < half else "cos" for i in range(vector.shape[0])]})
    st.altair_chart(
        alt.Chart(frame).mark_bar().encode(
            x=alt.X("index:Q", title="dimension", scale=alt.Scale(domain=[0, vector.shape[0]])),
            y=alt.Y("value:Q", title="PE value", scale=alt.Scale(domain=[-1, 1])),
            color=alt.Color("half:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=["index", "value"]).properties(height=180),
        width="stretch")
    labels = records["prompt.point_labels"][0].astype(int).tolist()
    sparse_shape = tuple(records["prompt.sparse_embeddings"].shape)
    st.markdown(render("prompt_encoding.type_embedding", fg_label=labels[0], bg_label=pe.LABEL_BACKGROUND,
                       pad_label=labels[-1] if len(labels) > 1 else pe.LABEL_PADDING,
                       point_tokens_shape=" × ".join(map(str, sparse_shape))))

# ---- why not powers of two -------------------------------------------------------------------------------
st.header("Why not the plan's powers of two?")
st.markdown(render("prompt_encoding.float32_intro", last_band=plan_bands - 1))
bx = pe.float32_breakdown(click.p_x, plan_bands)
by = pe.float32_breakdown(click.p_y, plan_bands)
k_grid = pe.grid_constant_band(size)
k_ulp = min(k for k in (bx.k_ulp_ge_one, by.k_ulp_ge_one, plan_bands) if k is not None)
k_bad = min(k for k in (bx.k_meaningless, by.k_meaningless, plan_bands) if k is not None)
useful = min(k_bad, k_grid) if k_grid is not None else k_bad
f32_values = dict(image_size=size, k_const=k_grid, k_ulp=k_ulp, k_bad=k_bad, tolerance=bx.tolerance,
                  plan_bands=plan_bands, useful_bands=useful)
st.markdown(render("prompt_encoding.float32_grid" if k_grid is not None and k_grid < plan_bands
                   else "prompt_encoding.float32_nogrid", **f32_values))
err_rows = []
for name, b in (("p_x", bx), ("p_y", by)):
    for k in b.bands:
        err = b.max_error[k]
        err_rows.append({"band k": int(k), "coordinate": name,
                         "float32 error": float(min(max(err, 1e-9), 10.0)) if np.isfinite(err) else 10.0})
err_chart = alt.Chart(pd.DataFrame(err_rows)).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
    x=alt.X("band k:Q"), y=alt.Y("float32 error:Q", scale=alt.Scale(type="log"),
                                 title="|float32 − exact| (sin or cos, worst)"),
    color=alt.Color("coordinate:N", title=None, legend=alt.Legend(orient="top")))
rule = alt.Chart(pd.DataFrame({"k": [k_bad]})).mark_rule(strokeDash=[4, 4]).encode(x="k:Q")
st.altair_chart((err_chart + rule).properties(height=240), width="stretch")
picks = sorted({k for k in (0, 1, 2, k_grid or 0, k_ulp - 1, k_ulp, k_bad, k_bad + 4, plan_bands - 1) if 0 <= k < plan_bands})
st.dataframe(pd.DataFrame([{
    "band k": k, "angle 2^k·π·p_y": f"{by.angle_exact[k]:.6g}", "float32 angle error (rad)": f"{by.angle_error[k]:.3g}",
    "sin exact": f"{by.sin_exact[k]:+.6f}", "sin float32": f"{by.sin_f32[k]:+.6f}",
    "cos exact": f"{by.cos_exact[k]:+.6f}", "cos float32": f"{by.cos_f32[k]:+.6f}",
} for k in picks]), hide_index=True, width="stretch")
if real is not None:
    f32_pe = pe.model_point_pe(model, x, y, size)
    st.markdown(render("prompt_encoding.float32_sam", max_angle=pe.max_angle(real.gaussian_matrix),
                       f32_error=float(np.abs(f32_pe - real.pe).max()), dim=dim, plan_dims=4 * plan_bands,
                       plan_proj=ref["decoder_width"]))

# ---- boxes and masks -----------------------------------------------------------------------------------
if model is not None:
    box = (box_cfg["x0"], box_cfg["y0"], box_cfg["x1"], box_cfg["y1"])
    tokens = pe.box_tokens(model, box, size)
    box_col, mask_col = st.columns(2, gap="large")
    with box_col:
        st.markdown(render("prompt_encoding.box", tl_label=pe.LABEL_BOX_TOP_LEFT, br_label=pe.LABEL_BOX_BOTTOM_RIGHT,
                           x0=box[0], y0=box[1], x1=box[2], y1=box[3],
                           box_tokens_shape=" × ".join(map(str, tokens.tokens_shape))))
        if scene is not None:
            small, scale = widgets.downscale_for_display(scene.image, 360)
            st.image(widgets.draw_prompts(small, box=box, scale=scale), width=300)
        st.dataframe(pd.DataFrame([{
            "corner": name, "input frame (x, y)": f"({c[0]:g}, {c[1]:g})", "p": f"({p[0]:.5f}, {p[1]:.5f})",
            "type embedding": label,
        } for name, c, p, label in zip(("top-left", "bottom-right"), tokens.corners_input, tokens.p,
                                       tokens.type_labels, strict=True)]), hide_index=True, width="stretch")
    with mask_col:
        loaded = pe.mask_downscaling_shapes(model.prompt_encoder)
        reference = pe.mask_downscaling_shapes(pe.reference_prompt_encoder())
        st.markdown(render("prompt_encoding.mask", **pe.mask_downscaling_summary(model.prompt_encoder), dim=dim))
        st.dataframe(pd.DataFrame([{
            "step": step, "loaded model": " × ".join(map(str, shape[1:])),
            ref_name: " × ".join(map(str, ref_shape[1:])),
        } for (step, shape), (_, ref_shape) in zip(loaded, reference, strict=True)]), hide_index=True, width="stretch")

# ---- the code -------------------------------------------------------------------------------------------
st.header("Pseudocode and the real code")
st.markdown(render("prompt_encoding.code", plan_bands=plan_bands))
code_plan, code_real = st.columns(2, gap="large")
code_plan.code(pe.plan_pseudocode(plan_bands, ref["decoder_width"]), language="python")
code_real.code("# sam_core/sam1/prompt_encoder.py (what the model runs)\n\n" + pe.real_source(), language="python")
