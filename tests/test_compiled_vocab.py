"""The compiled vocabulary (tokenlab.io.compiled_vocab): a hit equals a cold load, damage is detected and
rebuilt, unwritable or read-only cache directories still load, and the one-shot CLI path stays light."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys

import pytest

from tokenlab.io import compiled_vocab as cv
from tokenlab.io import read_tiktoken
from tokenlab.io import tiktoken_file as tf
from tokenlab.kernels import bpe as kernel

from adversarial_text import adversarial_document, snippets

pytestmark = pytest.mark.skipif(kernel is None, reason="the compiled vocabulary is only made for the C kernel")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("TOKENLAB_CACHE_DIR", str(d))
    return d


@pytest.fixture
def builds(monkeypatch):
    """Counts cold builds (rank file parsed and checked)."""
    calls = []
    real = tf.parse_tiktoken_ranks
    monkeypatch.setattr(tf, "parse_tiktoken_ranks", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def _compiled_file(cache):
    (path,) = cache.glob("compiled-*.bin")
    return path


def _texts():
    rng = random.Random(10)
    return [adversarial_document(rng, 30_000), *snippets(5, 300), "", " ", "hello world",
            "<|endoftext|> is text here", "x" * 50_000, "1" * 3000 + " \n\t" * 500]


def test_hit_equals_cold_load_on_adversarial_text(cl100k_path, cl100k_ref, cache, builds):
    cold = read_tiktoken(cl100k_path, pattern="cl100k")
    assert len(builds) == 1 and _compiled_file(cache).stat().st_size > 1_000_000
    hot = read_tiktoken(cl100k_path, pattern="cl100k")
    assert len(builds) == 1, "the second load must come from the compiled vocabulary"
    assert "vocab" not in hot.__dict__  # built only when read
    for text in _texts():
        ids = hot.encode_ordinary(text)
        assert ids == cold.encode_ordinary(text) == cl100k_ref.encode_ordinary(text)
        assert hot.decode(ids) == cold.decode(ids)
        assert hot.decode_bytes(ids) == cold.decode_bytes(ids)
    batch = _texts()[:50]
    assert (hot.encode_batch(batch, num_threads=2, disallowed_special=())
            == cold.encode_batch(batch, num_threads=2, disallowed_special=()))
    assert hot.special_tokens == cold.special_tokens == cl100k_ref._special_tokens
    assert hot.encode("<|endoftext|>", allowed_special="all") == [100257]
    assert hot.vocab == cold.vocab and hot.merges == cold.merges
    assert hot.n_vocab == cold.n_vocab and hot.pair_table == cold.pair_table
    assert (hot.ignore_merges, hot.any_split, hot.name) == (cold.ignore_merges, cold.any_split, cold.name)
    again = pickle.loads(pickle.dumps(read_tiktoken(cl100k_path, pattern="cl100k")))
    assert again.encode_ordinary(_texts()[0]) == cold.encode_ordinary(_texts()[0]) and again.vocab == cold.vocab


def test_key_covers_the_load_arguments(cl100k_path, cache, builds):
    with_specials = read_tiktoken(cl100k_path, pattern="cl100k")
    without = read_tiktoken(cl100k_path, pattern="cl100k", special_tokens={})
    gpt2 = read_tiktoken(cl100k_path, pattern="gpt2")
    assert len(builds) == 3 and len(list(cache.glob("compiled-*.bin"))) == 3
    assert with_specials.special_tokens and not without.special_tokens
    text = "HE'S here 123456"
    assert gpt2.encode_ordinary(text) != with_specials.encode_ordinary(text)  # gpt2's contractions are lowercase
    assert read_tiktoken(cl100k_path, pattern="gpt2").encode_ordinary(text) == gpt2.encode_ordinary(text)
    assert len(builds) == 3


def _damage_cases(data: bytes):
    head = cv._HEAD.size
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40  # one bit inside the token bytes: only the CRC sees it
    wrong_version = bytearray(data)
    wrong_version[8:12] = (cv.VERSION + 1).to_bytes(4, "little")
    wrong_magic = b"XXXXXXXX" + data[8:]
    return {"truncated": data[: len(data) - 1000], "cut in header": data[: head + 3], "empty": b"",
            "flipped bit": bytes(flipped), "wrong version": bytes(wrong_version), "wrong magic": wrong_magic,
            "extra bytes": data + b"\0" * 8}


def test_damaged_file_is_detected_and_rebuilt(cl100k_path, cl100k_ref, cache, builds):
    read_tiktoken(cl100k_path, pattern="cl100k")
    path = _compiled_file(cache)
    good = path.read_bytes()
    name, key = path.name, _key_of(good)
    assert cv.parse_compiled(good, key) is not None
    text = adversarial_document(random.Random(3), 5000)
    for n, (what, bad) in enumerate(_damage_cases(good).items(), 2):
        path.write_bytes(bad)
        assert cv.parse_compiled(bad, key) is None, what
        tok = read_tiktoken(cl100k_path, pattern="cl100k")
        assert len(builds) == n, f"{what}: not rebuilt"
        assert tok.encode_ordinary(text) == cl100k_ref.encode_ordinary(text), what
        assert path.name == name and path.read_bytes() == good, f"{what}: not rewritten"
    # a file of another key under this name (e.g. a hash-prefix clash) is not used either
    assert cv.parse_compiled(good, "0" * 64) is None


def _key_of(data: bytes) -> str:
    import json
    import struct

    n = len(cv.SECTIONS)
    meta_len = struct.unpack_from(f"<{n}Q", data, cv._HEAD.size)[0]
    start = cv._HEAD.size + 8 * n
    return json.loads(data[start : start + meta_len])["key"]


def test_unwritable_cache_dir_loads_without_cache(cl100k_path, cl100k_ref, tmp_path, monkeypatch, builds):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TOKENLAB_CACHE_DIR", str(blocker / "sub"))
    for n in (1, 2):
        tok = read_tiktoken(cl100k_path, pattern="cl100k")
        assert len(builds) == n  # nothing could be written: each load builds
        assert tok.encode_ordinary("hello world") == [15339, 1917]
        assert tok.decode(cl100k_ref.encode_ordinary("naïve café 🙂")) == "naïve café 🙂"
    assert not list(tmp_path.glob("**/*.tmp"))


def test_read_only_cache_dir_with_a_compiled_file_is_read(cl100k_path, cache, builds):
    read_tiktoken(cl100k_path, pattern="cl100k")

    def refuse(*a, **k):
        raise PermissionError("read-only")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cv.os, "replace", refuse)  # root may write a 0o555 dir: refuse the rename too
        os.chmod(cache, 0o555)
        try:
            tok = read_tiktoken(cl100k_path, pattern="cl100k")
            assert len(builds) == 1 and tok.encode_ordinary("hello world") == [15339, 1917]
            assert tok.decode([15339, 1917]) == "hello world"
        finally:
            os.chmod(cache, 0o755)
        _compiled_file(cache).write_bytes(b"damaged")
        tok = read_tiktoken(cl100k_path, pattern="cl100k")  # damaged and cannot be replaced: built, still right
        assert len(builds) == 2 and tok.encode_ordinary("hello world") == [15339, 1917]
        assert _compiled_file(cache).read_bytes() == b"damaged" and not list(cache.glob("*.tmp"))
    read_tiktoken(cl100k_path, pattern="cl100k")
    assert len(builds) == 3 and _compiled_file(cache).read_bytes() != b"damaged"  # writable again: rebuilt


_CHILD = """
import sys
from tokenlab.io import read_tiktoken
tok = read_tiktoken(sys.argv[1], pattern="cl100k")
print(tok.encode_ordinary("concurrent writers 12345 ünï"))
"""


def test_concurrent_processes_share_one_valid_file(cl100k_path, cache):
    env = {**os.environ, "TOKENLAB_CACHE_DIR": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, cl100k_path], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs) and len(set(outs)) == 1
    data = _compiled_file(cache).read_bytes()
    assert cv.parse_compiled(data, _key_of(data)) is not None
    assert not list(cache.glob("*.tmp"))


_ONE_SHOT = """
import sys
from tokenlab.cli import main
try:
    main(["encode", "-t", sys.argv[1], "hello world"])
except SystemExit:
    pass
print(sorted(m for m in ("numpy", "numba", "tiktoken", "tokenlab.evaluate", "tokenlab.cli.research2")
             if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("name, ids", [("cl100k", "15339 1917"), ("o200k", "24912 2375")])
def test_one_shot_encode_stays_light(name, ids, cache):
    env = {**os.environ, "TOKENLAB_CACHE_DIR": str(cache)}
    for _ in range(2):  # cold (compiles), then from the compiled vocabulary
        out = subprocess.run([sys.executable, "-c", _ONE_SHOT, name], env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.stdout.strip() == ids, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "[]", "heavy modules imported on the one-shot path"


def test_lazy_commands_still_find_every_command_and_method(cache):
    env = {**os.environ, "TOKENLAB_CACHE_DIR": str(cache)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "tokenlab", *args], env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    helped = run("--help")
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("encode", "train", "compare", "serve"))
    # a method the inference module adds, reached from encode (only core is imported for encode)
    out = run("encode", "-t", "cl100k", "--method", "longest-prefix", "hello world")
    assert out.returncode == 0 and out.stdout.split(), out.stderr
    bad = run("encode", "-t", "cl100k", "--method", "no-such-method", "hi")
    assert bad.returncode == 2 and "longest-prefix" in bad.stderr
    assert run("decode", "-t", "cl100k", "15339", "1917").stdout.strip() == "hello world"
