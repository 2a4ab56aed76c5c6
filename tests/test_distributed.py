"""Beyond one machine: pretoken counting (training) and encode-corpus on local Dask and Ray clusters give
exactly the local run's results (counts in the same order, the same merges, the same shards)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab import InvalidInputError, PreTokenizer
from tokenlab.cli import main
from tokenlab.corpus import dask_map, encode_corpus, load_shards, ray_map
from tokenlab.train.bpe import count_pretokens, train_bpe, train_from_counts


@pytest.fixture(scope="module")
def dask_client():
    """Two worker processes (tasks and results really cross process boundaries, as on a cluster)."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def docs(real_docs):
    return real_docs[:400] + real_docs[-40:]  # code, prose and 25 languages


@pytest.fixture(scope="module")
def local_counts(docs):
    return count_pretokens(docs, PreTokenizer("gpt2"), workers=1)


@pytest.fixture(scope="module")
def corpus_files(real_docs, tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    paths = []
    for k, text in enumerate(["".join(real_docs[:5]), "\n".join(real_docs[-60:])]):
        p = root / f"part{k}.txt"
        p.write_bytes(text.replace("\r", "").encode("utf-8"))
        paths.append(str(p))
    return paths


@pytest.fixture(scope="module")
def tok_path(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tok.json"
    trained.save(path)
    return str(path)


def _check_counts_and_merges(got, local_counts):
    assert len(local_counts) > 10_000
    assert list(got.items()) == list(local_counts.items())  # same counts, same order (it fixes HF's rare ties)
    pre = PreTokenizer("gpt2")
    assert train_from_counts(got, 1500, pre).merges == train_from_counts(local_counts, 1500, pre).merges


def test_count_pretokens_on_dask_equals_local(dask_client, docs, local_counts):
    got = count_pretokens(docs, PreTokenizer("gpt2"), batch_chars=60_000, map_fn=dask_map(dask_client, window=3))
    _check_counts_and_merges(got, local_counts)


def test_count_pretokens_on_ray_equals_local(ray_local, docs, local_counts):
    got = count_pretokens(docs, PreTokenizer("gpt2"), batch_chars=60_000, map_fn=ray_map(window=3))
    _check_counts_and_merges(got, local_counts)


def test_regex_counter_on_ray_and_train_bpe(ray_local, docs):
    """A custom pattern (the regex counter, no compiled kernel) and train_bpe's own map_fn argument."""
    pre = PreTokenizer(r"\p{L}+|\p{N}|[^\p{L}\p{N}]+")
    got = count_pretokens(docs[:60], pre, batch_chars=20_000, map_fn=ray_map())
    assert list(got.items()) == list(count_pretokens(docs[:60], pre, workers=1, native=False).items())
    local = train_bpe(docs[:60], 800, "cl100k", special_tokens=["<|endoftext|>"], workers=1)
    remote = train_bpe(docs[:60], 800, "cl100k", special_tokens=["<|endoftext|>"], map_fn=ray_map())
    assert remote.merges == local.merges and remote.special_tokens == local.special_tokens


def test_counting_errors_cross_the_cluster(ray_local, dask_client):
    with pytest.raises(InvalidInputError, match="must be str"):
        count_pretokens(["ok", 3], PreTokenizer("gpt2"), map_fn=ray_map())
    with pytest.raises(Exception, match="not valid Unicode"):  # raised in a worker, re-raised here
        count_pretokens(["fine " * 100, "bad \ud800"], PreTokenizer("gpt2"), batch_chars=10,
                        map_fn=dask_map(dask_client))


def test_encode_corpus_on_ray_equals_pool(ray_local, tmp_path, corpus_files, tok_path):
    kw = dict(shard_tokens=3000, unit_bytes=10_000, progress=False)
    pool = encode_corpus(corpus_files, tok_path, tmp_path / "pool", workers=2, **kw)
    ray = encode_corpus(corpus_files, tok_path, tmp_path / "ray", map_fn=ray_map(), **kw)
    assert pool["units"] > 4 and len(pool["shards"]) > 3
    assert ray["shards"] == pool["shards"]
    assert np.array_equal(load_shards(tmp_path / "ray"), load_shards(tmp_path / "pool"))


def test_encode_corpus_on_dask_processes_equals_pool(dask_client, tmp_path, corpus_files, tok_path):
    kw = dict(shard_tokens=3000, unit_bytes=10_000, progress=False)
    pool = encode_corpus(corpus_files, tok_path, tmp_path / "pool", workers=1, **kw)
    dask = encode_corpus(corpus_files, tok_path, tmp_path / "dask", map_fn=dask_map(dask_client, window=2), **kw)
    assert dask["shards"] == pool["shards"]


# ------------------------------------------------------------------------------ CLI --cluster
def test_cli_train_with_cluster_equals_local(dask_client, ray_local, tmp_path, corpus_files):
    runner = CliRunner()
    outputs = {}
    for name, extra in [("local", ["--workers", "1"]), ("dask", ["--cluster", f"dask:{dask_client.scheduler.address}"]),
                        ("ray", ["--cluster", "ray"])]:
        out = tmp_path / f"{name}.json"
        res = runner.invoke(main, ["train", *corpus_files, "-o", str(out), "--vocab-size", "900", "--no-progress",
                                   *extra])
        assert res.exit_code == 0, res.output
        outputs[name] = json.loads(out.read_text())
    assert outputs["dask"] == outputs["local"] and outputs["ray"] == outputs["local"]
    assert ray_local.is_initialized()  # the CLI used the running Ray and left it running


def test_cli_encode_corpus_with_cluster(dask_client, tmp_path, corpus_files, tok_path):
    runner = CliRunner()
    base = ["encode-corpus", *corpus_files, "-t", tok_path, "--shard-tokens", "5000", "--no-progress"]
    assert runner.invoke(main, [*base, "-o", str(tmp_path / "local"), "--workers", "1"]).exit_code == 0
    address = dask_client.scheduler.address
    res = runner.invoke(main, [*base, "-o", str(tmp_path / "dask"), "--cluster", f"dask:{address}"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(load_shards(tmp_path / "dask"), load_shards(tmp_path / "local"))


@pytest.mark.parametrize("spec, message", [
    ("spark:x", "expected dask:ADDRESS, ray or ray:ADDRESS"),
    ("dask", "needs the scheduler address"),
])
def test_cli_bad_cluster_spec(tmp_path, corpus_files, spec, message):
    pytest.importorskip("dask.distributed")
    res = CliRunner().invoke(main, ["train", *corpus_files, "-o", str(tmp_path / "t.json"), "--vocab-size", "300",
                                    "--no-progress", "--cluster", spec])
    assert res.exit_code != 0 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "t.json").exists()


def test_cli_cluster_refused_where_nothing_is_counted(tmp_path, corpus_files):
    tsv = tmp_path / "words.tsv"
    tsv.write_text("hello\t5\nworld\t3\n", encoding="utf-8")
    for args, message in [([str(tsv)], "word-count TSVs"), ([*corpus_files, "--algorithm", "unigram"], "bpe only")]:
        res = CliRunner().invoke(main, ["train", *args, "-o", str(tmp_path / "t.json"), "--vocab-size", "300",
                                        "--no-progress", "--cluster", "ray"])
        assert res.exit_code != 0 and message in res.output and "Traceback" not in res.output


def test_in_memory_tokenizer_fingerprint_follows_content(trained):
    """encode-corpus resumes only with the same tokenizer: the fingerprint of an in-memory one changes with
    every part that changes ids (vocab, merges, specials, pre-tokenizer) and not otherwise."""
    from tokenlab import Tokenizer
    from tokenlab.corpus import _tokenizer_fingerprint

    def fp(**kw):
        args = dict(vocab=trained.vocab, merges=trained.merges, pretokenizer=trained.pretokenizer,
                    special_tokens=trained.special_tokens)
        tok = Tokenizer(**(args | kw))
        return _tokenizer_fingerprint(tok, tok)

    base = fp()
    assert fp() == base and fp(name="other name") == base
    swapped = dict(trained.vocab)
    a, b = trained.merges[-1][0] + trained.merges[-1][1], trained.merges[-2][0] + trained.merges[-2][1]
    swapped[a], swapped[b] = swapped[b], swapped[a]
    changed = [fp(vocab=swapped), fp(merges=trained.merges[:-1]), fp(special_tokens={"<|endoftext|>": 5000}),
               fp(pretokenizer=PreTokenizer("gpt2"))]
    assert len({base, *changed}) == 5


def test_ray_map_ships_the_function_once_per_worker(ray_local, tmp_path, corpus_files, trained):
    class RecordsUnpickling:  # defined here, so Ray ships the class by value (workers cannot import tests/)
        """A map function that notes, in a file, every process that unpickles it."""

        def __init__(self, log: str):
            self.log = log

        def __setstate__(self, state):
            self.__dict__.update(state)
            with open(self.log, "a") as f:
                f.write(f"{os.getpid()}\n")

        def __call__(self, x):
            return x * x

    log = tmp_path / "unpickled.txt"
    assert list(ray_map()(RecordsUnpickling(str(log)), range(12))) == [x * x for x in range(12)]
    pids = log.read_text().split()
    assert pids and len(pids) == len(set(pids))  # each worker unpickled it once, not once per task
    # an in-memory tokenizer (e.g. `-t cl100k`) goes to Ray workers the same way; shards equal the local run
    kw = dict(shard_tokens=3000, unit_bytes=10_000, progress=False)
    local = encode_corpus(corpus_files, trained, tmp_path / "local", workers=1, **kw)
    ray = encode_corpus(corpus_files, trained, tmp_path / "ray", map_fn=ray_map(), **kw)
    assert ray["shards"] == local["shards"]
