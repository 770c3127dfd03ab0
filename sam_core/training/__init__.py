"""Training and evaluation of the embedded models on the procedural scenes."""
