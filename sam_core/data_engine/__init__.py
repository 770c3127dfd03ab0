"""SA-1B's data engine, simulated on the procedural scenes: an annotator who clicks, and the model's help.

annotator.py: `annotate_object` — clicks at the most interior pixel of the error region until the mask
reaches the target IoU or the click budget runs out.
stages.py: the three SA-1B stages on one scene (assisted-manual, semi-automatic, fully automatic).
"""
