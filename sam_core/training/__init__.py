"""Training and evaluation of the embedded models on the procedural scenes.

    python -m sam_core.training --help              # train the nano SAM (loop.py; flags from config.py)
    python -m sam_core.training.evaluate --help     # evaluate a model on held-out scenes

config (TrainConfig, presets) -> loop (the steps) -> data (scenes, prompts) + episode (the interactive
loss, via sam_core.losses) + schedule (lr, focal ramp) + dense_aux (the training-only dense loss); log,
checkpoints, hardware (--device), model_setup (from-scratch init, optimizer), workers (data parallel).
"""
