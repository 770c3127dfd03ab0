"""The mask decoder (outline section 7): tokens, three attentions per layer, shapes, masks forming.

Live: click the scene; the prompt token's attention over the image grid, per head and averaged, for
layer 0, layer 1 and the final attention, and the masks forming from hypernetwork . features.
Computation: lesson_content/decoder_view.py; text: lesson_content/prose/decoder.md.
"""

import numpy as np
import streamlit as st

from lesson_content import decoder_view as dv
from lesson_content import plots
from lesson_content import scene_targets as targets
from lesson_content import traced_click as tc
from lesson_content.plan_quotes import MASK_DECODER_PSEUDOCODE
from lesson_content.prose import render
from sam_core.masks import mask_iou
from ui import page, session, widgets

k = page.PageKeys("decoder")
st.title("The mask decoder")  # first: on screen while the traced click below is computed
ATTENTION_SIDE = 384  # px: the head-averaged heat maps are drawn at this size (display only, faster)
dark = page.dark_theme()
examples = session.get_examples()
thread = tc.traced_click(examples)
model, info = session.current_model()
model_key = info.cache_key

page.instructor_note(examples, ("prompt_click", "scene"))

scene = thread.scene
# The click: the traced click of part 1 until the student clicks; reset when the instructor changes it.
(x, y), own = page.config_click(k, thread.config_id, thread.point, scene.image.shape[:2])
if own:
    st.button("Back to the traced click", key=k("reset"), on_click=page.back_to_config_click, args=(k,))


@st.cache_data(show_spinner=False)
def reference_trace():
    run, ref_model = dv.reference_decoder_run()
    return run, dv.decoder_dims(run, ref_model)


@st.cache_data(show_spinner=False, max_entries=16)
def mean_attention_images(model_key: str, kind: str, seed: int, size: int, x: int, y: int, _run, prompt_index: int):
    """Head-averaged heat overlays on the scene: stage -> image."""
    image, _ = widgets.downscale_for_display(targets.load_scene(kind, seed, size).image, ATTENTION_SIDE)
    return {stage: dv.heat_overlay(image, dv.grid_to_image(maps.mean(0), _run, image.shape[:2]))
            for stage, maps in dv.prompt_attention(_run, prompt_index).items()}


@st.cache_data(show_spinner=False, max_entries=16)
def head_attention_images(model_key: str, kind: str, seed: int, size: int, x: int, y: int, stage: str, _run,
                          prompt_index: int):
    """One smaller heat overlay per head for one stage."""
    image, _ = widgets.downscale_for_display(targets.load_scene(kind, seed, size).image, 256)
    maps = dv.prompt_attention(_run, prompt_index)[stage]
    return [dv.heat_overlay(image, dv.grid_to_image(m, _run, image.shape[:2])) for m in maps]


if model is None:
    st.markdown(render("decoder.intro", depth="two", model_name=info.name))
    st.warning(info.message or "No model is loaded.", icon="⏳")
    st.image(scene.image, caption=f"{thread.kind} scene, seed {thread.seed}", width=420)
    st.stop()

with st.spinner("Tracing the decoder on your click ..."):
    run = page.traced_prediction(scene.image, points=[(x, y)], labels=[1])
dims = dv.decoder_dims(run, model)
layout = dv.token_layout(run)
structure = dv.decoder_structure(model)
depth = structure.depth

st.markdown(render("decoder.intro", depth=depth, model_name=info.name))

# ---- live: click -> attention heat maps ---------------------------------------------------------------
here = tc.at_point(thread, x, y)
hits, clicked = list(here.hits), here.target
left, right = st.columns([2, 3])
with left:
    best = int(np.argmax(run.scores))
    widgets.clickable_image(scene.image, key=k("canvas"), points=[(x, y)], labels=[1],
                            mask=run.masks[best], max_display_side=512)
    st.caption(f"{'Your click' if own else 'The traced click of part 1'} ({x}, {y}) on {thread.size} px: "
               f"**{here.describe()}**. Best mask shown (candidate {best + 1}, predicted IoU {run.scores[best]:.2f}). Click to trace another point.")
with right:
    images = mean_attention_images(model_key, thread.kind, thread.seed, thread.size, x, y, run, layout.prompt_index)
    st.markdown("**Where the prompt token looks**, head-averaged, at each token → image attention:")
    cols = st.columns(len(images))
    for col, (stage, mean) in zip(cols, images.items(), strict=True):
        col.image(mean, caption=stage, width="stretch")
    st.caption(render("decoder.attention_caption", grid=dims.grid, uniform_pct=100.0 / dims.positions))
    prompt_maps = dv.prompt_attention(run, layout.prompt_index)
    scale_top = max(dv.heat_scale(m.mean(0)) for m in prompt_maps.values())
    st.image(dv.colour_bar(), width=256)
    st.caption(render("decoder.heat_legend", percentile=dv.HEAT_PERCENTILE, top_pct=100 * scale_top,
                      times_uniform=scale_top * dims.positions))
    if clicked is not None:
        frac = targets.gt_fraction_on_grid(clicked.mask, run.input_size, run.img_size, dims.grid)
        maps = dv.prompt_attention(run, layout.prompt_index)
        mass = {s: 100 * dv.attention_mass(m.mean(0), frac) for s, m in maps.items()}
        eff = {s: dv.effective_positions(m.mean(0)) for s, m in maps.items()}
        stages = list(maps)
        st.markdown(render(
            "decoder.attention_stats", target=clicked.phrase, area_pct=100 * clicked.area / scene.image[..., 0].size,
            mass_l0=mass[stages[0]], mass_l1=mass[stages[1]], mass_final=mass[stages[2]], layer_a=stages[0].split()[-1], layer_b=stages[1].split()[-1],
            eff_l0=eff[stages[0]], eff_l1=eff[stages[1]], eff_final=eff[stages[2]], positions=dims.positions))

stage = st.radio("Per head:", list(images), horizontal=True, key=k("stage"))
head_cols = st.columns(min(dims.heads, 8))
for h, picture in enumerate(head_attention_images(model_key, thread.kind, thread.seed, thread.size, x, y, stage, run,
                                                  layout.prompt_index)):
    head_cols[h % len(head_cols)].image(picture, caption=f"head {h + 1}", width="stretch")

# ---- tokens -----------------------------------------------------------------------------------------------
st.header("What enters the decoder")
n_multimask = layout.num_mask_tokens - 1
tok_left, tok_right = st.columns(2)
with tok_left:
    mask_tokens = [t for t in layout.tokens if t.kind == "mask"]
    iou_tokens = [t for t in layout.tokens if t.kind == "iou"]
    st.markdown(render("decoder.tokens_real", tokens=layout.count, width=dims.width,
                       mask_tokens=layout.num_mask_tokens, single_token=0,  # Meta's mask_tokens[0]
                       multimask=n_multimask, prompt_tokens=layout.count - layout.prompt_index,
                       pad_label=int(run.records["prompt.point_labels"][0].min())))
    st.table({"index": [t.index for t in layout.tokens], "token": [t.name for t in layout.tokens],
              "from": ["learned" if t.learned else "your prompt" for t in layout.tokens]})
with tok_right:
    st.markdown(render("decoder.tokens_plan", multimask=n_multimask, iou_tokens=len(iou_tokens),
                       iou_index=iou_tokens[0].index, first_multimask_index=mask_tokens[1].index))

self_maps = [run.records[f"decoder.layer{i}.self_attn"][0].mean(0) for i in range(depth)]
short = ["IoU"] + [f"mask {i}" for i in range(layout.num_mask_tokens)] + \
        [t.name.split(" (")[0] for t in layout.tokens[layout.prompt_index:]]
layer_pick = st.radio("Self-attention weights among the tokens, head-averaged (rows attend to columns):",
                      [f"layer {i}" for i in range(depth)], horizontal=True, key=k("self_layer"))
fig = plots.png(plots.matrix_plot, self_maps[int(layer_pick.split()[-1])], short, short, dark=dark, vmin=0.0,
                        width=5.2, height=3.6)
st.image(fig, width=560)

# ---- three attentions -------------------------------------------------------------------------------------
st.header("Three attentions per layer")
_, diagram_col, _ = st.columns([1, 2, 1])
diagram_col.graphviz_chart(dv.attention_layer_dot(depth, dims.tokens, dims.positions, dark=dark), width="stretch")
st.markdown(render("decoder.ops", depth=depth, tokens=dims.tokens, positions=dims.positions, first_layer=0))
st.markdown(render("decoder.formula_intro"))
for line in dv.cross_attention_latex(dims):
    st.latex(line)
st.markdown(render("decoder.half_width", cross_width=dims.cross_width, width=dims.width, downsample=dims.downsample,
                   heads=dims.heads, head_dim=dims.head_dim, positions=dims.positions, tokens=dims.tokens,
                   t2i_macs_half=dims.tokens * dims.positions * dims.cross_width,
                   t2i_macs_full=dims.tokens * dims.positions * dims.width))

# ---- dimension trace --------------------------------------------------------------------------------------
st.header("The dimension trace")
with st.spinner("Tracing SAM's own decoder configuration ..."):
    ref_run, ref_dims = reference_trace()
st.markdown(render("decoder.dims_intro", ref_grid=ref_dims.grid, ref_width=ref_dims.width))
ref_shapes = {row["record"]: row["shape"] for row in dv.dimension_rows(ref_run)}
rows = dv.dimension_rows(run)
st.dataframe({"record": [r["record"].removeprefix("decoder.") for r in rows], info.name: [r["shape"] for r in rows],
              "SAM (ViT-B/L/H)": [ref_shapes.get(r["record"], "") for r in rows], "what": [r["what"] for r in rows]},
             hide_index=True, width="stretch")
with st.expander("The same formula with SAM's sizes"):
    for line in dv.cross_attention_latex(ref_dims):
        st.latex(line)

# ---- masks forming ----------------------------------------------------------------------------------------
st.header("Upscaling and the hypernetwork")
st.markdown(render("decoder.upscaling", grid=dims.grid, up_convs=structure.up_convs, stride=structure.stride,
                   mid_side=dims.grid * structure.stride, up_side=dims.upscaled_side, width=dims.width,
                   mid_channels=structure.mid_channels, up_channels=dims.upscaled_channels))
for line in dv.mask_latex(dims):
    st.latex(line)
TOP_TERMS = 3  # how many of the strongest w_c * F_c terms to draw per mask (a display choice)
forming = dv.masks_forming(run, top=TOP_TERMS)
st.markdown(render("decoder.upscaling_after", up_channels=dims.upscaled_channels,
                   mask_tokens=layout.num_mask_tokens, top_terms=TOP_TERMS))
token_masks = dv.all_token_masks(run)
for item in forming[1:]:
    cols = st.columns(TOP_TERMS + 2)
    for c, (channel, term) in enumerate(zip(item.top_channels, item.terms, strict=True)):
        cols[c].image(dv.colour_map(term, size=160), width="stretch",
                      caption=f"w[{channel}] = {item.weights[channel]:+.2f} · F[{channel}]")
    cols[TOP_TERMS].image(dv.colour_map(item.logits, size=160), width="stretch",
                  caption=f"sum of all {dims.upscaled_channels} terms (logits)")
    small, _ = widgets.downscale_for_display(scene.image, 160)
    cols[TOP_TERMS + 1].image(widgets.mask_overlay(small, widgets.resize_mask(token_masks[item.mask_token], small.shape[:2])),
                  width="stretch", caption=f"mask token {item.mask_token}: logits > 0")

# ---- IoU head ---------------------------------------------------------------------------------------------
st.header("The IoU head")
st.markdown(render("decoder.iou_head", iou_depth=structure.iou_depth,
                   mask_tokens=layout.num_mask_tokens))
actual = [max((mask_iou(m, t.mask) for t in hits), default=0.0) for m in token_masks]
st.table({"mask token": list(range(layout.num_mask_tokens)),
          "returned when": ["multimask_output=False"] + ["multimask_output=True"] * n_multimask,
          "predicted IoU": [f"{f.iou_pred:.3f}" for f in forming],
          "actual IoU (best ground-truth segment at the click)": [f"{a:.3f}" for a in actual]})

# ---- code ---------------------------------------------------------------------------------------------------
st.header("Pseudocode and the real code")
st.markdown(render("decoder.code_intro"))
st.markdown("**The lesson plan's pseudocode**")
st.code(MASK_DECODER_PSEUDOCODE, language="python")
st.markdown("**sam_core (what ran above)**")
for name, source in dv.real_source().items():
    clean, folded = dv.without_tracing(source)
    with st.expander(name, expanded=name.startswith("MaskDecoder")):
        st.code(clean, language="python")
        if folded:
            st.caption(f"{folded} tracing call(s) folded away (`record(...)` copies a tensor for this page's "
                       "figures and changes nothing).")
            if st.toggle("Show the exact source, tracing calls included", key=k(f"exact_{name}")):
                st.code(source, language="python")
