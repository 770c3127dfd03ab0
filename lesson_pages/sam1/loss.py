"""The loss (outline section 8): class imbalance, focal, dice, 20:1, IoU MSE, minimum-loss assignment.

Each formula is traced on [focal_trace]'s two pixels and evaluated on the model's real candidates for a
click against the scene's ground truth. Computation: lesson_content/focal_trace.py, loss_view.py;
text: lesson_content/prose/loss.md.
"""

import inspect

import numpy as np
import streamlit as st

from lesson_content import loss_view as lv
from lesson_content import plots
from lesson_content import traced_click as tc
from lesson_content.focal_trace import fmt, fmt_param, focal_curves, focal_trace, real_focal_on_pixels
from lesson_content.plan_quotes import LOSS_PSEUDOCODE
from lesson_content.prose import render
from ui import page, session, widgets

k = page.PageKeys("loss")
st.title("The loss")  # first: on screen while the traced click below is computed
dark = page.dark_theme()
examples = session.get_examples()
focal_cfg, weights, plan = examples["focal_trace"], examples["loss_weights"], examples["plan_focal"]
thread = tc.traced_click(examples)

page.instructor_note(examples, ("prompt_click", "scene", "focal_trace", "loss_weights"))
st.markdown(render("loss.intro"))

# ---- class imbalance (ground truth only) -------------------------------------------------------------------
scene = thread.scene
(x, y), own = page.config_click(k, thread.config_id, thread.point, scene.image.shape[:2])
here = tc.at_point(thread, x, y)
hits, target = list(here.hits), here.target

st.header("Class imbalance")
if target is None:
    st.markdown(render("loss.imbalance_miss", x=x, y=y))
else:
    levels_text = ", ".join(f"{t.name} {100 * lv.foreground_fraction(t.mask):.2f}%" for t in hits)
    fg = lv.foreground_fraction(target.mask)
    st.markdown(render("loss.imbalance", target=target.phrase, fg_pct=100 * fg, bg_pct=100 * (1 - fg),
                       level_count=len(hits), levels_text=levels_text))

# ---- focal loss ------------------------------------------------------------------------------------------------
defaults = lv.loss_defaults()
formulas = lv.formulas(weights["focal"], weights["dice"], defaults["smooth"])
st.header("Focal loss")
st.markdown(render("loss.focal_intro"))
st.latex(formulas["focal"])
st.latex(formulas["p_t"])
trace = focal_trace(focal_cfg)
values = trace.values
st.markdown(render("loss.focal_pt", gamma=values["gamma"], alpha=values["alpha"]))
st.markdown(render("loss.focal_trace_easy", **values))
st.markdown(render("loss.focal_trace_hard", **values))
st.markdown(render("loss.focal_trace_ratio", gamma_zero=0, **values))
real = real_focal_on_pixels(focal_cfg)
st.markdown(render("loss.focal_alpha", real_easy=fmt(real["easy"]), real_hard=fmt(real["hard"]), **values))
plan_trace = focal_trace({"p_easy": plan["p_easy"], "p_hard": plan["p_hard"], "gamma": plan["gamma"],
                          "alpha": focal_cfg["alpha"]})
st.info(render("loss.plan_erratum", plan_easy_p=fmt_param(plan["p_easy"]), plan_hard_p=fmt_param(plan["p_hard"]),
               plan_gamma=fmt_param(plan["gamma"]), plan_ratio=plan["ratio"], plan_ratio_rough=plan["ratio_rough"],
               plan_exact_ratio=plan_trace.ratio_text, plan_easy_signed=plan_trace.values["easy_plan_style"],
               plan_hard_signed=plan_trace.values["hard_plan_style"]), icon=":material/fact_check:")

slider_cols = st.columns([1, 1, 2])
alpha = slider_cols[0].slider("α (alpha)", 0.0, 1.0, float(focal_cfg["alpha"]), 0.05, key=k("alpha"))
gamma = slider_cols[1].slider("γ (gamma)", 0.0, 5.0, float(focal_cfg["gamma"]), 0.5, key=k("gamma"))
slider_cols[2].markdown(render("loss.sliders", gamma_zero=0))
curves = focal_curves(alpha, (0.0, gamma))
slider_trace = focal_trace({**focal_cfg, "alpha": alpha, "gamma": gamma})
series = {"cross-entropy (γ = 0)": curves["gamma=0"],
          f"focal, γ = {gamma:g}": curves[f"gamma={gamma:g}"],
          f"× α_t, foreground pixel (α = {alpha:g})": curves[f"fg gamma={gamma:g}"],
          f"× α_t, background pixel (1 − α = {1 - alpha:g})": curves[f"bg gamma={gamma:g}"]}
fig = plots.png(plots.line_plot, curves["p_t"], series, legend_loc="center right", xlabel="p_t (confidence in the correct class)", ylabel="loss per pixel",
                      dark=dark, ylim=(0, 3), styles={list(series)[2]: "--", list(series)[3]: ":"},
                      markers=[(slider_trace.easy.p_t, slider_trace.easy.loss, f"easy {fmt(slider_trace.easy.loss)}"),
                               (slider_trace.hard.p_t, slider_trace.hard.loss, f"hard {fmt(slider_trace.hard.loss)}")])
st.image(fig, width="stretch")
st.caption(f"At γ = {gamma:g}: hard / easy = {slider_trace.ratio_text}× (α set aside), "
           f"{format(round(slider_trace.ratio_with_alpha), ',')}× with α_t.")

# ---- dice, combined, IoU ----------------------------------------------------------------------------------
st.header(f"Dice loss, the {weights['focal']:g} : {weights['dice']:g} mix, and the IoU head")
st.markdown(render("loss.dice_intro"))
st.latex(formulas["dice"])
st.markdown(render("loss.combined_intro", focal_w=weights["focal"], dice_w=weights["dice"]))
st.latex(formulas["mask"])
st.markdown(render("loss.iou_intro"))
st.latex(formulas["iou"])

# ---- the model's real masks --------------------------------------------------------------------------------
st.header("Minimum-loss assignment, on real masks")
model, info = session.current_model()
n_candidates = model.mask_decoder.num_multimask_outputs if model is not None else "several"
st.markdown(render("loss.minloss_intro", multimask=n_candidates))
st.latex(formulas["min"])


if model is None:
    st.warning(info.message or "No model is loaded: the live scoring needs one.", icon="⏳")
else:
    run = page.traced_prediction(scene.image, points=[(x, y)], labels=[1])
    st.markdown(render("loss.live_intro", target=here.describe(), x=x, y=y,
                       whose="your click" if own else "the traced click of part 1"))
    left, right = st.columns([2, 3])
    with left:
        widgets.clickable_image(scene.image, key=k("canvas"), points=[(x, y)], labels=[1], max_display_side=480)
    with right:
        if not hits:
            st.info("This click is on the background: no ground-truth segment contains it. Click an object.")
        else:
            names = [f"{t.name} ({t.level})" for t in hits]
            default_gt = next((i for i, t in enumerate(hits) if t is target), 0)
            chosen = st.radio("The annotator meant:", range(len(hits)), format_func=lambda i: names[i],
                              index=default_gt, horizontal=True, key=k(f"gt_{x}_{y}"))
            gt = hits[chosen]
            scores, best = lv.score_masks(run, lv.gt_low_res(gt.mask, run), examples)
            st.table({
                "candidate": [f"{s.candidate}{' ★' if i == best else ''}" for i, s in enumerate(scores)],
                "focal": [f"{s.focal:.4f}" for s in scores],
                f"{weights['focal']:g} × focal": [f"{weights['focal'] * s.focal:.3f}" for s in scores],
                "dice": [f"{s.dice:.3f}" for s in scores],
                "mask loss": [f"{s.total:.3f}" for s in scores],
                "IoU (actual)": [f"{s.actual_iou:.3f}" for s in scores],
                "IoU (predicted)": [f"{s.pred_iou:.3f}" for s in scores],
                "(pred − actual)²": [f"{s.iou_se:.4f}" for s in scores],
            })
            b = scores[best]
            best_iou_idx = int(np.argmax([s.actual_iou for s in scores]))
            head_idx = int(np.argmax([s.pred_iou for s in scores]))
            agree = scores[best].actual_iou >= scores[best_iou_idx].actual_iou - 5e-4
            why = ("the highest of the three, so the loss and the overlap agree." if agree else
                   f"candidate {scores[best_iou_idx].candidate} overlaps more (IoU {scores[best_iou_idx].actual_iou:.3f}) "
                   "but loses on the soft probabilities the loss sees.")
            why += (f" The IoU head ranks candidate {scores[head_idx].candidate} first "
                    f"({scores[head_idx].pred_iou:.3f}).")
            st.markdown(render("loss.winner", gt_name=gt.name, gt_level=gt.level, best=b.candidate, best_total=b.total,
                               focal_w=weights["focal"], dice_w=weights["dice"], best_focal=b.focal, best_dice=b.dice,
                               best_iou=b.actual_iou, why=why))
    mask_cols = st.columns(len(run.masks) + 1)
    small, _ = widgets.downscale_for_display(scene.image, 240)
    for i, mask in enumerate(run.masks):
        mask_cols[i].image(widgets.mask_overlay(small, widgets.resize_mask(mask, small.shape[:2]),
                                                widgets.MASK_COLORS[i % len(widgets.MASK_COLORS)]),
                           caption=f"candidate {i + 1}", width="stretch")
    if hits:
        mask_cols[-1].image(widgets.mask_overlay(small, widgets.resize_mask(gt.mask, small.shape[:2]), (60, 180, 75)),
                            caption=f"ground truth: {gt.name}", width="stretch")
        st.markdown(render("loss.levels_intro"))
        table, winners = lv.loss_table(run, hits, examples)
        fig = plots.png(plots.matrix_plot, table, [f"candidate {i + 1}" for i in range(table.shape[0])],
                                [f"{t.name} → wins: {w + 1}" for t, w in zip(hits, winners, strict=True)],
                                dark=dark, fmt="{:.3f}", cmap="viridis_r", width=5.0, height=2.6)
        st.image(fig, width=560)

# ---- training curves -------------------------------------------------------------------------------------------
st.header("Training curves of the embedded model")
log = lv.embedded_training_log()
if log is None or "step" not in log:
    st.info(render("loss.training_missing"), icon=":material/hourglass_empty:")
else:
    names = ", then ".join(f"`{p.name}`" for p in lv.STAGE_LOGS if p.is_file())
    st.markdown(render("loss.training", log_name=names, stages=int(log["stage"][-1]), rows=len(log["step"]),
                       last_step=float(log["step"][-1])))
    window = max(1, len(log["step"]) // 50)
    ramp = lv.focal_ramp(log)
    if ramp is not None:
        st.markdown(render("loss.training_ramp", start=ramp.start, end=ramp.end, dice=weights["dice"],
                           ramp_from=ramp.ramp_from, ramp_to=ramp.ramp_to))
    aux = lv.aux_summary(log, window)
    if aux is not None:
        st.markdown(render("loss.training_aux", **aux))
    dense = lv.dense_phase(log)
    if dense is not None:
        st.markdown(render("loss.training_dense", **dense))
    loss_series = {name: lv.smooth(log[name], window) for name in ("dice", "iou_mse", "aux", "total")
                   if name in log and (name != "aux" or aux is not None)}
    if "focal" in log:
        label, focal_term = lv.weighted_focal(log, weights["focal"])
        loss_series = {label: lv.smooth(focal_term, window), **loss_series}
    cols = st.columns(2)
    cols[0].image(plots.png(plots.line_plot, log["step"], loss_series, xlabel="step", ylabel="loss (smoothed)", dark=dark,
                                   logy=True), width="stretch")
    iou_series = {name: lv.smooth(log[name], window) for name in ("iou_part", "iou_object", "iou_group", "iou_last")
                  if name in log}
    if iou_series:
        cols[1].image(plots.png(plots.line_plot, log["step"], iou_series, xlabel="step", ylabel="training IoU (smoothed)",
                                       dark=dark, ylim=(0, 1)), width="stretch")

# ---- code ------------------------------------------------------------------------------------------------------
st.header("Pseudocode and the real code")
st.markdown(render("loss.code_intro"))
st.markdown("**The lesson plan's pseudocode**")
st.code(LOSS_PSEUDOCODE, language="python")
st.markdown("**sam_core.losses (what scored the masks above)**")
from sam_core import losses as sam_losses  # noqa: E402  (only this section reads the source)

for func in (sam_losses.focal_loss, sam_losses.dice_loss, sam_losses.min_loss_assignment):
    with st.expander(func.__name__, expanded=func is sam_losses.focal_loss):
        st.code(inspect.getsource(func), language="python")
