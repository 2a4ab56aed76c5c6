"""Issue 14, finding 2: catastrophic pre-tokenizer patterns from files or the CLI must not hang.

The classic ReDoS families run on inputs of growing length; each call either finishes or raises a
clear InvalidInputError within a bounded time (the guard's limit is lowered for the test).
"""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from tokenlab import pretokenize
from tokenlab.cli import main
from tokenlab.errors import InvalidInputError
from tokenlab.io import load_tokenizer
from tokenlab.pretokenize import PreTokenizer

from reliability_util import dump, small_tokenizer

FAMILIES = [
    (r"(a|aa)+$", "a"),  # overlapping alternation
    (r"(a+)+$", "a"),  # nested quantifiers
    (r"(a*)*b", "a"),
    (r"(\w+\s?)*$", "ab "),
    (r"^(a|a?)+$", "a"),
    (r"(x+x+)+y", "x"),
    (r"(\d+|\d+\.\d+)+!", "1"),
]


@pytest.fixture()
def short_limit(monkeypatch):
    monkeypatch.setattr(pretokenize, "REGEX_TIMEOUT_BASE", 0.2)
    monkeypatch.setattr(pretokenize, "REGEX_TIMEOUT_PER_CHAR", 1e-6)
    return 0.2


@pytest.mark.parametrize("pattern,unit", FAMILIES)
def test_redos_families_are_bounded(short_limit, pattern, unit):
    pre = PreTokenizer(pattern)
    for n in (8, 32, 128, 2048):
        text = unit * n + "!"
        start = time.perf_counter()
        try:
            pieces = pre.split(text)
            assert "".join(pieces) == text
        except InvalidInputError as exc:
            assert "catastrophic" in str(exc) and "\n" not in str(exc)
        # the limit plus generous slack for a loaded machine: never the minutes of unguarded backtracking
        assert time.perf_counter() - start < short_limit * 10 + 5, (pattern, n)


def test_named_and_simple_patterns_still_split(short_limit):
    text = "hello world 12345 ok\n" * 2000
    assert "".join(PreTokenizer(r"\w+|\s+|[^\w\s]+").split(text)) == text
    assert PreTokenizer("gpt2").split("hello world") == ["hello", " world"]


def test_pattern_from_a_tokenlab_json_is_guarded(short_limit, tmp_path):
    d = small_tokenizer().to_dict()
    d["pretokenizer"] = {"pattern": r"(a|aa)+$", "split_digits": None}
    tok = load_tokenizer(dump(tmp_path / "t.json", d))
    start = time.perf_counter()
    with pytest.raises(InvalidInputError, match="catastrophic"):
        tok.encode("a" * 60 + "!")
    assert time.perf_counter() - start < 10


def test_pattern_from_hf_split_is_guarded(short_limit, tmp_path):
    from tokenlab.io.hf_json import to_hf_dict

    d = to_hf_dict(small_tokenizer())
    d["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"(a+)+$"
    tok = load_tokenizer(dump(tmp_path / "tokenizer.json", d))
    with pytest.raises(InvalidInputError, match="catastrophic"):
        tok.encode("a" * 5000 + "!")


def test_train_pretokenizer_option_is_guarded(short_limit, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a" * 60 + "!\n" + "hello\n")
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["train", str(corpus), "-o", str(tmp_path / "t.json"), "--pretokenizer",
                                       r"(a|aa)+$", "--vocab-size", "260", "--workers", "1", "--no-progress"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "catastrophic" in result.output
    assert time.perf_counter() - start < 20 and not (tmp_path / "t.json").exists()
