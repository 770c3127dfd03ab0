"""Home: what the app is, the lesson map, and the model in use."""

import streamlit as st

from ui import session

st.title("How Segment Anything works")
st.markdown(
    "An interactive lesson on **Segment Anything (SAM)**: from SAM 1's architecture, through SAM 2's "
    "memory for video, to SAM 3's concept prompts. Every page pairs the math with numbers traced "
    "from a real forward pass, and with live calls into a real SAM implementation running on this "
    "machine (CUDA, Apple MPS or the CPU)."
)

left, right = st.columns([3, 2])
with left:
    st.subheader("Lesson map")
    LESSON_MAP = [
        ("1", "The segmentation problem", "Masks vs labels vs boxes; why segmentation data is the bottleneck."),
        ("2", "SAM 1 architecture", "Heavy image encoder once, light prompt encoder + mask decoder per click."),
        ("3", "Prompt encoding", "How a click at pixel (x, y) becomes a 256-d token: random Fourier features."),
        ("4", "Mask decoder", "Two-way attention between prompt tokens and image tokens; hypernetwork masks."),
        ("5", "Ambiguity: three masks", "Part, object, whole: why one click returns three masks and IoU scores."),
        ("6", "Loss function", "Focal + dice loss (20:1), minimum-loss assignment, IoU regression."),
        ("7", "Check 1: predict and verify", "Predict what the model does, then check against the live model."),
        ("8", "The SA-1B data engine", "Assisted-manual, semi-automatic, fully automatic annotation."),
        ("9", "SAM 2: video", "Memory bank and memory attention: tracking an object through frames."),
        ("10", "SAM 3: concepts", "Text and exemplar prompts: every instance of 'ripe apple' at once."),
        ("11", "Check 2 and summary", "Transfer questions; SAM in the vision ecosystem."),
    ]
    st.table({"#": [r[0] for r in LESSON_MAP], "Section": [r[1] for r in LESSON_MAP],
              "What you will learn": [r[2] for r in LESSON_MAP]})
    st.page_link("pages/segment.py", label="Try it now: click an image and get three masks", icon="🖱️")

with right:
    st.subheader("The model in use")
    model, info = session.current_model()
    st.markdown(f"**{info.name}** · architecture `{info.model_type}` · device `{info.device}`")
    if model is not None:
        parameters = sum(p.numel() for p in model.parameters())
        st.success(f"Ready: {parameters / 1e6:.1f} M parameters, input size "
                   f"{model.image_encoder.img_size} px.", icon="✅")
    elif info.status == "no_weights":
        st.warning("**No weights yet.** The embedded nano model is still being trained here. The lesson "
                   "text works without it; for live masks, download a known model in the sidebar.",
                   icon="⏳")
    else:
        st.warning(info.message, icon="⚠️")
    st.markdown(
        "- **nano (embedded)**: a small SAM trained in this project on procedural scenes; "
        "works offline, on any CPU.\n"
        "- **Known models** (sidebar): Meta's SAM ViT-B/L/H and MobileSAM, downloaded once.\n"
        "- **Local file**: any official SAM checkpoint on disk."
    )
    st.subheader("How to use this app")
    st.markdown(
        "Work through the **Lesson** pages in order; each ends with something to click. "
        "**Try it** holds the free-play pages. Instructors switch on *Instructor mode* in the sidebar "
        "to edit the traced examples that every page computes from."
    )
