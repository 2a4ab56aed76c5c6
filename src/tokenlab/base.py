"""`TokenizerBase`: the one contract every tokenizer in tokenlab keeps, whatever its model.

A tokenizer is HF's pipeline, normalizer -> pre-tokenizer -> model -> post-processor -> decoder
(`components`, `to_pipeline`), behind tiktoken's contract: special strings in text are errors unless
allowed, ``encode``/``encode_batch``/``as_array``, ``decode`` with UTF-8 errors named, offsets
(``encode_full``, ``decode_with_offsets``) and ``transformers``' batch call. Byte-level BPE
(`tokenlab.Tokenizer`, compiled), the SentencePiece/WordPiece/Unigram models, the research models and the
generic `PipelineTokenizer` all subclass it and override only what they do faster or differently.

Kept light on purpose (numpy, errors, specials): `tokenlab.tokenizer` imports it at start-up.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    import numpy as np

from .errors import FormatError, InvalidInputError
from .specials import check_special, split_special


def _is_ndarray(x) -> bool:
    np = sys.modules.get("numpy")  # an array exists only once numpy is imported
    return np is not None and isinstance(x, np.ndarray)

class Components(NamedTuple):
    """The five stages of a tokenizer as `tokenlab.pipeline` components (None where a stage does nothing)."""

    normalizer: Any
    pre_tokenizer: Any
    model: Any
    post_processor: Any
    decoder: Any


class TokenizerBase:
    """Subclasses set ``format_name``, ``special_tokens`` and implement ``encode_ordinary`` and ``vocab`` or
    ``_id_to_bytes_table`` (ordinary tokens; specials are added here); files: ``to_dict``/``from_dict``."""

    format_name = ""
    special_tokens: dict[str, int]
    name: str = ""
    # byte-level BPE switches, answered for tools that summarise any tokenizer (`tokenlab info`)
    ignore_merges = False
    any_split = False

    # ------------------------------------------------------------------ encode
    def encode_ordinary(self, text: str) -> list[int]:
        """Ids of ``text`` with special strings treated as ordinary text."""
        raise NotImplementedError

    def encode(self, text: str, *, allowed_special: Literal["all"] | Iterable[str] = (),
               disallowed_special: Literal["all"] | Iterable[str] = "all", as_array: bool = False,
               ) -> list[int] | np.ndarray:
        """Encode text; special strings are errors unless allowed (tiktoken's contract)."""
        return self._encode_parts(split_special(self.special_tokens, text, allowed_special, disallowed_special),
                                  as_array)

    def _encode_parts(self, parts: list[str | int], as_array: bool) -> list[int] | np.ndarray:
        """Ids of `split_special`'s parts: text between special tokens encoded, the specials' ids kept."""
        ids: list[int] = []
        for k, part in enumerate(parts):
            if isinstance(part, int):
                ids.append(part)
            else:
                ids.extend(self._encode_segment(part, first=k == 0))
        if as_array:
            import numpy as np

            return np.asarray(ids, dtype=np.uint32)
        return ids

    def _encode_segment(self, text: str, first: bool) -> list[int]:
        """Ids of the text between special tokens; ``first``: it starts the input (Metaspace's "first")."""
        return self.encode_ordinary(text)

    def _check_special(self, text: str, allowed_special, disallowed_special) -> set[str]:
        return check_special(self.special_tokens, text, allowed_special, disallowed_special)

    def encode_batch(self, texts: Sequence[str], **kwargs) -> list[list[int]] | list[np.ndarray]:
        """``[encode(t, **kwargs) for t in texts]``; compiled models run it in threads."""
        kwargs.pop("num_threads", None)  # accepted everywhere, used where a compiled path has threads
        return [self.encode(t, **kwargs) for t in texts]

    def encode_full(self, text: str, pair: str | None = None, add_special_tokens: bool = True):
        """HF-style `Encoding` (ids, tokens, character offsets, masks), from this tokenizer's components."""
        from .offsets import offsets_pipeline

        return offsets_pipeline(self).encode_full(text, pair, add_special_tokens)

    def __call__(self, texts, text_pair=None, **kwargs):
        """``transformers``-style batch call: padding, truncation, masks, templates (`tokenlab.batch.batch_encode`)."""
        from .batch import batch_encode

        return batch_encode(self, texts, text_pair, **kwargs)

    # ------------------------------------------------------------------ tables
    def _id_to_bytes_table(self) -> list[bytes | None]:
        """Bytes of the ordinary tokens by id; by default from ``vocab`` (token bytes -> id)."""
        vocab = self.vocab
        table: list[bytes | None] = [None] * (max(vocab.values(), default=-1) + 1)
        for token, i in vocab.items():
            table[i] = token
        return table

    @cached_property
    def id_to_bytes(self) -> list[bytes | None]:
        """Bytes of every id (None for unused ids); a special token is its UTF-8 text."""
        table = list(self._id_to_bytes_table())
        for s, i in self.special_tokens.items():
            if i >= len(table):
                table.extend([None] * (i + 1 - len(table)))
            table[i] = s.encode("utf-8")
        return table

    @property
    def n_vocab(self) -> int:
        """One more than the largest id (ids may have gaps)."""
        return len(self.id_to_bytes)

    @property
    def special_ids(self) -> set[int]:
        return set(self.special_tokens.values())

    def __len__(self) -> int:
        return self.n_vocab

    # ------------------------------------------------------------------ decode
    def token_bytes(self, token_id: int) -> bytes:
        try:
            b = self.id_to_bytes[token_id] if token_id >= 0 else None
        except (IndexError, TypeError):
            b = None
        if b is None:
            raise InvalidInputError(f"unknown token id {token_id!r}")
        return b

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        table = self.id_to_bytes
        ids = ids.tolist() if _is_ndarray(ids) else list(ids)
        try:
            parts = [table[i] for i in ids]
            ok = None not in parts and (not ids or min(ids) >= 0)
        except (IndexError, TypeError):
            ok = False
        if not ok:
            self._checked_ids(ids)  # names the unknown ids
            raise InvalidInputError(f"unknown token id(s): {ids[:5]}")
        return b"".join(parts)

    def _checked_ids(self, ids: Iterable[int]) -> list[int]:
        """``ids`` as a list of known token ids, or ``InvalidInputError`` naming the unknown ones."""
        table = self.id_to_bytes
        ids = ids.tolist() if _is_ndarray(ids) else list(ids)
        np = sys.modules.get("numpy")
        ints = (int, np.integer) if np is not None else int
        bad = [i for i in ids if not isinstance(i, ints) or not 0 <= i < len(table) or table[i] is None]
        if bad:
            raise InvalidInputError(f"unknown token id(s): {bad[:5]}")
        return ids

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Decode ids to text; ``errors='strict'`` raises on ids that end mid-character."""
        data = self.decode_bytes(ids)
        try:
            return str(data, "utf-8", errors)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"ids decode to invalid UTF-8 ({exc.reason} at byte {exc.start})") from None

    def decode_with_offsets(self, ids) -> tuple[str, list[int]]:
        """tiktoken's ``decode_with_offsets``: the text and each token's starting character index."""
        from .offsets import decode_with_offsets

        return decode_with_offsets(self, ids)

    # ------------------------------------------------------------------ components
    def to_pipeline(self):
        """This tokenizer as a generic `PipelineTokenizer` of HF components (ids equal; it carries offsets).
        Models whose HF export is exact get it from there; others override."""
        from .pipeline import PipelineTokenizer

        source = self.__dict__.get("_hf_source")  # the tokenizer.json this was read from
        if source is not None:
            return PipelineTokenizer.from_hf_dict(source, name=self.name)
        if hasattr(self, "to_hf_dict"):
            return PipelineTokenizer.from_hf_dict(self.to_hf_dict(), name=self.name)
        raise FormatError(f"{type(self).__name__} has no component form (normalizer, pre-tokenizer, model, "
                          "post-processor, decoder)")

    def components(self) -> Components:
        """(normalizer, pre_tokenizer, model, post_processor, decoder) of this tokenizer, as pipeline components."""
        from .offsets import offsets_pipeline

        pipe = offsets_pipeline(self)
        return Components(pipe.normalizer, pipe.pre_tokenizer, pipe.model, pipe.post_processor, pipe.decoder)

    # ------------------------------------------------------------------ files
    def __getstate__(self):
        # derived tables (compiled kernels hold locks; the component view) are rebuilt on use: pickles (e.g. to
        # worker processes) skip them
        state = self.__dict__.copy()
        state.pop("_fast", None)
        state.pop("_offsets_pipeline", None)
        return state

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict):
        raise NotImplementedError

    def save(self, path) -> None:
        from .io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path):
        """A file of this class's own JSON format (``"format": format_name``)."""
        from .io.validate import load_json, with_file

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
