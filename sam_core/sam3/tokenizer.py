"""CLIP's byte-level BPE tokenizer, as SAM 3 uses it, working offline from the vendored vocabulary.

A phrase is cleaned (HTML entities undone, whitespace collapsed, lower-cased), split into words,
digits and punctuation runs, each piece's UTF-8 bytes mapped to printable characters and merged by
the 48,894 BPE merges of `assets/bpe_simple_vocab_16e6.txt.gz` (in rank order). Ids: 256 bytes, the
same 256 with an end-of-word mark, one per merge, then <start_of_text> = 49406, <end_of_text> = 49407.

Meta's tokenizer also runs `ftfy.fix_text` (repairs mis-decoded text); here only its Unicode NFC step
is kept, which gives the same ids for ordinary phrases without the extra dependency.
"""

from __future__ import annotations

import gzip
import html
import unicodedata
from functools import lru_cache
from pathlib import Path

import torch

DEFAULT_BPE_PATH = Path(__file__).parent / "assets" / "bpe_simple_vocab_16e6.txt.gz"
SPECIAL_TOKENS = ("<start_of_text>", "<end_of_text>")
CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


@lru_cache
def bytes_to_unicode() -> dict[int, str]:
    """Byte -> printable character; printable Latin-1 bytes map to themselves, others above 255."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def clean_text(text: str) -> str:
    """NFC, HTML entities undone twice, whitespace collapsed, lower case (Meta's "lower" cleaner)."""
    text = html.unescape(html.unescape(unicodedata.normalize("NFC", text))).strip()
    return " ".join(text.split()).lower()


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def _is_number(ch: str) -> bool:
    return unicodedata.category(ch).startswith("N")


def split_pieces(text: str) -> list[str]:
    r"""The pieces of CLIP's pattern  specials | 's|'t|'re|'ve|'m|'ll|'d | \p{L}+ | \p{N} | [^\s\p{L}\p{N}]+ ,
    matched left to right with the same alternation order (whitespace between pieces is dropped)."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        special = next((s for s in SPECIAL_TOKENS + CONTRACTIONS if text.startswith(s, i)), None)
        if special is not None:
            pieces.append(special)
            i += len(special)
        elif _is_letter(ch):
            j = i + 1
            while j < n and _is_letter(text[j]):
                j += 1
            pieces.append(text[i:j])
            i = j
        elif _is_number(ch):
            pieces.append(ch)
            i += 1
        elif ch.isspace():
            i += 1
        else:
            j = i + 1
            while j < n and not (text[j].isspace() or _is_letter(text[j]) or _is_number(text[j])):
                j += 1
            pieces.append(text[i:j])
            i = j
    return pieces


class SimpleTokenizer:
    """Phrases -> [B, context_length] token ids (start, BPE ids, end, zeros), Meta's `SimpleTokenizer`.

    Arguments:
      bpe_path: the gzipped merges file (the vendored copy by default).
      context_length: default length of the returned rows (SAM 3 passes 32).
    """

    def __init__(self, bpe_path: str | Path = DEFAULT_BPE_PATH, context_length: int = 77) -> None:
        self.byte_encoder = bytes_to_unicode()
        with gzip.open(bpe_path, "rt", encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        merges = [tuple(line.split()) for line in lines[1: 49152 - 256 - 2 + 1]]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + list(SPECIAL_TOKENS)
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.decoder = {i: token for token, i in self.encoder.items()}
        self.bpe_ranks = {merge: rank for rank, merge in enumerate(merges)}
        self.cache: dict[str, str] = {t: t for t in SPECIAL_TOKENS}
        self.sot_token_id, self.eot_token_id = (self.encoder[t] for t in SPECIAL_TOKENS)
        self.vocab_size = len(self.encoder)
        self.context_length = context_length

    def bpe(self, token: str) -> str:
        """Merge one piece's characters by rank until no known pair is left -> space-joined subwords."""
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = set(zip(word, word[1:], strict=False))
            best = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if best not in self.bpe_ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        result = " ".join(word)
        self.cache[token] = result
        return result

    def encode(self, text: str) -> list[int]:
        """One phrase -> its BPE ids (no start / end tokens)."""
        ids: list[int] = []
        for piece in split_pieces(clean_text(text)):
            mapped = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[sub] for sub in self.bpe(mapped).split(" "))
        return ids

    def decode(self, ids: list[int]) -> str:
        byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        text = "".join(self.decoder[i] for i in ids)
        return bytearray(byte_decoder[c] for c in text).decode("utf-8", errors="replace").replace("</w>", " ")

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor:
        """Phrases -> LongTensor [B, context_length]; too-long rows are cut and end with <end_of_text>."""
        texts = [texts] if isinstance(texts, str) else texts
        length = context_length or self.context_length
        result = torch.zeros(len(texts), length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot_token_id] + self.encode(text) + [self.eot_token_id]
            if len(ids) > length:
                ids = ids[:length]
                ids[-1] = self.eot_token_id
            result[row, : len(ids)] = torch.tensor(ids)
        return result
