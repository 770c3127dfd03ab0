"""The nano model at step 0 of a run from scratch, and its optimizer.

Three init options let a decoder trained from random weights use the prompt within minutes (SAM starts
from an MAE-pretrained encoder and trains for days; the MODEL_CARD has the measurements):
- `pe_scale`: the prompt encoder's random Fourier frequencies N(0, pe_scale^2) instead of N(0, 1)
  (SAM's constructor has this `scale`; the matrix is stored in the weights), sharp at a 32 x 32 grid;
- `tie_qk`: every decoder cross-attention starts with k_proj = q_proj (x gain);
- `content_scale`: what is added to the positional encodings in attention starts smaller.
"""

from __future__ import annotations

import torch

from sam_core.sam1.build import sam_model_registry
from sam_core.sam1.sam import Sam
from sam_core.sam1.transformer import Attention
from sam_core.training.config import TrainConfig


def initial_model(cfg: TrainConfig) -> Sam:
    """The nano model at step 0 of a run from scratch: seeded init plus the from-scratch init options."""
    torch.manual_seed(cfg.seed)
    model = sam_model_registry["nano"]()
    with torch.no_grad():  # stored in the weights, so it only matters for a run from scratch
        model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.mul_(cfg.pe_scale)
    if cfg.tie_qk > 0:
        tie_cross_attention_init(model, cfg.tie_qk)
    if cfg.content_scale != 1.0:
        shrink_content_init(model, cfg.content_scale)
    return model


def tie_cross_attention_init(model: Sam, gain: float) -> None:
    """Start every decoder cross-attention with k_proj = q_proj (scaled by gain): then a query's positional
    encoding scores highest against keys at the same place, so a click attends near itself from step 0."""
    transformer = model.mask_decoder.transformer
    attns = [transformer.final_attn_token_to_image]
    for layer in transformer.layers:
        attns += [layer.cross_attn_token_to_image, layer.cross_attn_image_to_token]
    with torch.no_grad():
        for attn in attns:
            attn.q_proj.weight.mul_(gain)
            attn.k_proj.weight.copy_(attn.q_proj.weight)
            attn.k_proj.bias.copy_(attn.q_proj.bias)


def shrink_content_init(model: Sam, scale: float) -> None:
    """Scale down, at init, what is added to the positional encodings where attention compares positions:
    the point-type embeddings, the no-mask embedding, the image embedding (the neck's last LayerNorm2d
    weight) and the tokens after layer 0's self-attention (norm1 weight). With scale << 1 the position
    terms dominate the scores, so a click's token attends at the click and image positions near it attend
    to the click's token from step 0, instead of the decoder first learning a prompt-free mask."""
    pe = model.prompt_encoder
    with torch.no_grad():
        for emb in [*pe.point_embeddings, pe.not_a_point_embed, pe.no_mask_embed]:
            emb.weight.mul_(scale)
        model.image_encoder.neck[-1].weight.mul_(scale)
        model.mask_decoder.transformer.layers[0].norm1.weight.mul_(scale)


def set_fused_attention(model: Sam, on: bool) -> None:
    """Switch every decoder attention between the fused kernel and the explicit (traceable) one."""
    for module in model.mask_decoder.modules():
        if isinstance(module, Attention):
            module.use_fused = on


def build_optimizer(named: list[tuple[str, torch.nn.Parameter]], lr: float, weight_decay: float,
                    encoder_lr_mult: float) -> torch.optim.AdamW:
    """AdamW over named parameters: no weight decay on norms, biases, embeddings and tokens; the image
    encoder's lr is encoder_lr_mult x lr (each group's "lr_mult", applied by the loop every step)."""
    groups: dict[tuple[bool, float], list[torch.nn.Parameter]] = {}  # (weight decay?, lr multiplier)
    for name, prm in named:
        decays = not (prm.ndim <= 1 or "embed" in name or "token" in name)
        mult = encoder_lr_mult if name.startswith("image_encoder.") else 1.0
        groups.setdefault((decays, mult), []).append(prm)
    return torch.optim.AdamW(
        [{"params": prms, "weight_decay": weight_decay if decays else 0.0, "lr_mult": mult}
         for (decays, mult), prms in groups.items()],
        lr=lr, betas=(0.9, 0.999),
    )
