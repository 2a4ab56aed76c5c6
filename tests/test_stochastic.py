"""StochasTok and BPE-dropout: exact round trips, seeds, p=0/p=1 limits, and measured split
rates against the probabilities the definitions imply (binomial tolerances, fixed seeds)."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.encode.stochastic import (
    bpe_dropout_piece,
    encode_bpe_dropout,
    encode_stochastok,
    split_table,
    stochastok_expand,
)
from tokenlab.errors import InvalidInputError


def within(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * (n * p * (1 - p)) ** 0.5 + 1


@pytest.fixture(scope="module")
def text(real_docs):
    return real_docs[5][:15000] + real_docs[-200][:15000] + "".join(real_docs[-26:])


# ---------------------------------------------------------------- StochasTok
def test_stochastok_split_table_is_every_valid_split(trained):
    table = split_table(trained)
    for t, i in list(trained.vocab.items())[::7]:
        expected = [(trained.vocab[t[:k]], trained.vocab[t[k:]]) for k in range(1, len(t))
                    if t[:k] in trained.vocab and t[k:] in trained.vocab]
        assert table.get(i, []) == expected
        if len(t) > 1:  # a BPE token can always be split back into its merge
            assert expected
    assert all(i not in table for i in trained.special_ids)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.8])
def test_stochastok_split_rate_matches_p(trained, text, p):
    base = trained.encode(text)
    table = split_table(trained)
    splittable = sum(i in table for i in base)
    rng = random.Random(7)
    splits = 0
    rounds = 4
    for _ in range(rounds):
        out = stochastok_expand(trained, base, p, rng)
        assert trained.decode(out) == text
        splits += len(out) - len(base)  # each split adds exactly one token
    assert splittable > 3000
    assert within(splits, rounds * splittable, p)


def test_stochastok_split_points_are_uniform(trained):
    tid, pairs = next((i, ps) for i, ps in split_table(trained).items() if len(ps) >= 3)
    rng = random.Random(3)
    n = 3000
    seen = Counter(tuple(stochastok_expand(trained, [tid], 1.0, rng)) for _ in range(n))
    assert set(seen) == set(pairs)
    for pair in pairs:
        assert within(seen[pair], n, 1 / len(pairs))


def test_stochastok_limits_and_seeds(trained, text):
    base = trained.encode(text)
    assert encode_stochastok(trained, text, p=0.0, seed=1) == base
    full = encode_stochastok(trained, text, p=1.0, seed=1)
    table = split_table(trained)
    assert len(full) == len(base) + sum(i in table for i in base)
    assert trained.decode(full) == text
    a = encode_stochastok(trained, text, p=0.2, seed=11)
    assert a == encode_stochastok(trained, text, p=0.2, seed=11)
    assert a != encode_stochastok(trained, text, p=0.2, seed=12)
    with pytest.raises(InvalidInputError):
        encode_stochastok(trained, text, p=1.5)
    with pytest.raises(InvalidInputError):
        encode_stochastok(trained, text, p="often")


def test_stochastok_keeps_specials(trained):
    text = "hello world<|endoftext|>again"
    ids = encode_stochastok(trained, text, p=1.0, seed=0, allowed_special="all")
    assert trained.special_tokens["<|endoftext|>"] in ids
    assert trained.decode(ids) == text


# ---------------------------------------------------------------- BPE-dropout
def test_bpe_dropout_p0_is_standard_bpe(trained, cl100k, text):
    assert encode_bpe_dropout(trained, text, p=0.0, seed=0) == trained.encode(text)
    # tiktoken semantics (any_split) and the whole-token shortcut (ignore_merges) too
    small = text[:4000]
    assert encode_bpe_dropout(cl100k, small, p=0.0) == cl100k.encode(small)


def test_bpe_dropout_p1_is_bytes(trained, text):
    ids = encode_bpe_dropout(trained, text[:3000], p=1.0, seed=0)
    assert ids == [trained.byte_ids[b] for b in text[:3000].encode()]


def test_bpe_dropout_rates_match_the_definition(trained):
    table = trained.pair_table
    bid = trained.byte_ids
    # two bytes with one merge: it is skipped (and the piece left as two bytes) with probability p
    two = next(t for t in trained.merge_ranks if len(t) == 2 and t.isalpha())
    # three bytes whose both adjacent pairs merge: all three stay single only if both are skipped: p^2
    three = next(t for t in trained.vocab if len(t) == 3 and t.isalpha()
                 and (bid[t[0]], bid[t[1]]) in table and (bid[t[1]], bid[t[2]]) in table)
    rng = random.Random(5)
    n = 4000
    for p in (0.1, 0.5):
        kept = sum(len(bpe_dropout_piece([bid[b] for b in two], table, p, rng)) == 2 for _ in range(n))
        assert within(kept, n, p)
        unmerged = sum(len(bpe_dropout_piece([bid[b] for b in three], table, p, rng)) == 3 for _ in range(n))
        assert within(unmerged, n, p * p)


def test_bpe_dropout_seeds_and_round_trip(trained, text):
    a = encode_bpe_dropout(trained, text, p=0.1, seed=4)
    assert a == encode_bpe_dropout(trained, text, p=0.1, seed=4)
    assert a != encode_bpe_dropout(trained, text, p=0.1, seed=5)
    assert trained.decode(a) == text
    assert len(a) > len(trained.encode(text))  # dropout only ever makes more tokens


def test_bpe_dropout_needs_merges(trained):
    from tokenlab.models.unigram import unigram_from_bpe

    with pytest.raises(InvalidInputError):
        encode_bpe_dropout(unigram_from_bpe(trained, ["some text"]), "x", p=0.1)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60), st.floats(0, 1), st.integers(0, 2**32))
def test_stochastic_methods_decode_arbitrary_unicode(trained, s, p, seed):
    assert trained.decode(encode_bpe_dropout(trained, s, p=p, seed=seed, disallowed_special=())) == s
    assert trained.decode(encode_stochastok(trained, s, p=p, seed=seed, disallowed_special=())) == s


# ---------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def bpe_file(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "bpe.json"
    trained.save(path)
    return str(path)


@pytest.mark.parametrize("method", ["stochastok", "bpe-dropout", "unigram-sample"])
def test_cli_stochastic_methods(method, trained, bpe_file):
    text = "Stochastic tokenization of the word strawberry, 3.14159 and 東京."
    key = "alpha" if method == "unigram-sample" else "p"
    runs = []
    for seed in (1, 1, 2):
        res = CliRunner().invoke(main, ["encode", "-t", bpe_file, "--method", method, "--option", f"{key}=0.5",
                                        "--option", f"seed={seed}", text])
        assert res.exit_code == 0, res.output
        runs.append([int(x) for x in res.stdout.split()])
        assert trained.decode(runs[-1]) == text
    assert runs[0] == runs[1]
    if method == "stochastok":
        assert runs[0] == encode_stochastok(trained, text, p=0.5, seed=1)
    if method == "bpe-dropout":
        assert runs[0] == encode_bpe_dropout(trained, text, p=0.5, seed=1)


@pytest.mark.parametrize("option", ["p=-0.1", "p=2", "p=lots", "q=0.1"])
def test_cli_bad_probability(option, bpe_file):
    res = CliRunner().invoke(main, ["encode", "-t", bpe_file, "--method", "bpe-dropout", "--option", option, "x"])
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1


def test_stochastok_iterative_mode_matches_its_markov_chain(trained):
    """N copies of a two-byte token (only split: its two bytes). An attempt succeeds when it lands on
    one of the u unsplit copies among the N + (N - u) current tokens; the exact distribution of
    successes after int(N p) attempts is a small Markov chain."""
    from tokenlab.encode.stochastic import stochastok_expand_iterative

    table = split_table(trained)
    tid = next(i for i, pairs in table.items() if len(trained.token_bytes(i)) == 2 and len(pairs) == 1)
    n_tokens, p = 40, 0.5
    attempts = int(n_tokens * p)
    dist = {n_tokens: 1.0}  # unsplit count -> probability
    for _ in range(attempts):
        nxt: dict[int, float] = {}
        for u, pr in dist.items():
            length = 2 * n_tokens - u
            nxt[u - 1] = nxt.get(u - 1, 0.0) + pr * u / length
            nxt[u] = nxt.get(u, 0.0) + pr * (1 - u / length)
        dist = nxt
    mean = sum((n_tokens - u) * pr for u, pr in dist.items())
    var = sum((n_tokens - u) ** 2 * pr for u, pr in dist.items()) - mean ** 2
    rng = random.Random(2)
    runs = 2000
    total = 0
    for _ in range(runs):
        out = stochastok_expand_iterative(trained, [tid] * n_tokens, p, rng)
        assert trained.decode_bytes(out) == trained.token_bytes(tid) * n_tokens
        total += len(out) - n_tokens
    assert abs(total / runs - mean) < 5 * (var / runs) ** 0.5


def test_stochastok_iterative_can_split_pieces_again(trained, text):
    ids = encode_stochastok(trained, text, p=1.0, seed=0, mode="iterative")
    assert trained.decode(ids) == text
    base = trained.encode(text)
    assert 0 < len(ids) - len(base) <= len(base)  # at most int(len * p) successful attempts
    assert encode_stochastok(trained, text, p=0.0, mode="iterative") == base
    with pytest.raises(InvalidInputError):
        encode_stochastok(trained, text, mode="twice")


def exact_dropout_law(ids: tuple, table: dict, p: float, memo: dict) -> dict:
    """Outcome -> probability, straight from the definition: at each step every applicable merge
    is skipped with probability p; the lowest-rank (then leftmost) kept one is applied; if all are
    skipped the piece is final. The j-th candidate in (rank, position) order wins with (1-p) p^j."""
    if ids in memo:
        return memo[ids]
    cands = sorted((table[(a, b)][0], k, table[(a, b)][1]) for k, (a, b) in enumerate(itertools.pairwise(ids))
                   if (a, b) in table)
    law = {ids: p ** len(cands)} if cands else {ids: 1.0}
    for j, (_, k, new) in enumerate(cands):
        w = (1 - p) * p ** j
        for out, q in exact_dropout_law(ids[:k] + (new,) + ids[k + 2:], table, p, memo).items():
            law[out] = law.get(out, 0.0) + w * q
    memo[ids] = law
    return law


@pytest.mark.parametrize("word,p", [(" tokenizer", 0.3), ("ization", 0.6)])
def test_bpe_dropout_matches_exact_law(trained, word, p):
    bid = trained.byte_ids
    law = exact_dropout_law(tuple(bid[b] for b in word.encode()), trained.pair_table, p, {})
    assert sum(law.values()) == pytest.approx(1.0)
    assert len(law) > 5  # many outcomes: a real comparison
    n = 4000
    rng = random.Random(0)
    seen = Counter(tuple(encode_bpe_dropout(trained, word, p=p, rng=rng)) for _ in range(n))
    assert set(seen) <= set(law)
    for seg, q in law.items():
        assert abs(seen[seg] - n * q) <= 5 * (n * q * (1 - q)) ** 0.5 + 1, (seg, seen[seg], n * q)
