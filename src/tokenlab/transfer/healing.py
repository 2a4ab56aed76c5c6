"""Token healing: back off the prompt's unstable tail and constrain generation to re-cover it.

A prompt that ends mid-token ("The url is https:") tokenizes differently from the same text
inside a longer document ("://" is one token). Healing removes the last tokens, remembers their
bytes, and at each generation step allows only tokens consistent with the bytes still owed:
tokens that start with them, or that are a proper prefix of them.
"""

from __future__ import annotations

import bisect
import weakref
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidInputError


def vocab_bytes(tokenizer) -> list[bytes | None]:
    """Bytes of every ordinary (non-special) token by id; ``None`` for gaps and specials."""
    vocab = getattr(tokenizer, "vocab", None)
    if isinstance(vocab, dict) and vocab and isinstance(next(iter(vocab)), bytes):
        size = max(vocab.values()) + 1
        specials = getattr(tokenizer, "special_tokens", None) or {}
        if specials:
            size = max(size, max(specials.values()) + 1)
        table: list[bytes | None] = [None] * size
        for tok, i in vocab.items():
            table[i] = tok
        return table
    specials = set(getattr(tokenizer, "special_ids", ()) or ())
    n = _n_vocab(tokenizer)
    table = []
    for i in range(n):
        try:
            b = None if i in specials else tokenizer.token_bytes(i)
        except (KeyError, ValueError, IndexError):
            b = None
        table.append(b if b else None)
    return table


def _n_vocab(tokenizer) -> int:
    n = getattr(tokenizer, "n_vocab", None)
    if n is None:
        raise InvalidInputError(f"{type(tokenizer).__name__} has no n_vocab / vocab; cannot list its tokens")
    return int(n() if callable(n) else n)


class TokenIndex:
    """Token bytes sorted lexicographically, so "tokens that start with p" is one bisect range."""

    def __init__(self, tokenizer):
        self.id_bytes = vocab_bytes(tokenizer)
        pairs = sorted((b, i) for i, b in enumerate(self.id_bytes) if b)
        if not pairs:
            raise InvalidInputError("tokenizer has no ordinary tokens")
        self.sorted_bytes = [b for b, _ in pairs]
        self.sorted_ids = np.fromiter((i for _, i in pairs), dtype=np.int64, count=len(pairs))
        self.by_bytes: dict[bytes, int] = {}
        for b, i in pairs:
            self.by_bytes.setdefault(b, i)
        self.max_len = max(len(b) for b in self.sorted_bytes)
        self.size = len(self.id_bytes)

    def extending_range(self, prefix: bytes) -> tuple[int, int]:
        """Positions [lo, hi) in the sorted order of the tokens that start with ``prefix``."""
        lo = bisect.bisect_left(self.sorted_bytes, prefix)
        succ = _successor(prefix)
        hi = len(self.sorted_bytes) if succ is None else bisect.bisect_left(self.sorted_bytes, succ, lo)
        return lo, hi

    def extending(self, prefix: bytes) -> np.ndarray:
        lo, hi = self.extending_range(prefix)
        return self.sorted_ids[lo:hi]

    def prefixes_of(self, data: bytes, proper: bool = True) -> list[tuple[int, int]]:
        """``(length, id)`` of the tokens equal to ``data[:length]`` (shorter than data if ``proper``)."""
        top = min(self.max_len, len(data) - 1 if proper else len(data))
        get = self.by_bytes.get
        return [(n, get(data[:n])) for n in range(1, top + 1) if data[:n] in self.by_bytes]


def _successor(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


_INDEX_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def token_index(tokenizer) -> TokenIndex:
    """A :class:`TokenIndex`, built once per tokenizer object."""
    try:
        hit = _INDEX_CACHE.get(tokenizer)
    except TypeError:
        return TokenIndex(tokenizer)
    if hit is None:
        hit = TokenIndex(tokenizer)
        try:
            _INDEX_CACHE[tokenizer] = hit
        except TypeError:
            pass
    return hit


@dataclass
class HealingPlan:
    """What to feed the model (``prompt_ids``) and what the generation must re-cover (``removed``)."""

    prompt_ids: list[int]
    removed_ids: list[int]
    removed: bytes
    index: TokenIndex = field(repr=False)
    _allowed_cache: dict = field(default_factory=dict, repr=False)

    def remaining(self, generated_ids=()) -> bytes:
        """Bytes of ``removed`` not yet covered after generating ``generated_ids``."""
        rest = self.removed
        table = self.index.id_bytes
        for t in generated_ids:
            if not rest:
                break
            t = int(t)
            b = table[t] if 0 <= t < len(table) else None
            if b is None or not (b.startswith(rest) or rest.startswith(b)):
                raise InvalidInputError(f"generated token {t} does not match the healed prefix {rest!r}")
            rest = rest[len(b):]
        return rest

    def allowed_ids(self, generated_ids=()) -> np.ndarray | None:
        """Sorted ids allowed at the next step; ``None`` once the removed bytes are covered."""
        rest = self.remaining(generated_ids)
        if not rest:
            return None
        hit = self._allowed_cache.get(rest)
        if hit is None:
            ext = self.index.extending(rest)
            shorter = [i for _, i in self.index.prefixes_of(rest)]
            hit = np.union1d(ext, np.asarray(shorter, dtype=np.int64))
            self._allowed_cache[rest] = hit
        return hit

    def allowed_mask(self, generated_ids=(), size: int | None = None) -> np.ndarray | None:
        """Boolean mask of length ``size`` (default: vocab size) over allowed ids, or ``None``."""
        ids = self.allowed_ids(generated_ids)
        if ids is None:
            return None
        mask = np.zeros(size or self.index.size, dtype=bool)
        mask[ids[ids < mask.size]] = True
        return mask

    def is_complete(self, generated_ids) -> bool:
        return not self.remaining(generated_ids)


def _backoff_start(tokenizer, prompt: str) -> int | None:
    """Byte offset where the unstable tail begins: the last pre-token, extended backwards over
    pre-tokens a continuation can regroup with it: whitespace-only pieces before a piece that
    starts with whitespace ("\n " + "\n" becomes "\n \n"), and the pieces on either side of an
    apostrophe ("we'l" + "l" becomes "we" "'ll"; o200k's "don'" + "t" becomes "don't").
    ``None`` if the tokenizer has no pre-tokenizer. A tokenizer may answer itself with
    ``healing_start(prompt)``, counted in the bytes the prompt's tokens spell (SentencePiece models:
    the start of the last word, after their dummy-prefix space)."""
    own = getattr(tokenizer, "healing_start", None)
    if own is not None:
        start = own(prompt)
        if start is not None:
            return start
    pre = getattr(tokenizer, "pretokenizer", None)
    if pre is None or not hasattr(pre, "split"):
        return None
    pieces = pre.split(prompt)
    if not pieces:
        return 0
    j = len(pieces) - 1
    while j > 0:
        here, before = pieces[j], pieces[j - 1]
        if (here[:1].isspace() and before.isspace()) or here.startswith("'") or before.endswith("'"):
            j -= 1
        else:
            break
    return len("".join(pieces[:j]).encode("utf-8", "surrogatepass"))


def heal_prompt(tokenizer, prompt: str, *, backoff: int | None = None, allowed_special=()) -> HealingPlan:
    """Tokenize ``prompt`` and back off its unstable tail.

    ``backoff=None`` removes every token of the last pre-token (see :func:`_backoff_start`), so
    the kept ids are a prefix of the tokenization of ``prompt + continuation`` for ordinary
    continuations; ``backoff=k`` removes exactly the last ``k`` tokens. Special tokens are never
    removed.
    """
    if backoff is not None and (not isinstance(backoff, int) or backoff < 0):
        raise InvalidInputError(f"backoff must be a non-negative integer, got {backoff!r}")
    if not isinstance(prompt, str):
        raise InvalidInputError(f"prompt must be str, got {type(prompt).__name__}")
    index = token_index(tokenizer)
    if allowed_special:
        ids = list(tokenizer.encode(prompt, allowed_special=allowed_special))
    else:
        ids = list(tokenizer.encode(prompt))
    table = index.id_bytes

    def ordinary(t: int) -> bool:
        return 0 <= t < len(table) and table[t] is not None

    if backoff is None:
        start = _backoff_start(tokenizer, prompt)
        backoff = 1 if start is None else None
    keep = len(ids)
    if backoff is not None:
        while keep > 0 and len(ids) - keep < backoff and ordinary(ids[keep - 1]):
            keep -= 1
    else:
        kept_len = sum(len(tokenizer.token_bytes(t)) for t in ids)
        while keep > 0 and kept_len > start and ordinary(ids[keep - 1]):
            keep -= 1
            kept_len -= len(table[ids[keep]])
    removed_ids = ids[keep:]
    removed = b"".join(table[t] for t in removed_ids)
    return HealingPlan(prompt_ids=ids[:keep], removed_ids=removed_ids, removed=removed, index=index)
