"""Traced-example config: defaults, the SAM_LESSON_EXAMPLES override, and untrusted input."""

from __future__ import annotations

import tomllib

import pytest

from lesson_content import examples as ex


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(ex.ENV_VAR, raising=False)


def test_defaults_are_the_plan_values_and_complete():
    d = ex.load_examples()
    assert ex.load_errors() == []
    assert d["prompt_click"] == {"x": 342, "y": 517, "image_size": 1024}
    assert d["focal_trace"] == {"p_easy": 0.95, "p_hard": 0.1, "gamma": 2, "alpha": 0.25}
    assert d["loss_weights"] == {"focal": 20, "dice": 1}
    assert d["timing_check"] == {"clicks": 5, "encoder_ms_claim": 150, "decoder_ms_claim": 50}
    assert d["fourier"] == {"bands_shown": 4, "plan_bands": 128}
    for f in ex.SCHEMA:  # every schema row has a default of the right type
        assert isinstance(d[f.section][f.key], f.type), (f.section, f.key)


def test_defaults_toml_has_no_keys_outside_the_schema():
    raw = tomllib.loads(ex.DEFAULTS_PATH.read_text(encoding="utf-8"))
    _, errors = ex.validate_examples(raw)
    assert errors == []


def test_env_override_replaces_individual_keys(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text("[prompt_click]\nx = 100\ny = 900\n[focal_trace]\np_hard = 0.2\n")
    monkeypatch.setenv(ex.ENV_VAR, str(path))
    d = ex.load_examples()
    assert ex.load_errors() == []
    assert d["prompt_click"] == {"x": 100, "y": 900, "image_size": 1024}
    assert d["focal_trace"]["p_hard"] == 0.2 and d["focal_trace"]["p_easy"] == 0.95


def test_explicit_path_wins_over_env(tmp_path, monkeypatch):
    env_file, arg_file = tmp_path / "env.toml", tmp_path / "arg.toml"
    env_file.write_text("[prompt_click]\nx = 1\n")
    arg_file.write_text("[prompt_click]\nx = 2\n")
    monkeypatch.setenv(ex.ENV_VAR, str(env_file))
    assert ex.load_examples(arg_file)["prompt_click"]["x"] == 2


def test_invalid_values_keep_defaults_with_a_message(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        "[prompt_click]\nx = -5\ny = 'middle'\n"
        "[focal_trace]\np_easy = 1.5\ngamma = nan\n"
        "[timing_check]\nclicks = 2.5\n"
        "[fourier]\nbands_shown = true\n"
        "[nonsense]\na = 1\n"
        "[scene]\ncolour = 'red'\n"
    )
    d = ex.load_examples(path)
    defaults = ex.default_examples()
    assert d == defaults
    errors = " | ".join(ex.load_errors())
    for fragment in ("[prompt_click] x", "[prompt_click] y", "[focal_trace] p_easy", "[focal_trace] gamma",
                     "[timing_check] clicks", "[fourier] bands_shown", "unknown section [nonsense]",
                     "unknown key [scene] colour"):
        assert fragment in errors, fragment
    assert "keeping 342" in errors


def test_cross_field_rules_restore_the_section():
    d, errors = ex.validate_examples({"prompt_click": {"image_size": 256}})  # default click 342 is outside
    assert d["prompt_click"] == ex.default_examples()["prompt_click"]
    assert any("inside" in e for e in errors)
    d, errors = ex.validate_examples({"box_prompt": {"x0": 500, "x1": 400}})
    assert d["box_prompt"] == ex.default_examples()["box_prompt"] and errors
    d, errors = ex.validate_examples({"prompt_click": {"x": 10, "y": 20, "image_size": 64}})
    assert errors == [] or all("box" in e for e in errors)


def test_unreadable_unparsable_and_huge_files(tmp_path):
    assert ex.load_examples(tmp_path / "missing.toml") == ex.default_examples()
    assert "cannot read" in ex.load_errors()[0]
    broken = tmp_path / "broken.toml"
    broken.write_text("[prompt_click\nx = 1")
    assert ex.load_examples(broken) == ex.default_examples()
    assert "not valid TOML" in ex.load_errors()[0]
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * (ex.MAX_TOML_BYTES + 10))
    assert ex.load_examples(huge) == ex.default_examples()
    assert "limit" in ex.load_errors()[0]
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    assert ex.load_examples(binary) == ex.default_examples()
    assert "UTF-8" in ex.load_errors()[0]


def test_toml_round_trip(tmp_path):
    d, errors = ex.validate_examples({"prompt_click": {"x": 100, "y": 900}, "focal_trace": {"gamma": 1.5}})
    assert errors == []
    text = ex.examples_to_toml(d)
    path = tmp_path / "export.toml"
    path.write_text(text)
    assert ex.load_examples(path) == d
    assert ex.load_errors() == []


def test_integral_floats_are_accepted_for_int_fields():
    d, errors = ex.validate_examples({"prompt_click": {"x": 100.0}})
    assert errors == [] and d["prompt_click"]["x"] == 100 and isinstance(d["prompt_click"]["x"], int)


def test_diff_lists_changed_keys_in_schema_order():
    a = ex.default_examples()
    b, _ = ex.validate_examples({"prompt_click": {"y": 900}, "focal_trace": {"p_easy": 0.9}})
    assert ex.examples_diff(a, b) == [("prompt_click", "y", 517, 900), ("focal_trace", "p_easy", 0.95, 0.9)]


def test_schema_rows_are_unique_and_documented():
    keys = [(f.section, f.key) for f in ex.SCHEMA]
    assert len(keys) == len(set(keys))
    assert all(f.help for f in ex.SCHEMA)
    assert all(f.type in (int, float, str) for f in ex.SCHEMA)


def test_default_click_and_box_hit_objects_of_the_default_scene():
    from sam_core import scenes

    d = ex.default_examples()
    click, box, scene_cfg = d["prompt_click"], d["box_prompt"], d["scene"]
    scene = scenes.render_scene(scene_cfg["kind"], scene_cfg["seed"], size=click["image_size"])
    hits = scene.targets_at(click["x"], click["y"])
    assert any(o.level == "object" for o in hits), "the default click lands on no object: pick another seed"
    inside = [o for o in scene.objects if o.level in ("object", "group") and o.area > 0
              and o.bbox[0] >= box["x0"] and o.bbox[1] >= box["y0"] and o.bbox[2] <= box["x1"] + 1
              and o.bbox[3] <= box["y1"] + 1]
    assert inside, "the default box frames no whole object: adjust [box_prompt]"


def test_the_traced_click_hits_an_object_every_part1_page_follows():
    from lesson_content import traced_click as tc

    thread = tc.traced_click(ex.default_examples())
    assert thread.point == (342, 517) and thread.size == 1024
    assert thread.hit and thread.target.level == "object", "the traced click must land on an object"
    assert thread.describe().startswith("the ")
    miss = tc.at_point(thread, 5, 5)  # the sky corner of the savanna: no object drawn there
    assert not miss.hit and "no object" in miss.describe()


# -- hostile config files and links (issue 23: bounded, regular files only, summarised errors) ----------

def test_a_fifo_and_dev_zero_are_refused_at_once(tmp_path, monkeypatch):
    import os
    import time

    monkeypatch.setenv(ex.PUBLISHED_ENV_VAR, str(tmp_path / "none.json"))
    fifo = tmp_path / "examples.fifo"
    os.mkfifo(fifo)
    for source in (fifo, "/dev/zero"):
        start = time.monotonic()
        d = ex.load_examples(source)
        assert time.monotonic() - start < 2.0
        assert d == ex.default_examples()
        assert any("not a regular file" in e for e in ex.load_errors()), source


def test_nested_and_overflowing_toml_keep_the_defaults(tmp_path):
    nested = tmp_path / "nested.toml"
    nested.write_text("[scene]\nseed = " + "[" * 5000 + "]" * 5000 + "\n")
    assert ex.load_examples(nested) == ex.default_examples()
    assert ex.load_errors()
    huge = tmp_path / "huge.toml"
    huge.write_text("[focal_trace]\ngamma = " + "9" * 400 + "\n")
    assert ex.load_examples(huge) == ex.default_examples()
    assert any("too large" in e or "above the maximum" in e for e in ex.load_errors())


def test_thousands_of_unknown_keys_give_a_summary(tmp_path):
    many = tmp_path / "many.toml"
    many.write_text("[scene]\n" + "".join(f"k{i} = 1\n" for i in range(5000)))
    ex.load_examples(many)
    errors = ex.load_errors()
    assert len(errors) == ex.MAX_ERRORS_SHOWN + 1 and "4,992 more" in errors[-1]


def test_examples_link_round_trip_and_damage():
    d = ex.default_examples()
    changed = ex.validate_examples({"prompt_click": {"y": 900}}, d)[0]
    text = ex.examples_to_query(changed, d)
    assert ex.examples_to_query(d, d) == ""
    back, errors = ex.examples_from_query(text, d)
    assert back == changed and not errors
    for bad in ("!!notbase64", "x" * (ex.MAX_QUERY_CHARS + 1)):
        back, errors = ex.examples_from_query(bad, d)
        assert back == d and errors
    import base64
    hostile = base64.urlsafe_b64encode(b'{"prompt_click": {"y": 99999}, "nope": {}}').decode()
    back, errors = ex.examples_from_query(hostile, d)
    assert back == d and len(errors) == 2
