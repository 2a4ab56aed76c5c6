"""CLI papercuts a new user hit (issue 12): short names everywhere, typo'd pre-tokenizers, formats refused before
training, vocab-size messages, progress bars, readable info/heal output, special-token errors in CLI words."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab.cli import main
from tokenlab.io import load_tokenizer

HELLO_CL100K = [9906, 11, 1917]  # "Hello, world" in tiktoken's cl100k_base


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(res, *needles):
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, real_docs):
    path = tmp_path_factory.mktemp("c") / "corpus.txt"
    path.write_text("".join(real_docs[-40:]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tok_file(tmp_path_factory, corpus):
    out = tmp_path_factory.mktemp("t") / "tok.json"
    res = run("train", corpus, "-o", out, "--vocab-size", 1000, "--special", "<|endoftext|>", "--no-progress")
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.slow
def test_short_names_in_every_command(tmp_path, cl100k_ref):
    assert run("encode", "-t", "cl100k", "Hello, world").stdout.split() == [str(i) for i in HELLO_CL100K]
    assert run("decode", "-t", "cl100k", *HELLO_CL100K).stdout == "Hello, world"
    res = run("convert", "cl100k", "-o", tmp_path / "cl.json", "--format", "hf")
    assert res.exit_code == 0, res.output
    from tokenizers import Tokenizer as HFTokenizer

    text = "Tokenizers — Токенизаторы 分词器 🤖 1234567"
    assert HFTokenizer.from_file(str(tmp_path / "cl.json")).encode(text).ids == cl100k_ref.encode(text)
    info = run("info", "cl100k", "--json")
    assert info.exit_code == 0 and json.loads(info.stdout)["vocab_size"] == 100256 + len(cl100k_ref._special_tokens)
    heal = run("heal", "-t", "cl100k", "The url is https:")
    assert heal.exit_code == 0 and "':'" in heal.stdout
    for name in ("tekken", "mistral-sp", "utf8-bytes"):
        res = run("viz", "-t", name, "héllo wörld", "--no-color", "--ids")
        assert res.exit_code == 0, (name, res.output)
    res = run("encode-corpus", tmp_path / "in.txt", "-t", "cl100k", "-o", tmp_path / "shards", "--no-progress")
    assert res.exit_code == 1  # no such input: but the short name itself was accepted
    (tmp_path / "in.txt").write_text("Hello, world\n", encoding="utf-8")
    res = run("encode-corpus", tmp_path / "in.txt", "-t", "cl100k", "-o", tmp_path / "shards", "--no-progress",
              "--workers", 1)
    assert res.exit_code == 0, res.output
    from tokenlab.corpus import load_shards

    assert load_shards(tmp_path / "shards").tolist() == [*HELLO_CL100K, 100257]
    one_error_line(run("encode", "-t", "cl100", "x"), "no such file", "short name: cl100k")


def test_o200k_short_name_equals_bpe_openai():
    import bpe_openai

    ref = bpe_openai.get_encoding("o200k_base")
    text = "Hello, world! Tokenizers — Токенизаторы 分词器 🤖 don't 1234567 \n\n  x"
    res = run("encode", "-t", "o200k", text)
    assert res.exit_code == 0, res.output
    assert [int(x) for x in res.stdout.split()] == ref.encode_ordinary(text)


def test_pretokenizer_typo_is_refused(tmp_path, corpus):
    out = tmp_path / "x.json"
    line = one_error_line(run("train", corpus, "-o", out, "--pretokenizer", "cl100"), "did you mean 'cl100k'")
    assert "regex:" in line and not out.exists()
    # a custom regex needs regex: (a regex with metacharacters is still taken as before)
    for spec in (r"regex:\w+|\s+|[^\w\s]+", r"\w+|\s+|[^\w\s]+"):
        res = run("train", corpus, "-o", out, "--pretokenizer", spec, "--vocab-size", 400, "--no-progress")
        assert res.exit_code == 0, res.output
        tok = load_tokenizer(out)
        assert tok.pretokenizer.split("ab, cd") == ["ab", ",", " ", "cd"]


def test_format_refused_before_training(tmp_path, corpus):
    start = time.perf_counter()
    res = run("train", corpus, "-o", tmp_path / "b.json", "--algorithm", "boundless", "--format", "hf")
    one_error_line(res, "cannot be written as --format hf", "nothing was trained")
    assert time.perf_counter() - start < 5 and not (tmp_path / "b.json").exists()


def test_vocab_size_reported_as_asked(tmp_path, corpus, tok_file):
    res = run("train", corpus, "-o", tmp_path / "t.json", "--vocab-size", 1000, "--special", "<|endoftext|>",
              "--no-progress")
    assert "with 1000 tokens (999 ordinary + 1 special" in res.stderr
    info = json.loads(run("info", tok_file, "--json").stdout)
    assert info["vocab_size"] == 1000 and info["ordinary_tokens"] == 999
    res = run("train", corpus, "-o", tmp_path / "ch.json", "--algorithm", "char-bpe", "--vocab-size", 8192,
              "--no-progress")
    assert res.exit_code == 0, res.output
    n = len(load_tokenizer(tmp_path / "ch.json"))
    assert n < 8192 and f"note: {n} of the requested 8192 tokens" in res.stderr
    assert "token length limit" in res.stderr


def test_unigram_progress_bar_completes(tmp_path, corpus):
    res = run("train", corpus, "-o", tmp_path / "u.json", "--algorithm", "unigram", "--vocab-size", 1500)
    assert res.exit_code == 0, res.output
    states = [s for s in res.stderr.replace("\r", "\n").splitlines() if s.startswith("unigram EM/prune")]
    assert states and "100%" in states[-1], states[-1:]
    done, total = states[-1].split("| ")[1].split()[0].split("/")
    assert done == total


def test_info_truncates_long_tokens(tmp_path):
    long_word = "x" * 3000
    (tmp_path / "c.txt").write_text((long_word + "\n") * 50 + "some other text\n" * 20, encoding="utf-8")
    out = tmp_path / "t.json"
    res = run("train", tmp_path / "c.txt", "-o", out, "--vocab-size", 300, "--pretokenizer", "whitespace",
              "--no-progress")
    assert res.exit_code == 0, res.output
    assert max(len(t) for t in load_tokenizer(out).vocab) >= 1000
    text = run("info", out).stdout
    assert max(len(line) for line in text.splitlines()) < 400 and "chars)" in text
    assert max(len(t) for t in json.loads(run("info", out, "--json").stdout)["longest_tokens"]) >= 1000


def test_heal_is_readable_and_keeps_json(tok_file):
    res = run("heal", "-t", tok_file, "The url is https:")
    assert res.exit_code == 0 and not res.stdout.lstrip().startswith("{")
    assert len(res.stdout.splitlines()) > 3 and "backed off" in res.stdout
    data = json.loads(run("heal", "-t", tok_file, "The url is https:", "--json").stdout)
    assert data["removed"] == ":" and data["n_allowed_first"] >= 1


def test_special_token_error_names_cli_flags(tok_file):
    line = one_error_line(run("encode", "-t", tok_file, "hello <|endoftext|>"), "--allow-special", "--ordinary")
    assert "allowed_special" not in line and "disallowed_special" not in line
    assert run("encode", "-t", tok_file, "hello <|endoftext|>", "--allow-special").exit_code == 0
    line = one_error_line(run("encode", "-t", tok_file, "--method", "pathpiece", "hi <|endoftext|>"), "--allow-special")
    assert "--ordinary" not in line
    line = one_error_line(run("heal", "-t", tok_file, "hi <|endoftext|> x"), "does not take special-token text")
    assert "allowed_special" not in line


def test_health_with_embeddings_on_a_fresh_tokenizer(tmp_path, tok_file):
    tok = load_tokenizer(tok_file)
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(len(tok), 16)).astype(np.float32)
    # tokens the shipped prose/code never use point one way: the indicator must find those like them
    np.save(tmp_path / "lm_head.npy", matrix)
    res = run("health", tok_file, "--embeddings", tmp_path / "lm_head.npy", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "undertrained" in res.stdout and "unused_on_corpus" in res.stdout
