"""SAM 2: memory (outline §11). A generated clip (an elephant walks behind an acacia thicket); the student
clicks it on one frame and propagates; for any frame: the memory bank and why each memory is there, memory
attention as a heat map over each memory frame, the object score through the occlusion; the plan's tensor
trace beside SAM 2's real shapes; the interaction count against SAM 1 frame by frame.
Computation: lesson_content/memory_view.py; text: lesson_content/prose/memory.md.
"""

import numpy as np
import streamlit as st

from lesson_content import memory_view as mv
from lesson_content import plots
from lesson_content.decoder_view import without_tracing
from lesson_content.ecosystem import heat_overlay
from lesson_content.memory_loop import PLAN_LOOP_PSEUDOCODE, memory_encoder_parts, real_loop_source
from lesson_content.paper_claims import PLAN_SAM2_ANNOTATION_SPEEDUP
from lesson_content.prose import render
from sam_core.masks import interior_point
from ui import page, part2_models, session, widgets

k = page.PageKeys("memory")
dark = page.dark_theme()
cfg = session.get_examples()["video_memory"]
predictor, status = part2_models.sam2_video_predictor()

st.title("SAM 2: memory for video")
st.markdown(render("memory.intro"))


video = page.generated_clip(cfg["kind"], int(cfg["seed"]), int(cfg["frames"]), int(cfg["size"]))
target = mv.occluded_track(video, cfg["target"])
track = video.tracks[target]
click_frame = min(int(cfg["click_frame"]), video.num_frames - 1)
if not track.visible[click_frame]:
    click_frame = mv.first_visible(track)
default = interior_point(track.masks[click_frame])
(x, y), own = page.config_click(k, (cfg["kind"], cfg["seed"], cfg["frames"], click_frame), default,
                                video.frames[click_frame].shape[:2])
st.markdown(render("memory.clip", frames=video.num_frames, size=video.size, object_name=track.phrase,
                   visible=int(track.visible.sum()), hidden=int((~track.visible).sum()), click_frame=click_frame,
                   model_name=status.name))

st.caption(f"Frame {click_frame}: click the object to track ({'your click' if own else 'default click'} at ({x}, {y}))")
widgets.clickable_image(video.frames[click_frame], key=k("canvas"), points=[(x, y)], labels=[1], drag=False,
                        max_display_side=420)
# full width: beside the frame, the display formula was cut off on a 900 px window
st.markdown(render("memory.formula", grid=video.size // 8, tokens=(video.size // 8) ** 2, mem_dim=64))

if not status.ready:
    st.warning(status.message)
    st.stop()

# the image encoder's outputs do not depend on the click: encoded once per clip, in the background
features = part2_models.frame_features(predictor, status, page.generated_clip_key(
    cfg["kind"], cfg["seed"], video.num_frames, video.size), video.frames)
click_key = (status.cache_key, cfg["kind"], int(cfg["seed"]), video.num_frames, click_frame, x, y)
stored_candidates = st.session_state.get(k("candidates"))
if stored_candidates is None or stored_candidates[0] != click_key:
    stored_candidates = (click_key, mv.click_candidates(predictor, video.frames, click_frame, [(x, y)], [1],
                                                        truth=track.masks[click_frame], frame_features=features))
    st.session_state[k("candidates")] = stored_candidates
candidates = stored_candidates[1]
kept = next(c for c in candidates if c.kept)
best = max(candidates, key=lambda c: c.actual_iou)
st.subheader("One click, three masks: the one SAM 2 keeps")
st.markdown(render("memory.candidates", kept=kept.token, kept_predicted=kept.predicted_iou, kept_actual=kept.actual_iou))
st.markdown(render("memory.candidates_right" if best.kept else "memory.candidates_wrong", best=best.token,
                   best_predicted=best.predicted_iou, best_actual=best.actual_iou, kept=kept.token,
                   kept_actual=kept.actual_iou))
for col, c in zip(st.columns(len(candidates)), candidates, strict=True):
    col.image(widgets.mask_overlay(video.frames[click_frame], c.mask), width="stretch",
              caption=f"mask {c.token}: predicted IoU {c.predicted_iou:.2f}, actual {c.actual_iou:.2f}"
                      + (" (kept)" if c.kept else ""))
choices = ["SAM 2's choice (the click)"] + [f"mask {c.token} as a mask prompt" for c in candidates]
start_from = st.radio("Track from", choices, horizontal=True, key=k("start_from"))
prompt_mask = None if start_from == choices[0] else candidates[choices.index(start_from) - 1].mask

run_key = (*click_key, start_from)
if st.button("Propagate through the clip (forward and back)", type="primary", key=k("propagate")):
    bar = st.progress(0.0, text="Propagating ...")
    run = mv.track_clip(predictor, video.frames, click_frame, [(x, y)], [1], frame_features=features, mask=prompt_mask,
                        progress=lambda done, total: bar.progress(done / total, text=f"Frame {done} of {total}"))
    bar.empty()
    st.session_state[k("run")] = (run_key, run)
stored = st.session_state.get(k("run"))
if stored is None or stored[0] != run_key:
    st.info("Press **Propagate** to track the object; every frame is traced.")
    st.stop()
run = stored[1]

summary = mv.occlusion_summary(run, track)
values = dict(n_frames=len(run.frames), seconds=run.seconds, ms_per_frame=1000 * run.seconds / len(run.frames),
              device=session.resolve_device(), visible_frames=summary["visible_frames"],
              hidden_frames=summary["hidden_frames"], visible_ok=summary["visible_said_visible"],
              hidden_ok=summary["hidden_said_hidden"], iou_visible=summary["iou_visible"],
              back=summary["reappears_at"], iou_back=summary["iou_after_return"])
st.markdown(render("memory.run" if track.reappearances() else "memory.no_return", **values))

frames_axis = np.array([f.frame for f in run.frames])
fig = plots.png(plots.line_plot, frames_axis, {"object-score logit": run.object_scores,
                                    "mask IoU with the truth (visible frames)": mv.track_ious(run, track)},
                      xlabel="frame", ylabel="logit / IoU", dark=dark, width=6.4, height=2.6,
                      spans=[(a, b, "hidden (ground truth)") for a, b in mv.hidden_spans(track, frames_axis)],
                      title="The object score through the occlusion (below 0: the model says hidden)")
st.image(fig, width="content")

frame = st.slider("Frame", 0, video.num_frames - 1, value=min(click_frame + 1, video.num_frames - 1), key=k("frame"))
current = run.frame(frame)
a, b = st.columns(2)
with a:
    st.image(widgets.mask_overlay(video.frames[frame], current.mask), width="stretch",
             caption=f"Frame {frame}: predicted mask (object score {current.object_score:+.2f}; truth: "
                     f"{'visible' if track.visible[frame] else 'hidden'})")
with b:
    if current.prompted:
        st.markdown(render("memory.bank_prompted", frame=frame))
    else:
        st.markdown(render("memory.bank", frame=frame, n_memories=len(current.bank),
                           n_pointers=len(current.pointer_frames), pointer_share=current.pointer_share))
        st.dataframe([{"memory frame": t, "why it is in the bank": "prompted (kept)" if kind == "prompted" else "recent",
                       "attention of the object's queries": f"{float(current.attention[t].sum()):.1%}"}
                      for t, kind in current.bank], hide_index=True)
if current.attention:
    st.caption("Where this frame's object queries looked, on each memory frame (last memory-attention layer, heads "
               "averaged; the colour scale is shared)")
    top = max(float(v.max()) for v in current.attention.values())
    cols = st.columns(7)  # at most 7 memory frames (SAM 2's slots); small images whatever the count
    for col, (t, kind) in zip(cols, current.bank, strict=False):
        col.image(heat_overlay(video.frames[t], current.attention[t], hi=top), width="stretch",
                  caption=f"frame {t} ({kind})")
st.markdown(render("memory.occlusion"))

curves = mv.learning_curves() if status.embedded else None
if curves is not None:
    st.subheader("How the embedded model learned to use its memory")
    st.markdown(render("memory.learning", **curves.summary()))
    st.image(plots.png(plots.line_plot, curves.clips, curves.series(), xlabel="training clips", ylabel="train J", dark=dark,
                       width=6.4, height=2.6, ylim=(0.0, 1.0),
                       title=f"Training curves (moving average of {mv.CURVE_WINDOW} log rows)"), width="content")

st.header("The plan's trace and the real shapes")
ref = mv.reference_shapes()
loaded = mv.real_shapes(predictor)
st.markdown(render("memory.shapes", ref_name="SAM 2.1 Hiera-B+", plan_n=mv.PLAN_RECENT_FRAMES, model_name=status.name, mem_dim=ref.mem_dim,
                   recent=ref.num_maskmem - 1, slots=ref.num_maskmem))
rows = []
for plan, real, mine in zip(mv.plan_shapes(), ref.rows(), loaded.rows(), strict=True):
    rows.append({"step": plan["step"], "the plan": plan["plan"], "SAM 2.1 (1024 px)": real["real"],
                 status.name: mine["real"]})
st.table(rows)

st.header("The memory loop: pseudocode and the real code")
st.markdown(render("memory.loop"))
parts = memory_encoder_parts(predictor)
st.markdown(render("memory.encoder", model_name=status.name, convs=parts.downsample_convs, factor=parts.mask_downsample,
                   channels=parts.feature_channels, blocks=parts.fuser_blocks, mem_dim=parts.memory_channels))
st.markdown("**The plan's loop, written out (its sizes)**")
st.code(PLAN_LOOP_PSEUDOCODE, language="python")
st.markdown("**sam_core (what ran above)**")
for name, source in real_loop_source().items():
    clean, folded = without_tracing(source)
    with st.expander(name, expanded=name.endswith("track_step")):
        st.code(clean, language="python")
        if folded:
            st.caption(f"{folded} tracing call(s) folded away (they copy a tensor for this page's figures).")

st.header("Interactions: SAM 2 against SAM 1 frame by frame")
sam1_model, _ = session.current_model()
if sam1_model is not None:
    clicks = page.model_cached(mv.sam1_frame_clicks_for_clip, cfg["kind"], int(cfg["seed"]), video.num_frames,
                               int(cfg["size"]), target)
    st.markdown(render("memory.interactions", visible=clicks["frames"], sam1_clicks=clicks["clicks"],
                       target=clicks["target_iou"], sam2_clicks=1, sam2_iou=summary["iou_visible"],
                       speedup=PLAN_SAM2_ANNOTATION_SPEEDUP))
