"""Corpus inputs: every format yields the documents of its plain-text equivalent (so training gives the same
merges and encode-corpus the same shards), sampling is reproducible and within budget, bad files give one
``error:`` line."""

from __future__ import annotations

import gzip
import json
import pydoc_data.topics

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab import InvalidInputError, load_tokenizer
from tokenlab.cli import main
from tokenlab.corpus_io import detect_format, iter_documents, pretoken_counts, sample_documents
from tokenlab.pretokenize import get_pretokenizer
from tokenlab.train.bpe import train_bpe, train_from_counts

from conftest import multilingual_lines


@pytest.fixture(scope="module")
def docs() -> list[str]:
    topics = pydoc_data.topics.topics
    prose = [topics[k] for k in sorted(topics)[:40]]
    return prose + [line for line in multilingual_lines() if line.strip()] + ["", "tab\there\r\nCRLF\u2028sep"]


def _write_formats(docs, root):
    """The same documents as text files (one per document), JSONL (+gz, zst), Parquet and a datasets dir."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    root.mkdir(parents=True, exist_ok=True)
    texts = []
    for k, d in enumerate(docs):
        p = root / f"doc{k:03d}.txt"
        p.write_bytes(d.encode("utf-8"))
        texts.append(str(p))
    lines = "".join(json.dumps({"id": k, "content": d}, ensure_ascii=False) + "\n" for k, d in enumerate(docs))
    (root / "c.jsonl").write_text(lines, encoding="utf-8")
    with gzip.open(root / "c.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(lines)
    (root / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines.encode("utf-8")))
    pq.write_table(pa.table({"id": list(range(len(docs))), "content": docs}), root / "c.parquet", row_group_size=7)
    return texts


@pytest.fixture(scope="module")
def formats(docs, tmp_path_factory):
    datasets = pytest.importorskip("datasets")
    root = tmp_path_factory.mktemp("formats")
    texts = _write_formats(docs, root)
    datasets.Dataset.from_dict({"content": docs}).save_to_disk(str(root / "ds"))
    return root, texts


def _non_empty(docs):
    return [d for d in docs if d]


def test_every_format_gives_the_same_documents(docs, formats):
    root, texts = formats
    assert _non_empty(iter_documents(texts)) == _non_empty(docs)
    for name in ("c.jsonl", "c.jsonl.gz", "c.jsonl.zst", "ds"):
        assert list(iter_documents([root / name], field="content")) == docs, name
    assert list(iter_documents([root / "c.parquet"], column="content")) == docs
    assert list(iter_documents([root / "c.parquet"], field="content")) == docs  # --column defaults to --field
    assert [detect_format(root / n) for n in ("c.jsonl.gz", "c.parquet", "ds", "doc000.txt")] == \
        ["jsonl", "parquet", "datasets", "text"]


def _train_cli(args, out):
    res = CliRunner().invoke(main, ["train", *args, "-o", str(out), "--vocab-size", "420", "--no-progress",
                                    "--workers", "1"])
    assert res.exit_code == 0, res.output
    tok = load_tokenizer(out)
    return tok.vocab, tok.merges


def test_training_merges_equal_across_formats(docs, formats, tmp_path):
    root, texts = formats
    expected = train_bpe(_non_empty(docs), vocab_size=420, workers=1)
    ref = _train_cli(texts, tmp_path / "text.json")
    assert ref == (expected.vocab, expected.merges)
    for name, extra in (("c.jsonl.gz", ["--field", "content"]), ("c.jsonl.zst", ["--field", "content"]),
                        ("c.parquet", ["--column", "content"]), ("ds", ["--field", "content"])):
        assert _train_cli([str(root / name), *extra], tmp_path / f"{name}.json") == ref, name


def test_word_count_tsv_equals_words_as_documents(tmp_path):
    words = {"hello": 50, "world": 30, "héllo": 7, "tokens": 12, "token": 20, "lower": 9, "low": 15,
             "new york": 4, "2024": 6, "🤖🤖": 3}
    tsv = tmp_path / "words.tsv"
    tsv.write_text("".join(f"{w}\t{n}\n" for w, n in words.items()), encoding="utf-8")
    as_docs = [w for w, n in words.items() for _ in range(n)]
    expected = train_bpe(as_docs, vocab_size=300, workers=1)
    pre = get_pretokenizer("gpt2")
    tok = train_from_counts(pretoken_counts([tsv], pre), 300, pre)
    assert tok.merges == expected.merges and len(tok.merges) > 20
    assert _train_cli([str(tsv), "--vocab-size", "300"], tmp_path / "w.json")[1] == expected.merges
    bad = CliRunner().invoke(main, ["train", str(tsv), "-o", str(tmp_path / "x.json"), "--algorithm", "unigram"])
    assert bad.exit_code != 0 and "--algorithm bpe" in bad.output


def test_sampling_is_reproducible_and_within_budget(docs):
    many = [f"{k}: {d}" for k, d in enumerate(docs * 5)]
    budget = 40_000
    a = list(sample_documents(many, budget, seed=1))
    b = list(sample_documents(iter(many), budget, seed=1))
    c = list(sample_documents(many, budget, seed=2))
    assert a == b and a != c
    for sample in (a, c):
        size = sum(len(d.encode()) for d in sample)
        assert budget * 0.5 < size <= budget
        positions = [many.index(d) for d in sample]
        assert positions == sorted(positions)  # original order, no repeats
    assert list(sample_documents(many, 10**9, seed=0)) == many
    with pytest.raises(InvalidInputError):
        list(sample_documents(many, 0))


def test_cli_sample_bytes_reproducible(formats, tmp_path):
    root, texts = formats
    args = [str(root / "c.jsonl"), "--field", "content", "--sample-bytes", "60000"]
    one = _train_cli([*args, "--seed", "3"], tmp_path / "a.json")
    two = _train_cli([*args, "--seed", "3"], tmp_path / "b.json")
    other = _train_cli([*args, "--seed", "4"], tmp_path / "c.json")
    assert one == two and one != other
    sample = list(iter_documents([root / "c.jsonl"], field="content", sample_bytes=60000, seed=3))
    assert _train_cli([*args, "--seed", "3"], tmp_path / "d.json")[1] == train_bpe(sample, 420, workers=1).merges


def test_encode_corpus_jsonl_equals_text_lines(tmp_path, trained):
    from tokenlab.corpus import load_shards

    tok_path = tmp_path / "tok.json"
    trained.save(tok_path)
    lines = [line.rstrip("\n") for line in multilingual_lines() if line.strip()] * 3
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with gzip.open(tmp_path / "in.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": x}) + "\n" for x in lines)
    runner = CliRunner()
    for src, out in (("in.txt", "a"), ("in.jsonl.gz", "b"), ("in.txt", "c")):
        extra = ["--sample-bytes", "100000000"] if out == "c" else []  # sampling everything: staged text lines
        res = runner.invoke(main, ["encode-corpus", str(tmp_path / src), "-t", str(tok_path), "-o",
                                   str(tmp_path / out), "--workers", "1", "--no-progress", *extra])
        assert res.exit_code == 0, res.output
    a, b, c = (load_shards(tmp_path / x) for x in "abc")
    assert len(a) > 1000 and np.array_equal(a, b) and np.array_equal(a, c)
    # resuming a staged run finds the same staged file
    res = runner.invoke(main, ["encode-corpus", str(tmp_path / "in.jsonl.gz"), "-t", str(tok_path), "-o",
                               str(tmp_path / "b"), "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output


def test_metrics_on_jsonl_equal_text(tmp_path, trained):
    tok_path = tmp_path / "tok.json"
    trained.save(tok_path)
    text = "".join(multilingual_lines())
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    (tmp_path / "t.jsonl").write_text(json.dumps({"body": text}) + "\n", encoding="utf-8")
    runner = CliRunner()
    a = runner.invoke(main, ["metrics", str(tok_path), "-c", str(tmp_path / "t.txt"), "--json"])
    b = runner.invoke(main, ["metrics", str(tok_path), "-c", str(tmp_path / "t.jsonl"), "--field", "body", "--json"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    ja, jb = json.loads(a.output), json.loads(b.output)
    assert list(ja["corpora"].values()) == list(jb["corpora"].values())
    c = runner.invoke(main, ["compare", str(tok_path), "-c", str(tmp_path / "t.jsonl"), "--field", "body",
                             "--no-progress"])
    assert c.exit_code == 0, c.output


def _bad_files(tmp_path):
    good = json.dumps({"text": "hello"}) + "\n"
    gz = gzip.compress((good * 2000).encode())
    (tmp_path / "corrupt.jsonl.gz").write_bytes(gz[:40] + b"\x00" * 20 + gz[60:])
    (tmp_path / "truncated.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    (tmp_path / "notgz.jsonl.gz").write_bytes(b"plain text, not gzip\n")
    (tmp_path / "truncated.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 5)
    (tmp_path / "nofield.jsonl").write_text(good + json.dumps({"body": "x"}) + "\n")
    (tmp_path / "badjson.jsonl").write_text(good + "{not json\n")
    (tmp_path / "latin1.jsonl").write_bytes(good.encode() + b'{"text": "caf\xe9"}\n')
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "bad.tsv").write_text("word\tmany\n")
    return {
        "corrupt.jsonl.gz": "corrupt", "truncated.jsonl.gz": "corrupt", "notgz.jsonl.gz": "corrupt",
        "truncated.jsonl.zst": "corrupt", "nofield.jsonl": "no field 'text'", "badjson.jsonl": "not valid JSON",
        "latin1.jsonl": "not valid UTF-8", "latin1.txt": "not valid UTF-8", "bad.parquet": "Parquet",
        "bad.tsv": "WORD<TAB>COUNT",
    }


def test_bad_files_give_one_error_line(tmp_path):
    cases = _bad_files(tmp_path)
    runner = CliRunner()
    for name, message in cases.items():
        out = tmp_path / f"{name}.tok.json"
        res = runner.invoke(main, ["train", str(tmp_path / name), "-o", str(out), "--vocab-size", "300",
                                   "--no-progress", "--workers", "1"])
        assert res.exit_code == 1, (name, res.output)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (name, res.output)
        assert not out.exists()
    res = runner.invoke(main, ["encode-corpus", str(tmp_path / "nofield.jsonl"), "-t", "cl100k", "-o",
                               str(tmp_path / "shards"), "--no-progress"])
    assert res.exit_code == 1 and res.output.startswith("error: ")
    assert not (tmp_path / "shards").exists()


def test_encode_corpus_structured_formats_agree(formats, tmp_path, trained):
    from tokenlab.corpus import load_shards

    root, texts = formats
    tok_path = tmp_path / "tok.json"
    trained.save(tok_path)
    runs = {"jsonl": [root / "c.jsonl.zst", "--field", "content"], "parquet": [root / "c.parquet", "--column",
            "content"], "ds": [root / "ds", "--field", "content"], "text": [*texts, "--documents", "files"]}
    shards = {}
    for name, args in runs.items():
        res = CliRunner().invoke(main, ["encode-corpus", *map(str, args), "-t", str(tok_path), "-o",
                                        str(tmp_path / name), "--workers", "1", "--no-progress"])
        assert res.exit_code == 0, (name, res.output)
        shards[name] = load_shards(tmp_path / name)
    assert len(shards["text"]) > 10_000
    for name in ("jsonl", "parquet", "ds"):
        assert np.array_equal(shards[name], shards["text"]), name
