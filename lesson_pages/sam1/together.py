"""Putting it together + the promptable interface (outline: "tracing a single prompt", section 6).

One click traced end to end with measured times; points, boxes and mask refinement; multi-mask output on
the shirt button against the ground truth; zero-shot on a photograph; the sky as the negative example.
Computation: lesson_content/pipeline_view.py; text: lesson_content/prose/together.md.
"""

import numpy as np
import streamlit as st

from lesson_content import loss_view as lv
from lesson_content import pipeline_view as pv
from lesson_content import plots
from lesson_content import scene_targets as targets
from lesson_content import traced_click as tc
from lesson_content.prose import render
from sam_core.masks import interior_point, mask_iou
from sam_core.scenes.splits import TRAIN_KINDS  # the scene kinds the embedded model was trained on
from ui import images, page, session, widgets

SKY_WINDOW = 20  # logged values averaged for the sky-negative figures
SINGLE_MASK_GAP = 0.1  # actual IoU below the best of three by more than this: the prose says it is weaker
st.title("Putting it together")  # first: on screen while the traced click below is computed
dark = page.dark_theme()
examples = session.get_examples()
multi_cfg, sky_cfg, zero_cfg, timing_cfg = (examples["multimask_example"], examples["sky_example"],
                                            examples["zero_shot"], examples["timing_check"])
thread = tc.traced_click(examples)

page.instructor_note(examples, ("prompt_click", "scene", "multimask_example", "zero_shot", "sky_example"))
st.markdown(render("together.intro"))

model, info = session.current_model()
if model is None:
    st.warning(info.message or "No model is loaded: this page runs the model on every section.", icon="⏳")
    st.stop()


def scene_and_target(cfg):
    scene = targets.load_scene(cfg["kind"], cfg["seed"])
    return scene, targets.target_or_largest(scene, cfg["target"])


def end_to_end(model, kind: str, seed: int, size: int, click: tuple[int, int]):
    return pv.end_to_end(model, targets.load_scene(kind, seed, size).image, click)


def prompt_cases(model, kind: str, seed: int, size: int, click: tuple[int, int]):
    scene = targets.load_scene(kind, seed, size)
    return pv.prompt_cases(model, scene, tc.object_at(scene, *click), click)


def multimask(model, kind: str, seed: int, target: str):
    scene, obj = scene_and_target({"kind": kind, "seed": seed, "target": target})
    return pv.multimask(model, scene, interior_point(obj.mask))


# ---- one click end to end ------------------------------------------------------------------------------------
st.header("One click, end to end")
scene, target = thread.scene, thread.target
thread_args = (thread.kind, thread.seed, thread.size, thread.point)
with st.spinner("Encoding the image and tracing one click ..."):
    steps, run = page.model_cached(end_to_end, *thread_args)
x, y = thread.point
st.markdown(render("together.e2e_intro", target=thread.describe(), kind=thread.kind, x=int(x), y=int(y),
                   size=thread.size, device=info.device))
left, right = st.columns([1, 2])
best = int(np.argmax(run.scores))
left.image(widgets.draw_prompts(widgets.mask_overlay(scene.image, run.masks[best]), [(x, y)], [1]), width="stretch",
           caption=f"best of {len(run.scores)} masks, predicted IoU {run.scores[best]:.2f}")
right.table({"step": [f"{i + 1}. {s.name}" for i, s in enumerate(steps)], "what happens": [s.what for s in steps],
             "shapes (from the trace)": [s.shapes for s in steps], "ms": [f"{s.ms:,.1f}" for s in steps]})
right.caption(page.measured_label(run))
total = sum(s.ms for s in steps)
per_click = sum(s.ms for s in steps[1:])
st.markdown(render("together.e2e_after", enc_ms=steps[0].ms, total_ms=total, enc_pct=100 * steps[0].ms / total,
                   per_click_ms=per_click, ref_name="SAM ViT-H", enc_claim=timing_cfg["encoder_ms_claim"],
                   dec_claim=timing_cfg["decoder_ms_claim"]))

# ---- prompt types --------------------------------------------------------------------------------------------
st.header("Points, boxes and masks")
if target is None:
    st.info(render("together.prompts_miss", x=x, y=y), icon=":material/touch_app:")
    cases = []
else:
    st.markdown(render("together.prompts_intro", target=target.name, fg_label=1, bg_label=0))
    with st.spinner("Asking four ways ..."):
        cases = page.model_cached(prompt_cases, *thread_args)
small, scale = widgets.downscale_for_display(scene.image, 320)
cols = st.columns(len(cases))
for col, case in zip(cols, cases, strict=True):
    picture = widgets.mask_overlay(small, widgets.resize_mask(case.mask, small.shape[:2]))
    picture = widgets.draw_prompts(picture, case.points, case.labels, case.box, scale)
    col.image(picture, width="stretch")
    col.markdown(f"**{case.title}**  \npredicted IoU {case.score:.3f} · actual IoU {case.iou:.3f}")
    if case.single_iou is not None:
        weak = case.single_iou < case.iou - SINGLE_MASK_GAP
        col.caption(render("together.single_mask_note" if weak else "together.single_mask_same",
                           single_iou=case.single_iou, single_score=case.single_score,
                           what="a background point" if 0 in case.labels else "this prompt"))
if any(case.score < 0 for case in cases):
    st.caption(render("together.negative_iou"))

# ---- multi-mask ----------------------------------------------------------------------------------------------
st.header("One click, three answers")
st.caption(render("together.multimask_other_scene", kind=multi_cfg["kind"], target=multi_cfg["target"],
                  thread_target=thread.describe()))
p_scene, p_target = scene_and_target(multi_cfg)
with st.spinner("Clicking the shirt button ..."):
    mm = page.model_cached(multimask, multi_cfg["kind"], multi_cfg["seed"], multi_cfg["target"])
n_masks = len(mm.run.scores)
st.markdown(render("together.multimask_intro", multimask=n_masks, target=p_target.phrase, kind=multi_cfg["kind"]))
small, scale = widgets.downscale_for_display(p_scene.image, 300)
cols = st.columns(n_masks)
for i in range(n_masks):
    picture = widgets.mask_overlay(small, widgets.resize_mask(mm.run.masks[i], small.shape[:2]),
                                   widgets.MASK_COLORS[i % len(widgets.MASK_COLORS)])
    cols[i].image(widgets.draw_prompts(picture, [mm.click], [1], scale=scale), width="stretch",
                  caption=f"mask {i + 1}: score {mm.run.scores[i]:.3f}")
if mm.targets:
    fig = plots.png(plots.matrix_plot, mm.iou, [f"mask {i + 1}" for i in range(n_masks)], [t.name for t in mm.targets],
                            title="IoU with each ground-truth segment", dark=dark, vmin=0.0, vmax=1.0,
                            width=4.0, height=2.6)
    matrix_col, text_col = st.columns([2, 3])
    matrix_col.image(fig, width="stretch")
    lines = []
    for m in mm.matches:
        if m.target_index < 0:
            lines.append(f"- Mask {m.mask_index + 1} overlaps none of them.")
        else:
            t = mm.targets[m.target_index]
            lines.append(f"- Mask {m.mask_index + 1} matches the **{t.name}** ({t.level}) best: IoU {m.iou:.3f}.")
    levels_hit = {mm.targets[m.target_index].level for m in mm.matches if m.target_index >= 0}
    lines.append(f"\nThe {n_masks} masks cover {len(levels_hit)} of the {len(mm.targets)} granularities at the click.")
    text_col.markdown(render("together.multimask_result", matches_text="\n".join(lines)))
st.markdown(render("together.multimask_plan", plan_part=f"{multi_cfg['plan_part_score']:g}",
                   plan_object=f"{multi_cfg['plan_object_score']:g}", plan_group=f"{multi_cfg['plan_group_score']:g}",
                   model_scores=", ".join(f"{s:.3f}" for s in mm.run.scores)))
st.success(render("together.of_course"), icon=":material/lightbulb:")

# ---- zero-shot -----------------------------------------------------------------------------------------------
st.header("Zero-shot: no idea what it is")
photo_name = zero_cfg["photo"] if zero_cfg["photo"] in images.BUNDLED_IMAGES else next(iter(images.BUNDLED_IMAGES))
photo = images.load_bundled(photo_name)
zx = int(min(max(zero_cfg["x"], 0), photo.shape[1] - 1))
zy = int(min(max(zero_cfg["y"], 0), photo.shape[0] - 1))
with st.spinner("Clicking a photograph ..."):
    zrun = page.traced_prediction(photo, points=[(zx, zy)], labels=[1])
st.markdown(render("together.zero_shot", train_kinds=", ".join(TRAIN_KINDS),
                   mask_shape=" × ".join(str(v) for v in zrun.masks.shape),
                   score_shape=" × ".join(str(v) for v in zrun.scores.shape)))
small, scale = widgets.downscale_for_display(photo, 360)
cols = st.columns(len(zrun.scores))
for i, col in enumerate(cols):
    picture = widgets.mask_overlay(small, widgets.resize_mask(zrun.masks[i], small.shape[:2]),
                                   widgets.MASK_COLORS[i % len(widgets.MASK_COLORS)])
    col.image(widgets.draw_prompts(picture, [(zx, zy)], [1], scale=scale), width="stretch",
              caption=f"mask {i + 1}: score {zrun.scores[i]:.3f}")

# ---- the sky -------------------------------------------------------------------------------------------------
st.header("Where it fails: the sky")
sky = targets.load_scene("sky", sky_cfg["seed"])
sx, sy = sky.size // 2, sky.size // 2
with st.spinner("Clicking the sky ..."):
    srun = page.traced_prediction(sky.image, points=[(sx, sy)], labels=[1])
whole = np.ones(sky.image.shape[:2], dtype=bool)
st.markdown(render(
    "together.sky", objects=len(sky.objects), multimask=len(srun.scores),
    coverage_text=", ".join(f"{100 * pv.coverage(m):.1f}%" for m in srun.masks),
    pred_text=", ".join(f"{s:.3f}" for s in srun.scores),
    actual_text=", ".join(f"{mask_iou(m, whole):.3f}" for m in srun.masks)))
small, scale = widgets.downscale_for_display(sky.image, 300)
cols = st.columns(len(srun.scores) + 1)
cols[0].image(widgets.draw_prompts(small, [(sx, sy)], [1], scale=scale), width="stretch", caption="the click")
for i in range(len(srun.scores)):
    cols[i + 1].image(widgets.mask_overlay(small, widgets.resize_mask(srun.masks[i], small.shape[:2]),
                                           widgets.MASK_COLORS[i % len(widgets.MASK_COLORS)]),
                      width="stretch", caption=f"mask {i + 1}: predicted IoU {srun.scores[i]:.3f}")
sky_training = lv.sky_negatives(lv.embedded_training_log() or {}, SKY_WINDOW) if info.source == "embedded" else None
if sky_training is not None:
    st.markdown(render("together.sky_trained", last=sky_training["sky_pred_last"], window=SKY_WINDOW))
if target is not None:
    st.markdown(render("together.sky_compare", target=target.name, pred_obj=float(run.scores[best]),
                       actual_obj=mask_iou(run.masks[best], target.mask)))
