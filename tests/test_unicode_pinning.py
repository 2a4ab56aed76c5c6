"""Custom pre-tokenizer patterns split by tiktoken's Unicode tables, not the installed ``regex``'s (issue 11,
finding 5): code points assigned in Unicode 15-17 are letters/digits to ``regex`` but not to tiktoken's engine.
Also: the pure-Python path names the right offset of a lone surrogate."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab import Tokenizer
from tokenlab.errors import InvalidInputError
from tokenlab.io.tiktoken_file import QWEN3_5_PATTERN, QWEN_PATTERN
from tokenlab.pretokenize import CL100K_PATTERN, O200K_PATTERN, PreTokenizer, _pinned_table

from adversarial_text import NEW_CODE_POINTS, adversarial_document

tiktoken = pytest.importorskip("tiktoken")

DEEPSEEK_LIKE = (r"""\p{N}{1,3}|[一-龥\u3040-ゟ゠-ヿ]+|[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+"""
                 r"""|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
                 r"""|[\s\S]""")  # the last alternative: tiktoken drops text no alternative matches, tokenlab keeps it
# the named patterns' text as custom patterns, Qwen's and a DeepSeek-like one: each runs on the compiled path
# (a state machine of the cl100k family, or the pinned regex + kernel) and on the pure-Python path; both are checked
PATTERNS = {"qwen": QWEN_PATTERN, "qwen3_5": QWEN3_5_PATTERN, "cl100k-as-custom": f"(?:{CL100K_PATTERN})",
            "o200k-as-custom": f"(?:{O200K_PATTERN})", "deepseek-like": DEEPSEEK_LIKE}


@pytest.fixture(scope="module")
def pairs(cl100k, cl100k_ref):
    """(ours, checked on the compiled and the pure-Python path, tiktoken) per pattern, over cl100k's ranks."""
    ranks = {tok: i for tok, i in cl100k.vocab.items()}
    out = _Pairs()
    for name, pattern in PATTERNS.items():
        ours = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(pattern),
                         ignore_merges=True, any_split=True)
        assert ours._fast is not None
        out[name] = (_BothPaths(ours), tiktoken.Encoding(f"pin-{name}", pat_str=pattern, mergeable_ranks=ranks,
                                                         special_tokens={}))
    return out


class _BothPaths:
    """``encode_ordinary`` runs the compiled and the pure-Python path and fails unless they agree."""

    def __init__(self, tok):
        self.tok = tok

    def encode_ordinary(self, text: str) -> list[int]:
        ids = self.tok.encode_ordinary(text)
        assert ids == self.tok._encode_ordinary_python(text), text
        return ids

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text)


class _Pairs(dict):
    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return f"<{len(self)} tokenizer pairs>"


def test_new_letter_with_contraction(pairs):
    for name, (ours, ref) in pairs.items():
        for text in ("\U00019087's", "x\U00019087's", "\U00011f00\U00011f50 1\U0001e4f0 2", "\u0c5d\u0cf3's"):
            assert ours.encode_ordinary(text) == ref.encode_ordinary(text), (name, text)


def _new_code_point_text(rng: random.Random, size: int) -> str:
    parts = []
    while sum(map(len, parts)) < size:
        r = rng.random()
        if r < 0.5:
            parts.append("".join(chr(rng.choice(NEW_CODE_POINTS)) for _ in range(rng.randrange(1, 4))))
        else:
            parts.append(rng.choice(["'s", "'LL", " ", "  ", "a", "Zy", "1", "23", "٣", "\n", ".", "!?", "\u0301",
                                     "é", "中文", "ー"]))
    return "".join(parts)


def test_random_new_code_points_equal_tiktoken(pairs):
    rng = random.Random(15)
    texts = [_new_code_point_text(rng, 60) for _ in range(400)] + [adversarial_document(rng, 500) for _ in range(40)]
    for name, (ours, ref) in pairs.items():
        bad = [t for t in texts if ours.encode_ordinary(t) != ref.encode_ordinary(t)]
        assert not bad, (name, len(bad), bad[:2])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([chr(c) for c in NEW_CODE_POINTS[::97]] + ["'s", " ", "a", "1", "\n", "!", "é"]),
                max_size=20).map("".join))
def test_hypothesis_new_code_points(pairs, text):
    for name, (ours, ref) in pairs.items():
        assert ours.encode_ordinary(text) == ref.encode_ordinary(text), name


def test_pinned_table_is_tiktokens(cl100k_ref):
    """A sample of code points: tiktoken's one-class pattern keeps exactly those the shipped table lists."""
    rng = random.Random(3)
    table = _pinned_table()
    sample = sorted({rng.choice(NEW_CODE_POINTS) for _ in range(300)} | {rng.randrange(0x110000) for _ in range(700)})
    sample = [c for c in sample if not 0xD800 <= c < 0xE000]
    text = "".join(map(chr, sample))
    for name in ("L", "N", "M", "Lu", "Ll", "Lo", "P", "S", "s"):
        rx = r"\s" if name == "s" else rf"\p{{{name}}}"
        enc = tiktoken.Encoding(f"probe-{name}", pat_str=rx, mergeable_ranks={bytes([b]): b for b in range(256)},
                                special_tokens={})
        kept = set(enc.decode_bytes(enc.encode_ordinary(text)).decode("utf-8"))
        listed = {chr(c) for c in sample if any(lo <= c <= hi for lo, hi in table[name])}
        assert kept == listed, name


def test_lone_surrogate_offset_on_python_path(pairs):
    for name in ("qwen", "deepseek-like"):  # a state machine, the regex path
        ours = pairs[name][0].tok
        for text, offset in (("xyz \ud83d", 4), ("ab\udc00cd", 2), ("\ud800", 0), ("héllo wörld \udfff!", 12)):
            with pytest.raises(InvalidInputError, match=f"at offset {offset}\\)"):
                ours.encode(text)
            with pytest.raises(InvalidInputError, match=f"at offset {offset}\\)"):
                ours._encode_ordinary_python(text)
