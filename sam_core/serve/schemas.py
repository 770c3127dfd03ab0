"""The JSON answers of the SAM 3 and SAM 2 endpoints, as pydantic models for the OpenAPI schema.

The routes build plain dicts (no second validation pass over megabytes of base64); these models only
document them, and ``tests/test_serve_concepts_video.py`` checks that real answers have exactly these keys.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class DetectedObject(BaseModel):
    mask: str = Field(description="base64 PNG, 8-bit grayscale, 255 = object, the image's size")
    bbox: list[float] = Field(description="[x0, y0, x1, y1] in pixels")
    score: float = Field(description="σ(query logit) · σ(presence logit)")
    label: str = Field(description="the phrase, or 'visual exemplar' for boxes alone")


class DetectAnswer(BaseModel):
    model: str
    family: str
    width: int
    height: int
    sha256: str = Field(description="of the uploaded bytes (the backbone cache key)")
    text: str | None
    confidence: float
    count: int
    shape: list[int] = Field(description="[N, H, W] of the masks")
    objects: list[DetectedObject] = Field(description="best score first")
    presence: float = Field(description="σ(presence logit): is the concept in the image at all?")
    query_scores: list[float] = Field(description="σ(logit)·presence of every query, kept or not, high first")
    notes: list[str]


class TrackStartAnswer(BaseModel):
    session_id: str
    kind: str
    frames: int = Field(description="frames this session holds of the server's budget")
    expires_in_s: float
    num_frames: int
    width: int
    height: int
    model: str
    family: str


class TrackedFrame(BaseModel):
    frame_idx: int
    object_ids: list[int]
    num_objects: int
    masks: list[str] = Field(description="base64 PNG per object, in the order of object_ids")
    areas: list[int] = Field(description="pixels per mask")


class TrackPromptAnswer(TrackedFrame):
    session_id: str
    obj_id: int = Field(description="the object the prompt was for (1 when none was sent)")
    shape: list[int] = Field(description="[N_obj, H, W]")


class TrackPropagateAnswer(BaseModel):
    session_id: str
    direction: str
    start_frame: int | None
    max_frames: int | None = Field(description="as passed to the predictor: None = every frame")
    video_frames: int
    num_frames_tracked: int
    shape: list[int] = Field(description="[N_obj, H, W] of each frame's masks")
    frames: list[TrackedFrame] = Field(description="in frame order")


class StoppedAnswer(BaseModel):
    session_id: str
    stopped: bool
