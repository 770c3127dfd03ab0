"""Check 2 (outline §13): the wildlife-camera questions, answered first, then verified live — "elephant" on
savanna scenes gives the count (and nothing on a street), the encoder's share when each image gets one
prompt, and the occluded elephant kept by SAM 2's memory through a generated clip.
Computation: lesson_content/check2_view.py (+ concepts_view, memory_view); text: prose/check2.md.
"""

import streamlit as st

from lesson_content import check2_view as c2
from lesson_content import concepts_view as cv
from lesson_content import memory_view as mv
from lesson_content.prose import render
from lesson_content.scene_targets import load_scene
from sam_core.masks import interior_point
from ui import page, part2_models, session

k = page.PageKeys("check2")
examples = session.get_examples()
ccfg, vcfg = examples["concepts"], examples["video_memory"]
processor, s3 = part2_models.sam3_processor(float(ccfg["threshold"]))
predictor, s2 = part2_models.sam2_video_predictor()

st.title("Check 2: transfer")
st.markdown(render("check2.intro", sam3_name=s3.name, sam2_name=s2.name))
st.markdown(render("check2.scenario"))

Q1 = ["SAM 1: click each elephant", "SAM 2: it tracks objects", "SAM 3: the phrase \"elephant\" finds every instance",
      "None: SAM cannot count"]
Q2 = ["Each image is processed once with one prompt: nothing to amortise; throughput matters",
      "The encoder is faster on animals", "Wildlife images are small", "SAM 3 has no image encoder"]
Q3 = ["Memory attention over past frames: an elephant hidden behind a tree is found again",
      "Higher resolution", "Text prompts", "Multi-mask output"]
CORRECT = {"q1": Q1[2], "q2": Q2[0], "q3": Q3[0]}
with st.form(k("form")):
    for key, options in (("q1", Q1), ("q2", Q2), ("q3", Q3)):
        st.markdown(render(f"check2.{key}"))
        st.radio("Your answer", options, index=None, key=k(key))
    submitted = st.form_submit_button("Submit my answers and verify", type="primary")
if submitted:
    st.session_state[k("submitted")] = True
if not st.session_state.get(k("submitted")):
    st.stop()

for key in ("q1", "q2", "q3"):
    answer = st.session_state.get(k(key))
    verdict = "right" if answer == CORRECT[key] else ("not answered" if answer is None else "not quite")
    st.caption(f"Question {key[1]}: {verdict}")

if processor is None:
    st.warning(s3.message)
else:
    with st.spinner("Counting elephants ..."):
        rows = c2.elephant_counts(processor, int(ccfg["seed"]), int(ccfg["count_scenes"]), int(ccfg["size"]))
    savanna = [r for r in rows if r.kind == "savanna"]
    street = rows[-1]
    st.markdown(render("check2.a1", scenes=len(savanna), truth=sum(r.truth for r in savanna),
                       detected=sum(r.detected for r in savanna), found=sum(r.found for r in savanna),
                       match_iou=cv.MATCH_IOU, street_presence=street.presence, street_detected=street.detected))
    st.dataframe([{"scene": f"{r.kind} {r.seed}", "elephants (truth)": r.truth, "detected": r.detected,
                   "matched": r.found, "presence": round(r.presence, 3)} for r in rows], hide_index=True)
    costs = c2.one_prompt_costs(processor, load_scene("savanna", int(ccfg["seed"]), int(ccfg["size"])).image, "elephant")
    st.markdown(render("check2.a2", image_ms=costs.image_ms, prompt_ms=costs.prompt_ms, share=costs.encoder_share))

if predictor is None:
    st.warning(s2.message)
else:
    video = page.generated_clip(vcfg["kind"], int(vcfg["seed"]), int(vcfg["frames"]), int(vcfg["size"]))
    track = video.tracks[mv.occluded_track(video, vcfg["target"])]
    click_frame = mv.first_visible(track)
    run_key = (s2.cache_key, vcfg["kind"], int(vcfg["seed"]), video.num_frames)
    stored = st.session_state.get(k("run"))
    if stored is None or stored[0] != run_key:
        bar = st.progress(0.0, text="Tracking the elephant ...")
        features = part2_models.frame_features(predictor, s2, page.generated_clip_key(
            vcfg["kind"], vcfg["seed"], video.num_frames, video.size), video.frames)
        run = mv.track_clip(predictor, video.frames, click_frame, [interior_point(track.masks[click_frame])], [1],
                            frame_features=features, progress=lambda done, total: bar.progress(done / total, text=f"Frame {done} of {total}"))
        bar.empty()
        st.session_state[k("run")] = stored = (run_key, run)
    summary = mv.occlusion_summary(stored[1], track)
    st.markdown(render("check2.a3", hidden=summary["hidden_frames"], hidden_ok=summary["hidden_said_hidden"],
                       visible_ok=summary["visible_said_visible"], back=summary["reappears_at"],
                       iou_back=summary["iou_after_return"], click_frame=click_frame))
