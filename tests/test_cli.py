"""The core CLI: happy paths and bad input (one error line, non-zero exit, no traceback, no partial file)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from tokenlab.cli import main
from tokenlab.io import load_tokenizer


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory, real_docs):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("".join(real_docs[:30]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tok_file(tmp_path_factory, corpus_file):
    out = tmp_path_factory.mktemp("tok") / "tok.json"
    r = CliRunner().invoke(main, ["train", str(corpus_file), "-o", str(out), "--vocab-size", "600",
                                  "--special", "<|endoftext|>", "--no-progress"])
    assert r.exit_code == 0, r.output
    return out


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def assert_clean_error(result, *needles, code=None):
    assert result.exit_code != 0
    if code is not None:
        assert result.exit_code == code
    assert "Traceback" not in result.output
    for n in needles:
        assert n in result.output, result.output


def test_train_writes_loadable_tokenizer(tok_file, corpus_file, real_docs):
    tok = load_tokenizer(tok_file)
    assert len(tok) == 600 and "<|endoftext|>" in tok.special_tokens
    from tokenlab import train_bpe

    again = train_bpe([corpus_file.read_text(encoding="utf-8")], vocab_size=600, special_tokens=["<|endoftext|>"])
    assert again.merges == tok.merges


def test_train_workers_option(tmp_path, corpus_file, tok_file):
    out = tmp_path / "w.json"
    r = run("train", corpus_file, "-o", out, "--vocab-size", 600, "--special", "<|endoftext|>", "--workers", 1,
            "--no-progress")
    assert r.exit_code == 0, r.output
    assert load_tokenizer(out).merges == load_tokenizer(tok_file).merges
    r = run("train", corpus_file, "-o", out, "--algorithm", "unigram", "--workers", 2)
    assert_clean_error(r, "bpe only", code=2)


@pytest.mark.parametrize("fmt", ["hf", "tiktoken"])
def test_train_other_formats(tmp_path, corpus_file, fmt):
    out = tmp_path / "out"
    r = run("train", corpus_file, "-o", out, "--vocab-size", 400, "--format", fmt, "--no-progress")
    assert r.exit_code == 0, r.output
    if fmt == "hf":
        from tokenizers import Tokenizer

        Tokenizer.from_file(str(out))
    else:
        assert len(out.read_text().splitlines()) == 400


def test_encode_decode_round_trip(tok_file):
    text = "def f(x):\n    return x + 1  # ünïcödé 🤖"
    r = run("encode", "-t", tok_file, text)
    assert r.exit_code == 0, r.output
    ids = [int(x) for x in r.output.split()]
    assert ids == load_tokenizer(tok_file).encode(text)
    r2 = run("decode", "-t", tok_file, *map(str, ids))
    assert r2.exit_code == 0 and r2.output == text


def test_encode_json_and_npy(tok_file, tmp_path):
    r = run("encode", "-t", tok_file, "hello world", "--output-format", "json")
    ids = json.loads(r.output)
    npy = tmp_path / "ids.npy"
    r = run("encode", "-t", tok_file, "hello world", "--output-format", "npy", "-o", npy)
    assert r.exit_code == 0
    arr = np.load(npy)
    assert arr.dtype == np.uint16 and arr.tolist() == ids
    r = run("decode", "-t", tok_file, "-i", npy)
    assert r.output == "hello world"


def test_encode_from_stdin_and_specials(tok_file):
    r = run("encode", "-t", tok_file, "-i", "-", input="a<|endoftext|>b")
    assert_clean_error(r, "error:", "special token")
    r = run("encode", "-t", tok_file, "--allow-special", "a<|endoftext|>b")
    assert r.exit_code == 0
    tok = load_tokenizer(tok_file)
    assert tok.special_tokens["<|endoftext|>"] in [int(x) for x in r.output.split()]


def test_info_and_viz(tok_file):
    r = run("info", tok_file, "--json")
    info = json.loads(r.output)
    assert info["vocab_size"] == 600 and info["format"] == "tokenlab" and info["pretokenizer"] == "gpt2"
    r = run("viz", "-t", tok_file, "--no-color", "hello world")
    assert r.exit_code == 0
    pieces = r.output.splitlines()[0].split("|")
    assert "".join(pieces) == "hello world" and len(pieces) == len(load_tokenizer(tok_file).encode("hello world"))
    r = run("viz", "-t", tok_file, "--color", "hi")
    assert "\x1b[" in r.output


def test_convert(tok_file, tmp_path):
    out = tmp_path / "tok.hf.json"
    assert run("convert", tok_file, "-o", out, "--format", "hf").exit_code == 0
    assert load_tokenizer(out).merges == load_tokenizer(tok_file).merges


def test_invalid_utf8_input(tmp_path, tok_file):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello \xff\xfe world")
    out = tmp_path / "never.json"
    r = run("train", bad, "-o", out, "--vocab-size", 300, "--no-progress")
    assert_clean_error(r, "error:", "not valid UTF-8", code=1)
    assert not out.exists()
    r = run("encode", "-t", tok_file, "-i", bad)
    assert_clean_error(r, "not valid UTF-8", code=1)


def test_bad_files_and_arguments(tmp_path, tok_file, corpus_file):
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "tokenlab", "vocab": [')
    assert_clean_error(run("encode", "-t", corrupt, "x"), "error:", code=1)
    assert_clean_error(run("encode", "-t", tmp_path / "missing.json", "x"), "no such file", code=1)
    assert_clean_error(run("decode", "-t", tok_file, "1", "abc"), "not a token id", code=1)
    assert_clean_error(run("decode", "-t", tok_file, "99999"), "unknown token id", code=1)
    assert_clean_error(run("decode", "-t", tok_file, "226", "--strict"), "invalid UTF-8", code=1)
    assert_clean_error(run("encode", "-t", tok_file), "TEXT or --input", code=2)
    assert_clean_error(run("train", corpus_file, "-o", tmp_path / "x.json", "--vocab-size", 10), code=2)
    assert_clean_error(run("train", corpus_file, "-o", tmp_path / "x.json", "--algorithm", "nope"),
                       "unknown algorithm", code=2)
    assert_clean_error(run("train", corpus_file, "-o", tmp_path / "x.json", "--pretokenizer", "(["),
                       "invalid pre-tokenizer", code=1)
    assert_clean_error(run("encode", "-t", tok_file, "x", "--method", "nope"), "unknown method", code=2)
    assert_clean_error(run("train", tmp_path / "nofile.txt", "-o", tmp_path / "x.json"), "no such file", code=1)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = run("train", empty, "-o", tmp_path / "e.json", "--vocab-size", 300, "--no-progress")
    assert r.exit_code == 0  # an empty corpus gives the 256 byte tokens
    assert not list(tmp_path.glob(".*.tmp"))


def test_real_process_exit_code_and_single_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\x01garbage")
    p = subprocess.run([sys.executable, "-m", "tokenlab", "info", str(bad)], capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stderr.startswith("error:") and len(p.stderr.strip().splitlines()) == 1


def test_demo_runs(tmp_path):
    r = run("demo", "--vocab-size", 400, "--no-progress", "--out-dir", tmp_path)
    assert r.exit_code == 0, r.output
    assert "held_out_bytes_per_token" in r.output
    assert "hf_tokenizers_ids_equal    True" in r.output
    assert load_tokenizer(tmp_path / "tokenizer.json").merges == load_tokenizer(
        tmp_path / "tokenizer.tokenlab.json").merges
