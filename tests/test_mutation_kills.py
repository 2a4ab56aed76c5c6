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
