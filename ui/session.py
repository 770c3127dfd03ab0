"""Per-session state shared by the pages: the chosen model, the student's predictor, traced examples.

The model is loaded once per (model, checkpoint, device) with `st.cache_resource` and shared by every
session, so nothing here mutates it. What belongs to one student (the image embedding, clicks,
answers) lives in `st.session_state`, under keys prefixed by the page that owns them
(`segment_points`, `app_model`); keys owned by this module start with `app_` or `_ui_`.

Model choice (set by the sidebar in app.py, read by every page through `current_model()`):
  st.session_state["app_model"]  = {"source": "embedded" | "registry" | "path", "name": str, "path": str}
  st.session_state["app_device"] = "auto" | "cpu" | "cuda" | "mps"
Environment overrides (tests, instructors): SAM_CHECKPOINT=<file> makes the default model that file,
SAM_MODEL_TYPE=<registry key> its architecture (default "nano").

Class mode (SAM_LESSON_CLASS_MODE=1, for a server shared by a class): the sidebar offers no free path
box: local checkpoints, if any, are the files of SAM_LESSON_CHECKPOINT_DIR, picked by name; messages
never show server paths (details go to the server log).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from lesson_content.examples import load_examples, published_stamp
from sam_core.device import resolve_device as _resolve_device
from sam_core.sam1.build import NANO_WEIGHTS, build_sam
from sam_core.sam1.predictor import SamPredictor
from sam_core.weights import download
from sam_core.weights.checkpoint import MAX_CHECKPOINT_BYTES, _sniff
from sam_core.weights.registry import KNOWN_MODELS, ModelSpec, get_spec
from ui import model_queue

log = logging.getLogger(__name__)

MODEL_KEY = "app_model"
DEVICE_KEY = "app_device"
INSTRUCTOR_KEY = "app_instructor"
EXAMPLES_KEY = "app_examples"
_PREDICTOR_KEY = "_ui_predictor"
_CURRENT_KEY = "_ui_current_model"  # (model, ModelInfo) resolved for the current run
_DOWNLOADED_KEY = "_ui_downloaded"  # registry name -> local checkpoint path, after a download


@dataclass(frozen=True)
class ModelInfo:
    """What the sidebar chose and whether it can run.

    status: "ready" (weights found, model loaded or loadable), "no_weights" (embedded weights not there
    yet), "not_downloaded" (a registry model whose file is not in the local cache), "error" (the
    checkpoint failed to load: see message).
    """

    name: str  # display name: "nano (embedded)", "vit_b", "my_model.pth"
    source: str  # "embedded" | "env" | "registry" | "path"
    model_type: str  # key of sam_core.sam1.build.sam_model_registry
    checkpoint: str | None  # file to load; None = the builder's own default
    device: str  # "cpu", "cuda", "mps" (resolved, not "auto")
    status: str
    message: str = ""

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def cache_key(self) -> str:
        """Identifies the loaded weights for caches shared across sessions ("nano|/path/x.pt|cpu")."""
        return f"{self.model_type}|{self.checkpoint}|{self.device}"


# ---- class mode and local checkpoint files -------------------------------------------------------

CLASS_MODE_ENV = "SAM_LESSON_CLASS_MODE"
CHECKPOINT_DIR_ENV = "SAM_LESSON_CHECKPOINT_DIR"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
MAX_LISTED_CHECKPOINTS = 200


def class_mode() -> bool:
    """Whether the app serves a class (SAM_LESSON_CLASS_MODE=1): no server paths typed or shown."""
    return os.environ.get(CLASS_MODE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def checkpoint_folder() -> Path | None:
    """The operator's folder of checkpoints (SAM_LESSON_CHECKPOINT_DIR), or None."""
    configured = os.environ.get(CHECKPOINT_DIR_ENV, "").strip()
    return Path(configured).resolve() if configured and Path(configured).is_dir() else None


def local_paths_allowed() -> bool:
    """Local checkpoints: any path on a student's own machine; in class mode only the operator's folder."""
    return not class_mode() or checkpoint_folder() is not None


def local_checkpoints() -> list[str]:
    """File names (regular files with a checkpoint suffix) in checkpoint_folder(), sorted; [] if none."""
    folder = checkpoint_folder()
    if folder is None:
        return []
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in CHECKPOINT_SUFFIXES and p.is_file())
    return names[:MAX_LISTED_CHECKPOINTS]


def checkpoint_problem(path: Path) -> str | None:
    """Why `path` cannot be a checkpoint, checked before any model is built (cheap), or None.

    Regular files only (a FIFO would block, /dev/zero never ends), a checkpoint suffix, a size within
    sam_core.weights.checkpoint.MAX_CHECKPOINT_BYTES, and first bytes of a zip, pickle or safetensors file.
    """
    if not path.is_file():
        return "it is not a regular file"
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        return f"only {', '.join(CHECKPOINT_SUFFIXES)} files are checkpoints"
    size = path.stat().st_size
    if not 0 < size <= MAX_CHECKPOINT_BYTES:
        return "its size is not that of a SAM checkpoint"
    with path.open("rb") as file:
        kind = _sniff(file.read(64), size)
    if kind not in ("zip", "pickle", "safetensors"):
        return f"it is {kind}, not a PyTorch or safetensors checkpoint"
    return None


# ---- model choice -------------------------------------------------------------------------------

def model_choice() -> dict[str, str]:
    """The sidebar's current choice (defaults to the embedded model)."""
    return st.session_state.setdefault(MODEL_KEY, {"source": "embedded", "name": "nano", "path": ""})


def set_model_choice(source: str, name: str = "", path: str = "") -> None:
    st.session_state[MODEL_KEY] = {"source": source, "name": name, "path": path}


def resolve_device() -> str:
    """The device the sidebar chose, resolved through sam_core.device ("auto" -> cuda, mps, cpu)."""
    return device_choice()[0]


def device_choice() -> tuple[str, str | None]:
    """(device, warning): the warning says why a requested device was not used (else None)."""
    override = st.session_state.get(DEVICE_KEY, "auto")
    override = None if override in (None, "", "auto") else override
    choice = _resolve_device(override)
    return str(choice.device), choice.warning


def known_models() -> dict[str, ModelSpec]:
    """The registry's SAM 1 models that are downloaded, not shipped (the embedded nano is its own entry).

    SAM 2 and SAM 3 weights are registry entries too, but the image pages build SAM 1 models only.
    """
    return {name: spec for name, spec in KNOWN_MODELS.items() if not spec.is_local and spec.family == "sam1"}


def registry_model_type(name: str) -> str:
    """The builder (sam_model_registry key) of a registry model: "sam_vit_b" -> "vit_b"."""
    return get_spec(name).model_type


def cached_checkpoint(name: str) -> str | None:
    """Local path of a registry model's checkpoint if it was downloaded already (no network)."""
    downloaded = st.session_state.get(_DOWNLOADED_KEY, {})
    if name in downloaded and Path(downloaded[name]).exists():
        return downloaded[name]
    try:
        # Cache only (no network), no hash: the hash was checked when the file was downloaded.
        return str(download.fetch_checkpoint(name, offline=True, verify=False))
    except Exception:  # OfflineError (not cached), CheckpointError (cache entry broken): not downloaded
        return None


def remember_download(name: str, path: str) -> None:
    st.session_state.setdefault(_DOWNLOADED_KEY, {})[name] = str(path)


def model_info() -> ModelInfo:
    """Resolve the sidebar's choice (and env overrides) into a ModelInfo, without loading anything."""
    device = resolve_device()
    choice = model_choice()
    source = choice.get("source", "embedded")
    if source == "registry":
        name = choice.get("name", "")
        model_type = registry_model_type(name)
        path = cached_checkpoint(name)
        if path is None:
            return ModelInfo(name, "registry", model_type, None, device, "not_downloaded",
                             f"{name} is not downloaded yet: use the download button in the sidebar.")
        return ModelInfo(name, "registry", model_type, path, device, "ready")
    if source == "path":
        return _local_file_info(choice, device)
    env_path = download.checkpoint_from_env("nano")
    env_checkpoint = str(env_path) if env_path else ""
    if env_checkpoint:
        model_type = os.environ.get("SAM_MODEL_TYPE", "nano").strip() or "nano"
        if not Path(env_checkpoint).is_file():
            return ModelInfo(f"{model_type} (SAM_CHECKPOINT)", "env", model_type, env_checkpoint, device, "error",
                             f"SAM_CHECKPOINT points to {env_checkpoint}, which does not exist.")
        return ModelInfo(f"{model_type} ({Path(env_checkpoint).name})", "env", model_type, env_checkpoint,
                         device, "ready")
    if not NANO_WEIGHTS.exists():
        return ModelInfo("nano (embedded)", "embedded", "nano", None, device, "no_weights",
                         "No weights yet: the embedded nano model has not been trained and committed. "
                         "Pick a known model in the sidebar and download it, or give a local checkpoint.")
    return ModelInfo("nano (embedded)", "embedded", "nano", str(NANO_WEIGHTS), device, "ready")


def _local_file_info(choice: dict, device: str) -> ModelInfo:
    """ModelInfo of a local checkpoint: a path (own machine), or a name in the operator's folder (class)."""
    model_type = choice.get("name") or "vit_b"
    typed = choice.get("path", "").strip()
    if class_mode():
        folder = checkpoint_folder()
        if folder is None or typed not in local_checkpoints():
            return ModelInfo("local file", "path", model_type, None, device, "error",
                             "Pick a checkpoint from the list in the sidebar.")
        path = folder / typed
    else:
        if not typed:
            return ModelInfo("local file", "path", model_type, None, device, "error",
                             "Enter the path of a checkpoint file in the sidebar.")
        path = Path(typed).expanduser()
        if not path.exists():
            return ModelInfo(path.name, "path", model_type, typed, device, "error", f"No file at {typed}.")
    problem = checkpoint_problem(path)
    if problem:
        return ModelInfo(path.name, "path", model_type, str(path), device, "error",
                         f"{path.name} cannot be loaded: {problem}.")
    return ModelInfo(path.name, "path", model_type, str(path), device, "ready")


_FAILED_LOADS: dict[tuple, str] = {}  # (model, file, size, mtime, device) -> message; shared, bounded
MAX_FAILED_LOADS = 64


def _failure_key(info: ModelInfo) -> tuple:
    try:
        stat = Path(info.checkpoint).stat() if info.checkpoint else None
    except OSError:
        stat = None
    return (info.model_type, info.checkpoint, info.device,
            stat.st_size if stat else None, stat.st_mtime_ns if stat else None)


@st.cache_resource(show_spinner="Loading the model ...", max_entries=3)
def _load_model(model_type: str, checkpoint: str | None, device: str):
    """Build and load one model; shared by all sessions (never mutate the result)."""
    model = build_sam(model_type, checkpoint=checkpoint, device=device)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def torch_threads() -> int:
    """Intra-op threads for one student's model calls: SAM_LESSON_TORCH_THREADS, else 1 on <= 2 cores,
    else half the cores.

    Why: Streamlit runs every session's script in its own thread, and a classroom shares the machine.
    Measured on the 2-core build machine under load: nano decoder 46 ms with 1 thread vs 868 ms with 2,
    encoder 53 ms vs 1509 ms (threads of one op wait on each other when the cores are busy).
    """
    configured = os.environ.get("SAM_LESSON_TORCH_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return 1 if cores <= 2 else cores // 2


def _configure_torch_threads() -> None:
    """Apply torch_threads() to the calling thread (the setting is per thread: call it in each run)."""
    import torch

    threads = torch_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def resolve_model():
    """Resolve the sidebar's choice and load the model: (Sam | None, ModelInfo), kept for this run.

    The sidebar calls it once per full run, after its widgets set the choice; every later
    `current_model()` of the run (pages, predictors, the timings) reads the kept pair back.
    """
    info = model_info()
    model = None
    if info.ready:
        failure_key = _failure_key(info)
        message = _FAILED_LOADS.get(failure_key)
        if message is None:
            try:
                model = _load_model(info.model_type, info.checkpoint, info.device)
            except Exception as error:  # a corrupt or mismatched checkpoint: say so, keep the app running
                log.warning("could not load %s (%s): %s", info.checkpoint, info.model_type, error)
                detail = "" if class_mode() else f": {type(error).__name__}: {error}"
                message = f"Could not load {info.name} as {info.model_type}{detail}"
                if len(_FAILED_LOADS) >= MAX_FAILED_LOADS:
                    _FAILED_LOADS.clear()
                _FAILED_LOADS[failure_key] = message  # the same file is not built and read again each rerun
        if message is not None:
            info = ModelInfo(info.name, info.source, info.model_type, info.checkpoint, info.device, "error",
                             message)
    st.session_state[_CURRENT_KEY] = (model, info)
    return model, info


def current_model():
    """The model of this run and its info: (Sam | None, ModelInfo); None when it cannot run (see info).

    Resolved once per run by the sidebar (`resolve_model`); a script without the sidebar (a test
    that runs a bare script) resolves it on first use.
    """
    _configure_torch_threads()  # per thread, and every run (a fragment's too) has its own thread
    current = st.session_state.get(_CURRENT_KEY)
    return current if current is not None else resolve_model()


# ---- the student's predictor ----------------------------------------------------------------------

class NoModelError(RuntimeError):
    """Raised by predictor_for when no model can run; the message says why (for st.warning)."""


_HASH_MEMO: dict[int, tuple[np.ndarray, str]] = {}  # id -> (the array itself, its hash); read-only arrays


def image_hash(image: np.ndarray) -> str:
    """Content hash of an image array (shape and dtype included).

    Read-only arrays (the bundled photos, scenes and uploads the pages keep) cannot change, so their
    hash is memoised by identity; the memo holds the array, so its id cannot be reused meanwhile.
    """
    memo = _HASH_MEMO.get(id(image))
    if memo is not None and memo[0] is image:
        return memo[1]
    array = np.ascontiguousarray(image)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.shape}{array.dtype}".encode())
    digest.update(memoryview(array).cast("B"))
    value = digest.hexdigest()
    if isinstance(image, np.ndarray) and not image.flags.writeable:
        if len(_HASH_MEMO) >= 64:
            _HASH_MEMO.clear()  # small and rarely full: start over rather than track order
        _HASH_MEMO[id(image)] = (image, value)
    return value


PREDICTORS_PER_SESSION = 4  # embeddings kept per student: switching between pages' images is free


def predictor_for(image: np.ndarray):
    """This session's SamPredictor over the shared model, with `image` set.

    The heavy encoder runs only for an image (content hash) no session has encoded with this model
    recently (ui.model_queue's shared, bounded embedding cache); the session keeps up to
    PREDICTORS_PER_SESSION predictors, one per image, so pages with different images do not redo each
    other's. Predictors live in st.session_state: one student's prompts never reach another session;
    the shared embedding and model are only read.
    Raises NoModelError when no model is available.
    """
    model, info = current_model()
    if model is None:
        raise NoModelError(info.message or "No model is available.")
    state = st.session_state.get(_PREDICTOR_KEY)
    model_key = (info.cache_key, id(model))
    if state is None or state["model_key"] != model_key:
        state = {"model_key": model_key, "by_image": {}, "last": None}  # by_image: hash -> predictor, LRU
        st.session_state[_PREDICTOR_KEY] = state
    digest = image_hash(image)
    by_image = state["by_image"]
    predictor = by_image.pop(digest, None)
    if predictor is None:
        if len(by_image) >= PREDICTORS_PER_SESSION:
            by_image.pop(next(iter(by_image)))  # least recently used
        predictor = SamPredictor(model)
        # Through the model's worker, and shared by every session that has the same image (same model).
        model_queue.set_image_shared(predictor, image, info.cache_key, digest, torch_threads())
    by_image[digest] = predictor  # (re)inserted last = most recently used
    state["last"] = predictor
    return predictor


_LAST_PREDICTION_KEY = "_ui_last_prediction"  # (predictor, prompt key, result) of this session's last call


def _prompt_key(prompts: dict) -> tuple:
    return tuple((name, (value.shape, value.tobytes()) if isinstance(value, np.ndarray) else value)
                 for name, value in sorted(prompts.items()))


def predict(predictor, **prompts):
    """predictor.predict(**prompts) on the model's worker thread (ui.model_queue: one queue per model).

    The session's last call is kept: a rerun with the same predictor and prompts (showing another of
    the three masks, a download) reuses its result instead of queueing the model again.
    Raises model_queue.ModelBusyError when too many students' calls are waiting already.
    """
    key = _prompt_key(prompts)
    last = st.session_state.get(_LAST_PREDICTION_KEY)
    if last is not None and last[0] is predictor and last[1] == key:
        return last[2]
    _, info = current_model()
    result = model_queue.worker_for(info.cache_key, torch_threads()).call(predictor.predict, **prompts)
    st.session_state[_LAST_PREDICTION_KEY] = (predictor, key, result)
    return result


def last_predictor():
    """The session's most recently used predictor (for the sidebar's timings), else None."""
    state = st.session_state.get(_PREDICTOR_KEY)
    return None if state is None else state["last"]


# ---- traced examples ------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=4)
def _default_examples(published_stamp: float) -> dict:
    return load_examples()  # defaults, the operator's file, then the published examples (keyed by their mtime)


def server_examples() -> dict:
    """What a new session starts from: defaults + $SAM_LESSON_EXAMPLES + the examples an instructor published."""
    return copy.deepcopy(_default_examples(published_stamp()))


def get_examples() -> dict:
    """The session's traced examples: the server's, or an instructor's link (?examples=...) over them.

    Instructor changes live in the page address (ui/page.py keeps it there), so a reload keeps them."""
    if EXAMPLES_KEY not in st.session_state:
        from ui.page import examples_from_address  # the address <-> examples glue lives with the pages

        st.session_state[EXAMPLES_KEY] = examples_from_address(server_examples())
    from ui.page import keep_examples_in_address

    keep_examples_in_address(st.session_state[EXAMPLES_KEY], server_examples())
    return st.session_state[EXAMPLES_KEY]


def set_examples(examples: dict) -> None:
    """Replace the session's traced examples (the instructor's edits); every page reads them back."""
    st.session_state[EXAMPLES_KEY] = copy.deepcopy(examples)


def reset_examples() -> None:
    st.session_state.pop(EXAMPLES_KEY, None)
    st.query_params.pop("examples", None)


def instructor_mode() -> bool:
    return bool(st.session_state.get(INSTRUCTOR_KEY, False))

