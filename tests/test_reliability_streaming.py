"""Issue 14, finding 3 (memory): long single lines are read in pieces with identical results.

The memory ratio itself (200 MB single line vs the same bytes with newlines) is measured by
benchmarks/bench_memory.py; here a few-MB line checks that the pieces change nothing.
"""

from __future__ import annotations

import io
import random

import pytest
from click.testing import CliRunner

from tokenlab.cli import main
from tokenlab.cli.common import iter_corpus, iter_text_chunks
from tokenlab.pretokenize import PreTokenizer
from tokenlab.tokenizer import Tokenizer

from reliability_util import small_tokenizer

WORDS = ["hello", "the", "world", "Ünïcode", "数据", "12345", "x1", "!!", "  ", "\t", "don't", "ÀB", "🙂", "a-b",
         "\u3000", "\u00a0z", "1 2", "42", "e\u0301", "hi!"]


def _line(n_bytes: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_bytes:
        w = rng.choice(WORDS) + rng.choice([" ", " ", "", "  ", ", "])
        parts.append(w)
        size += len(w.encode())
    return "".join(parts)


@pytest.mark.parametrize("pattern", ["gpt2", "cl100k", "o200k", "tekken", "whitespace"])
def test_space_cuts_keep_pretokens(pattern):
    text = _line(300_000, seed=hash(pattern) % 1000)
    chunks = list(iter_text_chunks(io.BytesIO(text.encode()), "x", chunk_bytes=4096, newline=False, space=True))
    assert len(chunks) > 20 and "".join(chunks) == text
    pre = PreTokenizer(pattern)
    assert [p for c in chunks for p in pre.split(c)] == pre.split(text)


def test_uncuttable_line_stays_whole_and_is_not_quadratic():
    text = "x" * 3_000_000
    chunks = list(iter_text_chunks(io.BytesIO(text.encode()), "x", chunk_bytes=4096, newline=False, space=True))
    assert chunks == [text]


def test_train_reads_a_long_line_in_pieces(tmp_path):
    path = tmp_path / "one-line.txt"
    text = _line(3_000_000, seed=3)
    path.write_text(text, encoding="utf-8")
    pieces = list(iter_corpus([path], cut_long_lines=True))
    assert len(pieces) >= 3 and "".join(pieces) == text
    assert max(len(p.encode()) for p in pieces) < 2_200_000


def test_encode_input_streams_with_identical_ids(tmp_path):
    tok = small_tokenizer(pattern="cl100k")
    assert isinstance(tok, Tokenizer)
    path = tmp_path / "t.json"
    tok.save(path)
    text = _line(3_000_000, seed=5)
    src = tmp_path / "in.txt"
    src.write_text(text, encoding="utf-8")
    want = tok.encode(text)
    for fmt in ("ids", "json"):
        out = tmp_path / f"out.{fmt}"
        result = CliRunner().invoke(main, ["encode", "-t", str(path), "-i", str(src), "-o", str(out),
                                           "--output-format", fmt])
        assert result.exit_code == 0, result.output
        body = out.read_text()
        got = [int(x) for x in body.strip("[]\n").replace(",", " ").split()]
        assert got == want
