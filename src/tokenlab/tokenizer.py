"""The one data model every stage reads: vocab, ordered merges, pre-tokenizer, specials."""

from __future__ import annotations

import array
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from .base import TokenizerBase
from .encode.bpe import PieceCache, bpe_merge
from .errors import FormatError, InvalidInputError
from .pretokenize import PreTokenizer, get_pretokenizer
from .specials import split_special
from .specials import utf8 as _utf8

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 1


def _numpy():
    """numpy, imported on first use: a one-shot encode of a short text never needs it."""
    import numpy

    return numpy


def _is_ndarray(x) -> bool:
    np = sys.modules.get("numpy")  # an array exists only once numpy is imported
    return np is not None and isinstance(x, np.ndarray)


@dataclass(eq=False)
class Tokenizer(TokenizerBase):
    """A byte-level BPE tokenizer: the compiled model of the one tokenizer contract (`tokenlab.base.TokenizerBase`).

    ``vocab`` maps token bytes to ids (ordinary tokens; every single byte should be present),
    ``merges`` is the ordered list of ``(left, right)`` byte pairs (rank = position),
    ``special_tokens`` maps special strings to ids disjoint from ``vocab``'s.

    ``ignore_merges``: a pretoken that is itself a token encodes as that one token
    (tiktoken and Llama-3 behaviour). ``any_split``: a pair merges whenever its
    concatenation is a token made by a merge, at that merge's rank (tiktoken's semantics);
    otherwise only the listed pairs merge (HF/GPT-2 semantics).
    """

    vocab: dict[bytes, int]
    merges: list[tuple[bytes, bytes]]
    pretokenizer: PreTokenizer = field(default_factory=PreTokenizer)
    special_tokens: dict[str, int] = field(default_factory=dict)
    ignore_merges: bool = False
    any_split: bool = False
    name: str = ""

    def __post_init__(self):
        self.pretokenizer = get_pretokenizer(self.pretokenizer)
        ids = list(self.vocab.values())
        if len(set(ids)) != len(ids):
            raise FormatError("vocab has two tokens with the same id")
        _check_id_range(ids, self.special_tokens)
        clash = set(self.special_tokens.values()) & set(ids)
        if clash:
            raise FormatError(f"special token ids collide with vocab ids: {sorted(clash)[:5]}")
        missing = [b for b in range(256) if bytes([b]) not in self.vocab]
        if missing:
            raise FormatError(f"vocab lacks {len(missing)} single-byte tokens (e.g. byte {missing[0]}); "
                              "byte-level BPE needs all 256")
        for a, b in self.merges:
            if a not in self.vocab or b not in self.vocab or a + b not in self.vocab:
                raise FormatError(f"merge {a!r} + {b!r} refers to a token missing from vocab")
        self._cache = PieceCache()

    @classmethod
    def _from_compiled(cls, compiled, fast, *, pretokenizer, special_tokens: dict[str, int], name: str = ""):
        """A tokenizer over a compiled vocabulary (`tokenlab.io.compiled_vocab`) and its ready kernel ``fast``.

        Nothing is checked again (the compiled file was made from a checked tokenizer and carries a checksum),
        and ``vocab`` / ``merges`` are built from ``compiled`` on first read: a one-shot encode never reads them.
        """
        tok = cls.__new__(cls)
        meta = compiled.meta
        tok.__dict__.update(pretokenizer=get_pretokenizer(pretokenizer), special_tokens=dict(special_tokens),
                            ignore_merges=bool(meta["ignore_merges"]), any_split=bool(meta["any_split"]), name=name,
                            _compiled=compiled, _fast=fast, _cache=PieceCache())
        return tok

    # ------------------------------------------------------------------ tables
    @cached_property
    def byte_ids(self) -> list[int]:
        return [self.vocab[bytes([b])] for b in range(256)]

    @cached_property
    def n_vocab(self) -> int:
        """One more than the largest id (ids may have gaps)."""
        top = max(self.vocab.values())
        if self.special_tokens:
            top = max(top, max(self.special_tokens.values()))
        return top + 1

    @cached_property
    def merge_ranks(self) -> dict[bytes, int]:
        """Token bytes -> rank of the first merge that makes it."""
        ranks: dict[bytes, int] = {}
        for r, (a, b) in enumerate(self.merges):
            ranks.setdefault(a + b, r)
        return ranks

    @cached_property
    def pair_table(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(left id, right id) -> (rank, merged id): what the encoder consults."""
        v = self.vocab
        table: dict[tuple[int, int], tuple[int, int]] = {}
        if not self.any_split:
            for r, (a, b) in enumerate(self.merges):
                table.setdefault((v[a], v[b]), (r, v[a + b]))
            return table
        for tok, r in self.merge_ranks.items():
            new = v[tok]
            for k in range(1, len(tok)):
                left, right = v.get(tok[:k]), v.get(tok[k:])
                if left is None or right is None:
                    continue
                old = table.get((left, right))
                if old is None or r < old[0]:
                    table[(left, right)] = (r, new)
        return table

    # ------------------------------------------------------------------ encode
    def _encode_piece(self, piece: bytes) -> tuple[int, ...]:
        hit = self._cache.get(piece)
        if hit is not None:
            return hit
        if self.ignore_merges and piece in self.vocab:
            out: tuple[int, ...] = (self.vocab[piece],)
        else:
            bid = self.byte_ids
            out = tuple(bpe_merge([bid[b] for b in piece], self.pair_table))
        self._cache.put(piece, out)
        return out

    @cached_property
    def _fast(self):
        """Compiled tables for the named pre-tokenizers: the C kernel, else numba; None means the Python path."""
        from .encode.native import native_encoder_for

        native = native_encoder_for(self)
        if native is not None:
            return native
        from .encode.fast import fast_encoder_for

        return fast_encoder_for(self)

    def _encode_ordinary_python(self, text: str) -> list[int]:
        out: list[int] = []
        try:
            for piece in self.pretokenizer.split(text):
                out.extend(self._encode_piece(_utf8(piece)))
        except InvalidInputError:
            _utf8(text)  # a lone surrogate: name its offset in the whole text, not in its piece
            raise
        return out

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ignoring special tokens entirely (they are encoded as plain text)."""
        fast = self._fast
        if fast is None:
            return self._encode_ordinary_python(text)
        return fast.encode_bytes(text if fast.takes_str else _utf8(text), as_list=True)

    def _encode_ordinary_array(self, text: str) -> np.ndarray:
        fast = self._fast
        if fast is None:
            np = _numpy()
            return np.asarray(self._encode_ordinary_python(text), dtype=np.uint32)
        return fast.encode_bytes(text if fast.takes_str else _utf8(text))

    def encode(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Iterable[str] = (),
        disallowed_special: Literal["all"] | Iterable[str] = "all",
        as_array: bool = False,
    ) -> list[int] | np.ndarray:
        """Encode text; special strings are errors unless allowed (tiktoken's contract). The base's encode with the
        compiled path inlined for the common case (no special token in the text)."""
        parts = split_special(self.special_tokens, text, allowed_special, disallowed_special)
        if len(parts) == 1:
            if as_array:
                return self._encode_ordinary_array(text)
            return self.encode_ordinary(text)
        return self._encode_parts(parts, as_array)

    def encode_full(self, text: str, pair: str | None = None, add_special_tokens: bool = True):
        """HF-style `Encoding` with character offsets (computed from the compiled encode's ids, only here)."""
        from .offsets import byte_level_encode_full

        return byte_level_encode_full(self, text, pair, add_special_tokens)

    def encode_batch(self, texts: Sequence[str], *, num_threads: int | None = None,
                     **kwargs) -> list[list[int]] | list[np.ndarray]:
        """Encode many texts (same keywords as :meth:`encode`); ``num_threads`` defaults to the CPUs (max 8).

        Ids equal ``[encode(t) for t in texts]``; the compiled path runs groups of texts in threads. Its lists
        are not tracked by Python's cycle collector (they hold only ints, and collector passes over millions of
        ids cost a fifth of a list encode): an object stored into one that refers back to it makes a cycle
        the collector will not free. With glibc, the first call that builds lists (or a 1-thread ``as_array``
        batch) raises malloc's trim and mmap thresholds (to 64 and 32 MB), so the memory of freed results is
        reused by the next batch instead of being faulted in again; ``TOKENLAB_MALLOPT=0`` in the environment
        leaves malloc as it is. With ``as_array`` the compiled path returns views of one buffer of the batch's ids
        (with threads and long texts, gaps left between texts: no copy into place), so one array kept alive keeps
        that buffer: ``.copy()`` an array to keep it alone.
        """
        texts = list(texts)
        fast = self._fast
        as_array = kwargs.get("as_array", False)
        if fast is None or len(texts) < 2:
            return [self.encode(t, **kwargs) for t in texts]
        allowed_special = kwargs.get("allowed_special", ())
        disallowed_special = kwargs.get("disallowed_special", "all")
        unknown = set(kwargs) - {"allowed_special", "disallowed_special", "as_array"}
        if unknown:
            raise TypeError(f"encode_batch() got unexpected keyword arguments {sorted(unknown)}")
        plain = [not self._check_special(t, allowed_special, disallowed_special) for t in texts]
        if not all(plain):
            return [self.encode(t, **kwargs) for t in texts]
        if num_threads is None:
            num_threads = min(os.cpu_count() or 1, 8)
        if int(num_threads) < 1:
            raise InvalidInputError(f"num_threads must be >= 1, got {num_threads}")
        return fast.encode_texts(texts, _utf8, num_threads=int(num_threads), as_list=not as_array)

    # ------------------------------------------------------------------ decode
    def _decode_native(self, ids):
        """(uint8 array of the bytes or None, ids) via the compiled path; None means take the Python path."""
        fast = self._fast
        if fast is None:
            return None, ids
        is_array = _is_ndarray(ids)
        if not (is_array or isinstance(ids, (list, tuple))):
            ids = list(ids)
        if fast.takes_str:  # the C kernel reads the ints itself and names the first unknown one
            seq = ids.tolist() if is_array else ids
            try:
                return fast.decode_bytes(seq), ids
            except IndexError as exc:
                bad = seq[exc.args[0]]
                if isinstance(bad, int) and not isinstance(bad, bool):
                    raise InvalidInputError(f"unknown token id(s): {[bad]}") from None
                return None, ids  # not an int: the Python path explains
        arr = _id_array(ids)
        if arr is None:
            return None, ids
        data, bad = fast.decode_array(arr)
        if data is None:
            raise InvalidInputError(f"unknown token id(s): {[int(arr[bad])]}")
        return data.tobytes(), ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        data, ids = self._decode_native(ids)
        if data is not None:
            return data
        return super().decode_bytes(ids)

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Decode ids to text; ``errors='strict'`` raises on ids that end mid-character. (The base's decode,
        reading the compiled path's array without a copy.)"""
        data, ids = self._decode_native(ids)
        if data is None:
            data = super().decode_bytes(ids)
        try:
            return str(data, "utf-8", errors)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"ids decode to invalid UTF-8 ({exc.reason} at byte {exc.start})") from None

    # ------------------------------------------------------------------ misc
    def __getstate__(self):
        # the compiled tables hold locks and are cheap to rebuild: pickles (e.g. to worker processes) skip them
        self.vocab, self.merges  # noqa: B018 - a tokenizer over a compiled vocabulary materialises them
        state = super().__getstate__()
        state.pop("_compiled", None)
        return state

    def __len__(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def __repr__(self) -> str:
        return (f"Tokenizer(name={self.name!r}, vocab={len(self.vocab)}, merges={len(self.merges)}, "
                f"specials={len(self.special_tokens)}, pretokenizer={self.pretokenizer.name})")

    def to_pipeline(self):
        """This tokenizer as HF components (Split regexes + ByteLevel + BPE + ByteLevel decoder): the generic
        `PipelineTokenizer`, with offsets and `encode_full`; ids equal this compiled path (tested)."""
        from .io.hf_json import to_hf_dict
        from .pipeline import PipelineTokenizer

        d = to_hf_dict(self)
        d["post_processor"] = self.__dict__.get("_hf_post_processor")  # the file's, if read from tokenizer.json
        return PipelineTokenizer.from_hf_dict(d, name=self.name)

    # ------------------------------------------------------------------ native format
    def to_dict(self) -> dict:
        """tokenlab json content (`tokenlab.io.tokenlab_json`)."""
        from .io.tokenlab_json import bpe_to_dict

        return bpe_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> Tokenizer:
        """A tokenizer from tokenlab json content; every field is checked (``where`` names the file)."""
        from .io.tokenlab_json import tokenizer_from_dict

        return tokenizer_from_dict(d, where, cls)

    @classmethod
    def load(cls, path) -> Tokenizer:
        """Load any supported format (tokenlab json, HF tokenizer.json, tiktoken, tekken)."""
        from .io import load_tokenizer

        return load_tokenizer(path)


class _FromCompiled:
    """``Tokenizer.vocab`` / ``.merges`` of a tokenizer made by ``Tokenizer._from_compiled``: built from the
    compiled vocabulary on first read, then kept in the instance dict. A non-data descriptor, so every other
    tokenizer (whose ``__init__`` stores the field in its dict) reads the plain attribute, at no cost."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        compiled = obj.__dict__.get("_compiled")
        if compiled is None:
            raise AttributeError(self.name)
        value = getattr(compiled, self.name)()
        obj.__dict__[self.name] = value
        return value


for _field in ("vocab", "merges"):
    setattr(Tokenizer, _field, _FromCompiled())
    Tokenizer.__dict__[_field].__set_name__(Tokenizer, _field)


def _check_id_range(ids: list[int], specials: dict[str, int]) -> None:
    """Ids are non-negative ints below the bound for this many tokens (no 8 GB id tables); specials non-empty."""
    from .io.validate import id_limit

    limit = id_limit(len(ids) + len(specials))
    for where, values in (("vocab", ids), ("special_tokens", specials.values())):
        for i in values:
            if isinstance(i, bool) or not isinstance(i, int) and not _is_np_integer(i) or not 0 <= i < limit:
                raise FormatError(f"{where}: id {i!r} is not an integer in 0..{limit - 1}")
    for s in specials:
        if not isinstance(s, str) or not s:
            raise FormatError(f"special_tokens: {s!r} is not a non-empty string")


def _is_np_integer(x) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.integer)


def _id_array(ids) -> np.ndarray | None:
    """ids as an integer array, or None when they are not all ints in range (the Python path explains)."""
    np = _numpy()
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            return None
        return ids if ids.dtype == np.int64 else ids.astype(np.int64)
    try:  # array('I') converts ~3x faster than numpy and rejects floats, negatives and huge ints
        return np.frombuffer(array.array("I", ids), dtype=np.uint32)
    except (TypeError, OverflowError, ValueError):
        return None
