"""The app's st.navigation, built from lesson_content.page_table (the one page table)."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from lesson_content.page_table import PAGES, PageRow


def navigation_sections(pages: Iterable[PageRow] = PAGES) -> dict[str, list[st.Page]]:
    """{navigation section: [st.Page, ...]} in first-seen order, one st.Page per row (absolute file paths,
    so the table works whatever the main script's folder)."""
    sections: dict[str, list[st.Page]] = {}
    for row in pages:
        sections.setdefault(row.section, []).append(
            st.Page(row.path, title=row.title, icon=row.icon, url_path=row.url_path, default=row.default))
    return sections


def page_link(row: PageRow, label: str | None = None, help: str | None = None) -> None:
    """st.page_link to a row of the page table."""
    st.page_link(str(row.path), label=label or row.title, icon=row.icon, help=help)
