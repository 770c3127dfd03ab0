"""Streamlit helpers shared by the pages: session state and model (session.py), clickable images and
mask drawing (widgets.py), untrusted uploads and bundled images (images.py), the shared sidebar."""
