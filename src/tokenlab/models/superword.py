"""BoundlessBPE tokenizer: ordinary merges inside pretokens, supermerges between whole pretokens.

Encoding: split text into chunks (runs of words joined by single spaces, see
`tokenlab.train.superbpe.superword_pattern`), split each chunk into pretokens, BPE-encode
each pretoken with the ordinary merges, then apply the supermerges (by rank) to every run of
pretokens that became a single token. A pretoken left in several pieces never joins a
superword: that is BoundlessBPE's rule, and why HF tokenizer.json (whose BPE model cannot
see pretoken completeness) cannot express it; it is saved as ``"format": "tokenlab-superword"``.
"""

from __future__ import annotations

from functools import cached_property

from ..encode.bpe import PieceCache, bpe_merge
from ..errors import FormatError
from ..pretokenize import PreTokenizer, get_pretokenizer
from .base import WrappedBPE, utf8

FORMAT = "tokenlab-superword"


class SuperwordTokenizer(WrappedBPE):
    format_name = FORMAT

    def __init__(self, vocab: dict[bytes, int], merges: list[tuple[bytes, bytes]],
                 supermerges: list[tuple[bytes, bytes]], pretokenizer: PreTokenizer | str | None,
                 chunker: PreTokenizer, special_tokens: dict[str, int] | None = None, name: str = ""):
        from ..tokenizer import Tokenizer

        self.special_tokens = dict(special_tokens or {})
        self.name = name
        self.chunker = get_pretokenizer(chunker)
        self.supermerges = list(supermerges)
        # the ordinary part is a plain byte-level BPE over the fine pretokens
        self.base = Tokenizer(vocab=vocab, merges=merges, pretokenizer=pretokenizer, special_tokens=self.special_tokens,
                              name=name)
        for a, b in self.supermerges:
            if a not in vocab or b not in vocab or a + b not in vocab:
                raise FormatError(f"supermerge {a!r} + {b!r} refers to a token missing from vocab")
        self._chunk_cache = PieceCache()

    @cached_property
    def super_table(self) -> dict[tuple[int, int], tuple[int, int]]:
        v = self.vocab
        table: dict[tuple[int, int], tuple[int, int]] = {}
        for r, (a, b) in enumerate(self.supermerges):
            table.setdefault((v[a], v[b]), (r, v[a + b]))
        return table

    def _id_to_bytes_table(self):
        return self.base.id_to_bytes

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        key = utf8(chunk)
        hit = self._chunk_cache.get(key)
        if hit is not None:
            return hit
        out: list[int] = []
        run: list[int] = []
        table = self.super_table
        for piece in self.base.pretokenizer.split(chunk):
            ids = self.base._encode_piece(utf8(piece))
            if len(ids) == 1:
                run.append(ids[0])
                continue
            if run:
                out.extend(bpe_merge(run, table) if len(run) > 1 else run)
                run = []
            out.extend(ids)
        if run:
            out.extend(bpe_merge(run, table) if len(run) > 1 else run)
        result = tuple(out)
        self._chunk_cache.put(key, result)
        return result

    def encode_ordinary(self, text: str) -> list[int]:
        out: list[int] = []
        for chunk in self.chunker.split(text):
            out.extend(self._encode_chunk(chunk))
        return out

    def to_pipeline(self):
        """Components: the chunker as pre-tokenizer, BPE + supermerges per chunk as the model."""
        return self._research_pipeline(lambda chunk: self._encode_chunk(chunk.decode("utf-8")), self.chunker)

    def superword_ids(self) -> set[int]:
        v = self.vocab
        return {v[a + b] for a, b in self.supermerges}

    def __repr__(self) -> str:
        return (f"SuperwordTokenizer(name={self.name!r}, vocab={len(self.vocab)}, merges={len(self.merges)}, "
                f"supermerges={len(self.supermerges)}, specials={len(self.special_tokens)})")

    def to_dict(self) -> dict:
        v = self.vocab
        return {**self._bpe_dict(), "chunker": self.chunker.to_dict(),
                "supermerges": [[v[a], v[b]] for a, b in self.supermerges]}

    @classmethod
    def from_dict(cls, d: dict) -> SuperwordTokenizer:
        fields, by_id = cls._bpe_fields(d)
        return cls(supermerges=[(by_id[a], by_id[b]) for a, b in d["supermerges"]],
                   chunker=PreTokenizer.from_dict(d["chunker"]), **fields)


def load_superword(path) -> SuperwordTokenizer:
    return SuperwordTokenizer.load(path)
