"""Building blocks shared by every family: attention, MLPs, 2-D LayerNorm, position encodings, windows."""
