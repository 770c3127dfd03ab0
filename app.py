"""SAM Lesson: the st.navigation router and the shared sidebar.

Run with `streamlit run app.py`. The pages and their order live in ONE table,
lesson_content/page_table.py: to add a page, add a row there and its file under lesson_pages/.
"""

import streamlit as st

from sam_core.device import set_mps_fallback_env
from ui.navigation import navigation_sections
from ui.sidebar import render_sidebar, render_timings

set_mps_fallback_env()  # Apple MPS: ops without an MPS kernel run on the CPU (seed 004 §5.8); no-op elsewhere
st.set_page_config(page_title="SAM Lesson", page_icon="✂️", layout="wide")

navigation = st.navigation(navigation_sections(), expanded=True)  # every page listed: the lesson is the menu
timings_placeholder = render_sidebar()
navigation.run()
render_timings(timings_placeholder)
