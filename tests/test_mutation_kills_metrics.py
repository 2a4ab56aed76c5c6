"""Tests written for the mutants of evaluate/metrics.py that survived the run over the mutants outside its first
sample (docs/testing.md): each checks a metric against its definition or the documented contract."""

from __future__ import annotations

import json
import re
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from tokenlab.errors import InvalidInputError
from tokenlab.evaluate.metrics import (
    Encoder,
    number_split_consistency,
    renyi_efficiency,
    summarize,
    summarize_with_ids,
)
from tokenlab.tokenizer import Tokenizer

TEXTS = ["abab c", "ab  ab\tcd\n", "héllo wörld ab", "  ", "x", "日本 語ab", "b ab b"]


def _tok(merges=()):
    """Byte-level BPE over the 256 bytes (ids 0..255) plus one token per merge (ids 256..), no pre-tokenizer."""
    vocab = {bytes([i]): i for i in range(256)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return Tokenizer(vocab, list(merges), pretokenizer=None)


def _word_counts(token_bytes, text: str, ids) -> list[int]:
    """The definition: for each whitespace-delimited word, the number of tokens whose bytes overlap its bytes."""
    ends = np.cumsum([len(token_bytes(i)) for i in ids]).tolist()
    spans = list(zip([0] + ends[:-1], ends))
    counts = []
    for m in re.finditer(r"\S+", text):
        s, e = len(text[:m.start()].encode()), len(text[:m.end()].encode())
        counts.append(sum(a < e and b > s for a, b in spans))
    return counts


def test_ids_are_python_ints_whatever_array_the_tokenizer_returns():
    """``Encoder.encode`` returns ``list[int]``: numpy ids (a callable's array, an HF-like ``.ids`` array) become
    Python ints, so the ids ``summarize_with_ids`` hands back serialise to JSON like any list of ids."""
    def as_array(text):
        return np.array([ord(c) for c in text], dtype=np.int32)

    hf_like = SimpleNamespace(encode=lambda t: SimpleNamespace(ids=as_array(t), offsets=[(i, i + 1) for i in
                                                                                          range(len(t))]))
    for tok in (as_array, hf_like):
        enc = Encoder(tok)
        ids, spans = enc.encode_with_offsets("héllo")
        assert ids == as_array("héllo").tolist() and all(type(i) is int for i in ids)
        assert enc.encode("ab") == [97, 98] and all(type(i) is int for i in enc.encode("ab"))
        row, seqs = summarize_with_ids(tok, TEXTS)
        assert json.loads(json.dumps(seqs)) == [as_array(t).tolist() for t in TEXTS]
    assert Encoder(hf_like).encode_with_offsets("ab")[1] == [(0, 1), (1, 2)]


def test_vocab_tokens_needs_every_key_to_be_bytes():
    """A byte-level vocabulary has bytes keys only; a str key anywhere (not just among the first few) is refused,
    since its length would be counted in characters."""
    good = {bytes([i]): i for i in range(40)}
    assert Encoder(SimpleNamespace(name="g", encode=list, vocab=good)).vocab_tokens() == {i: t for t, i in
                                                                                         good.items()}
    for position in (0, 9, 10, 11, 39):
        keys = list(good)
        keys[position] = keys[position].decode("latin-1")
        mixed = dict(zip(keys, good.values()))
        with pytest.raises(InvalidInputError, match=r"^mixed: this metric needs a byte-level vocabulary$"):
            Encoder(SimpleNamespace(name="mixed", encode=list, vocab=mixed)).vocab_tokens()


def test_number_splits_default_to_no_prefix():
    """Without ``prefix`` each number is encoded alone. The tokenizer here merges a letter with a digit before two
    digits, so any letter put in front would change the patterns."""
    tok = _tok([(b"X", b"1"), (b"1", b"2")])
    numbers = list(range(130))
    patterns: dict[int, Counter] = {}
    single = 0
    for n in numbers:
        pieces = [tok.token_bytes(i) for i in tok.encode_ordinary(str(n))]
        pattern = tuple(k for k in (sum(c.isdigit() for c in p.decode()) for p in pieces) if k)
        patterns.setdefault(len(str(n)), Counter())[pattern] += 1
        single += len(pattern) == 1
    r = number_split_consistency(tok, numbers)
    assert r == number_split_consistency(tok, numbers, prefix="")
    assert r["consistency"] == pytest.approx(sum(c.most_common(1)[0][1] for c in patterns.values()) / len(numbers))
    assert r["single_token"] == pytest.approx(single / len(numbers))
    assert r["patterns"] == {d: c.most_common(1)[0][0] for d, c in sorted(patterns.items())}
    assert number_split_consistency(tok, numbers, prefix="X") != r  # a letter in front does change them


def test_summary_renyi_uses_the_alpha_given_and_2_5_by_default():
    tok = _tok([(b"a", b"b"), (b"b", b" "), (b"\xc3", b"\xa9")])
    row, ids = summarize_with_ids(tok, TEXTS)
    assert renyi_efficiency(ids, alpha=1.5) != pytest.approx(renyi_efficiency(ids, alpha=2.5))  # alpha matters here
    assert row["renyi"] == pytest.approx(renyi_efficiency(ids, alpha=2.5))  # Zouhar et al.'s best predictor
    for alpha in (1.0, 1.5, 3.0):
        assert summarize(tok, TEXTS, alpha=alpha)["renyi"] == pytest.approx(renyi_efficiency(ids, alpha=alpha))
        assert summarize(tok, TEXTS, alpha)["renyi"] == summarize_with_ids(tok, TEXTS, alpha)[0]["renyi"]


class _Flipping:
    """A stochastic-like tokenizer: every call alternates between merged ids and one id per byte."""

    def __init__(self):
        self.merged, self.plain = _tok([(b"a", b"b"), (b"b", b" "), (b"ab", b"ab")]), _tok()
        self.calls = 0

    def encode_ordinary(self, text):
        self.calls += 1
        return (self.merged if self.calls % 2 else self.plain).encode_ordinary(text)

    def token_bytes(self, i):
        return self.merged.token_bytes(i)


def test_summary_encodes_each_text_once_and_counts_words_on_those_ids():
    """``summarize_with_ids`` encodes each text once, so with a tokenizer whose output varies between calls (BPE
    dropout, sampling) the word columns describe the very ids the row counts."""
    flipping = _Flipping()
    row, ids = summarize_with_ids(flipping, TEXTS)
    assert flipping.calls == len(TEXTS)
    counts = [c for t, seq in zip(TEXTS, ids) for c in _word_counts(flipping.token_bytes, t, seq)]
    assert row["tokens"] == sum(map(len, ids))
    assert row["fertility"] == pytest.approx(sum(counts) / len(counts))
    assert row["continued_words"] == pytest.approx(sum(c > 1 for c in counts) / len(counts))
    assert [flipping.encode_ordinary(t) for t in TEXTS] != ids  # encoding the texts again gives other ids
