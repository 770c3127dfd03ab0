"""SAM 2 tracing: the explicit attention equals the fused one; a traced frame records its memory bank."""

from __future__ import annotations

import numpy as np
import torch

from sam_core.sam2.build import build_sam2_video_predictor
from sam_core.sam2.transformer import RoPEAttention
from sam_core.tracing import trace


def test_rope_attention_explicit_equals_fused():
    torch.manual_seed(0)
    attn = RoPEAttention(256, 1, kv_in_dim=64, rope_k_repeat=True, feat_sizes=(8, 8)).eval()
    q, k = torch.randn(2, 64, 256), torch.randn(2, 2 * 64 + 8, 64)
    fused = attn(q, k, k, num_k_exclude_rope=8)
    explicit = attn(q, k, k, num_k_exclude_rope=8, explicit=True)
    assert (fused - explicit).abs().max().item() < 1e-5


def _clicked_clip(seed: int):
    """A tiny random SAM 2 on 3 random frames, one click on frame 0: (predictor, state)."""
    torch.manual_seed(0)
    predictor = build_sam2_video_predictor("hiera_tiny", image_size=128)
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8) for _ in range(3)]
    state = predictor.init_state(frames)
    predictor.add_new_points_or_box(state, 0, 1, points=[[30, 30]], labels=[1])
    return predictor, state


def test_traced_frame_records_memory_attention_and_sources():
    predictor, state = _clicked_clip(0)
    untraced = [m.clone() for _, _, m in predictor.propagate_in_video(state)]
    predictor.reset_state(state)
    predictor.add_new_points_or_box(state, 0, 1, points=[[30, 30]], labels=[1])
    generator = predictor.propagate_in_video(state)
    next(generator), next(generator)  # frame 0 (prompted), frame 1 (tracked from frame 0)
    with trace() as t:
        frame_idx, _, masks = next(generator)
    assert frame_idx == 2
    assert (masks - untraced[2]).abs().max().item() < 1e-3
    weights = t.records["memory_attention.layer0.cross_attn"]  # B x heads x queries x keys
    sources = t.records["memory_bank.key_source_frame"]
    assert weights.shape[-2] == 64 and weights.shape[-1] == sources.shape[0]  # 8 x 8 queries at 128 px
    assert torch.allclose(weights.sum(-1), torch.ones(()), atol=1e-5)
    assert set(t.records["memory_bank.frames"].tolist()) == {0, 1}  # prompted frame 0 + recent frame 1
    assert t.records["memory_bank.frame_is_prompted"].tolist() == [True, False]
    assert t.records["memory_bank.key_is_pointer"].sum().item() == 2 * 4  # 2 pointers x 4 tokens
    assert {"sam2.image_encoder", "sam2.memory_attention", "sam2.mask_decoder", "sam2.memory_encoder"} <= set(
        t.timings_ms
    )


def test_a_trace_limited_to_some_names_keeps_the_other_attentions_fused(monkeypatch):
    """trace(only=...) records only those names, and only their attentions take the explicit path."""
    predictor, state = _clicked_clip(1)
    generator = predictor.propagate_in_video(state)
    next(generator), next(generator)
    explicit_calls = []
    original = torch.softmax

    def counting_softmax(*args, **kwargs):
        explicit_calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "softmax", counting_softmax)
    last = len(predictor.memory_attention.layers) - 1
    with trace(only=("memory_bank.", f"memory_attention.layer{last}.cross_attn")) as t:
        next(generator)
    recorded = set(t.records)
    assert f"memory_attention.layer{last}.cross_attn" in recorded and "memory_bank.frames" in recorded
    assert not any(n.endswith("self_attn") or n.startswith("sam2_decoder") for n in recorded)
    assert len(explicit_calls) == 1  # one attention computed step by step, the rest fused
    assert "sam2.memory_attention" in t.timings_ms  # timings are always kept


def test_traced_queries_and_keys_give_the_explicit_weights_rows_with_the_fused_kernel(monkeypatch):
    """A trace of `<name>.` records the rotated q and k without the explicit path; attention_rows rebuilds any
    rows of the weights exactly (the memory page's cheap trace)."""
    from sam_core.sam2.transformer import attention_rows

    predictor, state = _clicked_clip(2)
    generator = predictor.propagate_in_video(state)
    next(generator), next(generator)
    softmax_calls = []
    original = torch.softmax
    monkeypatch.setattr(torch, "softmax", lambda *a, **k: softmax_calls.append(1) or original(*a, **k))
    with trace(only=("memory_attention.layer0.cross_attn.",)) as cheap:
        next(generator)
    assert softmax_calls == []  # fused everywhere
    monkeypatch.setattr(torch, "softmax", original)
    predictor, state = _clicked_clip(2)
    generator = predictor.propagate_in_video(state)
    next(generator), next(generator)
    with trace(only=("memory_attention.layer0.cross_attn",)) as full:
        next(generator)
    weights = full.records["memory_attention.layer0.cross_attn"]
    rows = torch.zeros(weights.shape[-2], dtype=torch.bool)
    rows[[3, 10, 40]] = True
    rebuilt = attention_rows(cheap.records["memory_attention.layer0.cross_attn.queries"],
                             cheap.records["memory_attention.layer0.cross_attn.keys"], rows)
    assert rebuilt.shape == weights[:, :, rows].shape
    assert (rebuilt - weights[:, :, rows]).abs().max().item() < 1e-5
