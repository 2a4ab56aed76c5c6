"""Cross-tokenizer tools: aligned spans, chunk likelihoods, next-byte ensembles checked by enumeration."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab import InvalidInputError, PreTokenizer, Tokenizer
from tokenlab.byte_tokenizer import ByteTokenizer
from tokenlab.cli import main
from tokenlab.transfer import ByteLevelModel
from tokenlab.transfer.cross import (
    BigramLM,
    ByteEnsemble,
    align_tokenizations,
    alignment_summary,
    chunk_logprobs,
)


def make_tokenizer(extra: list[tuple[bytes, bytes]]) -> Tokenizer:
    vocab = {bytes([i]): i for i in range(256)}
    for a, b in extra:
        vocab[a + b] = len(vocab)
    return Tokenizer(vocab=vocab, merges=extra, pretokenizer=PreTokenizer(None))


TOK_A = make_tokenizer([(b"a", b"b"), (b"ab", b"a")])  # tokens a, b, ab, aba
TOK_B = make_tokenizer([(b"b", b"a"), (b"b", b"b")])  # tokens a, b, ba, bb


class MarkovLM:
    """First-order Markov chain over a few tokens of a tokenizer (other ids get probability 0)."""

    def __init__(self, tok, pieces, seed):
        self.support = [tok.vocab[p] for p in pieces]
        rng = np.random.default_rng(seed)
        k = len(self.support)
        self.start, self.trans = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k), size=k)
        self.pos = {t: j for j, t in enumerate(self.support)}
        self.size = tok.n_vocab

    def __call__(self, context):
        row = self.start if not context else self.trans[self.pos[context[-1]]]
        out = np.zeros(self.size)
        out[self.support] = row
        return out

    def probability(self, seq):
        p = self.start[self.pos[seq[0]]]
        for a, b in itertools.pairwise(seq):
            p *= self.trans[self.pos[a], self.pos[b]]
        return p


def prefix_probs(lm, tok, length):
    """P(text starts with y) for every y of at most ``length`` bytes, by enumerating all token sequences of
    ``length`` tokens (each spells >= length bytes)."""
    out: dict[bytes, float] = {}
    for seq in itertools.product(lm.support, repeat=length):
        p = lm.probability(seq)
        data = tok.decode_bytes(seq)
        for n in range(length + 1):
            out[data[:n]] = out.get(data[:n], 0.0) + p
    return out


LM_A = MarkovLM(TOK_A, [b"a", b"b", b"ab", b"aba"], seed=1)
LM_B = MarkovLM(TOK_B, [b"a", b"b", b"ba", b"bb"], seed=2)
L = 5
PA, PB = prefix_probs(LM_A, TOK_A, L), prefix_probs(LM_B, TOK_B, L)
PREFIXES = [b"", b"a", b"b", b"ab", b"ba", b"aba", b"bab", b"abba"]


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("w", [0.5, 0.2])
def test_mixture_ensemble_matches_enumeration(prefix, w):
    ens = ByteEnsemble([ByteLevelModel(LM_A, TOK_A), ByteLevelModel(LM_B, TOK_B)], weights=[w, 1 - w])
    nb = ens.next_byte(prefix)
    mix = lambda y: w * PA.get(y, 0.0) + (1 - w) * PB.get(y, 0.0)  # noqa: E731
    for byte in b"ab":
        expected = mix(prefix + bytes([byte])) / mix(prefix)
        assert nb.probs[byte] == pytest.approx(expected, rel=1e-9)
    assert nb.probs.sum() == pytest.approx(1.0) and nb.prefix_probability == pytest.approx(mix(prefix))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_average_ensemble_matches_enumeration(prefix):
    ens = ByteEnsemble([ByteLevelModel(LM_A, TOK_A), ByteLevelModel(LM_B, TOK_B)], weights=[3, 1], mode="average")
    nb = ens.next_byte(prefix)
    for byte in b"ab":
        y = prefix + bytes([byte])
        expected = 0.75 * PA.get(y, 0.0) / PA[prefix] + 0.25 * PB.get(y, 0.0) / PB[prefix]
        assert nb.probs[byte] == pytest.approx(expected, rel=1e-9)


def test_ensemble_sequence_probability_is_the_mixture():
    ens = ByteEnsemble([ByteLevelModel(LM_A, TOK_A), ByteLevelModel(LM_B, TOK_B)])
    for y in [b"abab", b"bbab", b"aaab"]:
        assert math.exp(ens.byte_logprob(y)) == pytest.approx(0.5 * PA[y] + 0.5 * PB[y], rel=1e-9)


def test_ensemble_where_one_model_cannot_continue():
    only_a = MarkovLM(TOK_A, [b"a"], seed=0)  # spells only "aaaa..."
    ens = ByteEnsemble([ByteLevelModel(only_a, TOK_A), ByteLevelModel(LM_B, TOK_B)], mode="average")
    nb = ens.next_byte(b"b")  # impossible for the first model: the second decides alone
    assert nb.probs[ord("a")] == pytest.approx(PB[b"ba"] / PB[b"b"])
    with pytest.raises(InvalidInputError):
        ByteEnsemble([], mode="mixture")
    with pytest.raises(InvalidInputError):
        ByteEnsemble([ByteLevelModel(LM_A, TOK_A)], mode="vote")
    with pytest.raises(InvalidInputError):
        ByteEnsemble([ByteLevelModel(LM_A, TOK_A)], weights=[-1])


# ---------------------------------------------------------------------------- alignment
def test_alignment_known_spans():
    text = "ababba"
    assert [TOK_A.token_bytes(i) for i in TOK_A.encode(text)] == [b"ab", b"ab", b"b", b"a"]
    assert [TOK_B.token_bytes(i) for i in TOK_B.encode(text)] == [b"a", b"ba", b"b", b"ba"]
    spans = align_tokenizations(TOK_A, TOK_B, text)  # boundaries {2,4,5,6} and {1,3,4,6} share 4 and 6
    assert [(s.start, s.end, s.a, s.b) for s in spans] == [(0, 4, (0, 2), (0, 3)), (4, 6, (2, 4), (3, 4))]
    assert alignment_summary(spans) == {"chunks": 2, "one_to_one": 0.0, "tokens_a_per_chunk": 2.0,
                                        "tokens_b_per_chunk": 2.0}
    same = align_tokenizations(TOK_A, TOK_A, text)
    assert len(same) == 4 and alignment_summary(same)["one_to_one"] == 1.0


def test_alignment_with_real_tokenizers_spells_the_text():
    from tokenlab.evaluate.report import reference_tokenizer

    a, b = reference_tokenizer("cl100k"), ByteTokenizer()
    text = "Tokenizers disagree: naïve café 日本語 😀!"
    spans = align_tokenizations(a, b, text)
    ids_a, ids_b = a.encode_ordinary(text), b.encode_ordinary(text)
    data = text.encode()
    assert spans[0].start == 0 and spans[-1].end == len(data)
    for s, nxt in zip(spans, spans[1:]):
        assert s.end == nxt.start and s.a[1] == nxt.a[0] and s.b[1] == nxt.b[0]
    for s in spans:
        assert a.decode_bytes(ids_a[s.a[0]:s.a[1]]) == data[s.start:s.end] == b.decode_bytes(ids_b[s.b[0]:s.b[1]])
        assert s.a[1] - s.a[0] == 1  # every cl100k boundary is a byte boundary: chunks are cl100k tokens


def test_alignment_of_given_ids_and_bad_ids():
    ids = [TOK_A.vocab[b"ab"], TOK_A.vocab[b"a"]]  # a non-canonical tokenization of "aba"
    spans = align_tokenizations(TOK_A, TOK_B, "aba", ids_a=ids)
    assert [(s.a, s.b) for s in spans] == [((0, 2), (0, 2))]
    with pytest.raises(InvalidInputError):
        align_tokenizations(TOK_A, TOK_B, "abba", ids_a=ids)


def test_chunk_logprobs_sum_token_logprobs():
    text = "ababba"
    spans = align_tokenizations(TOK_A, TOK_B, text)
    ids_a, ids_b = TOK_A.encode(text), TOK_B.encode(text)
    la, lb = chunk_logprobs(LM_A, ids_a, spans, "a"), chunk_logprobs(LM_B, ids_b, spans, "b")
    assert sum(la) == pytest.approx(math.log(LM_A.probability(ids_a)))
    assert sum(lb) == pytest.approx(math.log(LM_B.probability(ids_b)))
    assert la[0] == pytest.approx(math.log(LM_A.probability(ids_a[:2])))  # chunk 1 = the first two A tokens


def test_bigram_lm():
    lm = BigramLM(TOK_A, ["abab", "ab"], alpha=1e-9)
    p = lm((TOK_A.vocab[b"ab"],))
    assert p.sum() == pytest.approx(1.0) and p[TOK_A.vocab[b"ab"]] == pytest.approx(1.0, abs=1e-5)
    assert lm(())[TOK_A.vocab[b"ab"]] == pytest.approx(1.0, abs=1e-5)


def test_align_and_ensemble_cli(tmp_path):
    r = CliRunner().invoke(main, ["align", "-a", "cl100k", "-b", "utf8-bytes", "naïve café", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert "".join(s["text"] for s in out["spans"]) == "naïve café" and out["summary"]["chunks"] == len(out["spans"])
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\nthe cat ate the rat\n" * 5, encoding="utf-8")
    r = CliRunner().invoke(main, ["ensemble-bytes", "-a", "cl100k", "-b", "utf8-bytes", "--train", str(corpus),
                                  "--prefix", "the c", "--json"])
    assert r.exit_code == 0, r.output
    top = json.loads(r.output)["top"]
    assert top[0][0] == "a" and 0 < top[0][1] <= 1
