"""encode-corpus: shards equal an independent encoder (HF tokenizers), resume, errors, Dask."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab import InvalidInputError
from tokenlab.cli import main
from tokenlab.corpus import encode_corpus, load_shards, plan_units, read_manifest


@pytest.fixture(scope="module")
def tok_path(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tok.json"
    trained.save(path)
    return str(path)


@pytest.fixture(scope="module")
def corpus_files(real_docs, tmp_path_factory):
    """Three real text files (code, prose, 25 languages), ~250 kB in all."""
    root = tmp_path_factory.mktemp("corpus")
    parts = ["".join(real_docs[:6]), "\n".join(real_docs[-300:-220]), "".join(real_docs[-26:]) * 2]
    paths = []
    for k, text in enumerate(parts):
        p = root / f"part{k}.txt"
        p.write_bytes(text.replace("\r", "").encode("utf-8"))
        paths.append(str(p))
    return paths


@pytest.fixture(scope="module")
def hf_reference(trained):
    """The same tokenizer exported to HF tokenizers: an independent encoder for the expected ids."""
    import tokenizers

    from tokenlab.io import to_hf_json_str

    return tokenizers.Tokenizer.from_str(to_hf_json_str(trained))


def expected_ids(hf, paths, eos_id, documents="lines"):
    docs = []
    for p in paths:
        text = open(p, encoding="utf-8").read()
        docs += [line for line in text.split("\n") if line] if documents == "lines" else [text]
    out = []
    for enc in hf.encode_batch(docs, add_special_tokens=False):
        out += enc.ids + ([eos_id] if eos_id is not None else [])
    return out


def run(paths, tok_path, out, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("unit_bytes", 20_000)
    return encode_corpus(paths, tok_path, out, **kw)


def test_shards_equal_hf_encoding_and_decode_back(tmp_path, corpus_files, tok_path, hf_reference, trained):
    eos = trained.special_tokens["<|endoftext|>"]
    manifest = run(corpus_files, tok_path, tmp_path / "out", shard_tokens=7000, workers=2)
    want = expected_ids(hf_reference, corpus_files, eos)
    got = load_shards(tmp_path / "out")
    assert got.dtype == np.uint16 and got.tolist() == want
    sizes = [s["tokens"] for s in manifest["shards"]]
    assert all(n == 7000 for n in sizes[:-1]) and 0 < sizes[-1] <= 7000 and sum(sizes) == len(want)
    assert manifest["complete"] and manifest["total_tokens"] == len(want)
    # every shard is a plain .npy readable without tokenlab
    first = np.load(tmp_path / "out" / "shard-000000.npy")
    assert first.tolist() == want[:7000]
    # decoding the ids gives the documents back
    lines = [ln for p in corpus_files for ln in open(p, encoding="utf-8").read().split("\n") if ln]
    text = trained.decode(got.tolist())
    assert text.split("<|endoftext|>")[:-1] == lines


def test_files_mode_and_no_eos(tmp_path, corpus_files, tok_path, hf_reference):
    run(corpus_files, tok_path, tmp_path / "f", documents="files", append_eos=False, workers=1)
    assert load_shards(tmp_path / "f").tolist() == expected_ids(hf_reference, corpus_files, None, "files")


def test_pool_equals_single_process(tmp_path, corpus_files, tok_path, trained):
    one = run(corpus_files, tok_path, tmp_path / "a", shard_tokens=5000, workers=1)
    two = run(corpus_files, tok_path, tmp_path / "b", shard_tokens=5000, workers=2)
    assert [s["tokens"] for s in one["shards"]] == [s["tokens"] for s in two["shards"]]
    for s in one["shards"]:
        assert np.array_equal(np.load(tmp_path / "a" / s["file"]), np.load(tmp_path / "b" / s["file"]))
    # an in-memory tokenizer object gives the same shards
    run(corpus_files, trained, tmp_path / "c", shard_tokens=5000, workers=2)
    assert np.array_equal(load_shards(tmp_path / "c"), load_shards(tmp_path / "a"))


def test_units_cut_at_line_ends(corpus_files):
    units = plan_units(corpus_files, "lines", 10_000)
    for u in units:
        with open(u.path, "rb") as f:
            data = f.read()
        assert u.start == 0 or data[u.start - 1:u.start] == b"\n"
    assert sum(u.end - u.start for u in units) == sum(os.path.getsize(p) for p in corpus_files)


class Crash(Exception):
    pass


def crashing_map(after_units):
    def run_map(fn, units):
        for k, u in enumerate(units):
            if k == after_units:
                raise Crash()
            yield fn(u)

    return run_map


def test_resume_after_a_crash_equals_a_full_run(tmp_path, corpus_files, tok_path):
    full = run(corpus_files, tok_path, tmp_path / "full", shard_tokens=3000, workers=1)
    out = tmp_path / "resumed"
    with pytest.raises(Crash):
        run(corpus_files, tok_path, out, shard_tokens=3000, map_fn=crashing_map(6))
    partial = read_manifest(out)
    assert not partial["complete"] and 0 < len(partial["shards"]) < len(full["shards"])
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    seen = []

    def recording_map(fn, units):
        units = list(units)
        seen.extend(u.index for u in units)
        return map(fn, units)

    resumed = run(corpus_files, tok_path, out, shard_tokens=3000, map_fn=recording_map)
    assert resumed["complete"] and seen[0] == partial["shards"][-1]["end"][0] > 0
    assert np.array_equal(load_shards(out), load_shards(tmp_path / "full"))
    assert [s["tokens"] for s in resumed["shards"]] == [s["tokens"] for s in full["shards"]]
    # a finished run is not redone
    seen.clear()
    run(corpus_files, tok_path, out, shard_tokens=3000, map_fn=recording_map)
    assert seen == []


def test_changed_input_or_tokenizer_is_refused(tmp_path, corpus_files, tok_path, trained):
    inputs = [str(tmp_path / "in.txt")]
    (tmp_path / "in.txt").write_text(open(corpus_files[0], encoding="utf-8").read(), encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(Crash):
        run(inputs, tok_path, out, shard_tokens=2000, map_fn=crashing_map(1))
    (tmp_path / "in.txt").write_text("changed\n" * 10, encoding="utf-8")
    with pytest.raises(InvalidInputError, match="inputs changed"):
        run(inputs, tok_path, out, shard_tokens=2000)
    other = tmp_path / "other.json"
    from tokenlab import train_bpe

    other_tok = train_bpe(["some other text"] * 5, vocab_size=300, special_tokens=["<|endoftext|>"])
    other_tok.save(other)
    (tmp_path / "in.txt").write_text(open(corpus_files[0], encoding="utf-8").read(), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="different tokenizer"):
        run(inputs, str(other), out, shard_tokens=2000)
    with pytest.raises(InvalidInputError, match="settings changed.*shard_tokens"):
        run(inputs, tok_path, out, shard_tokens=2500)
    fresh = run(inputs, str(other), out, shard_tokens=2000, overwrite=True)
    assert fresh["complete"] and fresh["tokenizer"]["n_vocab"] == other_tok.n_vocab


def test_rewritten_tokenizer_file_is_reloaded(tmp_path, trained):
    from tokenlab import train_bpe

    small = tmp_path / "s.txt"
    small.write_text("hello there\n", encoding="utf-8")
    path = tmp_path / "t.json"
    trained.save(path)
    run([str(small)], str(path), tmp_path / "o", workers=1)
    other = train_bpe(["hello there"] * 3, vocab_size=270, special_tokens=["<|endoftext|>"])
    other.save(path)
    with pytest.raises(InvalidInputError, match="different tokenizer"):
        run([str(small)], str(path), tmp_path / "o", workers=1)
    run([str(small)], str(path), tmp_path / "o", workers=1, overwrite=True)
    assert load_shards(tmp_path / "o").tolist() == other.encode("hello there") + [other.special_tokens["<|endoftext|>"]]
    with pytest.raises(InvalidInputError, match="no such tokenizer"):
        run([str(small)], str(tmp_path / "missing.json"), tmp_path / "p")


def test_invalid_utf8_leaves_nothing_behind(tmp_path, corpus_files, tok_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n" * 5000 + b"broken \xff\xfe line\n")
    out = tmp_path / "out"
    with pytest.raises(InvalidInputError, match=r"bad.txt: not valid UTF-8.*byte 50007"):
        run([corpus_files[0], str(bad)], tok_path, out, shard_tokens=100)
    assert not out.exists() or os.listdir(out) == []


def test_dtype_follows_vocab_size(tmp_path, trained, tok_path):
    from tokenlab import Tokenizer

    # the same merges with the end-of-text id at 70000: ids no longer fit in uint16
    wide = Tokenizer(vocab=trained.vocab, merges=trained.merges, pretokenizer=trained.pretokenizer,
                     special_tokens={"<|endoftext|>": 70_000})
    small = tmp_path / "small.txt"
    small.write_text("hello world\nsecond line 123\n", encoding="utf-8")
    m = run([str(small)], wide, tmp_path / "big", workers=1)
    assert m["settings"]["dtype"] == "uint32"
    ids = load_shards(tmp_path / "big")
    assert ids.dtype == np.uint32 and ids.tolist() == (
        trained.encode("hello world") + [70_000] + trained.encode("second line 123") + [70_000])
    with pytest.raises(InvalidInputError, match="uint16"):
        run([str(small)], wide, tmp_path / "x", dtype="uint16")
    assert run([str(small)], tok_path, tmp_path / "s", dtype="uint32")["settings"]["dtype"] == "uint32"
    narrow = run([str(small)], tok_path, tmp_path / "t")
    assert narrow["settings"]["dtype"] == "uint16" and load_shards(tmp_path / "t").tolist() == [
        trained.special_tokens["<|endoftext|>"] if i == 70_000 else i for i in ids.tolist()]


def test_dask_local_cluster_equals_pool(tmp_path, corpus_files, tok_path):
    distributed = pytest.importorskip("dask.distributed")
    from tokenlab.corpus import dask_map

    pool = run(corpus_files, tok_path, tmp_path / "pool", shard_tokens=4000, workers=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dask = run(corpus_files, tok_path, tmp_path / "dask", shard_tokens=4000, map_fn=dask_map(client))
    assert dask["shards"] == pool["shards"]
    assert np.array_equal(load_shards(tmp_path / "dask"), load_shards(tmp_path / "pool"))


# ------------------------------------------------------------------------------ CLI
def test_cli_encode_corpus_and_resume(tmp_path, corpus_files, tok_path, hf_reference, trained):
    out = tmp_path / "cli"
    runner = CliRunner()
    args = ["encode-corpus", *corpus_files, "-t", tok_path, "-o", str(out), "--shard-tokens", "20000",
            "--workers", "2", "--no-progress"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["dtype"] == "uint16" and manifest["complete"]
    want = expected_ids(hf_reference, corpus_files, trained.special_tokens["<|endoftext|>"])
    assert load_shards(out).tolist() == want
    again = runner.invoke(main, args)
    assert again.exit_code == 0 and f"{len(want)} tokens" in again.output, again.output


@pytest.mark.parametrize("extra, message", [
    (["--eos", "<nope>"], "not a special token"),
    (["--dtype", "uint16", "--shard-tokens", "0"], "Invalid value"),
])
def test_cli_bad_options(tmp_path, corpus_files, tok_path, extra, message):
    res = CliRunner().invoke(main, ["encode-corpus", corpus_files[0], "-t", tok_path, "-o", str(tmp_path / "o"),
                                    "--no-progress", *extra])
    assert res.exit_code != 0 and message in res.output
    assert "Traceback" not in res.output


def test_cli_bad_inputs(tmp_path, tok_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xc3\x28\n")
    runner = CliRunner()
    res = runner.invoke(main, ["encode-corpus", str(bad), "-t", tok_path, "-o", str(tmp_path / "o"), "--no-progress"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == ["error: " + f"{bad}: not valid UTF-8 (invalid continuation byte "
                                                           "near byte 3)"]
    assert not (tmp_path / "o").exists()
    res = runner.invoke(main, ["encode-corpus", str(tmp_path / "missing.txt"), "-t", tok_path, "-o",
                               str(tmp_path / "o"), "--no-progress"])
    assert res.exit_code == 1 and "no such file" in res.output
    from tokenlab import train_bpe

    plain = tmp_path / "plain.json"
    train_bpe(["abc abc"], vocab_size=260).save(plain)
    good = tmp_path / "good.txt"
    good.write_text("abc\n", encoding="utf-8")
    res = runner.invoke(main, ["encode-corpus", str(good), "-t", str(plain), "-o", str(tmp_path / "o"),
                               "--no-progress"])
    assert res.exit_code == 1 and "--no-append-eos" in res.output
    res = runner.invoke(main, ["encode-corpus", str(good), "-t", str(plain), "-o", str(tmp_path / "o"),
                               "--no-progress", "--no-append-eos"])
    assert res.exit_code == 0
