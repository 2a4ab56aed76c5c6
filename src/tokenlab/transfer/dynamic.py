"""Dynamic tokenization: merge a batch's frequent adjacent subword pairs into temporary tokens.

"Retrofitting (Large) Language Models with Dynamic Tokenization" (Feher, Vulić, Minixhofer 2025):
instead of a fixed vocabulary, BPE-style merges are learnt *per batch* (the most frequent adjacent pair
becomes a new token, repeatedly), usually only inside words; the model gets an embedding for every
temporary token (the paper predicts it with a hypernetwork; here the simple baseline, the mean of
the parts' embeddings). Sequences get shorter, and every temporary token maps back to base ids, so
decoding is exact.

Temporary ids start at ``base_vocab_size``; each stands for a fixed tuple of base ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidInputError

_SPACE = frozenset(b" \t\n\r\x0b\x0c")


@dataclass
class DynamicBatch:
    """Sequences with temporary tokens and the mapping back to base ids."""

    ids: list[list[int]]
    base_vocab_size: int
    parts: dict[int, tuple[int, ...]] = field(default_factory=dict)  # temporary id -> base ids it spells
    merges: list[tuple[int, int, int]] = field(default_factory=list)  # (left, right, new) in merge order

    def expand(self, seq: Sequence[int]) -> list[int]:
        """Base ids of a sequence that may hold temporary tokens."""
        out: list[int] = []
        for i in seq:
            i = int(i)
            if i >= self.base_vocab_size:
                if i not in self.parts:
                    raise InvalidInputError(f"unknown temporary token id {i}")
                out.extend(self.parts[i])
            else:
                out.append(i)
        return out

    def base_ids(self) -> list[list[int]]:
        return [self.expand(s) for s in self.ids]

    def decode(self, tok, seq: Sequence[int]) -> str:
        return tok.decode(self.expand(seq))

    @property
    def n_new(self) -> int:
        return len(self.parts)

    def lengths(self) -> tuple[int, int]:
        """(tokens before, tokens after) over the whole batch."""
        before = sum(len(self.parts[i]) if i >= self.base_vocab_size else 1 for s in self.ids for i in s)
        return before, sum(map(len, self.ids))

    def new_embeddings(self, base: np.ndarray) -> np.ndarray:
        """Rows for the temporary tokens (in id order): the mean of their parts' base embeddings."""
        base = np.asarray(base)
        if base.ndim != 2 or base.shape[0] < self.base_vocab_size:
            raise InvalidInputError(f"need a (>= {self.base_vocab_size}) x dim embedding matrix, got {base.shape}")
        rows = [base[list(self.parts[i])].mean(axis=0) for i in sorted(self.parts)]
        return np.stack(rows) if rows else np.zeros((0, base.shape[1]), dtype=base.dtype)

    def embedding_matrix(self, base: np.ndarray) -> np.ndarray:
        """The base rows followed by the temporary tokens' rows: index it with :attr:`ids` directly."""
        base = np.asarray(base)
        return np.concatenate([base[:self.base_vocab_size], self.new_embeddings(base).astype(base.dtype)])


def _replace(seq: list[int], a: int, b: int, new: int) -> list[int]:
    out, k, n = [], 0, len(seq)
    while k < n:
        if k + 1 < n and seq[k] == a and seq[k + 1] == b:
            out.append(new)
            k += 2
        else:
            out.append(seq[k])
            k += 1
    return out


def dynamic_merge(batch: Sequence[Sequence[int]], *, base_vocab_size: int | None = None, tok=None,
                  max_merges: int | None = None, min_count: int = 2, within_words: bool = True) -> DynamicBatch:
    """Merge the most frequent adjacent pair of the batch into a temporary token, again and again,
    until no pair occurs ``min_count`` times (or ``max_merges`` merges). Ties go to the smaller pair.

    ``within_words`` (needs ``tok`` with ``token_bytes``): a pair merges only when the right token does
    not start and the left does not end with whitespace, so temporary tokens never span two words
    (the paper's setting). Without ``tok`` every pair may merge."""
    seqs = [[int(i) for i in s] for s in batch]
    if base_vocab_size is None:
        if tok is None:
            raise InvalidInputError("give base_vocab_size or tok")
        base_vocab_size = int(getattr(tok, "n_vocab", None) or max(tok.vocab.values()) + 1)
    if min_count < 2:
        raise InvalidInputError(f"min_count must be >= 2, got {min_count}")
    if any(i < 0 or i >= base_vocab_size for s in seqs for i in s):
        raise InvalidInputError(f"batch holds ids outside 0..{base_vocab_size - 1}")
    if within_words and tok is None:
        raise InvalidInputError("within_words needs tok (to see which tokens start or end with a space)")
    edge: dict[int, tuple[bool, bool]] = {}  # id -> (starts with space, ends with space)

    def edges(i: int) -> tuple[bool, bool]:
        hit = edge.get(i)
        if hit is None:
            data = tok.token_bytes(i)
            hit = (bool(data) and data[0] in _SPACE, bool(data) and data[-1] in _SPACE)
            edge[i] = hit
        return hit

    def allowed(a: int, b: int) -> bool:
        return not within_words or (not edges(a)[1] and not edges(b)[0])

    out = DynamicBatch(ids=seqs, base_vocab_size=base_vocab_size)
    counts: Counter = Counter()
    where: dict[tuple[int, int], set[int]] = {}
    for n, s in enumerate(seqs):
        for p in zip(s, s[1:]):
            if allowed(*p):
                counts[p] += 1
                where.setdefault(p, set()).add(n)
    nxt = base_vocab_size
    while max_merges is None or len(out.merges) < max_merges:
        best = None
        for p, c in counts.items():
            if c >= min_count and (best is None or c > counts[best] or (c == counts[best] and p < best)):
                best = p
        if best is None:
            break
        a, b = best
        new = nxt
        nxt += 1
        out.parts[new] = tuple(out.parts.get(a, (a,))) + tuple(out.parts.get(b, (b,)))
        if within_words:
            edge[new] = (edges(a)[0], edges(b)[1])
        out.merges.append((a, b, new))
        for n in sorted(where.pop(best, ())):
            s = seqs[n]
            for p in zip(s, s[1:]):
                if allowed(*p):
                    counts[p] -= 1
            s = _replace(s, a, b, new)
            seqs[n] = s
            for p in zip(s, s[1:]):
                if allowed(*p):
                    counts[p] += 1
                    where.setdefault(p, set()).add(n)
        for p in [p for p, c in counts.items() if c <= 0]:
            del counts[p]
    out.ids = seqs
    return out


def length_reduction(tok, texts: Sequence[str], *, batch_size: int = 32, within_words: bool = True,
                     max_merges: int | None = None) -> dict[str, float]:
    """Encode ``texts`` in batches of ``batch_size``, merge each batch dynamically; the share of tokens saved
    and the temporary tokens per batch. Every batch is checked to expand back to its base ids."""
    enc = getattr(tok, "encode_ordinary", None) or tok.encode
    before = after = new = batches = 0
    for k in range(0, len(texts), batch_size):
        ids = [list(enc(t)) for t in texts[k:k + batch_size]]
        dyn = dynamic_merge(ids, tok=tok, within_words=within_words, max_merges=max_merges)
        if dyn.base_ids() != ids:
            raise AssertionError("dynamic merge lost information")  # cannot happen; guards the measurement
        b, a = dyn.lengths()
        before, after, new, batches = before + b, after + a, new + dyn.n_new, batches + 1
    return {"tokens": before, "dynamic_tokens": after, "reduction": 1 - after / before if before else 0.0,
            "new_tokens_per_batch": new / batches if batches else 0.0}
