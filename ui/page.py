"""What every lesson page repeats: page-prefixed state keys, the theme, the click that follows the
instructor's config, and cached model calls (one traced prediction keyed by model + image + prompt).

    keys = PageKeys("decoder")                    # keys("click") -> "decoder_click"
    (x, y), own = config_click(keys, ("desk", 0, "mug"), default=(120, 200), image_shape=(512, 512))
    run = traced_prediction(scene.image, points=[(x, y)], labels=[1])   # lesson_content TracedPrediction
    cases = model_cached(prompt_cases, "desk", 0, "mug")                # prompt_cases(model, "desk", 0, "mug")

The model is the one `ui.session.current_model()` resolved for this rerun; the caches are shared by all
sessions (`st.cache_data`), keyed by `ModelInfo.cache_key`, so they never mix two models' results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from lesson_content.live_trace import TracedPrediction, traced_predict
from ui import session, widgets


class PageKeys:
    """Session-state keys with the page's prefix (HOUSE_STYLE: `decoder_click`, `loss_gamma`)."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self, name: str) -> str:
        return f"{self.prefix}_{name}"


def dark_theme() -> bool:
    """Whether the browser shows Streamlit's dark theme (figures drawn by matplotlib follow it)."""
    return st.context.theme.type == "dark"


# ---- the click that follows the instructor's config -------------------------------------------------------

def config_click(keys: PageKeys, config_id: tuple, default: tuple[int, int],
                 image_shape: tuple[int, int]) -> tuple[tuple[int, int], bool]:
    """The page's traced click: the student's last click on `keys("canvas")`, else `default`.

    When the instructor changes the example (`config_id` differs from the one seen last), the
    student's click is dropped, so every page follows the new config. Returns ((x, y), is_students).
    """
    if st.session_state.get(keys("config")) != config_id:
        st.session_state[keys("config")] = config_id
        st.session_state[keys("click")] = None
    click = widgets.pending_click(keys("canvas"), image_shape)
    if click is not None:
        st.session_state[keys("click")] = (int(round(click.x0)), int(round(click.y0)))
    own = st.session_state[keys("click")]
    return (own if own is not None else (int(default[0]), int(default[1]))), own is not None


def back_to_config_click(keys: PageKeys) -> None:
    """Forget the student's click (a button callback): the config's click is traced again."""
    st.session_state[keys("click")] = None


# ---- the instructor's examples in the page address (a reload keeps them, a link shares them) ---------------

EXAMPLES_PARAM = "examples"  # ?examples=<examples.examples_to_query(...)>


def examples_from_address(base: dict) -> dict:
    """The session's first examples: `base` (the server's), with a link's changes over it, validated."""
    from lesson_content import examples as ex

    text = st.query_params.get(EXAMPLES_PARAM, "")
    if not text:
        return base
    examples, errors = ex.examples_from_query(text, base)
    for message in errors:
        st.warning(f"Examples in the address: {message}", icon=":material/link_off:")
    return examples


def keep_examples_in_address(examples: dict, base: dict) -> None:
    """Write the session's changes over `base` into the address (remove it when there are none)."""
    from lesson_content import examples as ex

    text = ex.examples_to_query(examples, base)
    if text:
        if st.query_params.get(EXAMPLES_PARAM) != text:
            st.query_params[EXAMPLES_PARAM] = text
    elif EXAMPLES_PARAM in st.query_params:
        del st.query_params[EXAMPLES_PARAM]


# ---- honest labels and the instructor's view -------------------------------------------------------------

def measured_label(run) -> str:
    """When and how timings were measured (a TracedPrediction or anything with `measured_at`; results are
    cached across sessions: say so)."""
    if not getattr(run, "measured_at", 0.0):
        return "Times measured on this server (time of measurement not recorded)."
    age_s = max(0.0, time.time() - run.measured_at)
    stamp = time.strftime("%H:%M:%S UTC", time.gmtime(run.measured_at))
    age = f"{age_s:.0f} s ago" if age_s < 120 else f"{age_s / 60:.0f} min ago"
    return (f"Measured on this server at {stamp} ({age}), on the machine that served this page; the result "
            "is cached for this model, image and prompt, so a repeat visit shows that measurement again.")


def instructor_note(examples: Mapping[str, Mapping[str, Any]], sections: Sequence[str]) -> None:
    """With *Instructor mode* on (sidebar): the traced-example values this page computes from."""
    if not session.instructor_mode():
        return
    from lesson_content import examples as ex

    rows = [{"key": f"[{f.section}] {f.key}", "value": str(examples[f.section][f.key]), "meaning": f.help}
            for section in sections for f in ex.fields_of(section)]
    with st.expander("Instructor mode: the traced examples this page computes from", expanded=False,
                     icon=":material/school:"):
        st.dataframe(rows, hide_index=True, width="stretch")
        st.page_link("lesson_pages/instructor.py", label="Change them on the Instructor page",
                     icon=":material/edit:")


# ---- cached model calls -------------------------------------------------------------------------------------

def _model_or_raise():
    model, info = session.current_model()
    if model is None:
        raise session.NoModelError(info.message or "No model is available.")
    return model, info


@st.cache_data(show_spinner=False, max_entries=32)
def _traced(model_key: str, image_key: str, points: tuple, labels: tuple, box: tuple | None, multimask: bool,
            _image: np.ndarray) -> TracedPrediction:
    return traced_predict(session.predictor_for(_image), points=list(points), labels=list(labels), box=box,
                          multimask=multimask)


def traced_prediction(image: np.ndarray, points: Sequence[Sequence[float]] = (), labels: Sequence[int] = (),
                      box: Sequence[float] | None = None, multimask: bool = True) -> TracedPrediction:
    """One traced predict() of the current model on `image` (uint8 [H, W, 3]) for this prompt.

    Cached across sessions by model + image content + prompt; on a miss the session's predictor runs
    (the encoder only if this session has not encoded the image yet). Raises session.NoModelError.
    """
    _, info = _model_or_raise()
    return _traced(info.cache_key, session.image_hash(image), tuple((float(x), float(y)) for x, y in points),
                   tuple(int(v) for v in labels), tuple(float(v) for v in box) if box is not None else None,
                   bool(multimask), _image=image)


@st.cache_data(show_spinner=False, max_entries=64)
def _model_call(model_key: str, function_id: str, args: tuple, _function: Callable, _model) -> Any:
    return _function(_model, *args)


def model_cached(function: Callable, *args: Any) -> Any:
    """`function(model, *args)` for the current model, cached across sessions by model, function and args.

    `function` is a plain function of the page or of lesson_content; `args` are plain values (config
    entries: kind, seed, names, clicks) that identify the result. Raises session.NoModelError.
    """
    model, info = _model_or_raise()
    function_id = f"{function.__code__.co_filename}:{function.__qualname__}"
    return _model_call(info.cache_key, function_id, args, _function=function, _model=model)


def generated_clip_key(kind: str, seed: int, frames: int, size: int) -> tuple:
    """What identifies a generated clip's frames (for caches of anything computed from them)."""
    return ("generated", kind, int(seed), int(frames), int(size))


@st.cache_data(show_spinner=False, max_entries=6)
def generated_clip(kind: str, seed: int, frames: int, size: int):
    """A procedural video (sam_core.scenes.video.render_video: frames and ground-truth tracks), drawn once
    per settings and shared by the sessions: a rerun (every click) no longer redraws its 24 frames."""
    from sam_core.scenes.video import render_video

    return render_video(kind, int(seed), int(frames), int(size))
