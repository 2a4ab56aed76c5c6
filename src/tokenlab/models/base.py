"""Shared behaviour of model classes that are not plain byte-level BPE (`tokenlab.Tokenizer`).

They keep `Tokenizer`'s contract (special tokens are errors unless allowed, ``decode``
errors, ``as_array``) but save to their own JSON format, registered in
`tokenlab.io.JSON_FORMATS`, so `load_tokenizer` finds them by path and
`save_tokenizer(..., format="hf")` refuses them instead of writing something lossy.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Literal

import numpy as np

from ..errors import FormatError, InvalidInputError
from ..specials import split_special, utf8  # noqa: F401 - utf8 is re-exported for the model modules


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise FormatError(f"corrupt base64 token {text!r}") from None


class ModelBase:
    """Subclasses set ``format_name``, ``special_tokens`` and implement ``encode_ordinary``,
    ``_id_to_bytes_table``, ``to_dict`` and ``from_dict``."""

    format_name = ""
    special_tokens: dict[str, int]
    name: str = ""
    # byte-level BPE switches, answered for tools that summarise any tokenizer (`tokenlab info`)
    ignore_merges = False
    any_split = False

    # ------------------------------------------------------------------ encode
    def encode_ordinary(self, text: str) -> list[int]:
        raise NotImplementedError

    def encode(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Iterable[str] = (),
        disallowed_special: Literal["all"] | Iterable[str] = "all",
        as_array: bool = False,
    ) -> list[int] | np.ndarray:
        """Encode text; special strings are errors unless allowed (as in `Tokenizer.encode`)."""
        ids: list[int] = []
        for k, part in enumerate(split_special(self.special_tokens, text, allowed_special, disallowed_special)):
            if isinstance(part, int):
                ids.append(part)
            else:
                ids.extend(self._encode_segment(part, first=k == 0))
        return np.asarray(ids, dtype=np.uint32) if as_array else ids

    def _encode_segment(self, text: str, first: bool) -> list[int]:
        """Ids of the text between special tokens; ``first``: it starts the input (Metaspace's "first")."""
        return self.encode_ordinary(text)

    def encode_full(self, text: str, pair: str | None = None, add_special_tokens: bool = True):
        """HF-style `Encoding` (ids, tokens, character offsets, masks) via this model's tokenizer.json form."""
        from ..offsets import offsets_pipeline

        return offsets_pipeline(self).encode_full(text, pair, add_special_tokens)

    def __call__(self, texts, text_pair=None, **kwargs):
        """``transformers``-style batch call: padding, truncation, masks, templates (`tokenlab.batch.batch_encode`)."""
        from ..batch import batch_encode

        return batch_encode(self, texts, text_pair, **kwargs)

    def encode_batch(self, texts: Sequence[str], **kwargs) -> list[list[int]]:
        return [self.encode(t, **kwargs) for t in texts]

    # ------------------------------------------------------------------ decode
    def _id_to_bytes_table(self) -> list[bytes | None]:
        raise NotImplementedError

    @cached_property
    def id_to_bytes(self) -> list[bytes | None]:
        table = list(self._id_to_bytes_table())
        for s, i in self.special_tokens.items():
            if i >= len(table):
                table.extend([None] * (i + 1 - len(table)))
            table[i] = s.encode("utf-8")
        return table

    @property
    def n_vocab(self) -> int:
        return len(self.id_to_bytes)

    @property
    def special_ids(self) -> set[int]:
        return set(self.special_tokens.values())

    def token_bytes(self, token_id: int) -> bytes:
        table = self.id_to_bytes
        b = table[token_id] if isinstance(token_id, int) and 0 <= token_id < len(table) else None
        if b is None:
            raise InvalidInputError(f"unknown token id {token_id!r}")
        return b

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        table = self.id_to_bytes
        return b"".join(table[i] for i in self._checked_ids(ids))

    def _checked_ids(self, ids: Iterable[int]) -> list[int]:
        """``ids`` as a list of known token ids, or ``InvalidInputError`` naming the unknown ones."""
        table = self.id_to_bytes
        ids = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        bad = [i for i in ids if not isinstance(i, int) or not 0 <= i < len(table) or table[i] is None]
        if bad:
            raise InvalidInputError(f"unknown token id(s): {bad[:5]}")
        return ids

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        data = self.decode_bytes(ids)
        try:
            return data.decode("utf-8", errors=errors)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"ids decode to invalid UTF-8 ({exc.reason} at byte {exc.start})") from None

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict):
        raise NotImplementedError

    def save(self, path) -> None:
        from ..io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path):
        from ..io.validate import load_json, with_file

        d = load_json(path)
        if not isinstance(d, dict) or d.get("format") != cls.format_name:
            raise FormatError(f"{path}: not a {cls.format_name} file")
        try:
            return cls.from_dict(d)
        except FormatError as exc:
            raise with_file(exc, path) from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError,
                RecursionError) as exc:
            raise FormatError(f"{path}: corrupt {cls.format_name} file ({exc!r})") from None

    def __len__(self) -> int:
        return self.n_vocab


class WrappedBPE(ModelBase):
    """A model built around an ordinary byte-level BPE ``self.base`` (a `tokenlab.Tokenizer`),
    exposing its tables so tools that read ``vocab``/``merges`` work unchanged."""

    base = None  # set by subclasses

    @property
    def vocab(self) -> dict[bytes, int]:
        return self.base.vocab

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        return self.base.merges

    @property
    def pretokenizer(self):
        return self.base.pretokenizer

    def _bpe_dict(self) -> dict:
        """The JSON fields every wrapped-BPE format shares; subclasses add their own."""
        v = self.vocab
        return {
            "format": self.format_name,
            "version": 1,
            "name": self.name,
            "pretokenizer": self.pretokenizer.to_dict(),
            "vocab": [[b64(t), i] for t, i in sorted(v.items(), key=lambda kv: kv[1])],
            "merges": [[v[a], v[b]] for a, b in self.merges],
            "special_tokens": self.special_tokens,
        }

    @staticmethod
    def _bpe_fields(d: dict) -> tuple[dict, dict]:
        """Constructor keywords read from :meth:`_bpe_dict`'s fields, and the id -> bytes map."""
        from ..pretokenize import PreTokenizer

        vocab = {unb64(t): int(i) for t, i in d["vocab"]}
        by_id = {i: t for t, i in vocab.items()}
        fields = {
            "vocab": vocab,
            "merges": [(by_id[a], by_id[b]) for a, b in d["merges"]],
            "pretokenizer": PreTokenizer.from_dict(d["pretokenizer"]),
            "special_tokens": {str(k): int(v) for k, v in d.get("special_tokens", {}).items()},
            "name": str(d.get("name", "")),
        }
        return fields, by_id
