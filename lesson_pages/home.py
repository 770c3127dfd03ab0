"""Home: what the app is, the model in use, and the lesson map."""

import streamlit as st

from ui import session

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
    st.page_link("pages/segment.py", label="Try it now: click an image and get three masks",
                 icon=":material/ads_click:")

st.subheader("Lesson map")
st.markdown(
    "Work through the **Lesson** pages in order; each ends with something to click. **Try it** holds "
    "the free-play pages. Instructors switch on *Instructor mode* in the sidebar to edit the traced "
    "examples that every page computes from."
)
try:
    from lesson_content.lesson_map import OUTLINE, page_file
except ImportError:  # lesson_content not there yet: no map
    OUTLINE, page_file = (), None
if OUTLINE:
    lines = ["| § | Section | What you do | |", "|---:|---|---|---|"]
    for section in OUTLINE:
        ready = page_file(section.page_prefix) is not None
        lines.append(f"| {section.number} | {section.title} | {section.what} | "
                     f"{':green[ready]' if ready else ':gray[planned]'} |")
    st.markdown("\n".join(lines))
