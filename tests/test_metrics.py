"""Metrics on hand-computed small cases, and on real text against independent references
(tiktoken's own ids, the tokenization-scorer package)."""

from __future__ import annotations

import math
from collections import Counter
from types import SimpleNamespace

import pytest

from tokenlab.errors import InvalidInputError
from tokenlab.evaluate.metrics import (
    Encoder,
    compression,
    continued_words,
    fertility,
    language_completeness,
    number_split_consistency,
    parity,
    renyi_efficiency,
    script_coverage,
    summarize,
    token_category,
    token_length_distribution,
    token_premiums,
    vocab_utilisation,
    word_stats,
)
from tokenlab.tokenizer import Tokenizer


def tiny(merges=(), pretokenizer=None):
    """Byte-level BPE: the 256 bytes (ids 0..255) then one token per merge (ids 256..)."""
    vocab = {bytes([i]): i for i in range(256)}
    out = []
    for a, b in merges:
        a, b = (x.encode() if isinstance(x, str) else x for x in (a, b))
        vocab[a + b] = len(vocab)
        out.append((a, b))
    return Tokenizer(vocab, out, pretokenizer=pretokenizer)


AB = tiny([("a", "b")])  # "abab c" -> [ab, ab, ' ', c]


# ---------------------------------------------------------------------------- compression
def test_compression_counts_bytes_and_chars():
    # "abab c": 4 tokens, 6 bytes; "abé": ab, 0xC3, 0xA9 = 3 tokens, 4 bytes, 3 chars
    r = compression(AB, ["abab c", "abé"])
    assert (r["tokens"], r["bytes"], r["chars"]) == (7, 10, 9)
    assert r["bytes_per_token"] == pytest.approx(10 / 7)
    assert r["chars_per_token"] == pytest.approx(9 / 7)
    assert compression(AB, "abab c")["bytes_per_token"] == 1.5


# ---------------------------------------------------------------------------- words
def test_fertility_and_continued_words():
    # ab | ' ' | ab | ' ' | c d : words ab (1), ab (1), cd (2)
    r = word_stats(AB, "ab ab cd")
    assert r == {"words": 3, "fertility": pytest.approx(4 / 3), "continued_words": pytest.approx(1 / 3)}
    assert fertility(AB, ["ab ab cd"]) == pytest.approx(4 / 3)
    assert continued_words(AB, ["ab ab cd"]) == pytest.approx(1 / 3)


def test_token_spanning_a_space_counts_for_both_words():
    tok = tiny([("b", " "), ("b ", "c")])  # "ab cd" -> a | "b c" | d
    assert tok.encode("ab cd") == [97, 257, 100]
    r = word_stats(tok, "ab cd")
    assert r["fertility"] == 2.0 and r["continued_words"] == 1.0
    # trailing space token belongs to no word: "ab " -> a | "b " ; word ab has 2 tokens
    assert word_stats(tiny([("b", " ")]), "ab ")["fertility"] == 2.0


def test_fertility_of_callable_encodes_each_word():
    # a plain callable has no token bytes: words are encoded one by one (here: one id per character)
    assert fertility(lambda text: [ord(c) for c in text], "ab  cde\n") == pytest.approx(2.5)


def test_multibyte_words_align_by_bytes():
    # "é é": 0xC3 0xA9 ' ' 0xC3 0xA9 -> each word 2 tokens; with a merge for é -> 1 token each
    assert fertility(AB, "é é") == 2.0
    assert fertility(tiny([(b"\xc3", b"\xa9")]), "é é") == 1.0


# ---------------------------------------------------------------------------- premiums
def test_token_premium_hand_case():
    par = {"en": ["ab", "ab ab"], "xx": ["abc", "c c c"]}
    # en: 1 + 3 = 4 tokens; xx: (ab, c) 2 + 5 = 7 tokens
    assert token_premiums(AB, par) == {"en": 1.0, "xx": 1.75}
    assert parity(AB, par, "xx", "en") == 1.75
    assert parity(AB, par, "en", "xx") == pytest.approx(4 / 7)
    with pytest.raises(InvalidInputError):
        token_premiums(AB, {"en": ["a"], "xx": ["a", "b"]})
    with pytest.raises(InvalidInputError):
        token_premiums(AB, {"xx": ["a"]})


def test_token_premium_on_django_text_matches_tiktoken(cl100k, cl100k_ref):
    from tokenlab.evaluate.data import django_parallel

    par = django_parallel(["en", "de", "ja", "ka"])
    ours = token_premiums(cl100k, par)
    totals = {lang: sum(len(cl100k_ref.encode_ordinary(s)) for s in sents) for lang, sents in par.items()}
    assert ours == {lang: pytest.approx(n / totals["en"], rel=1e-12) for lang, n in totals.items()}
    assert ours["ka"] > ours["de"] > 1.0  # Georgian pays far more than German with cl100k


# ---------------------------------------------------------------------------- Rényi
def test_renyi_hand_case():
    # p = (1/2, 1/4, 1/4), V = 3: H_2 = -log2(1/4 + 1/16 + 1/16) = -log2(0.375)
    assert renyi_efficiency([0, 0, 1, 2], alpha=2) == pytest.approx(-math.log2(0.375) / math.log2(3))
    # Shannon: H = 1.5 bits
    assert renyi_efficiency([[0, 0], [1, 2]], alpha=1) == pytest.approx(1.5 / math.log2(3))
    # uniform distribution: efficiency 1 for every alpha
    assert renyi_efficiency([5, 6, 7, 8], alpha=2.5) == pytest.approx(1.0)
    # explicit vocabulary size: H_2 of uniform over 4 = 2 bits, V = 16 -> 0.5
    assert renyi_efficiency([5, 6, 7, 8], alpha=2, vocab_size=16) == pytest.approx(0.5)
    with pytest.raises(InvalidInputError):
        renyi_efficiency([])


@pytest.mark.parametrize("alpha", [2.5, 3.0, 1.5])
def test_renyi_equals_tokenization_scorer(cl100k, real_docs, alpha):
    import tokenization_scorer

    ids = [cl100k.encode_ordinary(d) for d in real_docs[:40]]
    text = "\n".join(" ".join(map(str, seq)) for seq in ids)
    theirs = tokenization_scorer.score(text, metric="renyi", power=alpha)
    assert renyi_efficiency(ids, alpha=alpha) == pytest.approx(theirs, abs=1e-9)
    theirs_v = tokenization_scorer.score(text, metric="renyi", power=alpha, vocab=cl100k.n_vocab)
    assert renyi_efficiency(ids, alpha=alpha, vocab_size=cl100k.n_vocab) == pytest.approx(theirs_v, abs=1e-9)


def test_shannon_equals_tokenization_scorer(trained, real_docs):
    import tokenization_scorer

    ids = [trained.encode_ordinary(d) for d in real_docs[-30:]]
    text = "\n".join(" ".join(map(str, seq)) for seq in ids)
    assert renyi_efficiency(ids, alpha=1.0) == pytest.approx(tokenization_scorer.score(text, metric="shannon"),
                                                             abs=1e-9)


# ---------------------------------------------------------------------------- vocabulary
def test_vocab_utilisation():
    assert vocab_utilisation(AB, ["abab"]) == 1 / 257
    assert vocab_utilisation(AB, ["abab", "c"]) == 2 / 257
    with pytest.raises(InvalidInputError):
        vocab_utilisation(lambda t: [1], ["x"])


def test_token_length_distribution():
    assert token_length_distribution(AB) == Counter({1: 256, 2: 1})
    assert token_length_distribution(AB, ["abab c"]) == Counter({2: 2, 1: 2})


def test_token_categories():
    assert token_category(b"hello") == "Latin"
    assert token_category(" мир".encode()) == "Cyrillic"
    assert token_category("日本".encode()) == "Han"
    assert token_category("のは".encode()) == "Hiragana"
    assert token_category("a日".encode()) == "mixed scripts"
    assert token_category("ქართ".encode()) == "Georgian"
    assert token_category(b" 12") == "digits"
    assert token_category(b"\n\n") == "whitespace"
    assert token_category(b"!=") == "symbols/other"
    assert token_category(b"\xe6\x97") == "partial UTF-8"


def test_script_coverage_hand_count():
    # 256 bytes: 52 ASCII letters, 10 digits, 10 whitespace (\t..\r, \x1c..\x1f, space),
    # 128 partial UTF-8 (>= 0x80), 56 other; plus the merged token "д" (Cyrillic)
    tok = tiny([(b"\xd0", b"\xb4")])
    cov = script_coverage(tok)
    expected = {"Latin": 52, "digits": 10, "whitespace": 10, "partial UTF-8": 128, "symbols/other": 56,
                "Cyrillic": 1}
    assert cov == {k: pytest.approx(v / 257) for k, v in expected.items()}
    assert sum(cov.values()) == pytest.approx(1.0)


def test_language_completeness():
    par = {"en": ["ab a"], "ru": ["да"]}
    assert language_completeness(AB, par) == {"en": 1.0, "ru": 0.0}
    with_d = tiny([(b"\xd0", b"\xb4")])
    assert language_completeness(with_d, par) == {"en": 1.0, "ru": 0.5}


# ---------------------------------------------------------------------------- numbers
def test_number_split_hand_case():
    tok = tiny([("1", "2")])
    r = number_split_consistency(tok, range(10, 20))
    # only "12" is one token; the other nine split 1+1
    assert r["consistency"] == pytest.approx(0.9) and r["single_token"] == pytest.approx(0.1)
    assert r["patterns"] == {2: (1, 1)}
    r = number_split_consistency(tok, range(20))
    assert r["consistency"] == pytest.approx(19 / 20) and r["patterns"] == {1: (1,), 2: (1, 1)}


def test_number_split_cl100k_matches_tiktoken(cl100k, cl100k_ref):
    nums = range(0, 10_000, 13)
    r = number_split_consistency(cl100k, nums)
    patterns = {}
    for n in nums:
        pieces = [cl100k_ref.decode_single_token_bytes(i) for i in cl100k_ref.encode_ordinary(str(n))]
        patterns.setdefault(len(str(n)), Counter())[tuple(len(p) for p in pieces)] += 1
    expected = sum(c.most_common(1)[0][1] for c in patterns.values()) / len(nums)
    assert r["consistency"] == pytest.approx(expected)
    assert r["patterns"] == {d: c.most_common(1)[0][0] for d, c in patterns.items()}
    assert r["patterns"][4] == (3, 1)  # cl100k: digits in left-aligned chunks of 3


# ---------------------------------------------------------------------------- adapters & summary
def test_encoder_adapters():
    hf_like = SimpleNamespace(encode=lambda t: SimpleNamespace(ids=[1] * len(t.split())))
    assert compression(hf_like, "a b c")["tokens"] == 3
    assert Encoder(AB).encode("abab") == [256, 256]
    with pytest.raises(InvalidInputError):
        Encoder(object())


def test_summary_on_real_code_matches_tiktoken(cl100k, cl100k_ref):
    from tokenlab.evaluate.data import stdlib_code

    docs = stdlib_code(60_000)
    row = summarize(cl100k, docs)
    n = sum(len(cl100k_ref.encode_ordinary(d)) for d in docs)
    n_bytes = sum(len(d.encode()) for d in docs)
    assert row["tokens"] == n
    assert row["bytes_per_token"] == pytest.approx(n_bytes / n)
    used = {i for d in docs for i in cl100k_ref.encode_ordinary(d)}
    assert row["vocab_used"] == pytest.approx(len(used) / 100_256)
    assert 1.0 < row["fertility"] < 5.0 and 0 < row["continued_words"] < 1


def test_digits_of_every_script_are_digits_not_that_script():
    """char_script gives letters (and marks) a script; digits, whatever script Unicode files them under
    (Arabic-Indic, Devanagari, Thai, fullwidth), are "digits", as the docstring says."""
    import unicodedata

    from tokenlab.evaluate.metrics import char_script, token_category

    digits = [chr(c) for c in range(0x80, 0x10000) if unicodedata.category(chr(c)) == "Nd"]
    assert len(digits) > 300
    for d in digits:
        assert char_script(d) is None, (hex(ord(d)), unicodedata.name(d, "?"))
        assert token_category((d * 2).encode()) == "digits", hex(ord(d))
    for letter, script in [("ب", "Arabic"), ("क", "Devanagari"), ("ก", "Thai"), ("Ａ", "Latin")]:
        assert char_script(letter) == script and token_category(letter.encode()) == script
    assert token_category("٣ب".encode()) == "Arabic"  # a digit beside letters: the letters' script
