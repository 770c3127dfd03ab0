"""SAM Lesson: the st.navigation router, the shared sidebar, and the page list.

Run with `streamlit run app.py`. To add a page, add ONE line to PAGES, after the pages of its section
("Lesson", "Try it", "Instructor"); sections appear in the order they first occur.
"""

import streamlit as st

from ui.sidebar import render_sidebar, render_timings

st.set_page_config(page_title="SAM Lesson", page_icon="✂️", layout="wide")

# (section, page) in lesson order. url_path is the page's address (http://localhost:8501/segment) and must
# be the file name without its number prefix ("pages/04_prompt_encoding.py" -> "prompt_encoding"), or deep
# links fail on a fresh server (see ui/__init__.py; tests/test_app_pages.py checks it).
PAGES = [
    ("Lesson", st.Page("pages/00_home.py", title="Home", icon=":material/home:", url_path="home", default=True)),
    ("Lesson", st.Page("pages/01_start.py", title="Start", icon=":material/flag:", url_path="start")),
    ("Lesson", st.Page("pages/02_segmentation.py", title="The segmentation problem", icon=":material/content_cut:", url_path="segmentation")),
    ("Lesson", st.Page("pages/03_architecture.py", title="SAM's architecture", icon=":material/account_tree:", url_path="architecture")),
    ("Lesson", st.Page("pages/04_prompt_encoding.py", title="Prompt encoding", icon=":material/my_location:", url_path="prompt_encoding")),
    ("Lesson", st.Page("pages/05_decoder.py", title="The mask decoder", icon=":material/hub:", url_path="decoder")),
    ("Lesson", st.Page("pages/06_together.py", title="Putting it together", icon=":material/join_inner:", url_path="together")),
    ("Lesson", st.Page("pages/07_loss.py", title="The loss", icon=":material/functions:", url_path="loss")),
    ("Lesson", st.Page("pages/08_check1.py", title="Check 1", icon=":material/quiz:", url_path="check1")),
    ("Try it", st.Page("pages/segment.py", title="Segment", icon=":material/ads_click:", url_path="segment")),
    ("Instructor", st.Page("pages/09_instructor.py", title="Instructor", icon=":material/tune:", url_path="instructor")),
]


def sections(pages):
    """[(section, page), ...] -> {section: [page, ...]} in first-seen order, for st.navigation."""
    grouped = {}
    for section, page in pages:
        grouped.setdefault(section, []).append(page)
    return grouped


navigation = st.navigation(sections(PAGES))
timings_placeholder = render_sidebar()
navigation.run()
render_timings(timings_placeholder)
