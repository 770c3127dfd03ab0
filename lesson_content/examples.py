"""Traced examples: the instructor-editable numbers that the lesson traces by hand.

One source of truth, three layers:
  1. `traced_examples.toml` next to this file holds the defaults (committed, valid by test).
  2. `SCHEMA` below says, for every key, its type, range and help text. It drives validation here
     and the form on the Instructor page, so adding a traced value means: one row here, one line in
     the TOML, nothing else.
  3. An override file (the path given to `load_examples`, else the environment variable
     `SAM_LESSON_EXAMPLES`) replaces individual keys. It is untrusted: too large, unparsable,
     unknown keys, wrong types and out-of-range values are reported and the defaults are kept.

    examples = load_examples()            # {"prompt_click": {"x": 342, ...}, ...}
    examples["prompt_click"]["x"]         # 342
    load_errors()                         # messages from the last load_examples() call

Imports no Streamlit.
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import math
import os
import re
import stat
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import tomli_w

ENV_VAR = "SAM_LESSON_EXAMPLES"
DEFAULTS_PATH = Path(__file__).with_name("traced_examples.toml")
MAX_TOML_MB = 1  # the one upload / file limit, in the unit Streamlit's uploader states it
MAX_TOML_BYTES = MAX_TOML_MB * 1024 * 1024  # an examples file is a few KB; refuse anything silly
MAX_ERRORS_SHOWN = 8  # error lists are summarised: the first few, then a count
PUBLISHED_ENV_VAR = "SAM_LESSON_PUBLISHED"  # where published examples live (default below)
TOKEN_ENV_VAR = "SAM_LESSON_INSTRUCTOR_TOKEN"  # publishing needs this secret; unset = publishing off
DEFAULT_PUBLISHED_PATH = Path.home() / ".cache" / "sam_lesson" / "published_examples.json"
MAX_QUERY_CHARS = 4096  # an examples link carries only the changed keys


class Field(NamedTuple):
    """One traced value: where it lives, what it may be, and what it means (shown as form help)."""

    section: str
    key: str
    type: type  # int, float or str
    min: float | None
    max: float | None
    help: str
    choices: tuple[str, ...] | None = None  # for str fields; None = any short identifier
    pattern: str | None = None  # for str fields without choices: a regex instead of the identifier rule


def _scene_kinds() -> tuple[str, ...] | None:
    """The generated scene kinds, when sam_core's scene generator is importable."""
    try:
        from sam_core.scenes import SCENE_KINDS
    except Exception:  # sam_core not built yet, or broken: accept any identifier
        return None
    return tuple(SCENE_KINDS)


PHRASE_PATTERN = r"[a-z][a-z ]{0,59}"  # a noun phrase for SAM 3: lower-case words and spaces

# (section, key, type, min, max, help[, choices]) -- the schema, in display order.
SCHEMA: tuple[Field, ...] = (
    Field("prompt_click", "x", int, 0, 2047,
          "The traced click of part 1 (every part-1 page follows it): column (0 = left edge) in [scene]."),
    Field("prompt_click", "y", int, 0, 2047, "Clicked pixel, row (0 = top edge)."),
    Field("prompt_click", "image_size", int, 64, 2048,
          "Side of the square image the click is on (the demo scene is rendered at this size). "
          "SAM's input is 1024; the lesson plan divides by it."),
    Field("box_prompt", "x0", int, 0, 2047, "Box prompt, top-left corner column (same frame as the click)."),
    Field("box_prompt", "y0", int, 0, 2047, "Box prompt, top-left corner row."),
    Field("box_prompt", "x1", int, 0, 2047, "Box prompt, bottom-right corner column (> x0)."),
    Field("box_prompt", "y1", int, 0, 2047, "Box prompt, bottom-right corner row (> y0)."),
    Field("scene", "kind", str, None, None, "Which generated scene the live demos segment.", _scene_kinds()),
    Field("scene", "seed", int, 0, 2_000_000_000,
          "Random seed of the traced scene (same seed, same image; seeds from 1,000,000 were never trained on)."),
    Field("focal_trace", "p_easy", float, 1e-6, 1 - 1e-6,
          "Focal trace: the model's probability for the correct class on an easy pixel (strictly 0-1)."),
    Field("focal_trace", "p_hard", float, 1e-6, 1 - 1e-6,
          "Focal trace: the probability for the correct class on a hard, misclassified pixel."),
    Field("focal_trace", "gamma", float, 0.0, 10.0, "Focusing exponent gamma (0 = plain cross-entropy; SAM uses 2)."),
    Field("focal_trace", "alpha", float, 0.0, 1.0, "Foreground/background balance alpha (SAM uses 0.25)."),
    Field("loss_weights", "focal", float, 0.0, 1000.0, "Weight of the focal loss in the mask loss (SAM: 20)."),
    Field("loss_weights", "dice", float, 0.0, 1000.0, "Weight of the dice loss in the mask loss (SAM: 1)."),
    Field("timing_check", "clicks", int, 1, 50, "Check 1: how many objects the student clicks (also the live demo's clicks)."),
    Field("timing_check", "encoder_ms_claim", float, 0.0, 100_000.0,
          "The plan's claimed image-encoder time in ms (a claim about a GPU, not a measurement here)."),
    Field("timing_check", "decoder_ms_claim", float, 0.0, 100_000.0,
          "The plan's claimed prompt-encoder + mask-decoder time per click in ms (a claim)."),
    Field("fourier", "bands_shown", int, 1, 16, "How many Fourier bands the prompt-encoding page traces term by term."),
    Field("fourier", "plan_bands", int, 1, 128, "How many 2^k bands the lesson plan's formula uses (the float32 demo runs them all)."),
    Field("check1", "photo_width", int, 1, 100_000, "Check 1: width of the student's photograph in pixels."),
    Field("check1", "photo_height", int, 1, 100_000, "Check 1: height of the photograph in pixels."),
    # Examples that need another target than the traced click name an object, not a pixel: the click is its
    # most interior pixel.
    Field("multimask_example", "kind", str, None, None, "Multi-mask example: the scene (the plan's shirt button).",
          _scene_kinds()),
    Field("multimask_example", "seed", int, 0, 1_000_000, "Multi-mask example: the scene's seed."),
    Field("multimask_example", "target", str, None, None, "Multi-mask example: the part clicked (e.g. button)."),
    Field("multimask_example", "plan_part_score", float, 0.0, 1.0, "The plan's illustrative score of the part mask (a claim)."),
    Field("multimask_example", "plan_object_score", float, 0.0, 1.0, "The plan's illustrative score of the object mask."),
    Field("multimask_example", "plan_group_score", float, 0.0, 1.0, "The plan's illustrative score of the whole mask."),
    Field("boundary_click", "kind", str, None, None, "Check 1: the scene with two touching objects.", _scene_kinds()),
    Field("boundary_click", "seed", int, 0, 1_000_000, "Check 1: the boundary scene's seed."),
    Field("boundary_click", "object_a", str, None, None, "Check 1: the object clicked on its edge (e.g. mug)."),
    Field("boundary_click", "object_b", str, None, None, "Check 1: the object it touches (e.g. saucer)."),
    Field("sky_example", "seed", int, 0, 1_000_000, "The negative example: seed of the sky scene (no objects)."),
    Field("plan_focal", "p_easy", float, 1e-6, 1 - 1e-6, "The plan's own easy pixel (its focal trace, quoted)."),
    Field("plan_focal", "p_hard", float, 1e-6, 1 - 1e-6, "The plan's own hard pixel."),
    Field("plan_focal", "gamma", float, 0.0, 10.0, "The plan's gamma."),
    Field("plan_focal", "ratio", float, 0.0, 1e12, "The ratio the plan states for its pixels (a claim)."),
    Field("plan_focal", "ratio_rough", float, 0.0, 1e12, "The plan's other, rounder statement of the same ratio."),
    Field("zero_shot", "photo", str, None, None, "Zero-shot example: a bundled photograph (cat, coffee, astronaut, rocket)."),
    Field("zero_shot", "x", int, 0, 8191, "Zero-shot click, column in the photograph's pixels (clamped to the photo)."),
    Field("zero_shot", "y", int, 0, 8191, "Zero-shot click, row."),
    Field("ecosystem", "probe_train_per_kind", int, 1, 20,
          "Ecosystem page: scenes per kind the linear probe is fitted on (each costs one encoder run)."),
    Field("ecosystem", "probe_test_per_kind", int, 1, 20, "Ecosystem page: held-out scenes per kind it is scored on."),
    Field("ecosystem", "probe_first_seed", int, 1_000_000, 2_000_000_000,
          "Ecosystem page: first scene seed of the probe (held-out seeds start at 1,000,000)."),
    Field("ecosystem", "annotation_kind", str, None, None, "Ecosystem page: the scene the simulated annotator labels.",
          _scene_kinds()),
    Field("ecosystem", "annotation_seed", int, 0, 2_000_000_000, "Ecosystem page: that scene's seed."),
    Field("ecosystem", "similarity_kind", str, None, None, "Ecosystem page: the scene kind of the similarity map.",
          _scene_kinds()),
    Field("video_memory", "kind", str, None, None, "SAM 2 page: the generated clip's scene kind.", _scene_kinds()),
    Field("video_memory", "seed", int, 0, 2_000_000_000, "SAM 2 page: the clip's seed (same seed, same clip)."),
    Field("video_memory", "frames", int, 2, 48, "SAM 2 page: frames in the clip."),
    Field("video_memory", "size", int, 64, 512, "SAM 2 page: side of the clip's frames in pixels."),
    Field("video_memory", "target", str, None, None, "SAM 2 page: the object class tracked (the occluded one is picked)."),
    Field("video_memory", "click_frame", int, 0, 47, "SAM 2 page: the frame the object is clicked on."),
    Field("concepts", "kind", str, None, None, "SAM 3 page: the scene the phrase is tried on.", _scene_kinds()),
    Field("concepts", "seed", int, 0, 2_000_000_000, "SAM 3 page: that scene's seed."),
    Field("concepts", "size", int, 64, 1024, "SAM 3 page: side of the scenes in pixels."),
    Field("concepts", "phrase", str, None, None, "SAM 3 page: the phrase typed first (e.g. red car).",
          pattern=PHRASE_PATTERN),
    Field("concepts", "threshold", float, 0.0, 1.0, "SAM 3 page: the detection threshold (Meta's default 0.5)."),
    Field("concepts", "red_car_seed", int, 0, 2_000_000_000, "SAM 3 page: the street scene of the red-car comparison."),
    Field("concepts", "orchard_seed", int, 0, 2_000_000_000,
          "SAM 3 page: the orchard scene the compositional phrases of seed 003 are tried on."),
    Field("concepts", "colour_probe_scenes", int, 4, 200,
          "SAM 3 page: street scenes of the colour probe (why SAM 3 brought its own encoder); more is slower."),
    Field("concepts", "cgf1_scenes", int, 2, 100,
          "SAM 3 page: held-out scenes the cgF1 button measures on (about 0.6 s each with the embedded model)."),
    Field("concepts", "count_scenes", int, 1, 20, "Check 2: how many savanna scenes \"elephant\" is counted on."),
)

_FIELDS: dict[tuple[str, str], Field] = {(f.section, f.key): f for f in SCHEMA}
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def sections() -> list[str]:
    """Section names in schema order."""
    seen: list[str] = []
    for f in SCHEMA:
        if f.section not in seen:
            seen.append(f.section)
    return seen


def fields_of(section: str) -> list[Field]:
    return [f for f in SCHEMA if f.section == section]


def field(section: str, key: str) -> Field:
    return _FIELDS[(section, key)]


# -- cross-field rules: (sections they cover, check returning an error message or None) -----------

def _check_click(ex: Mapping[str, Mapping[str, Any]]) -> str | None:
    c = ex["prompt_click"]
    if c["x"] >= c["image_size"] or c["y"] >= c["image_size"]:
        return f"[prompt_click] the click ({c['x']}, {c['y']}) must lie inside the {c['image_size']} px image"
    return None


def _check_box(ex: Mapping[str, Mapping[str, Any]]) -> str | None:
    b, size = ex["box_prompt"], ex["prompt_click"]["image_size"]
    if not (b["x0"] < b["x1"] and b["y0"] < b["y1"]):
        return "[box_prompt] needs x0 < x1 and y0 < y1 (top-left, then bottom-right corner)"
    if b["x1"] >= size or b["y1"] >= size:
        return f"[box_prompt] the box must lie inside the {size} px image of [prompt_click]"
    return None


def _check_bands(ex: Mapping[str, Mapping[str, Any]]) -> str | None:
    f = ex["fourier"]
    if f["bands_shown"] > f["plan_bands"]:
        return "[fourier] bands_shown cannot exceed plan_bands"
    return None


CROSS_CHECKS: tuple[tuple[tuple[str, ...], Callable[[Mapping[str, Mapping[str, Any]]], str | None]], ...] = (
    (("prompt_click",), _check_click),
    (("box_prompt",), _check_box),
    (("fourier",), _check_bands),
)


# -- defaults -------------------------------------------------------------------------------------

_DEFAULTS: dict[str, dict[str, Any]] | None = None


def _coerce(f: Field, value: Any) -> tuple[Any, str | None]:
    """Return (clean value, None) or (None, message) for one raw value."""
    where = f"[{f.section}] {f.key}"
    if f.type is str:
        if not isinstance(value, str):
            return None, f"{where}: expected text, got {type(value).__name__}"
        value = value.strip()
        if f.choices is not None:
            if value not in f.choices:
                return None, f"{where}: {value!r} is not one of {', '.join(f.choices)}"
        elif f.pattern is not None:
            if not re.fullmatch(f.pattern, value):
                return None, f"{where}: {value!r} is not a short lower-case phrase (letters and spaces)"
        elif not _IDENTIFIER.match(value):
            return None, f"{where}: {value!r} is not a short lower-case name"
        return value, None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{where}: expected a number, got {type(value).__name__} {value!r}"
    if f.type is int:
        if isinstance(value, float):
            if not value.is_integer():
                return None, f"{where}: expected a whole number, got {value!r}"
            value = int(value)
    else:
        try:
            value = float(value)
        except OverflowError:
            return None, f"{where}: the number is too large"
        if not math.isfinite(value):
            return None, f"{where}: {value!r} is not a finite number"
    if f.min is not None and value < f.min:
        return None, f"{where}: {value!r} is below the minimum {f.min:g}"
    if f.max is not None and value > f.max:
        return None, f"{where}: {value!r} is above the maximum {f.max:g}"
    return value, None


def _read_defaults() -> dict[str, dict[str, Any]]:
    raw = tomllib.loads(DEFAULTS_PATH.read_text(encoding="utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for f in SCHEMA:
        if f.key not in raw.get(f.section, {}):
            raise KeyError(f"{DEFAULTS_PATH.name} lacks [{f.section}] {f.key} (every schema row needs a default)")
        value, err = _coerce(f, raw[f.section][f.key])
        if err:
            raise ValueError(f"{DEFAULTS_PATH.name}: {err}")
        out.setdefault(f.section, {})[f.key] = value
    for _, check in CROSS_CHECKS:
        err = check(out)
        if err:
            raise ValueError(f"{DEFAULTS_PATH.name}: {err}")
    return out


def default_examples() -> dict[str, dict[str, Any]]:
    """A fresh copy of the committed defaults (validated against SCHEMA)."""
    global _DEFAULTS
    if _DEFAULTS is None:
        _DEFAULTS = _read_defaults()
    return copy.deepcopy(_DEFAULTS)


# -- validation, parsing, loading -----------------------------------------------------------------

def validate_examples(
    raw: Mapping[str, Any], base: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Overlay the valid keys of `raw` (a parsed TOML dict, possibly partial) on `base` (defaults).

    Returns (examples, errors): `examples` is always complete and valid; every rejected value,
    unknown section or key, and failed cross-field rule is one human-readable message in `errors`
    (for a failed cross-field rule the whole section keeps its `base` values).
    """
    base_examples = copy.deepcopy(dict(base)) if base is not None else default_examples()
    examples = copy.deepcopy(base_examples)
    errors: list[str] = []
    if not isinstance(raw, Mapping):
        return examples, [f"expected a table of sections, got {type(raw).__name__}"]
    known_sections = set(sections())
    for section, table in raw.items():
        if section not in known_sections:
            errors.append(f"unknown section [{section}] (ignored)")
            continue
        if not isinstance(table, Mapping):
            errors.append(f"[{section}] should be a table of keys, got {type(table).__name__} (ignored)")
            continue
        for key, value in table.items():
            f = _FIELDS.get((section, key))
            if f is None:
                errors.append(f"unknown key [{section}] {key} (ignored)")
                continue
            clean, err = _coerce(f, value)
            if err:
                errors.append(f"{err}; keeping {base_examples[section][key]!r}")
            else:
                examples[section][key] = clean
    for covered, check in CROSS_CHECKS:
        err = check(examples)
        if err:
            errors.append(f"{err}; keeping the previous {', '.join(f'[{s}]' for s in covered)}")
            for s in covered:
                examples[s] = copy.deepcopy(base_examples[s])
    return examples, errors


def parse_examples_toml(data: bytes | str, max_bytes: int = MAX_TOML_BYTES) -> tuple[dict[str, Any], list[str]]:
    """Parse untrusted TOML text. Returns (raw dict, errors); on any error the dict is empty."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        return {}, [f"the examples file is {size:,} bytes; the limit is {max_bytes:,} bytes"]
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return {}, [f"the examples file is not UTF-8 text ({exc.reason} at byte {exc.start})"]
    try:
        return tomllib.loads(data), []
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"the examples file is not valid TOML: {exc}"]
    except (RecursionError, MemoryError):
        return {}, ["the examples file nests arrays or tables too deeply (an examples file has two levels)"]


def summarise_errors(errors: list[str], limit: int = MAX_ERRORS_SHOWN) -> list[str]:
    """The first `limit` messages and one line counting the rest (5,000 unknown keys are not 5,000 boxes)."""
    if len(errors) <= limit:
        return list(errors)
    return list(errors[:limit]) + [f"... and {len(errors) - limit:,} more problems of the same file (not shown)"]


def read_config_file(source: str, max_bytes: int = MAX_TOML_BYTES) -> tuple[bytes | None, str | None]:
    """(bytes, None) for a regular file of at most `max_bytes`, else (None, message).

    Opens without blocking (a FIFO cannot hang the server), refuses anything but a regular file
    (devices such as /dev/zero, directories, sockets) and never reads more than max_bytes + 1 bytes."""
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return None, f"cannot read the examples file {source!r}: {exc.strerror or exc}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, f"{source}: not a regular file; using defaults"
        if info.st_size > max_bytes:
            return None, f"{source}: {info.st_size:,} bytes is over the {max_bytes:,}-byte limit; using defaults"
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            return None, f"{source}: more than {max_bytes:,} bytes; using defaults"
        return data, None
    except OSError as exc:
        return None, f"cannot read the examples file {source!r}: {exc.strerror or exc}"
    finally:
        os.close(fd)


_LAST_ERRORS: list[str] = []


def load_examples(path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Defaults, then the override file (`path`, else $SAM_LESSON_EXAMPLES) key by key.

    Never raises for a bad override file: its problems go to `load_errors()` and the defaults stay.
    """
    errors: list[str] = []
    examples = default_examples()
    source = os.fspath(path) if path is not None else os.environ.get(ENV_VAR, "").strip()
    if source:
        data, read_error = read_config_file(source)
        if read_error:
            errors.append(read_error)
        else:
            raw, parse_errors = parse_examples_toml(data)
            errors.extend(f"{source}: {e}" for e in parse_errors)
            if raw:
                examples, value_errors = validate_examples(raw, examples)
                errors.extend(f"{source}: {e}" for e in value_errors)
    if path is None:  # the server's examples: the operator's file, then what an instructor published
        record, publish_errors = read_published()
        errors.extend(publish_errors)
        if record is not None:
            examples, value_errors = validate_examples(record["changes"], examples)
            errors.extend(f"published examples: {e}" for e in value_errors)
    _LAST_ERRORS[:] = summarise_errors(errors)
    return examples


# -- examples in a link (an instructor's change survives a reload and can be shared) ---------------------

def changes_of(examples: Mapping[str, Mapping[str, Any]],
               base: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{section: {key: value}} of the keys where `examples` differs from `base`."""
    out: dict[str, dict[str, Any]] = {}
    for section, key, _, new in examples_diff(base, examples):
        out.setdefault(section, {})[key] = new
    return out


def examples_to_query(examples: Mapping[str, Mapping[str, Any]], base: Mapping[str, Mapping[str, Any]]) -> str:
    """A URL-safe text with the keys that differ from `base` ("" when nothing differs)."""
    changes = changes_of(examples, base)
    if not changes:
        return ""
    text = json.dumps(changes, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(text).decode("ascii").rstrip("=")


def examples_from_query(text: str, base: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Inverse of examples_to_query over `base`; untrusted (a link anyone can edit): validated like a file."""
    if len(text) > MAX_QUERY_CHARS:
        return copy.deepcopy(dict(base)), [f"the examples link is over {MAX_QUERY_CHARS:,} characters; ignored"]
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return copy.deepcopy(dict(base)), ["the examples link is damaged; ignored"]
    examples, errors = validate_examples(raw, base)
    return examples, summarise_errors(errors)


# -- publishing to this server's students (stored on the server, validated, with who and when) ----------

def published_path() -> Path:
    return Path(os.environ.get(PUBLISHED_ENV_VAR, "").strip() or DEFAULT_PUBLISHED_PATH)


def publishing_enabled() -> bool:
    """Publishing needs the operator's secret in $SAM_LESSON_INSTRUCTOR_TOKEN (off by default)."""
    return bool(os.environ.get(TOKEN_ENV_VAR, "").strip())


def token_ok(token: str) -> bool:
    secret = os.environ.get(TOKEN_ENV_VAR, "").strip()
    return bool(secret) and hmac.compare_digest(secret.encode("utf-8"), str(token).strip().encode("utf-8"))


def read_published() -> tuple[dict[str, Any] | None, list[str]]:
    """({"changes", "by", "at"}, errors) of the published examples, (None, []) when none are published."""
    path = published_path()
    if not path.exists():
        return None, []
    data, error = read_config_file(os.fspath(path))
    if error:
        return None, [f"published examples: {error}"]
    try:
        record = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, [f"published examples: {path} is damaged; using defaults"]
    if not (isinstance(record, dict) and isinstance(record.get("changes"), dict)
            and isinstance(record.get("by"), str) and isinstance(record.get("at"), (int, float))):
        return None, [f"published examples: {path} is not a publication record; using defaults"]
    return record, []


def publish(examples: Mapping[str, Mapping[str, Any]], by: str, token: str) -> str | None:
    """Store the keys of `examples` that differ from the committed defaults for every new session.

    Returns None on success, else the reason it was refused (publishing off, wrong token, bad values).
    Written atomically (a temporary file, then a rename)."""
    if not publishing_enabled():
        return f"publishing is off on this server (the operator sets {TOKEN_ENV_VAR})"
    if not token_ok(token):
        return "the instructor token is not right"
    name = str(by).strip()
    if not re.fullmatch(r"[\w .@'-]{1,60}", name):
        return "say who publishes (1-60 letters, digits, spaces or . @ ' -)"
    changes = changes_of(examples, default_examples())
    _, errors = validate_examples(changes, default_examples())
    if errors:
        return "; ".join(summarise_errors(errors, 3))
    path = published_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"changes": changes, "by": name, "at": time.time()}, indent=1), encoding="utf-8")
    os.replace(temporary, path)
    return None


def unpublish(token: str) -> str | None:
    """Withdraw the published examples (new sessions get the defaults again). None on success."""
    if not publishing_enabled():
        return f"publishing is off on this server (the operator sets {TOKEN_ENV_VAR})"
    if not token_ok(token):
        return "the instructor token is not right"
    published_path().unlink(missing_ok=True)
    return None


def published_stamp() -> float:
    """The published file's modification time (0.0 without one): a cache key for the server's examples."""
    try:
        return published_path().stat().st_mtime
    except OSError:
        return 0.0


def load_errors() -> list[str]:
    """Messages from the most recent `load_examples()` call (empty when everything was valid)."""
    return list(_LAST_ERRORS)


def examples_to_toml(examples: Mapping[str, Mapping[str, Any]]) -> str:
    """TOML text for `examples` in schema order, each key with its help as a comment.

    `load_examples` on the result gives back the same examples (tested round trip).
    """
    lines = [
        "# SAM Lesson traced examples (export). Load with SAM_LESSON_EXAMPLES=<this file>",
        "# or import it on the Instructor page. Keys you delete fall back to the defaults.",
    ]
    for section in sections():
        lines += ["", f"[{section}]"]
        for f in fields_of(section):
            literal = tomli_w.dumps({"v": examples[section][f.key]}).strip()[len("v = "):]
            lines.append(f"{f.key} = {literal}  # {f.help}")
    return "\n".join(lines) + "\n"


def examples_diff(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, str, Any, Any]]:
    """(section, key, old, new) for every key whose value differs, in schema order."""
    return [
        (f.section, f.key, old[f.section][f.key], new[f.section][f.key])
        for f in SCHEMA
        if old[f.section][f.key] != new[f.section][f.key]
    ]


def iter_values(examples: Mapping[str, Mapping[str, Any]]) -> Iterable[tuple[Field, Any]]:
    """(field, value) pairs in schema order (for forms and tables)."""
    for f in SCHEMA:
        yield f, examples[f.section][f.key]
