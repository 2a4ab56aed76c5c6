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
    tok = train_lib(docs, vocab_size=280, epochs=80, progress=False)
    ids = tok.encode("the cat sat on the mat")
    assert len(ids) <= 4  # 22 characters in at most 4 units
    assert any(" " in u.strip() for u in tok.units)  # a unit spans two words
    assert tok.decode(ids) == "the cat sat on the mat"


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
