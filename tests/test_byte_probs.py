"""Byte-level probabilities checked against enumeration of token sequences (known answers)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tokenlab import InvalidInputError, PreTokenizer, Tokenizer
from tokenlab.transfer import ByteLevelModel, next_byte_distribution

ALPHABET = [b"a", b"b", b"c"]


def tiny_tokenizer() -> Tokenizer:
    vocab = {bytes([i]): i for i in range(256)}
    merges = [(b"a", b"b"), (b"b", b"c"), (b"ab", b"c"), (b"a", b"a")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return Tokenizer(vocab=vocab, merges=merges, pretokenizer=PreTokenizer(None), special_tokens={"<eos>": 260})


class MarkovLM:
    """First-order Markov chain over a few tokens (the rest get probability 0)."""

    def __init__(self, tok, seed=0):
        self.support = [tok.vocab[t] for t in (b"a", b"b", b"c", b"ab", b"bc", b"abc", b"aa")]
        rng = np.random.default_rng(seed)
        k = len(self.support)
        self.start = rng.dirichlet(np.ones(k))
        self.trans = rng.dirichlet(np.ones(k), size=k)
        self.pos = {t: j for j, t in enumerate(self.support)}
        self.size = tok.n_vocab
        self.calls = 0

    def __call__(self, context):
        self.calls += 1
        row = self.start if not context else self.trans[self.pos[context[-1]]]
        out = np.zeros(self.size)
        out[self.support] = row
        return out

    def sequence_probability(self, seq):
        p = self.start[self.pos[seq[0]]]
        for a, b in itertools.pairwise(seq):
            p *= self.trans[self.pos[a], self.pos[b]]
        return p


def enumerated_prefix_probs(lm, tok, length):
    """P(bytes start with y) for every y, by summing over all token sequences of ``length`` tokens
    (every such sequence spells >= length bytes, so this is exact for |y| <= length)."""
    probs: dict[bytes, float] = {}
    for seq in itertools.product(lm.support, repeat=length):
        p = lm.sequence_probability(seq)
        data = tok.decode_bytes(seq)
        for n in range(length + 1):
            probs[data[:n]] = probs.get(data[:n], 0.0) + p
    return probs


PREFIXES = [b"", b"a", b"b", b"ab", b"abc", b"aab", b"bca", b"cab", b"abca", b"aaaa", b"cbcb"]


def test_markov_lm_matches_enumeration():
    tok = tiny_tokenizer()
    lm = MarkovLM(tok)
    ref = enumerated_prefix_probs(lm, tok, 5)
    model = ByteLevelModel(lm, tok)
    for x in PREFIXES:
        got = model.next_byte(x)
        assert got.prefix_probability == pytest.approx(ref[x], abs=1e-12)
        for b in range(256):
            want = ref.get(x + bytes([b]), 0.0) / ref[x]
            assert abs(got.probs[b] - want) < 1e-9, (x, b)
        assert got.end == 0.0
        assert got.probs.sum() == pytest.approx(1.0, abs=1e-12)


def test_markov_lm_differs_from_naive_last_token_view():
    # sanity that the test has teeth: the byte after "a" is not the model's one-step token view
    tok = tiny_tokenizer()
    lm = MarkovLM(tok, seed=3)
    got = next_byte_distribution(lm, tok, b"a")
    ref = enumerated_prefix_probs(lm, tok, 2)
    assert got.probs[ord("b")] == pytest.approx(ref[b"ab"] / ref[b"a"], abs=1e-12)
    naive = lm(())[tok.vocab[b"ab"]] + lm(())[tok.vocab[b"abc"]]
    assert abs(got.probs[ord("b")] - naive) > 1e-3


class StringLM:
    """A distribution over a finite set of texts, exposed as a token-level LM with EOS whose
    token sequences are the tokenizer's canonical encodings (so the true byte-level answer is
    known directly from the strings)."""

    def __init__(self, tok, strings: dict[bytes, float], eos_id: int):
        total = sum(strings.values())
        self.strings = {s: p / total for s, p in strings.items()}
        self.encoded = {s: tuple(tok.encode(s.decode("utf-8"))) for s in self.strings}
        self.eos_id, self.size = eos_id, tok.n_vocab

    def __call__(self, context):
        out = np.zeros(self.size)
        n = len(context)
        for s, enc in self.encoded.items():
            if enc[:n] == context:
                out[enc[n] if len(enc) > n else self.eos_id] += self.strings[s]
        total = out.sum()
        return out / total if total else np.full(self.size, 1.0 / self.size)

    def truth(self, x: bytes):
        mass = sum(p for s, p in self.strings.items() if s.startswith(x))
        nxt = np.zeros(256)
        for s, p in self.strings.items():
            if s.startswith(x) and len(s) > len(x):
                nxt[s[len(x)]] += p
        end = self.strings.get(x, 0.0)
        return mass, nxt / mass, end / mass


@pytest.mark.parametrize("valid_only", [False, True])
def test_string_lm_tiny(valid_only):
    tok = tiny_tokenizer()
    rng = np.random.default_rng(1)
    strings = {}
    for _ in range(40):
        s = b"".join(ALPHABET[i] for i in rng.integers(0, 3, size=rng.integers(1, 7)))
        strings[s] = strings.get(s, 0.0) + float(rng.random())
    lm = StringLM(tok, strings, eos_id=260)
    model = ByteLevelModel(lm, tok, eos_id=260, valid_only=valid_only)
    prefixes = {s[:n] for s in strings for n in range(len(s) + 1)}
    for x in sorted(prefixes):
        got = model.next_byte(x)
        mass, nxt, end = lm.truth(x)
        assert got.prefix_probability == pytest.approx(mass, abs=1e-12)
        np.testing.assert_allclose(got.probs, nxt, rtol=0, atol=1e-9)
        assert got.end == pytest.approx(end, abs=1e-9)
    for s, p in lm.strings.items():
        assert model.byte_logprob(s) + math.log(model.next_byte(s).end) == pytest.approx(math.log(p), abs=1e-9)
    # greedy byte decoding follows the strings' own most likely next byte (or end)
    for start in (b"", b"a", b"b", b"c"):
        x = start
        while lm.truth(x)[0] > 0:
            _, nxt, end = lm.truth(x)
            if end >= nxt.max():
                break
            x += bytes([int(np.argmax(nxt))])
        want = x[len(start):]
        if lm.truth(start)[0] > 0:
            assert model.generate(start, greedy=True) == want
    # sampling only ever produces strings of the distribution
    for seed in range(5):
        assert model.generate(b"", seed=seed) in lm.strings


def test_string_lm_cl100k(cl100k):
    # real vocabulary, real multi-byte text: covers run through tokens like " https" and "://"
    texts = ["The url is https://example.com", "The url is http://x.org", "The uri scheme",
             "Thé café", "Thermal", "The url is https:", "日本語のテキスト", "日本",
             "if x:\n    0", "if x:\n    return 0", "if x:\n  \n"]
    strings = {t.encode("utf-8"): float(i + 1) for i, t in enumerate(texts)}
    eos = cl100k.special_tokens["<|endoftext|>"]
    lm = StringLM(cl100k, strings, eos_id=eos)
    model = ByteLevelModel(lm, cl100k, eos_id=eos, valid_only=True)
    for x in [b"", b"T", b"The", b"The ", b"The url is http", b"The url is https:", b"Th\xc3", b"\xe6\x97",
              "日本".encode(), b"if x:\n", b"if x:\n   ", b"if x:\n    ", b"if x:\n    r"]:
        got = model.next_byte(x)
        mass, nxt, end = lm.truth(x)
        assert got.prefix_probability == pytest.approx(mass, abs=1e-12), x
        np.testing.assert_allclose(got.probs, nxt, rtol=0, atol=1e-9)
        assert got.end == pytest.approx(end, abs=1e-9)


def test_prefixes_of_canonical_encodings_are_kept(cl100k, real_text):
    # valid_only prunes a partial tokenization only if no continuation makes it canonical; every
    # token prefix of a real canonical encoding must survive (cl100k's whitespace look-ahead makes
    # "\n    " one token at the end of text but "   " + " " before a digit)
    import random

    model = ByteLevelModel(lambda ctx: None, cl100k, valid_only=True)
    rng = random.Random(0)
    for _ in range(150):
        start = rng.randrange(len(real_text) - 100)
        ids = cl100k.encode_ordinary(real_text[start : start + 60])
        for k in range(1, len(ids) + 1):
            assert model._canonical(tuple(ids[:k]), cl100k.decode_bytes(ids[:k])), (real_text[start:start + 60], k)
    assert not model._canonical(tuple(cl100k.encode_ordinary("h") + cl100k.encode_ordinary("ello")), b"hello")


def test_bad_inputs():
    tok = tiny_tokenizer()
    with pytest.raises(InvalidInputError):
        ByteLevelModel("not callable", tok)
    with pytest.raises(InvalidInputError, match="shape"):
        next_byte_distribution(lambda ctx: np.ones(3), tok, b"a")
    with pytest.raises(InvalidInputError, match="partial tokenizations"):
        next_byte_distribution(lambda ctx: np.full(261, 1 / 261), tok, b"a" * 40, max_paths=1000)
    with pytest.raises(InvalidInputError):
        next_byte_distribution(MarkovLM(tok), tok, 12)
