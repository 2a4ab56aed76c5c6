"""Character offsets per token for every model kind, as HF's `Encoding` (``encode_full``) and tiktoken's
``decode_with_offsets``.

Byte-level BPE (`tokenlab.Tokenizer`) takes them from the compiled encode's ids: each token covers a run of the
text's UTF-8 bytes, and its character span runs from the character holding its first byte to the one holding its
last byte (HF's byte-level alignment: a token that splits a character gets that whole character, so the tokens of
one emoji can share a span). The other models go through their HF export as a `PipelineTokenizer`, whose
components track offsets. Nothing here runs unless offsets are asked for.
"""

from __future__ import annotations

import numpy as np

from .pipeline.encoding import Encoding


def _char_index_of_bytes(data: bytes) -> np.ndarray:
    """For every byte of UTF-8 ``data``, the index of the character it belongs to."""
    arr = np.frombuffer(data, dtype=np.uint8)
    return np.cumsum((arr & 0xC0) != 0x80, dtype=np.int64) - 1


def byte_spans_to_char_spans(data: bytes, lengths) -> list[tuple[int, int]]:
    """Character (start, end) of consecutive byte runs of ``lengths`` covering ``data``; a run that starts or ends
    inside a character takes the whole character."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if not len(lengths):
        return []
    ends = np.cumsum(lengths)
    if ends[-1] != len(data):
        raise ValueError(f"tokens cover {int(ends[-1])} bytes, the text has {len(data)}")
    starts = ends - lengths
    char_of = _char_index_of_bytes(data)
    nonempty = lengths > 0
    first = np.where(nonempty, char_of[np.minimum(starts, len(data) - 1)], 0)
    last = np.where(nonempty, char_of[np.maximum(ends - 1, 0)] + 1, 0)
    # an empty token (none in byte-level BPE) sits where the next character starts
    first = np.where(nonempty, first, np.searchsorted(ends, 0))
    return list(zip(first.tolist(), np.where(nonempty, last, first).tolist()))


def start_offsets(token_bytes: list[bytes]) -> list[int]:
    """tiktoken's ``decode_with_offsets`` convention: the character index where each token starts in the decoded
    text; a token starting with a continuation byte starts at the character it continues."""
    out, chars = [], 0
    for b in token_bytes:
        out.append(max(0, chars - (1 if b and 0x80 <= b[0] < 0xC0 else 0)))
        chars += sum(1 for x in b if not 0x80 <= x < 0xC0)
    return out


def decode_with_offsets(tok, ids) -> tuple[str, list[int]]:
    """Decoded text and each token's starting character index in it (tiktoken's ``decode_with_offsets``)."""
    ids = [int(i) for i in ids]
    table = tok.id_to_bytes
    parts = [table[i] if 0 <= i < len(table) and table[i] is not None else tok.token_bytes(i) for i in ids]
    return b"".join(parts).decode("utf-8", "replace"), start_offsets(parts)


# ---------------------------------------------------------------------- byte-level BPE (`Tokenizer`)
def _token_strings(tok) -> list[str | None]:
    """HF's token string per id (byte-level characters; a special token's content), built once per tokenizer."""
    cached = tok.__dict__.get("_hf_token_strings")
    if cached is None:
        from .pipeline.byte_map import bytes_to_unicode

        chars = bytes_to_unicode()
        cached = [None if b is None else "".join(chars[x] for x in b) for b in tok.id_to_bytes]
        for s, i in tok.special_tokens.items():
            cached[i] = s
        tok.__dict__["_hf_token_strings"] = cached
    return cached


def _byte_level_sequence(tok, text: str, type_id: int) -> Encoding:
    if not isinstance(text, str):
        from .errors import InvalidInputError

        raise InvalidInputError(f"text must be str, got {type(text).__name__}")
    ids = tok.encode(text, allowed_special="all")  # HF matches every added token in the text
    table = tok.id_to_bytes
    data = text.encode("utf-8", "surrogatepass")
    spans = byte_spans_to_char_spans(data, [len(table[i]) for i in ids])
    strings = _token_strings(tok)
    enc = Encoding()
    enc.ids = list(ids)
    enc.tokens = [strings[i] for i in ids]
    enc.offsets = spans
    n = len(ids)
    enc.type_ids = [type_id] * n
    enc.word_ids = _word_ids(tok, text, spans)
    enc.special_tokens_mask = [0] * n
    enc.attention_mask = [1] * n
    enc.sequence_ids = [type_id] * n
    return enc


def _word_ids(tok, text: str, spans: list[tuple[int, int]]) -> list[int]:
    """Index of the pre-tokenizer piece (or matched special token) each token comes from, as HF's word ids: the
    piece holding the token's first character (pieces are whole characters)."""
    from .specials import split_special

    piece_ends, end = [], 0
    for part in split_special(tok.special_tokens, text, "all", ()):
        if isinstance(part, int):
            end += len(tok.id_to_bytes[part].decode("utf-8", "surrogatepass"))
            piece_ends.append(end)
            continue
        for piece in tok.pretokenizer.split(part):
            end += len(piece)
            piece_ends.append(end)
    starts = np.fromiter((s for s, _ in spans), dtype=np.int64, count=len(spans))
    return np.searchsorted(np.asarray(piece_ends, dtype=np.int64), starts, side="right").tolist()


def byte_level_encode_full(tok, text: str, pair: str | None = None, add_special_tokens: bool = True) -> Encoding:
    """HF's ``Tokenizer.encode``: ids, tokens, offsets, then the post-processor of the tokenizer.json this was read
    from, if any (templates, offset trimming; our own exports have none)."""
    from .pipeline.processors import default_process

    encs = [_byte_level_sequence(tok, text, 0)]
    if pair is not None:
        encs.append(_byte_level_sequence(tok, pair, 1))
    processor = byte_level_post_processor(tok)
    return processor.process(encs, add_special_tokens) if processor is not None else default_process(encs)


def byte_level_post_processor(tok):
    """The post-processor of the tokenizer.json a `Tokenizer` was read from (None for ours)."""
    spec = tok.__dict__.get("_hf_post_processor")
    if spec is None:
        return None
    from .pipeline.processors import post_processor_from_dict

    return post_processor_from_dict(spec)


# ---------------------------------------------------------------------- every other model
def offsets_pipeline(tok):
    """``tok`` as a `PipelineTokenizer` built from its HF export (cached on the object)."""
    from .pipeline import PipelineTokenizer

    if isinstance(tok, PipelineTokenizer):
        return tok
    cached = tok.__dict__.get("_offsets_pipeline")
    if cached is not None:
        return cached

    source = tok.__dict__.get("_hf_source")
    if source is not None:
        pipe = PipelineTokenizer.from_hf_dict(source, name=getattr(tok, "name", ""))
    elif hasattr(tok, "to_pipeline"):
        pipe = tok.to_pipeline()
    elif hasattr(tok, "to_hf_dict"):
        pipe = PipelineTokenizer.from_hf_dict(tok.to_hf_dict(), name=getattr(tok, "name", ""))
    else:
        from .errors import FormatError

        raise FormatError(f"{type(tok).__name__} has no tokenizer.json form, so no offsets")
    tok.__dict__["_offsets_pipeline"] = pipe
    return pipe


def encode_full(tok, text: str, pair: str | None = None, add_special_tokens: bool = True) -> Encoding:
    """`Encoding` (ids, tokens, character offsets, type ids, masks) of ``text`` (and ``pair``) for any tokenizer."""
    from .tokenizer import Tokenizer

    if isinstance(tok, Tokenizer):
        return byte_level_encode_full(tok, text, pair, add_special_tokens)
    if hasattr(tok, "encode_full"):
        return tok.encode_full(text, pair, add_special_tokens)
    return offsets_pipeline(tok).encode_full(text, pair, add_special_tokens)
