"""Test helper: Meta's `sam3` package (PyPI sam3==0.1.4) built tiny on the CPU, as the oracle.

sam3 cannot be imported on a CPU-only machine as it is:
- it imports torchvision (ops.roi_align, transforms.v2), which cannot be installed here: the shared
  torchvision stand-in (tests/torchvision_stub.py) is extended with `roi_align` — the brute-force
  reference below, a line-by-line copy of torchvision's CPU kernel loops — and the few names the
  imports need;
- `sam3.model.edt` imports triton (a fake triton would break torch's inductor), so that one module
  is pre-seeded in sys.modules with a function that raises if it is ever called;
- its builder allocates caches on CUDA (position encodings, decoder coordinates) and calls
  `pin_memory()`; here the components are constructed with those precomputations off, and
  `pin_memory` is bypassed while Meta's forward runs;
- its text transformer leaves `positional_embedding` and `text_projection` uninitialised (torch.empty):
  they are filled with normal noise here.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import types

import pytest
import torch

from tests.torchvision_stub import install_torchvision_stub


def _bilinear(feat: torch.Tensor, height: int, width: int, y: float, x: float) -> torch.Tensor:
    """torchvision's bilinear_interpolate (roi_align_kernel.cpp), one sample, all channels."""
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return feat.new_zeros(feat.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * feat[:, y_low, x_low] + hy * lx * feat[:, y_low, x_high]
            + ly * hx * feat[:, y_high, x_low] + ly * lx * feat[:, y_high, x_high])


def roi_align_reference(features: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
                        sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    """Brute-force torchvision.ops.roi_align: loops over boxes, bins and samples (slow, obvious)."""
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    if isinstance(boxes, torch.Tensor):
        rois = boxes.tolist()
    else:
        rois = [[i, *b] for i, bs in enumerate(boxes) for b in bs.tolist()]
    _, channels, height, width = features.shape
    result = features.new_zeros(len(rois), channels, out_h, out_w)
    offset = 0.5 if aligned else 0.0
    for r, (image, x0, y0, x1, y1) in enumerate(rois):
        feat = features[int(image)]
        start_w, start_h = x0 * spatial_scale - offset, y0 * spatial_scale - offset
        roi_w, roi_h = x1 * spatial_scale - offset - start_w, y1 * spatial_scale - offset - start_h
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / out_h)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / out_w)
        count = max(grid_h * grid_w, 1)
        for ph in range(out_h):
            for pw in range(out_w):
                total = feat.new_zeros(channels)
                for iy in range(grid_h):
                    y = start_h + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = start_w + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        total = total + _bilinear(feat, height, width, y, x)
                result[r, :, ph, pw] = total / count
    return result


class _Unavailable:
    """A torchvision name that sam3 or timm imports but the tested path never uses: raises if used."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"torchvision stand-in: {self._name} is not available in these tests")

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Unavailable(f"{self._name}.{attr}")

    def __mro_entries__(self, bases):  # used as a base class (e.g. a transform): a plain object
        return (object,)


def _module_getattr(module_name: str):
    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Unavailable(f"{module_name}.{attr}")

    return __getattr__


class _TorchvisionFinder:
    """Creates torchvision.* submodules on import; their unknown attributes are _Unavailable."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        import importlib.machinery

        if fullname.startswith("torchvision.") and fullname not in sys.modules:
            return importlib.machinery.ModuleSpec(fullname, _TorchvisionFinder, is_package=True)
        return None

    @staticmethod
    def create_module(spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _module_getattr(spec.name)
        return module

    @staticmethod
    def exec_module(module):
        return None


def _install_import_shims() -> None:
    install_torchvision_stub(force=True)
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        module = sys.modules[name]
        module.__path__ = []  # a package, so that submodules import through the finder
        module.__getattr__ = _module_getattr(name)
    if _TorchvisionFinder not in sys.meta_path:
        sys.meta_path.insert(0, _TorchvisionFinder)
    ops = sys.modules["torchvision.ops"]
    roi_module = types.ModuleType("torchvision.ops.roi_align")
    roi_module.roi_align = roi_align_reference

    class RoIAlign(torch.nn.Module):
        def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
            super().__init__()
            self.args = (output_size, spatial_scale, sampling_ratio, aligned)

        def forward(self, features, rois):
            return roi_align_reference(features, rois, *self.args)

    roi_module.RoIAlign = RoIAlign
    sys.modules["torchvision.ops.roi_align"] = roi_module
    ops.roi_align = roi_align_reference
    ops.RoIAlign = RoIAlign
    if "sam3.model.edt" not in sys.modules:
        edt = types.ModuleType("sam3.model.edt")

        def edt_triton(*_args, **_kwargs):
            raise RuntimeError("sam3.model.edt needs triton; not available in these tests")

        edt.edt_triton = edt_triton
        sys.modules["sam3.model.edt"] = edt


def import_meta_sam3():
    """Import Meta's sam3 (with the shims); skip locally, fail under CI=true, when it is missing."""
    try:
        _install_import_shims()
        import sam3.model_builder  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Meta's sam3 oracle is missing under CI: {e}")
        pytest.skip(f"Meta's sam3 not importable: {e}")
    import sam3

    return sam3


@contextlib.contextmanager
def no_pin_memory():
    """Meta's geometry encoder calls `pin_memory()`, which needs CUDA: make it a no-op meanwhile."""
    original = torch.Tensor.pin_memory
    torch.Tensor.pin_memory = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.pin_memory = original


def build_meta_image_model(cfg, bpe_path: str, interactive: bool = False):
    """Meta's Sam3Image with the sizes of our `Sam3Config` cfg, assembled from sam3's own classes the
    way `sam3.model_builder.build_sam3_image_model` does, with the CUDA precomputations off.
    `interactive`: enable_inst_interactivity (tracker neck + meta_interactive_predictor)."""
    import_meta_sam3()
    from sam3.model.decoder import TransformerDecoder, TransformerDecoderLayer
    from sam3.model.encoder import TransformerEncoderFusion, TransformerEncoderLayer
    from sam3.model.geometry_encoders import SequenceGeometryEncoder
    from sam3.model.maskformer_segmentation import PixelDecoder, UniversalSegmentationHead
    from sam3.model.model_misc import MLP, DotProductScoring, TransformerWrapper
    from sam3.model.model_misc import MultiheadAttentionWrapper as MHA
    from sam3.model.necks import Sam3DualViTDetNeck
    from sam3.model.position_encoding import PositionEmbeddingSine
    from sam3.model.sam3_image import Sam3Image
    from sam3.model.text_encoder_ve import VETextEncoder
    from sam3.model.tokenizer_ve import SimpleTokenizer
    from sam3.model.vitdet import ViT
    from sam3.model.vl_combiner import SAM3VLBackbone
    from torch import nn

    d = cfg.d_model

    def pos_enc():
        return PositionEmbeddingSine(num_pos_feats=d, normalize=True, scale=None, temperature=10000,
                                     precompute_resolution=None)

    vit = ViT(img_size=cfg.image_size, pretrain_img_size=cfg.pretrain_image_size, patch_size=cfg.patch_size,
              embed_dim=cfg.vit_dim, depth=cfg.vit_depth, num_heads=cfg.vit_heads, mlp_ratio=cfg.vit_mlp_ratio,
              norm_layer="LayerNorm", drop_path_rate=0.1, qkv_bias=True, use_abs_pos=True, tile_abs_pos=True,
              global_att_blocks=cfg.global_blocks, rel_pos_blocks=(), use_rope=True, use_interp_rope=True,
              window_size=cfg.window_size, pretrain_use_cls_token=True, retain_cls_token=False, ln_pre=True,
              ln_post=False, return_interm_layers=False, bias_patch_embed=False, compile_mode=None)
    neck = Sam3DualViTDetNeck(position_encoding=pos_enc(), d_model=d, scale_factors=[4.0, 2.0, 1.0, 0.5],
                              trunk=vit, add_sam2_neck=interactive)
    text = VETextEncoder(tokenizer=SimpleTokenizer(bpe_path=bpe_path), d_model=d, width=cfg.text_width,
                         heads=cfg.text_heads, layers=cfg.text_layers, context_length=cfg.context_length,
                         vocab_size=cfg.vocab_size)
    # The two tensors Meta's text transformer leaves as torch.empty:
    nn.init.normal_(text.encoder.positional_embedding, std=0.01)
    nn.init.normal_(text.encoder.text_projection, std=cfg.text_width**-0.5)
    backbone = SAM3VLBackbone(visual=neck, text=text, scalp=1)

    enc_layer = TransformerEncoderLayer(
        activation="relu", d_model=d, dim_feedforward=cfg.ffn_dim, dropout=0.1, pos_enc_at_attn=True,
        pos_enc_at_cross_attn_keys=False, pos_enc_at_cross_attn_queries=False, pre_norm=True,
        self_attention=MHA(num_heads=cfg.heads, dropout=0.1, embed_dim=d, batch_first=True),
        cross_attention=MHA(num_heads=cfg.heads, dropout=0.1, embed_dim=d, batch_first=True))
    encoder = TransformerEncoderFusion(layer=enc_layer, num_layers=cfg.encoder_layers, d_model=d,
                                       num_feature_levels=1, frozen=False, use_act_checkpoint=True,
                                       add_pooled_text_to_img_feat=False, pool_text_with_mask=True)
    dec_layer = TransformerDecoderLayer(activation="relu", d_model=d, dim_feedforward=cfg.ffn_dim, dropout=0.1,
                                        cross_attention=MHA(num_heads=cfg.heads, dropout=0.1, embed_dim=d),
                                        n_heads=cfg.heads, use_text_cross_attention=True)
    decoder = TransformerDecoder(layer=dec_layer, num_layers=cfg.decoder_layers, num_queries=cfg.num_queries,
                                 return_intermediate=True, box_refine=True, num_o2m_queries=0, dac=True,
                                 boxRPB="log", d_model=d, frozen=False, interaction_layer=None,
                                 dac_use_selfatt_ln=True, resolution=None, stride=None, use_act_checkpoint=True,
                                 presence_token=True)
    transformer = TransformerWrapper(encoder=encoder, decoder=decoder, d_model=d)
    scoring = DotProductScoring(d_model=d, d_proj=d, prompt_mlp=MLP(
        input_dim=d, hidden_dim=cfg.ffn_dim, output_dim=d, num_layers=2, dropout=0.1, residual=True,
        out_norm=nn.LayerNorm(d)))
    seg_head = UniversalSegmentationHead(
        hidden_dim=d, upsampling_stages=cfg.upsampling_stages, aux_masks=False, presence_head=False,
        dot_product_scorer=None, act_ckpt=True, cross_attend_prompt=MHA(num_heads=cfg.heads, dropout=0, embed_dim=d),
        pixel_decoder=PixelDecoder(num_upsampling_stages=cfg.upsampling_stages, interpolation_mode="nearest",
                                   hidden_dim=d, compile_mode=None))
    geo_layer = TransformerEncoderLayer(
        activation="relu", d_model=d, dim_feedforward=cfg.ffn_dim, dropout=0.1, pos_enc_at_attn=False,
        pre_norm=True, self_attention=MHA(num_heads=cfg.heads, dropout=0.1, embed_dim=d, batch_first=False),
        pos_enc_at_cross_attn_queries=False, pos_enc_at_cross_attn_keys=True,
        cross_attention=MHA(num_heads=cfg.heads, dropout=0.1, embed_dim=d, batch_first=False))
    geometry = SequenceGeometryEncoder(
        pos_enc=pos_enc(), encode_boxes_as_points=False, points_direct_project=True, points_pool=True,
        points_pos_enc=True, boxes_direct_project=True, boxes_pool=True, boxes_pos_enc=True, d_model=d,
        num_layers=cfg.geometry_layers, layer=geo_layer, use_act_ckpt=True, add_cls=True, add_post_encode_proj=True)
    model = Sam3Image(backbone=backbone, transformer=transformer, input_geometry_encoder=geometry,
                      segmentation_head=seg_head, num_feature_levels=1, o2m_mask_predict=True,
                      dot_prod_scoring=scoring, use_instance_query=False, multimask_output=True,
                      inst_interactive_predictor=meta_interactive_predictor(cfg) if interactive else None,
                      matcher=None)
    return model.eval()


class _MetaTrackerImageHead(torch.nn.Module):
    """The parts of Meta's Sam3TrackerBase that SAM3InteractiveImagePredictor uses, built with Meta's own
    classes and the arguments of `Sam3TrackerBase._build_sam_heads` / `build_tracker`. (The full tracker
    also builds its video memory, whose constructors allocate on CUDA; a single image never uses it.)"""

    def __init__(self, cfg) -> None:
        from sam3.model.sam3_tracker_base import Sam3TrackerBase
        from sam3.sam.mask_decoder import MaskDecoder
        from sam3.sam.prompt_encoder import PromptEncoder
        from sam3.sam.transformer import TwoWayTransformer

        super().__init__()
        d, side = cfg.d_model, cfg.image_size // cfg.patch_size
        self.image_size, self.num_feature_levels = cfg.image_size, 3
        self.sam_prompt_encoder = PromptEncoder(embed_dim=d, image_embedding_size=(side, side),
                                                input_image_size=(cfg.image_size, cfg.image_size), mask_in_chans=16)
        self.sam_mask_decoder = MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=d, mlp_dim=cfg.ffn_dim, num_heads=cfg.heads),
            transformer_dim=d, iou_head_depth=3, iou_head_hidden_dim=256, use_high_res_features=True,
            iou_prediction_use_sigmoid=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
            use_multimask_token_for_obj_ptr=True, dynamic_multimask_via_stability=True,
            dynamic_multimask_stability_delta=0.05, dynamic_multimask_stability_thresh=0.98)
        self.no_mem_embed = torch.nn.Parameter(torch.zeros(1, 1, d))
        self._prepare_backbone_features = types.MethodType(Sam3TrackerBase._prepare_backbone_features, self)

    device = property(lambda self: self.no_mem_embed.device)  # Sam3TrackerBase.device


def meta_interactive_predictor(cfg):
    """Meta's SAM3InteractiveImagePredictor over _MetaTrackerImageHead. Its __init__ builds SAM2Transforms,
    whose image transforms need torchvision (absent here) and are not used by predict_inst: both objects
    get exactly the attributes their __init__ sets, hole filling off (max_hole_area=0)."""
    from sam3.model.sam1_task_predictor import SAM3InteractiveImagePredictor
    from sam3.model.utils.sam1_utils import SAM2Transforms

    transforms = object.__new__(SAM2Transforms)
    torch.nn.Module.__init__(transforms)
    transforms.resolution, transforms.mask_threshold = cfg.image_size, 0.0
    transforms.max_hole_area = transforms.max_sprinkle_area = 0.0
    predictor = object.__new__(SAM3InteractiveImagePredictor)
    torch.nn.Module.__init__(predictor)
    predictor.model = _MetaTrackerImageHead(cfg)
    predictor._transforms = transforms
    predictor._is_image_set, predictor._features, predictor._orig_hw, predictor._is_batch = False, None, None, False
    predictor.mask_threshold = 0.0
    side = cfg.image_size // cfg.patch_size
    predictor._bb_feat_sizes = [(4 * side, 4 * side), (2 * side, 2 * side), (side, side)]
    return predictor


def meta_find_stage():
    """The FindStage Meta's Sam3Processor passes for one image and one phrase."""
    from sam3.model.data_misc import FindStage

    return FindStage(img_ids=torch.tensor([0]), text_ids=torch.tensor([0]), input_boxes=None,
                     input_boxes_mask=None, input_boxes_label=None, input_points=None, input_points_mask=None)


def build_meta_image_model_on_meta_device(cfg, bpe_path: str, interactive: bool = False):
    """Meta's model with no memory behind it (for counting parameters and listing keys).

    Meta's ViT reads its drop-path rates with `torch.linspace(...).item()`, which a meta tensor cannot
    answer: while building, linspace is made on the CPU (a 32-element list of rates, nothing else).
    """
    original = torch.linspace

    def cpu_linspace(*args, **kwargs):
        kwargs["device"] = "cpu"
        return original(*args, **kwargs)

    torch.linspace = cpu_linspace
    try:
        with torch.device("meta"):
            return build_meta_image_model(cfg, bpe_path, interactive=interactive)
    finally:
        torch.linspace = original
