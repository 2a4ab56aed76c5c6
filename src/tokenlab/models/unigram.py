"""Unigram language-model tokenizer (Kudo 2018): pieces with log-probabilities.

Encoding picks the most probable segmentation of each pretoken (Viterbi); ``sample`` draws
segmentations for subword regularization. All 256 single bytes are pieces, so every input
is encodable (byte fallback) and decoding is exact. Ids follow tokenlab's convention when
trained here (bytes 0..255, then pieces by decreasing score, then specials), but any id
assignment is accepted, e.g. a BPE vocabulary's own ids (:func:`unigram_from_bpe`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import random
import weakref
from collections import Counter
from collections.abc import Iterable
from functools import cached_property

import numpy as np

from ..encode.lattice import NEG_INF, VocabIndex, draw, nbest, sampling_table, viterbi
from ..encode.methods import encode_with, vocab_index
from ..errors import FormatError, InvalidInputError
from ..pretokenize import PreTokenizer, get_pretokenizer
from .base import TokenizerBase

FORMAT_NAME = "unigram"
FORMAT_VERSION = 1
# Scores we produce are multiples of 2**-10 nats: sums of them are exact in floating point, so
# segmentations equal in probability are exact ties, broken the same way by every decoder
# (HF tokenizers' JSON float parsing may differ from Python's in the last bit otherwise).
SCORE_QUANTUM = 2.0 ** -10


def quantize(score: float) -> float:
    return round(score / SCORE_QUANTUM) * SCORE_QUANTUM


class UnigramModel(TokenizerBase):
    """Unigram LM over byte pieces. ``scores`` are natural-log probabilities per piece."""

    format_name = FORMAT_NAME
    merges: tuple = ()  # no merges, no merge-order options

    def __init__(self, vocab: dict[bytes, int], scores: dict[bytes, float], pretokenizer="gpt2",
                 special_tokens: dict[str, int] | None = None, name: str = ""):
        self.vocab = dict(vocab)
        self.scores = {t: float(scores[t]) for t in self.vocab if t in scores}
        self.pretokenizer: PreTokenizer = get_pretokenizer(pretokenizer)
        self.special_tokens = dict(special_tokens or {})
        self.name = name
        ids = list(self.vocab.values())
        if len(set(ids)) != len(ids):
            raise FormatError("vocab has two pieces with the same id")
        if set(self.special_tokens.values()) & set(ids):
            raise FormatError("special token ids collide with piece ids")
        missing = [b for b in range(256) if bytes([b]) not in self.vocab]
        if missing:
            raise FormatError(f"unigram vocab lacks {len(missing)} single-byte pieces (e.g. byte {missing[0]}); "
                              "byte fallback needs all 256")
        bad = [t for t in self.vocab if not math.isfinite(self.scores.get(t, NEG_INF))]
        if bad:
            raise FormatError(f"{len(bad)} pieces have no finite score (e.g. {bad[0]!r})")
        self._cache: dict[bytes, list[int]] = {}
        self._sampling_tables: dict[tuple[float, int], dict] = {}

    # ------------------------------------------------------------------ tables
    @cached_property
    def n_vocab(self) -> int:
        return max(list(self.vocab.values()) + list(self.special_tokens.values())) + 1

    @cached_property
    def score_by_id(self) -> list[float]:
        table = [NEG_INF] * self.n_vocab
        for t, i in self.vocab.items():
            table[i] = self.scores[t]
        return table

    @cached_property
    def byte_ids(self) -> list[int]:
        return [self.vocab[bytes([b])] for b in range(256)]

    @property
    def index(self) -> VocabIndex:
        return vocab_index(self)

    def __len__(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def __repr__(self) -> str:
        return (f"UnigramModel(name={self.name!r}, pieces={len(self.vocab)}, specials={len(self.special_tokens)}, "
                f"pretokenizer={self.pretokenizer.name})")

    # ------------------------------------------------------------------ encode
    def encode_piece(self, data: bytes) -> list[int]:
        hit = self._cache.get(data)
        if hit is None:
            hit = viterbi(self.index.lattice(data), self.score_by_id)
            if len(self._cache) > 1 << 18:
                self._cache.clear()
            self._cache[data] = hit
        return hit

    def encode(self, text: str, *, allowed_special=(), disallowed_special="all",
               as_array: bool = False):
        """Most probable segmentation of each pretoken; specials follow ``Tokenizer.encode``'s contract."""
        ids = encode_with(self, text, self.encode_piece, allowed_special, disallowed_special)
        return np.asarray(ids, dtype=np.uint32) if as_array else ids

    def encode_ordinary(self, text: str) -> list[int]:
        return encode_with(self, text, self.encode_piece, (), ())

    def sample(self, text: str, alpha: float = 0.1, nbest_size: int = -1, seed: int | None = None,
               rng: random.Random | None = None, allowed_special=(), disallowed_special="all") -> list[int]:
        """A random segmentation, P(seg) proportional to P(seg)^alpha (SentencePiece's subword
        regularization). ``nbest_size=-1`` samples from all segmentations (exact forward-filtering
        backward-sampling); ``nbest_size=k>1`` samples among the k best of each pretoken."""
        alpha, nbest_size = _number(alpha, float, "alpha"), _number(nbest_size, int, "nbest_size")
        if not alpha >= 0:
            raise InvalidInputError(f"alpha must be >= 0, got {alpha}")
        if nbest_size == 0 or nbest_size < -1:
            raise InvalidInputError(f"nbest_size must be -1 (all) or >= 1, got {nbest_size}")
        rng = rng or random.Random(seed)
        idx, scores = self.index, self.score_by_id

        tables = self._sampling_tables.setdefault((float(alpha), int(nbest_size)), {})

        def piece(data: bytes) -> list[int]:
            if nbest_size == 1:
                return self.encode_piece(data)
            table = tables.get(data)
            if table is None:
                if len(tables) > 1 << 16:
                    tables.clear()
                edges = idx.lattice(data)
                if nbest_size == -1:
                    table = tables[data] = sampling_table(edges, scores, alpha)
                else:
                    cands = nbest(edges, scores, nbest_size)
                    ws = [math.exp(alpha * (s - cands[0][0])) for s, _ in cands]
                    table = tables[data] = ([c[1] for c in cands], list(itertools.accumulate(ws)))
            if nbest_size == -1:
                return draw(table, rng)
            return rng.choices(table[0], cum_weights=table[1])[0]

        return encode_with(self, text, piece, allowed_special, disallowed_special)

    def score(self, ids: Iterable[int]) -> float:
        """Log-probability of a segmentation (sum of piece scores)."""
        table = self.score_by_id
        return float(sum(table[i] for i in ids))

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        b64 = lambda b: base64.b64encode(b).decode("ascii")
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "pretokenizer": self.pretokenizer.to_dict(),
            "pieces": [[b64(t), i, self.scores[t]] for t, i in sorted(self.vocab.items(), key=lambda kv: kv[1])],
            "special_tokens": self.special_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict) -> UnigramModel:
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise FormatError(f"not a tokenlab unigram file (missing \"format\": \"{FORMAT_NAME}\")")
        if d.get("version", 0) > FORMAT_VERSION:
            raise FormatError(f"unigram file version {d.get('version')} is newer than this tokenlab supports")
        try:
            vocab, scores = {}, {}
            for t, i, s in d["pieces"]:
                b = base64.b64decode(t, validate=True)
                vocab[b] = int(i)
                scores[b] = float(s)
            return cls(vocab, scores, PreTokenizer.from_dict(d.get("pretokenizer") or {"pattern": None}),
                       {str(k): int(v) for k, v in d.get("special_tokens", {}).items()}, str(d.get("name", "")))
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"corrupt unigram file: {exc!r}") from None

    @classmethod
    def load(cls, path) -> UnigramModel:
        return load_unigram(path)

    def to_hf_dict(self) -> dict:
        """tokenizer.json with a HF ``Unigram`` model over byte-level characters (`tokenlab.io.hf_json`)."""
        from ..io.hf_json import unigram_to_hf_dict

        return unigram_to_hf_dict(self)

    def save_hf(self, path) -> None:
        from ..io.hf_json import write_hf_dict

        write_hf_dict(self.to_hf_dict(), path)


def _number(value, kind, name: str):
    try:
        out = kind(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if kind is int and out != value and not isinstance(value, str):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    return out


def load_unigram(path) -> UnigramModel:
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: corrupt JSON ({exc})") from None
    return UnigramModel.from_dict(d)


def register_format() -> None:
    from ..io import JSON_FORMATS

    JSON_FORMATS.setdefault(FORMAT_NAME, "tokenlab.models.unigram:load_unigram")


register_format()


def unigram_from_bpe(tok, corpus: Iterable[str], smoothing: float = 1.0) -> UnigramModel:
    """Unigram scores for a BPE vocabulary: token frequencies of its merge-order encoding of
    ``corpus``, add-``smoothing`` (Laplace) so every token keeps a finite log-probability.
    Ids are ``tok``'s, so Viterbi/sampled ids mean the same tokens as ``tok.encode``'s."""
    smoothing = _number(smoothing, float, "smoothing")
    if not smoothing > 0:
        raise InvalidInputError(f"smoothing must be > 0, got {smoothing}")
    counts: Counter = Counter()
    for doc in corpus:
        if not isinstance(doc, str):
            raise InvalidInputError(f"corpus items must be str, got {type(doc).__name__}")
        counts.update(tok.encode_ordinary(doc))
    total = sum(counts[i] for i in tok.vocab.values()) + smoothing * len(tok.vocab)
    scores = {t: quantize(math.log((counts[i] + smoothing) / total)) for t, i in tok.vocab.items()}
    return UnigramModel(tok.vocab, scores, tok.pretokenizer, tok.special_tokens, name=f"{tok.name}+unigram")


_FROM_CORPUS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def unigram_for(tok, text: str, corpus=None, smoothing: float = 1.0) -> UnigramModel:
    """``tok`` itself if it is a Unigram model; else unigram scores for its vocabulary counted from
    the merge-order encoding of ``corpus`` (text file path(s)) or, without one, of ``text`` itself."""
    if isinstance(tok, UnigramModel):
        if corpus is not None:
            raise InvalidInputError("a Unigram model has its own scores; drop the corpus option")
        return tok
    if corpus is None:
        return unigram_from_bpe(tok, [text], smoothing)
    from ..cli.common import iter_corpus

    paths = [str(corpus)] if isinstance(corpus, (str, bytes)) or hasattr(corpus, "__fspath__") else list(corpus)
    key = (tuple(paths), float(smoothing))
    per_tok = _FROM_CORPUS.setdefault(tok, {})
    if key not in per_tok:
        per_tok[key] = unigram_from_bpe(tok, iter_corpus(paths), smoothing)
    return per_tok[key]


def encode_viterbi(tok, text: str, allowed_special=(), corpus=None, smoothing: float = 1.0,
                   disallowed_special="all") -> list[int]:
    """Unigram Viterbi: most probable segmentation (BPE vocab: add-one token frequencies)."""
    return unigram_for(tok, text, corpus, smoothing).encode(text, allowed_special=allowed_special,
                                                           disallowed_special=disallowed_special)


def encode_unigram_sample(tok, text: str, allowed_special=(), alpha: float = 0.1, nbest_size: int = -1,
                          seed: int | None = None, corpus=None, smoothing: float = 1.0,
                          rng: random.Random | None = None, disallowed_special="all") -> list[int]:
    """Unigram sampling: a segmentation drawn with probability proportional to P^alpha."""
    model = unigram_for(tok, text, corpus, smoothing)
    return model.sample(text, alpha=alpha, nbest_size=nbest_size, seed=seed, rng=rng,
                        allowed_special=allowed_special, disallowed_special=disallowed_special)
