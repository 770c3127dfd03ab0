"""Next step (outline §16): where to go from here, and what to try in this app before leaving."""

import streamlit as st

from lesson_content.page_table import PAGES
from lesson_content.prose import render
from ui.navigation import page_link

st.title("Next step")
st.markdown(render("next_step.intro"))
st.markdown(render("next_step.here"))
for row in PAGES:
    if row.section == "Try it":
        page_link(row)
