"""encode-corpus's short-run paths: shards written from a list of arrays (no concatenated copy, optionally hashed
in a second thread), the read-ahead thread, the name-only text check that skips importing corpus_io. Each must
give what the plain path gives."""

from __future__ import annotations

import hashlib
import io
import json
import os

import numpy as np
import pytest

from tokenlab import InvalidInputError
from tokenlab import corpus as corpus_mod
from tokenlab.corpus import encode_corpus


def _np_save_bytes(tokens: np.ndarray) -> bytes:
    want = io.BytesIO()
    np.save(want, tokens, allow_pickle=False)
    return want.getvalue()


@pytest.mark.parametrize("aside", [False, True])
@pytest.mark.parametrize("dtype", ["uint16", "uint32"])
def test_shard_from_pieces_is_np_save_of_their_concatenation(tmp_path, dtype, aside):
    rng = np.random.default_rng(3)
    whole = rng.integers(0, 60_000, size=700_003).astype(dtype)  # > 1 MB as uint32: the hash runs aside
    cuts = [0, 1, 1, 5000, 350_000, 700_003]  # an empty piece too
    pieces = [whole[a:b] for a, b in zip(cuts, cuts[1:])]
    name, digest = corpus_mod._write_shard(tmp_path, 3, pieces, hash_aside=aside)
    want = _np_save_bytes(whole)
    assert name == "shard-000003.npy"
    assert (tmp_path / name).read_bytes() == want
    assert digest == hashlib.sha256(want).hexdigest() == corpus_mod.file_sha256(tmp_path / name)
    # a single array, a list of one, and strided pieces give the same bytes
    for tokens in (whole, [whole], [whole[::1], whole[:0]]):
        assert corpus_mod._write_shard(tmp_path, 4, tokens, hash_aside=aside)[1] == digest
    strided = [whole[::2], whole[1::2]]
    _, d2 = corpus_mod._write_shard(tmp_path, 5, strided, hash_aside=aside)
    assert d2 == hashlib.sha256(_np_save_bytes(np.concatenate(strided))).hexdigest()


def test_shard_pieces_must_share_a_dtype(tmp_path):
    with pytest.raises(ValueError, match="one dtype"):
        corpus_mod._write_shard(tmp_path, 0, [np.zeros(3, np.uint16), np.zeros(3, np.uint32)])
    with pytest.raises(ValueError, match="no arrays"):
        corpus_mod._write_shard(tmp_path, 0, [])
    assert not list(tmp_path.iterdir())


def test_flush_records_the_pieces_total(tmp_path):
    manifest = {"format": corpus_mod.MANIFEST_FORMAT, "shards": [], "total_tokens": 5}
    pieces = [np.arange(10, dtype=np.uint32), np.arange(7, dtype=np.uint32)]
    corpus_mod._flush(tmp_path, manifest, pieces, (2, 7), hash_aside=True)
    (shard,) = manifest["shards"]
    assert shard["tokens"] == 17 and manifest["total_tokens"] == 22 and shard["end"] == [2, 7]
    assert corpus_mod.read_manifest(tmp_path)["shards"] == [shard]
    assert np.load(tmp_path / shard["file"]).tolist() == list(range(10)) + list(range(7))


def test_overlapped_steps_keep_order_and_raise_in_place():
    """While item i is used, the helper finishes item i-1 and reads item i+1; errors come where their item would."""
    seen, done = [], []

    def read(x):
        seen.append(x)
        if x == 3:
            raise OSError("unit 3 unreadable")
        return x * 10

    def finish(x, data):
        done.append((x, data))
        if x == 5:
            raise RuntimeError("hash of unit 5 failed")

    assert list(corpus_mod._overlapped([0, 1, 2], read, finish)) == [(0, 0), (1, 10), (2, 20)]
    assert done == [(0, 0), (1, 10), (2, 20)]  # in order, each after the caller used it
    done.clear()
    assert list(corpus_mod._overlapped([], read, finish)) == [] and list(
        corpus_mod._overlapped([7], read, finish)) == [(7, 70)]
    assert done == [(7, 70)]
    got = []
    with pytest.raises(OSError, match="unit 3"):
        for item, _ in corpus_mod._overlapped([1, 2, 3, 4], read, finish):
            got.append(item)
    assert got == [1, 2]  # the error comes where unit 3's data would
    got.clear()
    with pytest.raises(RuntimeError, match="unit 5"):
        for item, _ in corpus_mod._overlapped([5, 6, 8], read, finish):
            got.append(item)
    assert got == [5, 6]  # unit 5 is finished while unit 6 is used


@pytest.mark.parametrize("name", ["a.txt", "b", "c.TXT", "d.json", "e.JSONL", "f.ndjson", "g.parquet", "h.pq",
                                  "i.tsv", "j.txt.gz", "k.zst", "l.jsonl.zstd", "m.tar", "n.json.txt", ".json"])
def test_plain_text_name_check_agrees_with_detect_format(tmp_path, name):
    from pathlib import Path

    from tokenlab.corpus_io import _compression, detect_format

    path = tmp_path / name
    path.write_bytes(b"x\n")
    full = detect_format(path) == "text" and not _compression(Path(path))
    if corpus_mod._plain_text_file(str(path)):  # the shortcut may only say "plain text" when detection agrees
        assert full
    assert corpus_mod._plain_text_file(str(path)) == full or name == ".json"  # pathlib: ".json" has no suffix
    assert not corpus_mod._plain_text_file(str(tmp_path))  # a directory goes the full way
    assert not corpus_mod._plain_text_file(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
def test_hash_and_check_in_small_blocks_equals_the_decoder(tmp_path, monkeypatch, block):
    """The check reads one reused block at a time: sequences cut at any block edge, errors named as before."""
    from tokenlab import InvalidInputError
    from tokenlab.kernels import lines as line_kernel

    if line_kernel is None:
        pytest.skip("the _lines extension is not built")
    monkeypatch.setattr(corpus_mod, "CHECK_BLOCK", block)
    text = "a\u00e9\u20ac\U0001f600\n" * 50 + "end"
    good = tmp_path / "good.txt"
    good.write_bytes(text.encode())
    assert corpus_mod._hash_and_check(str(good)) == hashlib.sha256(text.encode()).hexdigest()
    for tail in (b"\xe2\x82", b"\xff\n", b"\xf0\x28\x8c\x28"):
        bad = tmp_path / "bad.txt"
        bad.write_bytes(text.encode() + tail + b"more\n")
        with pytest.raises(InvalidInputError) as want:
            corpus_mod._hash_and_check_python(str(bad))
        with pytest.raises(InvalidInputError) as got:
            corpus_mod._hash_and_check(str(bad))
        assert str(got.value) == str(want.value)


def test_unit_buffers_read_what_read_unit_reads(tmp_path):
    from tokenlab import InvalidInputError

    path = tmp_path / "in.txt"
    path.write_bytes(b"".join(b"line %d \xc3\xa9\n" % i for i in range(5000)))
    units = corpus_mod.plan_units([str(path)], "lines", 7_000)
    assert len(units) > 5
    for count in (1, 2):
        buffers = corpus_mod._UnitBuffers(count)
        for unit in units + units[::-1]:  # smaller and larger units reuse (or replace) the buffers
            assert bytes(buffers.read(unit)) == corpus_mod._read_unit(unit)
    path.write_bytes(b"short\n")
    with pytest.raises(InvalidInputError, match="file changed while encoding"):
        corpus_mod._UnitBuffers(1).read(units[-1])


def test_encode_lines_parts_shrinking_towards_the_end_give_the_same_ids(cl100k):
    """With threads the buffer is cut into ~256 KB parts, then smaller ones (down to 32 KB) near its end; the ids
    are written in place and moved together: any thread count gives the one-thread result."""
    from tokenlab.kernels import corpus as corpus_kernel

    if corpus_kernel is None or getattr(cl100k, "_fast", None) is None:
        pytest.skip("_corpus is not built")
    encoder = cl100k._fast.kernel
    rng = np.random.default_rng(5)
    words = [b"alpha", b"beta", b" gamma", b"\xc3\xa9t\xc3\xa9", b"\xe4\xb8\xad\xe6\x96\x87", b"  ", b"42", b"!?"]
    lines = [b"".join(words[i] for i in rng.integers(0, len(words), size=rng.integers(0, 40)))
             for _ in range(60_000)]
    data = b"\n".join(lines) + b"\n"
    head = data[: data.index(b"\n", 700_000) + 1]
    cases = [data, data[:-1], b"x" * 1_000_000 + b"\n" + head, data + b"y" * 300_000,
             b"\n" * 600_000, b"a\r\n" * 300_000]
    for blob in cases:
        want_ids, want_ends = corpus_kernel.encode_lines(encoder, blob, 1)
        for threads in (2, 3, 5):
            ids, ends = corpus_kernel.encode_lines(encoder, blob, threads)
            assert bytes(ids) == bytes(want_ids) and bytes(ends) == bytes(want_ends)
    ids, ends = corpus_kernel.encode_lines(encoder, data, 2)
    assert isinstance(ids, bytearray) and len(ids) == 4 * np.frombuffer(ends, dtype=np.int64)[-1]


def _native_or_skip(tok):
    if not corpus_mod._kernel_releases_gil(tok):
        pytest.skip("the C kernel does not encode this tokenizer here")


def _lines_file(path, n, seed):
    rng = np.random.default_rng(seed)
    words = ["the", " cat", "\u00e9t\u00e9", " \u4e2d\u6587", "42", " ", "!!", "\U0001f600"]
    text = "\n".join("".join(words[i] for i in rng.integers(0, len(words), size=rng.integers(0, 30)))
                     for _ in range(n)) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def test_inputs_checked_beside_the_encoding_give_the_same_run(tmp_path, cl100k):
    """2 workers check and hash the inputs in a thread while the units encode: manifest and shards are byte for
    byte those of the 1-worker run (which checks first), over several shards and inputs."""
    _native_or_skip(cl100k)
    inputs = [_lines_file(tmp_path / f"in{k}.txt", 3000, k) for k in range(3)]
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"o{workers}"
        m = encode_corpus(inputs, cl100k, out, workers=workers, unit_bytes=9_000, shard_tokens=7_000,
                          progress=False)
        assert m["complete"] and len(m["shards"]) > 3
        outs[workers] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert outs[1] == outs[2]
    # a resumed run (the manifest exists) checks first and finds everything done
    again = encode_corpus(inputs, cl100k, tmp_path / "o2", workers=2, unit_bytes=9_000, shard_tokens=7_000,
                          progress=False)
    assert again == json.loads(outs[2]["manifest.json"])


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("fresh", [True, False])
def test_bad_input_found_beside_the_encoding_leaves_the_output_as_it_was(tmp_path, cl100k, fresh, workers):
    """The check of the last input fails after the first inputs' units are encoded (shard_tokens small; 2 workers
    check beside the encoding, 1 worker along it): nothing is written; a new directory is removed again, an old
    run's output (overwrite=True) stays untouched."""
    _native_or_skip(cl100k)
    good = _lines_file(tmp_path / "good.txt", 4000, 1)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(good.read_bytes()[:50_000] + b"broken \xff\xfe line\n")
    out = tmp_path / "o"
    before = {}
    if not fresh:
        encode_corpus([good], cl100k, out, workers=1, shard_tokens=5_000, progress=False)
        before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(InvalidInputError) as want:
        corpus_mod._hash_and_check_python(str(bad))
    with pytest.raises(InvalidInputError) as got:
        encode_corpus([good, bad], cl100k, out, workers=workers, unit_bytes=20_000, shard_tokens=500,
                      overwrite=True, progress=False)
    assert str(got.value) == str(want.value)
    if fresh:
        assert not out.exists()
    else:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_input_check_along_equals_the_check_at_once(tmp_path):
    from tokenlab.kernels import lines as line_kernel

    if line_kernel is None:
        pytest.skip("the _lines extension is not built")
    inputs = [str(_lines_file(tmp_path / f"in{k}.txt", 500, k)) for k in range(2)]
    inputs.append(inputs[0])  # the same file twice: two inputs, each hashed whole
    (tmp_path / "empty.txt").write_bytes(b"")
    inputs.append(str(tmp_path / "empty.txt"))
    now = corpus_mod._InputCheck(inputs, "now").result()
    units = corpus_mod.plan_units(inputs, "lines", 3_000)
    for fed in (units, units[:4], units[2:], units[::2], units[::-1], []):  # out-of-order units are read again
        along = corpus_mod._InputCheck(inputs, "along")
        for unit in fed:
            along.feed(unit, corpus_mod._read_unit(unit))
        assert along.result() == now and not along.failed
    (tmp_path / "in1.txt").write_bytes(b"ok\n\xc3\x28\n")
    failing = corpus_mod._InputCheck(inputs, "along")
    with pytest.raises(InvalidInputError, match=r"in1.txt: not valid UTF-8 \(invalid continuation byte near"):
        failing.result()
    assert failing.failed


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_hash_inputs_along_the_encoding(tmp_path, cl100k, monkeypatch, workers):
    """No separate read of the inputs (each unit's bytes are hashed after it encoded: by this thread with 1
    worker, by the helper that reads the next unit with 2); the manifest equals the one of a run that checks
    first (a map_fn forces that path)."""
    _native_or_skip(cl100k)
    inputs = [_lines_file(tmp_path / f"in{k}.txt", 2000, k) for k in range(2)]
    reads = []
    real = corpus_mod._hash_and_check

    def spy(path, digest=None, start=0):
        reads.append((os.path.basename(path), start, os.path.getsize(path)))
        return real(path, digest, start)

    monkeypatch.setattr(corpus_mod, "_hash_and_check", spy)
    for shard_tokens in (10**9, 4_000):  # one shard at the end; a first shard before the inputs were all encoded
        kw = dict(workers=workers, unit_bytes=5_000, shard_tokens=shard_tokens, progress=False)
        reads.clear()
        m_along = encode_corpus(inputs, cl100k, tmp_path / f"a{shard_tokens}", **kw)
        if shard_tokens > 10**6:
            assert reads and all(start == size for _, start, size in reads)  # only the (empty) rest is read
        else:  # the first shard needs the check done: the rest of the inputs is read then
            assert reads[0][0] == "in0.txt" and 0 < reads[0][1] < reads[0][2] and reads[1][1] == 0
        m_now = encode_corpus(inputs, cl100k, tmp_path / f"b{shard_tokens}", map_fn=lambda fn, us: map(fn, us), **kw)
        assert m_along == m_now


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_line_met_by_the_encoder_first_is_named_by_the_check(tmp_path, cl100k, workers):
    """One shard at the end: the encoder meets the invalid line before any check finished; the error is still the
    check's (file, reason, "near byte"), and nothing is left behind."""
    _native_or_skip(cl100k)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n" * 30_000 + b"broken \xc3\x28 line\n" + b"more\n" * 10)
    with pytest.raises(InvalidInputError) as want:
        corpus_mod._hash_and_check_python(str(bad))
    with pytest.raises(InvalidInputError) as got:
        encode_corpus([bad], cl100k, tmp_path / "o" / "deeper", workers=workers, unit_bytes=50_000, progress=False)
    assert str(got.value) == str(want.value) and "near byte 300007" in str(got.value)
    assert not (tmp_path / "o").exists()  # the directories the run made are removed again
