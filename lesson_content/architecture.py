"""SAM's three components, read from a model: tensor shapes, parameter counts, and timings.

- `summarize(model)`: shapes at every stage of one click's pipeline and parameter counts, by running
  the components on the model's own device. With a model built on the 'meta' device the same code
  gives real SAM ViT-H's shapes without allocating its 2.5 GB (`reference_summary("vit_h")`).
- `measure_amortization(model, image, clicks)`: "heavy encoder once, light decoder per prompt",
  measured: encode the image, then one predict() per click, median times.
Imports no Streamlit.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

REFERENCE_MODEL = "vit_h"  # the SAM the paper and the lesson plan describe


@dataclass(frozen=True)
class ModelSummary:
    """What one click's trip through a model looks like (shapes with batch dim 1)."""

    name: str
    encoder_type: str  # class name of the image encoder
    image_input: tuple[int, ...]  # [1, 3, S, S]
    image_embedding: tuple[int, ...]  # [1, C, h, w]
    sparse_tokens: tuple[int, ...]  # one click (+ the padding point): [1, 2, C]
    box_tokens: tuple[int, ...]  # one box, no click: [1, 2, C] (two corners)
    dense_embedding: tuple[int, ...]  # [1, C, h, w]
    image_pe: tuple[int, ...]  # [1, C, h, w]
    decoder_tokens: int  # IoU token + mask tokens + prompt tokens
    low_res_masks: tuple[int, ...]  # [1, 3, 256, 256] (multimask)
    iou_predictions: tuple[int, ...]  # [1, 3]
    params: dict[str, int] = field(default_factory=dict)  # component -> parameter count
    decoder_depth: int = 0  # two-way transformer layers
    decoder_heads: int = 0
    decoder_width: int = 0  # C
    decoder_mlp: int = 0
    mask_tokens: int = 0  # 4: one single-mask token + 3 multimask tokens
    multimask_outputs: int = 0
    encoder_depth: int | None = None  # ViT blocks (None for non-ViT encoders)
    encoder_width: int | None = None
    patch_size: int | None = None
    upscale_convs: int = 0  # transposed convolutions that grow the grid to the low-res mask size

    @property
    def input_size(self) -> int:
        return self.image_input[-1]

    @property
    def grid(self) -> int:
        return self.image_embedding[-1]

    @property
    def total_params(self) -> int:
        return sum(self.params.values())

    @property
    def image_tokens(self) -> int:
        return self.image_embedding[-1] * self.image_embedding[-2]


def _vit_width(blocks) -> int | None:
    norm = getattr(blocks[0], "norm1", None) if blocks is not None and len(blocks) else None
    shape = getattr(norm, "normalized_shape", None)
    return int(shape[0]) if shape else None


def param_counts(model) -> dict[str, int]:
    """Parameters per component (works on 'meta' models: numel needs no memory)."""
    return {
        "image_encoder": sum(p.numel() for p in model.image_encoder.parameters()),
        "prompt_encoder": sum(p.numel() for p in model.prompt_encoder.parameters()),
        "mask_decoder": sum(p.numel() for p in model.mask_decoder.parameters()),
    }


def summarize(model, name: str = "") -> ModelSummary:
    """Run one blank image and one click through `model`'s components and record every shape.

    On a real model this costs one encoder forward; on a 'meta' model it costs nothing but time.
    """
    device = model.pixel_mean.device
    size = model.image_encoder.img_size
    with torch.inference_mode():
        image = torch.zeros(1, 3, size, size, device=device)
        embedding = model.image_encoder(image)  # [1, C, h, w]
        points = torch.zeros(1, 1, 2, device=device)
        labels = torch.ones(1, 1, dtype=torch.int, device=device)
        sparse, dense = model.prompt_encoder(points=(points, labels), boxes=None, masks=None)
        box_sparse, _ = model.prompt_encoder(points=None, boxes=torch.zeros(1, 4, device=device), masks=None)
        image_pe = model.prompt_encoder.get_dense_pe()
        low_res, iou = model.mask_decoder(
            image_embeddings=embedding, image_pe=image_pe, sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=True,
        )
    decoder = model.mask_decoder
    transformer = decoder.transformer
    encoder = model.image_encoder
    blocks = getattr(encoder, "blocks", None)
    patch = getattr(getattr(encoder, "patch_embed", None), "proj", None)
    return ModelSummary(
        name=name or type(encoder).__name__,
        encoder_type=type(encoder).__name__,
        image_input=tuple(image.shape),
        image_embedding=tuple(embedding.shape),
        sparse_tokens=tuple(sparse.shape),
        box_tokens=tuple(box_sparse.shape),
        dense_embedding=tuple(dense.shape),
        image_pe=tuple(image_pe.shape),
        decoder_tokens=1 + decoder.num_mask_tokens + sparse.shape[1],
        low_res_masks=tuple(low_res.shape),
        iou_predictions=tuple(iou.shape),
        params=param_counts(model),
        decoder_depth=int(transformer.depth),
        decoder_heads=int(transformer.num_heads),
        decoder_width=int(transformer.embedding_dim),
        decoder_mlp=int(transformer.mlp_dim),
        mask_tokens=int(decoder.num_mask_tokens),
        multimask_outputs=int(decoder.num_multimask_outputs),
        encoder_depth=len(blocks) if blocks is not None else None,
        encoder_width=_vit_width(blocks),
        patch_size=int(patch.kernel_size[0]) if patch is not None else None,
        upscale_convs=sum(isinstance(m, torch.nn.ConvTranspose2d) for m in decoder.modules()),
    )


@lru_cache(maxsize=4)
def reference_summary(model_type: str = REFERENCE_MODEL) -> ModelSummary:
    """Real SAM's shapes and parameter counts, from its builder on the 'meta' device (no weights)."""
    from sam_core.sam1.build import sam_model_registry

    with torch.device("meta"):
        model = sam_model_registry[model_type]()
    return summarize(model, name=f"SAM {model_type.replace('_', '-').upper().replace('VIT', 'ViT')}")


def summary_for(model, model_type: str) -> ModelSummary:
    """The loaded model's summary: from a 'meta' twin of its architecture when the builder allows it
    (free, even for ViT-H on a CPU), else by running the loaded model once on a blank image."""
    try:
        summary = reference_summary(model_type)
        if summary.params == param_counts(model):  # same architecture as the checkpoint that was loaded
            return summary
    except Exception:  # some builders cannot run on 'meta' (e.g. TinyViT's init copies data)
        pass
    return summarize(model, name=model_type)


# ----------------------------------------------------------------------------------------------
# Heavy encoder once, light decoder per prompt
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Amortization:
    """Timings (ms) of one encode + N clicks on the same image, on this machine."""

    encoder_ms: tuple[float, ...]  # each set_image (the whole image pipeline: resize + encoder)
    click_ms: tuple[float, ...]  # each predict() wall time (prompt encoder + decoder + upsampling)
    prompt_encoder_ms: tuple[float, ...]
    mask_decoder_ms: tuple[float, ...]
    clicks: tuple[tuple[float, float], ...]
    device: str
    measured_at: float = 0.0  # time.time() of the measurement (pages cache it: they say when)

    @property
    def split_medians(self) -> dict[str, float]:
        """Per-click median ms: prompt encoder, mask decoder, and the rest of predict() (upsampling the
        low-res logits to the image's size, thresholding, numpy conversion)."""
        prompt, decoder = statistics.median(self.prompt_encoder_ms), statistics.median(self.mask_decoder_ms)
        rest = statistics.median(c - p - d for c, p, d in zip(self.click_ms, self.prompt_encoder_ms,
                                                               self.mask_decoder_ms, strict=True))
        return {"prompt encoder": prompt, "mask decoder": decoder, "upsampling + rest": max(rest, 0.0)}

    @property
    def encoder_median(self) -> float:
        return statistics.median(self.encoder_ms)

    @property
    def click_median(self) -> float:
        return statistics.median(self.click_ms)

    @property
    def n_clicks(self) -> int:
        return len(self.clicks)

    @property
    def amortized_total(self) -> float:
        """Encode once, then every click: what SAM's design costs."""
        return self.encoder_median + self.n_clicks * self.click_median

    @property
    def naive_total(self) -> float:
        """If every click re-ran the encoder (the misconception)."""
        return self.n_clicks * (self.encoder_median + self.click_median)

    @property
    def ratio(self) -> float:
        """How many clicks cost as much as one encoding."""
        return self.encoder_median / max(self.click_median, 1e-9)


def measure_amortization(model, image: np.ndarray, clicks: list[tuple[float, float]],
                         encoder_runs: int = 3, encoder_budget_ms: float = 3000.0) -> Amortization:
    """Encode `image` (up to `encoder_runs` times, for a median), then predict once per click.

    Encoding stops repeating once it has used `encoder_budget_ms` (a big model on a CPU is measured once).
    Uses a private SamPredictor over the shared model: only the predictor holds state.
    """
    from sam_core.sam1.predictor import SamPredictor

    predictor = SamPredictor(model)
    encoder_ms = []
    for _ in range(max(1, encoder_runs)):
        start = time.perf_counter()
        predictor.set_image(image)
        _sync(model)
        encoder_ms.append((time.perf_counter() - start) * 1000.0)
        if sum(encoder_ms) > encoder_budget_ms:
            break
    click_ms, prompt_ms, decoder_ms = [], [], []
    for x, y in clicks:
        start = time.perf_counter()
        predictor.predict(point_coords=np.array([[x, y]], dtype=float), point_labels=np.array([1]),
                          multimask_output=True)
        _sync(model)
        click_ms.append((time.perf_counter() - start) * 1000.0)
        timings = getattr(predictor, "last_timings_ms", {}) or {}
        prompt_ms.append(float(timings.get("prompt_encoder", float("nan"))))
        decoder_ms.append(float(timings.get("mask_decoder", float("nan"))))
    return Amortization(tuple(encoder_ms), tuple(click_ms), tuple(prompt_ms), tuple(decoder_ms),
                        tuple((float(x), float(y)) for x, y in clicks), str(model.pixel_mean.device), time.time())


def _sync(model) -> None:
    device = model.pixel_mean.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def claimed_totals(clicks: int, encoder_ms: float, decoder_ms: float) -> tuple[float, float]:
    """The plan's arithmetic: (encode once + clicks x decode, clicks x (encode + decode))."""
    return encoder_ms + clicks * decoder_ms, clicks * (encoder_ms + decoder_ms)


def shape_rows(model: ModelSummary, reference: ModelSummary) -> list[dict[str, str]]:
    """Rows (stage, loaded model, reference) for the side-by-side table; shapes without the batch dim."""
    def shape(t: tuple[int, ...]) -> str:
        return " × ".join(str(v) for v in t[1:])

    def millions(n: int) -> str:
        return f"{n / 1e6:,.2f} M" if n >= 100_000 else f"{n:,}"

    rows = [
        ("image input", shape(model.image_input), shape(reference.image_input)),
        ("image embedding", shape(model.image_embedding), shape(reference.image_embedding)),
        ("positional encoding of the grid", shape(model.image_pe), shape(reference.image_pe)),
        ("prompt tokens: one click (+ padding)", shape(model.sparse_tokens), shape(reference.sparse_tokens)),
        ("prompt tokens: one box", shape(model.box_tokens), shape(reference.box_tokens)),
        ("dense prompt (no mask)", shape(model.dense_embedding), shape(reference.dense_embedding)),
        ("decoder tokens, one click", str(model.decoder_tokens), str(reference.decoder_tokens)),
        ("low-res masks (multimask)", shape(model.low_res_masks), shape(reference.low_res_masks)),
        ("predicted IoU scores", shape(model.iou_predictions), shape(reference.iou_predictions)),
        ("decoder layers·heads·width·MLP",
         f"{model.decoder_depth} · {model.decoder_heads} · {model.decoder_width} · {model.decoder_mlp}",
         f"{reference.decoder_depth} · {reference.decoder_heads} · {reference.decoder_width} · {reference.decoder_mlp}"),
        ("image encoder", model.encoder_type, reference.encoder_type
         + (f" ({reference.encoder_depth} blocks, width {reference.encoder_width}, patch {reference.patch_size})"
            if reference.encoder_depth else "")),
        ("parameters: image encoder", millions(model.params["image_encoder"]), millions(reference.params["image_encoder"])),
        ("parameters: prompt encoder", millions(model.params["prompt_encoder"]), millions(reference.params["prompt_encoder"])),
        ("parameters: mask decoder", millions(model.params["mask_decoder"]), millions(reference.params["mask_decoder"])),
        ("parameters: total", millions(model.total_params), millions(reference.total_params)),
    ]
    return [{"stage": a, "loaded model": b, reference.name: c} for a, b, c in rows]


def dot_diagram(model: ModelSummary, reference: ModelSummary | None = None, dark: bool = True) -> str:
    """Graphviz DOT source of the three components with the model's shapes (and the reference's)."""
    def shape(t: tuple[int, ...]) -> str:
        return "×".join(str(v) for v in t[1:])

    def both(get) -> str:
        text = shape(get(model))
        if reference is not None and get(reference) != get(model):
            text += f"\\n(SAM: {shape(get(reference))})"
        return text

    fg, edge = ("#e6e6e6", "#9aa0a6") if dark else ("#202124", "#5f6368")
    heavy, light, data = ("#7f1d1d", "#14532d", "#1f2937") if dark else ("#fde2e2", "#dcfce7", "#f3f4f6")
    mask_out = shape(model.low_res_masks)
    lines = [
        "digraph sam {",
        '  rankdir=TB; bgcolor="transparent"; nodesep=0.35; ranksep=0.3;',
        f'  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, fontcolor="{fg}", color="{edge}"];',
        f'  edge [color="{edge}", fontcolor="{fg}", fontname="Helvetica", fontsize=10];',
        f'  image [label="image\\n{both(lambda s: s.image_input)}", fillcolor="{data}"];',
        f'  enc [label="image encoder\\n({model.encoder_type})\\nheavy: once per image", fillcolor="{heavy}"];',
        f'  emb [label="image embedding\\n{both(lambda s: s.image_embedding)}", fillcolor="{data}"];',
        f'  click [label="click / box / mask", fillcolor="{data}"];',
        f'  penc [label="prompt encoder\\nlight: per prompt", fillcolor="{light}"];',
        f'  tok [label="prompt tokens\\n{both(lambda s: s.sparse_tokens)}", fillcolor="{data}"];',
        f'  dec [label="mask decoder\\n{model.decoder_depth} two-way layers\\nlight: per prompt", fillcolor="{light}"];',
        f'  out [label="masks {mask_out}\\n+ IoU scores {shape(model.iou_predictions)}", fillcolor="{data}"];',
        "  image -> enc -> emb -> dec; click -> penc -> tok -> dec; dec -> out;",
        "  { rank=same; image; click; } { rank=same; enc; penc; } { rank=same; emb; tok; }",
        "}",
    ]
    return "\n".join(lines)


def reference_config(model_type: str = REFERENCE_MODEL) -> dict[str, int]:
    """Real SAM's headline numbers from sam_core's builder config (instant: nothing is built)."""
    from sam_core.sam1.build import SAM_DECODER, VIT_SIZES

    vit = VIT_SIZES[model_type]
    patch = SAM_DECODER.image_size // SAM_DECODER.embedding_grid
    return {
        "image_size": SAM_DECODER.image_size,
        "patch_size": patch,
        "grid": SAM_DECODER.embedding_grid,
        "image_tokens": SAM_DECODER.embedding_grid**2,
        "vit_width": vit.embed_dim,
        "vit_depth": vit.depth,
        "vit_heads": vit.num_heads,
        "global_blocks": len(vit.global_attn_indexes),
        "decoder_width": SAM_DECODER.prompt_embed_dim,
        "decoder_heads": SAM_DECODER.num_heads,
        "decoder_mlp": SAM_DECODER.mlp_dim,
    }
