"""Pre-tokenizers: lossless splits that agree with HF's Oniguruma splits of the same patterns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.io.hf_json import to_oniguruma
from tokenlab.pretokenize import PATTERNS, PreTokenizer

NAMED = [name for name, rx in PATTERNS.items()]
text_strategy = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)


@pytest.mark.parametrize("name", NAMED)
@settings(max_examples=150, deadline=None)
@given(text=text_strategy)
def test_split_is_lossless(name, text):
    assert "".join(PreTokenizer(name).split(text)) == text
    assert "".join(PreTokenizer(name, split_digits=2).split(text)) == text


@pytest.mark.parametrize("name", ["gpt2", "cl100k", "o200k"])
def test_splits_equal_hf_oniguruma_on_real_text(name, real_docs):
    from tokenizers import Regex, pre_tokenizers

    hf = pre_tokenizers.Split(Regex(to_oniguruma(PATTERNS[name])), behavior="isolated")
    pre = PreTokenizer(name)
    for doc in real_docs[::4]:
        ours = pre.split(doc)
        theirs = [piece for piece, _ in hf.pre_tokenize_str(doc)]
        assert ours == theirs


def test_gpt2_equals_hf_byte_level_regex(real_docs):
    from tokenizers import pre_tokenizers

    from tokenlab.io.hf_json import to_byte_level

    hf = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pre = PreTokenizer("gpt2")
    for doc in real_docs[::6]:
        assert [to_byte_level(p.encode()) for p in pre.split(doc)] == [p for p, _ in hf.pre_tokenize_str(doc)]


def test_known_splits():
    assert PreTokenizer("cl100k").split("I'm 12345 x  y\n\n") == ["I", "'m", " ", "123", "45", " x", " ", " y", "\n\n"]
    assert PreTokenizer("gpt2").split("I'm 12345") == ["I", "'m", " 12345"]
    assert PreTokenizer("gpt2", split_digits=1).split("a 123") == ["a", " ", "1", "2", "3"]
    assert PreTokenizer("o200k").split("HelloWorld's") == ["Hello", "World's"]
    assert PreTokenizer(None).split("a b") == ["a b"]
    assert PreTokenizer("whitespace").split("a  b\n") == ["a", "  ", "b", "\n"]
    assert PreTokenizer("none").split("") == []


def test_shipped_unicode_classes_equal_tiktoken_engine():
    """The compiled pre-tokenizers' character classes equal tiktoken's on all 1.1M code points."""
    import importlib.util
    import sys
    from pathlib import Path

    import numpy as np

    from tokenlab.encode import unicode_table as ut

    spec = importlib.util.spec_from_file_location(
        "make_unicode_classes", Path(__file__).resolve().parents[1] / "scripts" / "make_unicode_classes.py")
    script = importlib.util.module_from_spec(spec)
    sys.modules["make_unicode_classes"] = script
    spec.loader.exec_module(script)
    table = ut.build_class_table()
    for bit, name in ut._SHIPPED_NAMES.items():
        live = np.zeros(ut.N_CODE_POINTS, dtype=bool)
        live[script.probe(script.CLASSES[name])] = True
        assert np.array_equal((table & bit) > 0, live), name


def test_cl100k_equals_tiktoken_on_recently_assigned_letters(cl100k, cl100k_ref):
    """Code points that are letters in the installed ``regex``'s newer Unicode but not in tiktoken's."""
    text = "\U0003d000:A \u0558x \U000105c0!b 9\U00011de0"
    assert cl100k.encode(text) == cl100k_ref.encode(text)


def test_custom_pattern_keeps_unmatched_text_like_hf(real_docs):
    """A custom regex that skips characters must not drop them: gaps become pieces, as in HF's
    isolated Split, so our ids equal the exported tokenizer.json's and decoding is lossless."""
    import tokenizers

    from tokenlab import train_bpe
    from tokenlab.io import to_hf_json_str

    pre = PreTokenizer(r"\p{L}+")
    assert pre.split("ab, cd!") == ["ab", ", ", "cd", "!"]
    tok = train_bpe(real_docs[:20], vocab_size=400, pretokenizer=r"\p{L}+")
    hf = tokenizers.Tokenizer.from_str(to_hf_json_str(tok))
    for doc in real_docs[:40:5]:
        ids = tok.encode(doc, disallowed_special=())
        assert tok.decode(ids) == doc
        assert ids == hf.encode(doc, add_special_tokens=False).ids
