"""SAM 3: concepts (outline §12). The student types a phrase (or picks one) on a generated scene; every
instance comes back with mask, box, ID and score, the presence score first; the threshold is a slider.
Then the red-car comparison (SAM 1 clicks per car vs one phrase), the architecture at introduced depth,
compositional phrases, the SAM 2 -> SAM 3 gap table with its figures counted, fine-tuning formats, speed.
Computation: lesson_content/concepts_view.py; text: lesson_content/prose/concepts.md.
"""

import streamlit as st

from lesson_content import colour_probe as colour
from lesson_content import concepts_view as cv
from lesson_content import paper_claims as claims
from lesson_content.compositions import composition_rows
from lesson_content.prose import render
from lesson_content.scene_targets import load_scene
from ui import page, part2_models, session, widgets

k = page.PageKeys("concepts")
cfg = session.get_examples()["concepts"]
PRESETS = ("red car", "car", "ripe apple", "damaged apple", "elephant")
KINDS = {"red car": "street", "car": "street", "ripe apple": "orchard", "damaged apple": "orchard",
         "elephant": "savanna"}

st.title("SAM 3: concepts and language")
st.markdown(render("concepts.intro"))

controls, picture = st.columns([1, 2])
with controls:
    kind = st.selectbox("Scene", ("street", "orchard", "savanna", "desk", "person"),
                        index=("street", "orchard", "savanna", "desk", "person").index(cfg["kind"]), key=k("kind"))
    seed = st.number_input("Scene seed", 0, 2_000_000_000, int(cfg["seed"]), key=k("seed"))
    chosen = st.pills("Try a phrase", PRESETS, key=k("preset"))
    phrase = st.text_input("Or type a noun phrase", value=chosen or cfg["phrase"], max_chars=60, key=k("phrase"))
    threshold = st.slider("Threshold on σ(query) · σ(presence)", 0.0, 1.0, float(cfg["threshold"]), 0.05,
                          key=k("threshold"))
scene = load_scene(kind, int(seed), int(cfg["size"]))

processor, status = part2_models.sam3_processor(threshold)
if not status.ready:
    picture.image(scene.image, width="stretch")
    st.warning(status.message)
    st.stop()

state_key = (status.cache_key, kind, int(seed))
stored = st.session_state.get(k("image_state"))
if stored is None or stored[0] != state_key:
    import time

    start = time.perf_counter()
    image_state = processor.set_image(scene.image)
    stored = (state_key, image_state, (time.perf_counter() - start) * 1000)
    st.session_state[k("image_state")] = stored
_, image_state, image_ms = stored
phrase = (phrase or "").strip()
if not phrase:
    picture.image(scene.image, width="stretch")
    st.stop()
result = cv.detect(processor, scene.image, phrase, threshold, state=image_state)
truth = cv.truth_masks(scene, phrase)
match = cv.score_against(result, truth)

shown = scene.image
for i, inst in enumerate(result.instances):
    shown = widgets.mask_overlay(shown, inst.mask, widgets.MASK_COLORS[i % len(widgets.MASK_COLORS)])
with picture:
    st.image(shown, width="stretch", caption=f"\"{phrase}\": {len(result.instances)} instance(s) kept")
    st.metric("Presence probability", f"{result.presence:.3f}")

st.markdown(render("concepts.presence", default_threshold=0.5, phrase=phrase, presence=result.presence,
                   kept=len(result.instances), queries=len(result.query_scores), threshold=threshold))
st.markdown(render("concepts.truth", truth=match.truth, phrase=phrase, found=match.found, match_iou=cv.MATCH_IOU,
                   false=match.false, ms=result.seconds * 1000, image_ms=image_ms))
if not result.instances and len(result.query_scores):
    st.info(f"No instance above {threshold:.2f}: the best query scored {result.query_scores[0]:.3f}. "
            "Lower the threshold to see what the model proposes.")
st.dataframe([{"ID": i + 1, "score": round(inst.score, 3), "box (x0, y0, x1, y1)": tuple(round(v) for v in inst.box),
               "area (px)": int(inst.mask.sum()), "best IoU with the truth": round(max(
                   (cv.mask_iou(inst.mask, t) for t in truth), default=0.0), 3)}
              for i, inst in enumerate(result.instances)], hide_index=True)

st.header("One phrase, or one click per object")
street = load_scene("street", int(cfg["red_car_seed"]), int(cfg["size"]))
cars = cv.truth_masks(street, "red car")
sam1_model, _ = session.current_model()
if sam1_model is not None and cars:
    clicks = page.model_cached(cv.sam1_clicks_on_scene, "street", int(cfg["red_car_seed"]), int(cfg["size"]), "red car")
    car_state = processor.set_image(street.image)
    car_result = cv.detect(processor, street.image, "red car", threshold, state=car_state)
    st.markdown(render("concepts.red_car", cars=len(cars), clicks=clicks.clicks, reached=clicks.reached,
                       target=0.9, found=cv.score_against(car_result, cars).found))

st.header("Inside SAM 3")
counts = cv.loaded_counts(processor.model)
st.markdown(render("concepts.architecture", queries=counts.pop("queries")))
st.dataframe([{"part": name, "parameters (loaded model)": f"{n:,}"} for name, n in counts.items()], hide_index=True)
st.info(render("concepts.clip_note"), icon=":material/link_off:")
st.markdown(render("concepts.compositions"))
orchard = load_scene("orchard", int(cfg["orchard_seed"]), int(cfg["size"]))
rows_key = (status.cache_key, int(cfg["orchard_seed"]), int(cfg["size"]), threshold)
stored_rows = st.session_state.get(k("compositions"))
if stored_rows is None or stored_rows[0] != rows_key:  # three phrases on one more image: once per model / scene
    stored_rows = (rows_key, composition_rows(processor, orchard, threshold))
    st.session_state[k("compositions")] = stored_rows
st.image(orchard.image, caption=f"orchard scene {int(cfg['orchard_seed'])}", width=220)
st.table(stored_rows[1])  # wraps its cells at any width

st.header("From SAM 2 to SAM 3")
st.table(cv.gap_rows())

st.subheader("Why SAM 3 brought its own image encoder")
probe_scenes = int(cfg["colour_probe_scenes"])
st.markdown(render("concepts.encoder_colour", scenes=probe_scenes, folds=colour.FOLDS))
sam1_model, sam1_info = session.current_model()
encoders, left_out = colour.lesson_encoders(processor.model, status.name, sam1_model, sam1_info.name,
                                            session.resolve_device())
for note in left_out:
    st.caption(note)
if encoders and st.button(f"Probe the encoders on {probe_scenes} street scenes", key=k("probe")):
    st.session_state[k("probe_done")] = (status.cache_key, sam1_info.cache_key, probe_scenes)
if encoders and st.session_state.get(k("probe_done")) == (status.cache_key, sam1_info.cache_key, probe_scenes):
    probe = part2_models.colour_probe(status.cache_key, sam1_info.cache_key, probe_scenes, int(cfg["red_car_seed"]),
                                      encoders).get("car")
    if probe is None:
        st.warning("Too few cars in these scenes for a probe: raise colour_probe_scenes.")
    else:
        st.dataframe([{"features": name, "colour named right": f"{acc:.0%}"}
                      for name, acc in probe.accuracy.items()], hide_index=True)
        worst = min(encoders, key=probe.accuracy.get)
        st.markdown(render("concepts.encoder_colour_result", cars=probe.objects, colours=len(probe.colours),
                           chance=probe.chance, pixels=probe.accuracy[colour.PIXELS], worst_name=worst,
                           worst=probe.accuracy[worst]))
st.markdown(render("concepts.speed", claim_ms=claims.PLAN_SAM3_MS_PER_IMAGE, claim_objects=claims.PLAN_SAM3_OBJECTS,
                   claim_gpu=claims.PLAN_SAM3_GPU, model_name=status.name, device=session.resolve_device(),
                   image_ms=image_ms, ms=result.seconds * 1000))
st.subheader("The plan's SAM 3 figures, beside what is counted and measured here")
cgf1_scenes = int(cfg["cgf1_scenes"])
measured = st.session_state.get(k("cgf1"))
if processor.resolution > colour.QUICK_INPUT_PX and session.resolve_device() == "cpu":
    st.caption(f"cgF1 is measured live only for models with inputs up to {colour.QUICK_INPUT_PX} px on a CPU "
               f"({status.name} takes {processor.resolution} px: minutes per scene).")
elif st.button(f"Measure cgF1 on {cgf1_scenes} held-out scenes", key=k("cgf1_run")):
    with st.spinner("Asking every phrase of every scene..."):
        measured = (status.cache_key, cgf1_scenes, cv.measure_cgf1(processor.model, processor.resolution, cgf1_scenes))
    st.session_state[k("cgf1")] = measured
current = measured[2] if measured and measured[:2] == (status.cache_key, cgf1_scenes) else None
st.table(cv.plan_claim_rows(measured=current))
st.markdown(render("concepts.finetune"))
st.table(list(cv.FINE_TUNING))  # a table wraps its long cells; a dataframe would cut them
st.caption("SAM 2: a video with masklets")
st.code(cv.SAM2_EXAMPLE, language="json")
st.caption("SAM 3: COCO-style, every instance with its noun_phrase; \"elephant\" has none: a negative")
st.code(cv.SAM3_EXAMPLE, language="json")
