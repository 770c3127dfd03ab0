"""Lesson prose: Markdown + LaTeX templates in lesson_content/prose/*.md, filled with traced values.

    render("prompt_encoding.plan_trace", p_y=0.50488, cos_pi_p_y=-0.0153)

Template rules (Python's str.format syntax, so any Python developer can read them):
  - `{name}` or `{name:spec}` is a placeholder, e.g. `{p_y:.5f}`, `{ratio:,.0f}`, `{shape}`.
    Names only: no positional fields, no attribute or index access.
  - Literal braces are doubled: LaTeX `\\frac{a}{b}` is written `\\frac{{a}}{{b}}`, and a placeholder
    inside a LaTeX group is `\\frac{{{x}}}{{{image_size}}}`.
  - A file may hold several named sections, each starting with a line `<!-- section: NAME -->`;
    `render("file.NAME")` renders one of them, `render("file")` the whole file (markers removed).
  - No number that the lesson traces is typed in a template: tests/test_prose_literals.py fails on
    any digit outside placeholders, except the structural phrases listed in prose/ALLOWLIST.txt.

A missing value raises ProseError naming the template, the placeholder and its line. Extra values are
ignored, so a page can pass one dict of everything it computed. Imports no Streamlit.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

PROSE_DIR = Path(__file__).with_name("prose")
SECTION_MARKER = re.compile(r"^<!--\s*section:\s*([A-Za-z0-9_\-]+)\s*-->\s*$", re.MULTILINE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A placeholder right after a LaTeX command, ^, _ or a closing brace is almost surely a LaTeX group
# whose braces were not doubled (\mathrm{PE}, 2^{k}, \frac{a}{b}): refuse it instead of guessing.
_LATEX_BEFORE = re.compile(r"(\\[A-Za-z]+\*?|[\^_}])$")


class ProseError(KeyError):
    """A template could not be rendered (missing file, section or value, or a malformed field)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


@lru_cache(maxsize=128)
def _read(file_stem: str) -> str:
    path = PROSE_DIR / f"{file_stem}.md"
    if not path.is_file():
        raise ProseError(f"no prose template {path.name} in {PROSE_DIR}")
    return path.read_text(encoding="utf-8")


def split_sections(text: str) -> dict[str, str]:
    """{section name: text} for a template with `<!-- section: NAME -->` markers ("" = before the first)."""
    parts = SECTION_MARKER.split(text)
    sections = {"": parts[0]}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in sections:
            raise ProseError(f"section {name!r} appears twice")
        sections[name] = body
    return sections


def template(name: str) -> str:
    """The raw template text for "file" or "file.section"."""
    file_stem, _, section = name.partition(".")
    text = _read(file_stem)
    if not section:
        return SECTION_MARKER.sub("", text)
    sections = split_sections(text)
    if section not in sections:
        known = ", ".join(s for s in sections if s)
        raise ProseError(f"prose/{file_stem}.md has no section {section!r} (sections: {known})")
    return sections[section]


def placeholders(name: str) -> list[str]:
    """Placeholder names used by a template, in order of first use."""
    seen: list[str] = []
    for _, field_name, _, _ in string.Formatter().parse(template(name)):
        if field_name is not None and field_name not in seen:
            seen.append(field_name)
    return seen


def render(name: str, **values: Any) -> str:
    """Fill template `name` ("file" or "file.section") with `values`; see the module docstring."""
    text = template(name)
    out: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:  # a single unmatched brace
        raise ProseError(f"prose template {name!r} is malformed: {exc} (double literal braces: {{{{ }}}})") from None
    line = 1
    for literal, field_name, spec, conversion in parsed:
        out.append(literal)
        line += literal.count("\n")
        if field_name is None:
            continue
        if not _NAME.match(field_name):
            raise ProseError(f"prose template {name!r}, line {line}: placeholder {{{field_name}}} must be a plain "
                             "name (no positional fields, attributes or indexes)")
        if _LATEX_BEFORE.search(literal):
            raise ProseError(f"prose template {name!r}, line {line}: {{{field_name}}} follows LaTeX "
                             f"{_LATEX_BEFORE.search(literal).group()!r}; double the braces of LaTeX groups "
                             "({{ }}) so they are not read as placeholders")
        if field_name not in values:
            raise ProseError(f"prose template {name!r}, line {line}: no value for {{{field_name}}}; "
                             f"given: {', '.join(sorted(values)) or 'nothing'}")
        value = values[field_name]
        if conversion:
            value = {"r": repr, "s": str, "a": ascii}[conversion](value)
        try:
            out.append(format(value, spec or ""))
        except (ValueError, TypeError) as exc:
            raise ProseError(f"prose template {name!r}, line {line}: cannot format {{{field_name}:{spec}}} "
                             f"with {value!r}: {exc}") from None
    return "".join(out)


def template_names() -> list[str]:
    """Every renderable name: each file, and each of its sections as "file.section"."""
    names = []
    for path in sorted(PROSE_DIR.glob("*.md")):
        names.append(path.stem)
        names += [f"{path.stem}.{s}" for s in split_sections(path.read_text(encoding="utf-8")) if s]
    return names
