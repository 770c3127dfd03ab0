"""Start: what the lesson is and is not about, a self-contained recap, and the lesson map.

Outline sections 1 (context and constraints) and 2 (recap). Text: lesson_content/prose/start.md.
"""

import streamlit as st

from lesson_content import architecture
from lesson_content.page_table import lesson_map, page
from lesson_content.prose import render
from ui import session
from ui.navigation import page_link

st.title("Start: how Segment Anything works")

model, info = session.current_model()
ref = architecture.reference_config()

st.markdown(render("start.intro", model_name=info.name))

scope_is, scope_not = st.columns(2)
with scope_is:
    st.subheader("This lesson is about")
    st.markdown(render("start.scope_is"))
with scope_not:
    st.subheader("It is not about")
    st.markdown(render("start.scope_not"))

st.info(render("start.self_contained"), icon=":material/explore:")

st.header("Recap: the three building blocks")
st.markdown(render("start.recap_vit", **ref))
st.markdown(render("start.recap_cross"))
st.markdown(render("start.recap_encdec"))

st.header("The lesson map")
st.markdown(render("start.map_intro"))
this_page = page("start")
for entry in lesson_map():
    label = f"§{entry.section.number} {entry.section.title}"
    others = [row for row in entry.pages if row != this_page]
    for row in others:
        page_link(row, label=f"{label} · {row.title}", help=entry.section.what)
    if not others:
        suffix = "this page" if this_page in entry.pages else "to come"
        st.markdown(f"<span style='opacity:0.7'>{label} — {entry.section.what} · <em>{suffix}</em></span>",
                    unsafe_allow_html=True)
