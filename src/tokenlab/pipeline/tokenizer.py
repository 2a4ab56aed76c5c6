"""`PipelineTokenizer`: added vocabulary -> normalizer -> pre-tokenizer -> model -> post-processor, plus decoder.

Any HF tokenizer.json is one of these (`from_hf_dict` / `to_hf_dict` walk the components). It keeps
tokenlab's tiktoken-style contract (`encode` -> ids, specials are errors unless allowed, `decode`,
`id_to_bytes`, `save`), and `encode_full` gives HF's `Encoding` with tokens, offsets and masks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Literal

import numpy as np

from ..errors import FormatError, InvalidInputError
from ..models.base import ModelBase
from ..specials import check_special, utf8
from . import decoders as dec
from .added_vocab import AddedToken, AddedVocabulary
from .encoding import Encoding
from .models import BPE, Model, model_from_dict
from .normalizers import Normalizer, normalizer_from_dict
from .pre_tokenizers import PreTokenizer, pre_tokenizer_from_dict
from .processors import PostProcessor, default_process, post_processor_from_dict

FORMAT = "hf"


class _PipelineSplitter:
    """What tools that summarise a tokenizer ask of ``tok.pretokenizer`` (name, split_digits, split)."""

    split_digits = None

    def __init__(self, tok: PipelineTokenizer):
        self._tok = tok
        parts = [type(c).__name__ for c in (tok.normalizer, tok.pre_tokenizer) if c is not None]
        self.name = "hf:" + "+".join(parts or ["none"])
        self.regex_str = None

    def split(self, text: str) -> list[str]:
        pts = self._tok._pre_tokenized(text, frozenset())
        return [p.normalized.text for p in pts.pieces]

    def to_dict(self) -> dict:
        return {"pattern": self.name}


class PipelineTokenizer(ModelBase):
    format_name = FORMAT

    def __init__(self, model: Model, *, normalizer: Normalizer | None = None, pre_tokenizer: PreTokenizer | None = None,
                 post_processor: PostProcessor | None = None, decoder: dec.Decoder | None = None,
                 added_tokens: Iterable[AddedToken] = (), truncation: dict | None = None, padding: dict | None = None,
                 name: str = ""):
        self.model = model
        self.normalizer, self.pre_tokenizer = normalizer, pre_tokenizer
        self.post_processor, self.decoder = post_processor, decoder
        self.added = AddedVocabulary(list(added_tokens), normalizer)
        self.truncation, self.padding = truncation, padding
        self.name = name
        self.special_tokens = {t.content: t.id for t in self.added.tokens if t.special}
        self.ignore_merges = bool(getattr(model, "ignore_merges", False))

    def __repr__(self) -> str:
        return (f"PipelineTokenizer(name={self.name!r}, model={self.model.type_name}, vocab={self.n_vocab}, "
                f"pipeline={self.pretokenizer.name})")

    @cached_property
    def pretokenizer(self) -> _PipelineSplitter:
        return _PipelineSplitter(self)

    def to_pipeline(self) -> PipelineTokenizer:
        """Itself: its components are already the pipeline's."""
        return self

    # ------------------------------------------------------------------ HF-style encode
    def _pre_tokenized(self, text: str, enabled: frozenset[str] | None):
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be str, got {type(text).__name__}")
        if not text.isascii():
            utf8(text)  # a lone surrogate (text read with surrogateescape) is a clear error, as everywhere
        pts = self.added.split(text, self.normalizer, enabled)
        if self.pre_tokenizer is not None:
            self.pre_tokenizer.pre_tokenize(pts)
        return pts

    def _encode_sequence(self, text: str, enabled: frozenset[str] | None, type_id: int = 0) -> Encoding:
        enc = Encoding()
        for word, piece in enumerate(self._pre_tokenized(text, enabled).pieces):
            n = piece.normalized
            if piece.token_id is not None:
                enc.append(piece.token_id, n.text, n.original_span(),
                           type_id=type_id, word_id=word, special=0)
                continue
            for tid, token, s, e in self.model.tokenize(n.text):
                enc.append(tid, token, n.original_span(s, e), type_id=type_id, word_id=word)
        return enc

    def encode_full(self, text: str, pair: str | None = None, add_special_tokens: bool = True) -> Encoding:
        """HF's ``Tokenizer.encode``: every added token is matched, the post-processor runs (special tokens
        when ``add_special_tokens``), then truncation and padding as configured in the file."""
        encs = [self._encode_sequence(text, None, 0)]
        if pair is not None:
            encs.append(self._encode_sequence(pair, None, 1))
        if self.truncation:
            self._truncate(encs, add_special_tokens)
        if self.post_processor is not None:
            out = self.post_processor.process(encs, add_special_tokens)
        else:
            out = default_process(encs)
        if self.padding:
            self._pad(out)
        return out

    def _truncate(self, encs: list[Encoding], add_special_tokens: bool) -> None:
        t = self.truncation
        limit = int(t.get("max_length", 512))
        if add_special_tokens and self.post_processor is not None:
            limit -= self.post_processor.added_tokens(len(encs) == 2)
        limit = max(limit, 0)
        direction = "right" if t.get("direction", "Right") == "Right" else "left"
        if len(encs) == 1:
            encs[0].truncate(limit, direction)
            return
        a, b = encs
        while len(a) + len(b) > limit:  # LongestFirst
            if len(a) > len(b):
                a.truncate(len(a) - 1, direction)
            else:
                b.truncate(len(b) - 1, direction)

    def _pad(self, enc: Encoding) -> None:
        p = self.padding
        strategy = p.get("strategy", "BatchLongest")
        length = strategy["Fixed"] if isinstance(strategy, dict) and "Fixed" in strategy else len(enc)
        multiple = p.get("pad_to_multiple_of")
        if multiple and length % multiple:
            length += multiple - length % multiple
        enc.pad(length, int(p.get("pad_id", 0)), int(p.get("pad_type_id", 0)), str(p.get("pad_token", "[PAD]")),
                "right" if p.get("direction", "Right") == "Right" else "left")

    # ------------------------------------------------------------------ tiktoken-style encode
    def encode(self, text: str, *, allowed_special: Literal["all"] | Iterable[str] = (),
               disallowed_special: Literal["all"] | Iterable[str] = "all", as_array: bool = False):
        """Ids without post-processing (HF ``add_special_tokens=False``); a special token in the text is an
        error unless allowed (then it is its id) or not disallowed (then it is ordinary text)."""
        allowed = check_special(self.special_tokens, text, allowed_special, disallowed_special)
        ids = self._encode_ids(text, frozenset(allowed))
        return np.asarray(ids, dtype=np.uint32) if as_array else ids

    def encode_ordinary(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be str, got {type(text).__name__}")
        return self._encode_ids(text, frozenset())

    @cached_property
    def _compiled(self):
        """The C kernel for a pipeline one of its state machines reproduces (`encode.pipeline_fast`), or None."""
        from ..encode.pipeline_fast import compiled_encoder

        return compiled_encoder(self)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_compiled", None)  # kernel tables: rebuilt on first use after unpickling
        return state

    def _encode_ids(self, text: str, enabled: frozenset[str] | None) -> list[int]:
        """Ids only (what the tiktoken-style API returns): no tokens, offsets or masks collected."""
        if self._compiled is not None and isinstance(text, str):
            from ..encode.pipeline_fast import encode_ids

            ids = encode_ids(self, self._compiled, text, enabled)
            if ids is not None:
                return ids
        ids: list[int] = []
        tokenize = self.model.tokenize
        for piece in self._pre_tokenized(text, enabled).pieces:
            if piece.token_id is not None:
                ids.append(piece.token_id)
            else:
                ids.extend(t[0] for t in tokenize(piece.normalized.text))
        return ids

    def encode_batch(self, texts: Sequence[str], *, num_threads: int | None = None, **kwargs) -> list[list[int]]:
        """``[encode(t) for t in texts]`` (``num_threads`` is accepted for `Tokenizer` compatibility; the
        generic path runs in this thread)."""
        return [self.encode(t, **kwargs) for t in texts]

    def tokenize(self, text: str) -> list[str]:
        return self._encode_sequence(text, None).tokens

    # ------------------------------------------------------------------ vocabulary views
    def id_to_token(self, i: int) -> str | None:
        t = self.added.by_id.get(i)
        return t.content if t is not None else self.model.id_to_token(i)

    def token_to_id(self, token: str) -> int | None:
        t = self.added.by_content.get(token)
        return t.id if t is not None else self.model.token_to_id(token)

    def get_vocab(self) -> dict[str, int]:
        v = self.model.get_vocab()
        v.update({t.content: t.id for t in self.added.tokens})
        return v

    @cached_property
    def _decoder_kinds(self) -> set[str]:
        return {d.type_name for d in dec.walk(self.decoder)}

    def _token_bytes_of(self, token: str) -> bytes:
        """The bytes a token stands for: byte-level characters to their bytes, ``<0xNN>`` to its byte (with a
        ByteFallback decoder), the Metaspace replacement to a space, a WordPiece continuation without ``##``."""
        kinds = self._decoder_kinds
        if "ByteLevel" in kinds:
            from .byte_map import unicode_to_bytes

            table = unicode_to_bytes()
            if all(c in table for c in token):
                return bytes(table[c] for c in token)
        if "ByteFallback" in kinds and len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            try:
                return bytes([int(token[3:5], 16)])
            except ValueError:
                pass
        for d in dec.walk(self.decoder):
            if isinstance(d, dec.Metaspace):
                token = token.replace(d.replacement, " ")
            elif isinstance(d, dec.Replace):
                token = d.decode_chain([token])[0]
            elif isinstance(d, dec.WordPiece) and token.startswith(d.prefix):
                token = token[len(d.prefix):]
        return token.encode("utf-8", "surrogatepass")

    def _id_to_bytes_table(self) -> list[bytes | None]:
        vocab = self.model.get_vocab()
        size = max([*vocab.values(), *self.added.by_id, -1]) + 1
        table: list[bytes | None] = [None] * size
        for token, i in vocab.items():
            table[i] = self._token_bytes_of(token)
        for i, t in self.added.by_id.items():
            table[i] = t.content.encode("utf-8", "surrogatepass")
        return table

    @property
    def vocab(self) -> dict[bytes, int]:
        out: dict[bytes, int] = {}
        specials = self.special_ids
        for i, b in enumerate(self.id_to_bytes):
            if b is not None and i not in specials:
                out.setdefault(b, i)
        return out

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        if not isinstance(self.model, BPE):
            return []
        return [(self._token_bytes_of(a), self._token_bytes_of(b)) for a, b in self.model.merges]

    # ------------------------------------------------------------------ decode
    def decode_text(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """HF's ``decode``: token strings (specials skipped if asked) through the decoder, else joined by spaces."""
        ids = self._checked_ids(ids)
        tokens = []
        specials = self.added.special_contents
        for i in ids:
            t = self.added.by_id.get(i)
            # as HF: an added token decodes as its normalized form, and is skipped as special only when
            # that form is a special token's content
            token = (self.added.match_form[i] if t.normalized else t.content) if t is not None \
                else self.model.id_to_token(i)
            if skip_special_tokens and token in specials:
                continue
            tokens.append(token)
        if self.decoder is None:
            return " ".join(tokens)
        return self.decoder.decode(tokens)

    def decode(self, ids: Iterable[int], errors: str = "replace", skip_special_tokens: bool = False) -> str:
        return self.decode_text(ids, skip_special_tokens=skip_special_tokens)

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Bytes of the ids: exact concatenation for a plain byte-level decoder, else the decoded text's UTF-8."""
        if self._decoder_kinds == {"ByteLevel"}:
            table = self.id_to_bytes
            return b"".join(table[i] for i in self._checked_ids(ids))
        return self.decode_text(ids).encode("utf-8", "surrogatepass")

    def _checked_ids(self, ids: Iterable[int]) -> list[int]:
        ids = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        bad = [i for i in ids if not isinstance(i, int) or self.id_to_token(i) is None]
        if bad:
            raise InvalidInputError(f"unknown token id(s): {bad[:5]}")
        return ids

    # ------------------------------------------------------------------ tokenizer.json
    def to_hf_dict(self) -> dict:
        comp = lambda c: None if c is None else c.to_dict()  # noqa: E731
        return {"version": "1.0", "truncation": self.truncation, "padding": self.padding,
                "added_tokens": self.added.to_list(), "normalizer": comp(self.normalizer),
                "pre_tokenizer": comp(self.pre_tokenizer), "post_processor": comp(self.post_processor),
                "decoder": comp(self.decoder), "model": self.model.to_dict()}

    to_dict = to_hf_dict

    @classmethod
    def from_hf_dict(cls, d: dict, name: str = "", seed: int | None = None) -> PipelineTokenizer:
        if not isinstance(d, dict) or "model" not in d:
            raise FormatError("not a tokenizer.json (no \"model\")")
        try:
            added = [AddedToken.from_dict(a) for a in d.get("added_tokens") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"corrupt added_tokens ({exc!r})") from None
        return cls(model_from_dict(d["model"], seed=seed), normalizer=normalizer_from_dict(d.get("normalizer")),
                   pre_tokenizer=pre_tokenizer_from_dict(d.get("pre_tokenizer")),
                   post_processor=post_processor_from_dict(d.get("post_processor")),
                   decoder=dec.decoder_from_dict(d.get("decoder")), added_tokens=added,
                   truncation=d.get("truncation"), padding=d.get("padding"), name=name)

    from_dict = from_hf_dict

    def save(self, path) -> None:
        """tokenizer.json (HF's format, loadable by ``tokenizers.Tokenizer.from_file``)."""
        from ..io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_hf_dict(), ensure_ascii=False))

    save_hf = save

    @classmethod
    def load(cls, path) -> PipelineTokenizer:
        from ..io.hf_json import read_hf_json

        return read_hf_json(path, pipeline=True)
