"""The compiled encode/decode path: pieces equal the regex's, ids equal tiktoken's and the Python path's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenlab import InvalidInputError, PreTokenizer
from tokenlab.encode.fast import HAVE_NUMBA, split_pieces

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed: the compiled path is off")

NAMED = ["gpt2", "cl100k", "o200k", "tekken", "whitespace", None]

# characters that exercise every branch of the three patterns
TRICKY = (
    "aZé\u01c5\u02b0\u05d0\u4e2dß\u0130\u017f"  # Ll Lu Ll Lt Lm Lo Lo Ll Lu, long s (folds to 's')
    "\u0301\u0308\u093f"  # marks (not letters, but in o200k's letter classes)
    "09\u0663\u00bd\u2167"  # Nd, Arabic-Indic digit, No, Nl
    " \t\r\n\u000b\u000c\u0085\u00a0\u2028\u2029\u3000"  # whitespace incl. line/paragraph separators
    "'\u2019!?.,/-_#(){}\"\\@\U0001f916"  # apostrophes, punctuation, slash, emoji
    "sStTdDmMlLvVrReE"  # contraction letters in both cases
)
texts = st.text(alphabet=st.sampled_from(TRICKY), max_size=40)
CONTRACTIONS = st.lists(st.sampled_from(["'s", "'S", "'t", "'T", "'re", "'RE", "'rE", "'ve", "'VE", "'m", "'M",
                                         "'ll", "'LL", "'lL", "'d", "'D", "'\u017f", "'", "x", "X", " ", "\n",
                                         "\u0301", "É", "é", "1", "ʰ"]), max_size=12).map("".join)


@pytest.mark.parametrize("pattern", NAMED)
@pytest.mark.parametrize("split_digits", [None, 1, 3])
def test_state_machine_pieces_equal_regex_on_real_text(pattern, split_digits, real_text):
    text = real_text[:300_000] + real_text[-100_000:]
    assert split_pieces(text, pattern, split_digits) == PreTokenizer(pattern, split_digits).split(text)


@pytest.mark.parametrize("pattern", NAMED)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, contractions=CONTRACTIONS)
def test_state_machine_pieces_equal_regex_on_generated_unicode(pattern, text, contractions):
    for sample in (text, contractions, text + contractions):
        assert split_pieces(sample, pattern) == PreTokenizer(pattern).split(sample), repr(sample)
        assert split_pieces(sample, pattern, 2) == PreTokenizer(pattern, 2).split(sample), repr(sample)


def test_pieces_hand_checked():
    # answers worked out by hand from the patterns
    assert split_pieces("I'LL  go\n\n x", "cl100k") == ["I", "'LL", " ", " go", "\n\n", " x"]
    assert split_pieces("I'LL go", "gpt2") == ["I", "'", "LL", " go"]
    assert split_pieces("HELLOworld'S", "o200k") == ["HELLOworld'S"]
    assert split_pieces("don\u2019t 12345", "cl100k") == ["don", "\u2019t", " ", "123", "45"]
    assert split_pieces("a  \n", "cl100k") == ["a", "  \n"]
    assert split_pieces("a  \n", "o200k") == ["a", "  \n"]
    assert split_pieces("a\n  ", "o200k") == ["a", "\n", "  "]
    assert split_pieces("x 12345", "whitespace", 2) == ["x", " ", "12", "34", "5"]


# ------------------------------------------------------------------ ids
def _slow(tok, text):
    return tok._encode_ordinary_python(text)


@pytest.fixture(scope="module")
def cl100k_variants(cl100k):
    """cl100k's ranks under each named pre-tokenizer, with tiktoken built the same way as reference."""
    import tiktoken

    from tokenlab.pretokenize import PATTERNS

    ranks = {tok: i for tok, i in cl100k.vocab.items()}
    out = {}
    for name in ("gpt2", "o200k"):
        ours = dataclasses.replace(cl100k, pretokenizer=PreTokenizer(name), special_tokens={})
        ref = tiktoken.Encoding(name=f"cl100k-{name}", pat_str=PATTERNS[name], mergeable_ranks=ranks,
                                special_tokens={})
        out[name] = (ours, ref)
    return out


def test_cl100k_batch_equals_tiktoken_in_threads(cl100k, cl100k_ref, real_docs):
    ref = cl100k_ref.encode_ordinary_batch(real_docs, num_threads=2)
    for threads in (1, 2):
        assert cl100k.encode_batch(real_docs, num_threads=threads, disallowed_special=()) == ref
    arrays = cl100k.encode_batch(real_docs[:50], num_threads=2, as_array=True, disallowed_special=())
    assert all(a.dtype == np.uint32 and a.tolist() == r for a, r in zip(arrays, ref[:50]))


@pytest.mark.parametrize("name", ["gpt2", "o200k"])
def test_other_patterns_equal_tiktoken_with_same_pattern(cl100k_variants, real_docs, name):
    ours, ref = cl100k_variants[name]
    docs = real_docs[::3]
    assert ours.encode_batch(docs, num_threads=2) == ref.encode_ordinary_batch(docs, num_threads=1)


def test_long_pieces_use_heap_and_match(cl100k, cl100k_ref, trained):
    cases = [" " * 5000 + "x", "a" * 3000, "ab" * 700, "\u4e2d\u6587" * 400, "1" * 999, "x" * 257,
             "é" * 200 + "!" * 600]
    for s in cases:
        assert cl100k.encode(s) == cl100k_ref.encode(s), s[:10]
        assert trained.encode(s) == _slow(trained, s), s[:10]


def test_trained_tokenizer_fast_equals_python_path(trained, real_docs):
    assert trained._fast is not None and not trained.any_split
    for doc in real_docs[::4]:
        assert trained.encode(doc) == _slow(trained, doc)
    batch = trained.encode_batch(real_docs, num_threads=2)
    assert batch == [_slow(trained, d) for d in real_docs]


@pytest.mark.parametrize("pattern,split_digits", [("gpt2", None), ("o200k", 2), ("whitespace", None),
                                                  (None, None), ("cl100k", 1)])
def test_small_trained_tokenizers_fast_equals_python_path(pattern, split_digits, real_docs):
    from tokenlab import train_bpe

    docs = real_docs[:40] + real_docs[-30:]
    tok = train_bpe(docs, vocab_size=700, pretokenizer=pattern, split_digits=split_digits,
                    special_tokens=["<|x|>"])
    assert tok._fast is not None
    text = "".join(real_docs[100:160]) if pattern is not None else real_docs[101][:3000]
    assert tok.encode(text) == _slow(tok, text)
    assert tok.encode("a<|x|>1234", allowed_special="all") == _slow(tok, "a") + [tok.special_tokens["<|x|>"]] + _slow(
        tok, "1234")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_generated_text_ids_equal(cl100k, cl100k_ref, trained, text):
    assert cl100k.encode_ordinary(text) == cl100k_ref.encode_ordinary(text)
    assert trained.encode_ordinary(text) == _slow(trained, text)
    assert cl100k.decode(cl100k.encode_ordinary(text)) == text


def test_custom_pattern_takes_regex_kernel_path(trained):
    """A pattern with no state machine: the pinned regex splits, the C kernel encodes (numba has no such path)."""
    from tokenlab.encode import native

    tok = dataclasses.replace(trained, pretokenizer=PreTokenizer(r"\w+|\W"))
    assert isinstance(tok._fast, native.NativeRegexBPE) or (native._kernel is None and tok._fast is None)
    assert tok.encode("hello, world") == _slow(tok, "hello, world")
    same = dataclasses.replace(trained, pretokenizer=PreTokenizer(PreTokenizer("gpt2").regex_str))
    assert same._fast is not None and same._fast.pattern == 1


def test_as_array_and_lone_surrogate(cl100k, cl100k_ref):
    arr = cl100k.encode("hello world", as_array=True)
    assert arr.dtype == np.uint32 and arr.tolist() == cl100k_ref.encode("hello world")
    with pytest.raises(InvalidInputError, match="surrogate"):
        cl100k.encode("a\ud800b")
    with pytest.raises(InvalidInputError, match="surrogate"):
        cl100k.encode_batch(["ok", "a\ud800b"])
    with pytest.raises(InvalidInputError, match="num_threads"):
        cl100k.encode_batch(["a", "b"], num_threads=0)


# ------------------------------------------------------------------ decode
def test_decode_matches_tiktoken_and_python(cl100k, cl100k_ref, real_text):
    ids = cl100k_ref.encode(real_text[:200_000])
    expected = cl100k_ref.decode_bytes(ids)
    assert cl100k.decode_bytes(ids) == expected
    assert cl100k.decode_bytes(np.asarray(ids, dtype=np.uint32)) == expected
    assert cl100k.decode_bytes(iter(ids)) == expected
    assert cl100k.decode_bytes(tuple(ids[:10])) == cl100k_ref.decode_bytes(ids[:10])
    assert cl100k.decode_bytes([]) == b""
    special = cl100k.special_tokens["<|endoftext|>"]
    assert cl100k.decode([special, 15339]) == "<|endoftext|>hello"


@pytest.mark.parametrize("bad", [[1, -1], [10 ** 9], [2 ** 70], [1, 2.5], ["x"], [None], [100256]])
def test_decode_rejects_unknown_ids(cl100k, bad):
    # 100256 is a gap between cl100k's ordinary and special ids
    with pytest.raises(InvalidInputError, match="unknown token id"):
        cl100k.decode_bytes(bad)


@pytest.mark.parametrize("bad", [np.array([1, -1]), np.array([100256], dtype=np.uint32), np.array([10 ** 9]),
                                 np.array([1.0]), np.array([[1]])])
def test_decode_rejects_bad_arrays(cl100k, bad):
    with pytest.raises(InvalidInputError, match="unknown token id"):
        cl100k.decode_bytes(bad)


def test_tokenizer_pickles_after_fast_use(trained, real_docs):
    import pickle

    ids = trained.encode(real_docs[2])
    assert trained._fast is not None
    back = pickle.loads(pickle.dumps(trained))
    assert back.encode(real_docs[2]) == ids
    assert back.decode(ids) == real_docs[2]


def test_without_numba_the_python_path_is_used(trained, monkeypatch, real_docs):
    from tokenlab.encode import fast

    monkeypatch.setattr(fast, "HAVE_NUMBA", False)
    monkeypatch.setattr("tokenlab.encode.native._kernel", None)
    tok = dataclasses.replace(trained)
    assert tok._fast is None
    assert tok.encode(real_docs[5]) == trained.encode(real_docs[5])
    assert tok.encode_batch(real_docs[:3], num_threads=2) == trained.encode_batch(real_docs[:3], num_threads=2)


def test_batch_groups_cover_every_doc_once():
    from tokenlab.encode.fast import _groups

    for sizes in ([5], [0, 0, 3], list(range(50)), [10 ** 6] * 7 + [1] * 20):
        off = np.concatenate([[0], np.cumsum(sizes)])
        for threads, cap in ((1, None), (2, None), (3, 10), (1, 100)):
            groups = _groups(off, threads, max_chars=cap)
            assert [d for a, b in groups for d in range(a, b)] == list(range(len(sizes)))
            if cap:  # docs are indivisible: a group exceeds the cap by less than one doc
                assert all(off[b] - off[a] <= cap + max(sizes) for a, b in groups)


def test_concurrent_encode_from_python_threads(trained, real_docs):
    from concurrent.futures import ThreadPoolExecutor

    docs = real_docs[:200]
    expected = [_slow(trained, d) for d in docs]
    with ThreadPoolExecutor(4) as ex:  # each thread must get its own piece cache
        got = list(ex.map(trained.encode, docs))
    assert got == expected


def test_benchmark_harness_collects_rows_and_writes_outputs(tmp_path, monkeypatch):
    import importlib.util
    import os
    import sys

    root = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "run.py")
    spec = importlib.util.spec_from_file_location("tokenlab_bench_run", root)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    (tmp_path / "bench_fake.py").write_text(
        "def run(threads, quick=False):\n"
        "    return [{'task': 'fake', 'ours_mb_s': 30.0 * threads, 'peer': 'p', 'peer_mb_s': 10.0,\n"
        "             'ratio': 3.0 * threads, 'peak_rss_mb': 5.0, 'notes': 'quick' if quick else 'full'}]\n")
    (tmp_path / "bench_broken.py").write_text("THREADS = (1,)\ndef run(threads):\n    raise RuntimeError('boom')\n")
    monkeypatch.setattr(harness, "HERE", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    assert harness.main(["--quick", "--out-dir", str(out)]) == 0
    md = (out / "results-quick.md").read_text()
    assert "| fake | 1 | 30.00 | p | 10.00 | 3.00x | 5.00 | quick |" in md
    assert "| fake | 2 | 60.00 | p | 10.00 | 6.00x | 5.00 | quick |" in md
    assert "boom" in md and md.count("bench_broken") == 1  # run once: THREADS = (1,)
    assert (out / "results-quick.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):
        harness.main(["--only", "nosuch", "--out-dir", str(out)])
    sys.modules.pop("bench_fake", None)
    sys.modules.pop("bench_broken", None)


def test_tekken_uses_compiled_path_and_matches_mistral(real_docs):
    import os

    mistral_common = pytest.importorskip("mistral_common")
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    from tokenlab.io import read_tekken

    path = os.path.join(os.path.dirname(mistral_common.__file__), "data", "tekken_240911.json")
    ours, ref = read_tekken(path), Tekkenizer.from_file(path)
    assert ours._fast is not None and ours._fast.pattern == 5
    docs = real_docs[1::11]
    assert ours.encode_batch(docs, num_threads=2, disallowed_special=()) == [
        ref.encode(d, bos=False, eos=False) for d in docs]
