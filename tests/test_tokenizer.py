"""The data model: validation, specials, decode errors, native save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tokenlab import FormatError, InvalidInputError, PreTokenizer, SpecialTokenError, Tokenizer, train_bpe
from tokenlab.io import load_tokenizer


def tiny(**kw) -> Tokenizer:
    vocab = {bytes([b]): b for b in range(256)}
    vocab[b"ab"] = 256
    vocab[b"abc"] = 257
    return Tokenizer(vocab=vocab, merges=[(b"a", b"b"), (b"ab", b"c")], special_tokens={"<s>": 258}, **kw)


def test_merges_apply_in_rank_order():
    tok = tiny(pretokenizer=None)
    assert tok.encode("abcab") == [257, 256]
    assert tok.encode("xabc") == [ord("x"), 257]
    assert tok.encode("acb") == [ord("a"), ord("c"), ord("b")]


def test_pair_semantics_versus_any_split():
    """HF/GPT-2 merge only listed pairs; tiktoken merges any split whose concatenation is a token."""
    vocab = {bytes([b]): b for b in range(256)}
    vocab.update({b"bc": 256, b"ab": 257, b"abc": 258})
    merges = [(b"b", b"c"), (b"a", b"b"), (b"ab", b"c")]
    pair = Tokenizer(vocab=vocab, merges=merges, pretokenizer=None)
    anysplit = Tokenizer(vocab=vocab, merges=merges, pretokenizer=None, any_split=True)
    # "abc": b+c merges first -> a, bc; only any_split knows a+bc -> abc
    assert pair.encode("abc") == [ord("a"), 256]
    assert anysplit.encode("abc") == [258]


def test_specials_allowed_disallowed():
    tok = tiny()
    with pytest.raises(SpecialTokenError, match="<s>"):
        tok.encode("x<s>y")
    assert tok.encode("x<s>y", allowed_special="all") == [ord("x"), 258, ord("y")]
    assert tok.encode("x<s>y", disallowed_special=()) == [ord(c) for c in "x<s>y"]
    assert tok.encode_ordinary("<s>") == [ord(c) for c in "<s>"]
    with pytest.raises(SpecialTokenError, match="not special tokens"):
        tok.encode("x", allowed_special={"<nope>"})
    assert tok.decode([258, ord("a")]) == "<s>a"


@pytest.mark.parametrize("size", [0, 5, 511, 512, 600, 20_000])
def test_default_encode_finds_a_special_anywhere_in_short_and_long_texts(size):
    """Short texts are checked with one `in` per special, long ones with one regex scan: both must find a special
    at the start, in the middle and at the end, and both must leave a text without one to the ordinary path."""
    tok = tiny()
    body = ("ab c<" * (size // 5 + 1))[:size]  # '<' alone, as in code, is not a special
    assert tok.encode(body) == tok.encode_ordinary(body)
    for text in ("<s>" + body, body[: size // 2] + "<s>" + body[size // 2 :], body + "<s>"):
        with pytest.raises(SpecialTokenError, match=f"offset {text.find('<s>')};"):
            tok.encode(text)
        assert tok.encode(text, disallowed_special=()) == tok.encode_ordinary(text)


def test_as_array_and_batch():
    tok = tiny()
    arr = tok.encode("abcab", as_array=True)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.uint32 and arr.tolist() == [257, 256]
    assert tok.encode_batch(["ab", "abc"]) == [[256], [257]]


def test_decode_errors():
    tok = tiny()
    with pytest.raises(InvalidInputError, match="unknown token id"):
        tok.decode([999])
    with pytest.raises(InvalidInputError, match="unknown token id"):
        tok.decode([-1])
    with pytest.raises(InvalidInputError):
        tok.token_bytes(10_000)
    assert tok.decode([0xE2]) == "\ufffd"
    with pytest.raises(InvalidInputError, match="invalid UTF-8"):
        tok.decode([0xE2], errors="strict")
    assert tok.decode(np.array([256, 257])) == "ababc"
    assert tok.decode([]) == ""


def test_lone_surrogate_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="surrogate"):
        tiny().encode("ab\udcff")


def test_validation_rejects_broken_models():
    vocab = {bytes([b]): b for b in range(256)}
    with pytest.raises(FormatError, match="single-byte"):
        Tokenizer(vocab={b"a": 0}, merges=[])
    with pytest.raises(FormatError, match="missing from vocab"):
        Tokenizer(vocab=dict(vocab), merges=[(b"a", b"b")])
    with pytest.raises(FormatError, match="collide"):
        Tokenizer(vocab=dict(vocab), merges=[], special_tokens={"<s>": 5})
    with pytest.raises(InvalidInputError, match="pattern"):
        PreTokenizer("(unclosed")


def test_native_save_load_round_trip(trained, tmp_path, real_docs):
    path = tmp_path / "tok.json"
    trained.save(path)
    back = load_tokenizer(path)
    assert back.vocab == trained.vocab and back.merges == trained.merges
    assert back.special_tokens == trained.special_tokens
    assert back.pretokenizer == trained.pretokenizer
    assert back.encode(real_docs[2]) == trained.encode(real_docs[2])


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("vocab"), "corrupt"),
    (lambda d: d.update(vocab=[["!!notbase64", 0]]), "corrupt"),
    (lambda d: d.update(merges=[[0, 99999]]), "corrupt"),
    (lambda d: d.update(version=99), "newer"),
])
def test_corrupt_native_files(trained, tmp_path, mutate, message):
    d = trained.to_dict()
    mutate(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(FormatError, match=message):
        load_tokenizer(path)


def test_truncated_file_is_format_error(trained, tmp_path):
    path = tmp_path / "t.json"
    trained.save(path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(FormatError):
        load_tokenizer(path)


def test_split_digits_changes_training_and_encoding():
    docs = ["call 5551234567 or 1234 now, 12345678 ok " * 50]
    tok = train_bpe(docs, vocab_size=300, pretokenizer="gpt2", split_digits=3)
    for t in tok.vocab:
        digits = sum(ch.isdigit() for ch in t.decode("utf-8", "replace"))
        assert digits <= 3
    ids = tok.encode("5551234567")
    assert tok.decode(ids) == "5551234567"
    assert all(len(tok.token_bytes(i)) <= 3 for i in ids)


def test_every_registered_json_format_loads_by_path_without_prior_imports(tmp_path):
    """A fresh interpreter loads a Unigram model file through load_tokenizer alone."""
    import subprocess
    import sys

    from tokenlab.train.unigram import train_unigram

    model = train_unigram(["hello world, hello tokens " * 40], vocab_size=300, progress=False)
    path = tmp_path / "uni.json"
    model.save(path)
    code = ("import sys; from tokenlab.io import load_tokenizer; t = load_tokenizer(sys.argv[1]); "
            "print(type(t).__name__, t.decode(t.encode('hello world')))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(None, 1) == ["UnigramModel", "hello world\n"]


def test_bert_vocab_txt_is_detected_as_wordpiece():
    from tokenlab.models.wordpiece import minilm_vocab_path

    tok = load_tokenizer(minilm_vocab_path())
    assert type(tok).__name__ == "WordPieceTokenizer"
    assert tok.decode(tok.encode("hello world")) == "hello world"
