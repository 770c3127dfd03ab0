"""Instructor: edit the traced examples (a form generated from the schema), preview, apply, export, import.

Schema and validation: lesson_content/examples.py; preview numbers: lesson_content/instructor.py;
text: lesson_content/prose/instructor.md.
"""

import os
import time

import pandas as pd
import streamlit as st

from lesson_content import examples as ex
from lesson_content import instructor
from lesson_content.prose import render
from ui import session

KEY = "instructor"


def widget_key(field: ex.Field) -> str:
    return f"{KEY}_{field.section}_{field.key}"


def load_into_widgets(values: dict) -> None:
    """Make the form show `values` (call before the widgets are drawn, e.g. from a callback)."""
    for field, value in ex.iter_values(values):
        st.session_state[widget_key(field)] = value


def apply(values: dict) -> None:
    session.set_examples(values)
    load_into_widgets(values)
    st.session_state[f"{KEY}_flash"] = "Applied: every page now computes from these examples."


def reset_defaults() -> None:
    defaults = session.server_examples()
    session.set_examples(defaults)
    load_into_widgets(defaults)
    st.session_state[f"{KEY}_flash"] = "Back to the defaults (with the override file, if one is set)."


current = session.get_examples()
for field, value in ex.iter_values(current):  # first visit: the form starts at the session's values
    st.session_state.setdefault(widget_key(field), value)

st.title("Instructor: traced examples")
st.markdown(render("instructor.intro"))
override = os.environ.get(ex.ENV_VAR, "").strip()
st.caption(render("instructor.source", override=f"`{override}`" if override else "none (`SAM_LESSON_EXAMPLES` is not set)"))
ex.load_examples()
for message in ex.load_errors():
    st.warning(f"Server examples: {message}", icon=":material/warning:")
flash = st.session_state.pop(f"{KEY}_flash", None)
if flash:
    st.success(flash, icon=":material/check_circle:")

# ---- the form, generated from the schema ---------------------------------------------------------------
st.header("Edit")
st.markdown(render("instructor.form"))
raw: dict[str, dict] = {}
for section in ex.sections():
    fields = ex.fields_of(section)
    with st.expander(f"[{section}]", expanded=section in ("prompt_click", "focal_trace")):
        columns = st.columns(min(len(fields), 3))
        for i, field in enumerate(fields):
            column = columns[i % len(columns)]
            key = widget_key(field)
            label = field.key
            if field.type is str and field.choices:
                if st.session_state.get(key) not in field.choices:
                    st.session_state[key] = field.choices[0]
                value = column.selectbox(label, field.choices, key=key, help=field.help)
            elif field.type is str:
                value = column.text_input(label, key=key, help=field.help, max_chars=40)
            elif field.type is int:
                value = column.number_input(label, min_value=int(field.min), max_value=int(field.max), step=1,
                                            key=key, help=field.help)
            else:
                value = column.number_input(label, min_value=float(field.min), max_value=float(field.max),
                                            key=key, help=field.help, format="%.6g")
            raw.setdefault(section, {})[field.key] = value

candidate, errors = ex.validate_examples(raw, base=current)
for message in errors:
    st.error(message, icon=":material/block:")

st.subheader("Preview")
changes = ex.examples_diff(current, candidate)
if changes:
    st.dataframe(pd.DataFrame([{"key": f"[{s}] {k}", "now": str(old), "after": str(new)}
                               for s, k, old, new in changes]), hide_index=True, width="stretch")
else:
    st.caption("No change yet.")
st.dataframe(pd.DataFrame(instructor.preview_rows(current, candidate)), hide_index=True, width="stretch")

buttons = st.columns(3)
buttons[0].button("Apply to my session", key=f"{KEY}_apply", type="primary", disabled=bool(errors) or not changes,
                  on_click=apply, args=(candidate,), width="stretch")
buttons[1].button("Reset to defaults", key=f"{KEY}_reset", on_click=reset_defaults, width="stretch")
buttons[2].download_button("Export as TOML", ex.examples_to_toml(current), file_name="traced_examples.toml",
                           mime="application/toml", key=f"{KEY}_export", width="stretch")

# ---- import ----------------------------------------------------------------------------------------------
st.header("Import")
st.markdown(render("instructor.import"))
upload = st.file_uploader("TOML file", type=["toml", "txt"], key=f"{KEY}_upload", max_upload_size=ex.MAX_TOML_MB)
if upload is not None:
    data = upload.getvalue()
    parsed, parse_errors = ex.parse_examples_toml(data)
    imported, value_errors = ex.validate_examples(parsed, base=current) if parsed else (current, [])
    for message in parse_errors + value_errors:
        st.error(message, icon=":material/block:")
    imported_changes = ex.examples_diff(current, imported)
    if imported_changes:
        st.dataframe(pd.DataFrame([{"key": f"[{s}] {k}", "now": str(old), "imported": str(new)}
                                   for s, k, old, new in imported_changes]), hide_index=True, width="stretch")
        st.button("Apply the imported values", key=f"{KEY}_apply_import", type="primary",
                  on_click=apply, args=(imported,))
    elif not parse_errors:
        st.info("The file changes nothing.")

# ---- publish to this server's students -------------------------------------------------------------------


def publish_now(values: dict) -> None:
    error = ex.publish(values, st.session_state.get(f"{KEY}_who", ""), st.session_state.get(f"{KEY}_token", ""))
    st.session_state[f"{KEY}_publish_msg"] = ("error", error) if error else ("ok", "Published for this server's students.")


def unpublish_now() -> None:
    error = ex.unpublish(st.session_state.get(f"{KEY}_token", ""))
    st.session_state[f"{KEY}_publish_msg"] = ("error", error) if error else ("ok", "Withdrawn: new sessions get the defaults.")


st.header("Publish to this server's students")
st.markdown(render("instructor.publish"))
record, _ = ex.read_published()
if record is not None:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record["at"]))
    changed = sum(len(v) for v in record["changes"].values() if isinstance(v, dict))
    st.info(f"Published by **{record['by']}** on {when}: {changed} changed key(s).", icon=":material/campaign:")
else:
    st.caption("Nothing is published: new sessions start from the defaults.")
status = st.session_state.pop(f"{KEY}_publish_msg", None)
if status:
    (st.success if status[0] == "ok" else st.error)(status[1])
if not ex.publishing_enabled():
    st.caption(f"Publishing is off on this server: the operator enables it by setting `{ex.TOKEN_ENV_VAR}` "
               "to a secret and giving it to the instructors.")
else:
    who_col, token_col = st.columns(2)
    who_col.text_input("Your name (stored with the publication)", key=f"{KEY}_who", max_chars=60)
    token_col.text_input("Instructor token", key=f"{KEY}_token", type="password")
    pub_cols = st.columns(2)
    pub_cols[0].button("Publish my session's examples", key=f"{KEY}_publish", type="primary", on_click=publish_now,
                       args=(current,), width="stretch")
    pub_cols[1].button("Withdraw the published examples", key=f"{KEY}_unpublish", on_click=unpublish_now,
                       disabled=record is None, width="stretch")
