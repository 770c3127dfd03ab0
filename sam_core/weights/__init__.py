"""Known models (registry), checkpoint loading (safetensors / weights_only), transformers key maps, downloads."""
