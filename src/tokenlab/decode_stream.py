"""Incremental detokenization for generation: text deltas as ids arrive, never a broken character.

Every tokenizer kind has its own decode rules (byte-level bytes, SentencePiece's dropped dummy space,
Metaspace's "▁", WordPiece's ``##`` glue, byte-fallback pieces). Rather than re-implementing each rule
per token, the stream decodes a short window of recent ids with the tokenizer's own ``decode`` and emits
what the newest id added to the window's text, the same scheme as HF ``tokenizers``' ``DecodeStream``
(so the two agree step by step on the same tokenizer.json). A delta is held back while the window's
text ends in U+FFFD, i.e. while a character is still incomplete.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator

from .errors import InvalidInputError


class DecodeStream:
    """``step(id)`` returns the new text, or None while nothing complete was added.

    ``"".join`` of all deltas plus :meth:`flush` equals ``tok.decode(all_ids)`` for decoders whose output
    for a sequence starts with their output for its prefix (every decoder tokenlab ships); if a tokenizer
    ever rewrites text it already produced, :meth:`step` raises instead of emitting wrong text.
    """

    def __init__(self, tokenizer, skip_special_tokens: bool = False):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self._special = set(getattr(tokenizer, "special_tokens", {}).values()) if skip_special_tokens else set()
        # WordPiece's decode skips specials by default: say explicitly what this stream wants
        try:
            takes_skip = "skip_special_tokens" in inspect.signature(tokenizer.decode).parameters
        except (TypeError, ValueError):
            takes_skip = False
        self._decode_kw = {"skip_special_tokens": skip_special_tokens} if takes_skip else {}
        self._ids: list[int] = []  # the window: context ids, then ids not yet emitted
        self._prefix = ""  # decode of the context ids
        self._prefix_index = 0  # how many of the window's ids are context

    def _decode(self, ids: list[int]) -> str:
        if self._special:
            ids = [i for i in ids if i not in self._special]
        return self.tokenizer.decode(ids, **self._decode_kw)

    def step(self, token_id: int) -> str | None:
        """Feed one id; return the text it completes (possibly with earlier held-back ids), or None."""
        if isinstance(token_id, bool) or not isinstance(token_id, int):
            try:
                token_id = int(token_id)  # numpy integers
            except (TypeError, ValueError):
                raise InvalidInputError(f"not a token id: {token_id!r}") from None
        self._ids.append(token_id)
        text = self._decode(self._ids)
        if len(text.encode("utf-8", "surrogatepass")) <= len(self._prefix.encode("utf-8", "surrogatepass")) \
                or text.endswith("\ufffd"):
            return None
        return self._advance(text)

    def _advance(self, text: str) -> str:
        if not text.startswith(self._prefix):
            raise InvalidInputError("the tokenizer's decode changed text it had already produced; "
                                    "it cannot be decoded incrementally")
        delta = text[len(self._prefix):]
        newest = self._ids[self._prefix_index:]
        prefix = self._decode(newest)
        if prefix:
            self._ids, self._prefix, self._prefix_index = newest, prefix, len(newest)
        else:
            # ids that decode to nothing on their own (a lone "▁" whose space SentencePiece drops at the
            # start of a text, skipped specials) are no context: keep the older ids in the window too
            self._prefix, self._prefix_index = text, len(self._ids)
        return delta

    def flush(self) -> str:
        """Text still held back (an incomplete character at the end decodes as U+FFFD); '' if none."""
        text = self._decode(self._ids)
        if len(text) <= len(self._prefix) or not text.startswith(self._prefix):
            return ""
        return self._advance(text)

    def __copy__(self) -> DecodeStream:
        """An independent stream at the same point (shares the tokenizer), e.g. to peek at :meth:`flush`."""
        other = object.__new__(DecodeStream)
        other.__dict__.update(self.__dict__)
        other._ids = list(self._ids)
        return other

    def __repr__(self) -> str:
        return f"DecodeStream({type(self.tokenizer).__name__}, skip_special_tokens={self.skip_special_tokens})"


def decode_stream(tokenizer, ids: Iterable[int], skip_special_tokens: bool = False,
                  flush: bool = True) -> Iterator[str]:
    """Deltas of ``DecodeStream`` over ``ids`` (an iterable, e.g. a generator of sampled ids); with
    ``flush`` the held-back tail (an incomplete last character as U+FFFD) comes last."""
    stream = DecodeStream(tokenizer, skip_special_tokens=skip_special_tokens)
    for i in ids:
        delta = stream.step(i)
        if delta is not None:
            yield delta
    if flush:
        tail = stream.flush()
        if tail:
            yield tail
