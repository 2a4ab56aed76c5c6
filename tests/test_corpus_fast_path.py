"""encode-corpus's fast input side (`tokenlab.kernels._lines`, the kernel batch path, the compiled-vocabulary
fingerprint): ids equal tiktoken on adversarial lines, the C line cutter and UTF-8 check equal Python's decoder,
errors read as before."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tokenlab import InvalidInputError
from tokenlab import corpus as corpus_mod
from tokenlab.corpus import encode_corpus, load_shards
from tokenlab.kernels import bpe as bpe_kernel
from tokenlab.kernels import corpus as corpus_kernel
from tokenlab.kernels import lines as line_kernel

from adversarial import adversarial_text, random_code_point

needs_lines = pytest.mark.skipif(line_kernel is None, reason="the _lines extension is not built")

# bytes that make UTF-8 hard: every sequence length, the edges of each lead byte's allowed range, overlongs,
# surrogates, past U+10FFFF, lone continuation and lead bytes, cut-off sequences, and line ends
_PIECES = [b"a", b"Z", b"0", b" ", b"\t", b"\n", b"\r", b"\r\n", b"\x00", b"\x7f", b"\xc2\x80", b"\xc3\xa9",
           b"\xdf\xbf", b"\xe0\xa0\x80", b"\xe2\x82\xac", b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbf",
           b"\xf0\x90\x80\x80", b"\xf0\x9f\x98\x80", b"\xf4\x8f\xbf\xbf", b"\xe2\x80\xa8", b"\xc2\x85",
           b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
           b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xfe", b"\x80", b"\xbf",
           b"\xc3", b"\xe2\x82", b"\xf0\x9f", b"\xf0\x9f\x98"]


def _random_bytes(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 24)))
    return b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 16)))


def _python_check(data: bytes) -> int:
    """What check_utf8 must return, from Python's decoder."""
    try:
        data.decode("utf-8")
        return len(data)
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":  # a sequence cut off by the end: valid so far
            return exc.start
        return -(exc.start + 1)


def _python_lines(data: bytes) -> list[str]:
    """The lines documents="lines" means: cut at \\n, one trailing \\r removed, empty ones dropped."""
    out = []
    for line in data.decode("utf-8").split("\n"):
        line = line[:-1] if line.endswith("\r") else line
        if line:
            out.append(line)
    return out


@needs_lines
def test_check_utf8_and_lines_equal_python_decoder():
    rng = random.Random(7)
    for _ in range(30_000):
        data = _random_bytes(rng)
        assert line_kernel.check_utf8(data) == _python_check(data), data
        try:
            want = _python_lines(data)
        except UnicodeDecodeError:
            with pytest.raises(ValueError, match="not valid UTF-8 at byte"):
                line_kernel.lines(data)
            continue
        got = line_kernel.lines(data)
        # ASCII lines come as str (read in place by the encoder), all others as their UTF-8 bytes
        assert all(isinstance(x, str) == x.isascii() for x in got), got
        assert [x if isinstance(x, str) else x.decode("utf-8") for x in got] == want, data
    # large buffers (the GIL is let go): every code point once, and a cut-off sequence at the end
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF).encode("utf-8")
    assert line_kernel.check_utf8(text) == len(text)
    assert line_kernel.check_utf8(text + b"\xf0\x9f\x98") == len(text)
    assert line_kernel.check_utf8(text + b"\xf0\x28") == -(len(text) + 1)
    assert line_kernel.check_utf8(memoryview(text)[:3]) == 3  # any buffer


def _adversarial_lines(seed: int) -> bytes:
    """Lines a corpus holds: empty ones, CRLF and lone CR ends, CR inside, whitespace-only, NUL, U+2028 and
    U+0085 (no line ends here), every plane, long runs, no final newline."""
    rng = random.Random(seed)
    text = adversarial_text(seed, 30_000)
    parts = []
    for line in text.split("\n"):
        r = rng.random()
        end = "\r\n" if r < 0.2 else "\n\n" if r < 0.3 else "\r\r\n" if r < 0.35 else "\n"
        parts.append(line + end)
    parts += ["\n", "\r\n", "\r", "   \n", "\t\r\n", "a\rb\n", "\x00\n", "x\u2028y\u0085z\n", "'s\n", " 's\n",
              "1" * 5000 + "\n", " " * 3000 + "\n", "x" * 20_000 + "\n", "".join(random_code_point(rng)
                                                                                     for _ in range(3000)) + "\n",
              "\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1fa\U0001f1f8\n", "last line, no newline"]
    return "".join(parts).encode("utf-8")


def _tiktoken_ids(ref, data: bytes, eos: int | None) -> list[int]:
    out = []
    for line in _python_lines(data):
        out += ref.encode_ordinary(line) + ([eos] if eos is not None else [])
    return out


@pytest.mark.skipif(bpe_kernel is None, reason="needs the C encoder")
@pytest.mark.parametrize("workers", [1, 2])
def test_ids_equal_tiktoken_on_adversarial_lines(tmp_path, cl100k, cl100k_ref, workers):
    data = _adversarial_lines(workers)
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    eos = cl100k_ref.eot_token
    want = _tiktoken_ids(cl100k_ref, data, eos)
    # small units and shards: many cuts at line ends, documents spanning shards
    m = encode_corpus([path], cl100k, tmp_path / "o", workers=workers, unit_bytes=7_000, shard_tokens=5_000,
                      progress=False)
    assert m["complete"] and m["total_tokens"] == len(want)
    assert load_shards(tmp_path / "o").tolist() == want
    # one unit of over 512 KB: with 2 workers the kernel's threads share it in ~256 KB parts
    big = b"".join(_adversarial_lines(seed) for seed in range(10, 17))
    assert len(big) > 600_000
    path.write_bytes(big)
    encode_corpus([path], cl100k, tmp_path / "p", workers=workers, append_eos=False, progress=False)
    assert load_shards(tmp_path / "p").tolist() == _tiktoken_ids(cl100k_ref, big, None)


@pytest.mark.skipif(bpe_kernel is None, reason="needs the C encoder")
def test_every_line_path_gives_the_same_shards(tmp_path, cl100k, monkeypatch):
    """encode_lines (_corpus), the line cutter + encode_batch (_lines) and Python's decode + split (neither
    extension built) write the same shards, byte for byte, with 1 and 2 workers."""
    import tokenlab.kernels

    data = _adversarial_lines(3)
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    runs = []
    for name, corpus_k, lines_k in [("corpus", tokenlab.kernels.corpus, tokenlab.kernels.lines),
                                    ("lines", None, tokenlab.kernels.lines), ("python", None, None)]:
        monkeypatch.setattr(tokenlab.kernels, "corpus", corpus_k)
        monkeypatch.setattr(tokenlab.kernels, "lines", lines_k)
        for workers in (1, 2):
            m = encode_corpus([path], cl100k, tmp_path / f"{name}{workers}", unit_bytes=9_000, workers=workers,
                              shard_tokens=3_000, progress=False)
            runs.append(m)
    assert all(m["shards"] == runs[0]["shards"] and m["inputs"] == runs[0]["inputs"] for m in runs)


needs_corpus = pytest.mark.skipif(corpus_kernel is None or bpe_kernel is None, reason="_corpus is not built")


@needs_corpus
def test_encode_lines_equals_lines_and_encode_batch(cl100k):
    """The C line encoder against the line cutter + the encoder's batch call, on random and adversarial bytes,
    at 1-3 threads: the same ids, the same line ends, the same invalid byte."""
    encoder = cl100k._fast.kernel
    rng = random.Random(11)
    samples = [_random_bytes(rng) for _ in range(3000)]
    samples += [_adversarial_lines(seed) for seed in (1, 2)]
    samples += [b"", b"\n\n\r\n", b"x" * 70_000 + b"\n" + b"y\r\n" * 30_000, b"ok\n" * 40_000 + b"\xe2\x82"]
    # lines are found 64 bytes at a time: a last line without a newline ending on a block edge (or not), a
    # non-ASCII or invalid byte in a line's last block, a line spanning several blocks
    for size in (63, 64, 65, 127, 128, 4096, 4097):
        samples += [b"a" * size, b"ab\n" + b"c" * (size - 3), b"\xc3\xa9" * (size // 2) + b"\r", b"q" * size + b"\xff",
                    b"\n" * size + b"d" * size, (b"w " * size)[:size] + b"\n" + b"\xe4\xb8\xad" * size]
    # over 512 KB: threads take ~256 KB parts; two bad bytes in different parts report the first one
    big = b"".join(_adversarial_lines(seed) for seed in range(4)) * 4
    assert len(big) > 1_400_000
    samples += [big, big[:600_000] + b"\xff" + big[600_000:1_200_000] + b"\xc3\x28" + big[1_200_000:],
                b"\n" * 700_000 + b"z" * 600_000]
    for data in samples:
        try:
            docs = line_kernel.lines(data)
        except ValueError as exc:
            for threads in (1, 2, 3):
                with pytest.raises(ValueError) as info:
                    corpus_kernel.encode_lines(encoder, data, threads)
                assert str(info.value) == str(exc)
            continue
        # (Encoder.encode_batch([]) is not called: the raw kernel call does not handle an empty list)
        want_ids, want_offsets = encoder.encode_batch(docs, 1, 2) if docs else (b"", bytes(8))
        for threads in (1, 2, 3):
            ids, ends = corpus_kernel.encode_lines(encoder, data, threads)
            assert bytes(ids) == bytes(want_ids)
            assert bytes(ends) == bytes(want_offsets)[8:]  # ids so far after each line
    with pytest.raises(TypeError, match="Encoder"):
        corpus_kernel.encode_lines(object(), b"abc", 1)


def test_encode_lines_refuses_an_encoder_from_another_bpe_source(cl100k):
    """_corpus compiles _bpe.c into itself and reads the Encoder's structs: an Encoder made from another version
    of _bpe.c (a stale .so next to a rebuilt one) is refused, not read with the wrong layout. The first field
    after the object header holds setup.py's hash of _bpe.c; here it is changed by hand."""
    import ctypes
    import sys


    encoder = cl100k._fast.kernel
    want = corpus_kernel.encode_lines(encoder, b"hello world\n", 1)
    field = ctypes.c_uint64.from_address(id(encoder) + sys.getsizeof(object()))
    own = field.value
    assert own != 0  # built by setup.py, which names the source
    field.value = own ^ 1
    try:
        with pytest.raises(TypeError, match="this build"):
            corpus_kernel.encode_lines(encoder, b"hello world\n", 1)
    finally:
        field.value = own
    got = corpus_kernel.encode_lines(encoder, b"hello world\n", 1)
    assert bytes(got[0]) == bytes(want[0])


def test_custom_regex_tokenizer_equals_tiktoken(tmp_path, cl100k, cl100k_ref):
    """A pattern the kernel has no state machine for (its lines must still be pre-tokenized, not encoded whole)."""
    import tiktoken

    from tokenlab import Tokenizer
    from tokenlab.pretokenize import PreTokenizer

    pattern = r"\p{L}+|\p{N}|[^\s\p{L}\p{N}]+|\s+"
    tok = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(pattern),
                    special_tokens=cl100k.special_tokens)
    ref = tiktoken.Encoding("custom", pat_str=pattern, mergeable_ranks=cl100k_ref._mergeable_ranks,
                            special_tokens=cl100k_ref._special_tokens)
    data = _adversarial_lines(5)[:40_000]
    data = data[: data.rfind(b"\n") + 1]
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    encode_corpus([path], tok, tmp_path / "o", workers=1, unit_bytes=5_000, progress=False)
    assert load_shards(tmp_path / "o").tolist() == _tiktoken_ids(ref, data, ref.eot_token)


def _old_check_message(path) -> str:
    """The message of the Python decoder's pass (what the C check falls back to on an error)."""
    with pytest.raises(InvalidInputError) as info:
        corpus_mod._hash_and_check_python(str(path))
    return str(info.value)


@needs_lines
@pytest.mark.parametrize("tail, reason", [
    (b"ok\n\xf0\x28\x8c\x28\n", "invalid continuation byte"),
    (b"ok\n\xed\xa0\x80\n", "invalid continuation byte"),
    (b"ok\n\xff\n", "invalid start byte"),
    (b"ok\n\xe2\x82", "unexpected end of data"),
])
def test_invalid_utf8_across_read_blocks(tmp_path, cl100k, tail, reason):
    """The check reads 4 MB blocks: a sequence cut by a block edge is valid, an error is named as before."""
    block = 1 << 22
    head = b"x" * (block - 2) + "\u20ac\n".encode()  # the euro sign's 3 bytes straddle the first block edge
    good = tmp_path / "good.txt"
    good.write_bytes(head + b"fine\n")
    assert corpus_mod._hash_and_check(str(good)) == corpus_mod._hash_and_check_python(str(good))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(head + tail)
    message = _old_check_message(bad)
    assert reason in message
    with pytest.raises(InvalidInputError) as info:
        encode_corpus([bad], cl100k, tmp_path / "o", progress=False)
    assert str(info.value) == message
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_file_changed_after_the_check_is_still_refused(tmp_path, cl100k):
    """A unit read after its file turned invalid (the check already passed) is refused with the byte offset."""
    path = tmp_path / "in.txt"
    path.write_bytes(b"hello\n" * 10 + b"bad \xc3\x28 line\n")
    (unit,) = corpus_mod.plan_units([str(path)])
    with pytest.raises(InvalidInputError, match=r"not valid UTF-8 \(invalid continuation byte at byte 64\)"):
        corpus_mod.encode_unit(unit, cl100k, "lines", None, "uint32")


@pytest.mark.skipif(bpe_kernel is None, reason="the compiled vocabulary is only made for the C kernel")
def test_fingerprint_from_compiled_vocabulary_equals_full_tables(cl100k_path, tmp_path, monkeypatch):
    """A tokenizer read back from the compiled vocabulary fingerprints like one whose tables are built, so a
    run resumes whichever way the tokenizer was loaded; n_vocab likewise."""
    from tokenlab.io import read_tiktoken

    monkeypatch.setenv("TOKENLAB_CACHE_DIR", str(tmp_path / "cache"))
    specials = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258}
    read_tiktoken(cl100k_path, pattern="cl100k", special_tokens=specials)  # writes the compiled vocabulary
    hot = read_tiktoken(cl100k_path, pattern="cl100k", special_tokens=specials)
    assert "_compiled" in hot.__dict__ and "vocab" not in hot.__dict__
    fast_print, fast_n = corpus_mod._tokenizer_fingerprint(hot, hot), corpus_mod._n_vocab(hot)
    assert "vocab" not in hot.__dict__ and "merges" not in hot.__dict__  # read from the compiled arrays
    hot.vocab, hot.merges  # noqa: B018 - build the tables: the full path
    assert corpus_mod._tokenizer_fingerprint(hot, hot) == fast_print
    assert corpus_mod._n_vocab(hot) == fast_n == hot.n_vocab == 100259
    other = read_tiktoken(cl100k_path, pattern="cl100k", special_tokens={"<|endoftext|>": 100257})
    assert corpus_mod._tokenizer_fingerprint(other, other) != fast_print
    # kept in the derived cache: a later load reads it; a damaged entry is ignored and computed again
    (memo,) = [p for p in (tmp_path / "cache").glob("fingerprint-*.npy")
               if np.load(p).tobytes().hex() == fast_print]
    again = read_tiktoken(cl100k_path, pattern="cl100k", special_tokens=specials)
    assert corpus_mod._tokenizer_fingerprint(again, again) == fast_print
    memo.write_bytes(b"not an array")
    again = read_tiktoken(cl100k_path, pattern="cl100k", special_tokens=specials)
    assert corpus_mod._tokenizer_fingerprint(again, again) == fast_print
    np.save(memo, np.zeros(32, dtype=np.uint8))  # proof that the entry is what a load reads (used as is)
    assert corpus_mod._tokenizer_fingerprint(again, again) == "00" * 32


def test_shard_bytes_are_np_save_and_hash_matches(tmp_path):
    import hashlib
    import io

    for dtype in ("uint16", "uint32"):
        for n in (0, 1, 7, 100_003):
            tokens = np.arange(n, dtype=np.uint64).astype(dtype)
            name, digest = corpus_mod._write_shard(tmp_path, n, tokens[::1])
            want = io.BytesIO()
            np.save(want, tokens, allow_pickle=False)
            assert (tmp_path / name).read_bytes() == want.getvalue()
            assert digest == hashlib.sha256(want.getvalue()).hexdigest()
    # a strided view is written as its values, not its memory
    tokens = np.arange(20, dtype=np.uint32)[::2]
    name, digest = corpus_mod._write_shard(tmp_path, 99, tokens)
    assert np.load(tmp_path / name).tolist() == tokens.tolist() and digest == corpus_mod.file_sha256(tmp_path / name)

