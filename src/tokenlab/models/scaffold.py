"""Scaffold-BPE tokenizer: BPE whose scaffold tokens are split back into their parts.

HF tokenizer.json cannot say "merge through this token but never output it", so this model
is saved as ``"format": "tokenlab-scaffold"`` (vocab, merges and the scaffold set).
"""

from __future__ import annotations

from functools import cached_property

from ..encode.bpe import PieceCache
from ..errors import FormatError
from ..pretokenize import PreTokenizer
from .base import WrappedBPE, utf8

FORMAT = "tokenlab-scaffold"


class ScaffoldTokenizer(WrappedBPE):
    format_name = FORMAT

    def __init__(self, vocab: dict[bytes, int], merges: list[tuple[bytes, bytes]], scaffold: set[bytes],
                 pretokenizer: PreTokenizer | str | None = "gpt2", special_tokens: dict[str, int] | None = None,
                 name: str = ""):
        from ..tokenizer import Tokenizer

        self.special_tokens = dict(special_tokens or {})
        self.name = name
        self.base = Tokenizer(vocab=vocab, merges=merges, pretokenizer=pretokenizer,
                              special_tokens=self.special_tokens, name=name)
        self.scaffold = set(scaffold)
        missing = [t for t in self.scaffold if t not in vocab]
        if missing:
            raise FormatError(f"scaffold token {missing[0]!r} is not in vocab")
        if any(len(t) == 1 for t in self.scaffold):
            raise FormatError("a single byte cannot be a scaffold token")
        self._cache = PieceCache()

    @cached_property
    def scaffold_ids(self) -> set[int]:
        return {self.vocab[t] for t in self.scaffold}

    @property
    def n_active(self) -> int:
        """Ordinary tokens that can appear in output."""
        return len(self.vocab) - len(self.scaffold)

    @cached_property
    def parts(self) -> dict[int, tuple[int, int]]:
        """Scaffold id -> the ids of the first merge that builds it."""
        v = self.vocab
        out: dict[int, tuple[int, int]] = {}
        for a, b in self.merges:
            new = v[a + b]
            if new in self.scaffold_ids and new not in out:
                out[new] = (v[a], v[b])
        return out

    def _id_to_bytes_table(self):
        return self.base.id_to_bytes

    def _split_scaffold(self, ids) -> tuple[int, ...]:
        parts, scaffold = self.parts, self.scaffold_ids
        out: list[int] = []
        stack = list(reversed(ids))
        while stack:
            i = stack.pop()
            if i in scaffold:
                a, b = parts[i]
                stack.append(b)
                stack.append(a)
            else:
                out.append(i)
        return tuple(out)

    def encode_ordinary(self, text: str) -> list[int]:
        out: list[int] = []
        cache = self._cache
        for piece in self.base.pretokenizer.split(text):
            key = utf8(piece)
            hit = cache.get(key)
            if hit is None:
                hit = self._split_scaffold(self.base._encode_piece(key))
                cache.put(key, hit)
            out.extend(hit)
        return out

    def to_pipeline(self):
        """Components: the base BPE's, with scaffold-splitting BPE per pretoken as the model."""
        return self._research_pipeline(lambda piece: self._split_scaffold(self.base._encode_piece(piece)))

    def __repr__(self) -> str:
        return (f"ScaffoldTokenizer(name={self.name!r}, active={self.n_active}, scaffold={len(self.scaffold)}, "
                f"merges={len(self.merges)}, specials={len(self.special_tokens)})")

    def to_dict(self) -> dict:
        return {**self._bpe_dict(), "scaffold": sorted(self.vocab[t] for t in self.scaffold)}

    @classmethod
    def from_dict(cls, d: dict) -> ScaffoldTokenizer:
        fields, by_id = cls._bpe_fields(d)
        return cls(scaffold={by_id[i] for i in d["scaffold"]}, **fields)


def load_scaffold(path) -> ScaffoldTokenizer:
    return ScaffoldTokenizer.load(path)
