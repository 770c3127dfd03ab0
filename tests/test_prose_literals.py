"""No traced number is typed in lesson prose: every digit must come from a {placeholder}.

Scans every lesson_content/prose/*.md. Allowed outside placeholders: the phrases in
prose/ALLOWLIST.txt (each with a reason), Markdown ordered-list markers and LaTeX lengths.
"""

from __future__ import annotations

import re
import string

import pytest

from lesson_content import prose

ALLOWLIST_PATH = prose.PROSE_DIR / "ALLOWLIST.txt"
PROSE_FILES = sorted(prose.PROSE_DIR.glob("*.md"))
STRUCTURAL = (
    re.compile(r"^[ \t]*\d+[.)][ \t]", re.MULTILINE),  # Markdown ordered-list markers "1. "
    re.compile(r"\d+(\.\d+)?(pt|em|ex|mm|mu)\b"),  # LaTeX lengths: \\[4pt], \hspace{1em}
)


def allowlist() -> list[tuple[str, str]]:
    entries = []
    for raw in ALLOWLIST_PATH.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        phrase, sep, reason = raw.partition(" | ")
        entries.append((phrase.strip(), reason.strip() if sep else ""))
    return entries


def literal_text(text: str) -> str:
    """The template with every {placeholder} removed and doubled braces collapsed."""
    text = prose.SECTION_MARKER.sub("", text)
    return "".join(literal for literal, *_ in string.Formatter().parse(text))


def strip_allowed(text: str, phrases: list[str]) -> str:
    for pattern in STRUCTURAL:
        text = pattern.sub(" ", text)
    for phrase in sorted(phrases, key=len, reverse=True):  # longest first: "SAM 1" inside nothing else
        text = text.replace(phrase, " ")
    return text


def test_there_are_prose_files():
    assert PROSE_FILES, "no prose templates found"


def test_allowlist_entries_have_reasons():
    for phrase, reason in allowlist():
        assert phrase and reason, f"ALLOWLIST.txt entry {phrase!r} needs ' | reason'"


@pytest.mark.parametrize("path", PROSE_FILES, ids=lambda p: p.name)
def test_no_digit_outside_placeholders(path):
    phrases = [p for p, _ in allowlist()]
    offenders = []
    for lineno, line in enumerate(literal_text(path.read_text(encoding="utf-8")).splitlines(), start=1):
        remaining = strip_allowed(line, phrases)
        for match in re.finditer(r"\d", remaining):
            context = remaining[max(0, match.start() - 25): match.end() + 25].strip()
            offenders.append(f"{path.name}:{lineno}: digit {match.group()!r} in ...{context}...")
    assert not offenders, "typed numbers in prose (use a {placeholder} or ALLOWLIST.txt):\n" + "\n".join(offenders)


def test_every_allowlist_entry_is_used():
    text = "\n".join(literal_text(p.read_text(encoding="utf-8")) for p in PROSE_FILES)
    unused = [phrase for phrase, _ in allowlist() if phrase not in text]
    assert not unused, f"stale ALLOWLIST.txt entries (remove them): {unused}"


class _Any:
    """Formats as a marker under any format spec."""

    def __format__(self, spec: str) -> str:
        return "X"


@pytest.mark.parametrize("name", prose.template_names())
def test_every_template_renders_with_its_placeholders(name):
    values = {key: _Any() for key in prose.placeholders(name)}
    prose.render(name, **values)  # raises ProseError on malformed fields or LaTeX read as placeholders


def test_missing_value_is_a_clear_error():
    name = next(n for n in prose.template_names() if prose.placeholders(n))
    first = prose.placeholders(name)[0]
    with pytest.raises(prose.ProseError, match=re.escape("{" + first + "}")):
        prose.render(name)
