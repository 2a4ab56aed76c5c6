"""The fast trainer (numba merge loop, parallel counting) against HF tokenizers' BpeTrainer on real text."""

from __future__ import annotations

import json

import pytest

from tokenlab import InvalidInputError, PreTokenizer
from tokenlab.io.hf_json import to_oniguruma
from tokenlab.pretokenize import PATTERNS
from tokenlab.train import _native
from tokenlab.train.bpe import count_pretokens, train_bpe, train_from_counts


def hf_train(docs, vocab_size, pattern="gpt2", specials=(), min_frequency=0):
    """Merges and vocab of HF's BpeTrainer, as byte strings."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    from tokenlab.io.hf_json import from_byte_level

    hf = Tokenizer(models.BPE())
    if pattern == "gpt2":
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        hf.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(to_oniguruma(PATTERNS[pattern])), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf.train_from_iterator(docs, trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    model = json.loads(hf.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    vocab = {from_byte_level(t): i for t, i in model["vocab"].items() if t not in specials}
    return [(from_byte_level(a), from_byte_level(b)) for a, b in merges], vocab


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def assert_same_as_hf(ours, docs, vocab_size, pattern, specials=(), min_frequency=0):
    merges, vocab = hf_train(docs, vocab_size, pattern, specials, min_frequency)
    if ours.merges != merges:
        i = first_difference(ours.merges, merges)
        pytest.fail(f"merge {i} differs: ours {ours.merges[i:i + 3]} vs HF {merges[i:i + 3]} "
                    f"({len(ours.merges)} / {len(merges)} merges)")
    # same token set; HF numbers specials first and bytes in its alphabet order, we number bytes by value
    assert set(ours.vocab) == set(vocab)
    assert sorted(ours.vocab, key=ours.vocab.get)[256:] == sorted(vocab, key=vocab.get)[256:]


@pytest.mark.parametrize("pattern, vocab_size, specials, min_frequency", [
    ("gpt2", 1000, (), 0),
    ("gpt2", 6000, ("<|endoftext|>",), 0),
    ("cl100k", 3000, ("<|endoftext|>", "<|pad|>", "<|fim|>"), 0),
    ("cl100k", 20000, (), 3),
])
def test_merges_and_vocab_equal_hf(real_docs, pattern, vocab_size, specials, min_frequency):
    ours = train_bpe(real_docs, vocab_size=vocab_size, pretokenizer=pattern, special_tokens=specials,
                     min_frequency=min_frequency, workers=1)
    assert_same_as_hf(ours, real_docs, vocab_size, pattern, specials, min_frequency)
    if min_frequency == 0:
        assert len(ours) == vocab_size
    else:  # training stopped early because pairs became rarer than min_frequency
        assert len(ours) < vocab_size


def test_special_token_text_in_corpus_like_hf(real_docs):
    docs = [d.replace("\n\n", "\n<|endoftext|>\n") for d in real_docs[::4]]
    ours = train_bpe(docs, vocab_size=1500, pretokenizer="cl100k", special_tokens=["<|endoftext|>"])
    assert_same_as_hf(ours, docs, 1500, "cl100k", ["<|endoftext|>"])
    assert ours.special_tokens == {"<|endoftext|>": 1499}


def test_parallel_counting_equals_serial(real_docs):
    pre = PreTokenizer("cl100k")
    serial = count_pretokens(real_docs, pre, workers=1)
    threads = count_pretokens(real_docs, pre, workers=2, batch_chars=50_000)  # compiled counter: threads
    processes = count_pretokens(real_docs, pre, workers=2, batch_chars=200_000, native=False)  # regex: processes
    assert serial == threads == processes
    # and a hand count on one document
    doc = real_docs[5]
    from collections import Counter

    assert count_pretokens([doc], pre, workers=1) == Counter(p.encode() for p in pre.split(doc))


@pytest.mark.parametrize("pattern, split_digits", [
    ("gpt2", None), ("cl100k", None), ("o200k", None), ("whitespace", None), ("gpt2", 3), ("cl100k", 1)])
def test_compiled_counting_equals_regex_counting(real_docs, pattern, split_digits):
    pytest.importorskip("numba")
    pre = PreTokenizer(pattern, split_digits)
    docs = real_docs[::2] + ["", "x", " \n\n  \t", "日本語のテキスト 123456 🤖🤖 don't"]
    assert count_pretokens(docs, pre, workers=1, native=True) == count_pretokens(docs, pre, workers=1, native=False)


def test_compiled_counting_errors_and_fallbacks():
    pytest.importorskip("numba")
    with pytest.raises(InvalidInputError, match="Unicode"):
        count_pretokens(["bad \ud800"], PreTokenizer("gpt2"), workers=1, native=True)
    with pytest.raises(InvalidInputError, match="native"):  # a custom regex has no state machine
        count_pretokens(["abc"], PreTokenizer(r"\w+|\W+"), workers=1, native=True)
    custom = count_pretokens(["ab cd ab"], PreTokenizer(r"\w+|\W+"), workers=1)
    assert custom == {b"ab": 2, b" ": 2, b"cd": 1}


def test_parallel_training_equals_serial(real_docs):
    import tokenlab.train.bpe as bpe

    docs = real_docs[::2]
    one = train_bpe(docs, vocab_size=2000, pretokenizer="gpt2", workers=1)
    counts = bpe.count_pretokens(docs, PreTokenizer("gpt2"), workers=2, batch_chars=100_000)
    two = train_from_counts(counts, 2000, PreTokenizer("gpt2"))
    assert one.merges == two.merges and one.vocab == two.vocab


def test_python_fallback_equals_numba(real_docs):
    pytest.importorskip("numba")
    pre = PreTokenizer("gpt2")
    counts = count_pretokens(real_docs[:30], pre, workers=1)
    fast = train_from_counts(counts, 500, pre, ["<s>"], native=True)
    slow = train_from_counts(counts, 500, pre, ["<s>"], native=False)
    assert fast.merges == slow.merges and fast.vocab == slow.vocab and len(fast.merges) == 243


def test_hand_worked_counts_and_tie_break():
    # (a,b) and (b,c) both occur 6 times: HF's order puts (a,b) first (key of a < key of b);
    # then words are ab | ab c | bc | x ab, so (b,c)=5 beats (x,ab)=2 beats (ab,c)=1
    counts = {b"ab": 3, b"abc": 1, b"bc": 5, b"xab": 2}
    tok = train_from_counts(counts, 256 + 3, PreTokenizer(None))
    assert tok.merges == [(b"a", b"b"), (b"b", b"c"), (b"x", b"ab")]
    docs = [w.decode() for w, c in counts.items() for _ in range(c)]
    assert hf_train(docs, 256 + 3, "whitespace")[0] == tok.merges


def test_progress_bar_runs_the_loop_in_a_thread(real_docs, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # tqdm turns every bar off where it is set (mutmut sets it)
    tok = train_bpe(real_docs[:20], vocab_size=600, progress=True, workers=1)
    quiet = train_bpe(real_docs[:20], vocab_size=600, progress=False, workers=1)
    assert tok.merges == quiet.merges
    assert "merging" in capsys.readouterr().err


def test_bad_corpus_items_in_the_parallel_path():
    docs = ["some text " * 100] * 5 + [b"bytes"]
    with pytest.raises(InvalidInputError, match="str"):
        count_pretokens(docs, PreTokenizer("gpt2"), workers=2, batch_chars=500)
    for native in (None, False):
        with pytest.raises(InvalidInputError, match="Unicode"):
            count_pretokens(["ok " * 300, "bad \ud800 surrogate"] * 3, PreTokenizer("gpt2"), workers=2,
                            batch_chars=500, native=native)


def test_native_flag_without_numba(monkeypatch):
    import tokenlab.kernels

    monkeypatch.setattr(tokenlab.kernels, "train", None)  # no C training kernel either
    monkeypatch.setattr(_native, "HAVE_NUMBA", False)
    with pytest.raises(InvalidInputError, match="numba"):
        train_from_counts({b"ab": 2}, 300, PreTokenizer(None), native=True)


def test_without_numba_installed_gives_the_same_tokenizer(real_docs, tmp_path):
    """A Python without numba (import blocked) takes the pure-Python paths and learns the same merges."""
    import os
    import subprocess
    import sys

    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(real_docs[:12]), encoding="utf-8")
    script = (
        "import sys, json; sys.modules['numba'] = None\n"
        "from tokenlab import train_bpe\n"
        "from tokenlab.train import _native\n"
        "assert not _native.HAVE_NUMBA\n"
        f"tok = train_bpe([open({str(corpus)!r}, encoding='utf-8').read()], vocab_size=600, special_tokens=['<s>'])\n"
        "print(json.dumps([[a.hex(), b.hex()] for a, b in tok.merges]))\n"
    )
    env = dict(os.environ, TOKENLAB_NO_NATIVE="1")  # and no C kernels: the pure-Python loop and regex counting
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env).stdout
    ours = train_bpe([corpus.read_text(encoding="utf-8")], vocab_size=600, special_tokens=["<s>"])
    assert json.loads(out) == [[a.hex(), b.hex()] for a, b in ours.merges]
    assert len(ours.merges) == 600 - 257
