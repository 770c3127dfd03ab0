"""SAM 2.1: Hiera image encoder, SAM-style heads, memory attention and memory encoder (Meta's names)."""
