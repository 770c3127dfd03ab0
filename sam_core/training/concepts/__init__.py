"""Training the embedded SAM 3 on the scenes' concepts with SAM 3's objectives (see loop.py, objectives.py)."""
