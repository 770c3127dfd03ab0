"""Check 1 (outline section 9): predict, then verify against the live model.

Encoder runs for N clicks (counted under tracing), their time against the plan's 150 + N x 50 ms, a click
on the cup/saucer boundary, and why minimum-loss assignment (a train-free demonstration).
Computation: lesson_content/check1.py, minloss_demo.py; text: lesson_content/prose/check1.md.
"""

import numpy as np
import streamlit as st

from lesson_content import architecture, check1, plots
from lesson_content import minloss_demo as demo
from lesson_content import scene_targets as targets
from lesson_content import traced_click as tc
from lesson_content.prose import render
from sam_core.masks import interior_point
from sam_core.sam1.build import SAM_DECODER
from ui import page, session, widgets

k = page.PageKeys("check1")
st.title("Check 1: predict and verify")  # first: on screen while the traced click below is computed
dark = page.dark_theme()
examples = session.get_examples()
photo_cfg, timing, boundary, minloss_cfg, weights = (examples["check1"], examples["timing_check"],
                                                     examples["boundary_click"], examples["multimask_example"],
                                                     examples["loss_weights"])
thread = tc.traced_click(examples)
clicks = int(timing["clicks"])
model, info = session.current_model()
# The loaded model's multimask count; without one, real SAM's (read from its decoder, built on the meta device).
n_masks = (model.mask_decoder.num_multimask_outputs if model is not None
           else architecture.reference_summary().multimask_outputs)
REF_NAME = "SAM ViT-H"

page.instructor_note(examples, ("prompt_click", "scene", "check1", "timing_check", "boundary_click",
                                "multimask_example"))

# ---- the questions (a form: nothing is verified before the answers are in) --------------------------------------
Q1 = ["Once", f"Once per click ({clicks} times)", "Once per tile of the photo", "It depends on the photo's size"]
Q3 = ["One mask: the object the click is closest to",
      f"{n_masks} masks at different granularities (one object, the other, both), each with a score",
      "An error: SAM needs the click inside one object",
      f"{n_masks} identical masks"]
Q4 = ["The minimum is cheaper to compute than the average",
      "The average would make the IoU head predict wrong scores",
      "Averaging would pull all candidates toward the same compromise mask; the minimum lets each specialise",
      "There is no difference: both objectives train the same masks"]
CORRECT = {"q1": Q1[0], "q3": Q3[1], "q4": Q4[2]}
with st.form(k("form")):
    st.subheader("Question 1")
    st.markdown(render("check1.q1", photo_w=photo_cfg["photo_width"], photo_h=photo_cfg["photo_height"], clicks=clicks))
    st.radio("Your answer", Q1, index=None, key=k("q1"))
    st.subheader("Question 2")
    st.markdown(render("check1.q2", enc_claim=timing["encoder_ms_claim"], dec_claim=timing["decoder_ms_claim"],
                       ref_name=REF_NAME, clicks=clicks))
    st.number_input("Your estimate (ms)", min_value=0.0, value=None, step=10.0, key=k("q2"))
    st.subheader("Question 3")
    st.markdown(render("check1.q3", a=boundary["object_a"], b=boundary["object_b"]))
    st.radio("Your answer", Q3, index=None, key=k("q3"))
    st.subheader("Question 4")
    st.markdown(render("check1.q4", multimask=n_masks))
    st.radio("Your answer", Q4, index=None, key=k("q4"))
    submitted = st.form_submit_button("Submit my answers and verify", type="primary")


def verdict(ok: bool | None) -> None:
    if ok is None:
        st.caption("You did not answer this one.")
    elif ok:
        st.success("Your answer matches.", icon=":material/check_circle:")
    else:
        st.error("Not quite — see why below.", icon=":material/cancel:")


def encoder_check(model, kind: str, seed: int, size: int, first: tuple[int, int], width: int, height: int,
                  clicks: int):
    scene = targets.load_scene(kind, seed, size)
    photo = check1.photo_from_scene(scene.image, width, height)
    return check1.count_encoder_runs(model, photo, check1.click_points(scene, clicks, photo.shape[:2], first))


def boundary_check(model, kind: str, seed: int, a: str, b: str):
    return check1.boundary_click(model, targets.load_scene(kind, seed), a, b)


@st.cache_data(show_spinner=False, max_entries=8)
def minloss_check(kind: str, seed: int, target: str, focal_w: float, dice_w: float):
    scene = targets.load_scene(kind, seed)
    obj = targets.target_or_largest(scene, target)
    segments = scene.targets_at(*interior_point(obj.mask))
    masks = [s.mask for s in segments]
    return segments, [demo.run_demo(masks, objective, focal_weight=focal_w, dice_weight=dice_w)
                      for objective in ("average", "minimum")]


def encoder_count():
    return page.model_cached(encoder_check, thread.kind, thread.seed, thread.size, thread.point,
                             photo_cfg["photo_width"], photo_cfg["photo_height"], clicks)


def boundary_result():
    return page.model_cached(boundary_check, boundary["kind"], boundary["seed"], boundary["object_a"],
                             boundary["object_b"])


def minloss_results():
    return minloss_check(minloss_cfg["kind"], minloss_cfg["seed"], minloss_cfg["target"],
                         float(weights["focal"]), float(weights["dice"]))


if submitted:
    st.session_state[k("submitted")] = True
if not st.session_state.get(k("submitted")):
    st.info("Answer first; the live verification appears after you submit.", icon=":material/quiz:")
    # While the student reads and answers, compute the verification (cached across sessions): the first
    # submit after a server start then shows it at once instead of after ~5 s of cold work.
    if model is not None:
        encoder_count()
        boundary_result()
    minloss_results()
    st.stop()
if model is None:
    st.warning(info.message or "No model is loaded: the answers are shown, the live checks need a model.", icon="⏳")


# ---- 1: encoder runs -------------------------------------------------------------------------------------------
st.header("Question 1: encoder runs")
answer1 = st.session_state.get(k("q1"))
verdict(None if answer1 is None else answer1 == CORRECT["q1"])
count = None
if model is not None:
    with st.spinner(f"Loading a {photo_cfg['photo_width']} × {photo_cfg['photo_height']} photo and clicking {clicks} times ..."):
        count = encoder_count()
    photo_size = count.photo_size
    st.caption(render("check1.a1_thread", x=thread.point[0], y=thread.point[1], size=thread.size,
                      target=thread.describe(), clicks=clicks))
    st.markdown(render("check1.a1", photo_w=photo_size[1], photo_h=photo_size[0], clicks=clicks, runs=count.encoder_runs,
                       runs_s="" if count.encoder_runs == 1 else "s", in_w=count.input_size[1], in_h=count.input_size[0],
                       img_size=count.img_size, tiles_model=check1.tiles(photo_size, count.img_size),
                       tiles_ref=check1.tiles(photo_size, SAM_DECODER.image_size), ref_name=REF_NAME,
                       ref_size=SAM_DECODER.image_size))

# ---- 2: timing -------------------------------------------------------------------------------------------------
st.header("Question 2: time")
enc_c, dec_c = float(timing["encoder_ms_claim"]), float(timing["decoder_ms_claim"])
claim_total = enc_c + clicks * dec_c
guess = st.session_state.get(k("q2"))
verdict(None if guess is None else abs(float(guess) - claim_total) <= 0.25 * claim_total)
st.markdown(render("check1.a2", enc_claim=enc_c, dec_claim=dec_c, clicks=clicks, claim_total=claim_total,
                   claim_naive=clicks * (enc_c + dec_c),
                   guess="none given" if guess is None else f"{float(guess):,.0f} ms"))
if count is not None:
    dec_mean = float(np.median(count.decoder_ms))  # median: the first calls also warm PyTorch up
    st.markdown(render("check1.a2_measured", model_name=info.name, device=info.device, clicks=clicks,
                       enc_ms=count.encoder_ms, dec_ms_mean=dec_mean, measured_total=count.encoder_ms + clicks * dec_mean,
                       measured_naive=clicks * (count.encoder_ms + dec_mean), multimask=n_masks,
                       photo_w=count.photo_size[1], photo_h=count.photo_size[0],
                       post_ms_mean=float(np.median(count.postprocess_ms))))
    st.table({"click": list(range(1, clicks + 1)),
              "prompt encoder + mask decoder (ms)": [f"{v:,.1f}" for v in count.decoder_ms],
              "post-processing to full size (ms)": [f"{v:,.1f}" for v in count.postprocess_ms],
              "whole predict() call (ms)": [f"{v:,.1f}" for v in count.click_ms]})

# ---- 3: boundary click -----------------------------------------------------------------------------------------
st.header("Question 3: a boundary click")
verdict(None if st.session_state.get(k("q3")) is None else st.session_state.get(k("q3")) == CORRECT["q3"])
st.markdown(render("check1.a3", multimask=n_masks, kind=boundary["kind"], a=boundary["object_a"], b=boundary["object_b"]))
if model is not None:
    with st.spinner("Clicking the boundary ..."):
        result = boundary_result()
    if result is None:
        st.info(f"The {boundary['kind']} scene (seed {boundary['seed']}) has no {boundary['object_a']} touching a "
                f"{boundary['object_b']}; change [boundary_click] on the Instructor page.")
    else:
        b_scene = targets.load_scene(boundary["kind"], boundary["seed"])
        small, scale = widgets.downscale_for_display(b_scene.image, 300)
        cols = st.columns(len(result.run.scores))
        for i in range(len(result.run.scores)):
            picture = widgets.mask_overlay(small, widgets.resize_mask(result.run.masks[i], small.shape[:2]),
                                           widgets.MASK_COLORS[i % len(widgets.MASK_COLORS)])
            cols[i].image(widgets.draw_prompts(picture, [result.click], [1], scale=scale), width="stretch",
                          caption=f"mask {i + 1}: score {result.run.scores[i]:.3f}")
        matrix_col, text_col = st.columns([2, 3])
        matrix_col.image(plots.png(plots.matrix_plot, result.iou, [f"mask {i + 1}" for i in range(len(result.run.scores))],
                                            [s.name for s in result.segments], title="IoU with each segment",
                                            dark=dark, vmin=0.0, vmax=1.0, width=4.0, height=2.6), width="stretch")
        lines = []
        for m in result.matches:
            if m.target_index < 0:
                lines.append(f"- Mask {m.mask_index + 1} overlaps none of them.")
            else:
                lines.append(f"- Mask {m.mask_index + 1} is closest to the **{result.segments[m.target_index].name}** "
                             f"(IoU {m.iou:.3f}).")
        text_col.markdown(render("check1.a3_after", matches_text="\n".join(lines)))

# ---- 4: minimum-loss assignment ---------------------------------------------------------------------------------
st.header("Question 4: why the minimum")
verdict(None if st.session_state.get(k("q4")) is None else st.session_state.get(k("q4")) == CORRECT["q4"])
st.markdown(render("check1.a4", multimask=n_masks))
with st.spinner("Running both objectives ..."):
    segments, results = minloss_results()
st.caption(render("check1.a4_other_scene", kind=minloss_cfg["kind"], target=minloss_cfg["target"],
                  thread_target=thread.describe(), thread_levels=len(thread.hits)))
st.markdown(render("check1.a4_demo", target=minloss_cfg["target"], levels=", ".join(s.name for s in segments),
                   steps=demo.STEPS))
union = np.logical_or.reduce([m for res in results for m in res.masks])
rows, cols_idx = np.nonzero(union) if union.any() else (np.array([0, union.shape[0] - 1]), np.array([0, union.shape[1] - 1]))
margin = 2
r0, r1 = max(0, rows.min() - margin), min(union.shape[0], rows.max() + margin + 1)
c0, c1 = max(0, cols_idx.min() - margin), min(union.shape[1], cols_idx.max() + margin + 1)
cols = st.columns(len(results))
for col, res in zip(cols, results, strict=True):
    col.image(plots.png(plots.matrix_plot, res.iou, [f"mask {i + 1}" for i in range(res.iou.shape[0])],
                                 [s.name for s in segments], title=f"{res.objective} loss: IoU after training",
                                 dark=dark, vmin=0.0, vmax=1.0, width=3.8, height=2.6), width="stretch")
    crops = [m[r0:r1, c0:c1] for m in res.masks]  # zoomed to where the segments are
    pics = [widgets.mask_overlay(np.zeros((*c.shape, 3), dtype=np.uint8) + 40, c, outline=False) for c in crops]
    gap = np.full((crops[0].shape[0], 1, 3), 128, dtype=np.uint8)
    strip = np.concatenate([pics[0]] + [x for pic in pics[1:] for x in (gap, pic)], axis=1)
    col.image(np.kron(strip, np.ones((4, 4, 1), dtype=np.uint8)), width="stretch",
              caption="the three masks after the gradient steps (zoomed)")
avg, mini = results
st.markdown(render("check1.a4_after", avg_agreement=avg.agreement, avg_start=avg.loss_start, avg_end=avg.loss_end,
                   min_agreement=mini.agreement, min_start=mini.loss_start, min_end=mini.loss_end))
