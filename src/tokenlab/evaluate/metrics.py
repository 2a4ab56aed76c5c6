"""Intrinsic tokenizer metrics: how many tokens a text costs, how words split, how fair across languages.

Every function accepts our ``Tokenizer``, any object with ``encode(text)`` (returning ids or an
object with ``.ids``), or a plain callable ``text -> ids``. Metrics that need the bytes of a
token (word alignment, token lengths, scripts) use ``token_bytes(id)`` when the object has it.
"""

from __future__ import annotations

import bisect
import math
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import regex

from ..errors import InvalidInputError

_WORD = regex.compile(r"\S+")


class Encoder:
    """A uniform view of a tokenizer for evaluation: ``encode``, optional ``token_bytes`` and vocab ids.

    Special-token strings in evaluated text are encoded as plain text (``encode_ordinary``), so
    metrics never fail on corpora that happen to contain ``<|endoftext|>``.
    """

    def __init__(self, tok, name: str | None = None):
        self.model = tok
        self.name = name or getattr(tok, "name", "") or type(tok).__name__
        if hasattr(tok, "encode_ordinary"):
            self._encode = tok.encode_ordinary
        elif hasattr(tok, "encode"):
            self._encode = tok.encode
        elif callable(tok):
            self._encode = tok
        else:
            raise InvalidInputError(f"cannot evaluate {type(tok).__name__}: it has no encode() and is not callable")
        self.token_bytes: Callable[[int], bytes] | None = getattr(tok, "token_bytes", None)
        vocab = getattr(tok, "vocab", None)
        self.vocab_ids: list[int] | None = sorted(vocab.values()) if isinstance(vocab, Mapping) else None

    def encode(self, text: str) -> list[int]:
        return self.encode_with_offsets(text)[0]

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]] | None]:
        """Ids, plus character spans when the tokenizer reports them (HF ``Encoding.offsets``)."""
        out = self._encode(text)
        offsets = getattr(out, "offsets", None)
        out = getattr(out, "ids", out)
        ids = out.tolist() if isinstance(out, np.ndarray) else list(out)
        if offsets is not None and len(offsets) == len(ids):
            return ids, [(int(a), int(b)) for a, b in offsets]
        return ids, None

    def vocab_tokens(self) -> dict[int, bytes]:
        """Ordinary token id -> bytes (needs a tokenizer with a byte vocabulary)."""
        vocab = getattr(self.model, "vocab", None)
        # every key, not a sample: a str key among bytes would be measured in characters, not bytes
        if not isinstance(vocab, Mapping) or not all(isinstance(k, bytes) for k in vocab):
            raise InvalidInputError(f"{self.name}: this metric needs a byte-level vocabulary")
        return {i: t for t, i in vocab.items()}


def as_encoder(tok, name: str | None = None) -> Encoder:
    return tok if isinstance(tok, Encoder) else Encoder(tok, name)


def _texts(texts) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise InvalidInputError("texts must be strings")
    return texts


# ---------------------------------------------------------------------------- compression
def compression(tok, texts) -> dict[str, float]:
    """Bytes and characters per token (higher = shorter sequences; the cost of a text in context).

    Totals over the corpus (ratio of sums, not mean of ratios), UTF-8 bytes.
    """
    enc = as_encoder(tok)
    n_tokens = n_bytes = n_chars = 0
    for text in _texts(texts):
        n_tokens += len(enc.encode(text))
        n_bytes += len(text.encode("utf-8"))
        n_chars += len(text)
    return {"tokens": n_tokens, "bytes": n_bytes, "chars": n_chars,
            "bytes_per_token": n_bytes / n_tokens if n_tokens else math.nan,
            "chars_per_token": n_chars / n_tokens if n_tokens else math.nan}


# ---------------------------------------------------------------------------- words
def _tokens_per_word(enc: Encoder, text: str, encoded=None) -> list[int]:
    """For each whitespace-delimited word, how many tokens overlap its bytes.

    Tokens are aligned to the text by their bytes when they spell it exactly (or by the
    character offsets the tokenizer reports); a token that straddles two words counts for both,
    whitespace-only tokens count for none. Otherwise each word is encoded on its own.
    """
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if not words:
        return []
    ids, char_spans = encoded if encoded is not None else enc.encode_with_offsets(text)
    if char_spans is not None and enc.token_bytes is None:
        starts, ends = [a for a, _ in char_spans], [b for _, b in char_spans]
        return [bisect.bisect_left(starts, e) - bisect.bisect_right(ends, s) for s, e in words]
    data = text.encode("utf-8")
    pieces = None
    if enc.token_bytes is not None:
        try:
            pieces = [enc.token_bytes(i) for i in ids]
        except Exception:  # noqa: BLE001 - unknown ids etc.: fall back below
            pieces = None
    if pieces is None or b"".join(pieces) != data:
        return [len(enc.encode(text[s:e])) for s, e in words]
    ends = list(np.cumsum([len(p) for p in pieces]))
    # char offsets -> byte offsets
    char_to_byte = _char_to_byte_offsets(text)
    counts = []
    for s, e in words:
        bs, be = char_to_byte[s], char_to_byte[e]
        first = bisect.bisect_right(ends, bs)
        last = bisect.bisect_left(ends, be)
        counts.append(last - first + 1)
    return counts


def _char_to_byte_offsets(text: str) -> list[int]:
    offsets = [0] * (len(text) + 1)
    pos = 0
    for i, ch in enumerate(text):
        offsets[i] = pos
        pos += len(ch.encode("utf-8", "surrogatepass"))
    offsets[len(text)] = pos
    return offsets


def word_stats(tok, texts) -> dict[str, float]:
    """Fertility (mean tokens per word) and the proportion of continued words (split into >= 2 tokens).

    Rust et al. 2021, "How Good is Your Tokenizer?". Words are whitespace-delimited, so for
    languages written without spaces (Chinese, Japanese, Thai) a "word" is a phrase and
    fertility is not comparable with spaced languages; compare tokenizers within a language.
    """
    enc = as_encoder(tok)
    counts: list[int] = []
    for text in _texts(texts):
        counts.extend(_tokens_per_word(enc, text))
    return _word_summary(counts)


def _word_summary(counts: list[int]) -> dict[str, float]:
    if not counts:
        return {"words": 0, "fertility": math.nan, "continued_words": math.nan}
    return {"words": len(counts), "fertility": sum(counts) / len(counts),
            "continued_words": sum(c > 1 for c in counts) / len(counts)}


def fertility(tok, texts) -> float:
    """Mean number of tokens per whitespace-delimited word (1.0 = every word is one token)."""
    return word_stats(tok, texts)["fertility"]


def continued_words(tok, texts) -> float:
    """Share of words split into two or more tokens."""
    return word_stats(tok, texts)["continued_words"]


# ---------------------------------------------------------------------------- fairness
def token_premiums(tok, parallel: Mapping[str, Sequence[str]], reference: str = "en") -> dict[str, float]:
    """Token premium of each language: tokens for its text / tokens for the same text in ``reference``.

    Petrov et al. 2023, "Language Model Tokenizers Introduce Unfairness Between Languages": on
    parallel text, a premium of 2.0 means the language pays twice the tokens (context, cost,
    latency) for the same content. 1.0 is parity. Ratio of corpus totals.
    """
    enc = as_encoder(tok)
    if reference not in parallel:
        raise InvalidInputError(f"reference language {reference!r} is not in the parallel data")
    sizes = {len(v) for v in parallel.values()}
    if len(sizes) != 1:
        raise InvalidInputError("parallel data must have the same number of sentences in every language")
    totals = {lang: sum(len(enc.encode(s)) for s in sents) for lang, sents in parallel.items()}
    ref = totals[reference]
    if ref == 0:
        raise InvalidInputError("the reference language encodes to no tokens")
    return {lang: n / ref for lang, n in totals.items()}


def parity(tok, parallel: Mapping[str, Sequence[str]], lang_a: str, lang_b: str) -> float:
    """Premium of ``lang_a`` relative to ``lang_b`` (parity when 1.0)."""
    return token_premiums(tok, {lang_a: parallel[lang_a], lang_b: parallel[lang_b]}, reference=lang_b)[lang_a]


# ---------------------------------------------------------------------------- distribution
def _flatten(ids) -> list[int]:
    ids = list(ids)
    if ids and not isinstance(ids[0], (int, np.integer)):
        return [int(i) for seq in ids for i in seq]
    return [int(i) for i in ids]


def renyi_efficiency(ids, alpha: float = 2.5, vocab_size: int | None = None) -> float:
    """Rényi efficiency of the unigram token distribution: H_alpha(p) / log2(V).

    Zouhar et al. 2023, "Tokenization and the Noiseless Channel": correlates with downstream
    quality; alpha = 2.5 was their best predictor. ``V`` is the number of distinct tokens seen
    unless ``vocab_size`` is given (the same convention as the ``tokenization-scorer`` package,
    whose figure this equals). ``alpha=1`` is Shannon efficiency. ``ids`` is a sequence of ids or
    of sequences.
    """
    flat = _flatten(ids)
    if not flat:
        raise InvalidInputError("no tokens to measure")
    if alpha < 0:
        raise InvalidInputError("alpha must be >= 0")
    counts = np.array(list(Counter(flat).values()), dtype=np.float64)
    p = counts / counts.sum()
    v = vocab_size if vocab_size is not None else len(counts)
    if v < 2:
        return math.nan
    if alpha == 1.0:
        entropy = float(-np.sum(p * np.log2(p)))
    else:
        entropy = float(np.log2(np.sum(p ** alpha)) / (1.0 - alpha))
    return entropy / math.log2(v)


def corpus_ids(tok, texts) -> list[list[int]]:
    enc = as_encoder(tok)
    return [enc.encode(t) for t in _texts(texts)]


def vocab_utilisation(tok, texts) -> float:
    """Share of the ordinary vocabulary that the corpus actually uses (Qtok / Magikarp style).

    Low values on in-domain text mean capacity spent on tokens this data never needs.
    """
    enc = as_encoder(tok)
    if enc.vocab_ids is None:
        raise InvalidInputError(f"{enc.name}: vocabulary utilisation needs a tokenizer with a vocab")
    used = {i for seq in corpus_ids(enc, texts) for i in seq}
    vocab = set(enc.vocab_ids)
    return len(used & vocab) / len(vocab)


def token_length_distribution(tok, texts=None) -> Counter:
    """Token length in UTF-8 bytes -> count: over the vocabulary, or over the tokens produced on ``texts``."""
    enc = as_encoder(tok)
    if texts is None:
        return Counter(len(b) for b in enc.vocab_tokens().values())
    if enc.token_bytes is None:
        raise InvalidInputError(f"{enc.name}: token lengths need token_bytes()")
    lengths: Counter = Counter()
    for seq in corpus_ids(enc, texts):
        lengths.update(len(enc.token_bytes(i)) for i in seq)
    return lengths


# ---------------------------------------------------------------------------- scripts
SCRIPTS = ["Latin", "Cyrillic", "Greek", "Arabic", "Hebrew", "Han", "Hiragana", "Katakana", "Hangul",
           "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Tamil", "Telugu", "Kannada", "Malayalam", "Sinhala",
           "Thai", "Lao", "Tibetan", "Myanmar", "Khmer", "Georgian", "Armenian", "Ethiopic"]
_SCRIPT_RE = regex.compile("|".join(rf"(?P<{s}>\p{{Script={s}}})" for s in SCRIPTS))
_script_cache: dict[str, str | None] = {}


def char_script(ch: str) -> str | None:
    """Unicode script of a letter (None for digits, punctuation, spaces, symbols)."""
    hit = _script_cache.get(ch)
    if hit is None and ch not in _script_cache:
        if unicodedata.category(ch)[0] in "LM":  # digits and punctuation have scripts too (Arabic-Indic digits)
            m = _SCRIPT_RE.match(ch)
            hit = m.lastgroup if m else "Other script"
        _script_cache[ch] = hit
    return hit


def token_category(token: bytes) -> str:
    """Qtok-style class of a token: a script name, "mixed scripts", "digits", "whitespace",
    "symbols/other" (punctuation, symbols, control characters) or "partial UTF-8"."""
    try:
        text = token.decode("utf-8")
    except UnicodeDecodeError:
        return "partial UTF-8"
    scripts = {s for s in map(char_script, text) if s is not None}
    if len(scripts) == 1:
        return scripts.pop()
    if len(scripts) > 1:
        return "mixed scripts"
    if text.isspace():
        return "whitespace"
    if any(unicodedata.category(c) == "Nd" for c in text) and all(
            unicodedata.category(c) == "Nd" or c.isspace() for c in text):
        return "digits"
    return "symbols/other"


def script_coverage(tok) -> dict[str, float]:
    """Share of the ordinary vocabulary per Unicode script (Chelombitko et al. 2024, "Qtok").

    A token belongs to a script when all its letters do; digits, whitespace, punctuation and
    partial UTF-8 pieces are their own classes. Shares sum to 1.
    """
    tokens = as_encoder(tok).vocab_tokens()
    counts = Counter(token_category(b) for b in tokens.values())
    total = sum(counts.values())
    return {k: v / total for k, v in counts.most_common()}


def language_completeness(tok, parallel: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Per language: share of its distinct non-space characters that the vocabulary holds as one token.

    Qtok's completeness idea on the language's own text: below 1.0, some of the alphabet is
    only representable as byte pieces (each such character costs 2-4 tokens).
    """
    enc = as_encoder(tok)
    tokens = set(enc.vocab_tokens().values())
    out = {}
    for lang, sents in parallel.items():
        chars = {c for s in sents for c in s if not c.isspace()}
        out[lang] = sum(c.encode("utf-8") in tokens for c in chars) / len(chars) if chars else math.nan
    return out


# ---------------------------------------------------------------------------- numbers
def number_split_consistency(tok, numbers: Iterable[int] | None = None, prefix: str = "") -> dict:
    """Do numbers of the same length split the same way?

    For each number (default 0..9999) the split pattern is the tuple of digit counts of its
    tokens ("1234" -> "123"+"4" = (3, 1)). Consistency is the share of numbers whose pattern is
    the most common one for their digit count (1.0 = a fixed scheme such as cl100k's 3-digit
    chunks; lower = arithmetic sees arbitrary chunks; Singh & Strouse 2024). Also reported:
    the share of numbers that are a single token.
    """
    enc = as_encoder(tok)
    if enc.token_bytes is None:
        raise InvalidInputError(f"{enc.name}: number splitting needs token_bytes()")
    numbers = list(range(10_000) if numbers is None else numbers)
    if not numbers:
        raise InvalidInputError("no numbers to test")
    by_length: dict[int, Counter] = {}
    single = 0
    for n in numbers:
        ids = enc.encode(prefix + str(n))
        pattern = tuple(k for k in (sum(ch.isdigit() for ch in enc.token_bytes(i).decode("utf-8", "replace"))
                                    for i in ids) if k)
        single += len(pattern) == 1
        by_length.setdefault(len(str(n)), Counter())[pattern] += 1
    agree = sum(c.most_common(1)[0][1] for c in by_length.values())
    return {"consistency": agree / len(numbers), "single_token": single / len(numbers),
            "patterns": {d: c.most_common(1)[0][0] for d, c in sorted(by_length.items())}}


# ---------------------------------------------------------------------------- summary
def summarize(tok, texts, alpha: float = 2.5) -> dict[str, float]:
    """The per-corpus row of the comparison table."""
    return summarize_with_ids(tok, texts, alpha)[0]


def summarize_with_ids(tok, texts, alpha: float = 2.5) -> tuple[dict[str, float], list[list[int]]]:
    """:func:`summarize` plus the ids of each text (each text is encoded once)."""
    enc = as_encoder(tok)
    texts = _texts(texts)
    encoded = [enc.encode_with_offsets(t) for t in texts]
    ids = [e[0] for e in encoded]
    n_tokens = sum(map(len, ids))
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    n_chars = sum(map(len, texts))
    row = {"tokens": n_tokens,
           "bytes_per_token": n_bytes / n_tokens if n_tokens else math.nan,
           "chars_per_token": n_chars / n_tokens if n_tokens else math.nan}
    counts = [c for t, e in zip(texts, encoded) for c in _tokens_per_word(enc, t, e)]
    row.update({k: v for k, v in _word_summary(counts).items() if k != "words"})
    row["renyi"] = renyi_efficiency(ids, alpha) if n_tokens else math.nan
    if enc.vocab_ids is not None:
        used = {i for seq in ids for i in seq}
        row["vocab_used"] = len(used & set(enc.vocab_ids)) / len(enc.vocab_ids)
    return row, ids
