"""Tests for the procedural scene generator (sam_core.scenes)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sam_core.scenes import SCENE_KINDS, Scene, render_scene


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_deterministic(kind):
    a, b = render_scene(kind, 7), render_scene(kind, 7)
    assert np.array_equal(a.image, b.image)
    assert [(o.name, o.phrase, o.level, o.parent) for o in a.objects] == [
        (o.name, o.phrase, o.level, o.parent) for o in b.objects]
    for oa, ob in zip(a.objects, b.objects, strict=True):
        assert np.array_equal(oa.mask, ob.mask)
    c = render_scene(kind, 8)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("kind", SCENE_KINDS)
@pytest.mark.parametrize("size", [256, 128, 48])
def test_shapes_and_hierarchy(kind, size):
    for seed in range(4):
        sc = render_scene(kind, seed, size)
        assert isinstance(sc, Scene) and sc.kind == kind and sc.seed == seed
        assert sc.image.shape == (size, size, 3) and sc.image.dtype == np.uint8
        for i, o in enumerate(sc.objects):
            assert o.mask.shape == (size, size) and o.mask.dtype == bool
            assert o.level in ("part", "object", "group")
            assert o.name and o.phrase
            assert o.area >= (12 if size >= 128 else 2)
            if o.parent is not None:
                assert 0 <= o.parent < len(sc.objects) and o.parent != i
                parent = sc.objects[o.parent]
                assert not (o.mask & ~parent.mask).any(), f"{o.name} not inside {parent.name}"


def _ancestors(objs, i):
    out, p = set(), objs[i].parent
    while p is not None:
        out.add(p)
        p = objs[p].parent
    return out


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_unrelated_objects_do_not_overlap(kind):
    for seed in range(5):
        objs = render_scene(kind, seed).objects

        for i in range(len(objs)):
            for j in range(i + 1, len(objs)):
                if j in _ancestors(objs, i) or i in _ancestors(objs, j):
                    continue
                assert not (objs[i].mask & objs[j].mask).any(), (seed, objs[i].name, objs[j].name)


def test_targets_at_small_to_large():
    sc = render_scene("desk", 3)
    handle = sc.find("handle")[0]
    ys, xs = np.nonzero(handle.mask)
    hits = sc.targets_at(int(xs[0]), int(ys[0]))
    assert [o.name for o in hits][:3] == ["handle", "mug", "mug_saucer"]
    areas = [o.area for o in hits]
    assert areas == sorted(areas)
    assert sc.targets_at(-1, 0) == [] and sc.targets_at(0, 10_000) == []


def test_desk_has_mug_hierarchy():
    big_handles = 0
    for seed in range(10):
        sc = render_scene("desk", seed)
        names = {o.name for o in sc.objects}
        assert {"mug", "mug_saucer", "laptop"} <= names
        mug = sc.find("mug")[0]
        assert sc.objects[mug.parent].name == "mug_saucer"
        hs = sc.find("handle")
        if hs and hs[0].area >= 40:
            big_handles += 1
            assert sc.objects[hs[0].parent].name == "mug"
    assert big_handles >= 8


def test_person_has_buttons():
    for seed in range(6):
        sc = render_scene("person", seed)
        buttons, shirts = sc.find("button"), sc.find("shirt")
        assert 3 <= len(buttons) <= 5 and len(shirts) == 1 and len(sc.find("person")) == 1
        for b in buttons:
            assert sc.objects[b.parent].name == "shirt" and b.level == "part"
        assert sc.objects[shirts[0].parent].name == "person"


def test_street_has_cars_of_colours():
    colours = set()
    for seed in range(6):
        sc = render_scene("street", seed)
        cars = sc.find("car")
        assert 1 <= len(cars) <= 5 and sc.find("road") and sc.find("kerb")
        colours |= {c.attributes["color"] for c in cars}
        assert all(c.phrase.endswith("car") for c in cars)
    assert len(colours) >= 3


def test_orchard_ripeness():
    seen = set()
    for seed in range(4):
        sc = render_scene("orchard", seed)
        for a in sc.find("apple"):
            assert a.phrase == f"{a.attributes['ripeness']} apple"
            seen.add(a.attributes["ripeness"])
    assert seen == {"ripe", "unripe", "damaged"}


def test_savanna_elephants():
    for seed in range(4):
        assert 1 <= len(render_scene("savanna", seed).find("elephant")) <= 4


def test_sky_is_empty():
    for seed in range(4):
        assert render_scene("sky", seed).objects == []


def test_unknown_kind():
    with pytest.raises(ValueError):
        render_scene("moon", 0)


def test_render_time_budget():
    for kind in SCENE_KINDS:
        render_scene(kind, 0)
        times = []
        for seed in range(10):
            t0 = time.perf_counter()
            render_scene(kind, seed)
            times.append(time.perf_counter() - t0)
        assert np.median(times) < 0.080, (kind, np.median(times))
