"""The C training kernels (``kernels/_train.c``) against the numba and pure-Python paths they replace:
the same pretoken counts (in the same order) and the same merges, step for step; bad buffers are refused."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

import tokenlab.kernels
from tokenlab import PreTokenizer
from tokenlab.train import bpe
from tokenlab.train.bpe import count_pretokens, train_from_counts

from adversarial import adversarial_text, long_runs

ctrain = tokenlab.kernels.train
pytestmark = pytest.mark.skipif(ctrain is None, reason="the C training kernel is not built")


@pytest.fixture(scope="module")
def docs(real_docs):
    return real_docs[::3] + [adversarial_text(seed, 20_000) for seed in range(3)] + long_runs() + [
        "", "x", " \n\n  \t", "日本語のテキスト 123456 🤖🤖 don't I'LL"]


def numba_counter(pre):
    pytest.importorskip("numba")
    from tokenlab.train._count import native_counter

    return native_counter(pre)


@pytest.mark.parametrize("pattern, split_digits", [
    ("gpt2", None), ("cl100k", None), ("o200k", None), ("whitespace", None), ("gpt2", 3), ("cl100k", 1)])
def test_c_counter_equals_numba_and_regex(monkeypatch, docs, pattern, split_digits):
    pre = PreTokenizer(pattern, split_digits)
    regex = count_pretokens(docs, pre, workers=1, native=False)
    assert list(numba_counter(pre)(docs).items()) == list(regex.items())
    assert tokenlab.kernels.count is not None
    for fused in (True, False):  # _count.c's count_text; else Encoder.split + _train.c's count_split
        if not fused:
            monkeypatch.setattr(tokenlab.kernels, "count", None)
        got = bpe.c_counter(pre)(docs)
        assert list(got.items()) == list(regex.items())  # same counts, in first-occurrence order


@pytest.mark.parametrize("fused", [True, False])
def test_c_counter_edge_cases(monkeypatch, fused):
    if not fused:
        monkeypatch.setattr(tokenlab.kernels, "count", None)
    pre = PreTokenizer("cl100k")
    counter = bpe.c_counter(pre)
    assert counter([]) == {} and counter(["", ""]) == {}
    assert counter(["ab ab", "", "ab"]) == {b"ab": 2, b" ab": 1}  # pieces never cross documents
    assert counter(["x\n", "\ny"]) == {b"x": 1, b"\n": 2, b"y": 1}
    assert bpe.c_counter(PreTokenizer(r"\w+|\W+")) is None  # a custom regex: the regex counter takes it
    with pytest.raises(UnicodeEncodeError):
        counter(["bad \ud800"])


@pytest.mark.parametrize("pattern, vocab_size, specials, min_frequency", [
    ("gpt2", 3000, (), 0), ("cl100k", 2500, ("<|endoftext|>",), 3), ("o200k", 1500, (), 0)])
def test_c_merge_loop_equals_numba(monkeypatch, docs, pattern, vocab_size, specials, min_frequency):
    pytest.importorskip("numba")
    pre = PreTokenizer(pattern)
    counts = count_pretokens(docs, pre, workers=1)
    c = train_from_counts(counts, vocab_size, pre, specials, min_frequency)
    monkeypatch.setattr(tokenlab.kernels, "train", None)
    numba = train_from_counts(counts, vocab_size, pre, specials, min_frequency)
    assert len(c.merges) > vocab_size // 2
    assert c.merges == numba.merges and c.vocab == numba.vocab and c.special_tokens == numba.special_tokens


def test_c_merge_loop_equals_python(real_docs):
    """Small enough for the pure-Python loop; plus random tiny tables (ties everywhere)."""
    pre = PreTokenizer("gpt2")
    counts = count_pretokens(real_docs[:30], pre, workers=1)
    c = train_from_counts(counts, 500, pre, ["<s>"])
    slow = train_from_counts(counts, 500, pre, ["<s>"], native=False)
    assert c.merges == slow.merges and c.vocab == slow.vocab
    rng = random.Random(0)
    for _ in range(200):
        table = {"".join(rng.choice("abc ") for _ in range(rng.randint(2, 9))).encode(): rng.randint(1, 4)
                 for _ in range(rng.randint(1, 6))}
        min_frequency = rng.choice([0, 2])
        fast = train_from_counts(table, 280, PreTokenizer(None), min_frequency=min_frequency)
        slow = train_from_counts(table, 280, PreTokenizer(None), min_frequency=min_frequency, native=False)
        assert fast.merges == slow.merges and fast.vocab == slow.vocab, table


def test_c_kernels_refuse_bad_buffers():
    from tokenlab.encode.unicode_table import class_table

    count_text = tokenlab.kernels.count.count_text
    table = class_table()
    with pytest.raises(ValueError, match="rise"):
        count_text(table, b"abcd", np.array([3, 1], dtype=np.int64), 1, 0)
    with pytest.raises(ValueError, match="rise"):
        count_text(table, b"abcd", np.array([5], dtype=np.int64), 1, 0)
    with pytest.raises(ValueError, match="class table"):
        count_text(table[:100], b"abcd", np.array([4], dtype=np.int64), 1, 0)
    with pytest.raises(ValueError, match="pattern"):
        count_text(table, b"abcd", np.array([4], dtype=np.int64), 99, 0)
    with pytest.raises(ValueError, match="rise"):
        ctrain.count_pieces(b"abcd", np.array([3, 1], dtype=np.int64))
    with pytest.raises(ValueError, match="rise"):
        ctrain.count_pieces(b"abcd", np.array([9], dtype=np.int64))
    with pytest.raises(ValueError):
        ctrain.count_pieces(b"abcd", np.array([1, 2], dtype=np.int32))
    sym = np.array([97, 98], dtype=np.int32)
    nxt = np.array([1, -1], dtype=np.int32)
    key = np.arange(256, dtype=np.int64)
    prog = np.zeros(1, dtype=np.int64)
    one = np.array([0], dtype=np.int64)
    left, right, result = ctrain.train_merges(sym.copy(), nxt.copy(), one, np.array([2]), key, 5, 1, prog)
    assert np.frombuffer(left, np.int32).tolist() == [97] and np.frombuffer(result, np.int32).tolist() == [256]
    with pytest.raises(ValueError, match="range"):
        ctrain.train_merges(sym.copy(), np.array([5, -1], dtype=np.int32), one, np.array([2]), key, 5, 1, prog)
    with pytest.raises(ValueError, match="range"):
        ctrain.train_merges(sym.copy(), nxt.copy(), np.array([7]), np.array([2]), key, 5, 1, prog)
    with pytest.raises(ValueError, match="sizes"):
        ctrain.train_merges(sym.copy(), nxt.copy(), one, np.array([2]), key[:10], 5, 1, prog)


def test_training_does_not_load_numba(tmp_path):
    """With the C kernels, training starts without numba/LLVM (no JIT warm-up, ~150 MB less memory)."""
    script = ("import sys\nfrom tokenlab import train_bpe\n"
              "tok = train_bpe(['hello world, hello there ' * 50], vocab_size=300, pretokenizer='cl100k')\n"
              "assert len(tok.merges) > 5\nprint('numba' in sys.modules, 'llvmlite' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
