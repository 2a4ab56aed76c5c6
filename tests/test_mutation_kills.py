"""Tests written for mutants that survived scripts/mutation.sh (docs/testing.md): each pins behaviour a user
relies on that the other tests left open (default arguments, which occurrence an error names, error texts)."""

from __future__ import annotations

import pytest

from tokenlab.errors import InvalidInputError, SpecialTokenError
from tokenlab.specials import check_special, split_special, utf8

SPECIALS = {"<|endoftext|>": 100, "<|pad|>": 101}


# ---------------------------------------------------------------- specials.py
def test_specials_are_disallowed_by_default():
    """Called with only the text, a special string in it is an error (tiktoken's default contract)."""
    with pytest.raises(SpecialTokenError, match="<|pad|>"):
        check_special(SPECIALS, "a <|pad|> b")
    with pytest.raises(SpecialTokenError, match="<|endoftext|>"):
        split_special(SPECIALS, "x<|endoftext|>")
    assert check_special(SPECIALS, "plain text") == set()
    assert split_special(SPECIALS, "plain text") == ["plain text"]


def test_special_error_names_the_first_occurrence():
    text = "ab <|pad|> cd <|endoftext|> ef <|pad|>"
    with pytest.raises(SpecialTokenError, match=r"'<\|pad\|>' at offset 3;"):
        check_special(SPECIALS, text)
    with pytest.raises(SpecialTokenError, match=r"'<\|endoftext\|>' at offset 14;"):
        check_special(SPECIALS, text, allowed_special={"<|pad|>"})


def test_split_special_keeps_text_around_specials():
    parts = split_special(SPECIALS, "<|pad|>a<|endoftext|><|pad|>", allowed_special="all")
    assert parts == ["", 101, "a", 100, "", 101, ""]


def test_bad_text_errors_say_what_is_wrong():
    with pytest.raises(InvalidInputError, match="^text must be str, got int$"):
        check_special(SPECIALS, 5)
    with pytest.raises(InvalidInputError, match=r"lone surrogate '\\udc80' at offset 2\); was it read from "
                                                r"invalid UTF-8\?$"):
        utf8("ab\udc80")
    assert utf8("héllo") == "héllo".encode()


# ---------------------------------------------------------------- encode/stochastic.py
def test_stochastic_defaults_and_errors(trained):
    from tokenlab.encode.stochastic import encode_bpe_dropout, encode_stochastok

    text = "hello world, a default p of 0.1"
    for fn in (encode_stochastok, encode_bpe_dropout):
        assert trained.decode(fn(trained, text, seed=1)) == text  # default p = 0.1 is a valid probability
        with pytest.raises(InvalidInputError, match=r"^p must be a probability, got 'often'$"):
            fn(trained, text, p="often")
        with pytest.raises(InvalidInputError, match=r"^p must be between 0 and 1, got 1.5$"):
            fn(trained, text, p=1.5)
    with pytest.raises(InvalidInputError, match=r"^mode must be 'per-token' or 'iterative', got 'twice'$"):
        encode_stochastok(trained, text, mode="twice")


def test_bpe_dropout_refuses_tokenizers_without_merges(trained):
    from types import SimpleNamespace

    from tokenlab import Tokenizer
    from tokenlab.encode.stochastic import encode_bpe_dropout

    bytes_only = Tokenizer(vocab={bytes([b]): b for b in range(256)}, merges=[])
    message = r"^bpe-dropout needs a BPE tokenizer with merges$"
    for tok in (bytes_only, SimpleNamespace(pair_table={}), SimpleNamespace(merges=trained.merges)):
        with pytest.raises(InvalidInputError, match=message):
            encode_bpe_dropout(tok, "abc", p=0.1)


def test_stochastic_methods_pass_the_special_token_contract(trained):
    from tokenlab.encode.stochastic import encode_bpe_dropout, encode_stochastok

    eot = trained.special_tokens["<|endoftext|>"]
    text = "one<|endoftext|>two"
    for fn in (encode_stochastok, encode_bpe_dropout):
        ids = fn(trained, text, p=0.2, seed=3, allowed_special="all")
        assert eot in ids and trained.decode(ids) == text
        as_text = fn(trained, text, p=0.0, seed=3, disallowed_special=())
        assert eot not in as_text and as_text == trained.encode_ordinary(text)
        with pytest.raises(SpecialTokenError):
            fn(trained, text, p=0.2, seed=3)


def test_encode_stochastok_iterative_mode_is_the_iterative_procedure(trained, real_docs):
    import random

    from tokenlab.encode.stochastic import encode_stochastok, stochastok_expand, stochastok_expand_iterative

    text = real_docs[-3]
    base = trained.encode(text)
    iterative = encode_stochastok(trained, text, p=0.5, seed=9, mode="iterative")
    assert iterative == stochastok_expand_iterative(trained, base, 0.5, random.Random(9))
    assert iterative != stochastok_expand(trained, base, 0.5, random.Random(9))


def test_stochastok_split_point_uniform_with_two_choices(trained):
    """A token with exactly two splits picks each half the time (the >=3-split case is in test_stochastic)."""
    import random

    from tokenlab.encode.stochastic import split_table, stochastok_expand

    tid, pairs = next((i, ps) for i, ps in split_table(trained).items() if len(ps) == 2)
    rng = random.Random(4)
    n = 2000
    first = sum(tuple(stochastok_expand(trained, [tid], 1.0, rng)) == pairs[0] for _ in range(n))
    assert abs(first - n / 2) <= 5 * (n / 4) ** 0.5


# ---------------------------------------------------------------- encode/bpe.py
def _reference_merge(ids: list[int], table: dict) -> list[int]:
    """BPE by its definition: apply the lowest-rank adjacent pair, leftmost on ties, until none applies."""
    ids = list(ids)
    while True:
        found = [(table[(a, b)][0], i) for i, (a, b) in enumerate(zip(ids, ids[1:])) if (a, b) in table]
        if not found:
            return ids
        _, i = min(found)
        ids[i:i + 2] = [table[(ids[i], ids[i + 1])][1]]


def _random_table(rng, n_symbols: int, n_merges: int) -> dict:
    table, next_id = {}, n_symbols
    for rank in range(n_merges):
        a, b = rng.randrange(next_id), rng.randrange(next_id)
        if (a, b) not in table:
            table[(a, b)] = (rank, next_id)
            next_id += 1
    return table


@pytest.mark.parametrize("length", [0, 1, 2, 3, 7, 40, 96, 97, 300])
def test_bpe_merge_and_heap_follow_the_definition(length):
    import random

    from tokenlab.encode.bpe import LONG_PIECE, bpe_merge, bpe_merge_heap

    rng = random.Random(length)
    for trial in range(30):
        table = _random_table(rng, 3 + trial % 3, 4 + trial)
        ids = [rng.randrange(3 + trial % 3) for _ in range(length)]
        want = _reference_merge(ids, table)
        assert bpe_merge(ids, table) == want
        assert bpe_merge_heap(ids, table) == want
    assert LONG_PIECE < 97  # the 97- and 300-symbol cases above take the heap path through bpe_merge


def test_bpe_merge_ties_go_leftmost_and_input_is_not_changed():
    from tokenlab.encode.bpe import bpe_merge, bpe_merge_heap

    table = {(0, 0): (0, 5), (5, 0): (1, 6), (0, 1): (0, 7)}
    for ids in ([0, 0, 0], [0] * 5, [0, 0, 1], [0] * 120, [0] * 119 + [1]):
        before = list(ids)
        assert bpe_merge(ids, table) == bpe_merge_heap(ids, table) == _reference_merge(ids, table)
        assert ids == before
    assert bpe_merge([0, 0, 0], table) == [6]  # (0,0) at 0 first, then (5,0)
    assert bpe_merge([0, 0, 1], table) == [5, 1]  # equal ranks: the leftmost pair wins


def test_piece_cache_evicts_the_oldest_quarter():
    from tokenlab.encode.bpe import PieceCache

    cache = PieceCache(maxsize=8)
    for k in range(8):
        cache.put(bytes([k]), (k,))
    assert all(cache.get(bytes([k])) == (k,) for k in range(8))
    cache.put(b"new", (99,))  # 9 > 8: the 2 oldest go
    assert [cache.get(bytes([k])) for k in range(3)] == [None, None, (2,)]
    assert cache.get(b"new") == (99,) and len(cache._d) == 7
    cache.clear()
    assert cache.get(b"new") is None and len(cache._d) == 0
