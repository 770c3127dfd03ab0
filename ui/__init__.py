"""Streamlit helpers shared by the pages: session state and model (session.py), what every page repeats
(page.py), clickable images and mask drawing (widgets.py), untrusted uploads and bundled images
(images.py), the shared sidebar (sidebar.py) and the navigation built from the page table
(navigation.py)."""
