"""Stochastic tokenization for training-time regularization; every sample decodes to the input.

- StochasTok (Sims et al. 2025): encode deterministically, then replace each token, with
  probability ``p``, by two vocabulary tokens whose concatenation is it (split point uniform
  among the valid ones). ``mode="per-token"`` (default): one pass, each token split at most once.
  ``mode="iterative"``: the authors' procedure — ``int(len(ids) * p)`` attempts, each at a
  uniformly random position of the current sequence, splitting the token there if it can be
  split (so pieces may be split again, and attempts on single bytes do nothing).
- BPE-dropout (Provilkov et al. 2020): apply merges in rank order, but at every step each
  applicable merge occurrence is skipped with probability ``p``; when every candidate was
  skipped the piece is done. ``p=0`` is standard BPE, ``p=1`` gives single bytes.

Both take ``seed`` (same seed, same output) or an explicit ``random.Random``.
Unigram sampling lives in :meth:`tokenlab.models.unigram.UnigramModel.sample`.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Sequence

from ..errors import InvalidInputError
from .methods import encode_with

_SPLITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check_p(p: float) -> float:
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise InvalidInputError(f"p must be a probability, got {p!r}") from None
    if not 0.0 <= p <= 1.0:
        raise InvalidInputError(f"p must be between 0 and 1, got {p}")
    return p


def split_table(tok) -> dict[int, list[tuple[int, int]]]:
    """Token id -> every (left id, right id) whose bytes concatenate to it; tokens with none are absent."""
    table = _SPLITS.get(tok)
    if table is None:
        vocab = tok.vocab
        table = {}
        for t, i in vocab.items():
            pairs = [(vocab[t[:k]], vocab[t[k:]]) for k in range(1, len(t)) if t[:k] in vocab and t[k:] in vocab]
            if pairs:
                table[i] = pairs
        _SPLITS[tok] = table
    return table


def stochastok_expand(tok, ids: Sequence[int], p: float, rng: random.Random) -> list[int]:
    """Split each splittable token of ``ids`` in two with probability ``p`` (specials never)."""
    p = _check_p(p)
    table = split_table(tok)
    out: list[int] = []
    for i in ids:
        pairs = table.get(i)
        if pairs is not None and rng.random() < p:
            out.extend(pairs[rng.randrange(len(pairs))] if len(pairs) > 1 else pairs[0])
        else:
            out.append(i)
    return out


def stochastok_expand_iterative(tok, ids: Sequence[int], p: float, rng: random.Random) -> list[int]:
    """The authors' variant: ``int(len(ids) * p)`` split attempts at uniformly random positions of
    the current sequence. Quadratic in the sequence length: use it per document."""
    p = _check_p(p)
    table = split_table(tok)
    out = list(ids)
    for _ in range(int(len(out) * p)):
        k = rng.randrange(len(out))
        pairs = table.get(out[k])
        if pairs is not None:
            out[k:k + 1] = pairs[rng.randrange(len(pairs))]
    return out


def encode_stochastok(tok, text: str, p: float = 0.1, seed: int | None = None, allowed_special=(),
                      rng: random.Random | None = None, disallowed_special="all",
                      mode: str = "per-token") -> list[int]:
    """StochasTok: each token split in two with probability p (options p, seed, mode)."""
    p = _check_p(p)
    if mode not in ("per-token", "iterative"):
        raise InvalidInputError(f"mode must be 'per-token' or 'iterative', got {mode!r}")
    ids = tok.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)
    expand = stochastok_expand if mode == "per-token" else stochastok_expand_iterative
    return expand(tok, ids, p, rng or random.Random(seed))


def bpe_dropout_piece(ids: list[int], pair_table: dict, p: float, rng: random.Random) -> list[int]:
    ids = list(ids)
    get = pair_table.get
    rand = rng.random
    while len(ids) > 1:
        best_rank, best_i, best_new = None, -1, -1
        prev = ids[0]
        for i in range(1, len(ids)):
            cur = ids[i]
            hit = get((prev, cur))
            if hit is not None and rand() >= p and (best_rank is None or hit[0] < best_rank):
                best_rank, best_new = hit
                best_i = i - 1
            prev = cur
        if best_i < 0:
            break
        ids[best_i:best_i + 2] = (best_new,)
    return ids


def encode_bpe_dropout(tok, text: str, p: float = 0.1, seed: int | None = None, allowed_special=(),
                       rng: random.Random | None = None, disallowed_special="all") -> list[int]:
    """BPE-dropout: each merge candidate skipped with probability p (options p, seed).

    With ``ignore_merges`` tokenizers (Llama-3, tiktoken) a pretoken that is a whole token is
    kept whole with probability ``1 - p``, otherwise it is merged with dropout like the rest."""
    p = _check_p(p)
    pair_table = getattr(tok, "pair_table", None)
    if pair_table is None or not getattr(tok, "merges", None):
        raise InvalidInputError("bpe-dropout needs a BPE tokenizer with merges")
    rng = rng or random.Random(seed)
    byte_ids = tok.byte_ids
    vocab = tok.vocab
    shortcut = tok.ignore_merges

    def piece(data: bytes) -> list[int]:
        if shortcut and data in vocab and rng.random() >= p:
            return [vocab[data]]
        return bpe_dropout_piece([byte_ids[b] for b in data], pair_table, p, rng)

    return encode_with(tok, text, piece, allowed_special, disallowed_special)
