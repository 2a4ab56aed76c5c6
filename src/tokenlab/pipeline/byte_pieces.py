"""tokenlab's research models (superword, scaffold, ...) behind the pipeline's `Model` interface.

HF has no model for "BPE, then join whole pretokens" or "BPE, then split scaffold tokens", so these models have
no tokenizer.json form; as components they are still a model among the others: pieces arrive in ByteLevel
characters (one per byte), the owner's own encoder turns a piece's bytes into ids, tokens are the ids' byte-level
strings and offsets run over the piece's characters, so the pipeline's offsets, templates and batching hold.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import FormatError
from .byte_map import bytes_to_unicode, unicode_to_bytes
from .models import Model, Token


class BytePieces(Model):
    """``encode(piece bytes) -> ids``; ``vocab``: token bytes -> id (ordinary tokens)."""

    def __init__(self, type_name: str, encode: Callable[[bytes], tuple[int, ...] | list[int]],
                 vocab: dict[bytes, int]):
        self.type_name = type_name
        self._encode = encode
        chars = bytes_to_unicode()
        self.vocab = {"".join(chars[x] for x in b): i for b, i in vocab.items()}
        self._to_bytes = unicode_to_bytes()

    def tokenize(self, text: str) -> list[Token]:
        to_bytes, id_to_token = self._to_bytes, self._id_to_token
        out: list[Token] = []
        pos = 0
        for i in self._encode(bytes(to_bytes[c] for c in text)):
            token = id_to_token[i]
            out.append((i, token, pos, pos + len(token)))
            pos += len(token)
        return out

    def to_dict(self) -> dict:
        raise FormatError(f"the {self.type_name} model has no tokenizer.json form (HF has no such model); "
                          "save it in its own format")
