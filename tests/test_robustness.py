"""Drift suite: verified code/text rewrites, token edit distance, spillover, per-language script audit."""

from __future__ import annotations

import ast
import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tokenlab.byte_tokenizer import ByteTokenizer
from tokenlab.cli import main
from tokenlab.errors import InvalidInputError
from tokenlab.evaluate.data import stdlib_code
from tokenlab.evaluate.robustness import (
    CODE_REWRITES,
    code_samples,
    drift_suite,
    edit_distance,
    reads_the_same,
    rewrite_code,
    rewrite_text,
    same_program,
    script_audit,
    spillover_counts,
    token_drift,
)


def _levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


@given(st.lists(st.integers(0, 4), max_size=25), st.lists(st.integers(0, 4), max_size=25))
def test_edit_distance_matches_the_textbook_recurrence(a, b):
    assert edit_distance(a, b) == _levenshtein(a, b)


def test_edit_distance_known_values():
    assert edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance([], [7, 7]) == 2
    assert edit_distance([1, 2, 3, 4], [4, 3, 2, 1]) == 4


# ---------------------------------------------------------------------------- code rewrites
@pytest.mark.parametrize(("name", "source", "expected"), [
    ("spaces_around_operators", "x=a+b*2\n", "x = a + b * 2\n"),
    ("compact_operators", "x = f(a, b) + 1\n", "x=f(a,b)+1\n"),
    ("indent_2_spaces", "def f(x):\n    if x:\n        return 1\n", "def f(x):\n  if x:\n    return 1\n"),
    ("indent_tabs", "def f(x):\n    return x\n", "def f(x):\n\treturn x\n"),
    ("no_blank_lines", "a = 1\n\nb = 2\n", "a = 1\nb = 2\n"),
    ("trailing_whitespace", "a = 1\nb = 2\n", "a = 1 \nb = 2 \n"),
    ("double_quotes", "s = 'abc'\n", 's = "abc"\n'),
    ("camel_case_locals", "def f(my_value):\n    big_total = my_value * 2\n    return big_total\n",
     "def f(myValue):\n    bigTotal = myValue * 2\n    return bigTotal\n"),
    ("pascal_case_locals", "def f(value):\n    return value\n", "def f(Value):\n    return Value\n"),
])
def test_code_rewrite_known_output(name, source, expected):
    assert rewrite_code(source, name) == expected


def test_rewrites_leave_strings_and_attributes_alone():
    src = 'def f(name):\n    s = """\n    keep    this\n"""\n    return obj.name + s\n'
    expected = 'def f(name):\n  s = """\n    keep    this\n"""\n  return obj.name + s\n'
    assert rewrite_code(src, "indent_2_spaces") == expected
    # `name` is also an attribute: renaming it could change behaviour, so only `s` is renamed
    out = rewrite_code(src, "pascal_case_locals")
    assert out is not None and "def f(name)" in out and "S = " in out and "obj.name" in out


def test_a_rewrite_that_breaks_the_program_is_rejected():
    assert rewrite_code("x = 1 .real\n", "compact_operators") is None  # x=1.real is a syntax error
    assert not same_program("x = 1\n", "x = 2\n")
    assert rewrite_code("x = 1\n", "double_quotes") is None  # nothing to rewrite


def test_every_code_rewrite_preserves_real_stdlib_functions():
    samples = code_samples(stdlib_code(300_000), max_samples=60)
    assert len(samples) == 60
    for name, fn in CODE_REWRITES.items():
        applied = 0
        for src in samples:
            out = rewrite_code(src, name)
            if out is None:
                continue
            applied += 1
            assert out != src
            mapping = getattr(fn, "mapping", None)
            old = ast.parse(src)
            if mapping:
                from tokenlab.evaluate.robustness import _Rename

                old = _Rename(mapping).visit(old)
            assert ast.dump(old) == ast.dump(ast.parse(out)), (name, src)
        assert applied >= 3, name


# ---------------------------------------------------------------------------- text rewrites
@pytest.mark.parametrize(("name", "text", "expected"), [
    ("nfd", "café", "cafe\u0301"),
    ("nfkc", "ﬁle №1", "file No1"),
    ("zero_width", "hello world", "he\u200bllo wo\u200brld"),
    ("homoglyphs", "pace Xray", "\u0440ace \u03a7ray"),
    ("upper", "Straße", "STRASSE"),
    ("double_spaces", "a b c", "a  b  c"),
    ("leading_space", "x", " x"),
])
def test_text_rewrite_known_output(name, text, expected):
    assert rewrite_text(text, name) == expected
    assert reads_the_same(text, expected)


def test_text_rewrite_that_changes_the_reading_is_rejected():
    assert not reads_the_same("abc", "abd")
    assert rewrite_text("123", "upper") is None


# ---------------------------------------------------------------------------- drift
class Greedy:
    def __init__(self, pieces):
        self.pieces = sorted(pieces, key=len, reverse=True)
        self.table: list[bytes] = []

    def encode(self, text):
        out, pos = [], 0
        while pos < len(text):
            p = next((q for q in self.pieces if text.startswith(q, pos)), text[pos])
            if p.encode() not in self.table:
                self.table.append(p.encode())
            out.append(self.table.index(p.encode()))
            pos += len(p)
        return out

    def token_bytes(self, i):
        return self.table[i]


def test_spillover_known_answer():
    tok = Greedy(["xa", "ab"])
    # xabc -> xa b c ; yabc -> y ab c: 'b' and 'c' lie on kept text, 'b' is no longer a token there
    assert spillover_counts(tok, "xabc", "yabc") == (2, 1)
    d = token_drift(tok, [("xabc", "yabc")])
    assert d.samples == 1 and d.drift_rate == 1.0 and d.spillover == 0.5
    assert d.edit_distance == 2  # [xa, b, c] -> [y, ab, c]


def test_bytes_never_spill_and_distance_is_the_byte_distance():
    pairs = [("hello world", "hello  world"), ("café", "cafe\u0301")]
    d = token_drift(ByteTokenizer(), pairs)
    assert d.spillover == 0.0
    assert d.edit_distance == pytest.approx((1 + 3) / 2)  # one space; é (2 bytes) -> e + U+0301 (3 bytes)
    assert d.token_delta == pytest.approx((1 + 1) / 2)


def test_drift_suite_rows_and_unknown_rewrite():
    res = drift_suite({"bytes": ByteTokenizer()}, code=["def f(a_b):\n    return a_b+1\n"], texts=["Hello"],
                      code_rewrites=["camel_case_locals", "spaces_around_operators"], text_rewrites=["lower"])
    rows = {r["rewrite"]: r for r in res["bytes"]}
    assert rows["code:camel_case_locals"]["edit_distance"] == 4  # a_b -> aB twice: 2 edits each
    assert rows["code:spaces_around_operators"]["token_delta"] == 2
    assert rows["text:lower"]["samples"] == 1 and rows["text:lower"]["edit_distance"] == 1
    with pytest.raises(InvalidInputError, match="unknown rewrites"):
        drift_suite({}, text_rewrites=["nope"])


# ---------------------------------------------------------------------------- audit
def test_script_audit_counts():
    from tokenlab.train.bpe import train_bpe

    tok = train_bpe(["да нет да нет " * 20 + "hello world " * 20], vocab_size=270, pretokenizer="gpt2",
                    progress=False)
    rows = {r["language"]: r for r in script_audit(tok, {"ru": [" да нет"], "en": ["hello"]})}
    cyr = {i for b, i in tok.vocab.items() if b.decode("utf-8", "replace").strip()
           and all("\u0400" <= c <= "\u04ff" for c in b.decode("utf-8", "replace").strip())}
    assert rows["ru"]["scripts"] == "Cyrillic" and rows["ru"]["script_tokens"] == len(cyr)
    used = set(tok.encode(" да нет"))
    assert rows["ru"]["unused_on_text"] == len(cyr - used)
    assert rows["ru"]["unreachable"] == 0 and rows["ru"]["text_tokens_in_script"] == 1.0


def test_script_audit_undertrained_from_planted_embeddings(tmp_path):
    import numpy as np

    from tokenlab.train.bpe import train_bpe

    tok = train_bpe(["да нет да нет " * 20 + "hello world " * 20], vocab_size=270, pretokenizer="gpt2",
                    progress=False)
    cyr = sorted(i for b, i in tok.vocab.items() if b.decode("utf-8", "replace").strip()
                 and all("\u0400" <= c <= "\u04ff" for c in b.decode("utf-8", "replace").strip()))
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(tok.n_vocab, 64))
    dead = rng.normal(size=64) * 3
    known = [0, 1, 2, 3]  # control bytes: "known unused"
    for i in known + cyr[:2]:  # two Cyrillic tokens look exactly like the unused ones
        emb[i] = dead + rng.normal(size=64) * 0.01
    rows = {r["language"]: r for r in script_audit(tok, {"ru": [" да нет"], "en": ["hello"]}, embeddings=emb,
                                                    known_unused=known)}
    assert rows["ru"]["undertrained"] == 2 and rows["en"]["undertrained"] == 0
    np.save(tmp_path / "e.npy", emb)
    tok.save(tmp_path / "t.json")
    r = CliRunner().invoke(main, ["script-audit", str(tmp_path / "t.json"), "--languages", "ru", "--embeddings",
                                  str(tmp_path / "e.npy"), "--known-unused", "0,1,2,3", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["undertrained"] == 2


def test_drift_and_audit_cli(tmp_path):
    code = tmp_path / "m.py"
    code.write_text("def f(a_b):\n    c=a_b+1\n    return c\n\n\ndef g(x):\n    y=x*2\n    return y\n",
                    encoding="utf-8")
    text = tmp_path / "t.txt"
    text.write_text("Hello world\nCafé\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["drift", "utf8-bytes", "--code", str(code), "--text", str(text), "--json"])
    assert r.exit_code == 0, r.output
    rows = {x["rewrite"]: x for x in json.loads(r.output)["utf8-bytes"]}
    assert rows["code:spaces_around_operators"]["samples"] == 2 and rows["text:nfd"]["samples"] == 1
    r = CliRunner().invoke(main, ["drift", "utf8-bytes", "--text", str(text), "--text-rewrites", "bogus"])
    assert r.exit_code == 1 and "error: unknown rewrites" in r.output
    r = CliRunner().invoke(main, ["script-audit", "utf8-bytes", "--languages", "ru", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["script_tokens"] == 0  # single bytes are partial UTF-8 for Cyrillic


def test_compare_has_a_drift_section(tmp_path):
    """`tokenlab compare --drift N`: the same rows as drift_suite on the same samples; bytes never spill."""
    from tokenlab.evaluate.data import django_parallel
    from tokenlab.evaluate.report import compare, render_html
    from tokenlab.evaluate.robustness import code_samples, drift_suite

    corpus = tmp_path / "c.txt"
    corpus.write_text("def f(x):\n    return x+1\n", encoding="utf-8")
    toks = {"bytes": ByteTokenizer(), "cl100k": _cl100k()}
    cmp = compare(toks, corpora=[str(corpus)], drift=4, progress=False)
    par = django_parallel(["en", "de", "ru"])
    expected = drift_suite(toks, code=code_samples(stdlib_code(1_000_000), max_samples=4),
                           texts=[t for lines in par.values() for t in lines[:4]])
    assert cmp.drift == expected
    spills = {r["rewrite"]: r["spillover"] for r in cmp.drift["bytes"]}
    assert all(v == 0.0 for v in spills.values() if v == v) and len(spills) == len(expected["bytes"])
    assert any(r["spillover"] > 0 for r in cmp.drift["cl100k"])  # cl100k merges across the edit: some spill
    html = render_html(cmp)
    assert "id='drift'" in html and html.count("<tr data-rewrite=") == len(expected["bytes"])
    res = CliRunner().invoke(main, ["compare", "utf8-bytes", "-c", str(corpus), "--drift", "3", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "utf8-bytes drift: mean spillover 0.00%" in res.output


def _cl100k():
    from tokenlab.evaluate.report import reference_tokenizer

    return reference_tokenizer("cl100k")
