"""SAM 3's text encoder: a CLIP-style causal transformer over at most 32 BPE tokens, resized to d_model.

Tokens (start, the phrase's BPE ids, end, zero padding) are embedded (49408 x 1024), get a learned
position embedding, and pass 24 pre-norm blocks whose attention is causal (token i sees tokens <= i),
then a final LayerNorm. Every token's output (not only the pooled one) is kept and projected
1024 -> 256 by `resizer`; the padding mask marks the zero (padding) ids.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from sam_core import tracing
from sam_core.sam3.tokenizer import SimpleTokenizer


class ResidualAttentionBlock(nn.Module):
    """x + attn(ln_1(x)), then + mlp(ln_2(x)); the MLP is c_fc -> GELU -> c_proj (4x wide)."""

    def __init__(self, d_model: int, n_head: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head, batch_first=True)
        self.ln_1 = nn.LayerNorm(d_model)
        self.ln_2 = nn.LayerNorm(d_model)
        width = int(d_model * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, width)), ("gelu", nn.GELU()), ("c_proj", nn.Linear(width, d_model))]))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:  # [B, L, C] -> [B, L, C]
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class TextTransformer(nn.Module):
    """Token ids [B, L] -> per-token features [B, L, width] (the causal CLIP text tower).

    `text_projection` (width x 512) is CLIP's pooled-output projection: it is in the checkpoint but
    SAM 3 uses every token, never the pooled vector, so forward does not compute it.
    """

    def __init__(self, context_length: int, vocab_size: int, width: int, heads: int, layers: int,
                 output_dim: int = 512) -> None:
        super().__init__()
        self.context_length = context_length
        self.width = width
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        nn.init.normal_(self.positional_embedding, std=0.01)
        self.transformer = Transformer(width, layers, heads)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, output_dim))
        nn.init.normal_(self.text_projection, std=width**-0.5)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        seq_len = text.shape[1]
        causal = torch.full((seq_len, seq_len), float("-inf"), device=text.device).triu_(1)
        x = self.token_embedding(text) + self.positional_embedding[:seq_len]  # B x L x width
        x = self.transformer(x, attn_mask=causal)
        return self.ln_final(x)


class VETextEncoder(nn.Module):
    """Phrases -> (padding mask [B, L], features [L, B, d_model], token embeddings [L, B, width]).

    Arguments:
      d_model: the detector width (256); width, heads, layers: the text tower (1024, 16, 24).
      context_length: 32 tokens (longer phrases are cut and end with the end token).
    """

    def __init__(self, d_model: int, tokenizer: SimpleTokenizer, width: int = 1024, heads: int = 16,
                 layers: int = 24, context_length: int = 32, vocab_size: int = 49408) -> None:
        super().__init__()
        self.context_length = context_length
        self.tokenizer = tokenizer
        self.encoder = TextTransformer(context_length, vocab_size, width, heads, layers)
        self.resizer = nn.Linear(width, d_model)

    def forward(self, text: list[str], device: torch.device | str | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        device = device if device is not None else self.resizer.weight.device
        tokens = self.tokenizer(text, context_length=self.context_length).to(device)  # B x L
        padding_mask = tokens == 0
        embeds = self.encoder.token_embedding(tokens)  # B x L x width
        memory = self.encoder(tokens)  # B x L x width
        resized = self.resizer(memory.transpose(0, 1))  # L x B x d_model
        tracing.record("sam3.text.token_ids", tokens)
        tracing.record("sam3.text.features", resized)
        return padding_mask, resized, embeds.transpose(0, 1)
