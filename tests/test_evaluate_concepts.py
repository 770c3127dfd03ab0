"""The concept benchmark's metrics follow SAM 3's definitions (pmF1 over IoU 0.5:0.95, IL_MCC, cgF1)."""

from __future__ import annotations

import numpy as np

from sam_core.evaluate_concepts import IOU_THRESHOLDS, ConceptScore, match_counts, matthews


def _square(x0: int, y0: int, s: int, size: int = 32) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[y0:y0 + s, x0:x0 + s] = True
    return m


def test_perfect_detections_score_100():
    score = ConceptScore()
    truth = np.stack([_square(0, 0, 8), _square(16, 16, 8)])
    score.add(truth[::-1].copy(), truth)  # order does not matter: one-to-one matching
    score.add(np.zeros((0, 32, 32), bool), np.zeros((0, 32, 32), bool))  # a correct "absent"
    s = score.summary()
    assert s["pmF1"] == 1.0 and s["IL_MCC"] == 1.0 and s["cgF1"] == 100.0


def test_iou_thresholds_and_false_positives():
    truth = _square(0, 0, 10)[None]
    shifted = _square(0, 2, 10)[None]  # IoU = 80 / 120 = 0.667
    counts = match_counts(shifted, truth)
    assert counts[0.5] == (1, 0, 0) and counts[0.65] == (1, 0, 0) and counts[0.7] == (0, 1, 1)
    assert len(IOU_THRESHOLDS) == 10
    extra = np.concatenate([truth, _square(20, 20, 5)[None]])
    assert match_counts(extra, truth)[0.95] == (1, 1, 0)


def test_missed_concepts_and_false_alarms_lower_mcc():
    score = ConceptScore()
    truth = _square(0, 0, 8)[None]
    score.add(np.zeros((0, 32, 32), bool), truth)  # missed
    score.add(truth, np.zeros((0, 32, 32), bool))  # false alarm on an absent phrase
    s = score.summary()
    assert s["pmF1"] == 0.0 and s["IL_MCC"] == -1.0 and s["false_positive_rate"] == 1.0
    assert matthews(5, 0, 0, 5) == 1.0 and matthews(0, 0, 0, 10) == 0.0
