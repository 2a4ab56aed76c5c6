"""The on-disk cache of merges derived from a .tiktoken file: used when valid, ignored when not."""

from __future__ import annotations

import hashlib

import numpy as np

from tokenlab.io import read_tiktoken
from tokenlab.io import tiktoken_file as tf


def test_cached_merges_equal_fresh_ones_and_survive_corruption(cl100k_path, tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAB_CACHE_DIR", str(tmp_path))
    calls = []
    real = tf.merges_from_ranks
    monkeypatch.setattr(tf, "merges_from_ranks", lambda ranks: calls.append(1) or real(ranks))

    def read_tiktoken(path, **kw):  # without the compiled vocabulary (tests/test_compiled_vocab.py), which skips this
        for f in tmp_path.glob("compiled-*.bin"):
            f.unlink()
        return tf.read_tiktoken(path, **kw)

    first = read_tiktoken(cl100k_path, pattern="cl100k")
    second = read_tiktoken(cl100k_path, pattern="cl100k")
    assert len(calls) == 1 and first.merges == second.merges
    digest = hashlib.sha256(open(cl100k_path, "rb").read()).hexdigest()
    (cache,) = tmp_path.glob("tiktoken-merges-v2-*.npy")
    assert digest[:32] in cache.name
    cache.write_bytes(cache.read_bytes()[:100])  # truncated: ignored, recomputed
    third = read_tiktoken(cl100k_path, pattern="cl100k")
    assert len(calls) == 2 and third.merges == first.merges
    np.save(cache, np.full((3, 2), 2**31, dtype=np.uint32))  # ids that do not exist: ignored, recomputed
    fourth = read_tiktoken(cl100k_path, pattern="cl100k")
    assert len(calls) == 3 and fourth.merges == first.merges
    text = "Cached merges give the same ids 12345 ünïcödé"
    assert fourth.encode_ordinary(text) == first.encode_ordinary(text)


def test_unwritable_cache_dir_still_loads(cl100k_path, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TOKENLAB_CACHE_DIR", str(blocker / "sub"))
    tok = read_tiktoken(cl100k_path, pattern="cl100k")
    assert tok.encode_ordinary("hello world") == [15339, 1917]
