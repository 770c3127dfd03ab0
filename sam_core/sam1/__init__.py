"""SAM 1 (Kirillov et al. 2023): image encoders (ViT, TinyViT, nano), prompt encoder, two-way mask decoder,
the `Sam` model, its builders and the stateful `SamPredictor`."""
