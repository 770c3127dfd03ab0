"""The mask decoder, read off one traced prediction: tokens, attention maps, shapes, masks forming.

    run = traced_predict(predictor, points=[(x, y)], labels=[1])
    layout = token_layout(run)                         # [IoU, mask 0..3, prompt tokens]
    maps = prompt_attention(run, layout.prompt_index)  # stage -> [heads, 64, 64]
    heat = grid_to_image(maps["layer 0"].mean(0), run) # float [H, W] on the original image
    rows = dimension_rows(run, model)                  # the dimension trace, shapes from the trace

Imports no Streamlit.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .live_trace import TracedPrediction

# (label, trace record) of the three token -> image attentions, in the order the decoder runs them.
TOKEN_TO_IMAGE_STAGES: tuple[tuple[str, str], ...] = (
    ("layer 0", "decoder.layer0.token_to_image"),
    ("layer 1", "decoder.layer1.token_to_image"),
    ("final", "decoder.final_token_to_image"),
)


@dataclass(frozen=True)
class Token:
    index: int
    name: str
    kind: str  # "iou" | "mask" | "prompt"
    learned: bool  # a learned embedding (the same for every click) or computed from the prompt


@dataclass(frozen=True)
class TokenLayout:
    tokens: list[Token]
    prompt_index: int  # index of the first prompt token (the click)
    num_mask_tokens: int

    @property
    def count(self) -> int:
        return len(self.tokens)


def token_layout(run: TracedPrediction) -> TokenLayout:
    """The token sequence the decoder really sees: [IoU token, mask tokens, prompt tokens].

    Mask token 0 makes the single-mask output, tokens 1-3 the three multimask outputs. A point prompt
    without a box gets an extra padding point (label -1), as in Meta's SAM; a box adds two corner tokens.
    """
    total = run.shape("decoder.tokens_in")[1]
    n_mask = run.shape("decoder.hypernetwork_out")[1]
    tokens = [Token(0, "IoU token", "iou", True)]
    for i in range(n_mask):
        role = "single-mask output" if i == 0 else f"multimask output {i}"
        tokens.append(Token(1 + i, f"mask token {i} ({role})", "mask", True))
    prompt_names: list[str] = []
    for j, label in enumerate(run.labels):
        kind = {1: "foreground", 0: "background"}.get(label, f"label {label}")
        prompt_names.append(f"point {j + 1} ({kind})")
    if run.box is None and run.points:
        prompt_names.append("padding point (label -1)")
    if run.box is not None:
        prompt_names += ["box corner top-left", "box corner bottom-right"]
    start = 1 + n_mask
    while len(prompt_names) < total - start:  # should not happen; keep the table honest if it does
        prompt_names.append(f"prompt token {len(prompt_names) + 1}")
    tokens += [Token(start + j, name, "prompt", False) for j, name in enumerate(prompt_names[: total - start])]
    return TokenLayout(tokens, start, n_mask)


def grid_side(run: TracedPrediction) -> int:
    return int(math.isqrt(run.shape("decoder.layer0.token_to_image")[-1]))


def prompt_attention(run: TracedPrediction, token_index: int) -> dict[str, np.ndarray]:
    """Attention of one token over the image grid at each token -> image stage: label -> [heads, g, g].

    Each row of an attention map is a softmax over all g*g image positions, so every head's map sums to 1.
    """
    g = grid_side(run)
    out = {}
    for label, name in TOKEN_TO_IMAGE_STAGES:
        weights = run.records[name][0, :, token_index, :]  # heads x HW
        out[label] = weights.reshape(weights.shape[0], g, g)
    return out


def effective_positions(weights: np.ndarray) -> float:
    """exp(entropy) of one attention distribution: how many image positions it effectively reads
    (1 = all weight on one cell; g*g = uniform)."""
    p = np.asarray(weights, dtype=np.float64).ravel()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def attention_mass(weights: np.ndarray, gt_fraction: np.ndarray) -> float:
    """Share of an attention distribution [g, g] that falls on a ground-truth segment (its per-cell
    coverage from scene_targets.gt_fraction_on_grid)."""
    return float((np.asarray(weights, dtype=np.float64) * gt_fraction).sum() / max(weights.sum(), 1e-12))


def grid_to_image(grid_map: np.ndarray, run: TracedPrediction, size: tuple[int, int] | None = None) -> np.ndarray:
    """Map a [g, g] map on the embedding grid onto the ORIGINAL image: float [H, W] (or `size` (h, w), a
    display copy of it: the same map, drawn smaller and faster).

    The grid tiles the padded img_size x img_size input; the image occupies its top-left input_size
    corner. Upsample (bilinear), crop the padding away, resize to the original size.
    """
    square = Image.fromarray(np.asarray(grid_map, dtype=np.float32), mode="F").resize(
        (run.img_size, run.img_size), Image.Resampling.BILINEAR)
    h, w = run.input_size
    crop = square.crop((0, 0, w, h))
    H, W = size if size is not None else run.original_size
    return np.asarray(crop.resize((W, H), Image.Resampling.BILINEAR), dtype=np.float32)


def low_res_valid(run: TracedPrediction, array: np.ndarray) -> np.ndarray:
    """Crop a [..., 256, 256] low-res map to the part that covers the image (not the padding)."""
    side = array.shape[-1]
    h, w = run.input_size
    rows = max(1, round(h * side / run.img_size))
    cols = max(1, round(w * side / run.img_size))
    return array[..., :rows, :cols]


HEAT_PERCENTILE = 99.0  # attention is peaky: the colour scale tops out here (brighter cells saturate)


def heat_scale(heat: np.ndarray) -> float:
    """The top of a readable colour scale for an attention map: its HEAT_PERCENTILE-th value."""
    heat = np.asarray(heat, dtype=np.float64)
    top = float(np.percentile(heat, HEAT_PERCENTILE))
    return top if top > 0 else float(heat.max())


def colour_bar(cmap: str = "inferno", width: int = 256, height: int = 14) -> np.ndarray:
    """A horizontal colour bar, uint8 [height, width, 3]: the legend of heat_overlay (left = 0)."""
    from matplotlib import colormaps

    ramp = np.linspace(0.0, 1.0, width)
    return (np.repeat(colormaps[cmap](ramp)[None, :, :3], height, axis=0) * 255).astype(np.uint8)


def heat_overlay(image: np.ndarray, heat: np.ndarray, cmap: str = "inferno", opacity: float = 0.8,
                 vmax: float | None = None) -> np.ndarray:
    """Colour `heat` [H, W] (0 .. vmax, default heat_scale(heat)) and blend it over a dimmed copy of image."""
    from matplotlib import colormaps

    heat = np.asarray(heat, dtype=np.float64)
    top = float(vmax) if vmax is not None else heat_scale(heat)
    scaled = np.clip(heat / top, 0.0, 1.0) if top > 0 else np.zeros_like(heat)
    colours = colormaps[cmap](scaled)[..., :3] * 255.0
    base = np.asarray(image, dtype=np.float64) * 0.55
    weight = opacity * (0.25 + 0.75 * scaled[..., None])
    return np.clip(base * (1 - weight) + colours * weight, 0, 255).astype(np.uint8)


def colour_map(values: np.ndarray, cmap: str = "RdBu_r", symmetric: bool = True, size: int | None = None) -> np.ndarray:
    """A float map as an RGB uint8 image (diverging around 0 when symmetric), nearest-upscaled to `size`."""
    from matplotlib import colormaps

    v = np.asarray(values, dtype=np.float64)
    if symmetric:
        top = float(np.abs(v).max()) or 1.0
        scaled = 0.5 + 0.5 * v / top
    else:
        low, high = float(v.min()), float(v.max())
        scaled = (v - low) / (high - low) if high > low else np.zeros_like(v)
    rgb = (colormaps[cmap](scaled)[..., :3] * 255).astype(np.uint8)
    if size is not None and max(rgb.shape[:2]) != size:
        scale = size / max(rgb.shape[:2])
        new = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(new, Image.Resampling.BOX if scale < 1 else Image.Resampling.NEAREST))
    return rgb


@dataclass(frozen=True)
class MaskForming:
    """How one mask token's mask is made: logits = sum_c w_c * F_c over the C/8 upscaled feature maps."""

    mask_token: int
    weights: np.ndarray  # [C/8] hypernetwork output for this token
    top_channels: list[int]  # the channels contributing most (by mean |w_c F_c| over the image)
    terms: list[np.ndarray]  # w_c * F_c for those channels, cropped to the image, [h', w'] each
    logits: np.ndarray  # the full sum, cropped, [h', w']
    iou_pred: float  # the IoU head's prediction for this token's mask


def masks_forming(run: TracedPrediction, top: int = 3) -> list[MaskForming]:
    """The hypernetwork dot product for each of the mask tokens, with its strongest terms."""
    hyper = run.records["decoder.hypernetwork_out"][0]  # n_mask x C/8
    features = low_res_valid(run, run.records["decoder.upscaled_features"][0])  # C/8 x h' x w'
    iou = run.records["decoder.iou_pred_all"][0]
    out = []
    for k in range(hyper.shape[0]):
        terms = hyper[k][:, None, None] * features  # C/8 x h' x w'
        strength = np.abs(terms).mean(axis=(1, 2))
        order = [int(c) for c in np.argsort(-strength)[:top]]
        out.append(MaskForming(k, hyper[k].copy(), order, [terms[c] for c in order], terms.sum(0), float(iou[k])))
    return out


# ---- the dimension trace -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DecoderDims:
    """Sizes of the decoder read from a trace and the model's modules (not from a table)."""

    width: int  # C, token width
    heads: int
    cross_width: int  # internal width of the cross-attentions (C / downsample rate)
    self_width: int  # internal width of the token self-attention
    tokens: int  # T
    positions: int  # HW
    grid: int  # g (positions = g * g)
    upscaled_channels: int  # C / 8
    upscaled_side: int  # 256
    num_mask_tokens: int
    img_size: int
    mlp_dim: int

    @property
    def head_dim(self) -> int:
        return self.cross_width // self.heads

    @property
    def downsample(self) -> int:
        return self.width // self.cross_width


def decoder_dims(run: TracedPrediction, model) -> DecoderDims:
    layer = model.mask_decoder.transformer.layers[0]
    tokens_in = run.shape("decoder.tokens_in")
    t2i = run.shape("decoder.layer0.token_to_image")
    up = run.shape("decoder.upscaled_features")
    return DecoderDims(
        width=tokens_in[2],
        heads=t2i[1],
        cross_width=int(layer.cross_attn_token_to_image.internal_dim),
        self_width=int(layer.self_attn.internal_dim),
        tokens=tokens_in[1],
        positions=t2i[3],
        grid=int(math.isqrt(t2i[3])),
        upscaled_channels=up[1],
        upscaled_side=up[2],
        num_mask_tokens=run.shape("decoder.hypernetwork_out")[1],
        img_size=run.img_size,
        mlp_dim=int(layer.mlp.lin1.out_features),
    )


def dimension_rows(run: TracedPrediction) -> list[dict[str, str]]:
    """One row per recorded decoder tensor: its name and the shape the trace actually recorded."""
    meaning = {
        "decoder.tokens_in": "tokens entering the transformer [B, T, C]",
        "decoder.layer0.self_attn": "layer 0 self-attention weights [B, heads, T, T]",
        "decoder.layer0.token_to_image": "layer 0 token -> image weights [B, heads, T, HW]",
        "decoder.layer0.image_to_token": "layer 0 image -> token weights [B, heads, HW, T]",
        "decoder.layer1.self_attn": "layer 1 self-attention weights",
        "decoder.layer1.token_to_image": "layer 1 token -> image weights",
        "decoder.layer1.image_to_token": "layer 1 image -> token weights",
        "decoder.final_token_to_image": "final token -> image weights",
        "decoder.tokens_out": "tokens leaving the transformer [B, T, C]",
        "decoder.upscaled_features": "image features after 2 transposed convs [B, C/8, 4g, 4g]",
        "decoder.hypernetwork_out": "one C/8 vector per mask token [B, 4, C/8]",
        "decoder.low_res_logits_all": "mask logits = hypernetwork . features [B, 4, 4g, 4g]",
        "decoder.iou_pred_all": "IoU head: predicted IoU per mask token [B, 4]",
    }
    return [{"record": name, "shape": " x ".join(str(v) for v in run.shape(name)), "what": what}
            for name, what in meaning.items() if name in run.records]


def reference_decoder_run(seed: int = 0) -> tuple[TracedPrediction, object]:
    """Trace SAM's real decoder configuration (the one ViT-B/L/H share) on a random image embedding.

    The prompt encoder and mask decoder are built by sam_core's own builder with random weights; the
    ViT is replaced by a random [1, C, 64, 64] embedding (its weights do not change any shape), and the
    two small modules run directly, so this costs well under a second.
    Returns (run for one foreground click in the image centre, the model).
    """
    import torch
    from torch import nn

    from sam_core.sam1.build import SAM_DECODER, build_sam_from_sizes
    from sam_core.tracing import trace

    class NoEncoder(nn.Module):
        img_size = SAM_DECODER.image_size

    torch.manual_seed(seed)
    model = build_sam_from_sizes(NoEncoder(), SAM_DECODER).eval()
    grid, side = SAM_DECODER.embedding_grid, SAM_DECODER.image_size
    embedding = torch.randn(1, SAM_DECODER.prompt_embed_dim, grid, grid)
    coords = torch.tensor([[[side / 2, side / 2]]])
    labels = torch.tensor([[1]])
    with torch.inference_mode(), trace() as t:
        sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        low_res, iou = model.mask_decoder(embedding, model.prompt_encoder.get_dense_pe(), sparse, dense, True)
    run = TracedPrediction(
        masks=np.zeros((0, 0, 0), dtype=bool), scores=iou[0].numpy(), low_res=low_res[0].numpy(),
        records={name: tensor.numpy() for name, tensor in t.records.items()}, timings_ms=dict(t.timings_ms),
        counts=dict(t.counts), original_size=(side, side), input_size=(side, side), img_size=side,
        points=[(side / 2, side / 2)], labels=[1])
    return run, model


# ---- formulas and code ----------------------------------------------------------------------------------

def cross_attention_latex(d: DecoderDims) -> list[str]:
    """The token -> image cross-attention with the traced sizes filled in, one short LaTeX line per step
    (each fits a ~400 px column, so nothing is clipped on a narrow screen)."""
    T, HW, C, ci, h, dh = d.tokens, d.positions, d.width, d.cross_width, d.heads, d.head_dim
    return [
        r"\mathrm{Attn}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^{\top}}{\sqrt{d_h}}\right) V",
        r"Q = (\text{tokens} + \text{PE})\,W_Q",
        r"K = (\text{image} + \text{PE})\,W_K,\quad V = \text{image}\,W_V",
        rf"Q:\ [{T} \times {C}]\,[{C} \times {ci}] \to [{T} \times {ci}]",
        rf"K, V:\ [{HW} \times {C}]\,[{C} \times {ci}] \to [{HW} \times {ci}]",
        rf"{h}\ \text{{heads}},\quad d_h = {ci} / {h} = {dh}",
        rf"Q_h K_h^{{\top}}:\ [{T} \times {dh}]\,[{dh} \times {HW}] = [{T} \times {HW}]",
        rf"A_h V_h:\ [{T} \times {HW}]\,[{HW} \times {dh}] = [{T} \times {dh}]",
        rf"\text{{concat}}:\ [{T} \times {ci}],\quad W_O:\ [{ci} \times {C}] \to [{T} \times {C}]",
    ]


def mask_latex(d: DecoderDims) -> list[str]:
    """The hypernetwork dot product with the traced sizes, as two short LaTeX lines."""
    c8, s = d.upscaled_channels, d.upscaled_side
    return [rf"\text{{mask}}_k(u, v) = \sum_{{c=1}}^{{{c8}}} \underbrace{{w_{{k,c}}}}_{{\mathrm{{MLP}}_k(\text{{token}}_k)}}"
            rf"\; F_c(u, v)",
            rf"w_k:\ [{c8}],\qquad F:\ [{c8} \times {s} \times {s}]"]


def real_source() -> dict[str, str]:
    """The sam_core code the lesson's pseudocode simplifies, read from the module itself."""
    from sam_core.sam1.mask_decoder import MaskDecoder
    from sam_core.sam1.transformer import TwoWayAttentionBlock, TwoWayTransformer

    return {
        "MaskDecoder.predict_masks": inspect.getsource(MaskDecoder.predict_masks),
        "TwoWayTransformer.forward": inspect.getsource(TwoWayTransformer.forward),
        "TwoWayAttentionBlock.forward": inspect.getsource(TwoWayAttentionBlock.forward),
    }


def without_tracing(source: str) -> tuple[str, int]:
    """(source without its tracing lines, how many were folded away).

    A tracing line is a call of sam_core.tracing's `record(...)` (it only copies a tensor for the lesson's
    figures and changes nothing); a call spanning several lines is folded whole. The exact source is
    shown beside it, so the real code stays the real code."""
    kept, folded, depth = [], 0, 0
    for line in source.splitlines():
        stripped = line.strip()
        if depth == 0 and (stripped.startswith("record(") or stripped.startswith("tracing.record(")):
            depth = stripped.count("(") - stripped.count(")")
            folded += 1
            continue
        if depth > 0:
            depth += stripped.count("(") - stripped.count(")")
            continue
        kept.append(line)
    return "\n".join(kept) + ("\n" if source.endswith("\n") else ""), folded


def all_token_masks(run: TracedPrediction, threshold: float = 0.0) -> np.ndarray:
    """Masks of ALL mask tokens (the single-mask token too) at the original size: bool [n_mask, H, W].

    The same post-processing as Sam.postprocess_masks: upsample the low-res logits to the padded input,
    crop the padding, resize to the original image.
    """
    import torch
    import torch.nn.functional as F

    logits = torch.from_numpy(run.records["decoder.low_res_logits_all"])
    up = F.interpolate(logits, (run.img_size, run.img_size), mode="bilinear", align_corners=False)
    up = up[..., : run.input_size[0], : run.input_size[1]]
    up = F.interpolate(up, tuple(run.original_size), mode="bilinear", align_corners=False)
    return (up[0] > threshold).numpy()


@dataclass(frozen=True)
class DecoderStructure:
    """What the decoder page says about the loaded model's decoder, read from the model in one place."""

    depth: int  # two-way transformer layers
    up_convs: int  # transposed convolutions in the output upscaling
    stride: int  # stride of each transposed convolution
    mid_channels: int  # channels after the first transposed convolution
    iou_depth: int  # Linear layers of the IoU head


def decoder_structure(model) -> DecoderStructure:
    """The loaded model's decoder structure (SAM: 2 layers, 2 transposed convs of stride 2, 3-layer IoU head)."""
    from torch import nn

    decoder = model.mask_decoder
    up_convs = [m for m in decoder.output_upscaling if isinstance(m, nn.ConvTranspose2d)]
    return DecoderStructure(depth=int(decoder.transformer.depth), up_convs=len(up_convs),
                            stride=int(up_convs[0].stride[0]), mid_channels=int(up_convs[0].out_channels),
                            iou_depth=len(decoder.iou_prediction_head.layers))


def attention_layer_dot(depth: int, tokens: int, positions: int, dark: bool = False) -> str:
    """Graphviz source: per decoder layer, self-attention -> token-to-image -> image-to-token, then the
    final token-to-image attention (what sam_core.sam1's TwoWayTransformer runs, in that order)."""
    fg, bg = ("#e6e6e6", "#0e1117") if dark else ("#222222", "#ffffff")
    tok, img = ("#3b6ea8", "#a8623b")
    lines = [
        "digraph decoder {",
        f'  bgcolor="{bg}"; rankdir=TB; node [shape=box, style="rounded,filled", fontcolor="white", '
        f'fontname="Helvetica", fontsize=11]; edge [color="{fg}", fontcolor="{fg}", fontsize=9];',
        f'  tokens [label="tokens\\n[{tokens} × C]", fillcolor="{tok}"];',
        f'  image [label="image grid\\n[{positions} × C]", fillcolor="{img}"];',
    ]
    prev_tok, prev_img = "tokens", "image"
    for i in range(depth):
        sa, t2i, i2t = f"sa{i}", f"t2i{i}", f"i2t{i}"
        lines += [
            f'  subgraph cluster_{i} {{ label="layer {i}"; fontcolor="{fg}"; color="{fg}"; style=dashed;',
            f'    {sa} [label="1. self-attention\\ntokens ↔ tokens", fillcolor="{tok}"];',
            f'    {t2i} [label="2. token → image (+ MLP)\\nQ: tokens, K/V: grid", fillcolor="{tok}"];',
            f'    {i2t} [label="3. image → token\\nQ: grid, K/V: tokens", fillcolor="{img}"]; }}',
            f"  {prev_tok} -> {sa}; {sa} -> {t2i}; {prev_img} -> {t2i} [style=dashed, label=\"K, V\"];",
            f"  {t2i} -> {i2t} [style=dashed, label=\"K, V\"]; {prev_img} -> {i2t};",
        ]
        prev_tok, prev_img = t2i, i2t
    lines += [
        f'  final [label="final token → image", fillcolor="{tok}"];',
        f'  {prev_tok} -> final; {prev_img} -> final [style=dashed, label="K, V"];',
        f'  out [label="mask + IoU tokens\\nupdated grid", fillcolor="{tok}"]; final -> out;',
        "}",
    ]
    return "\n".join(lines)
