"""Tools across two tokenizers: aligned byte spans, chunk likelihoods, and next-byte ensembles.

* **Alignment** ("Cross-Tokenizer Distillation via Approximate Likelihood Matching", ALM): two
  tokenizations of the same text agree on some boundaries; between two consecutive shared boundaries
  lie one *chunk* of each, spelling the same bytes. ALM compares the two models' likelihoods of these
  chunks (:func:`chunk_logprobs`) to distill across vocabularies.
* **Ensembles** ("Exact Byte-Level Probabilities from Tokenized Language Models for FIM-Tasks and Model
  Ensembles"): models with different vocabularies cannot average next-*token* distributions, but each
  gives an exact next-*byte* distribution (:class:`~tokenlab.transfer.byte_probs.ByteLevelModel`), and
  those can be combined: ``average`` (fixed weights, as in the paper) or ``mixture`` (the exact
  byte-level conditional of the mixture ``w_1 P_1 + w_2 P_2``: weights re-scaled by each model's
  probability of the prefix).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from .byte_probs import ByteLevelModel, NextByte


# ---------------------------------------------------------------------------- alignment
@dataclass(frozen=True)
class AlignedSpan:
    """Bytes ``[start, end)`` of the text, spelled by tokens ``a[0]:a[1]`` of A and ``b[0]:b[1]`` of B."""

    start: int
    end: int
    a: tuple[int, int]
    b: tuple[int, int]

    @property
    def one_to_one(self) -> bool:
        return self.a[1] - self.a[0] == 1 and self.b[1] - self.b[0] == 1


def _ends(tok, text: str, ids) -> list[int]:
    from ..evaluate.linguistic import token_byte_ends

    if ids is None:
        return token_byte_ends(tok, text)
    data = text.encode("utf-8")
    ends, pos = [], 0
    for i in ids:
        pos += len(tok.token_bytes(int(i)))
        ends.append(pos)
    if pos != len(data):
        raise InvalidInputError("the given ids do not spell the text")
    return ends


def align_tokenizations(tok_a, tok_b, text: str, ids_a=None, ids_b=None) -> list[AlignedSpan]:
    """The coarsest common segmentation of ``text`` by two tokenizers: spans between consecutive byte
    offsets where both have a token boundary. ``ids_a``/``ids_b``: use these tokenizations (e.g. sampled or
    non-canonical ones) instead of encoding ``text``."""
    ea, eb = _ends(tok_a, text, ids_a), _ends(tok_b, text, ids_b)
    shared = sorted(set(ea) & set(eb))
    spans, i, j, start = [], 0, 0, 0
    for cut in shared:
        i2, j2 = i, j
        while i2 < len(ea) and ea[i2] <= cut:
            i2 += 1
        while j2 < len(eb) and eb[j2] <= cut:
            j2 += 1
        spans.append(AlignedSpan(start, cut, (i, i2), (j, j2)))
        i, j, start = i2, j2, cut
    return spans


def alignment_summary(spans: Sequence[AlignedSpan]) -> dict[str, float]:
    """How much the two tokenizations agree: chunks, share of 1:1 chunks, mean tokens per chunk."""
    if not spans:
        return {"chunks": 0, "one_to_one": math.nan, "tokens_a_per_chunk": math.nan, "tokens_b_per_chunk": math.nan}
    n = len(spans)
    return {"chunks": n, "one_to_one": sum(s.one_to_one for s in spans) / n,
            "tokens_a_per_chunk": sum(s.a[1] - s.a[0] for s in spans) / n,
            "tokens_b_per_chunk": sum(s.b[1] - s.b[0] for s in spans) / n}


def chunk_logprobs(next_token_probs, ids: Sequence[int], spans: Sequence[AlignedSpan], side: str = "a") -> \
        list[float]:
    """Log-likelihood of each chunk under a model: the sum of ``log P(token | previous tokens)`` over the
    chunk's tokens of side ``a`` or ``b`` (ALM's per-chunk quantity)."""
    if side not in ("a", "b"):
        raise InvalidInputError("side must be 'a' or 'b'")
    ids = [int(i) for i in ids]
    token_lp = []
    for k, t in enumerate(ids):
        p = float(np.asarray(next_token_probs(tuple(ids[:k])))[t])
        token_lp.append(math.log(p) if p > 0 else -math.inf)
    return [sum(token_lp[lo:hi]) for lo, hi in (getattr(s, side) for s in spans)]


# ---------------------------------------------------------------------------- ensembles
class ByteEnsemble:
    """Next-byte distribution of several :class:`ByteLevelModel` s with any vocabularies.

    ``mode="mixture"``: ``P(b | x) = sum_k w_k P_k(x) P_k(b | x) / sum_k w_k P_k(x)``, the exact conditional
    of the mixture model; ``mode="average"``: ``sum_k w_k P_k(b | x)`` (weights renormalised over the
    models that give ``x`` positive probability)."""

    def __init__(self, models: Sequence[ByteLevelModel], weights: Sequence[float] | None = None,
                 mode: str = "mixture"):
        if not models:
            raise InvalidInputError("give at least one model")
        if mode not in ("mixture", "average"):
            raise InvalidInputError(f"mode must be 'mixture' or 'average', got {mode!r}")
        w = np.ones(len(models)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(models),) or np.any(w < 0) or not w.sum() > 0:
            raise InvalidInputError("weights must be one non-negative number per model, not all zero")
        self.models, self.weights, self.mode = list(models), w / w.sum(), mode

    def next_byte(self, prefix: bytes | str) -> NextByte:
        parts = [m.next_byte(prefix) for m in self.models]
        prior = np.array([p.prefix_probability for p in parts])
        w = self.weights * (prior if self.mode == "mixture" else (prior > 0))
        total = float(w.sum())
        if total <= 0:
            return NextByte(probs=np.zeros(256), end=0.0, prefix_probability=0.0)
        w = w / total
        probs = np.sum([wk * p.probs for wk, p in zip(w, parts)], axis=0)
        end = float(sum(wk * p.end for wk, p in zip(w, parts)))
        return NextByte(probs=probs, end=end, prefix_probability=float(self.weights @ prior))

    def byte_logprob(self, data: bytes | str, given: bytes | str = b"") -> float:
        """``log P(data | given)`` under the ensemble, byte by byte."""
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        given = given.encode("utf-8") if isinstance(given, str) else bytes(given)
        total = 0.0
        for i in range(len(data)):
            p = float(self.next_byte(given + data[:i]).probs[data[i]])
            if p <= 0:
                return -math.inf
            total += math.log(p)
        return total

    def generate(self, prefix: bytes | str = b"", max_bytes: int = 64, *, greedy: bool = True,
                 seed: int | None = None) -> bytes:
        """Continue ``prefix`` from the ensemble's next-byte distribution (greedy by default)."""
        prefix = prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)
        rng = np.random.default_rng(seed)
        out = bytearray()
        for _ in range(max_bytes):
            nb = self.next_byte(prefix + bytes(out))
            choices = np.append(nb.probs, nb.end)
            if not choices.sum() > 0:
                break
            pick = int(np.argmax(choices)) if greedy else int(rng.choice(257, p=choices / choices.sum()))
            if pick == 256:
                break
            out.append(pick)
        return bytes(out)


class BigramLM:
    """A token bigram language model with add-``alpha`` smoothing over the ordinary tokens, trained on a
    tokenizer's encoding of ``texts``: a small real next-token model for byte-level tools and ensembles."""

    def __init__(self, tok, texts: Sequence[str], alpha: float = 0.01):
        if alpha <= 0:
            raise InvalidInputError("alpha must be > 0")
        enc = getattr(tok, "encode_ordinary", None) or tok.encode
        self.size = int(getattr(tok, "n_vocab", 0) or max(tok.vocab.values()) + 1)
        self.alpha = alpha
        self.rows: dict[int, Counter] = {}
        self.first: Counter = Counter()
        for t in texts:
            ids = list(enc(t))
            if ids:
                self.first[ids[0]] += 1
            for a, b in zip(ids, ids[1:]):
                self.rows.setdefault(a, Counter())[b] += 1
        self.ordinary = np.zeros(self.size, dtype=bool)
        for i in getattr(tok, "vocab", {}).values():
            self.ordinary[i] = True

    def __call__(self, context: tuple[int, ...]) -> np.ndarray:
        counts = self.first if not context else self.rows.get(context[-1], Counter())
        out = np.where(self.ordinary, self.alpha, 0.0)
        for t, c in counts.items():
            out[t] += c
        return out / out.sum()
