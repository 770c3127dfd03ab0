"""Streamlit helpers shared by the pages: session state and model (session.py), clickable images and
mask drawing (widgets.py), untrusted uploads and bundled images (images.py), the shared sidebar.

Importing this package also makes sure app.py's st.navigation router is the only page router (below).
"""


def _use_app_router() -> None:
    """Stop Streamlit from treating pages/ as an old-style (MPA v1) pages directory.

    Streamlit 1.67 runs a process in "pages directory" mode while a folder named pages/ sits next to
    app.py, until some run calls st.navigation. In that mode a deep link (/segment) on a fresh server
    runs pages/segment.py on its own: no router, no sidebar, wrong titles. Every page imports ui, so
    the first import switches the mode off and, if it happened inside such a run, restarts the run,
    which then goes through app.py.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    except ImportError:  # another Streamlit version: nothing to fix
        return
    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    if get_script_run_ctx(suppress_warning=True) is not None:
        import streamlit as st

        st.rerun()


_use_app_router()
