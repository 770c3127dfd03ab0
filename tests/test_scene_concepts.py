"""Concept data from the scenes: the vocabulary covers every rendered phrase, the split holds out whole
compositions, present/absent are exact, and exemplars stand for every instance like them."""

from __future__ import annotations

import numpy as np

from sam_core.scenes import TRAIN_KINDS, render_scene
from sam_core.scenes.concepts import (
    HELD_OUT_COMPOSITIONS,
    HELD_OUT_PHRASES,
    TRAIN_PHRASES,
    VOCABULARY,
    exemplar_prompt,
    phrases_of,
    scene_concepts,
)


def _scenes(n: int = 12):
    return [render_scene(kind, seed) for kind in TRAIN_KINDS for seed in range(n)]


def test_every_rendered_phrase_is_in_the_vocabulary():
    for scene in _scenes():
        for obj in scene.objects:
            for phrase in phrases_of(obj):
                assert phrase in VOCABULARY, (scene.kind, phrase)


def test_held_out_compositions_are_made_of_trained_words():
    trained_words = {w for p in TRAIN_PHRASES for w in p.split()}
    assert set(HELD_OUT_COMPOSITIONS) <= set(HELD_OUT_PHRASES)
    assert not set(HELD_OUT_PHRASES) & set(TRAIN_PHRASES)
    for phrase in HELD_OUT_PHRASES:
        assert set(phrase.split()) <= trained_words, phrase
    for composition in HELD_OUT_COMPOSITIONS:
        assert not any(f" {composition} " in f" {p} " for p in TRAIN_PHRASES), composition
    assert "green car window" in HELD_OUT_PHRASES and "red car" in TRAIN_PHRASES


def test_present_and_absent_are_exact():
    scene = render_scene("street", 3)
    concepts = scene_concepts(scene)
    cars = [i for i, o in enumerate(scene.objects) if o.name == "car"]
    assert concepts.present["car"] == cars
    for phrase, idx in concepts.present.items():
        assert all(phrase in phrases_of(scene.objects[i]) for i in idx)
        masks, boxes = concepts.instances(phrase)
        assert masks.shape == (len(idx), scene.size, scene.size) and boxes.shape == (len(idx), 4)
        for m, b in zip(masks, boxes, strict=True):
            x0, y0, x1, y1 = b
            assert m[y0:y1, x0:x1].sum() == m.sum() > 0
    assert set(concepts.absent).isdisjoint(concepts.present)
    assert set(concepts.absent) | set(concepts.present) == set(VOCABULARY)
    assert "elephant" in concepts.absent
    masks, boxes = concepts.instances("elephant")
    assert masks.shape == (0, scene.size, scene.size) and boxes.shape == (0, 4)


def test_exemplar_means_all_like_this_one():
    scene = render_scene("orchard", 5)
    concepts = scene_concepts(scene)
    ex = exemplar_prompt(concepts, "apple", np.random.default_rng(0))
    own = scene.objects[ex.source].phrase
    assert ex.phrase == own and ex.source in ex.targets
    assert list(ex.targets) == [i for i, o in enumerate(scene.objects) if o.phrase == own]
    assert ex.box == scene.objects[ex.source].bbox


def test_counting_ground_truth_on_savanna():
    for seed in range(10):
        scene = render_scene("savanna", seed)
        assert len(scene_concepts(scene).present["elephant"]) == len(scene.find("elephant")) >= 1
