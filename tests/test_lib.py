"""LiB-style learner: exact round trip, learns repeated units (including multi-word ones), files, research table."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.errors import FormatError, InvalidInputError
from tokenlab.train.lib import LiBTokenizer, _segment, load_lib, train_lib


def test_segmentation_prefers_the_best_ranked_unit():
    rank = {"ab": 1, "abc": 2, "bc": 0}
    assert _segment("abc", rank, 12) == ["ab", "c"]  # "ab" (rank 1) beats "abc" (rank 2) at position 0
    assert _segment("xbc", rank, 12) == ["x", "bc"]
    assert _segment("abc", {}, 12) == ["a", "b", "c"]


def test_learns_a_repeated_multiword_unit():
    docs = ["the cat sat on the mat\n" * 5 + "a dog ate a bone\n" * 5]
    tok = train_lib(docs, vocab_size=280, epochs=80, progress=False, reader="rank")
    ids = tok.encode("the cat sat on the mat")
    assert len(ids) <= 4  # 22 characters in at most 4 units
    assert any(" " in u.strip() for u in tok.units)  # a unit spans two words
    assert tok.decode(ids) == "the cat sat on the mat"
    tok = train_lib(docs, vocab_size=280, epochs=80, progress=False)  # the reader (longest match)
    line = "the cat sat on the mat\n"
    ids = tok.encode(line)
    assert tok.match == "longest" and len(ids) <= 4  # 23 characters (with the line end it learnt) in <= 4 units
    assert any(" " in u.strip() for u in tok.units)
    assert tok.decode(ids) == line


def test_longest_match_reader_known_steps():
    from tokenlab.train.lib import LiBReader, _longest_two, _segment_longest

    units = {"ab": 0, "abc": 1, "b": 2}
    assert _longest_two("abcd", 0, units, 12) == ("abc", "ab")
    assert _longest_two("abd", 0, units, 12) == ("ab", "a")  # a single character is the shorter reading
    assert _longest_two("xbc", 0, units, 12) == ("x", None)
    assert _longest_two("b", 0, units, 12) == ("b", None)
    assert _segment_longest("abcab", units, 12) == ["abc", "ab"]
    # reading "abc" at 0 (1 chunk to position 3) beats "ab" + "c" (2 chunks): "abc" rises, "ab" falls
    r = LiBReader(capacity=10, memorize_rate=0.0, update_rate=0.0)
    r.lexicon = ["x", "ab", "y", "abc", "z"]
    r.read(["abc"])
    # rate 0: steps of one; "abc" 3 -> 2, then "ab" 1 -> 2 (past "abc")
    assert r.lexicon == ["x", "abc", "ab", "y", "z"]
    # proposals: a pair read twice in one article is memorised at the bottom
    r = LiBReader(capacity=10, memorize_rate=1.0)
    r.lexicon = ["a", "b"]
    r.read(["ab", "ab"])
    assert "ab" in r.lexicon


def test_old_files_read_with_the_rank_rule(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": "tokenlab-lib", "max_len": 12, "units": ["ab", "abc"],
                                "special_tokens": {}}), encoding="utf-8")
    old = load_lib(path)
    assert old.match == "rank" and [old.token_bytes(i) for i in old.encode("abc")] == [b"ab", b"c"]
    new = LiBTokenizer(["ab", "abc"], match="longest")
    assert [new.token_bytes(i) for i in new.encode("abc")] == [b"abc"]
    assert load_lib(_saved(new, tmp_path)).match == "longest"
    with pytest.raises(FormatError):
        LiBTokenizer(["ab"], match="shortest")
    assert LiBTokenizer(["é"]).encode("é") == [256]  # one multi-byte character is a unit


def _saved(tok, tmp_path):
    tok.save(tmp_path / "new.json")
    return tmp_path / "new.json"


@pytest.fixture(scope="module")
def tok():
    from tokenlab.evaluate.data import stdlib_code

    return train_lib(stdlib_code(60_000), vocab_size=500, epochs=300, special_tokens=["<|endoftext|>"],
                     progress=False)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_round_trip_any_text(tok, text):
    text = text.replace("<|endoftext|>", "")
    ids = tok.encode(text)
    assert tok.decode_bytes(ids) == text.encode("utf-8", "surrogatepass")


def test_specials_files_and_errors(tok, tmp_path):
    eot = tok.special_tokens["<|endoftext|>"]
    assert tok.encode("x<|endoftext|>", allowed_special="all")[-1] == eot
    tok.save(tmp_path / "l.json")
    again = load_lib(tmp_path / "l.json")
    assert again.units == tok.units and again.encode("def f(self):") == tok.encode("def f(self):")
    from tokenlab.io import load_tokenizer

    assert isinstance(load_tokenizer(tmp_path / "l.json"), LiBTokenizer)
    with pytest.raises(FormatError):
        LiBTokenizer(["a"])
    with pytest.raises(InvalidInputError):
        train_lib([""], vocab_size=300, progress=False)
    with pytest.raises(InvalidInputError):
        tok.token_bytes(10**6)


def test_research_table_row(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 40 + "a dog ate a bone\n" * 20, encoding="utf-8")
    r = CliRunner().invoke(main, ["research-table", str(corpus), "--algorithms", "bpe,lib", "--methods", "none",
                                  "--vocab-size", "300", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert rows["lib"]["error"] == "" and rows["lib"]["lossless"] is True
    assert rows["lib"]["bytes_per_token"] > 3  # whole lines and words became units
