"""SAM's two-way transformer: prompt tokens and image tokens attend to each other.

Each of the `depth` (= 2) layers runs, in order (see TwoWayAttentionBlock.forward):
  1. self-attention among the tokens            Q, K, V = tokens
  2. token -> image cross-attention             Q = tokens, K, V = image   (half width)
  3. an MLP on the tokens (ReLU)
  4. image -> token cross-attention             Q = image, K, V = tokens   (half width)
and after the last layer one more token -> image attention (final_attn_token_to_image).
Positional encodings are re-added to queries and keys at every attention (not to values).
"""

from __future__ import annotations

import torch
from torch import nn

from sam_core.nn.attention import SoftmaxAttention
from sam_core.nn.blocks import MLPBlock


class Attention(SoftmaxAttention):
    """Multi-head attention that may project to a smaller internal width (downsample_rate).

    SAM's cross-attentions use downsample_rate=2: a 256-wide model attends at 128 wide.

    Arguments:
      embedding_dim: width of the inputs and the output (C).
      num_heads: heads; the internal width must divide by it.
      downsample_rate: internal width = embedding_dim // downsample_rate.

    The explicit softmax is the default (use_fused=False): it gives Meta's numbers bit for bit (the fused
    kernel sums in another order, and the decoder amplifies that rounding), and at a handful of tokens it
    is not slower. Training switches the fused kernel on for memory (`sam_core.nn.attention`).
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__(use_fused=False)
        self.embedding_dim = embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        assert self.internal_dim % num_heads == 0, "num_heads must divide embedding_dim // downsample_rate."
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _separate_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)  # B x heads x N x C_head

    def _recombine_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, h, n, c = x.shape
        return x.transpose(1, 2).reshape(b, n, h * c)  # B x N x C_internal

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q: [B, Nq, C], k and v: [B, Nk, C] -> [B, Nq, C].

        softmax(Q K^T / sqrt(d)) V per head (`SoftmaxAttention.attend`); while tracing, the weights are
        recorded under `trace_name`.
        """
        q = self._separate_heads(self.q_proj(q))
        k = self._separate_heads(self.k_proj(k))
        v = self._separate_heads(self.v_proj(v))
        return self.out_proj(self._recombine_heads(self.attend(q, k, v)))


class TwoWayAttentionBlock(nn.Module):
    """One decoder layer: token self-attn, token->image attn, token MLP, image->token attn.

    Arguments:
      embedding_dim: token width C; num_heads: heads of every attention.
      mlp_dim: hidden width of the token MLP; activation: its activation (ReLU in SAM).
      attention_downsample_rate: internal width divisor of the two cross-attentions.
      skip_first_layer_pe: layer 0 feeds the tokens to self-attention without adding their positional
        encoding and without a residual connection (the tokens *are* the prompt encodings there).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLPBlock(embedding_dim, mlp_dim, activation)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor, key_pe: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries: tokens [B, T, C]; keys: image tokens [B, HW, C]; *_pe: their positional encodings."""
        # 1. self-attention among tokens
        if self.skip_first_layer_pe:
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q=q, k=q, v=queries)
        queries = self.norm1(queries)

        # 2. tokens read the image
        q = queries + query_pe
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q=q, k=k, v=keys))

        # 3. token MLP
        queries = self.norm3(queries + self.mlp(queries))

        # 4. the image reads the tokens
        q = queries + query_pe
        k = keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(q=k, k=q, v=queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """`depth` TwoWayAttentionBlocks followed by a final token->image attention.

    Arguments:
      depth: number of layers (2 in SAM); embedding_dim: C; num_heads: heads; mlp_dim: token MLP width;
      activation: token MLP activation; attention_downsample_rate: cross-attention width divisor.
    """

    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                activation=activation,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.norm_final_attn = nn.LayerNorm(embedding_dim)
        for i, layer in enumerate(self.layers):
            layer.self_attn.trace_name = f"decoder.layer{i}.self_attn"
            layer.cross_attn_token_to_image.trace_name = f"decoder.layer{i}.token_to_image"
            layer.cross_attn_image_to_token.trace_name = f"decoder.layer{i}.image_to_token"
        self.final_attn_token_to_image.trace_name = "decoder.final_token_to_image"

    def forward(
        self, image_embedding: torch.Tensor, image_pe: torch.Tensor, point_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """image_embedding, image_pe: [B, C, H, W]; point_embedding (all tokens): [B, T, C].

        Returns (tokens [B, T, C], image tokens [B, HW, C]).
        """
        # Contiguous B x HW x C copies: every layer adds image_pe to keys that its LayerNorm made
        # contiguous, and adding a transposed view to a contiguous tensor is ~10x slower on a CPU.
        image_tokens = image_embedding.flatten(2).transpose(1, 2).contiguous()  # BxCxHxW -> BxHWxC
        image_pe = image_pe.flatten(2).transpose(1, 2).contiguous()  # BxCxHxW -> BxHWxC

        queries, keys = point_embedding, image_tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, query_pe=point_embedding, key_pe=image_pe)

        q = queries + point_embedding
        k = keys + image_pe
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(q=q, k=k, v=keys))
        return queries, keys
