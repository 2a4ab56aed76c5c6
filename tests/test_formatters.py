"""Training-data formatters: character-level FIM without sub-tokens (FIM-SE) and token spelling/reversal."""

from __future__ import annotations

import functools
import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.errors import InvalidInputError
from tokenlab.train.formatters import (
    FIM_TOKENS,
    fim_dataset,
    fim_example,
    fim_token_ids,
    naive_fim_ids,
    spelling_examples,
)


@functools.lru_cache(maxsize=1)
def cl100k():
    from tokenlab.evaluate.report import reference_tokenizer

    return reference_tokenizer("cl100k")


@functools.lru_cache(maxsize=1)
def small_bpe():
    from tokenlab.evaluate.data import stdlib_code
    from tokenlab.train.bpe import train_bpe

    return train_bpe(stdlib_code(60_000) + ["héllo wörld ünïcode 日本語のテキスト 😀👍🏽\n" * 20], vocab_size=600,
                     pretokenizer="gpt2", progress=False)


# texts with lines, indentation, multi-byte characters and emoji (byte-level tokens split them)
TEXT = st.lists(st.sampled_from(list("ab xy_=()\n\t  éü日本😀") + ["    ", "\n\n", "def ", "return "]),
                min_size=1, max_size=40).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), which=st.sampled_from(["cl100k", "bpe"]), granularity=st.sampled_from(["line", "token"]))
def test_fim_slices_are_the_documents_own_tokens(data, which, granularity):
    tok = cl100k() if which == "cl100k" else small_bpe()
    text = "".join(data.draw(st.lists(TEXT, min_size=1, max_size=3)))
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    ex = fim_example(tok, text, start, end, granularity=granularity)
    full = tok.encode_ordinary(text)
    # no sub-token at a cut: prefix, target and suffix are slices of the document's own tokenization
    assert ex.prefix_ids + ex.target_ids + ex.suffix_ids == full
    assert ex.prefix + ex.left + ex.middle + ex.right + ex.suffix == text
    assert ex.middle == text[start:end]
    assert tok.decode(ex.target_ids) == ex.left + ex.middle + ex.right
    assert tok.decode(ex.prefix_ids) == ex.prefix and tok.decode(ex.suffix_ids) == ex.suffix
    if granularity == "line":  # FIM-SE: the prefix holds no part of the cursor's line, the suffix none of the end's
        assert len(ex.prefix) <= text.rfind("\n", 0, start) + 1
        line_end = len(text) if text.find("\n", end) < 0 else text.find("\n", end) + 1
        assert len(text) - len(ex.suffix) >= (end if end and text[end - 1] == "\n" else line_end)


def test_fim_input_layout_and_markers():
    tok = cl100k()
    text = "def f(x):\n    return x + 1\n\nprint(f(2))\n"
    ex = fim_example(tok, text, 20, 25, eot_id=100257)
    m = fim_token_ids(tok)
    assert m["<|fim_prefix|>"] == 100258 and m["<|fim_middle|>"] == 100259 and m["<|fim_suffix|>"] == 100260
    assert m["<|fim_start|>"] >= tok.n_vocab and m["<|fim_end|>"] == m["<|fim_start|>"] + 1  # new rows
    assert (ex.prefix, ex.left, ex.middle, ex.right, ex.suffix) == (
        "def f(x):\n", "    return", " x + ", "1\n\n", "print(f(2))\n")
    enc = tok.encode_ordinary
    assert ex.input_ids == ([m[FIM_TOKENS[0]], *enc("def f(x):\n"), m[FIM_TOKENS[1]], *enc("print(f(2))\n"),
                             m[FIM_TOKENS[2]], *enc("    return"), m[FIM_TOKENS[3]], *enc("1\n\n"),
                             m[FIM_TOKENS[4]]])
    assert ex.target_ids[-1] == 100257 and tok.decode(ex.target_ids[:-1]) == "    return x + 1\n\n"


def test_naive_fim_leaves_sub_tokens_that_fim_se_avoids():
    tok = cl100k()
    text = "    return result_value + other\n"
    start, end = 14, 20  # inside "result_value"
    pre, mid, suf = naive_fim_ids(tok, text, start, end)
    assert pre + mid + suf != tok.encode_ordinary(text)  # the character cut made tokens the document lacks
    ex = fim_example(tok, text, start, end, granularity="token")
    assert ex.prefix_ids + ex.target_ids + ex.suffix_ids == tok.encode_ordinary(text)
    assert ex.left and ex.right  # the partial token moved into the constraints


def test_fim_errors():
    tok = cl100k()
    with pytest.raises(InvalidInputError):
        fim_example(tok, "abc", 2, 1)
    with pytest.raises(InvalidInputError):
        fim_example(tok, "abc", 0, 1, granularity="word")
    with pytest.raises(InvalidInputError):
        list(fim_dataset(tok, ["abc"], rate=2.0))


def test_fim_dataset_is_seeded_and_exact():
    tok = small_bpe()
    docs = ["def f(a):\n    return a\n", "x = 1\ny = 2\n", "", "print('hé')\n"] * 5
    a = [e.to_dict() for e in fim_dataset(tok, docs, rate=0.5, seed=3)]
    b = [e.to_dict() for e in fim_dataset(tok, docs, rate=0.5, seed=3)]
    assert a == b and 0 < len(a) < 15
    for e in a:
        assert e["prefix"] + e["left"] + e["middle"] + e["right"] + e["suffix"] in docs


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(256, 599), min_size=1, max_size=30), sep=st.sampled_from(["", " ", "-"]),
       task=st.sampled_from(["spell", "reverse"]))
def test_spelling_is_exact(ids, sep, task):
    tok = small_bpe()
    for ex in spelling_examples(tok, task=task, separator=sep, ids=ids):
        chars = list(ex.token) if task == "spell" else list(reversed(ex.token))
        assert ex.answer == sep.join(chars)
        assert tok.decode(ex.answer_ids) == ex.answer
        # every character is encoded on its own: the answer never merges two characters into one token
        assert ex.answer_ids == [i for n, c in enumerate(chars) for i in
                                 ([*tok.encode_ordinary(sep)] if n and sep else []) + tok.encode_ordinary(c)]


def test_spelling_known_answer_and_partial_tokens_skipped():
    tok = cl100k()
    hello = tok.encode_ordinary("hello")
    assert len(hello) == 1
    (ex,) = spelling_examples(tok, task="reverse", separator=" ", ids=hello)
    assert ex.answer == "o l l e h" and tok.decode(ex.answer_ids) == "o l l e h"
    partial = [i for i in range(256) if tok.token_bytes(i) == b"\xe6"]
    assert list(spelling_examples(tok, ids=partial)) == []
    with pytest.raises(InvalidInputError):
        list(spelling_examples(tok, task="shuffle"))


def test_fim_and_spell_cli(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("def f(a):\n    return a\n\nx = f(1)\n", encoding="utf-8")
    out = tmp_path / "fim.jsonl"
    r = CliRunner().invoke(main, ["fim-data", "-t", "cl100k", str(corpus), "-o", str(out), "--seed", "1",
                                  "--per-doc", "3"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert row["prefix"] + row["left"] + row["middle"] + row["right"] + row["suffix"] == corpus.read_text()
    out2 = tmp_path / "spell.jsonl"
    r = CliRunner().invoke(main, ["spell-data", "-t", "utf8-bytes", "-o", str(out2)])
    assert r.exit_code == 1 and "error:" in r.output  # single bytes: nothing to spell
    r = CliRunner().invoke(main, ["spell-data", "-t", "cl100k", "-o", str(out2), "--task", "reverse",
                                  "--limit", "50"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out2.read_text().splitlines()]
    assert len(rows) == 50 and all(r["answer"] == r["token"][::-1] for r in rows)
