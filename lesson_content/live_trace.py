"""One traced prediction, as plain numpy: what the decoder, pipeline, loss and check pages read.

    run = traced_predict(predictor, points=[(x, y)], labels=[1])
    run.masks          # bool [3, H, W]           (what the student sees)
    run.records["decoder.layer0.token_to_image"]   # float32 [1, heads, T, 4096]
    run.timings_ms["mask_decoder"]

Everything is numpy so Streamlit can cache it (st.cache_data pickles results). Imports no Streamlit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TracedPrediction:
    """The result of SamPredictor.predict under sam_core.tracing.trace(), converted to numpy.

    masks bool [C, H, W], scores float [C], low_res float [C, 256, 256]; records: name -> array (shapes
    as in docs/ARCHITECTURE.md); timings_ms / counts as recorded; sizes: original (H, W), input (h, w) after
    ResizeLongestSide, img_size = the encoder's square input side.
    """

    masks: np.ndarray
    scores: np.ndarray
    low_res: np.ndarray
    records: dict[str, np.ndarray]
    timings_ms: dict[str, float]
    counts: dict[str, int]
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    img_size: int
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    multimask: bool = True
    measured_at: float = 0.0  # time.time() when this run was measured (pages cache runs: say when)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.records[name].shape)


def traced_predict(
    predictor,
    points: Sequence[Sequence[float]] | None = None,
    labels: Sequence[int] | None = None,
    box: Sequence[float] | None = None,
    mask_input: np.ndarray | None = None,
    multimask: bool = True,
    image: np.ndarray | None = None,
) -> TracedPrediction:
    """Run predictor.predict inside a trace. With `image`, set_image runs inside the trace too, so the
    image encoder's time and run count are recorded (use a fresh predictor for that)."""
    from sam_core.tracing import trace

    pts = [(float(x), float(y)) for x, y in points] if points else []
    lbl = [int(v) for v in labels] if labels is not None else []
    with trace() as t:
        if image is not None:
            predictor.set_image(np.ascontiguousarray(image, dtype=np.uint8))
        masks, scores, low_res = predictor.predict(
            point_coords=np.asarray(pts, dtype=np.float32) if pts else None,
            point_labels=np.asarray(lbl, dtype=np.int64) if pts else None,
            box=np.asarray(box, dtype=np.float32) if box is not None else None,
            mask_input=mask_input,
            multimask_output=multimask,
        )
    return TracedPrediction(
        masks=np.asarray(masks, dtype=bool),
        scores=np.asarray(scores, dtype=np.float32),
        low_res=np.asarray(low_res, dtype=np.float32),
        records={name: tensor.numpy() for name, tensor in t.records.items()},
        timings_ms=dict(t.timings_ms),
        counts=dict(t.counts),
        original_size=tuple(int(v) for v in predictor.original_size),
        input_size=tuple(int(v) for v in predictor.input_size),
        img_size=int(predictor.model.image_encoder.img_size),
        points=pts,
        labels=lbl,
        box=tuple(float(v) for v in box) if box is not None else None,
        multimask=multimask,
        measured_at=time.time(),
    )
