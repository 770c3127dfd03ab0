"""The prose renderer: placeholders with format specs, sections, LaTeX braces, clear errors."""

from __future__ import annotations

import pytest

from lesson_content import prose


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(prose, "PROSE_DIR", tmp_path)
    prose._read.cache_clear()
    yield tmp_path
    prose._read.cache_clear()


def test_format_specs_and_latex_braces(template_dir):
    (template_dir / "t.md").write_text("$p_y = \\frac{{{y}}}{{{size}}} = {p_y:.5f}$, ratio {r:,.0f}")
    assert prose.render("t", y=517, size=1024, p_y=517 / 1024, r=14544.6) == \
        "$p_y = \\frac{517}{1024} = 0.50488$, ratio 14,545"


def test_sections(template_dir):
    (template_dir / "t.md").write_text("intro\n<!-- section: a -->\nA {x}\n<!-- section: b -->\nB\n")
    assert prose.render("t.a", x=1).strip() == "A 1"
    assert prose.render("t.b").strip() == "B"
    assert prose.placeholders("t.a") == ["x"]
    assert "t.a" in prose.template_names() and "t.b" in prose.template_names()
    with pytest.raises(prose.ProseError, match="no section 'c'"):
        prose.render("t.c")


def test_missing_value_names_template_line_and_placeholder(template_dir):
    (template_dir / "t.md").write_text("line one\nvalue {p_y:.5f}\n")
    with pytest.raises(prose.ProseError, match=r"'t', line 2: no value for \{p_y\}"):
        prose.render("t", other=1)


def test_undoubled_latex_group_is_refused(template_dir):
    (template_dir / "t.md").write_text("$\\mathrm{PE}(p)$")
    with pytest.raises(prose.ProseError, match="double the braces"):
        prose.render("t", PE=1)


def test_positional_and_attribute_fields_are_refused(template_dir):
    (template_dir / "t.md").write_text("{x.real}")
    with pytest.raises(prose.ProseError, match="plain"):
        prose.render("t", x=1)


def test_missing_template(template_dir):
    with pytest.raises(prose.ProseError, match="no prose template"):
        prose.render("nope")
