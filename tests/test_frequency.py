"""Frequency-only (Huffman) word tokenizer: optimal prefix-free codes, exact round trip, CLI and research table."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.errors import FormatError, InvalidInputError, TokenlabError
from tokenlab.train.frequency import HuffmanWordTokenizer, huffman_codes, load_huffman, train_huffman


def _cost(weights, codes):
    return sum(w * len(codes[x]) for x, w in weights.items())


def test_binary_huffman_known_lengths():
    weights = {b"a": 5, b"b": 2, b"c": 1, b"d": 1}
    codes = huffman_codes(weights, 2)
    assert {w: len(c) for w, c in codes.items()} == {b"a": 1, b"b": 2, b"c": 3, b"d": 3}
    assert _cost(weights, codes) == 15


def test_ternary_huffman_needs_a_dummy_leaf():
    codes = huffman_codes({b"a": 5, b"b": 2, b"c": 1, b"d": 1}, 3)
    assert {w: len(c) for w, c in codes.items()} == {b"a": 1, b"b": 1, b"c": 2, b"d": 2}


def test_few_words_get_one_symbol_each_most_frequent_first():
    assert huffman_codes({b"x": 1, b"y": 9, b"z": 4}, 8) == {b"y": (0,), b"z": (1,), b"x": (2,)}
    with pytest.raises(InvalidInputError):
        huffman_codes({b"x": 1}, 1)


def _brute_force_optimum(weights, k):
    """Smallest weighted code length over all length assignments satisfying Kraft's inequality."""
    ws = list(weights.values())
    best = None
    for lengths in itertools.product(range(1, len(ws) + 1), repeat=len(ws)):
        if sum(k ** -n for n in lengths) <= 1 + 1e-12:
            cost = sum(w * n for w, n in zip(ws, lengths))
            best = cost if best is None else min(best, cost)
    return best


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=2, max_size=5), st.integers(2, 4))
def test_codes_are_prefix_free_and_optimal(ws, k):
    weights = {bytes([65 + n]): w for n, w in enumerate(ws)}
    codes = huffman_codes(weights, k)
    assert set(codes) == set(weights)
    values = list(codes.values())
    for a, b in itertools.permutations(values, 2):
        assert a != b[: len(a)]  # no code is a prefix of another
    assert all(0 <= s < k for c in values for s in c)
    assert _cost(weights, codes) == _brute_force_optimum(weights, k)


@pytest.fixture(scope="module")
def tok():
    from tokenlab.evaluate.data import stdlib_code

    return train_huffman(stdlib_code(200_000), vocab_size=600, special_tokens=["<|endoftext|>"], progress=False)


def test_round_trip_with_unseen_words_and_specials(tok):
    text = "def frobnicate(x):\n    return self.value + 'ünïcödé 日本 😀'\n"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert any(i < 256 for i in ids)  # unseen words fall back to bytes
    assert tok.encode("<|endoftext|>", allowed_special="all") == [tok.special_tokens["<|endoftext|>"]]
    with pytest.raises(TokenlabError):
        tok.encode("<|endoftext|>")
    most_frequent = min(tok.codes, key=lambda w: (len(tok.codes[w]), tok.codes[w]))
    assert len(tok.encode_ordinary(most_frequent.decode())) == 1


def test_decode_errors_and_files(tok, tmp_path):
    long_code = next(c for c in tok.codes.values() if len(c) > 1)
    with pytest.raises(InvalidInputError, match="end inside a word code"):
        tok.decode([256 + long_code[0]])
    with pytest.raises(InvalidInputError, match="unknown token id"):
        tok.decode([10**6])
    tok.save(tmp_path / "h.json")
    again = load_huffman(tmp_path / "h.json")
    assert again.codes == tok.codes and again.encode("print(x)") == tok.encode("print(x)")
    from tokenlab.io import load_tokenizer

    assert isinstance(load_tokenizer(tmp_path / "h.json"), HuffmanWordTokenizer)
    with pytest.raises(FormatError):
        HuffmanWordTokenizer({b"a": (0,), b"b": (0, 1)}, 2)  # (0,) is a prefix of (0, 1)
    with pytest.raises(InvalidInputError):
        train_huffman(["x"], vocab_size=257, progress=False)


def test_train_cli_and_research_table(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 50 + "a dog ate the bone\n" * 30, encoding="utf-8")
    out = tmp_path / "h.json"
    r = CliRunner().invoke(main, ["train", str(corpus), "-o", str(out), "--algorithm", "huffman", "--vocab-size",
                                  "300", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["format"] == "tokenlab-huffman"
    r = CliRunner().invoke(main, ["research-table", str(corpus), "--algorithms", "bpe,huffman", "--methods", "none",
                                  "--vocab-size", "300", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert rows["huffman"]["lossless"] is True and rows["huffman"]["error"] == ""
    # every held-out pretoken was seen and has a one-symbol code: " a dog ate the bone" + "\n" = 6 tokens, 5 words
    assert rows["huffman"]["tokens_per_word"] == pytest.approx(6 / 5)
