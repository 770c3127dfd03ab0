"""Summary (outline §15): every takeaway of the revised outline, each with links to the pages that showed
it, the evidence that SAM evolved additively (SAM 2's components compared with SAM 1's from the code),
and the cookie cutter echoed. Computation: lesson_content/wrap_up.py; text: prose/summary.md.
"""

import streamlit as st

from lesson_content import architecture, wrap_up
from lesson_content.prose import render
from ui import session
from ui.navigation import page_link

examples = session.get_examples()
model, info = session.current_model()
ref = architecture.reference_summary()
summary = architecture.summary_for(model, info.model_type) if model is not None else ref
values = dict(model_name=info.name,
              encoder_share=summary.params.get("image_encoder", 0) / max(summary.total_params, 1),
              decoder_layers=summary.decoder_depth, multimask=summary.multimask_outputs,
              focal=examples["loss_weights"]["focal"], dice=examples["loss_weights"]["dice"])

st.title("Summary")
st.markdown(render("summary.intro"))
for n, takeaway in enumerate(wrap_up.TAKEAWAYS, start=1):
    text, links = st.columns([3, 1])
    text.markdown(f"{n}. " + render(f"summary.{takeaway.key}", **values).strip())
    with links:
        rows = wrap_up.pages_for(takeaway)
        for row in rows:
            page_link(row)
        if not rows:
            st.caption("page to come")

st.header("Additive, from the code")
st.markdown(render("summary.lineage", sam1_name=wrap_up.LINEAGE_NAMES[0], sam2_name=wrap_up.LINEAGE_NAMES[1]))
st.dataframe([{"component": r.component, "SAM 2 class": r.sam2_class.removeprefix("sam_core."),
               "SAM 1 parameters": f"{r.sam1_total:,}", "reused in SAM 2": f"{r.same + r.renamed:,}",
               "of which renamed": f"{r.renamed:,}", "new in SAM 2": f"{r.new:,}",
               "new tensors": ", ".join(r.new_keys) or "none"} for r in wrap_up.lineage()], hide_index=True)
st.markdown(render("summary.lineage_sam3", sam2_name=wrap_up.LINEAGE_NAMES[1]))
st.dataframe([{"component": r.component, "SAM 3 class": r.sam2_class.removeprefix("sam_core."),
               "SAM 2.1 parameters": f"{r.sam1_total:,}", "reused in SAM 3": f"{r.same + r.renamed:,}",
               "of which renamed": f"{r.renamed:,}", "new in SAM 3": f"{r.new:,}"} for r in wrap_up.sam3_click_lineage()], hide_index=True)
st.caption(render("summary.lineage_note", new_names=" / ".join(f"`{n.strip('.')}`" for _, n in wrap_up.SAM2_RENAMES),
                  old_names=" / ".join(f"`{o.strip('.')}`" for o, _ in wrap_up.SAM2_RENAMES)))
st.info(render("summary.cutter"), icon=":material/cookie:")
