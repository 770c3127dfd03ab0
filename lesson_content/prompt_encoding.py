"""Prompt encoding, two ways, on the same click: the lesson plan's formula and SAM's real path.

The plan's version (deterministic bands, as in NeRF / the transformer's sinusoidal encoding):
    p = (x, y) / image_size                       # in [0, 1)
    PE(p) = [sin(2^k pi p_x), cos(2^k pi p_x), sin(2^k pi p_y), cos(2^k pi p_y)]  for k = 0 .. L-1
evaluated EXACTLY with sympy (p is a fraction, so sin(2^k pi p) is a closed form) and, as its
pseudocode does, in float32 -- where the high bands become noise.

SAM's real version (sam_core/sam1/prompt_encoder.py, identical to Meta's):
    q = resize(x, y) + 0.5                        # pixel centre, in the encoder's input frame
    p = q / input_size ;  u = 2 p - 1             # in [-1, 1]
    angles = 2 pi * (u @ G)                       # G: [2, C/2] Gaussian, stored in the checkpoint
    pe = [sin(angles) | cos(angles)]              # C dims, no projection

Everything here is plain Python/torch/sympy (no Streamlit); the pages only lay the results out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
import torch

from lesson_content.float32_bands import (  # noqa: F401  (re-exported: the pages use pe.float32_breakdown)
    Float32Breakdown,
    float32_breakdown,
    grid_constant_band,
)
from sam_core import prompts

PLAN_ROUND_DIGITS = 4  # the lesson plan writes p_x = 0.3340, p_y = 0.5049 and evaluates at those
EXACT_DIGITS = 30  # significant digits sympy evaluates exact values to
PIXEL_CENTRE = sp.Rational(1, 2)  # SAM adds half a pixel before normalising

# SAM's point labels (sam_core.prompts): which learned type embedding is added to a token.
LABEL_BACKGROUND, LABEL_FOREGROUND, LABEL_PADDING = prompts.BACKGROUND, prompts.FOREGROUND, prompts.PADDING
LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT = prompts.BOX_TOP_LEFT, prompts.BOX_BOTTOM_RIGHT

# The lesson plan's pseudocode, quoted, with its band count and projection filled in from the config.
PLAN_PSEUDOCODE = """# The lesson plan's pseudocode (not SAM's code)
def encode_point(point_xy, image_size, foreground=True):
    # Normalize to [0, 1]
    normalized = point_xy / image_size              # [2]

    # Fourier positional encoding ({bands} frequency bands)
    freqs = 2.0 ** torch.arange({bands})               # [{bands}]
    angles_x = normalized[0] * freqs * math.pi     # [{bands}]
    angles_y = normalized[1] * freqs * math.pi     # [{bands}]
    pe = torch.cat([
        angles_x.sin(), angles_x.cos(),            # [{two_bands}]
        angles_y.sin(), angles_y.cos(),            # [{two_bands}]
    ])                                              # [{dims}]

    # Project to prompt token dimension  (SAM has no such projection)
    pe = linear_projection(pe)                      # [{proj}]

    # Add learned type embedding
    type_emb = fg_embedding if foreground else bg_embedding  # [{proj}]
    return pe + type_emb                            # [{proj}]
"""


def plan_pseudocode(bands: int, proj: int) -> str:
    return PLAN_PSEUDOCODE.format(bands=bands, two_bands=2 * bands, dims=4 * bands, proj=proj)


# ----------------------------------------------------------------------------------------------
# The plan's formula
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanTerm:
    """One term sin/cos(2^k * pi * p_c) of the plan's encoding, three ways."""

    band: int  # k
    coord: str  # "x" or "y"
    fn: str  # "sin" or "cos"
    latex: str  # e.g. \sin\left(\frac{171 \pi}{512}\right), sympy's own rendering of the exact term
    plain: str  # the same as text: sin(171π/512)
    exact: float  # sympy, exact argument, evaluated to EXACT_DIGITS then rounded to float64
    at_rounded_p: float  # the same function at p rounded to PLAN_ROUND_DIGITS (what the plan computes)
    float32: float  # the plan's pseudocode in float32 (torch)

    @property
    def name(self) -> str:
        """LaTeX of the symbolic term, e.g. \\cos(2^{1}\\pi p_y)."""
        mult = "" if self.band == 0 else f"2^{{{self.band}}}"
        return f"\\{self.fn}({mult}\\pi p_{self.coord})"

    @property
    def text(self) -> str:
        """Plain text of the symbolic term, e.g. cos(2^1·π·p_y)."""
        mult = "" if self.band == 0 else f"2^{self.band}·"
        return f"{self.fn}({mult}π·p_{self.coord})"



@dataclass(frozen=True)
class PlanClick:
    """The plan's normalisation p = (x, y) / image_size, exact and rounded."""

    x: int
    y: int
    image_size: int
    p_x: sp.Rational
    p_y: sp.Rational

    @property
    def p_x_float(self) -> float:
        return float(self.p_x)

    @property
    def p_y_float(self) -> float:
        return float(self.p_y)

    @property
    def p_x_rounded(self) -> float:
        return round(float(self.p_x), PLAN_ROUND_DIGITS)

    @property
    def p_y_rounded(self) -> float:
        return round(float(self.p_y), PLAN_ROUND_DIGITS)

    @property
    def p_x_latex(self) -> str:
        return sp.latex(self.p_x)

    @property
    def p_y_latex(self) -> str:
        return sp.latex(self.p_y)


NEAR_HALF_PI = 0.1  # radians: closer than this to pi/2 the prose says "just before / just beyond"


def side_of_half_pi(angle: float) -> str:
    """Where `angle` lies relative to pi/2, in words that follow the number (the prose branches on it)."""
    gap = angle - math.pi / 2
    if gap == 0:
        return "exactly at"
    near = abs(gap) < NEAR_HALF_PI
    if gap > 0:
        return "just beyond" if near else "beyond"
    return "just before" if near else "well before"


def plan_click(x: int, y: int, image_size: int) -> PlanClick:
    return PlanClick(x, y, image_size, sp.Rational(x, image_size), sp.Rational(y, image_size))


def _sym_fn(fn: str):
    return {"sin": sp.sin, "cos": sp.cos}[fn]


def _exact(fn: str, k: int, p: sp.Rational) -> tuple[sp.Expr, float]:
    expr = _sym_fn(fn)(sp.Integer(2) ** k * sp.pi * p)  # sympy reduces the angle modulo 2 pi exactly
    return expr, float(sp.N(expr, EXACT_DIGITS))


def _plan_float32(fn: str, k: int, p: float) -> float:
    """What the plan's pseudocode computes: p * 2.0**k * math.pi in float32, then sin/cos."""
    freq = torch.tensor(2.0, dtype=torch.float32) ** k
    angle = torch.tensor(p, dtype=torch.float32) * freq * math.pi
    return float(getattr(torch, fn)(angle))


@lru_cache(maxsize=64)
def plan_terms(x: int, y: int, image_size: int, bands: int) -> tuple[PlanTerm, ...]:
    """The first `bands` bands in the plan's order: sin x, cos x, sin y, cos y for k = 0, 1, ..."""
    click = plan_click(x, y, image_size)
    terms = []
    for k in range(bands):
        for coord, p, p_rounded in (("x", click.p_x, click.p_x_rounded), ("y", click.p_y, click.p_y_rounded)):
            for fn in ("sin", "cos"):
                _, value = _exact(fn, k, p)
                at_rounded = float(sp.N(_sym_fn(fn)(sp.Integer(2) ** k * sp.pi * sp.Rational(str(p_rounded))),
                                        EXACT_DIGITS))
                ratio = sp.Integer(2) ** k * p
                shown = _sym_fn(fn)(sp.Mul(ratio, sp.pi), evaluate=False)
                plain = f"{fn}({ratio.p}π/{ratio.q})" if ratio.q != 1 else f"{fn}({ratio.p}π)"
                terms.append(PlanTerm(k, coord, fn, sp.latex(shown), plain, value, at_rounded,
                                      _plan_float32(fn, k, float(p))))
    return tuple(terms)


def plan_term(terms: tuple[PlanTerm, ...], band: int, coord: str, fn: str) -> PlanTerm:
    for t in terms:
        if (t.band, t.coord, t.fn) == (band, coord, fn):
            return t
    raise KeyError((band, coord, fn))


def plan_vector_float32(x: int, y: int, image_size: int, bands: int) -> torch.Tensor:
    """The plan's pseudocode verbatim (before its 512 -> 256 'projection', which SAM does not have).

    Returns [4 * bands] float32: [sin(x bands) | cos(x bands) | sin(y bands) | cos(y bands)].
    """
    normalized = torch.tensor([x, y], dtype=torch.float32) / image_size  # [2]
    freqs = 2.0 ** torch.arange(bands, dtype=torch.float32)  # [bands]
    angles_x = normalized[0] * freqs * math.pi  # [bands]
    angles_y = normalized[1] * freqs * math.pi  # [bands]
    return torch.cat([angles_x.sin(), angles_x.cos(), angles_y.sin(), angles_y.cos()])  # [4 * bands]


# ----------------------------------------------------------------------------------------------
# SAM's real path
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RealPoint:
    """One point through SAM's PositionEmbeddingRandom, step by step (float64 numpy unless noted)."""

    x: float
    y: float
    image_size: int  # side of the (square) image the click is on
    input_size: int  # the encoder's input side (1024 for SAM, 256 for nano)
    coords_input: tuple[float, float]  # after ResizeLongestSide, before + 0.5
    p: tuple[float, float]  # (coords_input + 0.5) / input_size
    p_exact: tuple[sp.Rational, sp.Rational]
    u: tuple[float, float]  # 2 p - 1
    gaussian_matrix: np.ndarray  # G [2, C/2]
    angles: np.ndarray  # 2 pi (u @ G)  [C/2]
    pe: np.ndarray  # [sin | cos]  [C]

    @property
    def dim(self) -> int:
        return int(self.pe.shape[0])

    def angle_latex(self, j: int) -> str:
        """The j-th angle with numbers substituted: 2 pi (u_x G_0j + u_y G_1j), one line."""
        g0, g1 = self.gaussian_matrix[0, j], self.gaussian_matrix[1, j]
        return (f"2\\pi\\,\\big[({self.u[0]:.5f})({g0:.4f}) + ({self.u[1]:.5f})({g1:.4f})\\big]"
                f" = {self.angles[j]:.4f}")

    def angle_block(self, j: int) -> str:
        """LaTeX rows for an aligned block: the j-th angle over two lines, then its sine and cosine."""
        g0, g1 = self.gaussian_matrix[0, j], self.gaussian_matrix[1, j]
        return (f"\\theta_{{{j}}} &= 2\\pi\\,\\big[({self.u[0]:.5f})({g0:.4f}) \\\\\n"
                f"&\\qquad + ({self.u[1]:.5f})({g1:.4f})\\big] = {self.angles[j]:.4f} \\\\\n"
                f"&\\sin\\theta_{{{j}}} = {math.sin(self.angles[j]):.4f},\\ "
                f"\\cos\\theta_{{{j}}} = {math.cos(self.angles[j]):.4f}")


def _as_rational(value: float) -> sp.Rational:
    return sp.Rational(value).limit_denominator(1 << 20)


def resize_click(x: float, y: float, image_size: int, input_size: int) -> tuple[float, float]:
    """The predictor's coordinate transform for a square image_size image (ResizeLongestSide)."""
    from sam_core.transforms import ResizeLongestSide

    out = ResizeLongestSide(input_size).apply_coords(np.array([[x, y]], dtype=float), (image_size, image_size))
    return float(out[0, 0]), float(out[0, 1])


def sam_normalize(x: float, y: float, image_size: int, input_size: int
                  ) -> tuple[tuple[float, float], tuple[sp.Rational, sp.Rational]]:
    """(coords in the input frame, exact p = (coords + 1/2) / input_size) for a click on a square image."""
    cx, cy = resize_click(x, y, image_size, input_size)
    return (cx, cy), ((_as_rational(cx) + PIXEL_CENTRE) / input_size, (_as_rational(cy) + PIXEL_CENTRE) / input_size)


def real_point_encoding(gaussian_matrix, x: float, y: float, image_size: int, input_size: int) -> RealPoint:
    """SAM's encoding of a click at (x, y) on a square image, from its Gaussian matrix G [2, C/2]."""
    g = np.asarray(torch.as_tensor(gaussian_matrix).detach().cpu().double().numpy())
    (cx, cy), (px_exact, py_exact) = sam_normalize(x, y, image_size, input_size)
    p = (float(px_exact), float(py_exact))
    u = (2 * p[0] - 1, 2 * p[1] - 1)
    angles = 2 * math.pi * (np.array(u) @ g)  # [C/2]
    pe = np.concatenate([np.sin(angles), np.cos(angles)])  # [C]
    return RealPoint(x, y, image_size, input_size, (cx, cy), p, (px_exact, py_exact), u, g, angles, pe)


def model_point_pe(model, x: float, y: float, image_size: int) -> np.ndarray:
    """The loaded model's own code on the click: pe_layer.forward_with_coords -> [C] (float32)."""
    pe_layer = model.prompt_encoder.pe_layer
    input_size = model.prompt_encoder.input_image_size
    cx, cy = resize_click(x, y, image_size, input_size[0])
    device = pe_layer.positional_encoding_gaussian_matrix.device
    coords = torch.tensor([[[cx + 0.5, cy + 0.5]]], dtype=torch.float32, device=device)
    with torch.inference_mode():
        return pe_layer.forward_with_coords(coords, input_size)[0, 0].cpu().numpy()


def real_point_from_model(model, x: float, y: float, image_size: int) -> RealPoint:
    pe_layer = model.prompt_encoder.pe_layer
    return real_point_encoding(pe_layer.positional_encoding_gaussian_matrix, x, y, image_size,
                               model.prompt_encoder.input_image_size[0])


# ----------------------------------------------------------------------------------------------
# Boxes and masks
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoxTokens:
    corners_input: np.ndarray  # [2, 2] corners in the input frame (before + 0.5)
    p: np.ndarray  # [2, 2] normalised corners
    pe: np.ndarray  # [2, C] positional encodings of the two corners
    type_labels: tuple[int, int]  # which learned type embeddings are added (2 = top-left, 3 = bottom-right)
    tokens_shape: tuple[int, ...]  # sparse embeddings for a box alone: [1, 2, C]


def box_tokens(model, box: tuple[int, int, int, int], image_size: int) -> BoxTokens:
    """Encode a box prompt with the loaded model's prompt encoder: two corner tokens."""
    from sam_core.transforms import ResizeLongestSide

    pe_ = model.prompt_encoder
    input_size = pe_.input_image_size
    boxes = ResizeLongestSide(input_size[0]).apply_boxes(np.array([box], dtype=float), (image_size, image_size))
    device = pe_.pe_layer.positional_encoding_gaussian_matrix.device
    boxes_t = torch.as_tensor(boxes, dtype=torch.float32, device=device)
    with torch.inference_mode():
        sparse, _ = pe_(points=None, boxes=boxes_t, masks=None)
        corner_pe = pe_.pe_layer.forward_with_coords((boxes_t + 0.5).reshape(-1, 2, 2), input_size)
    corners = boxes.reshape(2, 2)
    return BoxTokens(corners, (corners + 0.5) / np.array([input_size[1], input_size[0]]),
                     corner_pe[0].cpu().numpy(), (2, 3), tuple(sparse.shape))


def point_tokens_shape(model) -> tuple[int, ...]:
    """Sparse embeddings for one click and no box: the click + SAM's padding point -> [1, 2, C]."""
    pe_ = model.prompt_encoder
    device = pe_.pe_layer.positional_encoding_gaussian_matrix.device
    with torch.inference_mode():
        sparse, _ = pe_(points=(torch.zeros(1, 1, 2, device=device), torch.ones(1, 1, device=device, dtype=torch.int)),
                        boxes=None, masks=None)
    return tuple(sparse.shape)


@lru_cache(maxsize=2)
def reference_prompt_encoder():
    """Real SAM's prompt encoder (ViT-B/L/H share it) on the 'meta' device: shapes, no weights."""
    from sam_core.sam1.build import SAM_DECODER
    from sam_core.sam1.prompt_encoder import PromptEncoder

    grid = (SAM_DECODER.embedding_grid, SAM_DECODER.embedding_grid)
    with torch.device("meta"):
        return PromptEncoder(embed_dim=SAM_DECODER.prompt_embed_dim, image_embedding_size=grid,
                             input_image_size=(SAM_DECODER.image_size, SAM_DECODER.image_size),
                             mask_in_chans=SAM_DECODER.mask_in_chans)


def max_angle(gaussian_matrix) -> float:
    """Largest |angle| SAM can produce for any point of the image: 2 pi max_j (|G_0j| + |G_1j|)."""
    g = torch.as_tensor(gaussian_matrix).detach().cpu().double()
    return float(2 * math.pi * (g[0].abs() + g[1].abs()).max())


def mask_downscaling_shapes(prompt_encoder) -> list[tuple[str, tuple[int, ...]]]:
    """Run a blank mask prompt through the mask-downscaling convs; (layer, output shape) per step.

    Works for a real module and for one built on the 'meta' device (shapes only, no memory).
    """
    device = prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.device
    h, w = prompt_encoder.mask_input_size
    x = torch.zeros(1, 1, h, w, device=device)
    out = [("mask prompt (low-res logits)", tuple(x.shape))]
    with torch.inference_mode():
        for layer in prompt_encoder.mask_downscaling:
            x = layer(x)
            out.append((_describe(layer), tuple(x.shape)))
    return out


def _describe(layer: torch.nn.Module) -> str:
    if isinstance(layer, torch.nn.Conv2d):
        k, s = layer.kernel_size[0], layer.stride[0]
        return f"Conv2d {layer.in_channels}->{layer.out_channels}, {k}x{k}, stride {s}"
    return type(layer).__name__


def side_by_side(x: int, y: int, image_size: int, plan_bands: int, real: RealPoint | None,
                 plan_proj: int) -> list[tuple[str, str, str]]:
    """Rows (step, the plan, SAM as loaded) comparing the two encodings of ONE click.

    Cells are Markdown with inline LaTeX, kept short so the table fits a narrow page; every number is
    computed here, none typed.
    """
    click = plan_click(x, y, image_size)

    def frac(r: sp.Rational) -> str:
        return f"$\\tfrac{{{r.p}}}{{{r.q}}} \\approx {float(r):.5f}$"

    none = "—"
    loaded = real is not None
    g_shape = f"{real.gaussian_matrix.shape[0]} \\times {real.gaussian_matrix.shape[1]}" if loaded else ""
    return [
        ("frame", f"$S = {image_size}$", f"$S_\\text{{in}} = {real.input_size}$" if loaded else none),
        ("click", f"$({x},\\ {y})$",
         f"$({real.coords_input[0]:g},\\ {real.coords_input[1]:g}) + {float(PIXEL_CENTRE)}$" if loaded else none),
        ("$p_x$", frac(click.p_x), frac(real.p_exact[0]) if loaded else none),
        ("$p_y$", frac(click.p_y), frac(real.p_exact[1]) if loaded else none),
        ("then", none, f"$u = ({real.u[0]:.4f},\\ {real.u[1]:.4f})$" if loaded else none),
        ("freqs", f"$2^k\\pi,\\ k < {plan_bands}$", f"$2\\pi G,\\ G: {g_shape}$" if loaded else none),
        ("first", f"$\\sin(\\pi p_x) = {math.sin(math.pi * click.p_x_float):.4f}$",
         f"$\\sin\\theta_0 = {math.sin(real.angles[0]):.4f}$" if loaded else none),
        ("width", f"${4 * plan_bands} \\to {plan_proj}$", f"${real.dim}$" if loaded else none),
    ]


def real_source() -> str:
    """The source of what the model runs for a point: sam_core's random-Fourier encoding and _embed_points."""
    import inspect

    from sam_core.sam1.prompt_encoder import PositionEmbeddingRandom, PromptEncoder

    return "\n".join(inspect.getsource(f) for f in (PositionEmbeddingRandom._pe_encoding,
                                                     PositionEmbeddingRandom.forward_with_coords,
                                                     PromptEncoder._embed_points))


def mask_downscaling_summary(prompt_encoder) -> dict[str, int]:
    """The mask-downscaling path in numbers: convs, strided convs, their stride, the last kernel size."""
    convs = [m for m in prompt_encoder.mask_downscaling if isinstance(m, torch.nn.Conv2d)]
    strided = [m for m in convs if m.stride[0] > 1]
    return {"n_convs": len(convs), "n_stride_convs": len(strided),
            "stride": strided[0].stride[0] if strided else 1, "kernel_last": convs[-1].kernel_size[0]}
