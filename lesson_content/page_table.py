"""THE page table: every page of the app, in lesson order, and the lesson plan's outline it follows.

app.py builds `st.navigation` from `PAGES` (through ui.navigation); the Home and Start pages draw the
lesson map from `lesson_map()`; the tests render every row. Nothing looks at the disk to find pages.
Adding a page is one `PageRow` here plus its file under lesson_pages/. Imports no Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class OutlineSection:
    """One section of the plan's revised outline ("Revision -- Depth Rework", sections 1-16)."""

    number: int
    title: str
    what: str  # one line: what the student does there


OUTLINE: tuple[OutlineSection, ...] = (
    OutlineSection(1, "Context and constraints", "what this lesson is and is not about"),
    OutlineSection(2, "Recap: ViT, cross-attention, encoder-decoder", "reactivate the building blocks"),
    OutlineSection(3, "The segmentation problem", "label vs box vs mask on one image, live"),
    OutlineSection(4, "Hook: the segmentation bottleneck", "one cutter per shape vs a programmable cutter"),
    OutlineSection(5, "SAM's architecture", "three components, their shapes, encoder once vs decoder per click"),
    OutlineSection(6, "Prompt encoding: from clicks to tokens", "the Fourier formula traced on your click"),
    OutlineSection(7, "Mask decoder: the two-layer transformer",
                   "tokens, three attentions per layer, masks; then one click traced end to end"),
    OutlineSection(8, "Loss: focal + dice, minimum-loss assignment", "why a hard pixel outweighs an easy one"),
    OutlineSection(9, "Check 1: predict and verify", "answer, then check against the live model"),
    OutlineSection(10, "The SA-1B data engine", "model and data improve each other"),
    OutlineSection(11, "SAM 2: memory for video", "cross-attention over past frames"),
    OutlineSection(12, "SAM 3: concepts and language", "describe to segment every instance"),
    OutlineSection(13, "Check 2: transfer", "the wildlife-camera scenario"),
    OutlineSection(14, "SAM in the vision ecosystem", "the foundation-model pattern, a third time"),
    OutlineSection(15, "Summary", "the takeaways"),
    OutlineSection(16, "Next step", "where to go from here"),
)


@dataclass(frozen=True)
class PageRow:
    """One page of the app.

    section: the navigation group ("Lesson", "Try it", "Instructor"); groups appear in first-seen order.
    outline: the OUTLINE section numbers the page teaches (empty for pages outside the lesson's spine).
    file: the page script, relative to the repository root (lesson_pages/...).
    url_path: the page's address (http://localhost:8501/<url_path>); the default page is also served at /.
    icon: a Streamlit icon (":material/<name>:" or an emoji).
    """

    section: str
    outline: tuple[int, ...]
    title: str
    file: str
    url_path: str
    icon: str
    default: bool = False

    @property
    def path(self) -> Path:
        return REPO_ROOT / self.file


PAGES: tuple[PageRow, ...] = (
    PageRow("Lesson", (), "Home", "lesson_pages/home.py", "home", ":material/home:", default=True),
    PageRow("Lesson", (1, 2), "Start", "lesson_pages/sam1/start.py", "start", ":material/flag:"),
    PageRow("Lesson", (3, 4), "The segmentation problem", "lesson_pages/sam1/segmentation.py", "segmentation",
            ":material/content_cut:"),
    PageRow("Lesson", (5,), "SAM's architecture", "lesson_pages/sam1/architecture.py", "architecture",
            ":material/account_tree:"),
    PageRow("Lesson", (6,), "Prompt encoding", "lesson_pages/sam1/prompt_encoding.py", "prompt_encoding",
            ":material/my_location:"),
    PageRow("Lesson", (7,), "The mask decoder", "lesson_pages/sam1/decoder.py", "decoder", ":material/hub:"),
    PageRow("Lesson", (7,), "Putting it together", "lesson_pages/sam1/together.py", "together",
            ":material/join_inner:"),
    PageRow("Lesson", (8,), "The loss", "lesson_pages/sam1/loss.py", "loss", ":material/functions:"),
    PageRow("Lesson", (9,), "Check 1", "lesson_pages/sam1/check1.py", "check1", ":material/quiz:"),
    PageRow("Lesson", (10,), "The SA-1B data engine", "lesson_pages/sam1/data_engine.py", "data_engine",
            ":material/factory:"),
    PageRow("Lesson", (11,), "SAM 2: memory", "lesson_pages/sam2/memory.py", "sam2_memory", ":material/movie:"),
    PageRow("Lesson", (12,), "SAM 3: concepts", "lesson_pages/sam3/concepts.py", "sam3_concepts", ":material/label:"),
    PageRow("Lesson", (13,), "Check 2", "lesson_pages/wrap_up/check2.py", "check2", ":material/quiz:"),
    PageRow("Lesson", (14,), "SAM in the vision ecosystem", "lesson_pages/wrap_up/ecosystem.py", "ecosystem",
            ":material/public:"),
    PageRow("Lesson", (15,), "Summary", "lesson_pages/wrap_up/summary.py", "summary", ":material/summarize:"),
    PageRow("Lesson", (16,), "Next step", "lesson_pages/wrap_up/next_step.py", "next_step", ":material/east:"),
    PageRow("Try it", (), "Segment", "lesson_pages/try_it/segment.py", "segment", ":material/ads_click:"),
    PageRow("Try it", (), "Video", "lesson_pages/try_it/video.py", "try_video", ":material/videocam:"),
    PageRow("Try it", (), "Concepts", "lesson_pages/try_it/concepts.py", "try_concepts", ":material/label:"),
    PageRow("Instructor", (), "Instructor", "lesson_pages/instructor.py", "instructor", ":material/tune:"),
)


def page(url_path: str, pages: tuple[PageRow, ...] = PAGES) -> PageRow:
    """The row with this url_path; KeyError naming the known ones otherwise."""
    for row in pages:
        if row.url_path == url_path:
            return row
    raise KeyError(f"no page at /{url_path}; pages: {', '.join(r.url_path for r in pages)}")


@dataclass(frozen=True)
class MapEntry:
    """One line of the lesson map: an outline section and the pages that teach it (none: planned)."""

    section: OutlineSection
    pages: tuple[PageRow, ...]

    @property
    def ready(self) -> bool:
        return bool(self.pages)


def lesson_map(pages: tuple[PageRow, ...] = PAGES) -> list[MapEntry]:
    """Every OUTLINE section with the pages whose `outline` names it, in page-table order."""
    return [MapEntry(section, tuple(row for row in pages if section.number in row.outline)) for section in OUTLINE]
