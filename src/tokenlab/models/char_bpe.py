"""Character-level BPE (KL3M char tokenizers): symbols are Unicode characters, tokens are short.

Ids 0..255 are byte-fallback tokens: a character outside the learned alphabet is encoded as
its UTF-8 bytes, so decoding is exact for any text. Then come the characters, the merges
(at most ``max_token_chars`` characters each), and the special tokens.
Saved as ``"format": "tokenlab-charbpe"``; `CharBPETokenizer.to_hf_json_str` exports an
equivalent HF tokenizer.json (BPE with ``byte_fallback``, ``<0xNN>`` tokens at ids 0..255).
"""

from __future__ import annotations

from functools import cached_property

from ..encode.bpe import PieceCache, bpe_merge
from ..errors import FormatError
from ..pretokenize import PreTokenizer, get_pretokenizer
from .base import ModelBase, utf8

FORMAT = "tokenlab-charbpe"


class CharBPETokenizer(ModelBase):
    format_name = FORMAT

    def __init__(self, tokens: dict[str, int], merges: list[tuple[str, str]], max_token_chars: int,
                 pretokenizer: PreTokenizer | str | None = "gpt2", special_tokens: dict[str, int] | None = None,
                 name: str = ""):
        self.tokens = dict(tokens)  # character strings (not the byte fallbacks) -> id
        self.merges = list(merges)
        self.max_token_chars = int(max_token_chars)
        self.pretokenizer = get_pretokenizer(pretokenizer)
        self.special_tokens = dict(special_tokens or {})
        self.name = name
        ids = list(self.tokens.values()) + list(self.special_tokens.values())
        if len(set(ids)) != len(ids) or any(i < 256 for i in ids):
            raise FormatError("character tokens and specials need distinct ids >= 256 (0..255 are byte fallbacks)")
        for a, b in self.merges:
            if a not in self.tokens or b not in self.tokens or a + b not in self.tokens:
                raise FormatError(f"merge {a!r} + {b!r} refers to a token missing from the vocabulary")
        self._cache = PieceCache()

    @property
    def vocab(self) -> dict[bytes, int]:
        """Token bytes -> id, byte fallbacks included (the view other tools expect)."""
        out = {bytes([b]): b for b in range(256)}
        out.update({t.encode("utf-8"): i for t, i in self.tokens.items()})
        return out

    @property
    def n_active(self) -> int:
        """Ordinary tokens that can appear in output: byte fallbacks + character tokens."""
        return 256 + len(self.tokens)

    @cached_property
    def pair_table(self) -> dict[tuple[int, int], tuple[int, int]]:
        t = self.tokens
        table: dict[tuple[int, int], tuple[int, int]] = {}
        for r, (a, b) in enumerate(self.merges):
            table.setdefault((t[a], t[b]), (r, t[a + b]))
        return table

    def _id_to_bytes_table(self):
        size = max([255, *self.tokens.values()]) + 1
        table: list[bytes | None] = [None] * size
        for b in range(256):
            table[b] = bytes([b])
        for tok, i in self.tokens.items():
            table[i] = tok.encode("utf-8")
        return table

    def _encode_piece(self, piece: str) -> tuple[int, ...]:
        out: list[int] = []
        run: list[int] = []
        table, tokens = self.pair_table, self.tokens
        for ch in piece:
            i = tokens.get(ch)
            if i is not None:
                run.append(i)
                continue
            if run:
                out.extend(bpe_merge(run, table))
                run = []
            out.extend(utf8(ch))  # byte fallback: ids 0..255 are the bytes
        if run:
            out.extend(bpe_merge(run, table))
        return tuple(out)

    def encode_ordinary(self, text: str) -> list[int]:
        out: list[int] = []
        cache = self._cache
        for piece in self.pretokenizer.split(text):
            hit = cache.get(piece)
            if hit is None:
                hit = self._encode_piece(piece)
                cache.put(piece, hit)
            out.extend(hit)
        return out

    def __repr__(self) -> str:
        return (f"CharBPETokenizer(name={self.name!r}, vocab={256 + len(self.tokens)}, merges={len(self.merges)}, "
                f"max_token_chars={self.max_token_chars}, specials={len(self.special_tokens)})")

    def to_hf_dict(self) -> dict:
        """HF tokenizers: Split regex pre-tokenizer (no ByteLevel), BPE with byte fallback (`tokenlab.io.hf_json`)."""
        from ..io.hf_json import char_bpe_to_hf_dict

        return char_bpe_to_hf_dict(self)

    def to_hf_json_str(self) -> str:
        import json

        return json.dumps(self.to_hf_dict(), ensure_ascii=False)

    def save_hf(self, path) -> None:
        """tokenizer.json; `save_tokenizer(tok, path, "hf")` and `tokenlab convert --format hf` call this."""
        from ..io.hf_json import write_hf_dict

        write_hf_dict(self.to_hf_dict(), path)

    write_hf_json = save_hf

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": 1,
            "name": self.name,
            "pretokenizer": self.pretokenizer.to_dict(),
            "max_token_chars": self.max_token_chars,
            "tokens": sorted(([t, i] for t, i in self.tokens.items()), key=lambda x: x[1]),
            "merges": [[self.tokens[a], self.tokens[b]] for a, b in self.merges],
            "special_tokens": self.special_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CharBPETokenizer:
        tokens = {str(t): int(i) for t, i in d["tokens"]}
        by_id = {i: t for t, i in tokens.items()}
        return cls(
            tokens=tokens,
            merges=[(by_id[a], by_id[b]) for a, b in d["merges"]],
            max_token_chars=int(d["max_token_chars"]),
            pretokenizer=PreTokenizer.from_dict(d["pretokenizer"]),
            special_tokens={str(k): int(v) for k, v in d.get("special_tokens", {}).items()},
            name=str(d.get("name", "")),
        )


def load_char_bpe(path) -> CharBPETokenizer:
    return CharBPETokenizer.load(path)
