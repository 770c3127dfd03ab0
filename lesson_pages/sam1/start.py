"""Start: what the lesson is and is not about, a self-contained recap, and the lesson map.

Outline sections 1 (context and constraints) and 2 (recap). Text: lesson_content/prose/start.md.
"""

import streamlit as st

from lesson_content import architecture, lesson_map
from lesson_content.prose import render
from ui import session

st.title("Start: how Segment Anything works")

model, info = session.current_model()
try:
    ref = architecture.reference_config()
except Exception as error:  # sam_core missing or broken: the recap still reads without numbers
    ref = None
    st.warning(f"The model package could not be read ({type(error).__name__}: {error}).")

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
if ref is not None:
    st.markdown(render("start.recap_vit", **ref))
st.markdown(render("start.recap_cross"))
st.markdown(render("start.recap_encdec"))

st.header("The lesson map")
st.markdown(render("start.map_intro"))
for section in lesson_map.OUTLINE:
    page = lesson_map.page_file(section.page_prefix)
    label = f"§{section.number} {section.title}"
    linked = False
    if page is not None and section.page_prefix != "01":
        try:
            st.page_link(str(page.relative_to(lesson_map.PAGES_DIR.parent)), label=label, help=section.what)
            linked = True
        except Exception:  # the page file exists but is not in the app's navigation (yet)
            pass
    if not linked:
        suffix = "this page" if section.page_prefix == "01" else "to come"
        st.markdown(f"<span style='opacity:0.7'>{label} — {section.what} · <em>{suffix}</em></span>",
                    unsafe_allow_html=True)
