"""Tests written to kill mutants of encode/lattice.py and encode/methods.py (scripts/mutation.py).

Each checks behaviour against an independent expectation: brute force over every segmentation of small hand
vocabularies (best path, k best, partition function, posteriors, sampling laws), laws computed by hand, HF
`tokenizers` running an exported file, or the documented interface (defaults, file format, error texts).
"""

from __future__ import annotations

import copy
import inspect
import itertools
import json
import math
import random
from collections import Counter

import numpy as np
import pytest

from tokenlab import Tokenizer
from tokenlab.encode import lattice
from tokenlab.encode.lattice import NEG_INF, VocabIndex
from tokenlab.encode.methods import (
    MethodTokenizer,
    check_options,
    encode_longest_prefix,
    encode_longest_suffix,
    encode_longest_token,
    encode_merge,
    encode_pathpiece,
    encode_with,
    load_method_tokenizer,
    longest_prefix_piece,
    longest_suffix_piece,
    longest_token_piece,
    method_options,
    method_registry,
    method_tokenizer_from_dict,
    pathpiece_piece,
    pathpiece_table,
    segmentations,
    vocab_index,
)
from tokenlab.encode.stochastic import encode_bpe_dropout, encode_stochastok
from tokenlab.errors import FormatError, InvalidInputError, SpecialTokenError
from tokenlab.models.unigram import encode_unigram_sample, encode_viterbi, unigram_from_bpe


# ---------------------------------------------------------------------------------------------- brute force
def all_segs(vocab: dict[bytes, int], data: bytes) -> list[tuple[bytes, ...]]:
    """Every way to cut ``data`` into tokens of ``vocab``, as tuples of token bytes (written without the index)."""
    if not data:
        return [()]
    out = []
    for k in range(1, len(data) + 1):
        if data[:k] in vocab:
            out += [(data[:k],) + rest for rest in all_segs(vocab, data[k:])]
    return out


def random_case(rng: random.Random, alphabet=b"abc", drop_letters=False):
    """A small random vocabulary (ids shuffled), integer scores (exact float sums, many ties) and a text."""
    letters = [bytes([c]) for c in alphabet]
    tokens = set(letters)
    if drop_letters:  # some single letters missing: positions no path can leave
        tokens -= set(rng.sample(letters, rng.randrange(1, len(letters))))
    while len(tokens) < 12:
        tokens.add(bytes(rng.choice(alphabet) for _ in range(rng.randrange(2, 5))))
    tokens = sorted(tokens)
    ids = rng.sample(range(40), len(tokens))
    vocab = dict(zip(tokens, ids))
    scores = [0.0] * 40
    for i in ids:
        scores[i] = float(rng.randrange(-6, 0))
    data = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 9)))
    return vocab, scores, data


def lattice_or_none(idx: VocabIndex, data: bytes):
    try:
        return idx.lattice(data)
    except ValueError:
        return None


def reachable_cases(seed: int, count: int, p_drop: float):
    """Of ``count`` random cases (random_case, with letters dropped at rate ``p_drop``), those whose text has a
    lattice: (vocab, scores, data, edges)."""
    rng = random.Random(seed)
    for _ in range(count):
        vocab, scores, data = random_case(rng, drop_letters=rng.random() < p_drop)
        edges = lattice_or_none(VocabIndex(vocab), data)
        if edges is not None:
            yield vocab, scores, data, edges


def seg_score(vocab, scores, seg) -> float:
    return sum(scores[vocab[t]] for t in seg)


# ---------------------------------------------------------------------------------------------- lattice.py
def test_vocab_index_matches_tokens_by_definition():
    rng = random.Random(0)
    for _ in range(200):
        vocab, _, data = random_case(rng)
        idx = VocabIndex(vocab)
        assert idx.ids == vocab and idx.ids is not vocab
        assert idx.max_len == max(map(len, vocab))
        assert idx.prefixes == {t[:k] for t in vocab for k in range(1, len(t) + 1)}
        assert idx.suffixes == {t[-k:] for t in vocab for k in range(1, len(t) + 1)}
        n = len(data)
        for i in range(n + 1):  # shortest first
            assert idx.starting_at(data, i) == [(j, vocab[data[i:j]]) for j in range(i + 1, n + 1)
                                                if data[i:j] in vocab]
            assert idx.ending_at(data, i) == [(s, vocab[data[s:i]]) for s in range(i - 1, -1, -1)
                                              if data[s:i] in vocab]
        edges = lattice_or_none(idx, data)
        if edges is not None:
            assert edges[0] == []
            for j in range(1, n + 1):  # by increasing start
                assert edges[j] == [(s, vocab[data[s:j]]) for s in range(j) if data[s:j] in vocab]
    assert VocabIndex({}).max_len == 0


def test_lattice_names_the_byte_it_cannot_reach():
    idx = VocabIndex({b"a": 0, b"ab": 1, b"x": 2})
    with pytest.raises(ValueError) as exc:
        idx.lattice(b"abcx")
    assert str(exc.value) == "byte 2 of the piece cannot be reached: the vocabulary lacks byte 99"
    with pytest.raises(ValueError, match="^byte 0 of the piece cannot be reached: the vocabulary lacks byte 98$"):
        idx.lattice(b"b")
    assert idx.lattice(b"") == [[]]


def test_viterbi_is_the_best_path_with_longer_last_tokens_on_ties():
    """Among the best-scoring segmentations: the longest last token, then the longest one before it, ..."""
    ties = 0
    for vocab, scores, data, edges in reachable_cases(1, 400, 0.3):
        segs = all_segs(vocab, data)
        best = max(seg_score(vocab, scores, s) for s in segs)
        optimal = [s for s in segs if seg_score(vocab, scores, s) == best]
        ties += len(optimal) > 1
        want = max(optimal, key=lambda s: [len(t) for t in reversed(s)])
        assert lattice.viterbi(edges, scores) == [vocab[t] for t in want]
    assert ties > 10
    # a piece scored -inf (the Unigram trainer masks a piece this way to price its removal) is never taken, even
    # where it is the first edge of a position
    idx = VocabIndex({b"a": 0, b"b": 1, b"ab": 2, b"abb": 3})
    assert lattice.viterbi(idx.lattice(b"ab"), [-1.0, -1.0, NEG_INF, -1.0]) == [0, 1]
    assert lattice.viterbi(idx.lattice(b"abb"), [-1.0, -1.0, -5.0, NEG_INF]) == [0, 1, 1]
    assert lattice.viterbi(idx.lattice(b"abb"), [-1.0, -1.0, -0.5, NEG_INF]) == [2, 1]
    assert lattice.viterbi([[]], []) == []


def test_logsumexp():
    assert lattice.logsumexp([NEG_INF, NEG_INF]) == NEG_INF
    assert lattice.logsumexp([0.0]) == 0.0
    assert lattice.logsumexp([math.log(2), math.log(3), NEG_INF]) == pytest.approx(math.log(5), abs=1e-12)
    assert lattice.logsumexp([1000.0, 1000.0]) == pytest.approx(1000 + math.log(2), abs=1e-9)  # no overflow


def test_forward_is_the_log_partition_function_of_every_prefix():
    for vocab, scores, data, edges in reachable_cases(2, 200, 0.3):
        for alpha in (1.0, 0.5, 2.0):
            fwd = lattice.forward(edges, scores, alpha) if alpha != 1.0 else lattice.forward(edges, scores)
            assert len(fwd) == len(data) + 1  # one entry per position
            for j in range(len(data) + 1):
                segs = all_segs(vocab, data[:j])
                want = math.log(sum(math.exp(alpha * seg_score(vocab, scores, s)) for s in segs)) if segs else NEG_INF
                assert fwd[j] == pytest.approx(want, abs=1e-9), (data, j, alpha)


def test_expected_counts_are_the_posterior_token_counts():
    dead_ends = 0
    for vocab, scores, data, edges in reachable_cases(3, 300, 0.5):
        segs = all_segs(vocab, data)
        z = sum(math.exp(seg_score(vocab, scores, s)) for s in segs)
        want = Counter({99: 0.25})  # counts already there are added to
        for s in segs:
            p = math.exp(seg_score(vocab, scores, s)) / z
            for t in s:
                want[vocab[t]] += 1.5 * p
        counts = {99: 0.25}
        assert lattice.expected_counts(edges, scores, 1.5, counts) == pytest.approx(math.log(z), abs=1e-9)
        assert set(counts) == {i for i, c in want.items() if c > 0} | {i for s in segs for i in map(vocab.get, s)}
        for i, c in counts.items():
            assert c == pytest.approx(want[i], abs=1e-9), (data, i)
        # positions from which no segmentation reaches the end
        dead_ends += any(not all_segs(vocab, data[i:]) for i in range(len(data)))
    assert dead_ends > 5


def exact_law(vocab, scores, data, alpha):
    segs = all_segs(vocab, data)
    weights = [math.exp(alpha * seg_score(vocab, scores, s)) for s in segs]
    total = sum(weights)
    return {tuple(vocab[t] for t in s): w / total for s, w in zip(segs, weights)}


def assert_follows(seen: Counter, law: dict, n: int):
    assert set(seen) <= set(law)
    for seg, p in law.items():  # 5 sigma of a binomial count
        assert abs(seen[seg] - n * p) < 5 * (n * p * (1 - p)) ** 0.5 + 1, (seg, seen[seg], n * p)


def test_sampling_follows_the_exact_law():
    vocab = {b"a": 0, b"b": 1, b"c": 2, b"ab": 3, b"bc": 4, b"abc": 5, b"ca": 6, b"cab": 7}
    scores = [-1.0, -2.0, -0.5, -1.5, -3.0, -2.5, -1.0, -4.0]
    n = 3000
    for data, alpha in ((b"abcab", 1.0), (b"cabca", 0.3), (b"abcabc", 2.0)):
        edges = VocabIndex(vocab).lattice(data)
        law = exact_law(vocab, scores, data, alpha)
        rng = random.Random(5)
        assert_follows(Counter(tuple(lattice.sample(edges, scores, alpha, rng)) for _ in range(n)), law, n)
        table = lattice.sampling_table(edges, scores, alpha)
        assert table[0] == ([], [])
        assert_follows(Counter(tuple(lattice.draw(table, rng)) for _ in range(n)), law, n)
    # a piece whose score is -inf is never drawn; the others keep their law
    inf_scores = list(scores)
    inf_scores[3] = NEG_INF
    edges = VocabIndex(vocab).lattice(b"abab")
    seen = Counter(tuple(lattice.sample(edges, inf_scores, 1.0, random.Random(6))) for _ in range(n))
    assert all(3 not in s for s in seen)
    law = exact_law({t: i for t, i in vocab.items() if i != 3}, scores, b"abab", 1.0)
    assert_follows(seen, law, n)


def test_sampling_long_pieces_with_low_scores():
    """Path scores far below exp's range (-800 here): the weights are taken relative to the best one, so the law
    still holds: each "ab" block is "ab" or "a" "b" with probability 1/2, independently."""
    vocab = {b"a": 0, b"b": 1, b"ab": 2}
    scores = [-20.0, -20.0, -40.0]
    blocks = 20
    edges = VocabIndex(vocab).lattice(b"ab" * blocks)
    rng = random.Random(9)
    n = 2000
    draws = [lattice.sample(edges, scores, 1.0, rng) for _ in range(n)]
    for k in (0, -1):  # the first and the last block
        whole = sum(d[k] == 2 for d in draws)
        assert abs(whole - n / 2) < 5 * (n / 4) ** 0.5
    mean_tokens = sum(map(len, draws)) / n  # 20 + Binomial(20, 1/2) tokens: mean 30, variance 5
    assert abs(mean_tokens - 30) < 5 * (5 / n) ** 0.5


def test_nbest_lists_the_k_best_segmentations_in_order():
    """Best first; equal scores ordered like Viterbi's ties (longer last token, then the one before it)."""
    for vocab, scores, data, edges in reachable_cases(4, 300, 0.3):
        segs = all_segs(vocab, data)
        ranked = sorted(segs, key=lambda s: (-seg_score(vocab, scores, s), [-len(t) for t in reversed(s)]))
        for k in (1, 2, 3, 7, 1000):
            got = lattice.nbest(edges, scores, k)
            assert got == [(seg_score(vocab, scores, s), [vocab[t] for t in s]) for s in ranked[:k]], (data, k)
    assert lattice.nbest([[]], [], 3) == [(0.0, [])]


# ---------------------------------------------------------------------------------------------- methods.py
def hand_tok(*tokens: bytes, specials=None) -> Tokenizer:
    vocab = {bytes([b]): b for b in range(256)}
    for t in tokens:
        vocab[t] = len(vocab)
    return Tokenizer(vocab, [], pretokenizer=None, special_tokens=specials or {})


# "abcdef": three minimal segmentations (3 tokens); two of them share the last token "ef"
SIX = (b"ab", b"cd", b"ef", b"abc", b"de")
SIX_MINIMAL = {(b"ab", b"cd", b"ef"), (b"abc", b"d", b"ef"), (b"abc", b"de", b"f")}
# the authors' random tie-break: last token ef or f with 1/2 each, then cd or d with 1/2 each
SIX_RANDOM = {(b"ab", b"cd", b"ef"): 0.25, (b"abc", b"d", b"ef"): 0.25, (b"abc", b"de", b"f"): 0.5}


def test_pathpiece_tie_break_laws_on_a_hand_case():
    tok = hand_tok(*SIX)
    idx = vocab_index(tok)
    assert vocab_index(tok) is idx
    minimal = {s for s in all_segs(tok.vocab, b"abcdef") if len(s) == 3}
    assert minimal == SIX_MINIMAL and min(map(len, all_segs(tok.vocab, b"abcdef"))) == 3
    ids = {s: tuple(tok.vocab[t] for t in s) for s in SIX_MINIMAL}
    n = 3000
    uniform = {ids[s]: 1 / 3 for s in SIX_MINIMAL}
    random_law = {ids[s]: p for s, p in SIX_RANDOM.items()}
    rng = random.Random(0)
    # the default tie-break of pathpiece_piece with a generator is "random"
    assert_follows(Counter(tuple(pathpiece_piece(idx, b"abcdef", rng)) for _ in range(n)), random_law, n)
    assert_follows(Counter(tuple(pathpiece_piece(idx, b"abcdef", rng, "random")) for _ in range(n)), random_law, n)
    assert_follows(Counter(tuple(pathpiece_piece(idx, b"abcdef", rng, "uniform")) for _ in range(n)), uniform, n)
    # pathpiece_table's default weights: every optimal last token equally likely (the "random" law)
    table = pathpiece_table(idx, b"abcdef")
    assert_follows(Counter(tuple(lattice.draw(table, rng)) for _ in range(n)), random_law, n)
    assert_follows(Counter(tuple(lattice.draw(pathpiece_table(idx, b"abcdef", True), rng)) for _ in range(n)),
                   uniform, n)
    # encode_pathpiece draws from random.Random(seed): over many seeds, the same laws
    for mode, law in (("random", random_law), ("uniform", uniform)):
        seen = Counter(tuple(encode_pathpiece(tok, "abcdef", tie_break=mode, seed=s)) for s in range(n))
        assert_follows(seen, law, n)
    # longest (the default): longest last token, then backwards
    assert encode_pathpiece(tok, "abcdef") == list(ids[(b"ab", b"cd", b"ef")])
    assert pathpiece_piece(idx, b"abcdef") == list(ids[(b"ab", b"cd", b"ef")])


def test_pathpiece_seed_repeats_and_one_generator_runs_through_the_text():
    tok = hand_tok(*SIX, specials={"<s>": 900})
    text = "abcdef" * 40
    for mode in ("random", "uniform"):
        first = encode_pathpiece(tok, text, tie_break=mode, seed=7)
        assert first == encode_pathpiece(tok, text, tie_break=mode, seed=7)
        assert first != encode_pathpiece(tok, text, tie_break=mode, seed=8)
        assert tok.decode(first) == text
        # one piece (no pre-tokenizer) of 40 blocks: every block's three tokens are one of the minimal ones
        assert len(first) == 120
    # with a pre-tokenizer, each piece draws its own segmentation from the same generator: the pieces differ
    tok2 = Tokenizer(dict(tok.vocab), [], pretokenizer="gpt2")
    ids = encode_pathpiece(tok2, " abcdef" * 60, tie_break="random", seed=1)
    pieces = [tuple(ids[k:k + 4]) for k in range(0, len(ids), 4)]
    assert len(ids) == 240 and len(set(pieces)) > 1
    # specials pass through every encoder
    for fn in (encode_longest_prefix, encode_longest_suffix, encode_longest_token, encode_pathpiece):
        assert fn(tok, "ab<s>cd", allowed_special={"<s>"})[1] == 900
        assert fn(tok, "ab<s>cd", disallowed_special=())[1] != 900


def test_pathpiece_uniform_counts_paths_beyond_float_range():
    """2**1100 minimal segmentations: the path counts are integers no float can hold, drawn exactly."""
    tok = hand_tok(b"ab", b"bc")
    idx = vocab_index(tok)
    blocks = 1100
    ids = pathpiece_piece(idx, b"abc" * blocks, random.Random(3), "uniform")
    assert len(ids) == 2 * blocks
    first = Counter(tok.token_bytes(ids[2 * k]) for k in range(blocks))
    assert set(first) == {b"ab", b"a"}
    assert abs(first[b"ab"] - blocks / 2) < 5 * (blocks / 4) ** 0.5  # each block: ab|c or a|bc, 1/2 each


def test_greedy_methods_on_hand_cases():
    tok = hand_tok(b"ab", b"abc", b"cd", b"bcd", b"de", b"abcd")
    idx = vocab_index(tok)
    v = tok.vocab
    data = b"abcde"
    assert longest_prefix_piece(idx, data) == [v[b"abcd"], v[b"e"]]
    assert longest_suffix_piece(idx, data) == [v[b"abc"], v[b"de"]]
    assert longest_token_piece(idx, data) == [v[b"abcd"], v[b"e"]]
    # longest token anywhere, leftmost on ties: "cd"/"de" (2) and "ab" both length 2 in "xabxde"
    assert longest_token_piece(idx, b"xdexab") == [v[b"x"], v[b"de"], v[b"x"], v[b"ab"]]
    assert longest_token_piece(idx, b"bcdab") == [v[b"bcd"], v[b"ab"]]
    assert longest_token_piece(idx, b"abcdabcd") == [v[b"abcd"], v[b"abcd"]]
    assert longest_token_piece(idx, b"") == []
    for fn in (encode_longest_prefix, encode_longest_suffix, encode_longest_token, encode_pathpiece):
        assert fn(tok, "") == []
        assert tok.decode(fn(tok, "xabcdeabcdx")) == "xabcdeabcdx"
    assert list(segmentations(idx, b"")) == [[]]
    assert sorted(map(tuple, segmentations(idx, b"abc"))) == sorted(
        tuple(v[t] for t in s) for s in all_segs(v, b"abc"))


def test_longest_token_follows_its_recursive_definition_on_random_vocabularies():
    def reference(vocab, data):
        for n in range(len(data), 0, -1):
            for i in range(len(data) - n + 1):
                if data[i:i + n] in vocab:
                    return reference(vocab, data[:i]) + [vocab[data[i:i + n]]] + reference(vocab, data[i + n:])
        return []

    rng = random.Random(8)
    for _ in range(300):
        extra = {bytes(rng.choice(b"abc") for _ in range(rng.randrange(2, 5))) for _ in range(8)}
        tok = hand_tok(*sorted(extra))
        data = bytes(rng.choice(b"abc") for _ in range(rng.randrange(1, 14)))
        assert longest_token_piece(vocab_index(tok), data) == reference(tok.vocab, data)


def test_encode_with_follows_the_encode_contract_for_specials():
    tok = hand_tok(*SIX, specials={"<s>": 900})
    piece = vocab_index(tok)
    with pytest.raises(SpecialTokenError):  # special text is refused by default, as in encode
        encode_with(tok, "ab<s>", lambda d: longest_prefix_piece(piece, d))
    assert encode_with(tok, "ab<s>", lambda d: longest_prefix_piece(piece, d), allowed_special="all") == [
        tok.vocab[b"ab"], 900]
    assert encode_with(tok, "ab<s>", lambda d: [len(d)], disallowed_special=()) == [5]


def test_encode_errors_say_what_is_wrong():
    tok = hand_tok(*SIX)
    with pytest.raises(InvalidInputError) as exc:
        encode_longest_prefix(tok, b"abc")
    assert str(exc.value) == "text must be str, got bytes"
    with pytest.raises(InvalidInputError) as exc:
        encode_pathpiece(tok, "abc", tie_break="shortest")
    assert str(exc.value) == "tie_break must be 'longest', 'random' or 'uniform', got 'shortest'"


@pytest.fixture(scope="module")
def small_text(real_docs):
    return real_docs[3][:3000] + "".join(real_docs[-26:])[:3000]


def test_registry_names_the_documented_methods(trained, small_text):
    reg = method_registry()
    assert sorted(reg) == sorted(["merge", "greedy", "longest-prefix", "longest-suffix", "longest-token", "pathpiece",
                                  "viterbi", "unigram-sample", "stochastok", "bpe-dropout"])
    text = small_text
    assert reg["merge"](trained, text) == trained.encode(text) == encode_merge(trained, text)
    assert reg["merge"](trained, "a<|endoftext|>", allowed_special="all")[-1] == trained.special_tokens[
        "<|endoftext|>"]
    assert encode_merge(trained, "a<|endoftext|>", disallowed_special=()) == trained.encode_ordinary("a<|endoftext|>")
    for name, fn in (("greedy", encode_longest_prefix), ("longest-prefix", encode_longest_prefix),
                     ("longest-suffix", encode_longest_suffix), ("longest-token", encode_longest_token),
                     ("pathpiece", encode_pathpiece), ("viterbi", encode_viterbi),
                     ("unigram-sample", encode_unigram_sample), ("stochastok", encode_stochastok),
                     ("bpe-dropout", encode_bpe_dropout)):
        assert reg[name] is fn, name


def test_method_options_and_their_errors():
    assert method_options(encode_pathpiece) == ["tie_break", "seed"]
    assert method_options(encode_longest_prefix) == []
    assert method_options(encode_unigram_sample) == ["alpha", "nbest_size", "seed", "corpus", "smoothing"]
    check_options("pathpiece", encode_pathpiece, {"seed": 1, "tie_break": "random"})
    with pytest.raises(InvalidInputError) as exc:
        check_options("pathpiece", encode_pathpiece, {"seed": 1, "zeta": 2, "colour": 3})
    assert str(exc.value) == ("method 'pathpiece' does not take option(s) ['colour', 'zeta']; "
                              "it takes ['tie_break', 'seed']")
    with pytest.raises(InvalidInputError) as exc:
        check_options("greedy", encode_longest_prefix, {"seed": 1})
    assert str(exc.value) == "method 'greedy' does not take option(s) ['seed']; it takes none"


def test_method_tokenizer_errors_say_what_is_wrong(trained):
    with pytest.raises(InvalidInputError) as exc:
        MethodTokenizer(trained, "nope")
    assert str(exc.value) == ("unknown method 'nope'; choose from bpe-dropout, greedy, longest-prefix, longest-suffix, "
                              "longest-token, merge, pathpiece, stochastok, unigram-sample, viterbi")
    bound = MethodTokenizer(trained, "pathpiece")
    with pytest.raises(InvalidInputError) as exc:
        MethodTokenizer(bound, "greedy")
    assert str(exc.value) == "tokenizer is already bound to a method"
    with pytest.raises(InvalidInputError, match=r"^method 'greedy' does not take option\(s\) \['p'\]; it takes none$"):
        MethodTokenizer(trained, "greedy", p=0.1)


def test_method_tokenizer_acts_like_its_base(trained, small_text):
    bound = MethodTokenizer(trained, "longest-suffix")
    assert len(bound) == len(trained)
    assert bound.vocab is trained.vocab and bound.special_tokens == trained.special_tokens
    assert repr(bound) == f"MethodTokenizer({trained!r}, method='longest-suffix', options={{}})"
    assert repr(MethodTokenizer(trained, "pathpiece", seed=1)) == (
        f"MethodTokenizer({trained!r}, method='pathpiece', options={{'seed': 1}})")
    text = small_text + "<|endoftext|>"
    want = encode_longest_suffix(trained, text, disallowed_special=())
    assert bound.encode_ordinary(text) == want  # special text is plain text
    assert bound.encode(text, allowed_special="all")[-1] == trained.special_tokens["<|endoftext|>"]
    arr = bound.encode(text, disallowed_special=(), as_array=True)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.uint32 and arr.tolist() == want
    assert bound.encode_batch([text, "ab"], disallowed_special=()) == [want, encode_longest_suffix(trained, "ab")]
    # copies (and pickles) work: looking up a missing attribute does not recurse through `base`
    assert copy.copy(bound).encode(small_text) == encode_longest_suffix(trained, small_text)
    blank = MethodTokenizer.__new__(MethodTokenizer)
    with pytest.raises(AttributeError) as exc:
        blank.base  # noqa: B018
    assert exc.value.args == ("base",)


def test_bound_stochastic_methods_draw_one_seeded_stream(trained, small_text):
    text = small_text[:1500]
    for method, options in (("stochastok", {"p": 0.5, "seed": 3}), ("bpe-dropout", {"p": 0.5, "seed": 3}),
                            ("unigram-sample", {"alpha": 0.1, "seed": 3})):
        bound = MethodTokenizer(trained, method, **options)
        first, second = bound.encode(text), bound.encode(text)
        assert first != second, method  # the generator runs on from call to call
        fresh = MethodTokenizer(trained, method, **options)
        assert [fresh.encode(text), fresh.encode(text)] == [first, second]
        assert bound.options == options  # the seed stays in the options (and the saved file)
        assert trained.decode(first) == text
    # without a seed: an unseeded generator, still one stream
    for method, options in (("stochastok", {"p": 0.5}), ("bpe-dropout", {"p": 0.5}), ("unigram-sample", {})):
        bound = MethodTokenizer(trained, method, **options)
        ids = bound.encode(text)
        assert trained.decode(ids) == text and bound.options == options
    # methods without a generator pass their seed on every call: the same ids each time
    bound = MethodTokenizer(trained, "pathpiece", tie_break="random", seed=4)
    assert bound.encode(text) == bound.encode(text) == encode_pathpiece(trained, text, tie_break="random", seed=4)


def test_method_file_format(trained, tmp_path):
    bound = MethodTokenizer(trained, "pathpiece", tie_break="uniform", seed=2)
    d = bound.to_dict()
    assert d == {"format": "tokenlab-method", "version": 1, "method": "pathpiece",
                 "options": {"tie_break": "uniform", "seed": 2}, "tokenizer": trained.to_dict()}
    path = tmp_path / "bound.json"
    bound.save(path)
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(d))
    again = load_method_tokenizer(path)
    assert again.method == "pathpiece" and again.options == {"tie_break": "uniform", "seed": 2}
    assert again.encode("abcdef ghijk") == bound.encode("abcdef ghijk")
    # non-ASCII option values are written as UTF-8 text, not \u escapes
    corpus = tmp_path / "größe.txt"
    corpus.write_text("größe größe", encoding="utf-8")
    MethodTokenizer(trained, "viterbi", corpus=str(corpus)).save(path)
    assert "größe.txt" in path.read_text(encoding="utf-8")
    assert MethodTokenizer(trained, "viterbi", corpus=str(corpus)).to_hf_dict()["model"]["type"] == "Unigram"
    MethodTokenizer(trained, "greedy").save_hf(path)
    written = path.read_text(encoding="utf-8")
    assert json.loads(written)["model"]["type"] == "WordPiece"
    assert r"\u0120" not in written and '"Ġ' in written  # byte-level "Ġ" (space) as UTF-8, not an escape


def test_method_files_that_are_damaged_are_refused(trained, tmp_path):
    good = MethodTokenizer(trained, "pathpiece").to_dict()
    for bad in ([1], {"format": "tokenlab"}, {}):
        with pytest.raises(FormatError) as exc:
            method_tokenizer_from_dict(bad)
        assert str(exc.value) == "not a tokenlab-method file"
    needs = 'corrupt tokenlab-method file: needs "method", "options" and "tokenizer"'
    for key, value in (("tokenizer", None), ("tokenizer", "x"), ("method", 3), ("options", [1])):
        with pytest.raises(FormatError) as exc:
            method_tokenizer_from_dict({**good, key: value})
        assert str(exc.value) == needs, key
    no_options = {k: v for k, v in good.items() if k != "options"}
    assert method_tokenizer_from_dict(no_options).options == {}
    with pytest.raises(FormatError) as exc:
        method_tokenizer_from_dict({**good, "method": "nope"})
    assert str(exc.value).startswith("corrupt tokenlab-method file: unknown method 'nope'; choose from bpe-dropout,")
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    with pytest.raises(FormatError, match=r"^corrupt tokenlab-method file: method 'pathpiece' does not take option"):
        method_tokenizer_from_dict({**good, "options": {"p": 1}})
    path = tmp_path / "bad.json"
    for raw in (b"{not json", b'{"format": "tokenlab-method", "x": "\xff"}'):
        path.write_bytes(raw)
        with pytest.raises(FormatError) as exc:
            load_method_tokenizer(path)
        assert str(exc.value).startswith(f"{path}: corrupt JSON (")
        assert exc.value.__cause__ is None and exc.value.__suppress_context__
    path.write_text(json.dumps({**good, "options": {"seed": 1}, "method": "greedy"}), encoding="utf-8")
    with pytest.raises(FormatError, match="greedy"):
        load_method_tokenizer(path)
    from tokenlab.io import JSON_FORMATS

    assert JSON_FORMATS["tokenlab-method"] == "tokenlab.encode.methods:load_method_tokenizer"


def test_unigram_bases_round_trip_and_export(trained, real_docs, tmp_path):
    model = unigram_from_bpe(trained, real_docs[:10])
    text = "Tokenization, again: größer 東京"
    for method in ("viterbi", "merge"):
        bound = MethodTokenizer(model, method)
        assert bound.to_hf_dict() == model.to_hf_dict()
        path = tmp_path / f"{method}.json"
        bound.save(path)
        again = load_method_tokenizer(path)
        assert type(again.base).__name__ == "UnigramModel"
        assert again.encode(text) == model.encode(text)
    with pytest.raises(FormatError) as exc:
        MethodTokenizer(model, "viterbi", smoothing=2.0).to_hf_dict()
    assert str(exc.value) == ("HF tokenizer.json cannot express method 'viterbi' over a UnigramModel; save it in "
                              "tokenlab's 'tokenlab-method' format instead")
    with pytest.raises(FormatError, match="'unigram-sample' over a UnigramModel"):
        MethodTokenizer(model, "unigram-sample").to_hf_dict()
    with pytest.raises(FormatError) as exc:
        MethodTokenizer(trained, "pathpiece").to_hf_dict()
    assert str(exc.value) == ("HF tokenizer.json cannot express method 'pathpiece' over a Tokenizer; save it in "
                              "tokenlab's 'tokenlab-method' format instead")


def test_hf_exports_of_bpe_bases(trained, real_docs, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io.hf_json import to_hf_dict

    assert MethodTokenizer(trained, "merge").to_hf_dict() == to_hf_dict(trained)
    # greedy is the same export as longest-prefix; HF gives our ids
    text = "Tokenization is more than compression, größer 東京 " + "x" * 150 + " \x00"
    for method in ("greedy", "longest-prefix"):
        path = tmp_path / f"{method}.json"
        MethodTokenizer(trained, method).save_hf(path)
        hf = tokenizers.Tokenizer.from_file(str(path))
        assert hf.encode(text, add_special_tokens=False).ids == encode_longest_prefix(trained, text)
        assert hf.model.unk_token == "Ā"  # byte 0 in GPT-2's byte-to-unicode table
    # bpe-dropout: p is HF's dropout; the default is the method's own default; p=0 is no dropout
    default_p = inspect.signature(encode_bpe_dropout).parameters["p"].default
    assert MethodTokenizer(trained, "bpe-dropout").to_hf_dict()["model"]["dropout"] == default_p
    assert MethodTokenizer(trained, "bpe-dropout", p=0.25).to_hf_dict()["model"]["dropout"] == 0.25
    assert MethodTokenizer(trained, "bpe-dropout", p=0).to_hf_dict()["model"]["dropout"] is None
    assert to_hf_dict(trained)["model"].get("dropout") is None  # the base export is left as it was
    # viterbi over a corpus: smoothing is passed on, 1.0 (encode_viterbi's default) when not given
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(real_docs[:20]), encoding="utf-8")
    assert inspect.signature(encode_viterbi).parameters["smoothing"].default == 1.0
    plain = MethodTokenizer(trained, "viterbi", corpus=str(corpus)).to_hf_dict()
    assert plain == MethodTokenizer(trained, "viterbi", corpus=str(corpus), smoothing=1.0).to_hf_dict()
    for smoothing in (0.5, 3.0):
        bound = MethodTokenizer(trained, "viterbi", corpus=str(corpus), smoothing=smoothing)
        path = tmp_path / "viterbi.json"
        bound.save_hf(path)
        hf = tokenizers.Tokenizer.from_file(str(path))
        sample = "".join(real_docs[30:32])[:4000]
        assert hf.encode(sample, add_special_tokens=False).ids == bound.encode(sample)
        assert bound.to_hf_dict() != plain


def test_every_bound_method_equals_its_function_through_the_cli_loader(trained, tmp_path):
    from tokenlab.io import load_tokenizer

    text = "Greed is all you need, or is it? 12345 größer"
    for method, fn in (("longest-prefix", encode_longest_prefix), ("longest-token", encode_longest_token)):
        path = tmp_path / f"{method}.json"
        MethodTokenizer(trained, method).save(path)
        assert load_tokenizer(path).encode(text) == fn(trained, text)
    assert list(itertools.islice(segmentations(vocab_index(trained), b"abc"), 1))  # a generator


# ---------------------------------------------------------------------------------------------- transfer/healing.py
def _apostrophe_tok() -> Tokenizer:
    vocab = {bytes([b]): b for b in range(256)}
    vocab[b"'s"] = 256
    vocab[b"ab"] = 257
    return Tokenizer(vocab, [(b"'", b"s"), (b"a", b"b")], pretokenizer="cl100k")


class _Delegate:
    """A tokenizer by duck typing: encode, token_bytes and vocab of a Tokenizer, plus what a test adds."""

    def __init__(self, tok, **attrs):
        self.vocab, self.special_tokens = tok.vocab, tok.special_tokens
        self.encode, self.token_bytes = tok.encode, tok.token_bytes
        self.__dict__.update(attrs)


def test_heal_prompt_extends_the_tail_back_to_the_first_piece():
    """'s' is the pieces "'s" "'" (cl100k): the apostrophe piece regroups with the one before it, and that is the
    first piece, so the whole prompt is the unstable tail."""
    from tokenlab.transfer.healing import _backoff_start, heal_prompt

    tok = _apostrophe_tok()
    assert tok.pretokenizer.split("'s'") == ["'s", "'"]
    plan = heal_prompt(tok, "'s'")
    assert plan.prompt_ids == [] and plan.removed == b"'s'" and plan.removed_ids == tok.encode("'s'")
    assert _backoff_start(tok, "'s'") == 0
    assert _backoff_start(tok, "") == 0  # an empty prompt: the tail starts at its only offset
    plan = heal_prompt(tok, "ab 's'")  # " '" starts with a space but "ab" is not whitespace: stop there
    assert tok.pretokenizer.split("ab 's'") == ["ab", " '", "s", "'"]
    assert plan.prompt_ids == [257] and plan.removed == b" 's'"


def test_heal_prompt_backoff_larger_than_the_prompt_removes_every_token():
    from tokenlab.transfer.healing import heal_prompt

    tok = _apostrophe_tok()
    for backoff in (3, 10):
        plan = heal_prompt(tok, "ab", backoff=backoff)
        assert plan.prompt_ids == [] and plan.removed_ids == [257] and plan.removed == b"ab"
        plan = heal_prompt(tok, "abab", backoff=backoff)
        assert plan.prompt_ids == [] and plan.removed_ids == [257, 257] and plan.removed == b"abab"
    plan = heal_prompt(tok, "abab", backoff=1)
    assert plan.prompt_ids == [257] and plan.removed == b"ab"
    plan = heal_prompt(tok, "abab", backoff=0)
    assert plan.prompt_ids == [257, 257] and plan.removed == b""


def test_heal_prompt_asks_the_tokenizer_first_and_backs_off_one_token_without_a_pretokenizer():
    from tokenlab.transfer.healing import heal_prompt

    tok = _apostrophe_tok()
    prompt = "ab ab ab"  # pieces "ab" " ab" " ab"; tokens ab, " ", ab, " ", ab (no " ab" token)
    ids = tok.encode(prompt)
    assert heal_prompt(tok, prompt).removed == b" ab"  # the pre-tokenizer's answer: the last piece
    # a tokenizer's own healing_start wins (counted in bytes); it is asked about this prompt
    own = _Delegate(tok, pretokenizer=tok.pretokenizer, healing_start=lambda p: len(p.encode()) - 6)
    plan = heal_prompt(own, prompt)
    assert plan.prompt_ids == ids[:1] and plan.removed == b" ab ab"
    # healing_start answering None: the pre-tokenizer decides
    unsure = _Delegate(tok, pretokenizer=tok.pretokenizer, healing_start=lambda p: None)
    assert heal_prompt(unsure, prompt).removed == b" ab"
    # neither healing_start nor a pre-tokenizer: exactly one token backs off
    bare = _Delegate(tok)
    plan = heal_prompt(bare, prompt)
    assert plan.prompt_ids == ids[:-1] and plan.removed == b"ab"
    odd = _Delegate(tok, pretokenizer=object())  # something without split
    assert heal_prompt(odd, prompt).removed == b"ab"


def test_token_index_of_a_tokenizer_that_cannot_be_weakly_referenced():
    from tokenlab.transfer.healing import token_index

    class Slotted:
        __slots__ = ("vocab", "special_tokens")

        def __init__(self):
            self.vocab = {b"a": 0, b"ab": 1, b"b": 2}
            self.special_tokens = {}

    tok = Slotted()
    index = token_index(tok)
    assert sorted(index.extending(b"a").tolist()) == [0, 1]
    assert index.id_bytes == [b"a", b"ab", b"b"]

    class Unhashable(Slotted):
        __slots__ = ("__weakref__",)
        __hash__ = None

    assert sorted(token_index(Unhashable()).extending(b"b").tolist()) == [2]


def test_healing_plan_refuses_an_id_just_past_the_table():
    from tokenlab.transfer.healing import HealingPlan, TokenIndex

    class Vocab:
        vocab = {b"a": 0, b"ab": 1, b"b": 2}
        special_tokens = {"<s>": 3}

    index = TokenIndex(Vocab())
    assert index.size == 4
    plan = HealingPlan(prompt_ids=[], removed_ids=[], removed=b"ab", index=index)
    for bad in (3, 4, 5):
        with pytest.raises(InvalidInputError, match=rf"^generated token {bad} does not match the healed prefix b'ab'$"):
            plan.remaining([bad])
    assert plan.remaining([0]) == b"b"


def test_heal_prompt_never_removes_a_special_token():
    from tokenlab.transfer.healing import heal_prompt

    base = _apostrophe_tok()
    tok = Tokenizer(base.vocab, base.merges, pretokenizer="cl100k", special_tokens={"<s>": 300})
    plan = heal_prompt(tok, "<s>ab", allowed_special="all")  # the last piece "ab" goes, the special stays
    assert plan.prompt_ids == [300] and plan.removed_ids == [257] and plan.removed == b"ab"
    plan = heal_prompt(tok, "ab<s>", allowed_special="all")  # the prompt ends in the special: nothing goes
    assert plan.prompt_ids == [257, 300] and plan.removed_ids == [] and plan.removed == b""
    for backoff in (1, 2):
        plan = heal_prompt(tok, "ab<s>", allowed_special="all", backoff=backoff)
        assert plan.prompt_ids == [257, 300] and plan.removed == b""
    with pytest.raises(SpecialTokenError):  # encode's contract: special text must be allowed
        heal_prompt(tok, "ab<s>")


def test_token_index_edge_cases():
    from tokenlab.transfer.healing import TokenIndex, vocab_bytes

    class OnlyVocab:  # no special_tokens attribute at all
        vocab = {b"aX": 0, b"aXY": 1, b"aY": 2, b"aZ": 3, b"a": 4, b"X": 5}

    assert vocab_bytes(OnlyVocab()) == [b"aX", b"aXY", b"aY", b"aZ", b"a", b"X"]
    index = TokenIndex(OnlyVocab())
    # prefixes ending in "X" (0x58): only the tokens that really start with them
    assert sorted(index.extending(b"aX").tolist()) == [0, 1]
    assert sorted(index.extending(b"X").tolist()) == [5]
    assert sorted(index.extending(b"a").tolist()) == [0, 1, 2, 3, 4]
    # prefixes_of is proper by default: a token equal to the whole data is left out
    assert index.prefixes_of(b"aX") == [(1, 4)]
    assert index.prefixes_of(b"aX", proper=False) == [(1, 4), (2, 0)]


def test_heal_prompt_removes_token_zero_like_any_other():
    from tokenlab.transfer.healing import heal_prompt

    tok = _apostrophe_tok()  # byte 0 is token 0
    plan = heal_prompt(tok, "ab\x00", backoff=1)
    assert plan.prompt_ids == [257] and plan.removed_ids == [0] and plan.removed == b"\x00"
    plan = heal_prompt(tok, "ab \x00")  # the last piece " \x00" (a space and token 0) goes
    assert tok.pretokenizer.split("ab \x00") == ["ab", " \x00"]
    assert plan.prompt_ids == [257] and plan.removed_ids == [32, 0]
