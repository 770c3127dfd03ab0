"""Home: what the app is, the model in use, and the lesson map."""

import streamlit as st

from lesson_content.page_table import lesson_map, page
from ui import session
from ui.navigation import page_link

st.title("How Segment Anything works")
st.markdown(
    "An interactive lesson on **Segment Anything (SAM)**: from SAM 1's architecture, through SAM 2's "
    "memory for video, to SAM 3's concept prompts. Every page pairs the math with numbers traced "
    "from a real forward pass, and with live calls into a real SAM implementation running on this "
    "machine (CUDA, Apple MPS or the CPU)."
)

with st.container(border=True):
    model, info = session.current_model()
    st.markdown(f"**Model in use: {info.name}** · architecture `{info.model_type}` · device `{info.device}`")
    if model is not None:
        parameters = sum(p.numel() for p in model.parameters())
        st.success(f"Ready: {parameters / 1e6:.1f} M parameters, input size "
                   f"{model.image_encoder.img_size} px.", icon=":material/check_circle:")
    elif info.status == "no_weights":
        st.warning("**No weights yet.** The embedded nano model is still being trained here. The lesson "
                   "text works without it; for live masks, download a known model in the sidebar.",
                   icon=":material/hourglass_empty:")
    else:
        st.warning(info.message, icon=":material/warning:")
    st.caption(
        "**nano (embedded)**: a small SAM trained in this project on procedural scenes; works offline on "
        "any CPU. **Known models** (sidebar): Meta's SAM ViT-B/L/H and MobileSAM, downloaded once. "
        "**Local file**: any official SAM checkpoint on disk."
    )
    page_link(page("segment"), label="Try it now: click an image and get three masks")

st.subheader("Lesson map")
st.markdown(
    "Work through the **Lesson** pages in order; each ends with something to click. **Try it** holds "
    "the free-play pages. Instructors switch on *Instructor mode* in the sidebar to edit the traced "
    "examples that every page computes from."
)
lines = ["| § | Section | What you do | Page |", "|---:|---|---|---|"]
for entry in lesson_map():
    pages = ", ".join(f":green[{row.title}]" for row in entry.pages) or ":gray[planned]"
    lines.append(f"| {entry.section.number} | {entry.section.title} | {entry.section.what} | {pages} |")
st.markdown("\n".join(lines))
