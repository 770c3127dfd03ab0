"""The sidebar's "Model server" choice: run the Try it pages (Segment, Video, Concepts) on a shared model service.

A class shares one GPU: the instructor starts ``python -m sam_core.serve`` there, and each student's app
sends its clicks to it instead of running a local model. The choice is per student (their session
state): a URL and an access token. ``SAM_SERVER_URL`` / ``SAM_SERVER_TOKEN`` pre-fill them (an
instructor's deployment), ``SAM_SERVER_URL_LOCKED=1`` keeps students from pointing the app elsewhere.

- ``render_choice()``: the sidebar widgets and the connection state (connected: model, device;
  or why not: down, wrong token, not a model server).
- ``status()``: "off", "up" or "down" (with the message), checked at most every few seconds.
- ``predictor_for(image)``: a ``RemotePredictor`` with SamPredictor's ``predict`` and
  ``last_timings_ms``: the image is uploaded once (``/image/start``: the embedding stays on the
  server), each click then sends only its coordinates.
- ``video_predictor()`` (Try it: Video): the same ``(predictor, Part2Status)`` pair as
  ``ui.part2_models.sam2_video_predictor``, the predictor a ``RemoteVideoPredictor`` over ``/track/*``;
  ``part2_status("detect", "sam3")`` and ``detect_concepts(...)`` (Try it: Concepts): the page's status
  and its ``concepts_view.ConceptResult`` from ``/detect``. Both pages then run without a local SAM 2 / SAM 3.
- ``client()``: the ``SamServiceClient`` for the chosen server.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import streamlit as st

from lesson_content import concepts_view
from sam_core.serve.client import SamServiceClient, ServiceError, box_xyxy_to_cxcywh
from ui import session
from ui.part2_models import Part2Status

ON_KEY = "model_server_on"
URL_KEY = "model_server_url"
TOKEN_KEY = "model_server_token"
_STATUS_KEY = "_model_server_status"  # (url, token, checked_at, Status)
_PREDICTORS_KEY = "_model_server_predictors"  # {(url, token, image hash): RemotePredictor}
DEFAULT_URL = "http://127.0.0.1:8001"
STATUS_TTL_S = 5.0  # a down server is asked again after this long, not on every click
HEALTH_TIMEOUT_S = 5.0  # a refused connection answers at once; this bounds an unreachable host
PREDICT_TIMEOUT_S = 60.0  # a busy class server queues requests; a click waits at most this long
MAX_IMAGES = 4  # image sessions one student keeps open on the server (older ones are stopped)


@dataclass(frozen=True)
class Status:
    state: str  # "off", "up", "down"
    message: str = ""
    health: dict | None = None


def _url_problem(url: str) -> str | None:
    """Why ``url`` is not a model-server address (None if it is): http(s) with a host, nothing else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the address must look like http://host:port (http or https only)"
    if parts.query or parts.fragment or parts.username:
        return "the address must not carry a query, a fragment or a user name"
    return None


def _sentence(message: str) -> str:
    """A server's message as a sentence: capital first letter, full stop."""
    message = message.strip() or "no message"
    return message[0].upper() + message[1:] + ("" if message.endswith((".", "!", "?")) else ".")


def _settings() -> tuple[str, str]:
    url = (os.environ.get("SAM_SERVER_URL", "") if _locked() else st.session_state.get(URL_KEY, "")).strip()
    return url.rstrip("/"), st.session_state.get(TOKEN_KEY, "").strip()


def _locked() -> bool:
    return os.environ.get("SAM_SERVER_URL_LOCKED", "") == "1" and bool(os.environ.get("SAM_SERVER_URL"))


def client(timeout: float = PREDICT_TIMEOUT_S) -> SamServiceClient:
    url, token = _settings()
    return SamServiceClient(url, token=token or None, timeout=timeout)


def _check(url: str, token: str) -> Status:
    problem = _url_problem(url)
    if problem:
        return Status("down", problem)
    probe = SamServiceClient(url, token=token or None, timeout=HEALTH_TIMEOUT_S)
    try:
        health = probe.health()
        if not isinstance(health, dict) or health.get("status") != "running":
            return Status("down", f"{url} answered, but not as a SAM Lesson model server")
        if health.get("auth_required"):
            probe.sessions()  # needs the token: a wrong one is a 401 here, not on the first click
    except ServiceError as error:
        if error.status == 401:
            return Status("down", "the server needs an access token, and this one was not accepted"
                          if token else "the server needs an access token: paste the one your instructor gave")
        return Status("down", error.message)
    except ValueError:  # not JSON: some other web server
        return Status("down", f"{url} answered, but not as a SAM Lesson model server")
    return Status("up", health=health)


def status() -> Status:
    """The chosen server's state, asked again at most every STATUS_TTL_S seconds."""
    if not st.session_state.get(ON_KEY, False):
        return Status("off")
    url, token = _settings()
    cached = st.session_state.get(_STATUS_KEY)
    if cached and cached[:2] == (url, token) and time.monotonic() - cached[2] < STATUS_TTL_S:
        return cached[3]
    result = _check(url, token)
    st.session_state[_STATUS_KEY] = (url, token, time.monotonic(), result)
    return result


def _forget_status() -> None:
    st.session_state.pop(_STATUS_KEY, None)


def render_choice() -> None:
    """The sidebar part: a toggle, the address and the token, and what the server said."""
    st.session_state.setdefault(URL_KEY, os.environ.get("SAM_SERVER_URL", DEFAULT_URL))
    if _locked():
        st.session_state[URL_KEY] = os.environ["SAM_SERVER_URL"]  # shown as used
    st.session_state.setdefault(TOKEN_KEY, os.environ.get("SAM_SERVER_TOKEN", ""))
    st.toggle("Model server", key=ON_KEY, on_change=_forget_status,
              help="Run the Try it pages (Segment, Video, Concepts) on a shared model service "
                   "(python -m sam_core.serve) instead of this machine's models: one GPU for a whole class.")
    if not st.session_state.get(ON_KEY):
        return
    st.text_input("Server address", key=URL_KEY, disabled=_locked(), on_change=_forget_status,
                  placeholder=DEFAULT_URL)
    st.text_input("Access token", key=TOKEN_KEY, type="password", on_change=_forget_status,
                  help="Given by your instructor; not needed for a server on this machine.")
    current = status()
    if current.state == "up":
        health = current.health
        models = ", ".join(health.get("models", {}).values()) or health.get("model", "?")
        st.success(f"Connected: **{models}** on {health.get('device', '?')}", icon=":material/cloud_done:")
    else:
        st.error(f"**Model server unavailable.** {_sentence(current.message)}", icon=":material/cloud_off:")
        st.button("Retry", key="model_server_retry", on_click=_forget_status)


class RemotePredictor:
    """SamPredictor's ``predict`` for one image, answered by the model server (an image session there)."""

    def __init__(self, service: SamServiceClient, image: np.ndarray) -> None:
        self.service = service
        self.image = image
        self.original_size = image.shape[:2]
        self.session_id: str | None = None
        self.last_timings_ms: dict[str, float] = {}

    def _start(self) -> None:
        begin = time.perf_counter()
        self.session_id = self.service.start_image(self.image).session_id
        self.last_timings_ms = {"upload_and_encode_on_server": (time.perf_counter() - begin) * 1000}

    def predict(self, point_coords=None, point_labels=None, box=None, multimask_output: bool = True):
        """Arguments and returns as SamPredictor.predict: masks bool [N, H, W], scores [N], None (no logits)."""
        height, width = self.original_size
        request = dict(points=None if point_coords is None else np.asarray(point_coords).tolist(),
                       labels=None if point_labels is None else np.asarray(point_labels).tolist(),
                       box_cxcywh=None if box is None else box_xyxy_to_cxcywh(tuple(np.asarray(box)), width, height),
                       multimask=multimask_output)
        if self.session_id is None:
            self._start()
        begin = time.perf_counter()
        try:
            result = self.service.predict_mask(session_id=self.session_id, **request)
        except ServiceError as error:
            if error.status != 404:  # 404: the session expired (idle too long) or the server restarted
                raise
            self._start()
            begin = time.perf_counter()
            result = self.service.predict_mask(session_id=self.session_id, **request)
        self.last_timings_ms = {"server_round_trip": (time.perf_counter() - begin) * 1000}
        return result.masks, result.scores, None

    def stop(self) -> None:
        if self.session_id is not None:
            try:
                self.service.stop_image(self.session_id)
            except ServiceError:
                pass  # already gone
            self.session_id = None


class _PageSafePredictor(RemotePredictor):
    """RemotePredictor whose failures become a message on the page (and stop the run), not a traceback."""

    def predict(self, *args, **kwargs):
        try:
            return super().predict(*args, **kwargs)
        except ServiceError as error:
            _forget_status()
            st.error(f"**The model server did not answer the click.** {_sentence(error.message)} Try again, or "
                     "switch **Model server** off in the sidebar to use this machine's model.",
                     icon=":material/cloud_off:")
            st.stop()


def predictor_for(image: np.ndarray) -> RemotePredictor:
    """This student's RemotePredictor for ``image`` on the chosen server (one image session per image)."""
    current = status()
    if current.state != "up":
        st.error(f"**Model server unavailable.** {_sentence(current.message)} Switch **Model server** off in the sidebar "
                 "to use this machine's model.", icon=":material/cloud_off:")
        st.stop()
    url, token = _settings()
    predictors: dict = st.session_state.setdefault(_PREDICTORS_KEY, {})
    key = (url, token, session.image_hash(image))
    if key not in predictors:
        while len(predictors) >= MAX_IMAGES:
            predictors.pop(next(iter(predictors))).stop()
        predictors[key] = _PageSafePredictor(client(), image)
    return predictors[key]


# ---- Try it: Video and Concepts through the server ------------------------------------------------
def part2_status(capability: str, family: str) -> Part2Status:
    """The pages' Part2Status for the server's model of ``family`` ("sam2", "sam3")."""
    current = status()
    if current.state != "up":
        return Part2Status("the model server", False, f"Model server unavailable. {_sentence(current.message)}")
    name = current.health.get("models", {}).get(family)
    if capability not in current.health.get("capabilities", []) or name is None:
        label, flag = {"sam2": ("SAM 2 video", "--video-model"), "sam3": ("SAM 3 concept", "--concept-model")}[family]
        return Part2Status("the model server", False, f"The model server has no {label} model (its operator "
                           f"starts it with {flag}). Switch **Model server** off to use this machine's model.")
    url, token = _settings()
    return Part2Status(f"{name} on the model server", True, cache_key=f"server|{url}|{hash(token)}|{name}")


def _sign_logits(masks: np.ndarray):
    """bool [N, H, W] from the server -> float [N, 1, H, W] torch "logits" of +1 / -1: the server sends the
    thresholded masks, so only their sign is known (all that ``lesson_content.video_tracking`` reads)."""
    import torch

    return torch.from_numpy(np.where(masks, 1.0, -1.0).astype(np.float32))[:, None]


class RemoteVideoPredictor:
    """SAM2VideoPredictor's interactive API (init_state, add_new_points_or_box, propagate_in_video)
    answered by the server's /track/* session: lesson_content.video_tracking runs on it as
    on a local predictor. Masks come back binary (their logits' sign)."""

    def __init__(self, service: SamServiceClient) -> None:
        self.service = service

    def init_state(self, frames) -> dict:
        started = self.service.track_start(list(frames))
        return {key: started[key] for key in ("session_id", "num_frames", "width", "height")}

    def add_new_points_or_box(self, inference_state: dict, frame_idx: int, obj_id: int, points=None, labels=None,
                              clear_old_points: bool = True, normalize_coords: bool = True, box=None):
        if not clear_old_points or not normalize_coords:
            raise ValueError("the model server takes every click of a frame at once, in pixels "
                             "(clear_old_points=True, normalize_coords=True)")
        box_cxcywh = None if box is None else box_xyxy_to_cxcywh(
            tuple(np.asarray(box, dtype=float)), inference_state["width"], inference_state["height"])
        result = self.service.track_prompt(
            inference_state["session_id"], frame_idx=int(frame_idx), obj_id=int(obj_id),
            points=None if points is None else np.asarray(points, dtype=float).tolist(),
            labels=None if labels is None else np.asarray(labels).astype(int).tolist(), box_cxcywh=box_cxcywh)
        return result.frame_idx, result.object_ids, _sign_logits(result.masks)

    def propagate_in_video(self, inference_state: dict, start_frame_idx: int | None = None,
                           max_frame_num_to_track: int | None = None, reverse: bool = False):
        frames = self.service.track_propagate(
            inference_state["session_id"], direction="backward" if reverse else "forward", start_frame=start_frame_idx,
            max_frames=-1 if max_frame_num_to_track is None else max_frame_num_to_track)
        for frame in sorted(frames, key=lambda f: f.frame_idx, reverse=reverse):  # the predictor's order
            yield frame.frame_idx, frame.object_ids, _sign_logits(frame.masks)


class _PageSafeVideoPredictor(RemoteVideoPredictor):
    """RemoteVideoPredictor whose failures (server down, session expired) become a message, not a traceback."""

    def _safely(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except ServiceError as error:
            _forget_status()
            hint = " The tracking session ended (idle too long, or the server restarted): pick the video again." \
                if error.status == 404 else ""
            st.error(f"**The model server did not answer.** {_sentence(error.message)}{hint}",
                     icon=":material/cloud_off:")
            st.stop()

    def init_state(self, frames) -> dict:
        return self._safely(super().init_state, frames)

    def add_new_points_or_box(self, *args, **kwargs):
        return self._safely(super().add_new_points_or_box, *args, **kwargs)

    def propagate_in_video(self, *args, **kwargs):
        yield from self._safely(lambda: list(super(_PageSafeVideoPredictor, self).propagate_in_video(*args, **kwargs)))


def video_predictor() -> tuple[RemoteVideoPredictor | None, Part2Status]:
    """(RemoteVideoPredictor, status) for Try it: Video, or (None, why not)."""
    current = part2_status("track", "sam2")
    return (_PageSafeVideoPredictor(client()) if current.ready else None), current


def detect_concepts(image: np.ndarray, phrase: str, boxes: list[tuple[list[float], bool]],
                    threshold: float) -> concepts_view.ConceptResult:
    """concepts_view.detect_with_boxes, answered by the server's /detect: a phrase (may be empty) and exemplar
    boxes ([x0, y0, x1, y1] pixels, positive?) -> the same ConceptResult (instances best first)."""
    height, width = image.shape[:2]
    begin = time.perf_counter()
    try:
        detections, answer = client().detect(
            image, text=phrase or None, confidence=float(threshold),
            boxes_cxcywh=[box_xyxy_to_cxcywh(tuple(b), width, height) for b, _ in boxes] or None,
            box_labels=[1 if positive else 0 for _, positive in boxes] or None)
    except ServiceError as error:
        _forget_status()
        st.error(f"**The model server did not answer.** {_sentence(error.message)}", icon=":material/cloud_off:")
        st.stop()
    seconds = time.perf_counter() - begin
    instances = [concepts_view.Instance(d.mask, tuple(float(v) for v in d.bbox), d.score) for d in detections]
    return concepts_view.ConceptResult(phrase, float(answer["presence"]), instances,
                                       np.asarray(answer["query_scores"], dtype=np.float32), float(threshold),
                                       {"server_round_trip": seconds * 1000}, seconds)
