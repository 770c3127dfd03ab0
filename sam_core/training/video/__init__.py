"""Training the embedded SAM 2 (`sam_core.sam2.nano`) with SAM 2's recipe on procedural videos.

`python -m sam_core.training.video --out runs/sam2_nano --minutes 45` — see config.py for every flag,
clips.py (data and prompts), episode.py (one clip through the model and its loss), loop.py (the loop,
resume, CSV log, export).
"""
